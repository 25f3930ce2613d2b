//! A tiny Cycles scene, generated at test time by the real Blender.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::layout::settle;

/// The test's own trusted script (not channel input) that builds the
/// scene. With a marker path the scene carries a registered text block
/// that writes the marker when run: it must never run through the node.
const MAKE_SCENE: &str = r#"
import bpy, sys
path, marker, samples, x, y, start, end = sys.argv[sys.argv.index("--") + 1:]
s = bpy.context.scene
s.render.engine = 'CYCLES'
s.cycles.samples = int(samples)
s.cycles.use_denoising = False
s.render.resolution_x = int(x)
s.render.resolution_y = int(y)
s.render.resolution_percentage = 100
s.frame_start = int(start)
s.frame_end = int(end)
if marker:
    t = bpy.data.texts.new("autorun.py")
    t.write("open(%r, 'w').write('the embedded script ran')\n" % marker)
    t.use_module = True
bpy.ops.wm.save_as_mainfile(filepath=path)
"#;

/// What to build.
#[derive(Debug, Clone)]
pub struct TinyScene {
    /// Cycles samples (denoising is off).
    pub samples: u32,
    pub resolution: (u32, u32),
    /// First and last frame.
    pub frames: (u32, u32),
    /// Where an embedded auto-run script would write, if the scene has one.
    pub autorun_marker: Option<PathBuf>,
}

impl TinyScene {
    /// Saves the scene to `scene` (settled: an hour old) with `blender`,
    /// writing the generator script into `scratch`.
    pub fn make(&self, blender: &Path, scratch: &Path, scene: &Path) {
        let script = scratch.join("make_scene.py");
        std::fs::write(&script, MAKE_SCENE).expect("script");
        let marker = self
            .autorun_marker
            .as_ref()
            .map_or_else(String::new, |m| m.display().to_string());
        let out = Command::new(blender)
            .args(["-b", "-Y", "--factory-startup", "--python"])
            .arg(&script)
            .arg("--")
            .arg(scene)
            .arg(marker)
            .args(
                [
                    self.samples,
                    self.resolution.0,
                    self.resolution.1,
                    self.frames.0,
                    self.frames.1,
                ]
                .map(|n| n.to_string()),
            )
            .output()
            .expect("run blender");
        assert!(
            out.status.success() && scene.exists(),
            "scene generation failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        settle(scene);
    }
}
