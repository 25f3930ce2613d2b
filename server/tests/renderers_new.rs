//! 3ds Max, husk, Cinema 4D, kick and V-Ray end to end through the real
//! node and client binaries and each program's simulator (the node binary
//! linked under the program's name): the frames on disk under each
//! program's naming, per-frame progress and `progress:` previews, and a
//! failed run resumed from its first missing frame.

mod common;

use std::path::PathBuf;

use common::{Rig, write_settled};

/// One renderer under test.
struct Case {
    /// The profile name, as `[renderers.<name>]`.
    name: &'static str,
    /// The program's file name (the simulator picks its behaviour by it).
    program: &'static str,
    /// Scene files to create under projects/scenes.
    scenes: &'static [&'static str],
    /// The client's `rend` arguments for frames 1-6.
    args: &'static [&'static str],
    /// Frame 1's file name on disk.
    first_frame: &'static str,
    /// What the resumed run's argv says about frames 4-6.
    resume_args: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "max",
        program: "3dsmaxcmd",
        scenes: &["shot.max"],
        args: &[
            "3dsmaxcmd",
            "-start:1",
            "-end:6",
            "-camera:Camera 001",
            "scenes/shot.max",
        ],
        first_frame: "shot_0001.exr",
        resume_args: &["-start:4", "-end:6"],
    },
    Case {
        name: "husk",
        program: "husk",
        scenes: &["shot.usda"],
        args: &[
            "husk",
            "-f",
            "1",
            "-n",
            "6",
            "-c",
            "/cams/main",
            "scenes/shot.usda",
        ],
        first_frame: "shot.0001.exr",
        resume_args: &["-f", "4", "-n", "3"],
    },
    Case {
        name: "c4d",
        program: "Commandline",
        scenes: &["shot.c4d"],
        args: &[
            "Commandline",
            "-frame",
            "1",
            "6",
            "-take",
            "Main",
            "scenes/shot.c4d",
        ],
        first_frame: "shot_0001.png",
        resume_args: &["-frame", "4", "6"],
    },
    Case {
        name: "kick",
        program: "kick",
        scenes: &[
            "shot.0001.ass",
            "shot.0002.ass",
            "shot.0003.ass",
            "shot.0004.ass",
            "shot.0005.ass",
            "shot.0006.ass",
        ],
        args: &["kick", "-frames", "1-6", "-t", "1", "scenes/shot.0001.ass"],
        first_frame: "shot.0001.exr",
        resume_args: &["shot.0004.ass"],
    },
    Case {
        name: "vray",
        program: "vray",
        scenes: &["shot.vrscene"],
        args: &[
            "vray",
            "-frames=1-6",
            "-imgWidth=320",
            "scenes/shot.vrscene",
        ],
        first_frame: "shot.0001.exr",
        resume_args: &["-frames=4-6"],
    },
];

fn case(name: &str) -> &'static Case {
    CASES.iter().find(|c| c.name == name).expect("case")
}

/// Links the simulator as `program` and names it in the node's config.
fn add_renderer(rig: &Rig, c: &Case) -> PathBuf {
    let link = rig.dir.path().join("bin").join(c.program);
    std::os::unix::fs::symlink(common::bins::node(), &link).expect("symlink");
    rig.configure(&format!(
        "[renderers.{}]\nprogram = \"{}\"",
        c.name,
        link.display()
    ));
    for s in c.scenes {
        write_settled(&rig.projects.join("scenes").join(s), b"scene\n");
    }
    link
}

