//! Runs the compiled `render-sim` binary in temporary directories.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use regex::Regex;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_render-sim");

/// A temp dir holding `shot.ma`.
struct Scene {
    /// Kept for its cleanup on drop.
    _dir: TempDir,
    /// The temp dir without symlinks, as the simulator's working directory sees it.
    root: PathBuf,
}

impl Scene {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        fs::write(root.join("shot.ma"), "//Maya ASCII 2024 scene\n").expect("scene");
        Scene { _dir: dir, root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn images(&self) -> PathBuf {
        self.path("images")
    }

    /// A command in the scene dir with no knobs set but `RENDER_SIM_STEP_MS=0`.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).current_dir(&self.root);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RENDER_SIM_") {
                c.env_remove(k);
            }
        }
        c.env("RENDER_SIM_STEP_MS", "0");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.cmd(args);
        c.envs(env.iter().copied());
        c.output().expect("run render-sim")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn usage_errors_exit_206() {
    let s = Scene::new();
    for args in [
        &["-bogus", "1", "shot.ma"][..],
        &["-s"],
        &["-s", "1", "-e"],
        &[],
        &["-s", "1"],
        &["shot.ma", "extra.ma"],
        &["shot.ma", "-s", "2"],
        &["shot.txt"],
        &["-skipExistingFrames", "perhaps", "shot.ma"],
        &["-s", "one", "shot.ma"],
    ] {
        let o = s.run(args);
        assert_eq!(o.status.code(), Some(206), "{args:?}");
        let out = stdout(&o);
        let mut lines = out.lines();
        assert_eq!(
            lines.next(),
            Some("Usage: Render [options] filename"),
            "{args:?}"
        );
        assert!(
            lines.next().is_some_and(|l| !l.is_empty()),
            "hint for {args:?}"
        );
    }
    assert!(!s.images().exists());
}

#[test]
fn help_exits_0() {
    let o = Scene::new().run(&["-help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("-rd <dir>"));
}

#[test]
fn missing_scene_and_unknown_renderer_exit_211() {
    let s = Scene::new();
    let o = s.run(&["missing.mb"]);
    assert_eq!(o.status.code(), Some(211));
    assert_eq!(stdout(&o), "Error: Cannot load scene \"missing.mb\"\n");

    let o = s.run(&["-r", "interBatch", "shot.ma"]);
    assert_eq!(o.status.code(), Some(211));
    assert_eq!(
        stdout(&o),
        "// Error: renderer \"interBatch\" not found //\n"
    );
}

#[test]
fn sw_renders_every_frame_with_the_exact_lines() {
    let s = Scene::new();
    let o = s.run(&["-r", "sw", "-s", "1", "-e", "3", "shot.ma"]);
    assert_eq!(o.status.code(), Some(0));
    let mut expected = Vec::new();
    for f in 1..=3 {
        let p = s.images().join(format!("shot.000{f}.png"));
        let p = p.display();
        expected.extend([
            format!("Starting Rendering {p}."),
            "Constructing shading groups.".into(),
            "Rendering current frame.".into(),
        ]);
        for pct in [25, 50, 75, 100] {
            expected.push(format!("Percentage of rendering done: {pct} ({p})"));
        }
        expected.push("Time For Frame Render (hh:mm:ss): 00:00:00".into());
        expected.push(format!("Finished Rendering {p}."));
    }
    assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), expected);
    assert_eq!(
        listing(&s.images()),
        ["shot.0001.png", "shot.0002.png", "shot.0003.png"]
    );
    let a = image::open(s.images().join("shot.0001.png")).expect("png");
    let b = image::open(s.images().join("shot.0002.png")).expect("png");
    assert_eq!((a.width(), a.height()), (160, 90));
    assert_ne!(a.to_rgb8(), b.to_rgb8(), "frames must look different");
}

