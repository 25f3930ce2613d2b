//! Issue 12 (b): over the Dropbox API an append whose upload result is lost
//! is judged by looking for its bytes. A byte-identical line another device
//! appended in between must not be taken for ours: the client's line is
//! unique in its bytes (trailing spaces and tabs the grammar ignores).

use dropbox_emulator::{Config, FaultKind};
use droprender_client::commands::append_line;
use droprender_shared::normalize::{Normalized, normalize_line};
use droprender_storage::Folder;
use droprender_testkit::emulator::Emu;

const LINE: &str = "rend:-s 1 -e 1 scenes/shot01.ma";

/// Our folder appended to commands.txt last (so it knows the bytes and
/// appends without downloading first); another device appends LINE; our upload of LINE is dropped
/// before it commits, so our append sees a file ending in LINE.
fn race(ours: impl FnOnce(&Emu, &droprender_storage::dropbox::DropboxFolder)) -> usize {
    let emu = Emu::start("test-token", Config::default(), 2);
    let (a, b) = (emu.folder("/Maya"), emu.folder("/Maya"));
    emu.rt
        .block_on(a.append("commands.txt", b"# commands\n".to_vec()))
        .expect("seed");
    emu.rt
        .block_on(b.append("commands.txt", format!("{LINE}\n").into_bytes()))
        .expect("the other device");
    emu.push_faults(&[FaultKind::Drop]);
    ours(&emu, &a);
    emu.text("/Maya/commands.txt")
        .lines()
        .filter(|l| normalize_line(l.as_bytes()) == Ok(Normalized::Text(LINE.into())))
        .count()
}

#[test]
fn a_lost_upload_result_never_takes_another_devices_line_for_ours() {
    let n = race(|emu, a| {
        let sent = emu.rt.block_on(append_line(a, LINE));
        assert!(sent.is_ok(), "{sent:?}");
    });
    assert_eq!(n, 2, "the other device's line and ours");
}

/// Why the mark is needed: the same race with unmarked bytes loses our line.
#[test]
fn without_a_mark_the_line_would_be_lost() {
    let n = race(|emu, a| {
        emu.rt
            .block_on(a.append("commands.txt", format!("{LINE}\n").into_bytes()))
            .expect("append");
    });
    assert_eq!(n, 1, "the storage took the other device's line for ours");
}
