//! One temp tree per test or bench case, laid out the same way everywhere:
//! a synced folder, a projects root outside it with settled Maya scenes, an
//! output root, a state dir, the node's config file, and `bin/Render`, a
//! link to the node binary (which then acts as the Maya `Render`
//! simulator; on Windows `bin\Render.exe`, a hard link or a copy:
//! symbolic links need a privilege there); plus the `droprender-node run` command line on it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::bins;
use crate::clock::now_ns;

/// What the test scenes hold.
pub const MAYA_SCENE: &[u8] = b"//Maya ASCII 2025 scene\n";
/// The scenes under `projects/scenes/`.
pub const MAYA_SCENES: [&str; 2] = ["shot01.ma", "shot02.mb"];
/// The node's config in a rig.
pub const NODE_CONFIG: &str = "reconcile_secs = 5\ngrace_secs = 3\n";
/// Config that spares a node the Blender version probe (it costs a core
/// for half a second where Blender is installed).
pub const NO_BLENDER: &str = "[renderers.blender]\nprogram = \"/nonexistent/blender\"\n";

/// How to lay a tree out.
#[derive(Debug, Clone)]
pub struct LayoutSpec<'a> {
    /// The temp dir's name prefix.
    pub prefix: &'a str,
    /// node.toml.
    pub config: String,
    /// Maya scenes under `projects/scenes/`.
    pub scenes: &'a [&'a str],
    /// Scenes an hour old (long finished syncing), or just written.
    pub settled: bool,
}

impl Default for LayoutSpec<'_> {
    fn default() -> Self {
        LayoutSpec {
            prefix: ".tmp",
            config: NODE_CONFIG.into(),
            scenes: &MAYA_SCENES,
            settled: true,
        }
    }
}

