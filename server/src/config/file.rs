//! The config file's shape (`node.toml`), as serde reads it.

use std::path::PathBuf;

use serde::Deserialize;

/// The config file's shape (`node.toml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub name: Option<String>,
    pub folder: Option<PathBuf>,
    /// A folder inside the Dropbox app folder, talked to over the HTTP API (`/Maya`).
    pub dropbox: Option<String>,
    pub projects: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub poll_secs: Option<f64>,
    pub reconcile_secs: Option<f64>,
    pub grace_secs: Option<f64>,
    /// Scenes in a folder the channel can write may carry script nodes: allowed only on purpose.
    pub allow_projects_in_folder: Option<bool>,
    /// `[renderers.<name>]`: `program` and node settings, and profile keys
    /// that add a renderer or change a built-in one (see `renderers.rs`).
    #[serde(default)]
    pub renderers: std::collections::BTreeMap<String, toml::Table>,
    #[serde(default)]
    pub status: StatusFile,
    #[serde(default)]
    pub dropbox_api: DropboxFile,
    #[serde(default)]
    pub preview: PreviewFile,
    #[serde(default)]
    pub verify: VerifyFile,
    /// Seconds a scene must be unchanged before it is rendered (half-synced scenes).
    pub scene_stable_secs: Option<f64>,
    /// Also log to this file, rotated daily (7 kept).
    pub log_file: Option<PathBuf>,
    #[serde(default)]
    pub jobs: JobsFile,
    #[serde(default)]
    pub schedule: crate::schedule::ScheduleFile,
    #[serde(default)]
    pub notify: NotifyFile,
    #[serde(default)]
    pub executor: ExecutorFile,
    /// With several nodes on one folder: the node that runs unaddressed lines.
    pub default_node: Option<String>,
    /// Jobs at once: a number (`slots = 2`), or `[[slots]]` tables naming
    /// each slot and the GPUs it owns.
    pub slots: Option<SlotsFile>,
}

/// `slots = 2`, or `[[slots]]` with `name` and `gpus = [0, 1]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SlotsFile {
    Count(u32),
    List(Vec<SlotFile>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotFile {
    pub name: Option<String>,
    /// GPU device numbers (as CUDA/HIP number them) this slot's renders see.
    #[serde(default)]
    pub gpus: Vec<u32>,
    /// The device Blender's Cycles renders with in this slot (`CUDA`,
    /// `OPTIX`, `HIP`, `METAL`, `ONEAPI`); default `CUDA` when the slot has GPUs.
    pub cycles_device: Option<String>,
}

/// `[executor]`: where renders run. `local` (default) or `slurm`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorFile {
    pub kind: Option<String>,
    /// Slurm partition (`--partition`).
    pub partition: Option<String>,
    /// Frames per array task.
    pub chunk: Option<u32>,
    /// At most this many tasks at once (`--array=…%M`).
    pub max_tasks: Option<u32>,
    /// Per-task time limit (`--time`), e.g. "2:00:00".
    pub time_limit: Option<String>,
    /// Extra sbatch arguments. From config only, never from the channel.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// The renderer programs as the cluster sees them (default: the node's own).
    pub maya_program: Option<PathBuf>,
    pub blender_program: Option<PathBuf>,
    /// Any renderer's program as the cluster sees it, by profile name
    /// (`husk = "/opt/hfs/bin/husk"`).
    #[serde(default)]
    pub programs: std::collections::BTreeMap<String, PathBuf>,
    /// droprender-node as the cluster sees it (it runs each task without a shell).
    pub node_program: Option<PathBuf>,
    /// Seconds between squeue polls.
    pub poll_secs: Option<f64>,
}

/// `[jobs]`: defaults for per-job options.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsFile {
    /// Retries after a failure, stall or timeout (a line's `retries=` wins).
    pub retries: Option<u32>,
    /// Default `timeout=`, e.g. "12h" (none by default).
    pub timeout: Option<String>,
    /// A render that prints nothing for this long is stalled, e.g. "30m".
    pub stall: Option<String>,
    /// Times a frame that fails its checks is rendered again before the job
    /// fails (default 2).
    pub verify_retries: Option<u32>,
}

/// `[notify]`: who hears about finished, failed and stalled jobs.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    /// URLs that get a JSON POST per event.
    #[serde(default)]
    pub webhooks: Vec<String>,
    /// ntfy-compatible topic URLs that get a plain-text POST per event.
    #[serde(default)]
    pub ntfy: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewFile {
    /// Refresh preview.jpg every N finished frames (0 = only on `progress:`).
    pub every_frames: Option<u32>,
    /// Write preview.mp4 (or preview.gif without ffmpeg) on `progress:` and
    /// at a job's end (default true).
    pub video: Option<bool>,
    /// ffmpeg to encode it with (default: found on PATH or in its usual place).
    pub ffmpeg: Option<PathBuf>,
    /// The scenes' frame rate (default 24).
    pub fps: Option<u32>,
    /// At most this many frames in the video, evenly picked (default 240).
    pub video_frames: Option<usize>,
}

/// `[verify]`: when a rendered frame counts as done.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyFile {
    /// Judge frames at all (default true): whole, and they decode.
    pub enabled: Option<bool>,
    /// A frame of one flat colour (all black…) is bad (default true).
    pub black_frames: Option<bool>,
}

/// `[dropbox_api]`: where the Dropbox API lives and which app this is.
/// Environment variables (DROPRENDER_DROPBOX_*_URL, DROPRENDER_DROPBOX_TOKEN)
/// override these.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropboxFile {
    pub app_key: Option<String>,
    pub api_url: Option<String>,
    pub content_url: Option<String>,
    pub notify_url: Option<String>,
    pub oauth_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusFile {
    pub recent_jobs: Option<usize>,
    /// While rendering, rewrite status files for progress at most this often
    /// (default 1 s; 10 s in Dropbox API mode, where each write is an upload).
    pub progress_secs: Option<f64>,
    /// Gather status and LOG.txt writes for this long before writing them
    /// (default 0; 1 s in Dropbox API mode, where each write is an upload:
    /// a short job's start and end then cost one upload of each file).
    pub batch_secs: Option<f64>,
    /// Past this size LOG.txt is moved aside to `LOG.<time>.txt` and
    /// started again (default: never in a local folder, where sync clients
    /// send only the appended bytes; 64 KB in Dropbox API mode, where each
    /// append uploads the whole file).
    pub log_max_kb: Option<u64>,
}
