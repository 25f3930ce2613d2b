//! Node configuration: an optional TOML file, overridden by flags.

use std::path::{Path, PathBuf};
use std::time::Duration;

use droprender_shared::profile::Builder;
use thiserror::Error;

mod file;
mod renderers;

pub use file::{
    DropboxFile, ExecutorFile, FileConfig, JobsFile, NotifyFile, PreviewFile, SlotFile, SlotsFile,
    StatusFile,
};
pub use renderers::Renderers;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0} is not set: pass --{0} or set `{0} = \"…\"` in the config file")]
    Missing(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// Flags given on the command line (they win over the file).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub folder: Option<PathBuf>,
    pub dropbox: Option<String>,
    pub projects: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub state: Option<PathBuf>,
    pub maya: Option<PathBuf>,
    pub blender: Option<PathBuf>,
    pub poll: Option<f64>,
    pub name: Option<String>,
    pub log_file: Option<PathBuf>,
}

/// Which storage the synced folder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderSpec {
    /// A folder on disk kept in sync by a desktop client.
    Local(PathBuf),
    /// A path inside the Dropbox app folder, over the HTTP API.
    Dropbox(String),
}

impl FolderSpec {
    /// The local path, when the folder is local.
    pub fn local(&self) -> Option<&Path> {
        match self {
            FolderSpec::Local(p) => Some(p),
            FolderSpec::Dropbox(_) => None,
        }
    }
}

impl std::fmt::Display for FolderSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FolderSpec::Local(p) => write!(f, "{}", p.display()),
            FolderSpec::Dropbox(p) => write!(f, "dropbox:{p}"),
        }
    }
}

/// The node's settled configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub folder: FolderSpec,
    pub dropbox_api: DropboxFile,
    pub projects: PathBuf,
    pub output: PathBuf,
    pub state: PathBuf,
    pub maya: PathBuf,
    pub maya_renderers: Vec<String>,
    pub blender: PathBuf,
    pub blender_engine: String,
    /// Every renderer this node runs: the built-in profiles with the
    /// config's `[renderers.<name>]` profile keys merged over them.
    pub profiles: std::sync::Arc<droprender_shared::profile::Profiles>,
    /// Programs of the renderers other than Maya and Blender, by profile name.
    pub programs: std::collections::BTreeMap<String, PathBuf>,
    pub poll: Option<Duration>,
    pub reconcile: Duration,
    pub grace: Duration,
    pub allow_projects_in_folder: bool,
    pub recent_jobs: usize,
    pub progress_every: Duration,
    pub status_batch: Duration,
    pub log_max_bytes: Option<u64>,
    pub preview_every: u32,
    pub video: Option<crate::frames::video::VideoSettings>,
    /// `None`: frames are not judged beyond being whole on disk.
    pub verify: Option<crate::frames::verify::Checks>,
    pub verify_retries: u32,
    pub scene_stable: Duration,
    pub log_file: Option<PathBuf>,
    pub default_retries: u32,
    pub default_timeout: Option<Duration>,
    pub stall: Option<Duration>,
    pub schedule: Option<crate::schedule::Schedule>,
    pub notify: NotifyFile,
    pub executor: Executor,
    pub default_node: Option<String>,
    pub slots: Vec<crate::core::slots::Slot>,
}

/// Where renders run.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    Local,
    Slurm(SlurmSettings),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlurmSettings {
    pub partition: Option<String>,
    pub chunk: usize,
    pub max_tasks: Option<u32>,
    pub time_limit: Option<String>,
    pub sbatch_args: Vec<String>,
    pub maya_program: Option<PathBuf>,
    pub blender_program: Option<PathBuf>,
    /// The other renderers' programs as the cluster sees them, by profile name.
    pub programs: std::collections::BTreeMap<String, PathBuf>,
    pub node_program: Option<PathBuf>,
    pub poll: Duration,
}

