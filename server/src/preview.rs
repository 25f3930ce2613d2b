//! Previews for a phone: the newest frame as a small JPEG, a contact sheet of
//! a job's frames, and the original frame copied as it is.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, GenericImageView, ImageFormat, RgbImage, imageops::FilterType};

pub const MAX_WIDTH: u32 = 640;
pub const QUALITY: u8 = 80;
const THUMB: u32 = 128;
const COLUMNS: u32 = 5;
const MAX_THUMBS: usize = 40;

/// Decodes a frame; EXR and other HDR data are tone-mapped. `None` when the
/// format is not readable (Maya IFF): copy it raw instead.
pub fn load(path: &Path) -> Option<RgbImage> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if !matches!(
        ext.as_str(),
        "png" | "jpg" | "jpeg" | "tif" | "tiff" | "exr" | "hdr" | "tga" | "bmp"
    ) {
        return None;
    }
    let img = image::ImageReader::open(path)
        .ok()?
        .with_guessed_format()
        .ok()?
        .decode()
        .ok()?;
    Some(to_rgb8(img))
}

fn to_rgb8(img: DynamicImage) -> RgbImage {
    match img {
        DynamicImage::ImageRgb32F(_) | DynamicImage::ImageRgba32F(_) => {
            let f = img.to_rgb32f();
            let (w, h) = f.dimensions();
            let mut out = RgbImage::new(w, h);
            for (o, p) in out.pixels_mut().zip(f.pixels()) {
                for c in 0..3 {
                    // Reinhard, then display gamma.
                    let v = p.0[c].max(0.0);
                    let t = (v / (1.0 + v)).powf(1.0 / 2.2);
                    o.0[c] = (t * 255.0 + 0.5).clamp(0.0, 255.0) as u8;
                }
            }
            out
        }
        other => other.to_rgb8(),
    }
}

/// Encodes a JPEG no wider than [`MAX_WIDTH`].
pub fn jpeg(img: &RgbImage, max_width: u32) -> Option<Vec<u8>> {
    let img = if img.width() > max_width {
        let h = (u64::from(img.height()) * u64::from(max_width) / u64::from(img.width())).max(1);
        image::imageops::resize(img, max_width, u32::try_from(h).ok()?, FilterType::Triangle)
    } else {
        img.clone()
    };
    let mut buf = Cursor::new(Vec::new());
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, QUALITY);
    img.write_with_encoder(enc).ok()?;
    Some(buf.into_inner())
}

/// A grid of thumbnails (the last [`MAX_THUMBS`] frames), for a glance on a phone.
pub fn contact_sheet(frames: &[&Path]) -> Option<Vec<u8>> {
    let frames = &frames[frames.len().saturating_sub(MAX_THUMBS)..];
    let thumbs: Vec<RgbImage> = frames
        .iter()
        .filter_map(|p| load(p))
        .map(|img| {
            let (w, h) = img.dimensions();
            let th =
                (u64::from(h) * u64::from(THUMB) / u64::from(w.max(1))).clamp(1, u64::from(THUMB));
            image::imageops::resize(&img, THUMB, th as u32, FilterType::Triangle)
        })
        .collect();
    if thumbs.is_empty() {
        return None;
    }
    let cell_h = thumbs.iter().map(|t| t.height()).max().unwrap_or(THUMB) + 4;
    let cols = COLUMNS.min(thumbs.len() as u32);
    let rows = (thumbs.len() as u32).div_ceil(cols);
    let mut sheet =
        RgbImage::from_pixel(cols * (THUMB + 4), rows * cell_h, image::Rgb([24, 24, 24]));
    for (i, t) in thumbs.iter().enumerate() {
        let (c, r) = (i as u32 % cols, i as u32 / cols);
        image::imageops::overlay(
            &mut sheet,
            t,
            i64::from(c * (THUMB + 4) + 2),
            i64::from(r * cell_h + 2),
        );
    }
    jpeg(&sheet, MAX_WIDTH)
}

/// Checks that bytes decode as a JPEG (tests and self-checks).
pub fn decodes_as_jpeg(bytes: &[u8]) -> Option<(u32, u32)> {
    image::load_from_memory_with_format(bytes, ImageFormat::Jpeg)
        .ok()
        .map(|i| i.dimensions())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exr_is_tone_mapped_and_previews_are_small() {
        let d = tempfile::tempdir().expect("tempdir");
        let hdr =
            image::Rgb32FImage::from_fn(1280, 720, |x, _| image::Rgb([x as f32 / 100.0, 0.5, 4.0]));
        let p = d.path().join("f.0001.exr");
        DynamicImage::ImageRgb32F(hdr).save(&p).expect("save exr");
        let img = load(&p).expect("exr decodes");
        let bytes = jpeg(&img, MAX_WIDTH).expect("jpeg");
        let (w, h) = decodes_as_jpeg(&bytes).expect("decodes");
        assert_eq!((w, h), (640, 360));
        let sheet = contact_sheet(&[&p, &p, &p]).expect("sheet");
        assert!(decodes_as_jpeg(&sheet).is_some());
    }
}
