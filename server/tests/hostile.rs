//! Untrusted input: every denied flag, paths outside the roots, bad bytes.
//! Each gets one "rejected" LOG line with its line number and reason, and no
//! denied flag ever reaches Render.

// Linux (Unix): a symbolic link in the projects root; server/tests/portable runs on Windows too.
#![cfg(unix)]

mod common;

use common::Rig;
use droprender_shared::profile::{RendererKind, denied_flags};

#[test]
fn every_denied_flag_and_escape_is_rejected_and_never_reaches_render() {
    let mut rig = Rig::new();
    std::fs::write(rig.dir.path().join("outside.ma"), "x").expect("write");
    std::os::unix::fs::symlink(
        rig.dir.path().join("outside.ma"),
        rig.projects.join("scenes/link.ma"),
    )
    .expect("symlink");
    rig.start();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    for (flag, why) in denied_flags(RendererKind::Maya) {
        lines.push(format!("rend:render {flag} x scenes/shot01.ma").into_bytes());
        reasons.push(format!("is not allowed: {why}"));
    }
    for (flag, why) in denied_flags(RendererKind::Blender) {
        let flag = flag.trim_end_matches('*');
        lines.push(format!("rend:blender {flag} x scenes/a.blend").into_bytes());
        reasons.push(format!("is not allowed: {why}"));
    }
    let mut more = |line: &[u8], reason: &str| {
        lines.push(line.to_vec());
        reasons.push(reason.to_string());
    };
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
    more(b"rend:-s 1 scenes/link.ma", "is outside");
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
    let mut body = Vec::new();
    for l in &lines {
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
    for (i, reason) in reasons.iter().enumerate() {
        let tag = format!(" rejected line {}: ", i + 1);
        let l = rejected
            .iter()
            .find(|l| l.contains(&tag))
            .unwrap_or_else(|| {
                panic!(
                    "no rejection for line {}: {:?}\n{rejected:#?}",
                    i + 1,
                    String::from_utf8_lossy(&lines[i])
                )
            });
        assert!(
            l.contains(reason.as_str()),
            "line {}: expected {reason:?} in {l}",
            i + 1
        );
    }
    // A good line still runs afterwards: the node never stopped.
    rig.append(b"rend:-r sw -s 1 -e 1 scenes/shot01.ma\n");
    rig.wait_events("finished", 1);
    let calls = rig.render_calls();
    assert_eq!(
        calls.len(),
        1,
        "only the valid line reached Render: {calls:?}"
    );
    for (flag, _) in denied_flags(RendererKind::Maya) {
        assert!(
            !calls[0].iter().any(|a| a.eq_ignore_ascii_case(flag)),
            "{flag} reached Render"
        );
    }
}

#[test]
fn garbage_never_stops_the_node() {
    let mut rig = Rig::new();
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
    assert!(common::alive(rig.node_pid() as i32));
}
