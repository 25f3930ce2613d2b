//! Linux process table from /proc: cheap enough to scan every time (no
//! cache to go stale), and the only source of other processes' environments
//! that needs no extra crate.

use std::fs;
use std::sync::OnceLock;

use crate::Proc;

/// Fields of /proc/PID/stat after the `(comm)`, which may itself contain
/// spaces and parentheses: hence the split at the last ')'.
struct Stat {
    state: char,
    ppid: u32,
    pgrp: i32,
    start: u64,
    rss_pages: u64,
}

fn stat(pid: u32) -> Option<Stat> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.get(s.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split(' ').collect();
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
        rss_pages: f.get(21)?.parse().ok()?,
    })
}

fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    *PAGE.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(4096)
    })
}

/// Every live process; `tagged` is set where an environment entry starts with
/// `needle` (environments are only read when a needle is given).
pub(crate) fn table(needle: Option<&[u8]>, _rss: bool) -> Vec<Proc> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ent in dir.flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Some(st) = stat(pid) else { continue };
        if st.state == 'Z' || st.state == 'X' {
            continue;
        }
        let tagged = needle.is_some_and(|n| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv.starts_with(n)))
        });
        out.push(Proc {
            pid,
            ppid: st.ppid,
            start: st.start,
            pgid: st.pgrp,
            rss: st.rss_pages * page_size(),
            tagged,
        });
    }
    out
}

/// Clock ticks since boot (field 22 of /proc/PID/stat).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|s| s.start)
}

pub(crate) fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X')
}

pub(crate) fn total_memory() -> Option<u64> {
    let m = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = m
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}