#[test]
fn fractional_frames() {
    let s = Scene::new();
    let o = s.run(&["-s", "1", "-e", "2", "-b", "0.5", "shot.ma"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        listing(&s.images()),
        ["shot.0001.5.png", "shot.0001.png", "shot.0002.png"]
    );
}

#[test]
fn renumbering_padding_and_naming() {
    let s = Scene::new();
    let args = [
        "-s",
        "1",
        "-e",
        "3",
        "-rfs",
        "10",
        "-rfb",
        "5",
        "-pad",
        "3",
        "-fnc",
        "name_#.ext",
        "-im",
        "beauty",
        "-rd",
        "out",
        "shot.ma",
    ];
    assert_eq!(s.run(&args).status.code(), Some(0));
    assert_eq!(
        listing(&s.path("out")),
        ["beauty_010.png", "beauty_015.png", "beauty_020.png"]
    );

    let o = s.run(&[
        "-fnc",
        "name#.ext",
        "-proj",
        "proj",
        "-of",
        "jpg",
        "shot.ma",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let jpg = s.path("proj/images/shot0001.jpg");
    assert!(image::open(jpg).is_ok());
}

#[test]
fn layers_get_their_own_folders() {
    let s = Scene::new();
    let o = s.run(&[
        "-rl", "fg,bg", "-s", "1", "-e", "2", "-of", "tif", "shot.ma",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(listing(&s.images()), ["bg", "fg"]);
    assert_eq!(
        listing(&s.images().join("fg")),
        ["shot.0001.tif", "shot.0002.tif"]
    );
    assert!(image::open(s.images().join("bg/shot.0002.tif")).is_ok());
    // The fg frames are rendered before the bg ones.
    let out = stdout(&o);
    let fg = out.find("/fg/shot.0002.tif").expect("fg line");
    let bg = out.find("/bg/shot.0001.tif").expect("bg line");
    assert!(fg < bg);

    // One layer: no sub-folder.
    let s = Scene::new();
    assert_eq!(s.run(&["-rl", "fg", "shot.ma"]).status.code(), Some(0));
    assert_eq!(listing(&s.images()), ["shot.0001.png"]);
}

#[test]
fn exr_is_real_openexr_with_hdr_values() {
    let s = Scene::new();
    let o = s.run(&[
        "-of",
        "exr",
        "-x",
        "64",
        "-y",
        "40",
        "-percentRes",
        "50",
        "shot.ma",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let img = image::open(s.images().join("shot.0001.exr")).expect("decodes as EXR");
    assert_eq!((img.width(), img.height()), (32, 20));
    let hdr = img.to_rgba32f();
    assert!(hdr.pixels().any(|p| p.0[0] > 1.0), "needs values above 1.0");
}

#[test]
fn iff_is_a_maya_iff_blob() {
    let s = Scene::new();
    assert_eq!(s.run(&["-of", "iff", "shot.ma"]).status.code(), Some(0));
    let blob = fs::read(s.images().join("shot.0001.iff")).expect("iff");
    assert_eq!(&blob[..4], b"FOR4");
    assert_eq!(&blob[8..12], b"CIMG");
}

#[test]
fn fail_at_frame_exits_211_after_earlier_frames() {
    let s = Scene::new();
    let o = s.run_env(
        &["-s", "1", "-e", "4", "shot.ma"],
        &[("RENDER_SIM_FAIL_AT_FRAME", "3")],
    );
    assert_eq!(o.status.code(), Some(211));
    let out = stdout(&o);
    assert!(
        out.ends_with("// Error: Frame rendering aborted //\n"),
        "{out}"
    );
    assert!(out.contains("Starting Rendering"));
    assert_eq!(listing(&s.images()), ["shot.0001.png", "shot.0002.png"]);
}

#[test]
fn argv_log_records_every_invocation() {
    let s = Scene::new();
    let log = s.path("argv.jsonl");
    let log_str = log.to_str().expect("utf-8 temp path");
    let env = [("RENDER_SIM_ARGV_LOG", log_str)];
    s.run_env(
        &["-r", "sw", "-preRender", "python(\"x\")", "shot.ma"],
        &env,
    );
    s.run_env(&["-bogus"], &env);
    let text = fs::read_to_string(&log).expect("argv log");
    let lines: Vec<Vec<String>> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json array"))
        .collect();
    assert_eq!(
        lines,
        [
            vec!["-r", "sw", "-preRender", "python(\"x\")", "shot.ma"],
            vec!["-bogus"],
        ]
    );
}

#[test]
fn mel_flags_are_accepted_and_observable() {
    let s = Scene::new();
    let log = s.path("mel.log");
    let o = s.run_env(
        &[
            "-preRender",
            "a",
            "-preFrame",
            "b",
            "-insertPostFrame",
            "c",
            "-s",
            "1",
            "-e",
            "2",
            "shot.ma",
        ],
        &[("RENDER_SIM_MEL_LOG", log.to_str().expect("utf-8"))],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Result: executed MEL"));
    assert_eq!(
        fs::read_to_string(&log).expect("mel log"),
        "MEL-EXECUTED -preRender a\n\
         MEL-EXECUTED -preFrame b\nMEL-EXECUTED -insertPostFrame c\n\
         MEL-EXECUTED -preFrame b\nMEL-EXECUTED -insertPostFrame c\n"
    );
}

#[test]
fn skip_existing_frames_and_exit_code_knob() {
    let s = Scene::new();
    fs::create_dir(s.images()).expect("images");
    fs::write(s.images().join("shot.0001.png"), "old").expect("existing frame");
    let o = s.run_env(
        &[
            "-skipExistingFrames",
            "true",
            "-s",
            "1",
            "-e",
            "2",
            "shot.ma",
        ],
        &[("RENDER_SIM_EXIT_CODE", "3")],
    );
    assert_eq!(o.status.code(), Some(3));
    let existing = s.images().join("shot.0001.png");
    assert!(stdout(&o).starts_with(&format!("Skipping existing frame {}\n", existing.display())));
    assert_eq!(fs::read(&existing).expect("kept"), b"old");
    assert!(s.images().join("shot.0002.png").exists());
}

#[test]
fn every_renderer_prints_parsable_progress() {
    let percent = |re: &str| Regex::new(re).expect("regex");
    let cases = [
        ("sw", percent(r"Percentage of rendering done: (\d+)")),
        ("hw2", percent(r"Percentage of rendering done: (\d+)")),
        ("arnold", percent(r"(\d+)% done")),
        ("vray", percent(r"V-Ray: +([0-9]+)%")),
        ("redshift", percent(r"Block (\d+)/(\d+) .+ rendered")),
        ("renderman", percent(r"R90000\s+([0-9]+)%")),
        ("mentalray", percent(r"progr: +([0-9]+\.[0-9]+)% +rendered")),
    ];
    let redshift_frame = percent(r"Rendering frame \d+ \((\d+)/(\d+)\)");
    for (renderer, re) in cases {
        let s = Scene::new();
        let o = s.run(&["-r", renderer, "-s", "1", "-e", "2", "shot.ma"]);
        assert_eq!(o.status.code(), Some(0), "{renderer}");
        let out = stdout(&o);
        let hits: Vec<_> = out.lines().filter_map(|l| re.captures(l)).collect();
        assert!(
            hits.len() >= 8,
            "{renderer}: too few progress lines in\n{out}"
        );
        let last = hits.last().map(|c| c[1].to_string());
        match renderer {
            "redshift" => assert_eq!(hits.last().map(|c| c[2].to_string()), last),
            "mentalray" => assert_eq!(last.as_deref(), Some("100.0")),
            _ => assert_eq!(last.as_deref(), Some("100"), "{renderer}"),
        }
        if renderer == "redshift" {
            let frames: Vec<String> = out
                .lines()
                .filter_map(|l| redshift_frame.captures(l))
                .map(|c| format!("{}/{}", &c[1], &c[2]))
                .collect();
            assert_eq!(frames, ["1/2", "2/2"]);
        }
        // Each frame's completion line names the written file.
        for f in ["shot.0001.png", "shot.0002.png"] {
            let path = s.images().join(f);
            assert!(path.exists(), "{renderer}: {f}");
            let named = path.display().to_string();
            assert!(out.contains(&named), "{renderer} never names {named}");
        }
    }
}

#[test]
fn crash_aborts() {
    let s = Scene::new();
    let o = s.run_env(&["shot.ma"], &[("RENDER_SIM_CRASH_AT_FRAME", "1")]);
    assert!(!o.status.success());
    assert_eq!(o.status.code(), None, "killed by SIGABRT");
    assert!(listing(&s.images()).is_empty());
}

#[test]
fn hang_keeps_lines_flushed_through_a_pipe_until_killed() {
    let s = Scene::new();
    let pid_file = s.path("render.pid");
    let mut child = s
        .cmd(&["-s", "1", "-e", "3", "shot.ma"])
        .env("RENDER_SIM_HANG_AT_FRAME", "2")
        .env("RENDER_SIM_STEP_MS", "1")
        .env("RENDER_SIM_PID_FILE", &pid_file)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let frame2 = format!(
        "Starting Rendering {}.",
        s.images().join("shot.0002.png").display()
    );
    let started = Instant::now();
    loop {
        let line = lines
            .next()
            .expect("a line before the hang")
            .expect("utf-8");
        if line == frame2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20));
    }
    let pid = fs::read_to_string(&pid_file).expect("pid file");
    assert_eq!(pid.trim(), child.id().to_string());
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "still hanging"
    );
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert_eq!(listing(&s.images()), ["shot.0001.png"]);
}

#[cfg(target_os = "linux")]
#[test]
fn child_pid_file_starts_a_sleeping_child_that_outlives_the_render() {
    let s = Scene::new();
    let child_file = s.path("child.pid");
    let argv_log = s.path("argv.log");
    // Not piped: the child keeps the simulator's stdout and stderr open.
    let status = s
        .cmd(&["-s", "1", "-e", "1", "shot.ma"])
        .env("RENDER_SIM_CHILD_PID_FILE", &child_file)
        .env("RENDER_SIM_ARGV_LOG", &argv_log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run render-sim");
    assert!(status.success());
    assert_eq!(listing(&s.images()), ["shot.0001.png"]);
    let pid: u32 = fs::read_to_string(&child_file)
        .expect("child pid file")
        .trim()
        .parse()
        .expect("a pid");
    // The simulator exited; the child it started sleeps on.
    std::thread::sleep(Duration::from_millis(300));
    let environ = fs::read(format!("/proc/{pid}/environ")).expect("the child is alive");
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|kv| kv.starts_with(b"RENDER_SIM_CHILD_PID_FILE=")),
        "it inherits the environment"
    );
    // Only the parent rendered: the child logged no argv of its own.
    assert_eq!(
        fs::read_to_string(&argv_log)
            .expect("argv log")
            .lines()
            .count(),
        1
    );
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
}
