//! Disk and permission faults: the synced folder goes read-only, the state
//! dir's disk fills up, the folder is deleted and recreated, commands.txt
//! becomes a directory. In each case the node says what is wrong in plain
//! words (LOG.txt when it can write it, else its stderr), keeps running,
//! and once the fault clears every command appended before or during it
//! runs exactly once.
//!
//! Tests run as root, which ignores mode bits: the read-only folder is a
//! read-only bind mount (or, where mounting is not allowed, `chattr +i`),
//! the full disk a small tmpfs. `DROPRENDER_LONG=1` repeats each fault
//! more times. Figures go to stderr and `target/reliability/faults-*.txt`.

// Linux (Unix): mounts, permissions and /proc; server/tests/portable runs on Windows too.
#![cfg(unix)]

mod common;
#[path = "common/faults.rs"]
mod faults;
#[path = "common/reliability.rs"]
mod reliability;

use std::path::Path;
use std::time::{Duration, Instant};

use faults::*;
use reliability::{Mount, accepted_frames, frames_in, invoked_frames, read_ledger, run};

#[test]
fn a_read_only_folder_is_reported_and_nothing_is_lost_when_it_clears() {
    let mut fig = reliability::figures("faults-read-only-folder");
    let mut rig = rig();
    // The node's folder is a bind mount of a backing dir, as if the synced
    // folder were remounted read-only under a running sync engine (which
    // still delivers commands through the backing path).
    let backing = rig.dir.path().join("backing");
    std::fs::create_dir_all(&backing).expect("backing");
    let folder = rig.folder.clone();
    let (mount, how) = match Mount::bind(&backing, &folder) {
        Ok(m) => (Some(m), "a read-only bind mount"),
        Err(e) => {
            eprintln!("cannot bind-mount here ({e}); using chattr +i instead");
            (None, "chattr +i on the folder and LOG.txt")
        }
    };
    let feed = if mount.is_some() {
        backing.clone()
    } else {
        folder.clone()
    };
    fig.line(format!("fault: {how}"));
    rig.start();
    let mut ks = Vec::new();
    let mut k = 0;
    for round in 0..rounds() {
        // Before the fault.
        for _ in 0..2 {
            k += 1;
            append_in(&feed, k);
            ks.push(k);
        }
        wait_idle(&rig, &ks);
        let stderr_before = rig.stderr().len();
        // A line appended just before the fault, and two during it.
        k += 1;
        append_in(&feed, k);
        ks.push(k);
        match &mount {
            Some(m) => m.set_read_only(true, true).expect("remount ro"),
            None => {
                run(
                    "chattr",
                    &["+i", &folder.join("LOG.txt").display().to_string()],
                )
                .expect("chattr");
                run("chattr", &["+i", &folder.display().to_string()]).expect("chattr");
            }
        }
        let fault_at = Instant::now();
        let log_before = rig.log();
        for _ in 0..2 {
            k += 1;
            append_in(&feed, k);
            ks.push(k);
        }
        rig.wait_for(
            "the node to report the read-only folder on stderr",
            Duration::from_secs(20),
            &mut || {
                let e = rig.stderr();
                let new = &e[stderr_before.min(e.len())..];
                new.contains("Read-only file system") || new.contains("Operation not permitted")
            },
        );
        let reported_after = fault_at.elapsed();
        // Jobs keep rendering (their output is outside the folder) while
        // their LOG lines wait.
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            node_alive(&rig),
            "the node keeps running:\n{}",
            rig.stderr()
        );
        assert_eq!(rig.log(), log_before, "nothing could be written to LOG.txt");
        let e = rig.stderr();
        let during = &e[stderr_before.min(e.len())..];
        let warnings = during.matches("WARN").count();
        let said = quote(during, "Read-only file system");
        let said = if said.is_empty() {
            quote(during, "Operation not permitted")
        } else {
            said
        };
        // Clear the fault.
        match &mount {
            Some(m) => m.set_read_only(false, true).expect("remount rw"),
            None => {
                run("chattr", &["-i", &folder.display().to_string()]).expect("chattr");
                run(
                    "chattr",
                    &["-i", &folder.join("LOG.txt").display().to_string()],
                )
                .expect("chattr");
            }
        }
        let cleared = Instant::now();
        wait_all_rendered(&rig, &ks, Duration::from_secs(30));
        rig.wait_for("LOG.txt to catch up", Duration::from_secs(30), &mut || {
            accepted_frames(&rig.log()).len() >= ks.len()
        });
        let caught_up = cleared.elapsed();
        rig.wait_until("status.txt to be current", || {
            rig.status().state == "idle" && rig.read("status.txt").contains("state: idle")
        });
        if round == 0 {
            fig.line(format!("node said (stderr): {said}"));
        }
        fig.line(format!(
            "round {}: reported after {:?}; {warnings} warning line(s) in 2 s of fault; LOG.txt caught up {:?} after the fault cleared",
            round + 1,
            reported_after,
            caught_up
        ));
    }
    report(&mut fig, &rig, &ks);
    assert!(rig.stop().success());
    drop(mount);
}

