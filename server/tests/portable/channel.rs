//! The command channel on every OS: conflicted copies, the hostile-input
//! set (every denied flag, paths outside the roots, bad bytes), garbage.
//! The hostile set here is the only one: it runs on Linux in the README's
//! test command and under Wine in `.ci/cross`.

use std::time::Duration;

use crate::common::Rig;
use crate::rig;
use droprender_shared::profile::{RendererKind, denied_flags};

#[test]
fn conflicted_copies_in_both_namings_run_their_own_lines_once() {
    let mut rig = rig();
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
    for name in [
        "commands (Jane's conflicted copy 2026-11-22).txt",
        "commands.sync-conflict-20261122-101500-ABCDEFG.txt",
    ] {
        assert!(
            acc.iter().any(|l| l.contains(&format!("line 2 of {name}"))),
            "{acc:#?}"
        );
    }
    // Merging a copy's line into commands.txt by hand does not run it again.
    rig.append(b"rend:-s 2 -e 2 scenes/shot01.ma\n");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(rig.log_events("accepted").len(), 3, "{}", rig.log());
    assert_eq!(rig.render_calls().len(), 3);
}

/// The hostile lines and the reason each must be rejected with.
fn hostile_lines(rig: &Rig) -> Vec<(Vec<u8>, String)> {
    let mut out: Vec<(Vec<u8>, String)> = Vec::new();
    for (flag, why) in denied_flags(RendererKind::Maya) {
        out.push((
            format!("rend:render {flag} x scenes/shot01.ma").into_bytes(),
            format!("is not allowed: {why}"),
        ));
    }
    for (flag, why) in denied_flags(RendererKind::Blender) {
        let flag = flag.trim_end_matches('*');
        out.push((
            format!("rend:blender {flag} x scenes/a.blend").into_bytes(),
            format!("is not allowed: {why}"),
        ));
    }
    let mut more = |line: &[u8], reason: &str| out.push((line.to_vec(), reason.to_string()));
    more(
        b"rend:-r interBatch scenes/shot01.ma",
        "it opens a command port",
    );
    more(
        b"rend:-ai:newflag 1 -r arnold scenes/shot01.ma",
        "renderer namespace flags",
    );
    more(b"rend:-s 1 ../outside.ma", "is outside");
    more(b"rend:-s 1 /etc/passwd.ma", "is outside");
    more(b"rend:-s 1 scenes/missing.ma", "does not exist");
    more(b"rend:-rd /tmp/elsewhere scenes/shot01.ma", "-rd:");
    more(b"rend:-rd ../../x scenes/shot01.ma", "-rd:");
    more(b"rend:-proj /etc scenes/shot01.ma", "-proj:");
    more(
        b"rend:-bogus 1 scenes/shot01.ma",
        "is not a known Render flag",
    );
    more(b"rend:-s 1 scenes/shot01.ma extra", "after the scene");
    more(
        b"rend:-r sw -n 64 scenes/shot01.ma",
        "threads than this node",
    );
    more(b"rend:\x00 scenes/shot01.ma", "NUL byte");
    more(b"rend:\xff\xfe scenes/shot01.ma", "not valid UTF-8");
    more(&[b'x'; 5000], "the limit is 4096");
    more(b"rm -rf /", "not a command");
    more(b"exec: /bin/sh -c 'touch /tmp/pwned'", "unknown command");
    // A link out of the projects root (symbolic links need a privilege on
    // Windows).
    #[cfg(unix)]
    {
        std::fs::write(rig.dir.path().join("outside.ma"), "x").expect("write");
        std::os::unix::fs::symlink(
            rig.dir.path().join("outside.ma"),
            rig.projects.join("scenes/link.ma"),
        )
        .expect("symlink");
        more(b"rend:-s 1 scenes/link.ma", "is outside");
    }
    #[cfg(not(unix))]
    let _ = rig;
    // Windows spellings of a way out, refused on every OS (a line may be
    // typed on a Windows box and run on a Linux one, and the other way):
    // drive-absolute and drive-relative, backslashes with `..`, UNC in both
    // slashes, the `\\?\` device namespace, a reserved device name.
    for given in [
        "C:/Windows/outside.ma",
        "C:\\Windows\\outside.ma",
        "c:outside.ma",
        "..\\outside.ma",
        "scenes\\..\\..\\outside.ma",
        "\\\\server\\share\\x.ma",
        "//server/share/x.ma",
        "\\\\?\\C:\\x.ma",
        "scenes\\NUL.ma",
    ] {
        more(format!("rend:-s 1 {given}").as_bytes(), "is outside");
    }
    for given in ["C:/Windows", "..\\..\\x", "\\\\server\\share\\out"] {
        more(
            format!("rend:-rd {given} scenes/shot01.ma").as_bytes(),
            "-rd:",
        );
    }
    out
}

