//! supervise-probe: a stand-in renderer for droprender-supervise's tests, so
//! they need no `sh` and run unchanged under Wine. Its arguments are actions,
//! run in order:
//!
//! - `out:TEXT` / `err:TEXT`: print a line on stdout / stderr (flushed)
//! - `env:VAR`: print `VAR=<value>` on stdout
//! - `sleep:MS`: sleep
//! - `pidfile:PATH`: write its own pid to PATH (written aside, then renamed)
//! - `spawn:A|B|…`: start a copy of itself running actions A, B, … (a
//!   grandchild of the test), stdio null, not waited for
//! - `await-file:PATH`: wait (up to 60 s) until PATH exists
//! - `alloc:MB`: allocate and touch MB MiB, kept until exit
//! - `count:PATH:MS`: forever, append one byte to PATH every MS ms (progress
//!   is the file's length: no rewrites a reader could catch half-done)
//! - `ignore-term`: ignore SIGTERM (Unix) / CTRL_BREAK and CTRL_C (Windows)
//! - `term-exit:CODE`: on SIGTERM / CTRL_BREAK print `got-term`, exit CODE
//! - `node:TAG|DIR`: stand in for a node: supervise a renderer (this probe,
//!   tagged TAG) that writes DIR/renderer.pid and starts a grandchild that
//!   writes DIR/grandchild.pid, then sleep until killed
//! - `terminate:GRACE_MS|A|B|…`: stand in for a node that stops a renderer:
//!   supervise a renderer (this probe) running actions A, B, …, wait for its
//!   `ready` line, `terminate` it with the grace period, then print
//!   `exit=<how it ended> ms=<how long terminate took>`. On Windows the tests
//!   start this with a console of its own, as a node in a terminal has, so
//!   CTRL_BREAK can be delivered.
//! - `exit:CODE`: exit now with CODE
//!
//! With no `exit:` it exits 0 after the last action.

use std::any::Any;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use droprender_supervise::{Spec, Supervised};

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("supervise-probe: no runtime: {e}");
            return ExitCode::from(100);
        }
    };
    let actions: Vec<String> = std::env::args().skip(1).collect();
    match rt.block_on(run(actions)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("supervise-probe: {e}");
            ExitCode::from(101)
        }
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

async fn run(actions: Vec<String>) -> Res<u8> {
    // Signal listeners must outlive the actions: dropping one restores the
    // default disposition on Unix only at exit, but keep them anyway.
    let mut keep: Vec<Box<dyn Any>> = Vec::new();
    for action in actions {
        let (name, arg) = action.split_once(':').unwrap_or((action.as_str(), ""));
        match name {
            "out" => say(arg),
            "err" => {
                let _ = writeln!(std::io::stderr(), "{arg}");
            }
            "env" => {
                let v = std::env::var_os(arg).unwrap_or_default();
                say(&format!("{arg}={}", v.to_string_lossy()));
            }
            "sleep" => tokio::time::sleep(Duration::from_millis(arg.parse()?)).await,
            "pidfile" => write_pid(Path::new(arg))?,
            "spawn" => {
                std::process::Command::new(std::env::current_exe()?)
                    .args(arg.split('|'))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()?;
            }
            "await-file" => {
                for _ in 0..6000 {
                    if Path::new(arg).exists() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            "alloc" => {
                let mut v = vec![0u8; arg.parse::<usize>()? << 20];
                for i in (0..v.len()).step_by(4096) {
                    v[i] = 1;
                }
                keep.push(Box::new(std::hint::black_box(v)));
            }
            "count" => {
                let (path, ms) = arg.rsplit_once(':').ok_or("count:PATH:MS")?;
                count(Path::new(path), Duration::from_millis(ms.parse()?)).await?;
            }
            "ignore-term" => keep.push(Box::new(stop_listeners()?)),
            "term-exit" => {
                let code: i32 = arg.parse()?;
                let listeners = stop_listeners()?;
                tokio::spawn(async move {
                    first_stop(listeners).await;
                    say("got-term");
                    std::process::exit(code);
                });
                // Let the task reach its first await, so it is listening.
                tokio::task::yield_now().await;
            }
            "node" => {
                let (tag, dir) = arg.split_once('|').ok_or("node:TAG|DIR")?;
                node(tag, Path::new(dir)).await?;
            }
            "terminate" => {
                let (grace, actions) = arg.split_once('|').ok_or("terminate:GRACE_MS|ACTIONS")?;
                stop_renderer(Duration::from_millis(grace.parse()?), actions.split('|')).await?;
            }
            "exit" => return Ok(arg.parse()?),
            _ => return Err(format!("unknown action {action:?}").into()),
        }
    }
    Ok(0)
}

/// Prints a line; a reader that hung up is no reason to stop (println!
/// would panic on the closed pipe).
fn say(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}").and_then(|()| o.flush());
}

fn write_pid(path: &Path) -> Res<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, std::process::id().to_string())?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

