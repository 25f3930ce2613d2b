//! The command line: `droprender-node run …`, `demo`, `init`, `check-config`, `service …`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};

#[derive(Parser, Debug)]
#[command(
    name = "droprender-node",
    version,
    about = "Render node: runs renders requested through a synced folder's commands.txt"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Watch the folder and render until SIGINT/SIGTERM.
    Run(Box<RunArgs>),
    /// Run a short render end to end in a scratch folder, with the Render simulator.
    Demo(crate::demo::DemoArgs),
    /// Write a commented node.toml to start from.
    Init(InitArgs),
    /// Check a config (renderer profiles included) and print the grammar help.txt will show.
    CheckConfig(crate::check_config::CheckConfigArgs),
    /// Run the node as this OS's service: install, uninstall, start, stop, status.
    Service(crate::service::ServiceArgs),
    /// Print shell completions: `droprender-node completions bash > /etc/bash_completion.d/droprender-node`.
    Completions { shell: clap_complete::Shell },
    /// Write droprender-node(1) and a page per subcommand into DIR (packaging).
    #[command(hide = true)]
    Manpages { dir: PathBuf },
    /// Run one Slurm array task (used by the Slurm executor's batch script).
    #[command(hide = true)]
    SlurmTask { work_dir: PathBuf },
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Where to write it (default: the user config dir's droprender/node.toml).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

/// The sample config, commented: `init` writes it.
pub const SAMPLE_CONFIG: &str = include_str!("../../examples/node.toml");

fn init(args: &InitArgs) -> anyhow::Result<()> {
    let path = match &args.path {
        Some(p) => p.clone(),
        None => crate::config::default_config_path()
            .ok_or_else(|| anyhow::anyhow!("no user config dir on this system; pass --path"))?,
    };
    if path.exists() && !args.force {
        anyhow::bail!("{} exists; pass --force to replace it", path.display());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, SAMPLE_CONFIG)?;
    println!("wrote {}", path.display());
    println!(
        "edit folder, projects, output and [renderers.maya] program, then run: droprender-node run\n(or run it as a service that starts at boot: droprender-node service install)"
    );
    Ok(())
}

/// Logs to stderr (RUST_LOG, default info), and to a daily-rotated file when asked.
pub(crate) fn init_tracing(
    default: &str,
    file: Option<&Path>,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::prelude::*;
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let (file_layer, guard) = match file.and_then(|f| Some((f.parent()?, f.file_name()?))) {
        Some((dir, name)) => {
            match tracing_appender::rolling::Builder::new()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix(name.to_string_lossy())
                .max_log_files(7)
                .build(dir)
            {
                Ok(appender) => {
                    let (w, guard) = tracing_appender::non_blocking(appender);
                    let layer = tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(w)
                        .with_filter(filter());
                    (Some(layer), Some(guard))
                }
                Err(e) => {
                    eprintln!("droprender-node: cannot log to {}: {e}", dir.display());
                    (None, None)
                }
            }
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .init();
    guard
}

#[derive(clap::Args, Debug, Default)]
pub struct RunArgs {
    /// The synced folder that holds commands.txt.
    #[arg(long, conflicts_with = "dropbox")]
    pub folder: Option<PathBuf>,
    /// Use the Dropbox HTTP API instead of a local folder: a path in the app folder, e.g. /Maya.
    #[arg(long, value_name = "PATH")]
    pub dropbox: Option<String>,
    /// Root under which scenes are resolved.
    #[arg(long)]
    pub projects: Option<PathBuf>,
    /// Root under which frames are written.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Journal and job logs (default under the local data dir).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Path to Maya's Render.
    #[arg(long)]
    pub maya: Option<PathBuf>,
    /// Path to blender.
    #[arg(long)]
    pub blender: Option<PathBuf>,
    /// Config file (default: the user config dir's droprender/node.toml, if present).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Poll the folder every SECS instead of using file-system events (network shares).
    #[arg(long, value_name = "SECS")]
    pub poll: Option<f64>,
    /// This node's name (default: the host name).
    #[arg(long)]
    pub name: Option<String>,
    /// Also log to this file, rotated daily (7 kept).
    #[arg(long)]
    pub log_file: Option<PathBuf>,
}

impl RunArgs {
    pub fn config(&self) -> Result<Config, crate::config::ConfigError> {
        Config::resolve(
            self.config.as_deref(),
            Overrides {
                folder: self.folder.clone(),
                dropbox: self.dropbox.clone(),
                projects: self.projects.clone(),
                output: self.output.clone(),
                state: self.state.clone(),
                maya: self.maya.clone(),
                blender: self.blender.clone(),
                poll: self.poll,
                name: self.name.clone(),
                log_file: self.log_file.clone(),
            },
        )
    }
}

pub fn run_node(args: &RunArgs) -> anyhow::Result<()> {
    let cfg = args.config()?;
    let _guard = init_tracing("info", cfg.log_file.as_deref());
    let rt = crate::launch::runtime()?;
    let shutdown = crate::launch::shutdown_signal()?;
    rt.block_on(async move {
        tracing::info!(folder = %cfg.folder, projects = %cfg.projects.display(), "node running");
        crate::launch::serve(cfg, shutdown).await
    })
}

pub fn main() -> ExitCode {
    if let Some(code) = crate::sim::as_simulator() {
        return code;
    }
    let cli = Cli::parse();
    let result = match &cli.cmd {
        Cmd::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "droprender-node",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Cmd::Manpages { dir } => {
            use clap::CommandFactory as _;
            droprender_manpages::write(Cli::command(), dir)
                .map_err(|e| anyhow::anyhow!("writing man pages to {}: {e}", dir.display()))
        }
        Cmd::Run(a) => run_node(a),
        Cmd::Demo(a) => {
            let _guard = init_tracing("warn", None);
            crate::demo::run(a)
        }
        Cmd::Init(a) => init(a),
        Cmd::CheckConfig(a) => crate::check_config::run(a),
        Cmd::Service(a) => crate::service::main(a),
        #[cfg(unix)]
        Cmd::SlurmTask { work_dir } => return crate::exec::slurm::task_main(work_dir),
        #[cfg(not(unix))]
        Cmd::SlurmTask { .. } => Err(anyhow::anyhow!(
            "slurm-task runs only on a Slurm cluster's Unix nodes"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("droprender-node: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn man_pages_cover_every_visible_subcommand_and_no_hidden_one() {
        Cli::command().debug_assert();
        let dir = tempfile::tempdir().unwrap();
        droprender_manpages::write(Cli::command(), dir.path()).unwrap();
        let mut pages: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        pages.sort();
        for page in [
            "droprender-node.1",
            "droprender-node-run.1",
            "droprender-node-demo.1",
            "droprender-node-init.1",
            "droprender-node-completions.1",
            "droprender-node-service.1",
            "droprender-node-service-install.1",
            "droprender-node-service-status.1",
        ] {
            assert!(pages.iter().any(|p| p == page), "{page} missing: {pages:?}");
        }
        for hidden in ["manpages", "slurm-task", "help", "service-run"] {
            assert!(
                !pages.iter().any(|p| p.contains(hidden)),
                "{hidden} has a page: {pages:?}"
            );
        }
        let run = std::fs::read_to_string(dir.path().join("droprender-node-run.1")).unwrap();
        assert!(run.contains("\\-\\-poll"), "{run}");
        let footer = format!("\"droprender-node {}\"", env!("CARGO_PKG_VERSION"));
        assert!(run.contains(&footer), "{run}");
    }

    #[test]
    fn completions_name_the_node_and_its_subcommands() {
        let mut out = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut Cli::command(),
            "droprender-node",
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("droprender-node") && text.contains("service"));
    }
}
