//! Clocks, /proc sampling and percentiles.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// CLOCK_MONOTONIC in nanoseconds: the clock the Render simulator stamps its
/// start with (`RENDER_SIM_START_STAMP`).
pub fn now_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is readable");
    u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec()).unwrap_or(0)
}

/// Nanoseconds as milliseconds.
pub fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Nearest-rank percentile of sorted values (`q` in 0..=1).
pub fn pct(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50/p95/p99/max of latencies in ns.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dist {
    pub n: usize,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
}

impl Dist {
    pub fn of(mut v: Vec<u64>) -> Self {
        v.sort_unstable();
        Dist {
            n: v.len(),
            p50: pct(&v, 0.50),
            p95: pct(&v, 0.95),
            p99: pct(&v, 0.99),
            max: v.last().copied().unwrap_or(0),
        }
    }

    pub fn show(&self) -> String {
        format!(
            "p50 {} · p95 {} · p99 {} · max {} (n={})",
            human_ns(self.p50),
            human_ns(self.p95),
            human_ns(self.p99),
            human_ns(self.max),
            self.n
        )
    }
}

/// A duration in ns, in the unit that reads best.
pub fn human_ns(ns: u64) -> String {
    let v = ns as f64;
    if v >= 1e9 {
        format!("{:.2} s", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} ms", v / 1e6)
    } else {
        format!("{:.0} µs", v / 1e3)
    }
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

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
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

/// `nproc`, the CPU model and the kernel, for the report.
pub fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(String::new(), |kb| {
            format!(", {:.1} GiB", kb as f64 / 1024.0 / 1024.0)
        });
    format!("nproc {cpus}, {model}{mem}, Linux {kernel}")
}

/// The 1-minute load average (other work on the machine skews timings).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}