#[test]
fn every_denied_flag_and_escape_is_rejected_and_never_reaches_render() {
    let mut rig = rig();
    let lines = hostile_lines(&rig);
    rig.start();
    let mut body = Vec::new();
    for (l, _) in &lines {
        body.extend_from_slice(l);
        body.push(b'\n');
    }
    rig.append(&body);
    rig.wait_events("rejected", lines.len());
    let rejected = rig.log_events("rejected");
    assert_eq!(
        rejected.len(),
        lines.len(),
        "one LOG line per rejected line"
    );
    for (i, (line, reason)) in lines.iter().enumerate() {
        let tag = format!(" rejected line {}: ", i + 1);
        let l = rejected
            .iter()
            .find(|l| l.contains(&tag))
            .unwrap_or_else(|| {
                panic!(
                    "no rejection for line {}: {:?}\n{rejected:#?}",
                    i + 1,
                    String::from_utf8_lossy(line)
                )
            });
        assert!(
            l.contains(reason.as_str()),
            "line {}: expected {reason:?} in {l}",
            i + 1
        );
    }
    // A good line still runs afterwards: the node never stopped. Its scene
    // and output folder are typed the Windows way, which names the same
    // files on every OS.
    rig.append(b"rend:-r sw -s 1 -e 1 -rd shots\\a scenes\\shot01.ma\n");
    rig.wait_events("finished", 1);
    let calls = rig.render_calls();
    assert_eq!(
        calls.len(),
        1,
        "only the valid line reached Render: {calls:?}"
    );
    let scene = std::path::Path::new(calls[0].last().expect("a scene"));
    assert_eq!(
        std::fs::canonicalize(scene).expect("the scene Render got exists"),
        std::fs::canonicalize(rig.projects.join("scenes").join("shot01.ma")).expect("shot01.ma"),
        "{calls:?}"
    );
    let rd = calls[0].iter().position(|a| a == "-rd").expect("-rd");
    let out_dir = std::fs::canonicalize(&calls[0][rd + 1]).expect("-rd exists");
    assert_eq!(
        out_dir,
        std::fs::canonicalize(rig.output.join("shots").join("a")).expect("shots/a"),
        "{calls:?}"
    );
    for (flag, _) in denied_flags(RendererKind::Maya) {
        assert!(
            !calls[0].iter().any(|a| a.eq_ignore_ascii_case(flag)),
            "{flag} reached Render"
        );
    }
    assert!(
        !rig.stderr().contains("panicked"),
        "no panic: {}",
        rig.stderr()
    );
}

#[test]
fn garbage_never_stops_the_node() {
    let mut rig = rig();
    rig.start();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut junk = Vec::new();
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        junk.push((seed & 0xff) as u8);
    }
    junk.push(b'\n');
    rig.append(&junk);
    rig.append(b"rend:-s 1 -e 1 scenes/shot01.ma\n");
    rig.wait_events("finished", 1);
    assert!(crate::common::alive(rig.node_pid() as i32));
    assert!(!rig.stderr().contains("panicked"), "{}", rig.stderr());
}
