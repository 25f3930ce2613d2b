//! The small, real image written for each frame.
//!
//! The picture is a colour gradient with a bright vertical bar whose position
//! moves with the frame number, so previews of different frames differ. In
//! EXR the bar is "hot" (values up to 4.0), so tone mapping matters.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat, RgbImage, Rgba32FImage};

/// Output formats accepted by `-of`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Exr,
    Jpeg,
    Tiff,
    /// Maya IFF: only a recognisable `FOR4 … CIMG` blob (readers copy it raw).
    Iff,
}

impl Format {
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "png" => Self::Png,
            "exr" => Self::Exr,
            "jpg" | "jpeg" => Self::Jpeg,
            "tif" | "tiff" => Self::Tiff,
            "iff" | "maya" => Self::Iff,
            _ => return None,
        })
    }

    /// The file extension Maya uses.
    pub fn ext(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Exr => "exr",
            Self::Jpeg => "jpg",
            Self::Tiff => "tif",
            Self::Iff => "iff",
        }
    }
}

/// What a frame's picture depends on.
#[derive(Clone, Copy, Debug)]
pub struct Look {
    pub width: u32,
    pub height: u32,
    /// The scene frame number: moves the bar and shifts the colours.
    pub frame: f64,
    /// 0 for the first render layer, 1 for the next…: tints the picture.
    pub layer: usize,
    /// An all-black frame (`RENDER_SIM_BLACK_AT_FRAME`): the classic silent failure.
    pub black: bool,
}

impl Look {
    /// Linear radiance at a pixel; the bar is brighter than 1.0.
    fn radiance(&self, x: u32, y: u32) -> [f32; 3] {
        if self.black {
            return [0.0; 3];
        }
        let (w, h) = (self.width as f32, self.height as f32);
        let (u, v) = (x as f32 / w.max(2.0), y as f32 / h.max(2.0));
        let phase = (self.frame * 0.37).sin() as f32 * 0.5 + 0.5;
        let tint = (self.layer % 4) as f32 * 0.2;
        let base = [
            0.15 + 0.7 * u,
            0.1 + 0.6 * v * (1.0 - tint),
            0.2 + 0.6 * phase + tint * 0.5,
        ];
        // The bar sweeps across the picture, 1/24 of its width per frame.
        let bar_w = f64::from((self.width / 16).max(2));
        let step = f64::from((self.width / 24).max(1));
        let bar_x = (self.frame * step).rem_euclid(f64::from(self.width));
        let dx = (f64::from(x) - bar_x).rem_euclid(f64::from(self.width));
        if dx < bar_w { [4.0, 3.0, 1.5] } else { base }
    }

    fn rgb8(&self) -> RgbImage {
        RgbImage::from_fn(self.width, self.height, |x, y| {
            image::Rgb(
                self.radiance(x, y)
                    .map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8),
            )
        })
    }

    fn rgba32f(&self) -> Rgba32FImage {
        Rgba32FImage::from_fn(self.width, self.height, |x, y| {
            let [r, g, b] = self.radiance(x, y);
            image::Rgba([r, g, b, 1.0])
        })
    }
}

/// The picture size: `-x`/`-y` or 160×90, scaled by `-percentRes`, each
/// side kept within 1..=2048.
pub fn size(width: Option<u32>, height: Option<u32>, percent: f64) -> (u32, u32) {
    let scale = |v: u32| ((f64::from(v) * percent / 100.0).round() as u32).clamp(1, 2048);
    (scale(width.unwrap_or(160)), scale(height.unwrap_or(90)))
}

