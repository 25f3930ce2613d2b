//! frames.csv: one row per frame file the node judged, in the job's output
//! folder: when it rendered, how long it took, the peak memory of the
//! renderer's process tree meanwhile, and the verdict. Appended, never
//! rewritten; the last row for a file wins. A restart reads it instead of
//! decoding every frame again (a row holds the file's size and mtime, so a
//! file rendered again is judged again).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use super::verify::Verdict;
use crate::core::{BadFrame, FrameSummary as Summary};

pub const FILE: &str = "frames.csv";
const HEADER: &str = "frame,started,ended,render_s,peak_mem_mb,verdict,file,size,mtime_ns";

/// One judged frame file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub frame: i64,
    /// Local wall time, `YYYY-MM-DD HH:MM:SS` (empty when not seen rendering).
    pub started: String,
    pub ended: String,
    pub render_s: Option<f64>,
    pub peak_mem_mb: Option<u64>,
    pub verdict: Verdict,
    /// The file, relative to the output folder (`/`-separated).
    pub file: String,
    pub size: u64,
    pub mtime_ns: u128,
}

impl Row {
    fn to_csv(&self) -> String {
        let opt = |v: Option<String>| v.unwrap_or_default();
        format!(
            "{},{},{},{},{},{},{},{},{}",
            self.frame,
            self.started,
            self.ended,
            opt(self.render_s.map(|s| format!("{s:.3}"))),
            opt(self.peak_mem_mb.map(|m| m.to_string())),
            field(self.verdict.word()),
            field(&self.file),
            self.size,
            self.mtime_ns
        )
    }

    fn from_csv(line: &str) -> Option<Row> {
        let f = split(line);
        if f.len() != 9 {
            return None;
        }
        Some(Row {
            frame: f[0].parse().ok()?,
            started: f[1].clone(),
            ended: f[2].clone(),
            render_s: f[3].parse().ok(),
            peak_mem_mb: f[4].parse().ok(),
            verdict: Verdict::from_word(&f[5]),
            file: f[6].clone(),
            size: f[7].parse().ok()?,
            mtime_ns: f[8].parse().ok()?,
        })
    }
}

/// A CSV field: quoted when it holds a comma or a quote.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\"").replace('\n', " "))
    } else {
        s.to_string()
    }
}

fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[derive(Debug, Default)]
pub struct Book {
    rows: Vec<Row>,
}

impl Book {
    /// The book in `dir` (empty when there is none yet).
    pub fn read(dir: &Path) -> Book {
        let text = std::fs::read_to_string(dir.join(FILE)).unwrap_or_default();
        Book {
            rows: text.lines().skip(1).filter_map(Row::from_csv).collect(),
        }
    }

