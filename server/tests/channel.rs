//! The command channel: history, normalisation, rewrites, conflicted copies,
//! partial lines and bursts, each line run exactly once.

mod common;

use std::time::{Duration, Instant};

use common::Rig;

#[test]
fn lines_present_before_the_first_start_are_history() {
    let mut rig = Rig::new();
    rig.append(b"rend:-s 1 scenes/shot01.ma\nprogress:\n# a comment\nrend:-s 2 scenes/shot01.ma\n");
    rig.start();
    rig.wait_events("skipped", 1);
    assert!(
        rig.log_events("skipped")[0].contains("3 line(s) already in commands.txt"),
        "{}",
        rig.log()
    );
    rig.append(b"rend:-s 3 -e 3 scenes/shot01.ma\n");
    rig.wait_events("finished", 1);
    assert_eq!(rig.render_calls().len(), 1, "history never ran");
}

#[test]
fn phone_text_is_normalised() {
    let mut rig = Rig::new();
    rig.start();
    rig.append("\u{feff}Rend:Render \u{2014}r sw \u{2013}s 1 \u{2014}e 2 \u{201c}scenes/shot01.ma\u{201d}   \r\n".as_bytes());
    rig.wait_events("finished", 1);
    let acc = &rig.log_events("accepted")[0];
    assert!(
        acc.ends_with("rend:Render -r sw -s 1 -e 2 scenes/shot01.ma"),
        "{acc}"
    );
}

#[test]
fn a_phone_rewrite_runs_only_the_new_lines() {
    let mut rig = Rig::new();
    rig.start();
    rig.append(b"rend:-s 1 -e 1 scenes/shot01.ma\nrend:-s 2 -e 2 scenes/shot01.ma\n");
    rig.wait_events("finished", 2);
    // The phone deletes the first line, fixes nothing, adds one, and drops the final newline.
    rig.replace(
        "commands.txt",
        b"rend:-s 2 -e 2 scenes/shot01.ma\r\nrend:-s 3 -e 3 scenes/shot01.ma",
    );
    rig.wait_events("finished", 3);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.log_events("accepted").len(), 3);
    assert!(rig.log_events("accepted")[2].contains("-s 3"));
    assert!(rig.log().contains("commands.txt was rewritten"));
}

#[test]
fn conflicted_copies_in_both_namings_run_their_own_lines_once() {
    let mut rig = Rig::new();
    rig.start();
    rig.append(b"rend:-s 1 -e 1 scenes/shot01.ma\n");
    rig.wait_events("finished", 1);
    rig.replace(
        "commands (Jane's conflicted copy 2026-11-22).txt",
        b"rend:-s 1 -e 1 scenes/shot01.ma\nrend:-s 2 -e 2 scenes/shot01.ma\n",
    );
    rig.replace(
        "commands.sync-conflict-20261122-101500-ABCDEFG.txt",
        b"rend:-s 1 -e 1 scenes/shot01.ma\nrend:-s 3 -e 3 scenes/shot01.ma\n",
    );
    rig.wait_events("finished", 3);
    let acc = rig.log_events("accepted");
    assert!(
        acc.iter()
            .any(|l| l.contains("line 2 of commands (Jane's conflicted copy 2026-11-22).txt")),
        "{acc:#?}"
    );
    assert!(
        acc.iter()
            .any(|l| l.contains("line 2 of commands.sync-conflict-20261122-101500-ABCDEFG.txt")),
        "{acc:#?}"
    );
    // Merging a copy's line into commands.txt by hand does not run it again.
    rig.append(b"rend:-s 2 -e 2 scenes/shot01.ma\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rig.log_events("accepted").len(), 3, "{}", rig.log());
}

#[test]
fn a_partial_line_waits_for_its_newline_or_two_quiet_seconds() {
    let mut rig = Rig::new();
    rig.start();
    rig.append(b"rend:-s 1 -e 1 scen");
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        rig.log_events("accepted").is_empty(),
        "a fragment never runs"
    );
    rig.append(b"es/shot01.ma\n");
    rig.wait_events("accepted", 1);
    // No final newline at all: accepted after the quiet period, once.
    let t = Instant::now();
    rig.append(b"rend:-s 2 -e 2 scenes/shot01.ma");
    rig.wait_events("accepted", 2);
    assert!(
        t.elapsed() >= Duration::from_millis(1900),
        "accepted too early: {:?}",
        t.elapsed()
    );
    rig.append(b"\n");
    rig.append(b"rend:-s 3 -e 3 scenes/shot01.ma\n");
    rig.wait_events("finished", 3);
    assert_eq!(rig.log_events("accepted").len(), 3, "{}", rig.log());
}

#[test]
fn a_burst_of_200_lines_runs_each_exactly_once() {
    let mut rig = Rig::new();
    rig.set_env("RENDER_SIM_STEP_MS", "0");
    rig.start();
    // Half through the client binary from 4 threads at once, half as direct appends.
    std::thread::scope(|s| {
        for t in 0..4 {
            let rig = &rig;
            s.spawn(move || {
                for i in 0..25 {
                    let f = (t * 25 + i + 1).to_string();
                    let out = rig.client(&["rend", "-s", &f, "-e", &f, "scenes/shot01.ma"]);
                    assert!(out.status.success());
                }
            });
        }
        let mut body = String::new();
        for i in 101..=200 {
            body.push_str(&format!("rend:-s {i} -e {i} scenes/shot02.mb\n"));
        }
        rig.append(body.as_bytes());
    });
    rig.wait_for("200 finished jobs", Duration::from_secs(180), &mut || {
        rig.log_events("finished").len() >= 200
    });
    assert_eq!(rig.log_events("accepted").len(), 200);
    let calls = rig.render_calls();
    assert_eq!(calls.len(), 200, "one Render per line");
    let mut frames: Vec<i64> = calls
        .iter()
        .map(|c| {
            let i = c.iter().position(|a| a == "-s").expect("-s");
            c[i + 1].parse().expect("frame")
        })
        .collect();
    frames.sort();
    assert_eq!(frames, (1..=200).collect::<Vec<i64>>());
}
