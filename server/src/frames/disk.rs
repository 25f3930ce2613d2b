//! Frames on disk: the files a renderer wrote, whatever its naming
//! (`shot.0001.exr`, `shot_0001.png`, 3ds Max's `render0001.exr`), and
//! whether each is whole. What is on disk is the truth about frames.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Image extensions renderers write.
const IMAGE_EXTS: &[&str] = &[
    "png", "exr", "jpg", "jpeg", "tif", "tiff", "iff", "tga", "bmp", "hdr",
];

/// A frame file found in an output dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameFile {
    pub path: PathBuf,
    pub frame: i64,
    /// The folder it is in (one per render layer).
    pub group: PathBuf,
    pub modified: std::time::SystemTime,
}

/// Finds complete frame files under `dir` (two levels: layers/cameras).
pub fn frame_files(dir: &Path) -> Vec<FrameFile> {
    let mut out = Vec::new();
    collect(dir, 0, &mut out);
    out
}

fn collect(dir: &Path, depth: u32, out: &mut Vec<FrameFile>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let path = ent.path();
        let Ok(md) = ent.metadata() else { continue };
        if md.is_dir() {
            if depth < 2 {
                collect(&path, depth + 1, out);
            }
            continue;
        }
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let Some((stem, ext)) = name.rsplit_once('.') else {
            continue;
        };
        if !IMAGE_EXTS.contains(&ext.to_ascii_lowercase().as_str()) {
            continue;
        }
        let Some(frame) = trailing_number(stem) else {
            continue;
        };
        if !is_complete(&path, ext, md.len()) {
            continue;
        }
        out.push(FrameFile {
            path,
            frame,
            group: dir.to_path_buf(),
            modified: md.modified().unwrap_or(std::time::UNIX_EPOCH),
        });
    }
}

/// The frame number at the end of a file stem: `shot.0012` → 12, `shot_0012` → 12.
fn trailing_number(stem: &str) -> Option<i64> {
    let digits: String = stem
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let before = stem[..stem.len() - digits.len()].chars().last();
    Some(if before == Some('-') { -n } else { n })
}

/// A truncated frame is a missing frame: check the format's end marker where it has one.
fn is_complete(path: &Path, ext: &str, len: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    if len == 0 {
        return false;
    }
    let want: &[u8] = match ext.to_ascii_lowercase().as_str() {
        "png" => &[0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82],
        "jpg" | "jpeg" => &[0xff, 0xd9],
        _ => return len > 16,
    };
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = want.len() as u64;
    if len < n || f.seek(SeekFrom::End(-(n as i64))).is_err() {
        return false;
    }
    let mut buf = vec![0u8; want.len()];
    f.read_exact(&mut buf).is_ok() && buf == want
}

/// Frames done in `dir`: present in every layer folder (when `layers` > 1).
pub fn done_frames(dir: &Path, layers: usize) -> BTreeSet<i64> {
    done_among(&frame_files(dir), layers)
}

/// Of these frame files, the frames present in every layer folder.
pub fn done_among(files: &[FrameFile], layers: usize) -> BTreeSet<i64> {
    let groups: BTreeSet<&PathBuf> = files.iter().map(|f| &f.group).collect();
    if layers > 1 && groups.len() < layers {
        return BTreeSet::new();
    }
    let mut done: Option<BTreeSet<i64>> = None;
    for g in groups {
        let set: BTreeSet<i64> = files
            .iter()
            .filter(|f| &f.group == g)
            .map(|f| f.frame)
            .collect();
        done = Some(match done {
            None => set,
            Some(d) => d.intersection(&set).copied().collect(),
        });
    }
    done.unwrap_or_default()
}

/// The newest complete frame under `dir`.
pub fn newest_frame(dir: &Path) -> Option<FrameFile> {
    frame_files(dir)
        .into_iter()
        .max_by_key(|f| (f.modified, f.frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_numbers() {
        assert_eq!(trailing_number("shot.0012"), Some(12));
        assert_eq!(trailing_number("shot_0007"), Some(7));
        assert_eq!(trailing_number("shot"), None);
        assert_eq!(trailing_number("shot.-005"), Some(-5));
    }

    #[test]
    fn truncated_png_is_not_done() {
        let dir = tempfile::tempdir().expect("tempdir");
        let img = image::RgbImage::new(4, 4);
        img.save(dir.path().join("a.0001.png")).expect("save");
        let full = std::fs::read(dir.path().join("a.0001.png")).expect("read");
        std::fs::write(dir.path().join("a.0002.png"), &full[..full.len() - 4]).expect("write");
        assert_eq!(
            done_frames(dir.path(), 1).into_iter().collect::<Vec<_>>(),
            [1]
        );
    }
}
