//! The preview video a phone plays: the frames so far at the scene's frame
//! rate, no wider than 640 px. H.264 MP4 through ffmpeg (found on PATH or
//! named in the config); an animated GIF made here when there is no ffmpeg.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use image::RgbImage;
use image::imageops::FilterType;

use super::disk;
use crate::preview;

pub const MP4: &str = "preview.mp4";
pub const GIF: &str = "preview.gif";
/// Width of the video (a phone screen).
const WIDTH: u32 = 640;
/// A GIF is big per frame: smaller and fewer.
const GIF_WIDTH: u32 = 320;
const GIF_MAX_FRAMES: usize = 60;

/// How to make a preview video.
#[derive(Debug, Clone)]
pub struct VideoSettings {
    /// ffmpeg, when there is one.
    pub ffmpeg: Option<PathBuf>,
    pub fps: u32,
    /// At most this many frames (evenly picked from a longer job).
    pub max_frames: usize,
}

/// A made video: its file name in the folder, and its bytes.
pub struct Video {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub frames: usize,
}

/// Makes the preview video of the frames under `dir` (the first layer's),
/// using `scratch` (an empty folder the caller removes) for ffmpeg's input.
pub fn make(dir: &Path, s: &VideoSettings, scratch: &Path) -> Result<Video, String> {
    let mut files = disk::frame_files(dir);
    let Some(first_group) = files.iter().map(|f| f.group.clone()).min() else {
        return Err("no frame has finished yet".into());
    };
    files.retain(|f| f.group == first_group);
    files.sort_by_key(|f| f.frame);
    let picked = pick(&files, s.max_frames.max(1));
    let width = if s.ffmpeg.is_some() { WIDTH } else { GIF_WIDTH };
    let picked = if s.ffmpeg.is_some() {
        picked
    } else {
        pick(&picked, GIF_MAX_FRAMES)
    };
    let images: Vec<RgbImage> = picked
        .iter()
        .filter_map(|f| preview::load(&f.path))
        .map(|img| fit(&img, width))
        .collect();
    if images.is_empty() {
        return Err("the frames are in a format this node cannot read (Maya IFF?)".into());
    }
    match &s.ffmpeg {
        Some(ffmpeg) => mp4(ffmpeg, &images, s.fps, scratch),
        None => gif(&images, s.fps),
    }
}

/// Up to `n` items, evenly spread, the last one always kept.
fn pick<T: Clone>(all: &[T], n: usize) -> Vec<T> {
    if all.len() <= n {
        return all.to_vec();
    }
    (0..n)
        .map(|i| all[i * (all.len() - 1) / (n - 1).max(1)].clone())
        .collect()
}

/// No wider than `width`, even sides (H.264 in yuv420p needs them).
fn fit(img: &RgbImage, width: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let nw = w.min(width).max(2) & !1;
    let nh = ((u64::from(h) * u64::from(nw) / u64::from(w.max(1))) as u32).max(2) & !1;
    image::imageops::resize(img, nw, nh, FilterType::Triangle)
}

fn mp4(ffmpeg: &Path, images: &[RgbImage], fps: u32, scratch: &Path) -> Result<Video, String> {
    for (i, img) in images.iter().enumerate() {
        let jpg = preview::jpeg(img, WIDTH).ok_or("cannot encode a frame as JPEG")?;
        std::fs::write(scratch.join(format!("{:05}.jpg", i + 1)), jpg)
            .map_err(|e| format!("cannot write ffmpeg's input in {}: {e}", scratch.display()))?;
    }
    let out = scratch.join(MP4);
    // No shell: the arguments are ours, the paths the node's own.
    let run = |codec: &str| {
        Command::new(ffmpeg)
            .args(["-y", "-loglevel", "error", "-framerate"])
            .arg(fps.max(1).to_string())
            .arg("-i")
            .arg(scratch.join("%05d.jpg"))
            .args([
                "-c:v",
                codec,
                "-pix_fmt",
                "yuv420p",
                "-movflags",
                "+faststart",
            ])
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
    };
    let mut result = run("libx264");
    if !result.as_ref().is_ok_and(|o| o.status.success()) {
        // An ffmpeg built without x264 still has its own MPEG-4 encoder.
        result = run("mpeg4");
    }
    match result {
        Ok(o) if o.status.success() => Ok(Video {
            name: MP4,
            bytes: std::fs::read(&out).map_err(|e| e.to_string())?,
            frames: images.len(),
        }),
        Ok(o) => Err(format!(
            "ffmpeg failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("no message")
        )),
        Err(e) => Err(format!("cannot run {}: {e}", ffmpeg.display())),
    }
}

fn gif(images: &[RgbImage], fps: u32) -> Result<Video, String> {
    use image::codecs::gif::{GifEncoder, Repeat};
    let mut bytes = Vec::new();
    {
        let mut enc = GifEncoder::new_with_speed(&mut bytes, 10);
        enc.set_repeat(Repeat::Infinite)
            .map_err(|e| e.to_string())?;
        let delay = image::Delay::from_numer_denom_ms(1000, fps.max(1));
        for img in images {
            let rgba = image::DynamicImage::ImageRgb8(img.clone()).to_rgba8();
            enc.encode_frame(image::Frame::from_parts(rgba, 0, 0, delay))
                .map_err(|e| e.to_string())?;
        }
    }
    let _ = bytes.flush();
    Ok(Video {
        name: GIF,
        bytes,
        frames: images.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picking_and_fitting() {
        let all: Vec<u32> = (1..=10).collect();
        assert_eq!(pick(&all, 4), [1, 4, 7, 10]);
        assert_eq!(pick(&all, 20).len(), 10);
        let img = RgbImage::new(1921, 1081);
        let f = fit(&img, WIDTH);
        assert_eq!(f.dimensions(), (640, 360));
        assert_eq!(fit(&RgbImage::new(161, 91), WIDTH).dimensions(), (160, 90));
    }

    #[test]
    fn a_gif_is_made_without_ffmpeg() {
        let d = tempfile::tempdir().expect("tempdir");
        for f in 1..=3u8 {
            let img = RgbImage::from_pixel(40, 20, image::Rgb([f * 50, 0, 0]));
            img.save(d.path().join(format!("s.{f:04}.png")))
                .expect("save");
        }
        let s = VideoSettings {
            ffmpeg: None,
            fps: 24,
            max_frames: 100,
        };
        let v = make(d.path(), &s, d.path()).expect("gif");
        assert_eq!((v.name, v.frames), (GIF, 3));
        assert!(v.bytes.starts_with(b"GIF89a"));
    }
}