/// Writes the frame to `path` atomically: into `.<name>.tmp-<pid>` in the
/// same directory, then renamed, so readers never see half a file.
pub fn write(path: &Path, format: Format, look: &Look) -> io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp: PathBuf = path.with_file_name(format!(
        ".{}.tmp-{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let result = write_to(&tmp, format, look).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_to(tmp: &Path, format: Format, look: &Look) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(tmp)?);
    let encoded = match format {
        Format::Iff => {
            out.write_all(&iff(look))?;
            Ok(())
        }
        Format::Exr => {
            DynamicImage::ImageRgba32F(look.rgba32f()).write_to(&mut out, ImageFormat::OpenExr)
        }
        Format::Png => DynamicImage::ImageRgb8(look.rgb8()).write_to(&mut out, ImageFormat::Png),
        Format::Jpeg => DynamicImage::ImageRgb8(look.rgb8()).write_to(&mut out, ImageFormat::Jpeg),
        Format::Tiff => DynamicImage::ImageRgb8(look.rgb8()).write_to(&mut out, ImageFormat::Tiff),
    };
    encoded.map_err(io::Error::other)?;
    out.flush()
}

/// A plausible Maya IFF: `FOR4 <len> CIMG`, a `TBHD` header (width, height,
/// RGBA, one uncompressed tile) and a `FOR4 <len> TBMP` holding one `RGBA`
/// tile. Good enough to be recognised; not guaranteed to load in Maya.
fn iff(look: &Look) -> Vec<u8> {
    fn chunk(tag: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut c = Vec::with_capacity(body.len() + 12);
        c.extend_from_slice(tag);
        c.extend_from_slice(&(body.len() as u32).to_be_bytes());
        c.extend_from_slice(body);
        c.resize(c.len().next_multiple_of(4), 0);
        c
    }
    let (w, h) = (look.width, look.height);
    let mut tbhd = Vec::with_capacity(32);
    tbhd.extend_from_slice(&w.to_be_bytes());
    tbhd.extend_from_slice(&h.to_be_bytes());
    tbhd.extend_from_slice(&1u16.to_be_bytes()); // pixel aspect numerator
    tbhd.extend_from_slice(&1u16.to_be_bytes()); // pixel aspect denominator
    tbhd.extend_from_slice(&3u32.to_be_bytes()); // flags: RGB | alpha
    tbhd.extend_from_slice(&0u16.to_be_bytes()); // 8 bits per channel
    tbhd.extend_from_slice(&1u16.to_be_bytes()); // one tile
    tbhd.extend_from_slice(&0u32.to_be_bytes()); // no compression
    tbhd.extend_from_slice(&[0; 8]); // origin x, y

    let mut tile = Vec::with_capacity(8 + (w * h * 4) as usize);
    for v in [0, 0, w - 1, h - 1] {
        tile.extend_from_slice(&(v as u16).to_be_bytes());
    }
    let rgb = look.rgb8();
    // IFF images are stored bottom-up, pixels as A, B, G, R.
    for y in (0..h).rev() {
        for x in 0..w {
            let [r, g, b] = rgb.get_pixel(x, y).0;
            tile.extend_from_slice(&[255, b, g, r]);
        }
    }
    let mut tbmp = b"TBMP".to_vec();
    tbmp.extend(chunk(b"RGBA", &tile));

    let mut cimg = b"CIMG".to_vec();
    cimg.extend(chunk(b"TBHD", &tbhd));
    cimg.extend(chunk(b"FOR4", &tbmp));
    chunk(b"FOR4", &cimg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(None, None, 100.0), (160, 90));
        assert_eq!(size(Some(640), None, 50.0), (320, 45));
        assert_eq!(size(Some(9000), Some(10), 100.0), (2048, 10));
        assert_eq!(size(Some(1), Some(1), 1.0), (1, 1));
    }

    #[test]
    fn frames_look_different() {
        let look = |frame| Look {
            width: 64,
            height: 8,
            frame,
            layer: 0,
            black: false,
        };
        assert_ne!(look(1.0).rgb8(), look(2.0).rgb8());
        let hdr = look(1.0).rgba32f();
        assert!(hdr.pixels().any(|p| p.0[0] > 1.0));
    }

    #[test]
    fn iff_is_recognisable() {
        let blob = iff(&Look {
            width: 5,
            height: 3,
            frame: 1.0,
            layer: 0,
            black: false,
        });
        assert_eq!(&blob[..4], b"FOR4");
        assert_eq!(&blob[8..12], b"CIMG");
        assert_eq!(&blob[12..16], b"TBHD");
        let len = u32::from_be_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
        assert_eq!(len + 8, blob.len());
        assert_eq!(blob.len() % 4, 0);
    }
}
