//! The folder against the in-process Dropbox emulator.

use std::time::Duration;

use dropbox_emulator::{Config, Emulator, FaultKind, RunningEmulator};
use droprender_testkit::emulator::{self, LONGPOLL_SCALE, TOKEN, concurrently};
use droprender_testkit::emulator_settings;
use tokio::sync::mpsc;

use super::*;
use transfer::UPLOAD_LIMIT;

struct Rig {
    emu: Emulator,
    running: RunningEmulator,
}

impl Rig {
    async fn new() -> Self {
        Self::with(Config::default()).await
    }

    /// `config` with longpolls held 1/100 of their time.
    async fn with(config: Config) -> Self {
        let config = Config {
            longpoll_time_scale: LONGPOLL_SCALE,
            ..config
        };
        let (emu, running) = emulator::start(TOKEN, config).await;
        Rig { emu, running }
    }

    fn settings(&self) -> DropboxSettings {
        emulator_settings!(
            self.running.url(),
            retry_ms: (5, 200, 30),
            app_key: self.emu.config().app_key.clone(),
            longpoll_timeout: Duration::from_secs(30),
        )
    }

    fn folder(&self) -> DropboxFolder {
        DropboxFolder::new(
            &self.settings(),
            Credentials::Token(Secret::new(TOKEN)),
            "/Maya",
        )
        .expect("folder")
    }

    fn text(&self, path: &str) -> String {
        droprender_testkit::log::emulator_text(&self.emu, path)
    }

    fn requests(&self, route: &str) -> u64 {
        emulator::requests(&self.emu, route)
    }
}

async fn next_hint(rx: &mut mpsc::Receiver<Hint>) -> Hint {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a hint in time")
        .expect("watch alive")
}

#[tokio::test]
async fn append_read_list_and_stat() {
    let rig = Rig::new().await;
    let f = rig.folder();
    assert_eq!(f.describe(), "dropbox:/Maya");
    // No /Maya yet: an empty folder, which the first write creates.
    assert!(f.list().await.expect("list").is_empty());
    assert_eq!(f.stat("commands.txt").await.expect("stat"), None);
    assert_eq!(f.read_from("commands.txt", 0).await.expect("read"), None);
    f.append("commands.txt", b"progress:\n".to_vec())
        .await
        .expect("append");
    f.append("commands.txt", b"rend:-s 1 a.mb\n".to_vec())
        .await
        .expect("append");
    assert_eq!(
        rig.text("/Maya/commands.txt"),
        "progress:\nrend:-s 1 a.mb\n"
    );
    let meta = f.stat("commands.txt").await.expect("stat").expect("exists");
    assert_eq!(meta.size, 25);
    let (m, tail) = f
        .read_from("commands.txt", 10)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(m, meta);
    assert_eq!(tail, b"rend:-s 1 a.mb\n");
    f.write_atomic("status.txt", b"hello".to_vec())
        .await
        .expect("write");
    let mut names: Vec<String> = f
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names, ["commands.txt", "status.txt"]);
    // Another client's folder sees the same.
    let g = rig.folder();
    let (_, all) = g
        .read_from("commands.txt", 0)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(all.len(), 25);
}

#[tokio::test]
async fn reads_only_new_bytes_pinned_to_the_rev() {
    let rig = Rig::new().await;
    let big = "x".repeat(100_000) + "\n";
    rig.emu
        .put_file("/Maya/commands.txt", big.clone().into_bytes())
        .expect("put");
    let f = rig.folder();
    let (tx, mut rx) = mpsc::channel(64);
    let _guard = f.watch(tx).expect("watch");
    assert_eq!(next_hint(&mut rx).await, Hint::Rescan);
    let non_poll = |s: &dropbox_emulator::Stats| {
        s.total.requests
            - s.routes
                .get("/2/files/list_folder/longpoll")
                .map_or(0, |r| r.requests)
    };
    let before = rig.emu.stats();
    let m = f.stat("commands.txt").await.expect("stat").expect("exists");
    let (m2, tail) = f
        .read_from("commands.txt", m.size)
        .await
        .expect("read")
        .expect("exists");
    assert!(tail.is_empty());
    assert_eq!(m2, m);
    assert_eq!(
        non_poll(&rig.emu.stats()),
        non_poll(&before),
        "stat and a read at the end cost nothing while watching"
    );
    // A phone appends a line.
    rig.emu
        .put_file(
            "/Maya/commands.txt",
            format!("{big}rend:-s 2 a.mb\n").into_bytes(),
        )
        .expect("put");
    assert_eq!(
        next_hint(&mut rx).await,
        Hint::Changed("commands.txt".into())
    );
    let before = rig.emu.stats();
    let (m3, tail) = f
        .read_from("commands.txt", m.size - 10)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(&tail[10..], b"rend:-s 2 a.mb\n");
    assert_ne!(m3.version, m.version);
    let after = rig.emu.stats();
    let dl = |s: &dropbox_emulator::Stats| {
        s.routes
            .get("/2/files/download")
            .map_or((0, 0), |r| (r.requests, r.response_bytes))
    };
    let (n0, b0) = dl(&before);
    let (n1, b1) = dl(&after);
    assert_eq!(n1 - n0, 1, "one download, no get_metadata");
    assert_eq!(non_poll(&after) - non_poll(&before), 1);
    assert!(b1 - b0 < 2000, "only the tail travels: {} bytes", b1 - b0);
}