#[test]
fn a_full_state_disk_is_reported_and_nothing_is_lost_when_it_clears() {
    let mut fig = reliability::figures("faults-state-disk-full");
    let mut rig = rig();
    let mount = match Mount::tmpfs(&rig.state, "2m") {
        Ok(m) => m,
        Err(e) => {
            eprintln!(
                "\n==== SKIPPED: cannot mount a small tmpfs for the state dir here ({e}); the disk-full case needs it ====\n"
            );
            return;
        }
    };
    fig.line("fault: the state dir on a 2 MiB tmpfs, filled to the last byte".to_string());
    rig.set_env("RENDER_SIM_STEP_MS", "5");
    rig.start();
    let mut ks = Vec::new();
    let mut k = 0;
    for round in 0..rounds() {
        for _ in 0..2 {
            k += 1;
            rig.append(line(k).as_bytes());
            ks.push(k);
        }
        wait_idle(&rig, &ks);
        let calls_before = invoked_frames(&rig.argv_log).len();
        let warnings_before = rig.log_events("warning").len();
        let filler = fill(&rig.state);
        let fault_at = Instant::now();
        // Eight lines, one scan each: their records (~700 bytes apiece)
        // need more than the at most 4 KiB of slack left in the journal's
        // last page, so some of them cannot be journaled until the disk is
        // freed.
        let during: Vec<u64> = (k + 1..=k + 8).collect();
        for d in &during {
            rig.append(line(*d).as_bytes());
            std::thread::sleep(Duration::from_millis(50));
        }
        k += 8;
        ks.extend(&during);
        rig.wait_for(
            "a LOG.txt warning about the full disk",
            Duration::from_secs(20),
            &mut || rig.log_events("warning").len() > warnings_before,
        );
        let reported_after = fault_at.elapsed();
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            node_alive(&rig),
            "the node keeps running:\n{}",
            rig.stderr()
        );
        // Nothing that is not durable was acted on: every render started
        // during the fault belongs to a job in the journal.
        let view = read_ledger(&rig.state);
        let journaled: Vec<u64> = view
            .jobs
            .keys()
            .filter_map(|id| view.job_line(*id).and_then(reliability::frame_of_line))
            .collect();
        let started_during: Vec<u64> = invoked_frames(&rig.argv_log)
            .into_iter()
            .skip(calls_before)
            .collect();
        assert!(
            started_during.iter().all(|k| journaled.contains(k)),
            "a render started without a journaled job: {started_during:?}\n{}",
            rig.log()
        );
        let waiting = during.iter().filter(|d| !journaled.contains(d)).count();
        let warnings = rig.log_events("warning");
        let said = warnings[warnings_before].clone();
        let n_warnings = warnings.len() - warnings_before;
        std::fs::remove_file(&filler).expect("free the disk");
        let cleared = Instant::now();
        wait_all_rendered(&rig, &ks, Duration::from_secs(30));
        let recovered = cleared.elapsed();
        if round == 0 {
            fig.line(format!("node said (LOG.txt): {said}"));
        }
        fig.line(format!(
            "round {}: reported after {reported_after:?}; {n_warnings} warning line(s) in 2 s of fault; {} of {} lines appended during it fit in the journal's last page, the {waiting} others ran {recovered:?} after the disk was freed",
            round + 1,
            during.len() - waiting,
            during.len()
        ));
        // The disk fills while a job renders: its end cannot be journaled
        // (its record, naming a scene and an output dir each ~1000
        // characters deep, needs more than the at most 4 KiB of slack the
        // journal's last page can have). Once the disk is free the node
        // records it, without a restart.
        let big = 1000 + round * 100;
        let deep_finished = || {
            rig.log_events("finished")
                .iter()
                .filter(|l| l.contains("deep.ma"))
                .count()
        };
        let deep_before = deep_finished();
        let deep = |c: char| {
            (0..4)
                .map(|i| format!("{i}{}", c.to_string().repeat(240)))
                .collect::<Vec<_>>()
                .join("/")
        };
        let scene = format!("scenes/{}/deep.ma", deep('d'));
        let rd = deep('r');
        let frames_dir = rig.output.join(&rd);
        std::fs::create_dir_all(rig.projects.join(&scene).parent().expect("dir")).expect("dirs");
        std::fs::create_dir_all(&frames_dir).expect("dirs");
        common::write_settled(&rig.projects.join(&scene), b"//Maya ASCII 2025 scene\n");
        rig.append(format!("rend:-rd {rd} -s {big} -e {} {scene}\n", big + 19).as_bytes());
        let mine = |dir: &Path| {
            frames_in(dir)
                .iter()
                .filter(|(f, _)| (big..big + 20).contains(f))
                .count()
        };
        rig.wait_until("the long job to render", || mine(&frames_dir) > 0);
        let filler = fill(&rig.state);
        rig.wait_until("the long job's frames", || mine(&frames_dir) == 20);
        std::thread::sleep(Duration::from_secs(1));
        let unrecorded = deep_finished() == deep_before;
        std::fs::remove_file(&filler).expect("free the disk");
        let cleared = Instant::now();
        rig.wait_for(
            "the long job's end to be recorded once the disk is free",
            Duration::from_secs(20),
            &mut || deep_finished() > deep_before,
        );
        fig.line(format!(
            "round {}: a job that ended while the disk was full (its end {}) was recorded {:?} after the disk was freed",
            round + 1,
            if unrecorded { "not journaled" } else { "journaled anyway" },
            cleared.elapsed()
        ));
        // A job accepted before the disk fills, waiting for its scene to
        // finish syncing, becomes ready while the disk is full: its start
        // cannot be journaled. The node says so and retries calmly (not at
        // every turn of its loop), and starts it once the disk is free.
        // (Its record, with a ~1000-character -proj, -rd and scene path,
        // needs more than a page, so it cannot fit in the slack.)
        k += 1;
        let late = format!("late{round}.ma");
        let deep_l = |c: char| {
            (0..4)
                .map(|i| format!("{i}{}", c.to_string().repeat(245)))
                .collect::<Vec<_>>()
                .join("/")
        };
        let (proj, rd_l, scene_dir) = (deep_l('p'), deep_l('l'), format!("scenes/{}", deep_l('s')));
        for d in [
            rig.projects.join(&proj),
            rig.projects.join(&scene_dir),
            rig.output.join(&rd_l),
        ] {
            std::fs::create_dir_all(d).expect("dirs");
        }
        let arriving = rig
            .projects
            .join(&scene_dir)
            .join(format!(".syncthing.{late}.tmp"));
        std::fs::write(&arriving, b"//Maya").expect("sync temp");
        rig.append(
            format!("rend:-proj {proj} -rd {rd_l} -s {k} -e {k} {scene_dir}/{late}\n").as_bytes(),
        );
        rig.wait_until("the late job to be accepted and waiting", || {
            accepted_frames(&rig.log()).iter().any(|(_, f)| *f == k)
        });
        let filler = fill(&rig.state);
        let starts_before = rig.log().matches("cannot start job").count();
        common::write_settled(
            &rig.projects.join(&scene_dir).join(&late),
            b"//Maya ASCII 2025 scene\n",
        );
        std::fs::remove_file(&arriving).expect("arrived");
        let starts = || rig.log().matches("cannot start job").count();
        rig.wait_until("the failed start to be reported", || {
            starts() > starts_before
        });
        // Once reported, the retries are calm: counted over the next 3 s.
        let first = starts();
        std::thread::sleep(Duration::from_secs(3));
        let start_warnings = starts() - first;
        assert!(node_alive(&rig), "the node keeps running");
        std::fs::remove_file(&filler).expect("free the disk");
        let cleared = Instant::now();
        rig.wait_until("the late job to finish", || {
            rig.log_events("finished").iter().any(|l| l.contains(&late))
        });
        fig.line(format!(
            "round {}: a job whose start could not be journaled: reported, then {start_warnings} more `cannot start job` warning(s) in 3 s; started {:?} after the disk was freed",
            round + 1,
            cleared.elapsed()
        ));
        assert!(
            start_warnings <= 10,
            "the failed start is retried calmly, not in a busy loop: {start_warnings} more warnings in 3 s"
        );
        // The ledger written through the fault must reopen: restart.
        rig.kill9();
        rig.start();
        k += 1;
        rig.append(line(k).as_bytes());
        ks.push(k);
        wait_all_rendered(&rig, &ks, Duration::from_secs(30));
        assert!(
            read_ledger(&rig.state).corrupt.is_none(),
            "the journal holds a torn record"
        );
    }
    report(&mut fig, &rig, &ks);
    assert!(rig.stop().success());
    drop(mount);
}

