//! A job's frames on disk, judged: which count as rendered (whole, decode,
//! not one flat colour: [`verify`]), what each cost ([`book`]: frames.csv in
//! the output folder), and the preview video of them ([`video`]). All of it
//! is file work: the node calls it off the async runtime.

pub mod book;
pub mod disk;
pub mod verify;
pub mod video;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use book::{Book, Row};
use verify::{Checks, Verdict};

use disk::FrameFile;

/// When a frame rendered and what it cost, as the node saw it happen.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub started: String,
    pub ended: String,
    pub secs: f64,
    pub peak_mem_mb: Option<u64>,
}

/// How a frame file is named in frames.csv: relative to the output folder.
fn rel(dir: &Path, path: &Path) -> String {
    let r = path.strip_prefix(dir).unwrap_or(path);
    r.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn size_and_mtime(path: &Path) -> Option<(u64, u128)> {
    let md = std::fs::metadata(path).ok()?;
    let mtime = md
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((md.len(), mtime))
}

/// A bad frame is moved aside (`shot.0003.png.bad`), so the renderer makes
/// it again (some skip existing files) and nothing counts it as done.
fn move_aside(path: &Path) {
    let mut bad = path.as_os_str().to_owned();
    bad.push(".bad");
    let _ = std::fs::rename(path, PathBuf::from(bad));
}

/// Judges the frame file just rendered at `path` and records it with its
/// timing. `None`: the file is gone (judged and moved aside already).
pub fn judge_one(
    dir: &Path,
    path: &Path,
    frame: i64,
    timing: Option<&Timing>,
    checks: Checks,
) -> Option<Verdict> {
    let (size, mtime_ns) = size_and_mtime(path)?;
    let verdict = verify::verify(path, checks);
    let row = Row {
        frame,
        started: timing.map(|t| t.started.clone()).unwrap_or_default(),
        ended: timing.map(|t| t.ended.clone()).unwrap_or_default(),
        render_s: timing.map(|t| t.secs),
        peak_mem_mb: timing.and_then(|t| t.peak_mem_mb),
        verdict: verdict.clone(),
        file: rel(dir, path),
        size,
        mtime_ns,
    };
    if let Err(e) = Book::append(dir, &[row]) {
        tracing::warn!(
            "cannot record frame {frame} in {}: {e}",
            dir.join(book::FILE).display()
        );
    }
    if !verdict.counts() {
        move_aside(path);
    }
    Some(verdict)
}

/// The frames under `dir` that count as rendered (in every layer folder):
/// every complete frame file is judged once (rows in frames.csv say which
/// were judged already), and bad ones are moved aside.
pub fn judge_all(dir: &Path, layers: usize, checks: Checks) -> BTreeSet<i64> {
    let files = disk::frame_files(dir);
    let book = Book::read(dir);
    let mut rows = Vec::new();
    let good: Vec<FrameFile> = files
        .into_iter()
        .filter(|f| {
            let Some((size, mtime_ns)) = size_and_mtime(&f.path) else {
                return false;
            };
            let file = rel(dir, &f.path);
            if let Some(v) = book.verdict(&file, size, mtime_ns) {
                return v.counts();
            }
            let verdict = verify::verify(&f.path, checks);
            let counts = verdict.counts();
            rows.push(Row {
                frame: f.frame,
                started: String::new(),
                ended: String::new(),
                render_s: None,
                peak_mem_mb: None,
                verdict,
                file,
                size,
                mtime_ns,
            });
            if !counts {
                move_aside(&f.path);
            }
            counts
        })
        .collect();
    if let Err(e) = Book::append(dir, &rows) {
        tracing::warn!(
            "cannot record frames in {}: {e}",
            dir.join(book::FILE).display()
        );
    }
    disk::done_among(&good, layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_frames_are_moved_aside_and_judged_once() {
        let d = tempfile::tempdir().expect("tempdir");
        let mut img = image::RgbImage::new(4, 4);
        img.save(d.path().join("s.0001.png")).expect("save");
        img.put_pixel(1, 1, image::Rgb([9, 9, 9]));
        img.save(d.path().join("s.0002.png")).expect("save");
        let done = judge_all(d.path(), 1, Checks::default());
        assert_eq!(done, BTreeSet::from([2]));
        assert!(d.path().join("s.0001.png.bad").exists());
        assert_eq!(Book::read(d.path()).rows().len(), 2);
        // Judged once: a second look adds no rows.
        assert_eq!(
            judge_all(d.path(), 1, Checks::default()),
            BTreeSet::from([2])
        );
        assert_eq!(Book::read(d.path()).rows().len(), 2);
        assert_eq!(Book::read(d.path()).bad()[&1].why, "all black");
        // Rendered again, right this time.
        img.save(d.path().join("s.0001.png")).expect("save");
        let t = Timing {
            started: "a".into(),
            ended: "b".into(),
            secs: 1.5,
            peak_mem_mb: Some(64),
        };
        let v = judge_one(
            d.path(),
            &d.path().join("s.0001.png"),
            1,
            Some(&t),
            Checks::default(),
        );
        assert_eq!(v, Some(Verdict::Good));
        assert_eq!(
            judge_all(d.path(), 1, Checks::default()),
            BTreeSet::from([1, 2])
        );
        assert!(Book::read(d.path()).bad().is_empty());
    }
}
