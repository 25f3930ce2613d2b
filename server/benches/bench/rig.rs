//! The bench's side of droprender-testkit: its temp trees, the node and
//! the paper's server as processes, the renderer start stamps it reads,
//! and the command lines it sends.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use droprender_testkit::layout::{Layout, LayoutSpec, Place};
use droprender_testkit::log::Tail;
use droprender_testkit::process::Proc;
use droprender_testkit::procfs::now_ns;

/// The reconcile interval the bench configures (the shipped default).
pub const RECONCILE_SECS: u64 = 10;

/// One temp tree, laid out like the tests' rig (droprender-testkit), with
/// the shipped reconcile interval.
pub fn layout() -> Layout {
    Layout::with(LayoutSpec {
        prefix: "droprender-bench.",
        config: format!("reconcile_secs = {RECONCILE_SECS}\ngrace_secs = 3\n"),
        ..LayoutSpec::default()
    })
}

/// The renderer's environment: no time per frame, start stamps, argv log.
pub fn renderer_env(l: &Layout) -> Vec<(String, String)> {
    vec![
        ("RENDER_SIM_STEP_MS".into(), "0".into()),
        (
            "RENDER_SIM_START_STAMP".into(),
            l.stamps.display().to_string(),
        ),
        (
            "RENDER_SIM_ARGV_LOG".into(),
            l.argv_log.display().to_string(),
        ),
        ("RENDER_SIM_END_STAMP".into(), ends(l).display().to_string()),
    ]
}

/// Where the simulator stamps its exits (`RENDER_SIM_END_STAMP`).
pub fn ends(l: &Layout) -> std::path::PathBuf {
    l.dir.path().join("render-ends.txt")
}

/// Starts `droprender-node run` as the tests do: on the layout's local
/// folder, waiting for its first status file, or on `dropbox` (a folder in
/// the API, no wait). Returns the node and when it was ready (for Dropbox,
/// `started_ns`, taken just before the spawn).
pub fn start_node(
    l: &Layout,
    extra_env: &[(String, String)],
    dropbox: Option<&str>,
) -> (Proc, u64) {
    let place = dropbox.map_or(Place::Folder(&l.folder), Place::Dropbox);
    let mut cmd = l.node_command(place, &l.state);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .envs(renderer_env(l).into_iter().chain(extra_env.iter().cloned()));
    let mut p = Proc::spawn(
        &mut cmd,
        &l.dir.path().join("node.stderr"),
        "droprender-node",
    );
    let ready = if dropbox.is_none() {
        let status = l.folder.join("status.json");
        p.wait_for(
            "the node's first status.json",
            Duration::from_secs(600),
            Duration::from_millis(2),
            move || status.exists(),
        );
        now_ns()
    } else {
        p.started_ns
    };
    (p, ready)
}

/// Starts the paper's server (this bench binary with `--paper-server`) on
/// the layout, and waits until it says it is running its loops.
pub fn start_paper(l: &Layout) -> (Proc, u64) {
    let stdout = std::fs::File::create(l.dir.path().join("paper.stdout")).expect("stdout");
    let ready = l.state.join("paper.ready");
    std::fs::create_dir_all(&l.state).expect("state");
    let path_var = format!(
        "{}:{}",
        l.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new(std::env::current_exe().expect("bench exe"));
    cmd.arg("--paper-server")
        .arg(&l.folder)
        .arg(&l.projects)
        .arg(&ready)
        .current_dir(&l.projects)
        .env("PATH", path_var)
        .stdin(Stdio::null())
        .stdout(stdout)
        .envs(renderer_env(l));
    let mut p = Proc::spawn(
        &mut cmd,
        &l.dir.path().join("paper.stderr"),
        "the paper's server",
    );
    p.wait_for(
        "the paper's server to start",
        Duration::from_secs(600),
        Duration::from_millis(2),
        || ready.exists(),
    );
    (p, now_ns())
}

/// Renderer start stamps (CLOCK_MONOTONIC ns), in order: `seen` when each
/// process was created, `main` when the simulator's own code began (after
/// the loader; see `RENDER_SIM_START_STAMP` in examples/render-sim).
pub struct Stamps {
    tail: Tail,
    pub seen: Vec<u64>,
    pub main: Vec<u64>,
}

impl Stamps {
    pub fn new(l: &Layout) -> Self {
        Stamps {
            tail: Tail::new(&l.stamps),
            seen: Vec::new(),
            main: Vec::new(),
        }
    }

    pub fn poll(&mut self) -> usize {
        for l in self.tail.lines() {
            let v: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if let [start, main] = v[..] {
                self.seen.push(start);
                self.main.push(main);
            }
        }
        self.seen.len()
    }

    /// Waits for the `n`-th start (1-based) and returns its stamp.
    pub fn wait(&mut self, p: &mut Proc, n: usize, timeout: Duration) -> u64 {
        p.wait_for(
            &format!("renderer start #{n}"),
            timeout,
            Duration::from_micros(300),
            || self.poll() >= n,
        );
        self.seen[n - 1]
    }
}

/// A one-frame render line both droprender and the paper run: droprender
/// ignores the program token, the paper executes it (`Render`, found on PATH).
pub fn render_line(frame: u64, scene: &str) -> String {
    format!("rend:Render -r sw -s {frame} -e {frame} scenes/{scene}\n")
}

/// `n` lines of realistic history, 40–60 bytes each, nearly all distinct
/// (xorshift, fixed seed), with a `progress:` now and then.
pub fn history_text(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(n * 56);
    let renderers = ["sw", "arnold", "vray", "redshift"];
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(40) {
            out.extend_from_slice(b"progress:\n");
            continue;
        }
        let r = renderers[(x >> 3) as usize % renderers.len()];
        let shot = (x >> 8) % 120 + 1;
        let s = (x >> 16) % 2000 + 1;
        let e = s + (x >> 32) % 240;
        let _ = writeln!(
            out,
            "rend:Render -r {r} -s {s} -e {e} scenes/shot{shot:03}.ma"
        );
    }
    out
}
