use super::*;
use droprender_storage::MemFolder;

struct Rig {
    _dir: tempfile::TempDir,
    ledger: Ledger,
    folder: MemFolder,
    chan: Channel,
    t: Instant,
}

impl Rig {
    /// `hashes`: the folder reports `content_hash` (the Dropbox scheme).
    fn new(hashes: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::open(dir.path()).expect("ledger");
        Self {
            _dir: dir,
            ledger,
            folder: if hashes {
                MemFolder::with_content_hash()
            } else {
                MemFolder::new()
            },
            chan: Channel::new(),
            t: Instant::now(),
        }
    }

    /// Scans a source and commits the plan; returns the new lines' texts.
    async fn run(&mut self, src: Source) -> Vec<String> {
        let Some(plan) = self
            .chan
            .scan(&self.folder, &self.ledger, &src, self.t)
            .await
            .expect("scan")
        else {
            return Vec::new();
        };
        let texts = plan.new_lines.iter().map(|l| l.text.clone()).collect();
        match plan.rebase {
            Some(t) => self.ledger.rebase(plan.batch, t).expect("rebase"),
            None => self.ledger.commit(plan.batch).expect("commit"),
        }
        self.ledger.mark_initialized().expect("init");
        texts
    }

    async fn main(&mut self) -> Vec<String> {
        self.run(Source::Main).await
    }
}

async fn history_is_skipped_then_appends_run_once(hashes: bool) {
    let mut r = Rig::new(hashes);
    r.folder.put("commands.txt", "progress:\nrend:-s 1 a.mb\n");
    assert!(r.main().await.is_empty(), "history does not run");
    r.folder.push("commands.txt", b"progress:\n");
    assert_eq!(
        r.main().await,
        ["progress:"],
        "a repeat of an old line runs"
    );
    assert!(r.main().await.is_empty(), "nothing twice");
    r.folder.push("commands.txt", b"Rend:-s 1 a.mb\r\n");
    assert_eq!(r.main().await, ["rend:-s 1 a.mb"]);
}

async fn a_partial_line_waits_for_its_newline_or_the_quiet_period(hashes: bool) {
    let mut r = Rig::new(hashes);
    r.folder.put("commands.txt", "");
    r.main().await;
    r.folder.push("commands.txt", b"progre");
    assert!(r.main().await.is_empty());
    r.folder.push("commands.txt", b"ss:\n");
    assert_eq!(r.main().await, ["progress:"]);
    // A phone saves without the final newline.
    r.folder.push("commands.txt", b"rend:-s 2 a.mb");
    assert!(r.main().await.is_empty());
    assert!(r.chan.next_deadline().is_some());
    r.t += QUIET;
    assert_eq!(r.main().await, ["rend:-s 2 a.mb"]);
    // The newline arrives later: nothing runs again.
    r.folder.push("commands.txt", b"\nprogress:\n");
    assert_eq!(r.main().await, ["progress:"]);
}

async fn a_rewrite_runs_only_lines_not_in_the_ledger(hashes: bool) {
    let mut r = Rig::new(hashes);
    r.folder.put("commands.txt", "");
    r.main().await;
    r.folder.push(
        "commands.txt",
        b"rend:-s 1 a.mb\nrend:-s 2 a.mb\nprogress:\n",
    );
    assert_eq!(r.main().await.len(), 3);
    // Phone deletes the first line, edits nothing else, adds a new one.
    r.folder.put(
        "commands.txt",
        "rend:-s 2 a.mb\nprogress:\nrend:-s 3 a.mb\n",
    );
    assert_eq!(r.main().await, ["rend:-s 3 a.mb"]);
    // Identity is (text, occurrence): re-adding a deleted line is
    // occurrence 1 again, which already ran. A further copy is new.
    r.folder.push("commands.txt", b"rend:-s 1 a.mb\n");
    assert!(r.main().await.is_empty());
    r.folder.push("commands.txt", b"rend:-s 1 a.mb\n");
    assert_eq!(r.main().await, ["rend:-s 1 a.mb"]);
}

async fn conflicted_copies_add_only_their_own_lines(hashes: bool) {
    let mut r = Rig::new(hashes);
    r.folder.put("commands.txt", "rend:-s 1 a.mb\n");
    r.main().await;
    // Laptop and phone both edit: one version wins, the other is a copy.
    r.folder
        .put("commands.txt", "rend:-s 1 a.mb\nrend:-s 2 a.mb\n");
    let copy = "commands (Jane's conflicted copy 2026-11-22).txt";
    r.folder.put(copy, "rend:-s 1 a.mb\nrend:-s 3 a.mb\n");
    assert_eq!(r.main().await, ["rend:-s 2 a.mb"]);
    assert_eq!(r.run(Source::Copy(copy.into())).await, ["rend:-s 3 a.mb"]);
    // The user merges the copy's line into commands.txt by hand: not again.
    r.folder.push("commands.txt", b"rend:-s 3 a.mb\n");
    assert!(r.main().await.is_empty());
    // But typing it once more is a new command.
    r.folder.push("commands.txt", b"rend:-s 3 a.mb\n");
    assert_eq!(r.main().await, ["rend:-s 3 a.mb"]);
}

