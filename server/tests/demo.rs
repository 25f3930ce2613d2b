//! README's first command, `droprender-node demo`, through the real binary:
//! it sets up a folder, renders with the bundled simulator, answers
//! `progress:` and prints what a phone would see.

use std::process::Command;

#[test]
fn the_demo_renders_and_prints_status_and_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_droprender-node"))
        .args(["demo", "--frames", "3", "--dir"])
        .arg(dir.path())
        .env("RENDER_SIM_STEP_MS", "20")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "--- status.txt",
        "--- LOG.txt ---",
        "finished job 1",
        "progress",
    ] {
        assert!(stdout.contains(want), "{want:?} missing from:\n{stdout}");
    }
    let frames: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert_eq!(frames.len(), 3, "three frames rendered: {frames:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
