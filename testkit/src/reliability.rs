//! Helpers for the reliability suites (`server/tests/reliability_*.rs`):
//! bounded vs. long runs, figures that outlive `cargo test`'s output
//! capture, a reader for the node's ledger files, the renderer processes a
//! rig started, and mounts for disk faults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use droprender_shared::logline::LogLine;

use crate::procs;
pub use crate::procs::alive;

/// `DROPRENDER_LONG=1` selects the long runs (more kills, commands, cases).
pub fn long() -> bool {
    std::env::var("DROPRENDER_LONG").is_ok_and(|v| v == "1")
}

/// A seed for a suite's RNG: `DROPRENDER_SEED` when set, else `default`.
pub fn seed(default: u64) -> u64 {
    std::env::var("DROPRENDER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The figures a suite measured. libtest captures what a passing test
/// prints with `println!`/`eprintln!`, so `cargo test` would hide them:
/// when the test ends (passed or failed) they are written straight to the
/// process's stderr (fd 2, which the capture does not intercept), so they
/// show in CI logs, and to `<dir>/<name>.txt` (the suites:
/// `target/reliability/`).
pub struct Figures {
    name: String,
    dir: PathBuf,
    lines: Vec<String>,
}

impl Figures {
    pub fn new(name: &str, dir: &Path) -> Self {
        let mode = if long() { "long" } else { "bounded" };
        Figures {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            lines: vec![format!("== {name} ({mode} run) ==")],
        }
    }

    pub fn line(&mut self, l: impl Into<String>) {
        self.lines.push(l.into());
    }

    pub fn text(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }
}

impl Drop for Figures {
    fn drop(&mut self) {
        use std::io::Write as _;
        if std::thread::panicking() {
            self.lines
                .push("(the test FAILED; the figures above are partial)".into());
        }
        let text = self.text();
        let _ = std::fs::create_dir_all(&self.dir);
        let _ = std::fs::write(self.dir.join(format!("{}.txt", self.name)), &text);
        // One write, so parallel tests' blocks do not interleave.
        let _ = std::io::stderr().write_all(format!("\n{text}").as_bytes());
    }
}

/// The `-s K` of a render line or argv (the suites give each command a unique frame).
pub fn frame_of(tokens: &[&str]) -> Option<u64> {
    let i = tokens.iter().position(|t| *t == "-s")?;
    tokens.get(i + 1)?.parse().ok()
}

pub fn frame_of_line(line: &str) -> Option<u64> {
    // `rend:-s K …`: the first flag is glued to the command word.
    let line = line.replacen(':', " ", 1);
    frame_of(&line.split_whitespace().collect::<Vec<_>>())
}

/// The ledger as the files in a state dir say, read the way `Ledger::open`
/// replays them (snapshot, then the journal unless it belongs to an older
/// snapshot). Only what the suites check: jobs and id counters.
#[derive(Debug, Default, Clone)]
pub struct LedgerView {
    pub jobs: BTreeMap<u64, serde_json::Value>,
    pub next_job: u64,
    pub next_control: u64,
    /// The journal's last line did not parse: a record torn by a crash.
    pub torn_tail: bool,
    /// A record before the last did not parse: the node would refuse to start.
    pub corrupt: Option<String>,
}

impl LedgerView {
    pub fn job_line(&self, id: u64) -> Option<&str> {
        self.jobs.get(&id)?.get("line")?.as_str()
    }

    pub fn job_state(&self, id: u64) -> Option<&str> {
        self.jobs.get(&id)?.get("state")?.as_str()
    }
}

pub fn read_ledger(state: &Path) -> LedgerView {
    let mut v = LedgerView {
        next_job: 1,
        next_control: 1,
        ..Default::default()
    };
    let mut epoch = 0u64;
    if let Ok(snap) = std::fs::read(state.join("ledger.snap"))
        && snap.len() >= 18
        && &snap[..10] == b"DRLEDGER1\n"
    {
        let mut len = [0u8; 8];
        len.copy_from_slice(&snap[10..18]);
        let len = u64::from_le_bytes(len) as usize;
        if let Some(h) = snap.get(18..18 + len)
            && let Ok(h) = serde_json::from_slice::<serde_json::Value>(h)
        {
            if let Some(jobs) = h.get("jobs").and_then(|j| j.as_object()) {
                for (k, j) in jobs {
                    if let Ok(id) = k.parse() {
                        v.jobs.insert(id, j.clone());
                    }
                }
            }
            v.next_job = h.get("next_job").and_then(|n| n.as_u64()).unwrap_or(1);
            v.next_control = h.get("next_control").and_then(|n| n.as_u64()).unwrap_or(1);
            epoch = h.get("epoch").and_then(|n| n.as_u64()).unwrap_or(0);
        }
    }
    let Ok(bytes) = std::fs::read(state.join("journal.log")) else {
        return v;
    };
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let n = lines.len();
    let recs: Vec<Option<serde_json::Value>> = lines
        .iter()
        .map(|l| serde_json::from_slice(l).ok())
        .collect();
    if let Some(Some(first)) = recs.first()
        && first.get("t").and_then(|t| t.as_str()) == Some("epoch")
        && first.get("n").and_then(|n| n.as_u64()).unwrap_or(0) < epoch
    {
        return v;
    }
    for (i, r) in recs.into_iter().enumerate() {
        let Some(r) = r else {
            if i + 1 == n {
                v.torn_tail = true;
            } else {
                v.corrupt = Some(format!("journal record {} does not parse", i + 1));
            }
            continue;
        };
        let mut put = |j: &serde_json::Value| {
            if let Some(id) = j.get("id").and_then(|i| i.as_u64()) {
                v.next_job = v.next_job.max(id + 1);
                v.jobs.insert(id, j.clone());
            }
        };
        match r.get("t").and_then(|t| t.as_str()) {
            Some("ingest") => {
                for j in r
                    .get("jobs")
                    .and_then(|j| j.as_array())
                    .into_iter()
                    .flatten()
                {
                    put(j);
                }
                for c in r
                    .get("controls")
                    .and_then(|c| c.as_array())
                    .into_iter()
                    .flatten()
                {
                    if let Some(id) = c.get("id").and_then(|i| i.as_u64()) {
                        v.next_control = v.next_control.max(id + 1);
                    }
                }
            }
            Some("job") => put(&r),
            Some("forget") => {
                for id in r
                    .get("jobs")
                    .and_then(|j| j.as_array())
                    .into_iter()
                    .flatten()
                {
                    if let Some(id) = id.as_u64() {
                        v.jobs.remove(&id);
                    }
                }
            }
            _ => {}
        }
    }
    v
}

/// Renderer processes this rig started that are alive: processes tagged by
/// a node (`DROPRENDER_JOB=`) whose environment names this rig's argv log.
pub fn renderers(argv_log: &Path) -> Vec<i32> {
    let mine = format!("RENDER_SIM_ARGV_LOG={}", argv_log.display());
    procs::live_with_env(|env| {
        env.iter().any(|kv| kv.starts_with(b"DROPRENDER_JOB=")) && env.contains(&mine.as_bytes())
    })
}

/// Checks the status files as a reader would find them at any moment:
/// status.json parses, status.txt is whole (its first and last lines are
/// there and it ends with a newline). `Ok(false)` when they do not exist yet.
pub fn check_status_files(folder: &Path) -> Result<bool, String> {
    let json = match std::fs::read(folder.join("status.json")) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("status.json: {e}")),
    };
    if let Err(e) = serde_json::from_slice::<droprender_shared::status::StatusDoc>(&json) {
        return Err(format!(
            "status.json does not parse ({e}): {:?}",
            String::from_utf8_lossy(&json)
        ));
    }
    let txt = match std::fs::read_to_string(folder.join("status.txt")) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("status.txt: {e}")),
    };
    status_txt_complete(&txt)?;
    Ok(true)
}

