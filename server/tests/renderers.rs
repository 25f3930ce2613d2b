//! Maya renderer profiles, each through the simulator's own output lines;
//! half-synced scenes; resume per renderer.

mod common;

use std::time::Duration;

use common::Rig;

/// Every Maya renderer profile against the simulator's own output for that
/// renderer: the node's parser sees per-frame percent and every finished
/// frame, and the job reaches 100 % through the node.
#[test]
fn each_maya_renderer_profile_parses_its_renderers_lines() {
    use droprender_node::renderer::{self, Progress};
    use droprender_shared::command::{Action, parse_str};
    for r in ["sw", "arnold", "vray", "redshift", "renderman"] {
        let rig = Rig::new();
        let line = format!("rend:-r {r} -s 1 -e 6 scenes/shot01.ma");
        let Ok(Some((_, cmd))) = parse_str(&line) else {
            panic!("{line}")
        };
        let Action::Render(req) = cmd.action else {
            panic!("{line}")
        };
        let out = std::process::Command::new(&rig.render)
            .args(["-r", r, "-s", "1", "-e", "6", "-rd"])
            .arg(&rig.output)
            .arg(rig.projects.join("scenes/shot01.ma"))
            .env("RENDER_SIM_STEP_MS", "0")
            .output()
            .expect("simulator");
        assert!(out.status.success(), "{r}");
        let mut parser = renderer::parser(&req);
        let events: Vec<Progress> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| parser.line(l))
            .collect();
        let done = events
            .iter()
            .filter(|e| matches!(e, Progress::FrameDone(_)))
            .count();
        let partial = events
            .iter()
            .filter(|e| matches!(e, Progress::Percent(p) if *p > 0.0 && *p < 100.0))
            .count();
        assert_eq!(done, 6, "{r}: frames seen by the parser: {events:?}");
        assert!(partial > 0, "{r}: no in-frame percent: {events:?}");
        assert!(
            !events.iter().any(|e| matches!(e, Progress::Error(_))),
            "{r}: {events:?}"
        );
    }
    let mut rig = Rig::new();
    rig.start();
    for r in ["sw", "arnold", "vray", "redshift", "renderman"] {
        rig.append(format!("rend:-r {r} -s 1 -e 3 scenes/shot01.ma\n").as_bytes());
    }
    rig.wait_events("finished", 5);
    for j in rig.status().recent {
        assert_eq!((j.frames_done, j.percent), (3, 100.0), "{}", j.renderer);
    }
}

#[test]
fn a_half_synced_scene_waits_until_it_is_stable() {
    let mut rig = Rig::new();
    rig.start();
    // A scene whose sync is still under way: a Syncthing temp file beside it.
    let dir = rig.projects.join("scenes");
    std::fs::write(dir.join(".syncthing.late.mb.tmp"), "partial").expect("tmp");
    rig.append(b"rend:-s 1 -e 1 scenes/late.mb\n");
    rig.wait_events("accepted", 1);
    rig.wait_until("status to say it waits", || {
        rig.status().queue.first().is_some_and(|j| {
            j.state == "waiting"
                && j.message
                    .as_deref()
                    .is_some_and(|m| m.contains("arriving") || m.contains("syncing"))
        })
    });
    assert!(
        rig.read("status.txt").contains("late.mb"),
        "{}",
        rig.read("status.txt")
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(rig.log_events("started").is_empty());
    // The sync engine finishes: rename into place (fresh mtime), temp gone.
    std::fs::rename(dir.join(".syncthing.late.mb.tmp"), dir.join("late.mb")).expect("rename");
    let t = std::time::Instant::now();
    rig.wait_events("finished", 1);
    assert!(
        t.elapsed() >= Duration::from_millis(2500),
        "rendered before the scene was stable for 3 s"
    );
}

#[test]
fn previews_refresh_every_n_frames_when_configured() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "20");
    rig.configure("[preview]\nevery_frames = 2\n");
    rig.start();
    rig.append(b"rend:-s 1 -e 4 scenes/shot01.ma\n");
    // No `progress:` was sent: the previews come from finished frames alone.
    rig.wait_until("an automatic preview", || {
        rig.folder.join("preview.jpg").exists()
    });
    rig.wait_events("finished", 1);
    let jpg = std::fs::read(rig.folder.join("contact.jpg")).expect("contact.jpg");
    image::load_from_memory_with_format(&jpg, image::ImageFormat::Jpeg).expect("decodes");
    assert!(
        rig.log_events("progress").is_empty(),
        "automatic previews are not LOG news"
    );
}