async fn count(path: &Path, every: Duration) -> Res<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    loop {
        f.write_all(b".")?;
        tokio::time::sleep(every).await;
    }
}

async fn node(tag: &str, dir: &Path) -> Res<()> {
    let arg = |s: String| OsString::from(s);
    let pid = |name: &str| dir.join(name).display().to_string();
    let spec = Spec {
        program: std::env::current_exe()?,
        args: vec![
            arg(format!("pidfile:{}", pid("renderer.pid"))),
            arg(format!(
                "spawn:pidfile:{}|sleep:600000",
                pid("grandchild.pid")
            )),
            arg("sleep:600000".into()),
        ],
        tag: tag.to_owned(),
        ..Spec::default()
    };
    let mut renderer = Supervised::spawn(&spec)?;
    // Stands in for a node that is killed while rendering: never returns.
    tokio::time::sleep(Duration::from_secs(600)).await;
    renderer.kill();
    Ok(())
}

/// Listeners for the stop request Supervised::terminate sends: once
/// registered, the default action (death) no longer happens.
async fn stop_renderer(grace: Duration, actions: std::str::Split<'_, char>) -> Res<()> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let spec = Spec {
        program: std::env::current_exe()?,
        args: actions.map(OsString::from).collect(),
        tag: "probe:1".to_owned(),
        ..Spec::default()
    };
    let mut renderer = Supervised::spawn(&spec)?;
    let mut lines = BufReader::new(renderer.stdout().ok_or("no stdout")?).lines();
    while lines
        .next_line()
        .await?
        .ok_or("the renderer never said ready")?
        != "ready"
    {}
    let t = std::time::Instant::now();
    let exit = renderer.terminate(grace).await?;
    say(&format!("exit={exit} ms={}", t.elapsed().as_millis()));
    Ok(())
}

#[cfg(unix)]
struct Listeners {
    term: tokio::signal::unix::Signal,
}

#[cfg(windows)]
struct Listeners {
    brk: tokio::signal::windows::CtrlBreak,
    // CTRL_C is the other console event; ignored, never awaited.
    _c: tokio::signal::windows::CtrlC,
}

#[cfg(unix)]
fn stop_listeners() -> std::io::Result<Listeners> {
    use tokio::signal::unix::{SignalKind, signal};
    Ok(Listeners {
        term: signal(SignalKind::terminate())?,
    })
}

#[cfg(windows)]
fn stop_listeners() -> std::io::Result<Listeners> {
    use tokio::signal::windows::{ctrl_break, ctrl_c};
    Ok(Listeners {
        brk: ctrl_break()?,
        _c: ctrl_c()?,
    })
}

async fn first_stop(mut l: Listeners) {
    #[cfg(unix)]
    l.term.recv().await;
    #[cfg(windows)]
    l.brk.recv().await;
}
