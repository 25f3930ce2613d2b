//! Percentiles, units and the machine, for the report. The clock and the
//! /proc measurements are droprender-testkit's (`procfs`).

pub use droprender_testkit::procfs::{now_ns, rss_kib, sample_idle};

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

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
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
