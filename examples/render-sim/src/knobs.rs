//! The environment knobs shared by every simulated program, and the helpers
//! that go with them (argv log, pid file, start stamp).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

/// `RENDER_SIM_START_STAMP`: appends `<start> <main>` and a newline, both
/// `CLOCK_MONOTONIC` nanoseconds.
///
/// `<main>` is now, as `run` begins. `std::time::Instant` is
/// `CLOCK_MONOTONIC` on Linux, and std offers its raw value only through
/// `Debug` (`Instant { tv_sec: S, tv_nsec: N }`); this crate has no libc
/// binding and no unsafe code, so the stamp is parsed from there.
///
/// `<start>` is when the process was created (by its parent's fork/spawn):
/// `<main>` minus the time the process has spent on a CPU or waiting for one
/// (`/proc/self/schedstat`: run and run-queue wait, counted from creation,
/// across the exec). It leaves out the loader's work on this binary, which
/// is the simulator's own start-up, not the caller's latency. Time blocked on
/// I/O is not in schedstat, so `<start>` can only be late, never early.
/// Without schedstat, `<start>` equals `<main>`.
///
/// Anything unparseable is reported on stderr and not stamped.
pub(crate) fn stamp_start(path: &Path) {
    let Some(main) = monotonic_ns() else {
        return;
    };
    let age: u64 = fs::read_to_string("/proc/self/schedstat")
        .ok()
        .map(|st| {
            st.split_whitespace()
                .take(2)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    let line = format!("{} {main}", main.saturating_sub(age));
    if let Err(e) = append_line(path, &line) {
        eprintln!("render-sim: cannot append to {}: {e}", path.display());
    }
}

/// `RENDER_SIM_END_STAMP`: appends `<end>`, `CLOCK_MONOTONIC` nanoseconds,
/// as the program is about to exit (its work done, its output written):
/// with the start stamps, a benchmark splits a run of jobs into the
/// renderers' own time and the time between them.
pub(crate) fn stamp_end() {
    let Some(path) = std::env::var_os("RENDER_SIM_END_STAMP").filter(|v| !v.is_empty()) else {
        return;
    };
    let Some(now) = monotonic_ns() else {
        return;
    };
    let path = Path::new(&path);
    if let Err(e) = append_line(path, &now.to_string()) {
        eprintln!("render-sim: cannot append to {}: {e}", path.display());
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds (see [`stamp_start`] for why it
/// is read through `Debug`); `None`, said on stderr, if that cannot be read.
fn monotonic_ns() -> Option<u64> {
    let shown = format!("{:?}", Instant::now());
    let field = |name: &str| -> Option<u64> {
        let rest = &shown[shown.find(name)? + name.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let (Some(s), Some(n)) = (field("tv_sec: "), field("tv_nsec: ")) else {
        eprintln!("render-sim: cannot read CLOCK_MONOTONIC from {shown:?}; no stamp");
        return None;
    };
    Some(s * 1_000_000_000 + n)
}

/// The environment knobs (see the crate docs).
#[derive(Debug, Default)]
pub(crate) struct Knobs {
    pub step_ms: u64,
    pub fail_at: Option<f64>,
    pub crash_at: Option<f64>,
    pub hang_at: Option<f64>,
    pub exit_code: Option<i32>,
    pub argv_log: Option<PathBuf>,
    pub mel_log: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub fail_once: Option<PathBuf>,
    /// `RENDER_SIM_HOOK_LOG`: where "code-running" flags record that they ran.
    pub hook_log: Option<PathBuf>,
    /// `RENDER_SIM_LINES_PER_FRAME`: progress lines per frame, printed back
    /// to back without the step pause.
    pub lines_per_frame: Option<u64>,
    /// `RENDER_SIM_ENV_LOG`: where each run records the devices it was given.
    pub env_log: Option<PathBuf>,
    /// `RENDER_SIM_CHILD_PID_FILE`: start a sleeping child and write its pid here.
    pub child_pid_file: Option<PathBuf>,
    /// `RENDER_SIM_BLACK_AT_FRAME=k`: frame k is written all black.
    pub black_at: Option<f64>,
    /// `RENDER_SIM_BLACK_ONCE_FILE`: with it, only the first such frame is
    /// black (the process that creates this marker), so a re-render is good.
    pub black_once: Option<PathBuf>,
}

impl Knobs {
    pub(crate) fn from_env() -> Self {
        let path = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Knobs {
            step_ms: env_number("RENDER_SIM_STEP_MS").unwrap_or(20),
            fail_at: env_number("RENDER_SIM_FAIL_AT_FRAME"),
            crash_at: env_number("RENDER_SIM_CRASH_AT_FRAME"),
            hang_at: env_number("RENDER_SIM_HANG_AT_FRAME"),
            exit_code: env_number("RENDER_SIM_EXIT_CODE"),
            argv_log: path("RENDER_SIM_ARGV_LOG"),
            mel_log: path("RENDER_SIM_MEL_LOG"),
            pid_file: path("RENDER_SIM_PID_FILE"),
            fail_once: path("RENDER_SIM_FAIL_ONCE_FILE"),
            hook_log: path("RENDER_SIM_HOOK_LOG"),
            lines_per_frame: env_number("RENDER_SIM_LINES_PER_FRAME"),
            env_log: path("RENDER_SIM_ENV_LOG"),
            child_pid_file: path("RENDER_SIM_CHILD_PID_FILE"),
            black_at: env_number("RENDER_SIM_BLACK_AT_FRAME"),
            black_once: path("RENDER_SIM_BLACK_ONCE_FILE"),
        }
    }

    /// Records that a code-running flag ran: `HOOK-EXECUTED <flag> <value>`
    /// appended to `RENDER_SIM_HOOK_LOG` (when set).
    pub(crate) fn log_hook(&self, flag: &str, value: &str) -> io::Result<()> {
        match &self.hook_log {
            Some(log) => append_line(log, &format!("HOOK-EXECUTED {flag} {value}")),
            None => Ok(()),
        }
    }

    /// The percentages of one frame's progress lines: the usual quarters, or
    /// `RENDER_SIM_LINES_PER_FRAME` evenly spaced values ending at 100.
    pub(crate) fn percents(&self) -> Vec<u32> {
        match self.lines_per_frame {
            None => vec![25, 50, 75, 100],
            Some(n) => percents(n),
        }
    }

    /// Whether progress lines are a burst (no pause between them).
    pub(crate) fn burst(&self) -> bool {
        self.lines_per_frame.is_some()
    }

    /// `RENDER_SIM_FAIL_ONCE_FILE`: the failure happens only for the process
    /// that creates the marker file (atomically), so a retry renders the frame.
    fn first_failure(&self) -> bool {
        match &self.fail_once {
            None => true,
            Some(marker) => OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(marker)
                .is_ok(),
        }
    }

    /// Whether frame `frame` is written all black.
    pub(crate) fn black(&self, frame: f64) -> bool {
        self.black_at.is_some_and(|k| (k - frame).abs() < 1e-6)
            && match &self.black_once {
                None => true,
                Some(marker) => OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(marker)
                    .is_ok(),
            }
    }

    pub(crate) fn fate(&self, frame: f64) -> Fate {
        let at = |k: Option<f64>| k.is_some_and(|k| (k - frame).abs() < 1e-6);
        if at(self.crash_at) {
            Fate::Crash
        } else if at(self.hang_at) {
            Fate::Hang
        } else if at(self.fail_at) && self.first_failure() {
            Fate::Fail
        } else {
            Fate::Render
        }
    }
}

/// A numeric environment variable; unset or empty is `None`, garbage is
/// reported on stderr and ignored.
fn env_number<T: FromStr>(name: &str) -> Option<T> {
    let raw = std::env::var(name).ok()?;
    let value = raw.trim();
    if value.is_empty() {
        return None;
    }
    let parsed = value.parse().ok();
    if parsed.is_none() {
        eprintln!("render-sim: ignoring {name}={raw:?}: not a number");
    }
    parsed
}

/// What happens to a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    Render,
    Fail,
    Crash,
    Hang,
}

/// Set in the environment of the child `RENDER_SIM_CHILD_PID_FILE` starts:
/// the process only sleeps. Not a knob.
pub(crate) const SLEEPER_VAR: &str = "RENDER_SIM_SLEEPING_CHILD";

/// How long that child sleeps when nobody kills it: long past any render
/// in a test, yet bounded, so a failed test leaves nothing running for good.
const SLEEPER_SECS: u64 = 600;

/// The child of `RENDER_SIM_CHILD_PID_FILE`: sleeps, then exits 0.
pub(crate) fn sleep_if_child() {
    if std::env::var_os(SLEEPER_VAR).is_some() {
        std::thread::sleep(std::time::Duration::from_secs(SLEEPER_SECS));
        std::process::exit(0);
    }
}

/// `RENDER_SIM_CHILD_PID_FILE`: starts a child of this very program (its
/// argv\[0\], so a link named `Render` stays `Render`), which sleeps, and
/// writes the child's pid to `pid_file`. The child inherits the environment
/// and stdout and stderr (a renderer's helpers do, and on Windows every child
/// inherits its parent's pipes anyway), so it keeps them open after the
/// simulator exits; it is not waited for: it is a helper the renderer leaves
/// to whoever supervises it.
pub(crate) fn spawn_sleeping_child(pid_file: &Path) -> io::Result<u32> {
    let argv0 = std::env::args_os().next().map(PathBuf::from);
    let program = match argv0 {
        // A path names the link itself. A bare name was found on PATH, where
        // Unix finds it again; Windows searches elsewhere first, but there
        // the program is a copy, not a link, so its own path will do.
        Some(p) if p.components().count() > 1 || cfg!(unix) => p,
        _ => std::env::current_exe()?,
    };
    let child = std::process::Command::new(program)
        .env(SLEEPER_VAR, "1")
        .stdin(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    fs::write(pid_file, format!("{pid}\n"))?;
    Ok(pid)
}

pub(crate) fn append_line(path: &Path, line: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

/// `n` percentages rising evenly to 100 (`4` → 25, 50, 75, 100; `0` → none).
pub(crate) fn percents(n: u64) -> Vec<u32> {
    (1..=n).map(|i| ((i * 100) / n) as u32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percents_end_at_100() {
        assert_eq!(percents(4), [25, 50, 75, 100]);
        assert_eq!(percents(1), [100]);
        assert!(percents(0).is_empty());
        let many = percents(1000);
        assert_eq!((many.len(), many[999], many[9]), (1000, 100, 1));
    }
}