    /// Appends rows (writing the header first into a new book).
    pub fn append(dir: &Path, rows: &[Row]) -> std::io::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(FILE))?;
        // Frames are judged in parallel: the lock makes "empty, so the
        // header first" and the append one step (two judgments of a new
        // book each wrote a header before).
        f.lock()?;
        let mut text = String::new();
        if f.metadata()?.len() == 0 {
            text.push_str(HEADER);
            text.push('\n');
        }
        for r in rows {
            text.push_str(&r.to_csv());
            text.push('\n');
        }
        f.write_all(text.as_bytes())
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The verdict on this very file (same name, size and mtime), if judged.
    pub fn verdict(&self, file: &str, size: u64, mtime_ns: u128) -> Option<&Verdict> {
        self.rows
            .iter()
            .rev()
            .find(|r| r.file == file && r.size == size && r.mtime_ns == mtime_ns)
            .map(|r| &r.verdict)
    }

    /// Frames whose latest verdict is bad, with how many bad renders each had.
    pub fn bad(&self) -> BTreeMap<i64, BadFrame> {
        let mut latest: BTreeMap<i64, &Row> = BTreeMap::new();
        let mut attempts: BTreeMap<i64, u32> = BTreeMap::new();
        for r in &self.rows {
            latest.insert(r.frame, r);
            if !r.verdict.counts() {
                *attempts.entry(r.frame).or_default() += 1;
            }
        }
        latest
            .into_iter()
            .filter_map(|(frame, r)| match &r.verdict {
                Verdict::Bad(why) => Some((
                    frame,
                    BadFrame {
                        attempts: attempts.get(&frame).copied().unwrap_or(1),
                        why: why.clone(),
                    },
                )),
                _ => None,
            })
            .collect()
    }

    /// Average and slowest render time, and the highest peak memory, over
    /// the frames whose latest row is good and timed.
    pub fn summary(&self) -> Option<Summary> {
        let mut latest: BTreeMap<i64, &Row> = BTreeMap::new();
        for r in &self.rows {
            if r.render_s.is_some() || !latest.contains_key(&r.frame) {
                latest.insert(r.frame, r);
            }
        }
        let timed: Vec<(i64, f64, Option<u64>)> = latest
            .values()
            .filter(|r| r.verdict.counts())
            .filter_map(|r| Some((r.frame, r.render_s?, r.peak_mem_mb)))
            .collect();
        let (slowest_frame, slowest_s, _) = *timed.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
        Some(Summary {
            frames: timed.len() as u64,
            avg_s: timed.iter().map(|t| t.1).sum::<f64>() / timed.len() as f64,
            slowest_frame,
            slowest_s,
            peak_mem_mb: timed.iter().filter_map(|t| t.2).max(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(frame: i64, secs: Option<f64>, verdict: Verdict, size: u64) -> Row {
        Row {
            frame,
            started: "2026-11-30 10:00:00".into(),
            ended: "2026-11-30 10:00:04".into(),
            render_s: secs,
            peak_mem_mb: secs.map(|s| s as u64 * 100),
            verdict,
            file: format!("a, b/shot.{frame:04}.png"),
            size,
            mtime_ns: 7,
        }
    }

    #[test]
    fn judgments_appending_at_once_write_one_header() {
        // A new book, 16 frames judged at the same moment (a Slurm scan
        // finds several at once): one header, every row once.
        for _ in 0..20 {
            let d = tempfile::tempdir().expect("tempdir");
            let start = std::sync::Barrier::new(16);
            std::thread::scope(|s| {
                for f in 0..16 {
                    let (dir, start) = (d.path(), &start);
                    s.spawn(move || {
                        start.wait();
                        Book::append(dir, &[row(f, Some(1.0), Verdict::Good, 10)]).expect("append");
                    });
                }
            });
            let text = std::fs::read_to_string(d.path().join(FILE)).expect("read");
            assert_eq!(text.matches(HEADER).count(), 1, "{text}");
            assert!(text.starts_with(HEADER), "{text}");
            assert_eq!(Book::read(d.path()).rows().len(), 16);
        }
    }

    #[test]
    fn the_book_round_trips_and_sums_up() {
        let d = tempfile::tempdir().expect("tempdir");
        Book::append(
            d.path(),
            &[
                row(1, Some(2.0), Verdict::Good, 10),
                row(2, Some(6.0), Verdict::Bad("all black".into()), 10),
            ],
        )
        .expect("append");
        Book::append(
            d.path(),
            &[
                row(
                    2,
                    Some(4.0),
                    Verdict::Bad("does not decode (x, \"y\")".into()),
                    11,
                ),
                row(3, Some(3.0), Verdict::Good, 10),
            ],
        )
        .expect("append");
        let text = std::fs::read_to_string(d.path().join(FILE)).expect("read");
        assert!(text.starts_with(HEADER), "{text}");
        assert_eq!(text.lines().count(), 5);
        let b = Book::read(d.path());
        assert_eq!(b.rows()[0], row(1, Some(2.0), Verdict::Good, 10));
        assert_eq!(
            b.rows()[2].verdict,
            Verdict::Bad("does not decode (x, \"y\")".into())
        );
        assert_eq!(
            b.verdict("a, b/shot.0002.png", 10, 7),
            Some(&Verdict::Bad("all black".into()))
        );
        assert_eq!(b.verdict("a, b/shot.0002.png", 12, 7), None);
        let bad = b.bad();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[&2].attempts, 2);
        let s = b.summary().expect("summary");
        assert_eq!((s.frames, s.slowest_frame, s.slowest_s), (2, 3, 3.0));
        assert!((s.avg_s - 2.5).abs() < 1e-9);
        assert_eq!(s.peak_mem_mb, Some(300));
    }
}