#[tokio::test]
async fn status_writes_are_skipped_when_nothing_changed() {
    let rig = Rig::new().await;
    let f = rig.folder();
    f.write_atomic("status.txt", b"idle".to_vec())
        .await
        .expect("write");
    f.write_atomic("status.txt", b"idle".to_vec())
        .await
        .expect("write");
    assert_eq!(rig.requests("/2/files/upload"), 1);
    f.write_atomic("status.txt", b"busy".to_vec())
        .await
        .expect("write");
    assert_eq!(rig.requests("/2/files/upload"), 2);
    assert_eq!(rig.text("/Maya/status.txt"), "busy");
    // A new process learns the hash from the listing and skips too.
    let g = rig.folder();
    g.list().await.expect("list");
    g.write_atomic("status.txt", b"busy".to_vec())
        .await
        .expect("write");
    assert_eq!(rig.requests("/2/files/upload"), 2);
}

#[tokio::test]
async fn own_writes_are_not_hinted_but_others_are() {
    let rig = Rig::new().await;
    let f = rig.folder();
    f.write_atomic("status.txt", b"a".to_vec())
        .await
        .expect("write");
    let (tx, mut rx) = mpsc::channel(64);
    let guard = f.watch(tx).expect("watch");
    assert_eq!(next_hint(&mut rx).await, Hint::Rescan);
    f.write_atomic("status.txt", b"b".to_vec())
        .await
        .expect("write");
    f.append("LOG.txt", b"line\n".to_vec())
        .await
        .expect("append");
    rig.emu
        .put_file("/Maya/commands.txt", &b"progress:\n"[..])
        .expect("put");
    // Only the foreign change arrives (our own two are filtered out).
    assert_eq!(
        next_hint(&mut rx).await,
        Hint::Changed("commands.txt".into())
    );
    rig.emu.delete("/Maya/commands.txt").expect("delete");
    assert_eq!(
        next_hint(&mut rx).await,
        Hint::Changed("commands.txt".into())
    );
    assert_eq!(f.stat("commands.txt").await.expect("stat"), None);
    // A reset: list again, and say everything may have changed.
    rig.emu.reset_cursors();
    assert_eq!(next_hint(&mut rx).await, Hint::Rescan);
    drop(guard);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .map_or(true, |h| h.is_none()),
        "the watch stops with its guard"
    );
}

#[tokio::test]
async fn the_longpoll_sends_no_auth_and_honours_backoff() {
    let rig = Rig::with(Config {
        longpoll_backoff: Some(1),
        ..Config::default()
    })
    .await;
    rig.emu.put_file("/Maya/a.txt", &b"1"[..]).expect("put");
    let f = rig.folder();
    let (tx, mut rx) = mpsc::channel(64);
    let _guard = f.watch(tx).expect("watch");
    assert_eq!(next_hint(&mut rx).await, Hint::Rescan);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let s = rig.emu.stats();
    let lp = &s.routes["/2/files/list_folder/longpoll"];
    assert!(
        !lp.statuses.contains_key(&400),
        "no Authorization header: {lp:?}"
    );
    // Each (0.3 s) longpoll is followed by a 1 s backoff: about 2, not 8.
    assert!((1..=3).contains(&lp.requests), "{lp:?}");
}

#[tokio::test]
async fn concurrent_appenders_lose_nothing_even_with_faults() {
    let rig = Rig::new().await;
    rig.emu.set_faults(emulator::flaky(0.2, 7));
    let folders: Vec<DropboxFolder> = (0..8).map(|_| rig.folder()).collect();
    concurrently(folders, |c, f| async move {
        for i in 0..15 {
            f.append(
                "commands.txt",
                format!("rend:-s {c} -e {i} a.mb\n").into_bytes(),
            )
            .await
            .expect("append");
        }
    })
    .await;
    let text = rig.text("/Maya/commands.txt");
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 120, "{text}");
    lines.sort();
    lines.dedup();
    assert_eq!(lines.len(), 120, "no line twice");
    let s = rig.emu.stats();
    assert!(
        s.faults.get("drop-after-commit").copied().unwrap_or(0) > 0,
        "{s:?}"
    );
}