/// The slots a config describes (one plain slot when it says nothing).
fn slots_of(f: Option<SlotsFile>) -> Result<Vec<crate::core::slots::Slot>, ConfigError> {
    use crate::core::slots::Slot;
    const DEVICES: &[&str] = &["CUDA", "OPTIX", "HIP", "METAL", "ONEAPI"];
    let list = match f {
        None => return Ok(Slot::plain(1)),
        Some(SlotsFile::Count(n)) if (1..=64).contains(&n) => return Ok(Slot::plain(n as usize)),
        Some(SlotsFile::Count(n)) => {
            return Err(ConfigError::Invalid(format!(
                "slots = {n}: expected 1 to 64 jobs at once"
            )));
        }
        Some(SlotsFile::List(l)) if !l.is_empty() && l.len() <= 64 => l,
        Some(SlotsFile::List(_)) => {
            return Err(ConfigError::Invalid(
                "[[slots]]: expected 1 to 64 slots".into(),
            ));
        }
    };
    let mut out: Vec<Slot> = Vec::new();
    for (i, s) in list.into_iter().enumerate() {
        let name = s.name.unwrap_or_else(|| (i + 1).to_string());
        let ok = (1..=32).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok || out.iter().any(|o| o.name.eq_ignore_ascii_case(&name)) {
            return Err(ConfigError::Invalid(format!(
                "[[slots]] name = {name:?}: names are unique, 1-32 letters, digits, _ or -"
            )));
        }
        let device = match s.cycles_device {
            Some(d) if DEVICES.contains(&d.to_ascii_uppercase().as_str()) => {
                Some(d.to_ascii_uppercase())
            }
            Some(d) => {
                return Err(ConfigError::Invalid(format!(
                    "[[slots]] cycles_device = {d:?}: expected one of {}",
                    DEVICES.join(", ")
                )));
            }
            None => None,
        };
        out.push(Slot {
            name,
            cycles_device: device.or_else(|| (!s.gpus.is_empty()).then(|| "CUDA".into())),
            gpus: s.gpus,
        });
    }
    Ok(out)
}

pub fn default_config_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("droprender").join("node.toml"))
}

pub fn default_state_dir() -> PathBuf {
    dirs::data_local_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("droprender")
        .join("node")
}

pub fn host_name() -> String {
    Some(droprender_supervise::hostname())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "render-node".into())
}

fn secs(v: f64, what: &str) -> Result<Duration, ConfigError> {
    Duration::try_from_secs_f64(v)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{what} must be a positive number of seconds, got {v}"
            ))
        })
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }
}

impl Config {
    /// Loads `--config` (or the default file when it exists) and applies flags.
    pub fn resolve(config: Option<&Path>, o: Overrides) -> Result<Self, ConfigError> {
        let file = match config {
            Some(p) => FileConfig::load(p)?,
            None => match default_config_path().filter(|p| p.is_file()) {
                Some(p) => FileConfig::load(&p)?,
                None => FileConfig::default(),
            },
        };
        Self::merge(file, o)
    }

