//! The binaries the tests run: the node and the client under test, and
//! optional third-party tools (Blender, Syncthing, Slurm).
//!
//! The node is found beside the running test executable rather than passed
//! in. Cargo runs integration tests and benches from `target/<profile>/deps/`
//! and, before it runs any of droprender-node's, builds that package's
//! binaries into `target/<profile>/` — the very path
//! `env!("CARGO_BIN_EXE_droprender-node")` names, which only that package's
//! tests and benches can see. Looking there keeps every rig's constructor
//! argument-free; [`node`] fails loudly when a test of another package
//! (which cargo does not build the node for) asks for it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Once, OnceLock};

/// `target/<profile>`: where cargo puts the binaries of the profile this
/// test or bench executable was built with (it runs from `deps/` below it).
pub fn profile_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable's path");
        let dir = exe.parent().expect("the test executable's directory");
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir.parent().unwrap_or(dir).to_path_buf()
        } else {
            dir.to_path_buf()
        }
    })
}

/// The `droprender-node` binary under test (also the Render simulator when
/// linked as `Render`).
pub fn node() -> &'static Path {
    static NODE: OnceLock<PathBuf> = OnceLock::new();
    NODE.get_or_init(|| {
        let p = profile_dir().join(exe("droprender-node"));
        assert!(
            p.is_file(),
            "no droprender-node at {}: the kit's node runs only in droprender-node's own tests and benches, which cargo builds it for",
            p.display()
        );
        p
    })
}

/// `name` with this OS's executable suffix (`.exe` on Windows).
pub fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// The `droprender` client binary. Cargo only builds binaries of the
/// package under test, so it is built once per test process (a no-op when
/// it is current) rather than a stale one trusted.
///
/// Not on Windows: there the tests run cross-built under Wine (`.ci/cross`),
/// where this process cannot run the host's cargo with the cross build's
/// flags, so the script builds the client first and this only checks it is
/// there.
pub fn client() -> PathBuf {
    static BUILT: Once = Once::new();
    let p = profile_dir().join(exe("droprender"));
    if cfg!(windows) {
        assert!(
            p.is_file(),
            "no droprender client at {}: build it first (cargo build -p droprender-client --bin droprender, with the same --target)",
            p.display()
        );
        return p;
    }
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-q",
                "-p",
                "droprender-client",
                "--bin",
                "droprender",
            ])
            .status();
        assert!(
            status.is_ok_and(|s| s.success()) && p.exists(),
            "could not build the droprender client at {}",
            p.display()
        );
    });
    p
}

/// Finds an optional tool. Absent: skips loudly, or fails when
/// DROPRENDER_REQUIRE_TOOLS=1 (CI installs every tool the tests use).
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("DROPRENDER_REQUIRE_TOOLS").is_ok_and(|v| v == "1") {
            panic!("{name} is required (DROPRENDER_REQUIRE_TOOLS=1) but not installed");
        }
        eprintln!(
            "\n==== SKIPPED: {name} is not installed; install it (apt-get install {name}) to run this test ====\n"
        );
    }
    found
}
