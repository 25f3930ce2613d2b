//! Runs the `render-sim` binary under the names of the other programs
//! (symlinks in a temp dir): 3dsmaxcmd, husk, Commandline, kick, vray.
#![cfg(unix)]

mod sim;

use std::fs;
use std::process::Command;

use sim::*;

#[test]
fn max_grammar_naming_and_lines() {
    let s = Sim::new("3dsmaxcmd.exe");
    let o = s.run(
        &[
            "-start:1",
            "-END=3",
            "-nthFrame",
            "2",
            "-outputName:out/beauty.exr",
            "-w:64",
            "-h=32",
            "s.max",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(s.out_files(), ["beauty0001.exr", "beauty0003.exr"]);
    assert_eq!(decodes(&s.path("out/beauty0003.exr")), (64, 32));
    let text = stdout(&o);
    assert_eq!(count(&text, r"^Frame (\d+) assigned$"), 2);
    assert_eq!(count(&text, r"^Frame [0-9]{1,} completed$"), 2);
    assert_eq!(count(&text, r"progr:[ ]*[0-9]{1,3}.*%[ ]*rendered"), 8);

    // Frame list, still frame, -v:5 time stamps.
    let o = s.run(&["-frames:5,7-8", "-o:out/list.png", "-v:5", "s.max"], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        count(
            &stdout(&o),
            r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d; Frame \d+ completed; "
        ),
        3
    );
    let o = s.run(&["-stillFrame", "-outputName=out/still.jpg", "s.max"], &[]);
    assert_eq!(o.status.code(), Some(0));
    assert!(s.out_files().contains(&"still.jpg".to_owned()));
    assert!(s.out_files().contains(&"list0008.png".to_owned()));
}

#[test]
fn max_refusals_hooks_and_missing_dir() {
    let s = Sim::new("3dsmaxcmd");
    for args in [
        &["-bogus:1", "s.max"][..],
        &["-start"],
        &[],
        &["s.max", "t.max"],
        &["s.txt"],
    ] {
        let o = s.run(args, &[]);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stdout(&o).starts_with("3dsmaxcmd: "), "{args:?}");
    }
    let o = s.run(&["missing.max"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("Error occured while rendering job."));

    let hooks = s.hook_env();
    let env = [("RENDER_SIM_HOOK_LOG", hooks.as_str())];
    let o = s.run(
        &[
            "-preRenderScript:evil.ms",
            "-postRenderScript",
            "post.ms",
            "-o:out/h.png",
            "s.max",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        s.hook_log(),
        "HOOK-EXECUTED -preRenderScript evil.ms\nHOOK-EXECUTED -postRenderScript post.ms\n"
    );
    // A switch file is read like the command line.
    fs::write(s.path("more.txt"), "-script:inner.ms\n").expect("cmd file");
    s.run(&["@more.txt", "-o:out/h.png", "s.max"], &env);
    assert!(s.hook_log().ends_with("HOOK-EXECUTED -script inner.ms\n"));

    // 3dsmaxcmd does not create the output directory.
    let o = s.run(&["-o:nowhere/x.png", "s.max"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("(error 0x3)"));
}

#[test]
fn husk_frames_variables_and_alfred() {
    let s = Sim::new("husk");
    let o = s.run(
        &[
            "--frame",
            "2",
            "-n",
            "3",
            "--frame-inc=2",
            "-Va2",
            "--res",
            "40",
            "20",
            "-o",
            "out/h.$F4.exr",
            "s.usda",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(s.out_files(), ["h.0002.exr", "h.0004.exr", "h.0006.exr"]);
    assert_eq!(decodes(&s.path("out/h.0006.exr")), (40, 20));
    let text = stdout(&o);
    assert_eq!(count(&text, r"ALF_PROGRESS ([0-9]+)%"), 12);
    assert_eq!(count(&text, r"^Image: (.+)$"), 3);

    // No Alfred progress without `a`; --make-output-path creates the folder.
    let o = s.run(
        &["-o", "new/dir/x.<F3>.png", "--make-output-path", "s.usda"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(count(&stdout(&o), "ALF_PROGRESS"), 0);
    assert!(s.path("new/dir/x.001.png").is_file());
    let o = s.run(&["-o", "nodir/x.png", "s.usda"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("Failed to create file"));
}

#[test]
fn husk_refusals_and_scripts() {
    let s = Sim::new("husk");
    for args in [
        &["--bogus", "s.usda"][..],
        &["--frame"],
        &["a.usd", "b.usd"],
        &["s.hip"],
        &[],
    ] {
        let o = s.run(args, &[]);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stdout(&o).contains("Usage: husk"), "{args:?}");
    }
    assert_eq!(s.run(&["missing.usd"], &[]).status.code(), Some(1));
    let hooks = s.hook_env();
    let o = s.run(
        &[
            "--prerender-script",
            "a.py",
            "--preframe-script",
            "b.py",
            "--postframe-script=c.py",
            "--postrender-script",
            "d.py",
            "-n",
            "2",
            "-o",
            "out/x.$F.png",
            "s.usda",
        ],
        &[("RENDER_SIM_HOOK_LOG", hooks.as_str())],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        s.hook_log(),
        "HOOK-EXECUTED --prerender-script a.py\n\
         HOOK-EXECUTED --preframe-script b.py\nHOOK-EXECUTED --postframe-script c.py\n\
         HOOK-EXECUTED --preframe-script b.py\nHOOK-EXECUTED --postframe-script c.py\n\
         HOOK-EXECUTED --postrender-script d.py\n"
    );
}

#[test]
fn c4d_lines_naming_and_errors() {
    let s = Sim::new("Commandline");
    let o = s.run(
        &[
            "-nogui",
            "-render",
            "s.c4d",
            "-frame",
            "0",
            "4",
            "2",
            "-oimage",
            "out/shot",
            "-oformat",
            "TIFF",
            "-oresolution",
            "48",
            "24",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(
        s.out_files(),
        ["shot0000.tif", "shot0002.tif", "shot0004.tif"]
    );
    assert_eq!(decodes(&s.path("out/shot0004.tif")), (48, 24));
    let text = stdout(&o);
    assert_eq!(count(&text, r".*Rendering frame ([0-9]+) at.*"), 3);
    assert_eq!(count(&text, r".*Progress: (\d+)%.*"), 15);
    assert_eq!(count(&text, r"Rendering Phase: Finalize"), 3);
    assert!(
        text.trim_end()
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("Rendering successful"))
    );

    for args in [
        &["-bogus"][..],
        &["-render"],
        &["s.c4d"],
        &["-render", "s.c4d", "-oformat", "gif"],
    ] {
        assert_eq!(s.run(args, &[]).status.code(), Some(1), "{args:?}");
    }
    let o = s.run(&["-render", "missing.c4d"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("Document not found"));
    let o = s.run(&["-render", "s.c4d", "-oimage", "nodir/x"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("Files cannot be written - please check output paths!"));

    let hooks = s.hook_env();
    let env = [("RENDER_SIM_HOOK_LOG", hooks.as_str())];
    let log = s.path("arnold.log");
    s.run(
        &[
            "-render",
            "s.c4d",
            "-oimage",
            "out/a",
            "-arnoldLogFile",
            log.to_str().expect("utf-8"),
        ],
        &env,
    );
    assert!(log.is_file(), "the log is written where it was told");
    let o = s.run(
        &["-arnoldSceneExport", "scene=s.c4d;filename=/tmp/x.ass"],
        &env,
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(s.hook_log().contains("HOOK-EXECUTED -arnoldLogFile "));
    assert!(
        s.hook_log()
            .contains("HOOK-EXECUTED -arnoldSceneExport scene=s.c4d;filename=/tmp/x.ass")
    );
}

#[test]
fn kick_one_frame_per_ass() {
    let s = Sim::new("kick");
    let o = s.run(
        &[
            "-nstdin",
            "-dw",
            "-dp",
            "-i",
            "s.0007.ass",
            "-r",
            "32",
            "16",
            "-o",
            "out/k.0007.exr",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(s.out_files(), ["k.0007.exr"]);
    assert_eq!(decodes(&s.path("out/k.0007.exr")), (32, 16));
    let text = stdout(&o);
    assert_eq!(count(&text, r"^\d\d:\d\d:\d\d +\d+MB +\|\s+(\d+)% done"), 4);
    assert_eq!(
        count(&text, r"\[driver_exr\] writing file `.*/out/k\.0007\.exr'"),
        1
    );

    // The failure knob uses the frame number in the .ass name.
    let o = s.run(
        &["-i", "s.0007.ass", "-o", "out/f.png"],
        &[("RENDER_SIM_FAIL_AT_FRAME", "7")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(count(&stdout(&o), r".*ERROR +\|.*"), 1);
    assert!(!s.path("out/f.png").exists());

    for args in [
        &["-bogus", "-i", "s.0007.ass"][..],
        &["-i"],
        &["-r", "64"],
        &["-i", "s.max"],
        &[],
    ] {
        assert_eq!(s.run(args, &[]).status.code(), Some(1), "{args:?}");
    }
    assert_eq!(s.run(&["-i", "gone.ass"], &[]).status.code(), Some(1));

    let hooks = s.hook_env();
    s.run(
        &[
            "-i",
            "s.0007.ass",
            "-l",
            "/plugins",
            "-set",
            "options.procedural_searchpath",
            "/evil",
            "-o",
            "out/h.png",
        ],
        &[("RENDER_SIM_HOOK_LOG", hooks.as_str())],
    );
    assert_eq!(
        s.hook_log(),
        "HOOK-EXECUTED -l /plugins\nHOOK-EXECUTED -set options.procedural_searchpath /evil\n"
    );
}

#[test]
fn vray_frames_naming_cr_and_hooks() {
    let s = Sim::new("vray");
    let o = s.run(
        &[
            "-sceneFile=s.vrscene",
            "-frames=1-5,2;9",
            "-imgFile=out/v.png",
            "-imgWidth=24",
            "-imgHeight=12",
            "-display=0",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(
        s.out_files(),
        ["v.0001.png", "v.0003.png", "v.0005.png", "v.0009.png"]
    );
    assert_eq!(decodes(&s.path("out/v.0009.png")), (24, 12));
    let text = stdout(&o);
    assert_eq!(count(&text, r"Starting frame ([0-9]*)"), 4);
    assert_eq!(
        count(&text, r"Rendering image.*:[ ]+([0-9]+(?:\.[0-9]+)?)%"),
        16
    );
    assert_eq!(
        text.matches('\r').count(),
        16,
        "progress ends in \\r by default"
    );
    assert_eq!(count(&text, r#"Successfully written image file ""#), 4);

    // Lower-case names work; -progressUseCR=0; -skipExistingFrames; no -frames: no number.
    let o = s.run(
        &[
            "-scenefile=s.vrscene",
            "-frames=1-2",
            "-imgfile=out/v.png",
            "-progressUseCR=0",
            "-skipExistingFrames=1",
            "-display=0",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o).matches('\r').count(), 0);
    assert_eq!(count(&stdout(&o), "Skipping frame 1"), 1);
    s.run(&["-sceneFile=s.vrscene", "-imgFile=out/single.jpg"], &[]);
    assert!(s.out_files().contains(&"single.jpg".to_owned()));

    for args in [
        &["-bogus=1"][..],
        &["-sceneFile"],
        &["s.vrscene"],
        &["-frames=x"],
        &[],
    ] {
        let o = s.run(args, &[]);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stdout(&o).contains("error: "), "{args:?}");
    }
    let hooks = s.hook_env();
    s.run(
        &[
            "-sceneFile=s.vrscene",
            "-include=/x",
            "-remapPath=a=b",
            "-configFile=c.xml",
            "-imgFile=out/h.png",
            "-display=0",
        ],
        &[("RENDER_SIM_HOOK_LOG", hooks.as_str())],
    );
    assert_eq!(
        s.hook_log(),
        "HOOK-EXECUTED -include /x\nHOOK-EXECUTED -remapPath a=b\nHOOK-EXECUTED -configFile c.xml\n"
    );
}

#[test]
fn knobs_apply_to_every_program() {
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "3dsmaxcmd",
            &["-start:1", "-end:3", "-o:out/x.png", "s.max"],
            r"progr:",
        ),
        (
            "husk",
            &["-f", "1", "-n", "3", "-Va", "-o", "out/x.$F4.png", "s.usda"],
            "ALF_PROGRESS",
        ),
        (
            "Commandline",
            &["-render", "s.c4d", "-frame", "1", "3", "-oimage", "out/x"],
            r"^Progress: ",
        ),
        (
            "vray",
            &[
                "-sceneFile=s.vrscene",
                "-frames=1-3",
                "-imgFile=out/x.png",
                "-display=0",
            ],
            r"Rendering image.*:[ ]+[0-9]",
        ),
        ("kick", &["-i", "s.0007.ass", "-o", "out/x.png"], "% done"),
    ];
    for (name, args, progress) in cases {
        let s = Sim::new(name);
        let kick = name == "kick";
        let at = if kick { "7" } else { "2" };
        // Fail: earlier frames exist, exit 1.
        let o = s.run(args, &[("RENDER_SIM_FAIL_AT_FRAME", at)]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stdout(&o));
        assert_eq!(s.out_files().len(), usize::from(!kick), "{name}");
        // Fail once: the retry renders.
        let once = s.path("once");
        let once = once.to_str().expect("utf-8");
        let env = [
            ("RENDER_SIM_FAIL_AT_FRAME", at),
            ("RENDER_SIM_FAIL_ONCE_FILE", once),
        ];
        assert_eq!(s.run(args, &env).status.code(), Some(1), "{name}");
        assert_eq!(s.run(args, &env).status.code(), Some(0), "{name}");
        // Crash: killed by SIGABRT.
        let o = s.run(args, &[("RENDER_SIM_CRASH_AT_FRAME", at)]);
        assert_eq!(o.status.code(), None, "{name}");
        // Exit code, argv log, pid file.
        let argv = s.path("argv.jsonl");
        let pid = s.path("pid");
        let o = s.run(
            args,
            &[
                ("RENDER_SIM_EXIT_CODE", "5"),
                ("RENDER_SIM_ARGV_LOG", argv.to_str().expect("utf-8")),
                ("RENDER_SIM_PID_FILE", pid.to_str().expect("utf-8")),
            ],
        );
        assert_eq!(o.status.code(), Some(5), "{name}");
        let logged: Vec<String> =
            serde_json::from_str(fs::read_to_string(&argv).expect("argv").trim()).expect("json");
        assert_eq!(logged, args, "{name}");
        assert!(
            fs::read_to_string(&pid)
                .expect("pid")
                .trim()
                .parse::<u32>()
                .is_ok()
        );
        // Chatty renderer: n progress lines per frame.
        let o = s.run(args, &[("RENDER_SIM_LINES_PER_FRAME", "50")]);
        assert_eq!(o.status.code(), Some(0), "{name}");
        let frames = if kick { 1 } else { 3 };
        let extra = usize::from(name == "Commandline"); // its `Progress: 0%` head line
        assert_eq!(
            count(&stdout(&o), progress),
            frames * (50 + extra),
            "{name}"
        );
    }
}

#[test]
fn maya_lines_per_frame_and_hook_log() {
    let s = Sim::new("Render");
    fs::write(s.path("shot.ma"), "//Maya\n").expect("scene");
    let hooks = s.hook_env();
    let o = s.run(
        &[
            "-r",
            "arnold",
            "-s",
            "1",
            "-e",
            "2",
            "-preFrame",
            "x",
            "shot.ma",
        ],
        &[
            ("RENDER_SIM_LINES_PER_FRAME", "100"),
            ("RENDER_SIM_HOOK_LOG", hooks.as_str()),
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(count(&stdout(&o), r"(\d+)% done"), 200);
    assert_eq!(
        s.hook_log(),
        "HOOK-EXECUTED -preFrame x\nHOOK-EXECUTED -preFrame x\n"
    );
}

#[test]
fn program_names() {
    use render_sim::Program;
    for (argv0, p) in [
        ("/opt/hfs20.5/bin/husk", Program::Husk),
        (
            "C:\\Program Files\\Autodesk\\3ds Max 2025\\3dsmaxcmd.exe",
            Program::Max,
        ),
        ("COMMANDLINE.EXE", Program::Cinema4d),
        ("kick", Program::Kick),
        ("vray.exe", Program::Vray),
        ("Render.exe", Program::Maya),
        ("render-sim", Program::Maya),
    ] {
        assert_eq!(Program::from_argv0(argv0), Some(p), "{argv0}");
    }
    assert_eq!(Program::from_argv0("blender"), None);
    assert_eq!(render_sim::run_as("nope", Vec::new()), 127);
}

#[test]
fn hang_keeps_flushed_lines_until_killed() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let s = Sim::new("husk");
    let mut child = Command::new(&s.exe)
        .args(["-f", "1", "-n", "3", "-Va", "-o", "out/x.$F4.png", "s.usda"])
        .current_dir(&s.root)
        .env("RENDER_SIM_STEP_MS", "1")
        .env("RENDER_SIM_HANG_AT_FRAME", "2")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    while let Some(Ok(line)) = lines.next() {
        if line == "Rendering frame 2 (2 of 3)" {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "still hanging"
    );
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert_eq!(s.out_files(), ["x.0001.png"]);
}