#[tokio::test]
async fn a_dropped_append_that_landed_is_not_repeated() {
    let rig = Rig::new().await;
    let f = rig.folder();
    f.append("LOG.txt", b"one\n".to_vec())
        .await
        .expect("append");
    rig.emu.push_faults(&[FaultKind::DropAfterCommit]);
    f.append("LOG.txt", b"two\n".to_vec())
        .await
        .expect("append");
    assert_eq!(rig.text("/Maya/LOG.txt"), "one\ntwo\n");
    // A missing file too (mode add).
    rig.emu.push_faults(&[FaultKind::DropAfterCommit]);
    f.append("new.txt", b"x\n".to_vec()).await.expect("append");
    assert_eq!(rig.text("/Maya/new.txt"), "x\n");
}

#[tokio::test]
async fn the_node_appends_its_log_without_downloading_it() {
    let rig = Rig::new().await;
    let f = rig.folder();
    for i in 0..5 {
        f.append("LOG.txt", format!("line {i}\n").into_bytes())
            .await
            .expect("append");
    }
    assert_eq!(rig.requests("/2/files/upload"), 5);
    assert_eq!(
        rig.requests("/2/files/download"),
        1,
        "only the first append looks"
    );
    // Someone edits LOG.txt: the next append loses the race once, then reads.
    rig.emu
        .put_file("/Maya/LOG.txt", &b"edited\n"[..])
        .expect("put");
    f.append("LOG.txt", b"after\n".to_vec())
        .await
        .expect("append");
    assert_eq!(rig.text("/Maya/LOG.txt"), "edited\nafter\n");
}

#[tokio::test]
async fn large_files_go_through_an_upload_session() {
    let rig = Rig::new().await;
    let f = rig.folder();
    let data: Vec<u8> = (0..(UPLOAD_LIMIT + 5)).map(|i| (i % 251) as u8).collect();
    let want = content_hash(&data);
    f.write_atomic("latest_frame.exr", data)
        .await
        .expect("write");
    let (meta, _) = rig.emu.get_file("/Maya/latest_frame.exr").expect("there");
    assert_eq!(meta.content_hash, want);
    assert!(rig.requests("/2/files/upload_session/finish") == 1);
}

/// Runs the OAuth flow against the emulator the way `droprender login`
/// does, into a token file in a temp dir.
async fn login(rig: &Rig, store: &TokenStore) {
    let login = Login::start(rig.settings()).expect("app key set");
    let url = login.authorize_url();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    assert!(url.contains("token_access_type=offline"), "{url}");
    let page = reqwest::get(&url)
        .await
        .expect("authorize")
        .text()
        .await
        .expect("page");
    let code = page
        .split("data-code=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a code on the page")
        .to_string();
    login.finish(&code, store).await.expect("exchange");
}

#[tokio::test]
async fn expired_tokens_are_refreshed_once() {
    let rig = Rig::new().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = TokenStore::at(dir.path().join(TOKEN_FILE));
    login(&rig, &store).await;
    let token = store.load().expect("load").expect("stored");
    let f = DropboxFolder::new(
        &rig.settings(),
        Credentials::Stored {
            store: store.clone(),
            token: token.clone(),
        },
        "/Maya",
    )
    .expect("folder");
    f.append("commands.txt", b"a\n".to_vec())
        .await
        .expect("append");
    rig.emu.expire_tokens();
    f.append("commands.txt", b"b\n".to_vec())
        .await
        .expect("append after refresh");
    assert_eq!(rig.text("/Maya/commands.txt"), "a\nb\n");
    let after = store.load().expect("load").expect("stored");
    assert_ne!(
        after.access_token, token.access_token,
        "the new token is kept"
    );
    assert_eq!(after.refresh_token, token.refresh_token);
}

#[test]
fn settings_take_the_environment_and_clamp() {
    let s = DropboxSettings {
        api_url: "http://x/".into(),
        longpoll_timeout: Duration::from_secs(5),
        ..DropboxSettings::default()
    }
    .normalized();
    assert_eq!(s.api_url, "http://x");
    assert_eq!(s.longpoll_timeout, Duration::from_secs(30));
    assert!(!DropboxSettings::default().has_app_key());
    assert_eq!(normalize_root("/Maya/").expect("ok"), "/Maya");
    assert_eq!(normalize_root("Maya").expect("ok"), "/Maya");
    assert_eq!(normalize_root("/").expect("ok"), "");
    assert!(normalize_root("/a/../b").is_err());
}
