//! Blender rendering for real (Debian's blender), through the node: a tiny
//! Cycles scene generated at test time, 64×48, 3 frames, denoising off.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::blender::TinyScene;
use common::{Rig, require_tool};

/// The tiny scene: 64×48, frames 1–3, with an embedded script that writes
/// `marker` when run (it must never run through the node).
fn make_scene(blender: &Path, rig: &Rig, name: &str) -> (PathBuf, PathBuf) {
    let scene = rig.projects.join(name);
    let marker = rig.dir.path().join("AUTORUN-RAN");
    TinyScene {
        samples: 4,
        resolution: (64, 48),
        frames: (1, 3),
        autorun_marker: Some(marker.clone()),
    }
    .make(blender, rig.dir.path(), &scene);
    (scene, marker)
}

#[test]
fn blender_renders_a_tiny_scene_end_to_end_and_never_runs_its_scripts() {
    let Some(blender) = require_tool("blender") else {
        return;
    };
    let mut rig = Rig::new();
    let (scene, marker) = make_scene(&blender, &rig, "tiny.blend");
    rig.extra_args = vec!["--blender".into(), blender.display().to_string()];
    rig.start();
    assert!(rig.read("projects_to_rend.txt").contains("tiny.blend"));
    rig.append(b"rend:blender -s 1 -e 3 tiny.blend\n");
    rig.wait_for("the Blender job", Duration::from_secs(180), &mut || {
        !rig.log_events("finished").is_empty() || !rig.log_events("failed").is_empty()
    });
    assert_eq!(rig.log_events("finished").len(), 1, "{}", rig.log());
    let frames = rig.frames("job-0001");
    assert_eq!(frames, ["tiny_0001.png", "tiny_0002.png", "tiny_0003.png"]);
    let st = rig.status();
    assert_eq!((st.recent[0].percent, st.recent[0].frames_done), (100.0, 3));
    let out = rig.client(&["progress"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["preview.jpg", "contact.jpg"] {
        let bytes = std::fs::read(rig.folder.join(name)).expect(name);
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // -Y was on the command line, and the embedded script never ran.
    let argv = std::fs::read_to_string(rig.state.join("jobs/1.log")).expect("job log");
    assert!(
        argv.lines().next().is_some_and(|l| l.contains(" -Y ")),
        "{argv}"
    );
    assert!(
        !marker.exists(),
        "the scene's auto-run script ran through the node"
    );
    // Resolution through the node's own script: a second job at 32x24.
    rig.append(b"rend:blender -s 2 -e 2 -res 32x24 -cam Camera tiny.blend\n");
    rig.wait_for(
        "the second Blender job",
        Duration::from_secs(120),
        &mut || rig.log_events("finished").len() >= 2,
    );
    let png = rig.output.join("job-0002-tiny").join("tiny_0002.png");
    let img = image::open(&png).expect("frame");
    assert_eq!((img.width(), img.height()), (32, 24));
    // Control: the same scene does run its script when auto-run is enabled,
    // so the check above could have failed.
    let out = Command::new(&blender)
        .arg("-b")
        .arg(&scene)
        .args(["-y", "--python-expr", "pass"])
        .output()
        .expect("blender -y");
    assert!(out.status.success());
    assert!(
        marker.exists(),
        "control failed: the embedded script did not run even with -y"
    );
}

#[test]
fn a_blend_outside_the_projects_root_is_refused() {
    let mut rig = Rig::new();
    std::fs::write(rig.dir.path().join("evil.blend"), "x").expect("write");
    rig.start();
    rig.append(
        b"rend:blender -s 1 -e 1 ../evil.blend\nrend:blender -P x.py -s 1 -e 1 tiny.blend\n",
    );
    rig.wait_events("rejected", 2);
    let r = rig.log_events("rejected");
    assert!(r[0].contains("is outside"), "{r:?}");
    assert!(
        r[1].contains("-P is not allowed: it runs Python code"),
        "{r:?}"
    );
}