    pub fn merge(f: FileConfig, o: Overrides) -> Result<Self, ConfigError> {
        let folder = match (o.dropbox.or(f.dropbox), o.folder.or(f.folder)) {
            (Some(d), _) => FolderSpec::Dropbox(d),
            (None, Some(p)) => FolderSpec::Local(p),
            (None, None) => return Err(ConfigError::Missing("folder")),
        };
        let is_dropbox = matches!(folder, FolderSpec::Dropbox(_));
        let projects = o
            .projects
            .or(f.projects)
            .ok_or(ConfigError::Missing("projects"))?;
        let output = o
            .output
            .or(f.output)
            .ok_or(ConfigError::Missing("output"))?;
        let poll = match o.poll.or(f.poll_secs) {
            Some(v) => Some(secs(v, "--poll")?),
            None => None,
        };
        let renderers = Renderers::from_tables(f.renderers)?;
        let maya_renderers = renderers.maya_allowed.clone().unwrap_or_else(|| {
            droprender_shared::profile::maya::RENDERERS
                .iter()
                .map(|s| (*s).to_string())
                .collect()
        });
        let engine = renderers
            .blender_engine
            .clone()
            .unwrap_or_else(|| "CYCLES".into());
        if !droprender_shared::profile::blender::ENGINES.contains(&engine.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "renderers.blender.engine = {engine:?} is not one of {}",
                droprender_shared::profile::blender::ENGINES.join(", ")
            )));
        }
        let dur = |v: &Option<String>, what: &str| -> Result<Option<Duration>, ConfigError> {
            match v {
                None => Ok(None),
                Some(t) => droprender_shared::command::parse_duration(t)
                    .filter(|s| *s > 0)
                    .map(|s| Some(Duration::from_secs(s)))
                    .ok_or_else(|| {
                        ConfigError::Invalid(format!(
                            "{what} = {t:?}: expected a duration such as 30m or 2h"
                        ))
                    }),
            }
        };
        let default_timeout = dur(&f.jobs.timeout, "jobs.timeout")?;
        let stall = match &f.jobs.stall {
            Some(v) if v == "off" => None,
            None => Some(Duration::from_secs(30 * 60)),
            v => dur(v, "jobs.stall")?,
        };
        let schedule =
            crate::schedule::Schedule::from_file(&f.schedule).map_err(ConfigError::Invalid)?;
        let e = f.executor;
        let mut farm_programs = e.programs;
        for (name, program) in std::mem::take(&mut farm_programs) {
            let profile = renderers.profiles.get(&name).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "executor.programs.{name}: this node has no renderer named {name:?}; it has {}",
                    renderers
                        .profiles
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            // Maya and Blender keep their own keys; the same path either way.
            let own_key = match profile.run.builder {
                Builder::Maya => Some("maya_program"),
                Builder::Blender => Some("blender_program"),
                Builder::Generic => None,
            };
            if let Some(key) = own_key {
                return Err(ConfigError::Invalid(format!(
                    "executor.programs.{name}: {name}'s program on the cluster is set with executor.{key}"
                )));
            }
            farm_programs.insert(profile.name.clone(), program);
        }
        let executor = match e.kind.as_deref() {
            None | Some("local") => Executor::Local,
            Some("slurm") => Executor::Slurm(SlurmSettings {
                partition: e.partition,
                chunk: e.chunk.unwrap_or(1).max(1) as usize,
                max_tasks: e.max_tasks,
                time_limit: e.time_limit,
                sbatch_args: e.sbatch_args,
                maya_program: e.maya_program,
                blender_program: e.blender_program,
                programs: farm_programs,
                node_program: e.node_program,
                poll: secs(e.poll_secs.unwrap_or(1.0), "executor.poll_secs")?,
            }),
            Some(other) => {
                return Err(ConfigError::Invalid(format!(
                    "executor.kind = {other:?}: expected \"local\" or \"slurm\""
                )));
            }
        };
        let slots = slots_of(f.slots)?;
        Ok(Config {
            slots,
            log_file: o.log_file.or(f.log_file),
            default_retries: f.jobs.retries.unwrap_or(0).min(10),
            default_timeout,
            stall,
            schedule,
            notify: f.notify,
            executor,
            default_node: f.default_node,
            name: o.name.or(f.name).unwrap_or_else(host_name),
            folder,
            dropbox_api: f.dropbox_api,
            projects,
            output,
            state: o.state.or(f.state).unwrap_or_else(default_state_dir),
            maya: o
                .maya
                .or_else(|| renderers.programs.get("maya").cloned())
                .unwrap_or_else(|| "Render".into()),
            maya_renderers,
            blender: o
                .blender
                .or_else(|| renderers.programs.get("blender").cloned())
                .unwrap_or_else(|| "blender".into()),
            blender_engine: engine,
            programs: renderers
                .programs
                .into_iter()
                .filter(|(n, _)| n != "maya" && n != "blender")
                .collect(),
            profiles: renderers.profiles,
            poll,
            reconcile: secs(f.reconcile_secs.unwrap_or(10.0), "reconcile_secs")?,
            grace: secs(f.grace_secs.unwrap_or(10.0), "grace_secs")?,
            allow_projects_in_folder: f.allow_projects_in_folder.unwrap_or(false),
            recent_jobs: f.status.recent_jobs.unwrap_or(10),
            progress_every: secs(
                f.status
                    .progress_secs
                    .unwrap_or(if is_dropbox { 10.0 } else { 1.0 }),
                "status.progress_secs",
            )?,
            status_batch: Duration::try_from_secs_f64(
                f.status
                    .batch_secs
                    .unwrap_or(if is_dropbox { 1.0 } else { 0.0 }),
            )
            .map_err(|_| {
                ConfigError::Invalid("status.batch_secs must be 0 or more seconds".into())
            })?,
            log_max_bytes: f
                .status
                .log_max_kb
                .or(is_dropbox.then_some(64))
                .map(|kb| kb.max(4).saturating_mul(1024)),
            preview_every: f.preview.every_frames.unwrap_or(0),
            video: f
                .preview
                .video
                .unwrap_or(true)
                .then(|| crate::frames::video::VideoSettings {
                    ffmpeg: f.preview.ffmpeg.clone(),
                    fps: f.preview.fps.unwrap_or(24).clamp(1, 240),
                    max_frames: f.preview.video_frames.unwrap_or(240).clamp(2, 10_000),
                }),
            verify: f
                .verify
                .enabled
                .unwrap_or(true)
                .then(|| crate::frames::verify::Checks {
                    decode: true,
                    flat: f.verify.black_frames.unwrap_or(true),
                }),
            verify_retries: f.jobs.verify_retries.unwrap_or(2).min(10),
            scene_stable: Duration::try_from_secs_f64(f.scene_stable_secs.unwrap_or(3.0)).map_err(
                |_| ConfigError::Invalid("scene_stable_secs must be 0 or more seconds".into()),
            )?,
        })
    }
}