#[test]
fn a_deleted_and_recreated_folder_is_reported_and_nothing_is_lost() {
    let mut fig = reliability::figures("faults-folder-deleted");
    let mut rig = rig();
    rig.start();
    let mut ks = Vec::new();
    let mut k = 0;
    let mut all_lines = String::new();
    for round in 0..rounds() {
        for _ in 0..2 {
            k += 1;
            rig.append(line(k).as_bytes());
            all_lines.push_str(&line(k));
            ks.push(k);
        }
        wait_all_rendered(&rig, &ks, Duration::from_secs(30));
        let stderr_before = rig.stderr().len();
        // A line appended just before the folder goes (it may or may not
        // have been read), then the folder is gone.
        k += 1;
        rig.append(line(k).as_bytes());
        all_lines.push_str(&line(k));
        ks.push(k);
        // The node may be writing a status file in it: retry until gone.
        let mut tries = 0;
        while let Err(e) = std::fs::remove_dir_all(&rig.folder) {
            tries += 1;
            assert!(tries < 500, "cannot delete the folder: {e}");
            std::thread::sleep(Duration::from_millis(2));
        }
        let fault_at = Instant::now();
        rig.wait_for(
            "the node to report the missing folder",
            Duration::from_secs(20),
            &mut || {
                let e = rig.stderr();
                e[stderr_before.min(e.len())..].contains("is missing")
            },
        );
        let reported_after = fault_at.elapsed();
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            node_alive(&rig),
            "the node keeps running:\n{}",
            rig.stderr()
        );
        let e = rig.stderr();
        let said = quote(&e[stderr_before.min(e.len())..], "is missing");
        // The sync engine brings the folder back with commands.txt as it
        // was, plus a line added elsewhere meanwhile.
        k += 1;
        all_lines.push_str(&line(k));
        ks.push(k);
        std::fs::create_dir_all(&rig.folder).expect("recreate");
        rig.replace("commands.txt", all_lines.as_bytes());
        let cleared = Instant::now();
        wait_all_rendered(&rig, &ks, Duration::from_secs(30));
        let recovered = cleared.elapsed();
        rig.wait_until("the node to say the folder is back", || {
            rig.log().contains("the folder is back")
        });
        rig.wait_until("status files written again", || {
            rig.folder.join("status.json").exists() && rig.folder.join("status.txt").exists()
        });
        if round == 0 {
            fig.line(format!("node said (stderr): {said}"));
        }
        fig.line(format!(
            "round {}: reported after {reported_after:?}; commands ran {recovered:?} after the folder came back; LOG.txt restarted with: {}",
            round + 1,
            rig.log().lines().next().unwrap_or("")
        ));
    }
    report(&mut fig, &rig, &ks);
    assert!(rig.stop().success());
}

