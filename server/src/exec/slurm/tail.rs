//! Files the tasks write (their logs, their frame records), read as they
//! grow: which tasks to look at, a bounded read from an offset, and whole
//! lines out of the bytes read so far.

use std::collections::BTreeSet;
use std::path::Path;

use super::parse::{Phase, TaskMap};

/// At most this much of a file is read per look.
const READ_MAX: u64 = 1 << 20;

/// The tasks whose files are worth a look: the started ones, and an ended
/// one once more (then it joins `closed`), never a pending one.
pub(super) fn tasks_to_read(map: &TaskMap, closed: &mut BTreeSet<u32>) -> Vec<u32> {
    let mut out = Vec::new();
    for (&k, s) in map {
        if s.phase == Phase::Pending || closed.contains(&k) {
            continue;
        }
        if matches!(s.phase, Phase::Done | Phase::Failed) {
            closed.insert(k);
        }
        out.push(k);
    }
    out
}

/// Up to [`READ_MAX`] bytes of `path` from `offset`; None when it cannot
/// be read (yet).
pub(super) fn read_from(path: &Path, offset: u64) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = Vec::new();
    f.take(READ_MAX).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// How far one file has been read, and its unfinished last line.
#[derive(Debug, Default)]
pub(super) struct Tail {
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes read from [`Tail::offset`]: the lines they complete, each
    /// with its `\n`.
    pub fn feed(&mut self, buf: &[u8]) -> Vec<Vec<u8>> {
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(buf);
        let mut lines = Vec::new();
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            lines.push(self.partial.drain(..=i).collect());
        }
        lines
    }
}
