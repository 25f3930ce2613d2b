//! A render end to end through the real binaries, progress, failures, status files.

// Linux (Unix): a SIGTERM stop; server/tests/portable runs on Windows too.
#![cfg(unix)]

mod common;

use common::Rig;

#[test]
fn a_render_runs_end_to_end_and_progress_makes_a_preview() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "15");
    rig.start();
    let out = rig.client(&[
        "rend",
        "-r",
        "sw",
        "-s",
        "1",
        "-e",
        "6",
        "-x",
        "1280",
        "-y",
        "720",
        "scenes/shot01.ma",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rig.wait_until("two frames", || {
        rig.status().current.is_some_and(|c| c.frames_done >= 2)
    });
    assert_eq!(rig.read("active_rend.txt").trim(), "scenes/shot01.ma");
    let st = rig.status();
    let cur = st.current.expect("rendering");
    assert_eq!(
        (cur.id, cur.frames_total, cur.state.as_str()),
        (1, 6, "rendering")
    );
    let out = rig.client(&["progress"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jpg = std::fs::read(rig.folder.join("preview.jpg")).expect("preview.jpg");
    let img = image::load_from_memory_with_format(&jpg, image::ImageFormat::Jpeg).expect("decodes");
    assert_eq!(img.width(), 640, "previews are at most 640 px wide");
    assert!(
        rig.folder.join("latest_frame.png").exists(),
        "the original frame is copied too"
    );
    assert!(rig.folder.join("contact.jpg").exists());
    rig.wait_events("finished", 1);
    let st = rig.status();
    assert!(st.current.is_none());
    assert_eq!(st.recent[0].percent, 100.0);
    assert_eq!(st.recent[0].frames_done, 6);
    assert_eq!(rig.read("active_rend.txt"), "", "empty when idle");
    assert_eq!(rig.frames("job-0001").len(), 6);
    let txt = rig.read("status.txt");
    assert!(
        txt.contains("RECENT") && txt.contains("1 scenes/shot01.ma finished"),
        "{txt}"
    );
    // The node passed -rd itself, and the program token was not executed.
    let calls = rig.render_calls();
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0]
            .windows(2)
            .any(|w| w[0] == "-rd" && w[1].contains("job-0001-shot01")),
        "{calls:?}"
    );
}

#[test]
fn a_failing_render_is_classified_by_exit_code_and_error_line() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_FAIL_AT_FRAME", "2");
    rig.start();
    rig.append(b"rend:-r sw -s 1 -e 3 scenes/shot01.ma\n");
    rig.wait_events("failed", 1);
    let failed = &rig.log_events("failed")[0];
    assert!(
        failed.contains("211") && failed.contains("Frame rendering aborted"),
        "{failed}"
    );
    // status.json is written right after LOG.txt.
    rig.wait_until("status to show the failure", || {
        rig.status()
            .recent
            .first()
            .is_some_and(|j| j.state == "failed")
    });
}

#[test]
fn jobs_run_one_at_a_time_in_arrival_order() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "5");
    rig.start();
    rig.append(b"rend:-s 1 -e 3 scenes/shot01.ma\nrend:-s 1 -e 2 scenes/shot02.mb\nrend:-s 5 -e 5 scenes/shot01.ma\n");
    rig.wait_events("finished", 3);
    let started: Vec<String> = rig.log_events("started");
    assert!(
        started[0].contains("job 1")
            && started[1].contains("job 2")
            && started[2].contains("job 3"),
        "{started:?}"
    );
    // Never two renderers at once: each start follows the previous finish.
    let log = rig.log();
    let order: Vec<&str> = log
        .lines()
        .filter_map(|l| {
            l.split(' ')
                .nth(2)
                .filter(|w| *w == "started" || *w == "finished")
        })
        .collect();
    assert_eq!(
        order,
        [
            "started", "finished", "started", "finished", "started", "finished"
        ]
    );
}

#[test]
fn projects_list_follows_the_projects_dir() {
    let mut rig = Rig::new();
    rig.start();
    assert_eq!(
        rig.read("projects_to_rend.txt"),
        "scenes/shot01.ma\nscenes/shot02.mb\n"
    );
    std::fs::create_dir_all(rig.projects.join("seq2")).expect("mkdir");
    std::fs::write(rig.projects.join("seq2/new.mb"), "x").expect("write");
    std::fs::write(rig.projects.join("seq2/notes.txt"), "x").expect("write");
    rig.wait_until("the new scene listed", || {
        rig.read("projects_to_rend.txt").contains("seq2/new.mb")
    });
    std::fs::remove_file(rig.projects.join("scenes/shot01.ma")).expect("rm");
    rig.wait_until("the removed scene gone", || {
        !rig.read("projects_to_rend.txt").contains("shot01")
    });
    assert!(!rig.read("projects_to_rend.txt").contains("notes.txt"));
}