/// Where the node finds its commands.
#[derive(Debug, Clone, Copy)]
pub enum Place<'a> {
    /// `--folder`: a local folder kept in sync by a desktop client.
    Folder(&'a Path),
    /// `--dropbox`: a folder in the Dropbox API.
    Dropbox(&'a str),
}

pub struct Layout {
    pub dir: tempfile::TempDir,
    pub folder: PathBuf,
    pub projects: PathBuf,
    pub output: PathBuf,
    pub state: PathBuf,
    pub bin: PathBuf,
    pub render: PathBuf,
    pub config: PathBuf,
    /// RENDER_SIM_ARGV_LOG: one JSON argv per renderer run.
    pub argv_log: PathBuf,
    /// RENDER_SIM_PID_FILE: the running renderer's pid.
    pub pid_file: PathBuf,
    /// RENDER_SIM_START_STAMP: one CLOCK_MONOTONIC line per renderer start.
    pub stamps: PathBuf,
}

impl Default for Layout {
    fn default() -> Self {
        Self::new()
    }
}

impl Layout {
    pub fn new() -> Self {
        Self::with(LayoutSpec::default())
    }

    pub fn with(spec: LayoutSpec<'_>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(spec.prefix)
            .tempdir()
            .expect("tempdir");
        let root = dir.path().to_path_buf();
        let l = Layout {
            folder: root.join("sync"),
            projects: root.join("projects"),
            output: root.join("renders"),
            state: root.join("state"),
            bin: root.join("bin"),
            render: root.join("bin").join(bins::exe("Render")),
            config: root.join("node.toml"),
            argv_log: root.join("argv.log"),
            pid_file: root.join("render.pid"),
            stamps: root.join("render-starts.txt"),
            dir,
        };
        for d in [&l.folder, &l.projects.join("scenes"), &l.output, &l.bin] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        for s in spec.scenes {
            let path = l.projects.join("scenes").join(s);
            if spec.settled {
                write_settled(&path, MAYA_SCENE);
            } else {
                std::fs::write(&path, MAYA_SCENE).expect("scene");
            }
        }
        link_render(&l.render);
        std::fs::write(&l.config, spec.config).expect("config");
        l
    }

    /// Adds TOML to the node's config file (before the node starts).
    pub fn configure(&self, toml: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.config)
            .expect("config");
        writeln!(f, "{toml}").expect("write config");
    }

    /// `droprender-node run` on `place` with this tree's roots, config and
    /// Render, and the given state dir. Environment and stdio are the
    /// caller's.
    pub fn node_command(&self, place: Place<'_>, state: &Path) -> Command {
        let mut cmd = Command::new(bins::node());
        cmd.arg("run");
        match place {
            Place::Folder(f) => cmd.arg("--folder").arg(f),
            Place::Dropbox(root) => cmd.args(["--dropbox", root]),
        };
        cmd.arg("--projects")
            .arg(&self.projects)
            .arg("--output")
            .arg(&self.output)
            .arg("--state")
            .arg(state)
            .arg("--maya")
            .arg(&self.render)
            .arg("--config")
            .arg(&self.config);
        cmd
    }

    pub fn commands(&self) -> PathBuf {
        self.folder.join("commands.txt")
    }

    pub fn write_commands(&self, bytes: &[u8]) {
        std::fs::write(self.commands(), bytes).expect("write commands.txt");
    }

    /// Appends raw bytes to commands.txt in one write(2) with O_APPEND, as
    /// our client or a sync engine would; returns [`now_ns`] taken just
    /// before the write.
    pub fn append(&self, bytes: &[u8]) -> u64 {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.commands())
            .expect("open commands.txt");
        let t = now_ns();
        f.write_all(bytes).expect("append");
        t
    }

    /// Replaces a file in the folder the way sync clients do: temp file,
    /// then rename; returns [`now_ns`] taken just before the rename.
    pub fn replace(&self, name: &str, bytes: &[u8]) -> u64 {
        let tmp = self.folder.join(format!(".syncthing.{name}.tmp"));
        std::fs::write(&tmp, bytes).expect("write tmp");
        let t = now_ns();
        std::fs::rename(&tmp, self.folder.join(name)).expect("rename");
        t
    }

    /// A file in the folder (empty when missing).
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.folder.join(name)).unwrap_or_default()
    }

    /// The pid the running (or last) renderer wrote; 0 when none did.
    pub fn renderer_pid(&self) -> i32 {
        std::fs::read_to_string(&self.pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Argv of every Render invocation so far.
    pub fn render_calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.argv_log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("argv json"))
            .collect()
    }

    /// frames.csv of the first job folder whose name starts with
    /// `job_dir_prefix`: its text, and its rows (header skipped) split at
    /// commas.
    pub fn frames_csv(&self, job_dir_prefix: &str) -> (String, Vec<Vec<String>>) {
        let dir = std::fs::read_dir(&self.output)
            .expect("output")
            .flatten()
            .find(|d| d.file_name().to_string_lossy().starts_with(job_dir_prefix))
            .expect("job dir");
        let text = std::fs::read_to_string(dir.path().join("frames.csv")).expect("frames.csv");
        let rows = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        (text, rows)
    }

    /// Frame files (no hidden temp files) in the job dirs whose names start
    /// with `job_dir_prefix`, sorted.
    /// The frame files (images, not the node's frames.csv nor frames it
    /// moved aside as bad) in the job folders whose names start so.
    pub fn frames(&self, job_dir_prefix: &str) -> Vec<String> {
        const IMAGES: &[&str] = &[
            "png", "exr", "jpg", "jpeg", "tif", "tiff", "iff", "tga", "bmp", "hdr",
        ];
        let mut out = Vec::new();
        for d in std::fs::read_dir(&self.output).expect("output").flatten() {
            if d.file_name().to_string_lossy().starts_with(job_dir_prefix) {
                for f in std::fs::read_dir(d.path()).expect("job dir").flatten() {
                    let n = f.file_name().to_string_lossy().into_owned();
                    let image = n
                        .rsplit_once('.')
                        .is_some_and(|(_, e)| IMAGES.contains(&e.to_ascii_lowercase().as_str()));
                    if !n.starts_with('.') && image {
                        out.push(n);
                    }
                }
            }
        }
        out.sort();
        out
    }
}

/// `bin/Render`: a link to the node binary, which then acts as the Render
/// simulator.
#[cfg(unix)]
fn link_render(render: &Path) {
    std::os::unix::fs::symlink(bins::node(), render).expect("symlink Render");
}

/// `bin\Render.exe`: a hard link to the node binary where the file system
/// allows one, else a copy (a symbolic link needs a privilege on Windows;
/// either behaves the same, and the debug binary is over 100 MB).
#[cfg(not(unix))]
fn link_render(render: &Path) {
    if std::fs::hard_link(bins::node(), render).is_err() {
        std::fs::copy(bins::node(), render).expect("copy the node to Render.exe");
    }
}

/// Sets a file's mtime an hour back: a file that finished syncing long ago.
pub fn settle(path: &Path) {
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .expect("set mtime");
}

/// Writes a file whose mtime is an hour old: a scene that finished syncing long ago.
pub fn write_settled(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write");
    settle(path);
}
