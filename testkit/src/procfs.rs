//! What /proc and the kernel's clocks say about processes: liveness, the
//! processes a rig started (found by their environment), memory, and CPU
//! and wake-ups over a window. Unix only (the module is `cfg(unix)`);
//! [`crate::procs`] has what every OS offers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub use crate::clock::now_ns;

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `T`, `Z`, …).
pub fn state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 2..].chars().next()
}

/// True if any live process carries this pid (not a zombie).
pub fn alive(pid: i32) -> bool {
    state(pid).is_some_and(|c| c != 'Z' && c != 'X')
}

/// Live processes whose environment (`KEY=value` entries) `matches`.
pub fn live_with_env(matches: impl Fn(&[&[u8]]) -> bool) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for ent in rd.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(env) = std::fs::read(ent.path().join("environ")) else {
            continue;
        };
        let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
        if matches(&vars) && alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// (VmRSS, VmHWM) in KiB.
pub fn rss_kib(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One task's counters: CPU time (ns, from schedstat) and context switches.
fn task_counters(pid: u32, tid: &str) -> Option<(u64, u64)> {
    let base = format!("/proc/{pid}/task/{tid}");
    let cpu = std::fs::read_to_string(format!("{base}/schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let status = std::fs::read_to_string(format!("{base}/status")).ok()?;
    let cs: u64 = status
        .lines()
        .filter(|l| {
            l.starts_with("voluntary_ctxt_switches") || l.starts_with("nonvoluntary_ctxt_switches")
        })
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Some((cpu, cs))
}

/// What an idle process did over a window.
#[derive(Debug, Clone, Default)]
pub struct Idle {
    pub secs: f64,
    /// Fraction of one core.
    pub cpu: f64,
    pub switches: u64,
    /// Sampling intervals (100 ms) in which the process woke up, merged when consecutive.
    pub bursts: usize,
    /// Shortest gap between the starts of two bursts.
    pub min_gap: Option<f64>,
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl Idle {
    pub fn switches_per_s(&self) -> f64 {
        self.switches as f64 / self.secs
    }
}

/// Samples every task of `pid` every 100 ms for `window`: CPU time and
/// context switches (a task that exits keeps its last values; one born in
/// the window counts from zero). Touches nothing but /proc, so the sampling
/// itself cannot wake the process.
pub fn sample_idle(pid: u32, window: Duration) -> Idle {
    let read_all = || -> HashMap<String, (u64, u64)> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let tid = e.file_name().into_string().ok()?;
                        let c = task_counters(pid, &tid)?;
                        Some((tid, c))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let first = read_all();
    let mut last = first.clone();
    let sum = |last: &HashMap<String, (u64, u64)>| -> (u64, u64) {
        last.iter().fold((0, 0), |(a, b), (tid, (cpu, cs))| {
            let (c0, s0) = first.get(tid).copied().unwrap_or((0, 0));
            (a + cpu.saturating_sub(c0), b + cs.saturating_sub(s0))
        })
    };
    let start = Instant::now();
    let step = Duration::from_millis(100);
    let mut prev_cs = 0;
    let mut active_prev = false;
    let mut bursts: Vec<f64> = Vec::new();
    let mut k = 1u32;
    while start.elapsed() < window {
        let next = start + step * k;
        k += 1;
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        for (tid, c) in read_all() {
            last.insert(tid, c);
        }
        let (_, cs) = sum(&last);
        let active = cs > prev_cs;
        if active && !active_prev {
            bursts.push(start.elapsed().as_secs_f64());
        }
        active_prev = active;
        prev_cs = cs;
    }
    let secs = start.elapsed().as_secs_f64();
    let (cpu, switches) = sum(&last);
    let (rss_kib, hwm_kib) = rss_kib(pid);
    let min_gap = bursts
        .windows(2)
        .map(|w| w[1] - w[0])
        .min_by(|a, b| a.total_cmp(b));
    Idle {
        secs,
        cpu: cpu as f64 / 1e9 / secs,
        switches,
        bursts: bursts.len(),
        min_gap,
        rss_kib,
        hwm_kib,
    }
}