#[test]
fn commands_txt_replaced_by_a_directory_is_reported_and_nothing_is_lost() {
    let mut fig = reliability::figures("faults-commands-is-a-directory");
    let mut rig = rig();
    rig.start();
    let mut ks = Vec::new();
    let mut k = 0;
    let mut all_lines = String::new();
    for round in 0..rounds() {
        for _ in 0..2 {
            k += 1;
            rig.append(line(k).as_bytes());
            all_lines.push_str(&line(k));
            ks.push(k);
        }
        wait_all_rendered(&rig, &ks, Duration::from_secs(30));
        let warnings_before = rig.log_events("warning").len();
        k += 1;
        rig.append(line(k).as_bytes());
        all_lines.push_str(&line(k));
        ks.push(k);
        let cmds = rig.folder.join("commands.txt");
        std::fs::remove_file(&cmds).expect("remove commands.txt");
        std::fs::create_dir(&cmds).expect("mkdir commands.txt");
        std::fs::write(cmds.join("note"), "oops").expect("a file inside");
        let fault_at = Instant::now();
        rig.wait_for(
            "a LOG.txt warning about the directory",
            Duration::from_secs(20),
            &mut || rig.log_events("warning").len() > warnings_before,
        );
        let reported_after = fault_at.elapsed();
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            node_alive(&rig),
            "the node keeps running:\n{}",
            rig.stderr()
        );
        let warnings = rig.log_events("warning");
        let said = warnings[warnings_before].clone();
        let n_warnings = warnings.len() - warnings_before;
        // Back to a file: what it held plus a line added meanwhile.
        k += 1;
        all_lines.push_str(&line(k));
        ks.push(k);
        std::fs::remove_dir_all(&cmds).expect("rm dir");
        rig.replace("commands.txt", all_lines.as_bytes());
        let cleared = Instant::now();
        wait_all_rendered(&rig, &ks, Duration::from_secs(30));
        let recovered = cleared.elapsed();
        if round == 0 {
            fig.line(format!("node said (LOG.txt): {said}"));
        }
        fig.line(format!(
            "round {}: reported after {reported_after:?}; {n_warnings} warning line(s) in 2 s of fault; commands ran {recovered:?} after it was a file again",
            round + 1
        ));
    }
    report(&mut fig, &rig, &ks);
    assert!(rig.stop().success());
}
