//! What differs between operating systems for a synced folder on disk:
//! how a file version is named, and which failures are another program
//! holding the file for a moment (Windows: the Dropbox app, antivirus,
//! Explorer's preview) rather than a real error.

use std::fs::Metadata;
use std::io;
use std::time::Duration;

/// How long a write or read keeps trying while another program holds the file.
const HELD_FOR: Duration = Duration::from_secs(3);

/// What, besides size and mtime, tells a replaced file from the old one:
/// the inode on Unix, the creation time on Windows (a temp file renamed
/// over the target brings its own).
#[cfg(unix)]
pub fn identity(md: &Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(md)
}

#[cfg(windows)]
pub fn identity(md: &Metadata) -> u64 {
    std::os::windows::fs::MetadataExt::creation_time(md)
}

#[cfg(not(any(unix, windows)))]
pub fn identity(_: &Metadata) -> u64 {
    0
}

/// Another program holds the file: a rename over it, or opening it,
/// fails for now and works a moment later.
#[cfg(windows)]
pub fn is_held(e: &io::Error) -> bool {
    // ERROR_ACCESS_DENIED (a rename over a file open without
    // FILE_SHARE_DELETE), ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION.
    matches!(e.raw_os_error(), Some(5 | 32 | 33))
}

#[cfg(not(windows))]
pub fn is_held(_: &io::Error) -> bool {
    false
}

/// Runs `op` until it succeeds, fails for another reason, or the file has
/// been held for [`HELD_FOR`]. Only ever waits when another program holds
/// the file (never on Unix), so the common path has no sleep.
pub fn retrying<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let start = std::time::Instant::now();
    let mut wait = Duration::from_millis(5);
    loop {
        match op() {
            Err(e) if is_held(&e) && start.elapsed() < HELD_FOR => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(250));
            }
            r => return r,
        }
    }
}
