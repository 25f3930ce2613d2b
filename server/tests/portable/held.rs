//! Atomic writes while another program holds the file open. On Windows a
//! reader that opens status.txt without FILE_SHARE_DELETE (many programs,
//! antivirus, sync clients do) makes a rename over it fail until it lets
//! go, and one without FILE_SHARE_WRITE makes appends to LOG.txt fail; the
//! node retries such writes for up to 3 s (`storage/src/local/os.rs`).
//! Under Wine the rename fails even when the reader shares delete, so the
//! retry is exercised either way. On Linux nothing blocks: the same tests
//! just check the writes.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::Rig;
use crate::{reliability, rig};

/// How long the tests hold a file: well inside the node's 3 s retry.
const HOLD: Duration = Duration::from_millis(1000);

/// Opens `path` for reading the way a careless reader does on Windows:
/// sharing read (and write, with `share_write`) but never delete.
fn hold(path: &Path, share_write: bool) -> File {
    let mut o = OpenOptions::new();
    o.read(true);
    #[cfg(windows)]
    {
        use std::os::windows::fs::OpenOptionsExt;
        // FILE_SHARE_READ = 1, FILE_SHARE_WRITE = 2 (no FILE_SHARE_DELETE = 4).
        o.share_mode(if share_write { 1 | 2 } else { 1 });
    }
    #[cfg(not(windows))]
    let _ = share_write;
    // The node may be appending at this very moment (ERROR_SHARING_VIOLATION
    // on Windows): a reader tries again, as the node does.
    let t = Instant::now();
    loop {
        match o.open(path) {
            Ok(f) => return f,
            Err(e) if e.raw_os_error() == Some(32) && t.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("hold {}: {e}", path.display()),
        }
    }
}

/// No write failure reached LOG.txt or the node's stderr.
fn assert_no_write_warning(rig: &Rig) {
    let log = rig.log();
    assert!(!log.contains("cannot write"), "{log}");
    assert!(!log.contains("cannot append"), "{log}");
    let stderr = rig.stderr();
    assert!(
        !stderr.contains("cannot write") && !stderr.contains("cannot append"),
        "{stderr}"
    );
}

#[test]
fn status_txt_is_replaced_soon_after_a_reader_that_held_it_lets_go() {
    let mut fig = reliability::figures(&format!("held-status-{}", std::env::consts::OS));
    let mut rig = rig();
    // A frame of about half a second (9 lines, 60 ms each): the job is
    // still running when the node first writes the status files.
    rig.set_env("RENDER_SIM_STEP_MS", "60");
    rig.start();
    rig.wait_until("status.txt", || rig.read("status.txt").contains("updated "));
    let before = rig.read("status.txt");
    let held = hold(&rig.folder.join("status.txt"), true);
    let t0 = Instant::now();
    rig.append(b"rend:-s 1 -e 1 scenes/shot01.ma\n");
    // active_rend.txt is written just before status.txt: once it names
    // the scene, the node is at (or past) the status.txt write. (Not
    // status.json: that comes after status.txt, so only once the node's
    // retry gives up on the held file.)
    rig.wait_until("active_rend.txt to name the scene", || {
        rig.read("active_rend.txt").contains("shot01.ma")
    });
    std::thread::sleep(HOLD.saturating_sub(t0.elapsed()));
    let during = rig.read("status.txt");
    if cfg!(windows) {
        assert_eq!(during, before, "nothing renames over a held status.txt");
    }
    drop(held);
    let released = Instant::now();
    rig.wait_for(
        "status.txt to show the finished job after the release",
        Duration::from_secs(10),
        &mut || {
            rig.read("status.txt")
                .contains("1 scenes/shot01.ma finished")
        },
    );
    let after = released.elapsed();
    rig.wait_events("finished", 1);
    assert!(
        reliability::status_txt_complete(&rig.read("status.txt")).is_ok(),
        "{}",
        rig.read("status.txt")
    );
    assert_no_write_warning(&rig);
    assert!(
        after < Duration::from_secs(3),
        "status.txt replaced {after:?} after the release"
    );
    fig.line(format!(
        "status.txt held open (no FILE_SHARE_DELETE) for {:?} while the node rewrote it: replaced {:?} after the release; changed while held: {}; write warnings: 0",
        released - t0,
        after,
        during != before
    ));
}

#[test]
fn log_lines_appended_while_a_reader_holds_log_txt_are_all_there_once() {
    let mut fig = reliability::figures(&format!("held-log-{}", std::env::consts::OS));
    let mut rig = rig();
    rig.set_env("RENDER_SIM_STEP_MS", "2");
    rig.start();
    rig.append(b"rend:-s 1 -e 1 scenes/shot01.ma\n");
    rig.wait_events("finished", 1);
    // Sharing read only: on Windows nobody may write LOG.txt meanwhile.
    let held = hold(&rig.folder.join("LOG.txt"), false);
    let t0 = Instant::now();
    rig.append(b"rend:-s 2 -e 2 scenes/shot01.ma\nrend:-s 3 -e 3 scenes/shot02.mb\n");
    // Nothing to wait for meanwhile: the node's LOG append waits for the
    // file, and its other writes wait behind it.
    std::thread::sleep(HOLD);
    let during = rig.log_events("finished").len();
    if cfg!(windows) {
        assert_eq!(
            during, 1,
            "nothing appends to a LOG.txt held without FILE_SHARE_WRITE"
        );
    }
    drop(held);
    let released = Instant::now();
    rig.wait_for(
        "the held LOG lines after the release",
        Duration::from_secs(10),
        &mut || rig.log_events("finished").len() >= 3,
    );
    let after = released.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let log = rig.log();
    assert_eq!(rig.log_events("accepted").len(), 3, "{log}");
    assert_eq!(rig.log_events("finished").len(), 3, "{log}");
    assert!(reliability::bad_log_lines(&log).is_empty(), "{log}");
    fig.line(format!(
        "LOG.txt held open (share read only) for {:?} while 2 jobs ran: their lines appended {:?} after the release, each once; appended while held: {}",
        released - t0,
        after,
        during > 1
    ));
}