#[test]
fn an_idle_node_rewrites_nothing() {
    let mut rig = Rig::new();
    rig.start();
    rig.append(b"rend:-s 1 -e 1 scenes/shot01.ma\n");
    rig.wait_events("finished", 1);
    // Let start-up news settle (the renderer version probe lands in status.txt).
    std::thread::sleep(std::time::Duration::from_millis(3000));
    let mtime = |n: &str| {
        std::fs::metadata(rig.folder.join(n))
            .and_then(|m| m.modified())
            .expect("mtime")
    };
    let before: Vec<_> = [
        "status.txt",
        "status.json",
        "active_rend.txt",
        "projects_to_rend.txt",
        "LOG.txt",
    ]
    .iter()
    .map(|n| mtime(n))
    .collect();
    // Longer than the reconcile interval (5 s in the rig): the reconcile writes nothing either.
    std::thread::sleep(std::time::Duration::from_millis(6000));
    let after: Vec<_> = [
        "status.txt",
        "status.json",
        "active_rend.txt",
        "projects_to_rend.txt",
        "LOG.txt",
    ]
    .iter()
    .map(|n| mtime(n))
    .collect();
    assert_eq!(before, after);
    let leftovers: Vec<String> = std::fs::read_dir(&rig.folder)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn the_client_refuses_bad_lines_locally_and_sends_good_ones() {
    let rig = Rig::new();
    let out = rig.client(&[
        "rend",
        "-r",
        "sw",
        "-preRender",
        "python(\"x\")",
        "scenes/shot01.ma",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("-preRender is not allowed: it runs MEL code")
    );
    let out = rig.client(&["send", "rend: -s 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        rig.read("commands.txt"),
        "",
        "nothing appended for refused lines"
    );
    let out = rig.client(&[
        "send",
        "Rend:render \u{2014}s 1 \u{2014}e 2 scenes/shot01.ma",
    ]);
    assert!(out.status.success());
    let out = rig.client(&["rend", "-cam", "persp", "scenes/shot01.ma"]);
    assert!(out.status.success());
    assert_eq!(
        rig.read("commands.txt"),
        "rend:render -s 1 -e 2 scenes/shot01.ma\nrend:-cam persp scenes/shot01.ma\n"
    );
    // A phone saved without a final newline: the client ends that line first.
    std::fs::OpenOptions::new()
        .append(true)
        .open(rig.folder.join("commands.txt"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"progress:"))
        .expect("append");
    assert!(rig.client(&["send", "progress:"]).status.success());
    assert!(
        rig.read("commands.txt")
            .ends_with("persp scenes/shot01.ma\nprogress:\nprogress:\n")
    );
    let out = rig.client(&["status"]);
    assert_eq!(out.status.code(), Some(1), "no node has written status yet");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a droprender-node running"));
}

/// LOG.txt past `[status] log_max_kb` is moved aside to `LOG.<time>.txt`
/// and begun again: every line is in exactly one file, in order.
#[test]
fn a_full_log_is_moved_aside_and_no_line_is_lost() {
    let mut rig = Rig::new();
    rig.configure("[status]\nlog_max_kb = 4");
    rig.start();
    let mut sent = 0;
    for round in 0..6 {
        let lines: String = (0..10)
            .map(|i| format!("rend:-preRender x{} scenes/shot01.ma\n", round * 10 + i))
            .collect();
        rig.append(lines.as_bytes());
        sent += 10;
        rig.wait_until("the rejections to be logged", || {
            all_log_lines(&rig)
                .iter()
                .filter(|l| l.contains(" rejected"))
                .count()
                == sent
        });
    }
    let archives = archives(&rig);
    assert!(!archives.is_empty(), "LOG.txt was never moved aside");
    let log_len = rig.read("LOG.txt").len();
    assert!(log_len <= 4096 + 2048, "LOG.txt is {log_len} bytes");
    let rejected: Vec<String> = all_log_lines(&rig)
        .into_iter()
        .filter(|l| l.contains(" rejected"))
        .collect();
    let order: Vec<usize> = (0..60)
        .map(|k| {
            let needle = format!("-preRender x{k} ");
            let hits: Vec<usize> = rejected
                .iter()
                .enumerate()
                .filter(|(_, l)| l.contains(&needle))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(hits.len(), 1, "line x{k} logged {} times", hits.len());
            hits[0]
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "out of order: {order:?}"
    );
    rig.stop();
}

fn archives(rig: &Rig) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&rig.folder)
        .expect("folder")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("LOG.") && n.ends_with(".txt") && n != "LOG.txt")
        .collect();
    names.sort();
    names
}

/// The archives, oldest first, then LOG.txt (see `Rig::log`).
fn all_log_lines(rig: &Rig) -> Vec<String> {
    rig.log().lines().map(str::to_string).collect()
}