async fn the_sync_engine_swapping_versions_runs_nothing_twice(hashes: bool) {
    let mut r = Rig::new(hashes);
    r.folder.put("commands.txt", "");
    r.main().await;
    r.folder.push("commands.txt", b"rend:-s 1 a.mb\n");
    assert_eq!(r.main().await.len(), 1);
    // The other side wins: our line moves to a sync-conflict copy.
    let copy = "commands.sync-conflict-20261122-101500-ABCDEFG.txt";
    r.folder.put("commands.txt", "rend:-s 2 a.mb\n");
    r.folder.put(copy, "rend:-s 1 a.mb\n");
    assert_eq!(r.main().await, ["rend:-s 2 a.mb"]);
    assert!(r.run(Source::Copy(copy.into())).await.is_empty());
}

async fn bad_lines_are_new_lines_with_errors_and_never_repeat(hashes: bool) {
    let mut r = Rig::new(hashes);
    r.folder.put("commands.txt", "");
    r.main().await;
    r.folder.push(
        "commands.txt",
        b"rend:\xff\xfe\n\n# note\nrend:-preRender x a.mb\n",
    );
    let Some(plan) = r
        .chan
        .scan(&r.folder, &r.ledger, &Source::Main, r.t)
        .await
        .expect("scan")
    else {
        panic!("expected a plan")
    };
    assert_eq!(plan.new_lines.len(), 2);
    assert!(plan.new_lines.iter().all(|l| l.parsed.is_err()));
    assert_eq!(plan.new_lines[1].lineno, 4);
    r.ledger.commit(plan.batch).expect("commit");
    r.folder
        .put("commands.txt", "rend:\u{fffd}\n\nrend:-preRender x a.mb\n");
    assert!(
        r.main().await.len() <= 1,
        "a rewrite re-rejects nothing already rejected"
    );
}

/// Each scenario runs under both prefix checks: the tail re-read (local
/// folders) and the content-hash state (Dropbox).
macro_rules! both_checks {
    ($($name:ident),* $(,)?) => {
        mod tail {
            $(#[tokio::test]
            async fn $name() {
                super::$name(false).await
            })*
        }
        mod content_hash {
            $(#[tokio::test]
            async fn $name() {
                super::$name(true).await
            })*
        }
    };
}

both_checks!(
    history_is_skipped_then_appends_run_once,
    a_partial_line_waits_for_its_newline_or_the_quiet_period,
    a_rewrite_runs_only_lines_not_in_the_ledger,
    conflicted_copies_add_only_their_own_lines,
    the_sync_engine_swapping_versions_runs_nothing_twice,
    bad_lines_are_new_lines_with_errors_and_never_repeat,
);

/// Counts the bytes each read returns, to show what travels.
struct Counting {
    inner: MemFolder,
    read: std::sync::Mutex<Vec<(u64, usize)>>,
}

impl Folder for Counting {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn stat(&self, name: &str) -> Result<Option<Meta>, StorageError> {
        self.inner.stat(name).await
    }
    async fn read_from(
        &self,
        name: &str,
        offset: u64,
    ) -> Result<Option<(Meta, Vec<u8>)>, StorageError> {
        let r = self.inner.read_from(name, offset).await?;
        if let Some((_, b)) = &r {
            self.read
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((offset, b.len()));
        }
        Ok(r)
    }
    async fn list(&self) -> Result<Vec<droprender_storage::Entry>, StorageError> {
        self.inner.list().await
    }
    async fn write_atomic(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.inner.write_atomic(name, data).await
    }
    async fn append(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
        self.inner.append(name, data).await
    }
    fn watch(
        &self,
        tx: tokio::sync::mpsc::Sender<droprender_storage::Hint>,
    ) -> Result<droprender_storage::WatchGuard, StorageError> {
        self.inner.watch(tx)
    }
}

#[tokio::test]
async fn with_content_hashes_an_append_fetches_only_the_new_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = Ledger::open(dir.path()).expect("ledger");
    let folder = Counting {
        inner: MemFolder::with_content_hash(),
        read: Default::default(),
    };
    let mut chan = Channel::new();
    let t = Instant::now();
    let history: String = (0..2000).map(|i| format!("rend:-s {i} a.mb\n")).collect();
    folder.inner.put("commands.txt", history.clone());
    let mut scan = async |ledger: &mut Ledger| {
        let plan = chan
            .scan(&folder, ledger, &Source::Main, t)
            .await
            .expect("scan")
            .expect("a plan");
        let texts: Vec<String> = plan.new_lines.iter().map(|l| l.text.clone()).collect();
        match plan.rebase {
            Some(r) => ledger.rebase(plan.batch, r).expect("rebase"),
            None => ledger.commit(plan.batch).expect("commit"),
        }
        ledger.mark_initialized().expect("init");
        texts
    };
    assert!(scan(&mut ledger).await.is_empty(), "history");
    let line = "rend:-s 1 b.mb\n";
    folder.inner.push("commands.txt", line.as_bytes());
    assert_eq!(scan(&mut ledger).await, ["rend:-s 1 b.mb"]);
    // A phone rewrite that keeps the length and the whole tail: only
    // the first line changes (`-s 0` → `-s 9`). The hash sees it.
    let edited = format!("rend:-s 9{}", &history[9..]) + line + line;
    folder.inner.put("commands.txt", edited);
    assert_eq!(
        scan(&mut ledger).await,
        ["rend:-s 9 a.mb", "rend:-s 1 b.mb"]
    );
    let reads = folder
        .read
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let size = history.len() as u64;
    let l = line.len();
    assert_eq!(
        reads,
        [
            (0, history.len()),
            // The append: from the offset, the new line only.
            (size, l),
            // The rewrite: the bytes after the offset don't prove the
            // prefix, so the whole file is read.
            (size + l as u64, l),
            (0, history.len() + 2 * l),
        ]
    );
}
