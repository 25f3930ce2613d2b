//! argv of each generic profile, fresh and resumed.

use std::collections::BTreeSet;
use std::path::Path;

use droprender_shared::command::{Action, parse_str};

use super::super::{Resolved, plan};
use crate::config::{Config, FileConfig, Overrides};

fn config(projects: &Path) -> Config {
    Config::merge(
        FileConfig::default(),
        Overrides {
            folder: Some("/f".into()),
            projects: Some(projects.to_path_buf()),
            output: Some("/o".into()),
            state: Some("/s".into()),
            ..Default::default()
        },
    )
    .expect("config")
}

/// A file in the job folder, joined the way this OS joins paths
/// (`/o/job\shot.exr` on Windows, which renderers there read the same).
fn out(name: &str) -> String {
    Path::new("/o/job").join(name).display().to_string()
}

fn argv(line: &str, scene: &Path, done: &[i64]) -> Vec<Vec<String>> {
    let projects = scene.parent().expect("dir");
    let Ok(Some((_, cmd))) = parse_str(line) else {
        panic!("{line} parses")
    };
    let Action::Render(request) = cmd.action else {
        panic!("render")
    };
    let job = Resolved {
        request,
        scene: scene.to_path_buf(),
        output_dir: "/o/job".into(),
        project: None,
    };
    let done: BTreeSet<i64> = done.iter().copied().collect();
    plan(&config(projects), &job, &done)
        .iter()
        .map(|i| {
            i.args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        })
        .collect()
}

#[test]
fn husk_resumes_per_run_with_frame_count() {
    let got = argv(
        "rend:husk -f 1 -n 6 -c /cams/main shot.usd",
        Path::new("/p/shot.usd"),
        &[1, 2, 5],
    );
    assert_eq!(
        got,
        [
            vec![
                "--make-output-path",
                "--verbose",
                "a2",
                "-c",
                "/cams/main",
                "-o",
                &*out("shot.$F4.exr"),
                "-f",
                "3",
                "-n",
                "2",
                "/p/shot.usd"
            ],
            vec![
                "--make-output-path",
                "--verbose",
                "a2",
                "-c",
                "/cams/main",
                "-o",
                &*out("shot.$F4.exr"),
                "-f",
                "6",
                "-n",
                "1",
                "/p/shot.usd"
            ]
        ]
    );
}

#[test]
fn max_uses_colon_switches_and_its_own_output_name() {
    let got = argv(
        "rend:3dsmaxcmd -start:1 -end:7 -nthFrame:2 -camera:\"Cam 1\" shot01.max",
        Path::new("/p/shot01.max"),
        &[3],
    );
    assert_eq!(
        got[0],
        [
            "-rfw:0",
            "-camera:Cam 1",
            &*format!("-outputName:{}", out("shot01_.exr")),
            "-start:1",
            "-end:1",
            "/p/shot01.max"
        ]
    );
    assert_eq!(got[1][3..6], ["-start:5", "-end:7", "-nthFrame:2"]);
    // A list stays a list; a line's own output name lands in the job folder.
    let got = argv(
        "rend:3dsmaxcmd -frames:1,3,5-7 -outputName:sub/beauty.exr shot.max",
        Path::new("/p/shot.max"),
        &[5],
    );
    assert_eq!(
        got,
        [vec![
            "-rfw:0",
            &*format!("-outputName:{}", out("beauty.exr")),
            "-frames:1,3,6-7",
            "/p/shot.max"
        ]]
    );
}

#[test]
fn c4d_puts_the_scene_after_render_and_resumes_by_span() {
    let got = argv(
        "rend:Commandline -frame 1 6 -take Main shot.c4d",
        Path::new("/p/shot.c4d"),
        &[2],
    );
    assert_eq!(
        got,
        [
            vec![
                "-nogui",
                "-render",
                "/p/shot.c4d",
                "-take",
                "Main",
                "-oimage",
                &*out("shot_"),
                "-frame",
                "1",
                "1"
            ],
            vec![
                "-nogui",
                "-render",
                "/p/shot.c4d",
                "-take",
                "Main",
                "-oimage",
                &*out("shot_"),
                "-frame",
                "3",
                "6"
            ]
        ]
    );
}

#[test]
fn kick_renders_each_missing_frames_own_scene() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dunce::canonicalize(dir.path()).expect("canonical");
    for f in 1..=3 {
        std::fs::write(root.join(format!("shot.{f:04}.ass")), "x").expect("write");
    }
    std::fs::write(dir.path().join("../outside.ass"), "x").ok();
    let got = argv(
        "rend:kick -frames 1-4 -t 2 shot.0001.ass",
        &root.join("shot.0001.ass"),
        &[2],
    );
    let scene = |f: i64| root.join(format!("shot.{f:04}.ass")).display().to_string();
    assert_eq!(
        got,
        [
            vec![
                "-dw".to_string(),
                "-dp".into(),
                "-nstdin".into(),
                "-i".into(),
                scene(1),
                "-t".into(),
                "2".into(),
                "-o".into(),
                out("shot.0001.exr")
            ],
            vec![
                "-dw".to_string(),
                "-dp".into(),
                "-nstdin".into(),
                "-i".into(),
                scene(3),
                "-t".into(),
                "2".into(),
                "-o".into(),
                out("shot.0003.exr")
            ]
        ],
        "frame 4 has no scene file: it is not rendered (the job then misses it)"
    );
}

#[test]
fn vray_resumes_with_a_frame_list_or_skips_existing() {
    let got = argv(
        "rend:vray -frames=1-5 -camera=cam1 shot.vrscene",
        Path::new("/p/shot.vrscene"),
        &[2, 3],
    );
    assert_eq!(
        got,
        [vec![
            "-display=0",
            "-autoClose=1",
            "-progressUseCR=0",
            "-progressUseColor=0",
            "-sceneFile=/p/shot.vrscene",
            "-camera=cam1",
            &*format!("-imgFile={}", out("shot.exr")),
            "-frames=1;4-5"
        ]]
    );
    // Frames the node cannot count: one run, skipping what exists.
    let got = argv("rend:vray shot.vrscene", Path::new("/p/shot.vrscene"), &[7]);
    assert_eq!(
        got[0].last().map(String::as_str),
        Some("-skipExistingFrames=1")
    );
}