#[cfg(test)]
impl Config {
    /// The defaults over placeholder paths (`/f`, `/p`, `/o`, `/s`), for
    /// tests that need a config but touch no folder.
    pub fn for_tests() -> Config {
        Config::merge(
            FileConfig::default(),
            Overrides {
                folder: Some("/f".into()),
                projects: Some("/p".into()),
                output: Some("/o".into()),
                state: Some("/s".into()),
                ..Default::default()
            },
        )
        .expect("the default config is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_the_sample_parses() {
        let sample = include_str!("../../../examples/node.toml");
        let f: FileConfig = toml::from_str(sample).expect("sample node.toml parses");
        let c = Config::merge(
            f,
            Overrides {
                output: Some("/x".into()),
                ..Default::default()
            },
        )
        .expect("valid");
        assert_eq!(c.output, PathBuf::from("/x"));
        assert_eq!(c.blender_engine, "CYCLES");
    }

    /// The sample's commented config profile, uncommented, is a valid
    /// renderer (README shows the same one).
    #[test]
    fn the_samples_config_profile_example_is_valid() {
        let sample = include_str!("../../../examples/node.toml");
        let (_, rest) = sample
            .split_once("# --- config profile example ---\n")
            .expect("marker");
        let (block, _) = rest.split_once("# --- end").expect("end marker");
        let text: String = block
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
            .collect();
        let mut f: FileConfig = toml::from_str(&text).expect("parses");
        f.folder = Some("/f".into());
        let c = Config::merge(
            f,
            Overrides {
                projects: Some("/p".into()),
                output: Some("/o".into()),
                ..Default::default()
            },
        )
        .expect("valid");
        let p = c.profiles.get("karma-xpu").expect("the example renderer");
        assert_eq!(c.program_for(p), PathBuf::from("/opt/hfs20.5/bin/husk"));
        let readme = include_str!("../../../README.md");
        assert!(
            readme.contains(text.trim()),
            "README shows the same example"
        );
    }

    /// The sample's commented `[[slots]]` tables, uncommented, give two GPU
    /// slots; its commented `[preview]`/`[verify]` keys are real keys.
    #[test]
    fn the_samples_commented_slots_and_frame_checks_are_valid() {
        let sample = include_str!("../../../examples/node.toml");
        let uncomment = |from: &str| -> String {
            let (_, rest) = sample.split_once(from).expect("section in the sample");
            rest.lines()
                .take_while(|l| l.starts_with("# ") && !l.starts_with("# ["))
                .filter_map(|l| l.strip_prefix("# "))
                .filter(|l| l.contains(" = "))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        let slots: String = sample
            .lines()
            .skip_while(|l| *l != "# [[slots]]")
            .take_while(|l| l.starts_with("# "))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        let text = format!(
            "folder = \"/f\"\n{slots}[preview]\n{}[verify]\n{}",
            uncomment("every_frames = 0\n"),
            uncomment("[verify]\n"),
        );
        let f: FileConfig = toml::from_str(&text).expect("parses");
        let o = Overrides {
            projects: Some("/p".into()),
            output: Some("/o".into()),
            ..Default::default()
        };
        let c = Config::merge(f, o).expect("valid");
        assert_eq!(c.slots.len(), 2);
        assert!(c.video.is_some() && c.verify.is_some());
    }

    #[test]
    fn missing_folder_says_how_to_fix_it() {
        let e = Config::merge(FileConfig::default(), Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("--folder"), "{e}");
    }

    #[test]
    fn farm_programs_are_checked_by_renderer_name() {
        let merge = |text: &str| {
            let mut f: FileConfig = toml::from_str(text).expect("parses");
            f.folder = Some("/f".into());
            Config::merge(
                f,
                Overrides {
                    projects: Some("/p".into()),
                    output: Some("/o".into()),
                    ..Default::default()
                },
            )
        };
        let c =
            merge("[executor]\nkind = \"slurm\"\nprograms = { husk = \"/opt/hfs/bin/husk\" }\n")
                .expect("valid");
        let Executor::Slurm(s) = c.executor else {
            panic!("not slurm")
        };
        assert_eq!(s.programs["husk"], PathBuf::from("/opt/hfs/bin/husk"));
        let err = merge("[executor]\nkind = \"slurm\"\nprograms = { nope = \"/x\" }\n")
            .expect_err("unknown renderer")
            .to_string();
        assert!(
            err.contains("no renderer named \"nope\"; it has maya"),
            "{err}"
        );
        let err = merge("[executor]\nkind = \"slurm\"\nprograms = { maya = \"/x\" }\n")
            .expect_err("maya has its own key")
            .to_string();
        assert!(err.contains("executor.maya_program"), "{err}");
    }
}
