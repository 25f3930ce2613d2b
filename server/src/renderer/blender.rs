//! Blender: `blender -b <scene> -Y -E <engine> -o <out>/<stem>_#### -F <fmt>
//! [-t N] -s S -e E [--python <node script>] -a [-- <validated values>]`.
//!
//! Arguments are processed left to right, so every option sits after the
//! .blend and before `-a` (blender.md). `-Y` is always there: scripts embedded
//! in a .blend never run. Resolution and camera reach Blender only through the
//! node's own script, which reads validated values after `--`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use droprender_shared::command::RenderRequest;
use regex::Regex;

use super::{Invocation, LineParser, Progress, Resolved, frame_range};
use crate::config::Config;

/// The node-owned script for resolution and camera. It trusts nothing but
/// the `--res WxH` and `--cam NAME` pairs, which the shared grammar validated.
pub const SETUP_SCRIPT: &str = r#"# Written by droprender-node. Applies validated values given after "--".
import os, sys
import bpy

def fail(msg):
    print("Error: " + msg, flush=True)
    os._exit(1)

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
scene = bpy.context.scene
for key, value in zip(argv[0::2], argv[1::2]):
    if key == "--res":
        w, h = value.lower().split("x")
        scene.render.resolution_x = int(w)
        scene.render.resolution_y = int(h)
        scene.render.resolution_percentage = 100
    elif key == "--cam":
        cam = bpy.data.objects.get(value)
        if cam is None or cam.type != "CAMERA":
            fail("camera not found '%s'" % value)
        scene.camera = cam
    elif key == "--cycles-device":
        pass  # Cycles reads it itself: the slot's GPU device type.
    else:
        fail("unexpected argument '%s'" % key)
"#;

pub const SCRIPT_NAME: &str = "blender_setup.py";

fn extension(format: &str) -> &'static str {
    match format {
        "JPEG" => "jpg",
        "TIFF" => "tif",
        "OPEN_EXR" => "exr",
        _ => "png",
    }
}

/// The output pattern for a scene: `<out>/<stem>_####`.
pub fn output_pattern(out: &Path, scene: &Path) -> PathBuf {
    let stem = scene
        .file_stem()
        .map_or_else(|| "frame".to_string(), |s| s.to_string_lossy().into_owned());
    out.join(format!("{stem}_####"))
}

pub fn plan(cfg: &Config, job: &Resolved, done: &BTreeSet<i64>) -> Vec<Invocation> {
    let req = &job.request;
    let format = req.flag("-F").unwrap_or("PNG");
    let engine = req.flag("-E").unwrap_or(&cfg.blender_engine);
    let build = |range: Option<(i64, i64)>, frames: Vec<i64>| {
        let mut args: Vec<OsString> = vec!["-b".into(), job.scene.clone().into(), "-Y".into()];
        args.extend(["-E".into(), engine.into()]);
        args.extend([
            "-o".into(),
            output_pattern(&job.output_dir, &job.scene).into(),
        ]);
        args.extend(["-F".into(), format.into()]);
        if let Some(t) = req.flag("-t") {
            args.extend(["-t".into(), t.into()]);
        }
        if let Some((s, e)) = range {
            args.extend([
                "-s".into(),
                s.to_string().into(),
                "-e".into(),
                e.to_string().into(),
            ]);
        }
        let mut after: Vec<OsString> = Vec::new();
        if let Some(r) = req.flag("-res") {
            after.extend(["--res".into(), r.into()]);
        }
        if let Some(c) = req.flag("-cam") {
            after.extend(["--cam".into(), c.into()]);
        }
        if !after.is_empty() {
            args.extend(["--python".into(), cfg.state.join(SCRIPT_NAME).into()]);
        }
        args.push("-a".into());
        if !after.is_empty() {
            args.push("--".into());
            args.extend(after);
        }
        Invocation {
            program: cfg.blender.clone(),
            args,
            frames,
            env: Vec::new(),
        }
    };
    match frame_range(req).and_then(|r| r.whole_frames()) {
        Some(frames) => {
            let missing: Vec<i64> = frames.into_iter().filter(|f| !done.contains(f)).collect();
            super::runs(&missing)
                .into_iter()
                .map(|(s, e)| build(Some((s, e)), (s..=e).collect()))
                .collect()
        }
        None => vec![build(None, Vec::new())],
    }
}

/// The file extension frames get, for finding them.
pub fn frame_extension(req: &RenderRequest) -> &'static str {
    extension(req.flag("-F").unwrap_or("PNG"))
}

