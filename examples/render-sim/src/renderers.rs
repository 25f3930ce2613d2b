//! What each renderer prints per frame. The line catalogue is in the crate
//! docs (`lib.rs`); the tests below pin it.

use std::time::Duration;

/// The renderers `-r` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renderer {
    /// `sw`, and `file` / `default` (the scene's renderer, assumed to be Maya Software).
    Software,
    /// `hw2`: Maya Hardware 2.0, printing the Maya Software lines.
    Hardware2,
    Arnold,
    Vray,
    Redshift,
    RenderMan,
    MentalRay,
}

/// The names `-r` accepts, as `-listRenderers` prints them.
pub const NAMES: &[&str] = &[
    "sw",
    "hw2",
    "arnold",
    "vray",
    "redshift",
    "renderman",
    "file",
    "default",
    "mentalray",
];

/// What a renderer needs to know to describe a frame.
#[derive(Clone, Copy, Debug)]
pub struct FrameInfo<'a> {
    /// Absolute output path.
    pub path: &'a str,
    /// The scene frame as printed, e.g. `1` or `1.5`.
    pub frame: &'a str,
    /// 1-based position of this frame among all frames of the run.
    pub ordinal: usize,
    /// Number of frames in the run (all layers).
    pub total: usize,
    pub width: u32,
    pub height: u32,
    pub camera: &'a str,
    /// The image format's extension (`png`, `exr`…).
    pub ext: &'a str,
}

const REDSHIFT_BLOCKS: (u32, u32) = (4, 3);

impl Renderer {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "sw" | "file" | "default" => Self::Software,
            "hw2" => Self::Hardware2,
            "arnold" => Self::Arnold,
            "vray" => Self::Vray,
            "redshift" => Self::Redshift,
            "renderman" => Self::RenderMan,
            "mentalray" => Self::MentalRay,
            _ => return None,
        })
    }

    /// Arnold prefixes every line with elapsed time and memory.
    pub fn stamped(self) -> bool {
        self == Self::Arnold
    }

    /// The lines printed while the frame renders, before its image exists.
    pub fn frame_lines(self, f: &FrameInfo<'_>) -> Vec<String> {
        let path = f.path;
        let quarters = [0, 25, 50, 75, 100];
        match self {
            Self::Software | Self::Hardware2 => {
                let mut v = vec![
                    format!("Starting Rendering {path}."),
                    "Constructing shading groups.".to_owned(),
                    "Rendering current frame.".to_owned(),
                ];
                v.extend(
                    quarters[1..]
                        .iter()
                        .map(|p| format!("Percentage of rendering done: {p} ({path})")),
                );
                v
            }
            Self::Arnold => {
                let mut v = vec![
                    format!(
                        "[mtoa] Rendering frame {} with camera {}",
                        f.frame, f.camera
                    ),
                    format!(
                        "rendering image at {} x {}, 3 AA samples",
                        f.width, f.height
                    ),
                ];
                v.extend(
                    quarters
                        .iter()
                        .map(|p| format!("{p:>5}% done - 12 rays/pixel")),
                );
                v
            }
            Self::Vray => {
                let mut v = vec![format!("V-Ray: Starting frame {}", f.frame)];
                v.extend(quarters[1..].iter().map(|p| format!("V-Ray: {p:>3}%")));
                v
            }
            Self::Redshift => {
                let (cols, rows) = REDSHIFT_BLOCKS;
                let mut v = vec![format!(
                    "Rendering frame {} ({}/{})",
                    f.frame, f.ordinal, f.total
                )];
                v.extend((0..cols * rows).map(|i| {
                    format!(
                        "[Redshift] Block {}/{} ({},{}) rendered by GPU 0 in {}ms",
                        i + 1,
                        cols * rows,
                        i % cols,
                        i / cols,
                        8 + (i * 7) % 13
                    )
                }));
                v
            }
            Self::RenderMan => {
                let mut v = vec![format!("[RfM] Rendering frame {}", f.frame)];
                v.extend(quarters.iter().map(|p| format!("R90000 {p:>3}%")));
                v
            }
            Self::MentalRay => {
                let mut v = vec![format!("JOB  0.0  info : rendering frame {}", f.frame)];
                v.extend(quarters.iter().map(|p| {
                    format!(
                        "JOB  0.1  progr: {:>7.1}%    rendered on localhost.1",
                        *p as f32
                    )
                }));
                v
            }
        }
    }

    /// The lines printed once the frame's image is in place; every renderer
    /// names the written file here.
    pub fn done_lines(self, f: &FrameInfo<'_>, took: Duration) -> Vec<String> {
        let path = f.path;
        let secs = took.as_secs();
        match self {
            Self::Software | Self::Hardware2 => vec![
                format!(
                    "Time For Frame Render (hh:mm:ss): {:02}:{:02}:{:02}",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                ),
                format!("Finished Rendering {path}."),
            ],
            Self::Arnold => vec![
                format!("[driver_{}] writing file `{path}'", f.ext),
                format!(
                    "render done in {}:{:02}.{:03}",
                    secs / 60,
                    secs % 60,
                    took.subsec_millis()
                ),
            ],
            Self::Vray => vec![
                format!("V-Ray: Successfully written image file \"{path}\""),
                format!(
                    "V-Ray: Total frame time {}h {}m {:.1}s",
                    secs / 3600,
                    secs / 60 % 60,
                    (took.as_secs_f64() % 60.0)
                ),
            ],
            Self::Redshift => vec![
                format!("[Redshift] Saved file '{path}' in 0.00s"),
                format!(
                    "[Redshift] Rendering done - total time for frame {}: {:.2}s",
                    f.frame,
                    took.as_secs_f64()
                ),
            ],
            Self::RenderMan => vec![format!("[RfM] Wrote image \"{path}\"")],
            Self::MentalRay => vec![format!(
                "JOB  0.0  info : wrote image file {path} (frame {})",
                f.frame
            )],
        }
    }

    /// Printed before `// Error: Frame rendering aborted //` when a frame fails.
    pub fn failure_lines(self) -> &'static [&'static str] {
        match self {
            Self::Arnold => &["[mtoa] Failed batch render"],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_known() {
        for name in NAMES {
            assert!(Renderer::from_name(name).is_some(), "{name}");
        }
        assert_eq!(Renderer::from_name("interBatch"), None);
    }

    #[test]
    fn sw_lines_are_exact() {
        let f = FrameInfo {
            path: "/p/shot.0001.png",
            frame: "1",
            ordinal: 1,
            total: 1,
            width: 160,
            height: 90,
            camera: "persp",
            ext: "png",
        };
        let mut lines = Renderer::Software.frame_lines(&f);
        lines.extend(Renderer::Software.done_lines(&f, Duration::from_millis(3200)));
        assert_eq!(
            lines,
            [
                "Starting Rendering /p/shot.0001.png.",
                "Constructing shading groups.",
                "Rendering current frame.",
                "Percentage of rendering done: 25 (/p/shot.0001.png)",
                "Percentage of rendering done: 50 (/p/shot.0001.png)",
                "Percentage of rendering done: 75 (/p/shot.0001.png)",
                "Percentage of rendering done: 100 (/p/shot.0001.png)",
                "Time For Frame Render (hh:mm:ss): 00:00:03",
                "Finished Rendering /p/shot.0001.png.",
            ]
        );
    }
}