fn ok(out: std::process::Output) {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A render with frames on disk, progress while it runs, a preview.
fn renders_end_to_end(name: &str) {
    let c = case(name);
    let mut rig = Rig::new();
    // Slow enough that status.json (rewritten at most once a second while
    // rendering) shows the render under way.
    rig.set_env("RENDER_SIM_STEP_MS", "60");
    add_renderer(&rig, c);
    rig.start();
    let mut args = vec!["rend"];
    args.extend(c.args);
    ok(rig.client(&args));
    rig.wait_until("two frames", || {
        rig.status().current.is_some_and(|j| j.frames_done >= 2)
    });
    let cur = rig.status().current.expect("rendering");
    assert_eq!((cur.frames_total, cur.renderer.as_str()), (6, c.name));
    ok(rig.client(&["progress"]));
    let jpg = std::fs::read(rig.folder.join("preview.jpg")).expect("preview.jpg");
    image::load_from_memory_with_format(&jpg, image::ImageFormat::Jpeg).expect("decodes");
    rig.wait_events("finished", 1);
    let done = &rig.status().recent[0];
    assert_eq!((done.frames_done, done.percent), (6, 100.0), "{done:?}");
    let frames = rig.frames("job-0001");
    assert_eq!(frames.len(), 6, "{frames:?}");
    assert_eq!(frames[0], c.first_frame);
    // The program named in the config ran, never the line's token.
    let calls = rig.render_calls();
    assert!(!calls.is_empty());
}

/// Frame 4 fails once; the retry renders frames 4-6 only.
fn resumes_from_the_first_missing_frame(name: &str) {
    let c = case(name);
    let mut rig = Rig::new();
    let marker = rig.dir.path().join("failed-once");
    rig.set_env("RENDER_SIM_FAIL_AT_FRAME", "4");
    rig.set_env("RENDER_SIM_FAIL_ONCE_FILE", &marker.display().to_string());
    add_renderer(&rig, c);
    rig.start();
    let mut args = vec!["rend"];
    args.extend(c.args);
    args.push("retries=1");
    ok(rig.client(&args));
    rig.wait_events("finished", 1);
    let resumed = rig.log_events("resumed");
    assert!(
        resumed.iter().any(|l| l.contains("rendering frames 4-6")),
        "{resumed:?}\n{}",
        rig.log()
    );
    assert_eq!(rig.frames("job-0001").len(), 6);
    let calls = rig.render_calls();
    let says = |a: &Vec<String>| {
        a.windows(c.resume_args.len()).any(|w| {
            w.iter()
                .zip(c.resume_args)
                .all(|(x, r)| x == r || x.ends_with(&format!("/{r}")))
        })
    };
    // The last run naming frame 4 is the retry's (kick's failed run names it too).
    let first_retry = calls
        .iter()
        .rposition(says)
        .unwrap_or_else(|| panic!("no run with {:?}: {calls:#?}", c.resume_args));
    // Nothing before frame 4 ran again after the failure.
    for a in &calls[first_retry..] {
        for early in ["0001", "0002", "0003"] {
            assert!(
                !a.iter().any(|x| x.ends_with(&format!("{early}.ass"))),
                "{a:?}"
            );
        }
    }
    assert!(
        calls.len() - first_retry <= 3,
        "the retry ran more than the missing frames: {calls:#?}"
    );
}

#[test]
fn max_renders_end_to_end() {
    renders_end_to_end("max");
}

#[test]
fn husk_renders_end_to_end() {
    renders_end_to_end("husk");
}

#[test]
fn c4d_renders_end_to_end() {
    renders_end_to_end("c4d");
}

#[test]
fn kick_renders_end_to_end() {
    renders_end_to_end("kick");
}

#[test]
fn vray_renders_end_to_end() {
    renders_end_to_end("vray");
}

#[test]
fn max_resumes() {
    resumes_from_the_first_missing_frame("max");
}

#[test]
fn husk_resumes() {
    resumes_from_the_first_missing_frame("husk");
}

#[test]
fn c4d_resumes() {
    resumes_from_the_first_missing_frame("c4d");
}

#[test]
fn kick_resumes() {
    resumes_from_the_first_missing_frame("kick");
}

#[test]
fn vray_resumes() {
    resumes_from_the_first_missing_frame("vray");
}

/// projects_to_rend.txt lists every configured renderer's scenes;
/// renderers.json and help.txt name them all.
#[test]
fn projects_renderers_json_and_help_name_every_renderer() {
    let mut rig = Rig::new();
    for c in CASES {
        add_renderer(&rig, c);
    }
    write_settled(&rig.projects.join("scenes/notes.txt"), b"x");
    rig.start();
    let projects = rig.read("projects_to_rend.txt");
    for s in [
        "shot.max",
        "shot.usda",
        "shot.c4d",
        "shot.0006.ass",
        "shot.vrscene",
        "shot01.ma",
    ] {
        assert!(projects.contains(s), "{s}: {projects}");
    }
    assert!(!projects.contains("notes.txt"));
    let json = rig.read("renderers.json");
    let profiles =
        droprender_shared::profile::Profiles::from_json(&json).expect("renderers.json is valid");
    assert_eq!(profiles.iter().count(), 7);
    rig.append(b"help:\n");
    rig.wait_until("help.txt", || rig.folder.join("help.txt").exists());
    let help = rig.read("help.txt");
    for p in profiles.iter() {
        assert!(help.contains(&p.example), "{}: {help}", p.name);
    }
    let st = rig.status();
    for c in CASES {
        assert!(
            st.node
                .renderers
                .iter()
                .any(|r| r.name == c.name && r.found),
            "{}: {:?}",
            c.name,
            st.node.renderers
        );
    }
}