static FRA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^Fra:\s?(\d+) .*\| (?:Sample|Rendering|Path Tracing Sample) (\d+) ?/ ?(\d+)")
        .unwrap_or_else(|e| panic!("built-in regex: {e}"))
});
static FRA_ANY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^Fra:\s?(\d+) ").unwrap_or_else(|e| panic!("built-in regex: {e}"))
});
static SAVED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^Saved: '(.*)'").unwrap_or_else(|e| panic!("built-in regex: {e}"))
});
/// Blender 5's CLOG prefix: `00:01.140  render | `.
static CLOG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{2}:\d{2}\.\d{3}\s+\w+\s+\|\s?")
        .unwrap_or_else(|e| panic!("built-in regex: {e}"))
});

#[derive(Default)]
pub struct Parser {
    frame: Option<String>,
}

impl LineParser for Parser {
    fn line(&mut self, line: &str) -> Option<Progress> {
        let line = CLOG.replace(line.trim_end(), "");
        let line = line.as_ref();
        if let Some(c) = SAVED.captures(line) {
            return Some(Progress::FrameDone(
                c.get(1).map(|m| PathBuf::from(m.as_str())),
            ));
        }
        if line.starts_with("Error: ") || line.contains("Traceback (most recent call last)") {
            return Some(Progress::Error(line.to_string()));
        }
        if let Some(c) = FRA_ANY.captures(line) {
            let f = c.get(1).map(|m| m.as_str().to_string());
            if self.frame != f {
                self.frame = f.clone();
                return Some(Progress::FrameStarted(f));
            }
        }
        if let Some(c) = FRA.captures(line) {
            let a: f64 = c.get(2)?.as_str().parse().ok()?;
            let b: f64 = c.get(3)?.as_str().parse().ok()?;
            if b > 0.0 {
                return Some(Progress::Percent((100.0 * a / b).min(100.0)));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_order_and_resume_runs() {
        use droprender_shared::command::{Action, parse_str};
        let Ok(Some((_, cmd))) = parse_str("rend:blender -s 1 -e 6 -t 2 -res 64x48 shot.blend")
        else {
            panic!("parses")
        };
        let Action::Render(request) = cmd.action else {
            panic!("render")
        };
        let cfg = crate::config::Config::for_tests();
        let job = Resolved {
            request,
            scene: "/p/shot.blend".into(),
            output_dir: "/o/job".into(),
            project: None,
        };
        let done: BTreeSet<i64> = [1, 2, 5].into_iter().collect();
        let invs = plan(&cfg, &job, &done);
        let argv: Vec<Vec<String>> = invs
            .iter()
            .map(|i| {
                i.args
                    .iter()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect()
            })
            .collect();
        // Missing 3-4 and 6: one invocation per run; -b, the scene, -Y first,
        // options before -a, validated values only after `--`.
        assert_eq!(argv.len(), 2);
        assert_eq!(
            argv[0],
            [
                "-b",
                "/p/shot.blend",
                "-Y",
                "-E",
                "CYCLES",
                "-o",
                // Joined the way this OS joins paths (`\` on Windows).
                &*std::path::Path::new("/o/job")
                    .join("shot_####")
                    .display()
                    .to_string(),
                "-F",
                "PNG",
                "-t",
                "2",
                "-s",
                "3",
                "-e",
                "4",
                "--python",
                &*std::path::Path::new("/s")
                    .join("blender_setup.py")
                    .display()
                    .to_string(),
                "-a",
                "--",
                "--res",
                "64x48"
            ]
        );
        assert_eq!(&argv[1][11..15], ["-s", "6", "-e", "6"]);
    }

    #[test]
    fn measured_lines_parse() {
        let mut p = Parser::default();
        let lines = [
            "Fra:1 Mem:10.32M (Peak 10.47M) | Time:00:00.08 | Remaining:00:00.00 | Mem:0.86M, Peak:0.86M | Scene, ViewLayer | Sample 1/4",
            "Fra:1 Mem:10.32M (Peak 10.47M) | Time:00:00.08 | Remaining:00:00.00 | Mem:0.86M, Peak:0.86M | Scene, ViewLayer | Sample 2/4",
            "Saved: '/tmp/bt/out_0001.png'",
            "00:01.140  render | Fra:2 Mem:1M | Scene, ViewLayer | Sample 4/4",
            "Error: Build without OpenImageDenoiser",
        ];
        let got: Vec<Progress> = lines.iter().filter_map(|l| p.line(l)).collect();
        assert_eq!(
            got,
            [
                Progress::FrameStarted(Some("1".into())),
                Progress::Percent(50.0),
                Progress::FrameDone(Some("/tmp/bt/out_0001.png".into())),
                Progress::FrameStarted(Some("2".into())),
                Progress::Error("Error: Build without OpenImageDenoiser".into()),
            ]
        );
    }
}