pub fn status_txt_complete(txt: &str) -> Result<(), String> {
    let whole = txt.ends_with('\n')
        && txt.lines().any(|l| l.starts_with("droprender on "))
        && txt
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("updated "));
    if whole {
        Ok(())
    } else {
        Err(format!("status.txt is not complete: {txt:?}"))
    }
}

/// LOG.txt lines that do not parse as LOG lines (torn or interleaved writes).
pub fn bad_log_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| LogLine::parse(l).is_none())
        .map(str::to_string)
        .collect()
}

/// `(job, frame K)` of every `accepted` LOG line.
pub fn accepted_frames(log: &str) -> Vec<(u64, u64)> {
    log.lines()
        .filter_map(LogLine::parse)
        .filter(|l| l.event.word() == "accepted")
        .filter_map(|l| Some((l.job?, frame_of_line(&l.text)?)))
        .collect()
}

/// Frame K of every Render invocation, in order.
pub fn invoked_frames(argv_log: &Path) -> Vec<u64> {
    std::fs::read_to_string(argv_log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Vec<String>>(l).ok())
        .filter_map(|a| frame_of(&a.iter().map(String::as_str).collect::<Vec<_>>()))
        .collect()
}

/// True when `path` is a whole PNG (the simulator's default format).
pub fn whole_png(path: &Path) -> bool {
    // Signature first; the IEND chunk (length 0, "IEND", CRC) last.
    std::fs::read(path).is_ok_and(|b| {
        b.starts_with(b"\x89PNG\r\n\x1a\n")
            && b.len() > 20
            && &b[b.len() - 8..b.len() - 4] == b"IEND"
    })
}

