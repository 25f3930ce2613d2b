//! The baseline: the server of Bernik & Galetić (2018), section 6, ported
//! line for line to Rust so it can be measured the same way as droprender.
//! The bench runs it as a child process (`bench --paper-server FOLDER
//! PROJECTS READY_FILE`, cwd = PROJECTS, PATH starting with the dir of the
//! `Render` simulator), so /proc shows its CPU, wakeups and memory alone.
//!
//! What it does, as the paper does it:
//! - **Main thread**: `old = stat(commands.txt).st_mtime`, then forever,
//!   with no sleep: stat again (if that fails, sleep 15 s and stat again);
//!   when the mtime differs, read the whole file, `split("\n")`, and run the
//!   lines past `last_command_number`, incrementing it per line: `rend…` lines
//!   go to the queue as `line[5:]`, `progress…` lines copy the newest image
//!   into the folder at once.
//! - **LOG.txt**: the paper keeps "the commands already executed" in a log
//!   so that the count survives restarts. Here each dispatched line is
//!   appended to `LOG.txt` and the count starts as LOG.txt's line count.
//! - **Render thread**: `while True: while len(q) > 0: pop, write the scene
//!   (last token) to active_rend.txt, subprocess.call(command.split()),
//!   empty active_rend.txt; time.sleep(5)`. The line's first token is run
//!   (found on PATH), as in the paper — no allow-list, no shell.
//! - **Projects thread**: the paper keeps projects_to_rend.txt current but
//!   shows no code for it; this port re-lists `*.ma`/`*.mb` under the
//!   projects dir every 5 s (the paper's one interval) and rewrites the file
//!   when the list changed.
//!
//! Two readings where the paper's excerpt is incomplete: `commands_to_run`
//! is taken as `commands[last_command_number:]` minus the empty piece that
//! `split("\n")` leaves after the final newline (counting that piece would
//! make the server skip every appended line), and the mtime is compared at
//! full (ns) precision.
//!
//! Harness instrumentation, not part of the paper: once its threads run it
//! creates READY_FILE, so the bench can time its start-up.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

type Queue = Arc<Mutex<VecDeque<String>>>;

pub fn main(args: &[String]) -> ! {
    let [folder, projects, ready] = args else {
        eprintln!("usage: bench --paper-server FOLDER PROJECTS READY_FILE");
        std::process::exit(2);
    };
    let folder = PathBuf::from(folder);
    let projects = PathBuf::from(projects);
    let q: Queue = Arc::new(Mutex::new(VecDeque::new()));
    {
        let (folder, q) = (folder.clone(), Arc::clone(&q));
        std::thread::spawn(move || render_thread(&folder, &q));
    }
    {
        let (folder, projects) = (folder.clone(), projects.clone());
        std::thread::spawn(move || projects_thread(&folder, &projects));
    }
    main_loop(&folder, &projects, &q, Path::new(ready))
}

fn mtime(path: &Path) -> std::io::Result<SystemTime> {
    std::fs::metadata(path)?.modified()
}

fn main_loop(folder: &Path, projects: &Path, q: &Queue, ready: &Path) -> ! {
    let commands_file = folder.join("commands.txt");
    let log_file = folder.join("LOG.txt");
    // The count of executed commands, from the log.
    let mut last_command_number = std::fs::read(&log_file)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0);
    let mut old_modify_time = mtime(&commands_file).ok();
    // As in the paper, `commands` (every line's text) lives on between changes.
    let mut commands: Vec<String>;
    let _ = std::fs::write(ready, b"ready\n");
    loop {
        let new_modify_time = match mtime(&commands_file) {
            Ok(t) => Some(t),
            Err(_) => {
                // "waiting 15 seconds should be sufficient for the writing to finish"
                std::thread::sleep(Duration::from_secs(15));
                mtime(&commands_file).ok()
            }
        };
        if new_modify_time != old_modify_time {
            old_modify_time = new_modify_time;
            let text = std::fs::read(&commands_file).unwrap_or_default();
            commands = String::from_utf8_lossy(&text)
                .split('\n')
                .map(str::to_string)
                .collect();
            if commands.last().is_some_and(String::is_empty) {
                commands.pop();
            }
            let from = last_command_number.min(commands.len());
            let commands_to_run: Vec<String> = commands[from..].to_vec();
            if !commands_to_run.is_empty() {
                let mut log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log_file)
                    .ok();
                for com in commands_to_run {
                    last_command_number += 1;
                    if let Some(f) = log.as_mut() {
                        let _ = writeln!(f, "{com}");
                    }
                    if com.get(0..4) == Some("rend") {
                        let rest = com.get(5..).unwrap_or_default().to_string();
                        q.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push_back(rest);
                    } else if com.get(0..8) == Some("progress") {
                        progress(folder, projects);
                    }
                }
            }
        }
    }
}

fn render_thread(folder: &Path, q: &Queue) {
    let active = folder.join("active_rend.txt");
    loop {
        loop {
            let next = q.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
            let Some(command) = next else { break };
            println!("{command}");
            let argv: Vec<&str> = command.split_whitespace().collect();
            let _ = std::fs::write(&active, argv.last().copied().unwrap_or_default());
            if let Some((program, args)) = argv.split_first() {
                // subprocess.call(command.split()): blocks until it exits.
                let _ = Command::new(program).args(args).status();
            }
            let _ = std::fs::write(&active, b"");
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

fn scenes(root: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            scenes(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("ma") || x.eq_ignore_ascii_case("mb"))
            && let Some(n) = p.file_name()
        {
            out.push(n.to_string_lossy().into_owned());
        }
    }
}

fn projects_thread(folder: &Path, projects: &Path) {
    let file = folder.join("projects_to_rend.txt");
    let mut last: Option<Vec<String>> = None;
    loop {
        let mut list = Vec::new();
        scenes(projects, &mut list);
        list.sort();
        if last.as_ref() != Some(&list) {
            let _ = std::fs::write(&file, list.join("\n"));
            last = Some(list);
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// Copies the newest image under the projects dir into the folder.
fn progress(folder: &Path, projects: &Path) {
    fn walk(dir: &Path, best: &mut Option<(SystemTime, PathBuf)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, best);
            } else if p.extension().is_some_and(|x| {
                ["png", "jpg", "jpeg", "exr", "tif", "iff"]
                    .iter()
                    .any(|k| x.eq_ignore_ascii_case(k))
            }) && let Ok(t) = mtime(&p)
                && best.as_ref().is_none_or(|(b, _)| t > *b)
            {
                *best = Some((t, p));
            }
        }
    }
    let mut best = None;
    walk(projects, &mut best);
    if let Some((_, p)) = best
        && let Some(name) = p.file_name()
    {
        let _ = std::fs::copy(&p, folder.join(name));
    }
}
