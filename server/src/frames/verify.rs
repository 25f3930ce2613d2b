//! Is a rendered frame really a frame? It must exist, be whole, decode
//! (PNG, JPEG, TIFF, EXR), and not be one flat colour: an all-black frame
//! is the classic silent failure (a missing texture server, a light linked
//! off, a licence that failed quietly). Formats no decoder here reads
//! (Maya IFF, TGA…) are accepted on their end marker and size alone.

use std::path::Path;

use image::{DynamicImage, ImageReader};

/// What the node knows of one frame file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Good,
    /// Cannot be decoded here; accepted as complete on disk.
    Unchecked,
    /// Why it does not count as rendered.
    Bad(String),
}

impl Verdict {
    pub fn counts(&self) -> bool {
        !matches!(self, Verdict::Bad(_))
    }

    /// The word frames.csv keeps.
    pub fn word(&self) -> &str {
        match self {
            Verdict::Good => "ok",
            Verdict::Unchecked => "unchecked",
            Verdict::Bad(why) => why,
        }
    }

    pub fn from_word(w: &str) -> Self {
        match w {
            "ok" => Verdict::Good,
            "unchecked" => Verdict::Unchecked,
            why => Verdict::Bad(why.to_string()),
        }
    }
}

/// What to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// Decode the image (else only existence and end markers count).
    pub decode: bool,
    /// A frame of one flat colour is bad.
    pub flat: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            decode: true,
            flat: true,
        }
    }
}

/// Judges one frame file.
pub fn verify(path: &Path, checks: Checks) -> Verdict {
    let Ok(md) = std::fs::metadata(path) else {
        return Verdict::Bad("missing".into());
    };
    if md.len() == 0 {
        return Verdict::Bad("empty file".into());
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let decodable = matches!(
        ext.as_str(),
        "png" | "jpg" | "jpeg" | "tif" | "tiff" | "exr"
    );
    if !checks.decode || !decodable {
        return Verdict::Unchecked;
    }
    let img = match ImageReader::open(path)
        .and_then(ImageReader::with_guessed_format)
        .map_err(|e| e.to_string())
        .and_then(|r| r.decode().map_err(|e| e.to_string()))
    {
        Ok(img) => img,
        Err(e) => return Verdict::Bad(format!("does not decode ({})", short(&e))),
    };
    if checks.flat
        && let Some(c) = flat_colour(&img)
    {
        return Verdict::Bad(if c == "black" {
            "all black".into()
        } else {
            format!("one flat colour ({c})")
        });
    }
    Verdict::Good
}

fn short(e: &str) -> String {
    let mut s: String = e.chars().take(80).collect();
    s = s.replace([',', '\n'], " ");
    s
}

/// `Some(name)` when every pixel has the same colour (alpha ignored).
fn flat_colour(img: &DynamicImage) -> Option<String> {
    match img {
        DynamicImage::ImageRgb32F(_) | DynamicImage::ImageRgba32F(_) => {
            let f = img.to_rgb32f();
            let first = *f.pixels().next()?;
            f.pixels()
                .all(|p| p == &first)
                .then(|| describe(first.0.map(|v| (v.clamp(0.0, 1.0) * 255.0) as u8)))
        }
        _ => {
            let b = img.to_rgb16();
            let first = *b.pixels().next()?;
            b.pixels()
                .all(|p| p == &first)
                .then(|| describe(first.0.map(|v| (v >> 8) as u8)))
        }
    }
}

fn describe(rgb: [u8; 3]) -> String {
    match rgb {
        [0, 0, 0] => "black".into(),
        [255, 255, 255] => "white".into(),
        [r, g, b] => format!("#{r:02x}{g:02x}{b:02x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_judged() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = |n: &str| d.path().join(n);
        let mut img = image::RgbImage::new(8, 4);
        img.save(p("black.0001.png")).expect("save");
        img.put_pixel(3, 2, image::Rgb([200, 10, 10]));
        img.save(p("ok.0001.png")).expect("save");
        img.save(p("ok.0001.jpg")).expect("save");
        let grey = image::RgbImage::from_pixel(4, 4, image::Rgb([128, 128, 128]));
        grey.save(p("grey.0001.tif")).expect("save");
        let full = std::fs::read(p("ok.0001.png")).expect("read");
        std::fs::write(p("cut.0001.png"), &full[..full.len() / 2]).expect("write");
        std::fs::write(p("empty.0001.png"), b"").expect("write");
        std::fs::write(p("maya.0001.iff"), b"FOR4 whatever").expect("write");
        let mut hdr = image::Rgb32FImage::new(4, 4);
        hdr.put_pixel(0, 0, image::Rgb([4.0, 1.0, 0.5]));
        DynamicImage::ImageRgb32F(hdr)
            .save(p("ok.0001.exr"))
            .expect("exr");
        let all = Checks::default();
        assert_eq!(verify(&p("ok.0001.png"), all), Verdict::Good);
        assert_eq!(verify(&p("ok.0001.exr"), all), Verdict::Good);
        assert_eq!(
            verify(&p("black.0001.png"), all),
            Verdict::Bad("all black".into())
        );
        assert_eq!(
            verify(&p("grey.0001.tif"), all),
            Verdict::Bad("one flat colour (#808080)".into())
        );
        assert!(
            matches!(verify(&p("cut.0001.png"), all), Verdict::Bad(w) if w.starts_with("does not decode"))
        );
        assert_eq!(
            verify(&p("empty.0001.png"), all),
            Verdict::Bad("empty file".into())
        );
        assert_eq!(verify(&p("maya.0001.iff"), all), Verdict::Unchecked);
        assert_eq!(verify(&p("none.png"), all), Verdict::Bad("missing".into()));
        let no_flat = Checks {
            decode: true,
            flat: false,
        };
        assert_eq!(verify(&p("black.0001.png"), no_flat), Verdict::Good);
        assert_eq!(
            Verdict::from_word("all black"),
            Verdict::Bad("all black".into())
        );
        assert!(Verdict::from_word("ok").counts());
    }
}