/// Frame files (`<stem>.<K>.png`, no hidden temp files) in a job's output dir, by K.
pub fn frames_in(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut out = Vec::new();
    for f in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = f.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let mut parts = name.rsplitn(3, '.');
        let (_ext, k) = (parts.next(), parts.next());
        if let Some(k) = k.and_then(|k| k.parse().ok()) {
            out.push((k, f.path()));
        }
    }
    out.sort();
    out
}

/// A mount this test made; unmounted (lazily if busy) when dropped.
pub struct Mount {
    pub path: PathBuf,
}

impl Mount {
    /// `mount -t tmpfs -o size=<size> tmpfs <path>`.
    pub fn tmpfs(path: &Path, size: &str) -> Result<Mount, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                &path.display().to_string(),
            ],
        )?;
        Ok(Mount {
            path: path.to_path_buf(),
        })
    }

    /// `mount --bind <from> <to>`.
    pub fn bind(from: &Path, to: &Path) -> Result<Mount, String> {
        std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
        run(
            "mount",
            &[
                "--bind",
                &from.display().to_string(),
                &to.display().to_string(),
            ],
        )?;
        Ok(Mount {
            path: to.to_path_buf(),
        })
    }

    /// Remounts read-only (`ro`) or read-write. Going read-only fails with
    /// EBUSY while a file is open for writing on the mount (the node's
    /// status writes are brief): retried for a few seconds.
    pub fn set_read_only(&self, ro: bool, bind: bool) -> Result<(), String> {
        let mode = match (ro, bind) {
            (true, true) => "remount,bind,ro",
            (false, true) => "remount,bind,rw",
            (true, false) => "remount,ro",
            (false, false) => "remount,rw",
        };
        let mut tries = 0;
        loop {
            match run("mount", &["-o", mode, &self.path.display().to_string()]) {
                Err(e) if e.contains("busy") && tries < 300 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                r => return r,
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let p = self.path.display().to_string();
        if run("umount", &[&p]).is_err() {
            let _ = run("umount", &["-l", &p]);
        }
    }
}

/// Runs a system command; Err with its stderr when it fails.
pub fn run(program: &str, args: &[&str]) -> Result<(), String> {
    match Command::new(program).args(args).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("{program}: {e}")),
    }
}

/// Percentile of a sorted slice of durations (0..=100).
pub fn pct(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() - 1) * p / 100]
}
