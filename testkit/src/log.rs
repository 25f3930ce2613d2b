//! Reading what the node writes: LOG.txt with the archives it was moved
//! aside to, its event words, and growing files read as they grow.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use dropbox_emulator::Emulator;

use crate::layout::Layout;
use crate::process::Proc;

/// True when a LOG line's event word (the third field) is `event`.
pub fn is_event(line: &str, event: &str) -> bool {
    line.split(' ').nth(2).map(|w| w.trim_end_matches(':')) == Some(event)
}

/// The lines of `log` with this event word.
pub fn events(log: &str, event: &str) -> Vec<String> {
    log.lines()
        .filter(|l| is_event(l, event))
        .map(str::to_string)
        .collect()
}

/// The moved-aside `LOG.<time>.txt` files among `names`, oldest first.
pub fn archives(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut archives: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with("LOG.") && n.ends_with(".txt") && n != "LOG.txt")
        .collect();
    archives.sort();
    archives
}

/// The whole LOG of a folder whose file names are `names`: the moved-aside
/// `LOG.<time>.txt` files, oldest first, then LOG.txt. The node may be
/// moving LOG.txt aside while this reads, so the archives are read first
/// and an archive that LOG.txt still begins with (copied, LOG.txt not yet
/// begun again) is not counted twice.
pub fn whole_log(names: impl IntoIterator<Item = String>, read: impl Fn(&str) -> String) -> String {
    let mut texts: Vec<String> = archives(names).iter().map(|n| read(n)).collect();
    let current = read("LOG.txt");
    if texts
        .last()
        .is_some_and(|t| current.starts_with(t.as_str()))
    {
        texts.pop();
    }
    texts.push(current);
    texts.concat()
}

/// [`whole_log`] of a local folder.
pub fn folder_log(folder: &Path) -> String {
    let names = std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok());
    whole_log(names, |n| {
        std::fs::read_to_string(folder.join(n)).unwrap_or_default()
    })
}

/// A file in the emulator as text (empty when missing).
pub fn emulator_text(emu: &Emulator, path: &str) -> String {
    emu.get_file(path)
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// [`whole_log`] of a folder in the Dropbox emulator (`root`: `/Maya`).
pub fn emulator_log(emu: &Emulator, root: &str) -> String {
    let prefix = format!("{}/", root.to_lowercase());
    let names = emu.list_files().into_iter().filter_map(|m| {
        let rest = m.path_lower.strip_prefix(&prefix)?;
        (!rest.contains('/')).then_some(m.name)
    });
    whole_log(names, |n| emulator_text(emu, &format!("{root}/{n}")))
}

/// Reads a growing file from where it left off.
pub struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    pub fn new(path: &Path) -> Self {
        Tail {
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Complete new lines since the last call.
    pub fn lines(&mut self) -> Vec<String> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        let n = f.read_to_end(&mut buf).unwrap_or(0);
        self.offset += n as u64;
        self.partial.extend_from_slice(&buf[..n]);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(end + 1);
        let done = std::mem::replace(&mut self.partial, rest);
        String::from_utf8_lossy(&done)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// Counts one event's lines in a layout's LOG.txt as it grows.
pub struct LogCount {
    tail: Tail,
    event: &'static str,
    pub n: usize,
}

impl LogCount {
    pub fn new(l: &Layout, event: &'static str) -> Self {
        LogCount {
            tail: Tail::new(&l.folder.join("LOG.txt")),
            event,
            n: 0,
        }
    }

    pub fn poll(&mut self) -> usize {
        let ev = self.event;
        self.n += self.tail.lines().iter().filter(|l| is_event(l, ev)).count();
        self.n
    }

    /// Waits, polling every `every`, until `n` lines were counted.
    pub fn wait(
        &mut self,
        p: &mut Proc,
        n: usize,
        timeout: std::time::Duration,
        every: std::time::Duration,
    ) {
        let ev = self.event;
        p.wait_for(&format!("{n} '{ev}' LOG lines"), timeout, every, || {
            self.poll() >= n
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_log_reads_archives_first_and_counts_a_copied_one_once() {
        let files = |names: &[(&str, &str)]| {
            let map: std::collections::BTreeMap<String, String> = names
                .iter()
                .map(|(n, t)| ((*n).to_string(), (*t).to_string()))
                .collect();
            whole_log(map.keys().cloned().collect::<Vec<_>>(), |n| {
                map.get(n).cloned().unwrap_or_default()
            })
        };
        assert_eq!(
            files(&[
                ("LOG.2.txt", "b\n"),
                ("LOG.1.txt", "a\n"),
                ("LOG.txt", "c\n")
            ]),
            "a\nb\nc\n"
        );
        // LOG.txt copied aside but not yet begun again.
        assert_eq!(
            files(&[("LOG.1.txt", "a\n"), ("LOG.txt", "a\nb\n")]),
            "a\nb\n"
        );
        assert_eq!(
            events("x y finished: 1\nx y failed: 2\n", "finished").len(),
            1
        );
    }
}
