//! The official Dropbox Python SDK (`dropbox==12.2.4`) against the emulator.
//!
//! Starts the emulator on 127.0.0.1:0 and runs `tests/sdk/check.py` with the
//! Python of the virtualenv made by `.ci/sdk-venv.sh`; the script calls every
//! route the README claims through the SDK and prints one JSON line per
//! check. Python is `$DROPRENDER_SDK_PYTHON`, else
//! `<workspace>/target/dropbox-sdk-venv/bin/python`. Without it the test
//! skips loudly, or fails when DROPRENDER_REQUIRE_TOOLS=1.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{TOKEN, start_with};
use dropbox_emulator::Config;
use serde_json::Value;

/// How long a longpoll is held, relative to its `timeout` (30 s ⇒ 1.5 s).
const LONGPOLL_SCALE: f64 = 0.05;

/// The SDK version `.ci/sdk-venv.sh` installs.
const SDK_VERSION: &str = "12.2.4";

/// Every check of check.py: a check that silently disappears from the script
/// fails here.
const EXPECTED_CHECKS: &[&str] = &[
    "sdk/version",
    "list_folder/default_args",
    "list_folder/root",
    "list_folder/recursive",
    "list_folder/include_deleted",
    "list_folder/limit_and_continue",
    "list_folder/id_path",
    "list_folder/not_found",
    "list_folder/shared_link",
    "list_folder/continue_changes",
    "list_folder/continue_reset",
    "list_folder/get_latest_cursor",
    "longpoll/wakes_on_change",
    "longpoll/timeout",
    "longpoll/reset",
    "get_metadata/path",
    "get_metadata/id_and_rev",
    "get_metadata/include_deleted",
    "get_metadata/not_found",
    "download/path",
    "download/rev_and_id",
    "download/range",
    "download/non_ascii_name",
    "download/not_found",
    "upload/add",
    "upload/add_conflict",
    "upload/add_autorename",
    "upload/overwrite",
    "upload/update_rev",
    "upload/update_stale_conflict",
    "upload/update_stale_autorename",
    "upload/strict_conflict",
    "upload/mute_and_client_modified",
    "upload/content_hash",
    "upload/without_content_hash",
    "upload_session/start_append_finish",
    "upload_session/incorrect_offset",
    "upload_session/closed",
    "upload_session/finish_conflict",
    "delete_v2/file_and_folder",
    "delete_v2/parent_rev",
    "delete_v2/not_found",
    "oauth/pkce_no_redirect",
    "oauth/bad_code",
    "auth/refresh_token_only",
    "auth/expired_then_refreshed",
    "auth/expire_fault_then_refreshed",
    "auth/proactive_refresh",
    "auth/refresh_with_scope",
    "auth/expired_without_refresh",
    "auth/invalid_token",
    "auth/missing_scope",
    "token/revoke",
    "rate_limit/too_many_requests",
    "rate_limit/too_many_write_operations",
    "rate_limit/plain_text",
    "rate_limit/retried_by_sdk",
    "server_error/500",
    "server_error/503",
    "server_error/retried_by_sdk",
    "bad_input/400",
    "spec/ignored_fields_accepted",
    "fault/drop",
    "fault/drop_after_commit",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

fn require_tools() -> bool {
    std::env::var("DROPRENDER_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

fn skip_or_fail(why: &str) {
    if require_tools() {
        panic!("the official Dropbox SDK is required (DROPRENDER_REQUIRE_TOOLS=1): {why}");
    }
    // Straight to the process's stderr: libtest captures eprintln!, and a
    // skip must be seen even when the test "passes".
    let _ = writeln!(
        std::io::stderr(),
        "\n==== SKIPPED official_sdk: {why}. Run `.ci/sdk-venv.sh` (or set DROPRENDER_SDK_PYTHON) to run this test ====\n"
    );
}

/// The venv's python with the pinned SDK importable, or `None` (skip).
fn sdk_python() -> Option<PathBuf> {
    let python = match std::env::var_os("DROPRENDER_SDK_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => workspace_root().join("target/dropbox-sdk-venv/bin/python"),
    };
    if !python.exists() {
        skip_or_fail(&format!("no Python at {}", python.display()));
        return None;
    }
    let probe = std::process::Command::new(&python)
        .args(["-c", "import dropbox; print(dropbox.__version__)"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if version != SDK_VERSION {
                skip_or_fail(&format!(
                    "{} has dropbox {version}, not {SDK_VERSION}",
                    python.display()
                ));
                return None;
            }
            Some(python)
        }
        Ok(out) => {
            skip_or_fail(&format!(
                "{} cannot import dropbox: {}",
                python.display(),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            ));
            None
        }
        Err(e) => {
            skip_or_fail(&format!("cannot run {}: {e}", python.display()));
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_passes_every_check() {
    let Some(python) = sdk_python() else {
        return;
    };
    let env = start_with(Config {
        access_tokens: vec![TOKEN.into()],
        longpoll_time_scale: LONGPOLL_SCALE,
        ..Config::default()
    })
    .await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/check.py");
    let child = tokio::process::Command::new(&python)
        .arg(&script)
        .args(["--base", &env.base, "--token", TOKEN])
        .args(["--app-key", &env.emu().config().app_key])
        .args(["--longpoll-scale", &LONGPOLL_SCALE.to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn check.py");
    let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .expect("check.py did not finish within 300 s")
        .expect("check.py output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);

    let mut failed = Vec::new();
    let mut seen = Vec::new();
    let mut summary = None;
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("check.py printed a non-JSON line ({e}): {line}"));
        if let Some(s) = v.get("summary") {
            summary = Some(s.clone());
            continue;
        }
        let name = v["check"].as_str().expect("check name").to_owned();
        let ok = v["ok"].as_bool().expect("ok flag");
        eprintln!(
            "{} {name}{}",
            if ok { "ok  " } else { "FAIL" },
            v.get("detail")
                .map(|d| format!("  {d}"))
                .unwrap_or_default()
        );
        if !ok {
            failed.push(format!(
                "{name}: {}\n{}",
                v["error"].as_str().unwrap_or("?"),
                v["trace"].as_str().unwrap_or("")
            ));
        }
        seen.push(name);
    }
    let summary = summary.unwrap_or_else(|| {
        panic!(
            "check.py printed no summary (exit {:?})\nstderr:\n{stderr}",
            out.status
        )
    });
    assert!(
        failed.is_empty(),
        "{} of {} SDK checks failed:\n{}\nstderr:\n{stderr}",
        failed.len(),
        seen.len(),
        failed.join("\n")
    );
    let missing: Vec<_> = EXPECTED_CHECKS
        .iter()
        .filter(|c| !seen.iter().any(|s| s == *c))
        .collect();
    assert!(missing.is_empty(), "checks that did not run: {missing:?}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(
        summary["passed"].as_u64(),
        Some(EXPECTED_CHECKS.len() as u64),
        "{summary}"
    );
    assert!(
        out.status.success(),
        "check.py exited with {:?}",
        out.status
    );
    eprintln!(
        "official SDK {SDK_VERSION}: {} checks passed",
        EXPECTED_CHECKS.len()
    );
    env.running.shutdown().await.expect("shutdown");
}
