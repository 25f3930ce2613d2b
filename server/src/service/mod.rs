//! `droprender-node service install|uninstall|start|stop|status`: the node
//! as the OS's own service, so a render box runs it unattended.
//!
//! This module is the command line and the shared [`Plan`] (what the service
//! runs: this program, `run --config … --log-file …`, as whom, how long a
//! stop may take). Each OS has a small module: [`systemd`] (Linux),
//! [`launchd`] (macOS) and [`windows`] (the service control manager). The
//! unit, plist and argument list are pure functions compiled everywhere, so
//! they are tested on any machine; what touches the service manager is
//! behind `cfg`. No shell is ever used: programs are run with their
//! arguments as a list.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::config::{Config, Overrides};

pub mod launchd;
pub mod systemd;
pub mod windows;

/// The default service name (`--name`).
pub const DEFAULT_NAME: &str = "droprender-node";

/// How much longer than the node's grace period a stop may take before the
/// service manager kills it: the node stops the render (up to the grace
/// period), records it as interrupted and flushes status and logs.
pub const STOP_MARGIN: Duration = Duration::from_secs(30);

#[derive(Args, Debug)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub cmd: ServiceCmd,
}

#[derive(Subcommand, Debug)]
pub enum ServiceCmd {
    /// Install the node as a service that starts at boot (or login) and
    /// restarts after a failure, then start it.
    Install(InstallArgs),
    /// Stop the service and remove it.
    Uninstall(TargetArgs),
    /// Start the installed service.
    Start(TargetArgs),
    /// Stop the service gracefully: the render stops and resumes at the next start.
    Stop(TargetArgs),
    /// Show whether the service runs, and where it logs.
    Status(TargetArgs),
    /// The Windows service's entry point: the service control manager runs it.
    #[command(hide = true)]
    Run(ServiceRunArgs),
}

/// Which service: its name and, where the OS has both, user or system.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// The service's name (systemd unit, launchd label, Windows service name).
    #[arg(long, default_value = DEFAULT_NAME, value_parser = parse_name)]
    pub name: String,
    /// A service of your own user (systemd --user, a launchd agent): the
    /// default on Linux and macOS.
    #[arg(long, conflicts_with = "system")]
    pub user: bool,
    /// A system service (/etc/systemd/system, /Library/LaunchDaemons),
    /// started at boot without a login: needs root.
    #[arg(long)]
    pub system: bool,
    /// Print what would be written and run; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The node's config (default: the user config dir's droprender/node.toml).
    /// It must exist and be valid: `droprender-node init` writes one.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The node's log file, rotated daily (default: the config's `log_file`,
    /// else a per-OS log folder; `service status` says where).
    #[arg(long)]
    pub log_file: Option<PathBuf>,
    /// The account the service runs as. Linux and macOS: with --system (default:
    /// the user who ran sudo). Windows: default LocalSystem; for an account such
    /// as .\render put its password in DROPRENDER_SERVICE_PASSWORD.
    #[arg(long, value_name = "USER")]
    pub run_as: Option<String>,
}

/// `service run` (Windows): what the service control manager starts.
#[derive(Args, Debug, Clone)]
pub struct ServiceRunArgs {
    #[arg(long, default_value = DEFAULT_NAME, value_parser = parse_name)]
    pub name: String,
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub log_file: PathBuf,
}

/// User or system service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    User,
    System,
}

impl TargetArgs {
    /// The scope asked for; Windows services are always machine-wide.
    pub fn scope(&self) -> anyhow::Result<Scope> {
        if cfg!(windows) {
            if self.user {
                anyhow::bail!(
                    "Windows services are machine-wide: drop --user (pass --run-as ACCOUNT at install to run it as your user)"
                );
            }
            return Ok(Scope::System);
        }
        Ok(if self.system {
            Scope::System
        } else {
            Scope::User
        })
    }
}

/// Service names go into file names, unit names, labels and the SCM: plain
/// characters only.
pub fn parse_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 80
        && !s.starts_with(['-', '.'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a usable service name: use letters, digits, '-', '_' and '.' (not first)"
        ))
    }
}

/// Everything a service definition needs, settled and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub name: String,
    pub scope: Scope,
    /// This program, absolute.
    pub exe: PathBuf,
    /// The node's config, absolute.
    pub config: PathBuf,
    /// The node's log file, absolute.
    pub log_file: PathBuf,
    /// The account a system service runs as (None: the manager's default).
    pub run_as: Option<String>,
    /// How long a stop may take before the manager kills the node.
    pub stop_timeout: Duration,
    /// PATH for the node, where the service manager's own is too bare (launchd).
    pub path_env: Option<String>,
}

impl Plan {
    /// The node's arguments after the program: `run --config … --log-file …`.
    pub fn run_args(&self) -> Vec<OsString> {
        vec![
            "run".into(),
            "--config".into(),
            self.config.clone().into_os_string(),
            "--log-file".into(),
            self.log_file.clone().into_os_string(),
        ]
    }

    /// Whole seconds of [`Plan::stop_timeout`], rounded up.
    pub fn stop_timeout_secs(&self) -> u64 {
        self.stop_timeout.as_secs() + u64::from(self.stop_timeout.subsec_nanos() > 0)
    }
}

/// The stop timeout for a node with this grace period.
pub fn stop_timeout(grace: Duration) -> Duration {
    grace + STOP_MARGIN
}

/// A program run with its arguments, never through a shell. Displayed
/// quoted the POSIX way, so a dry run can be copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    pub program: String,
    pub args: Vec<OsString>,
}

impl Cmd {
    pub fn new<I, S>(program: &str, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Cmd {
            program: program.to_string(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// Runs it, output captured. `Err` only when it could not be started.
    pub fn output(&self) -> std::io::Result<std::process::Output> {
        std::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(std::process::Stdio::null())
            .output()
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&sh_quote(OsStr::new(&self.program)))?;
        for a in &self.args {
            write!(f, " {}", sh_quote(a))?;
        }
        Ok(())
    }
}

/// POSIX-shell quoting, for display only.
pub fn sh_quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | ',' | '+')
        });
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Text of a finished command's output, for messages.
pub fn output_text(out: &std::process::Output) -> String {
    let mut t = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.trim().is_empty() {
        if !t.is_empty() {
            t.push('\n');
        }
        t.push_str(stdout.trim());
    }
    t
}

/// Where the config is when `--config` is not given. A system service run
/// by root through sudo reads the config of the user it runs as.
fn default_config(run_as_other: Option<&Path>) -> Option<PathBuf> {
    match run_as_other {
        #[cfg(target_os = "macos")]
        Some(home) => Some(home.join("Library/Application Support/droprender/node.toml")),
        #[cfg(not(target_os = "macos"))]
        Some(home) => Some(home.join(".config/droprender/node.toml")),
        None => crate::config::default_config_path(),
    }
}

/// Absolute, without Windows' `\\?\` prefix; the file need not exist.
fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    let abs = std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))?;
    Ok(dunce::simplified(&abs).to_path_buf())
}

fn utf8(what: &str, p: &Path) -> anyhow::Result<()> {
    if p.to_str().is_none() {
        anyhow::bail!(
            "the {what} path {} is not valid UTF-8, which service files cannot hold: move it",
            p.display()
        );
    }
    if p.to_string_lossy().chars().any(char::is_control) {
        anyhow::bail!(
            "the {what} path {:?} holds a control character: move it",
            p.display()
        );
    }
    Ok(())
}

/// The account a system service runs as, and its home when it is not the
/// account running `install` (the config then defaults to that user's).
#[cfg(unix)]
fn unix_run_as(
    args: &InstallArgs,
    scope: Scope,
) -> anyhow::Result<(Option<String>, Option<PathBuf>)> {
    use nix::unistd::{Uid, User};
    if scope == Scope::User {
        if let Some(u) = &args.run_as {
            anyhow::bail!(
                "--run-as {u} goes with --system: a user service always runs as the user who installs it"
            );
        }
        return Ok((None, None));
    }
    let me = User::from_uid(Uid::current()).ok().flatten();
    let name = match &args.run_as {
        Some(u) => u.clone(),
        None => match std::env::var("SUDO_USER")
            .ok()
            .filter(|u| !u.is_empty() && u != "root")
        {
            Some(u) => u,
            None => match &me {
                Some(m) if !m.uid.is_root() => m.name.clone(),
                _ => anyhow::bail!(
                    "--system would run the node as root: pass --run-as USER, the user that owns the synced folder and may run the renderer"
                ),
            },
        },
    };
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.is_empty()
    {
        anyhow::bail!("--run-as {name:?} is not a user name");
    }
    let user = User::from_name(&name)
        .with_context(|| format!("looking up the user {name}"))?
        .ok_or_else(|| {
            anyhow::anyhow!("there is no user named {name} on this system: pass --run-as USER")
        })?;
    let other_home = match &me {
        Some(m) if m.uid == user.uid => None,
        _ => Some(user.dir.clone()),
    };
    Ok((Some(name), other_home))
}

/// Settles what `install` will write: checks the config parses as `run`
/// would read it and makes every path absolute.
pub fn plan(args: &InstallArgs) -> anyhow::Result<(Plan, Vec<String>)> {
    let name = args.target.name.clone();
    let scope = args.target.scope()?;
    #[cfg(unix)]
    let (run_as, other_home) = unix_run_as(args, scope)?;
    #[cfg(not(unix))]
    let (run_as, other_home): (Option<String>, Option<PathBuf>) = (args.run_as.clone(), None);

    let config = match &args.config {
        Some(p) => p.clone(),
        None => default_config(other_home.as_deref()).ok_or_else(|| {
            anyhow::anyhow!("no user config dir on this system: pass --config PATH")
        })?,
    };
    if !config.is_file() {
        let init = if Some(&config) == crate::config::default_config_path().as_ref() {
            "droprender-node init".to_string()
        } else {
            format!(
                "droprender-node init --path {}",
                sh_quote(config.as_os_str())
            )
        };
        anyhow::bail!(
            "no config at {}: write one with `{init}` (then set folder, projects and output in it), or pass --config PATH",
            config.display()
        );
    }
    let config =
        dunce::canonicalize(&config).with_context(|| format!("resolving {}", config.display()))?;
    let cfg = Config::resolve(
        Some(&config),
        Overrides {
            log_file: args.log_file.clone(),
            ..Overrides::default()
        },
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}\nthe service would fail to start with this config: fix it (`droprender-node run --config {}` shows the same), or start again with `droprender-node init --force`",
            sh_quote(config.as_os_str())
        )
    })?;
    let log_file = match cfg.log_file.clone() {
        Some(p) => p,
        None => default_log_file(scope, &name, other_home.as_deref())?,
    };
    let log_file = absolute(&log_file)?;
    let exe = std::env::current_exe().context("finding this program's path")?;
    let exe = dunce::canonicalize(&exe).unwrap_or(exe);
    for (what, p) in [
        ("program", &exe),
        ("config", &config),
        ("log file", &log_file),
    ] {
        utf8(what, p)?;
    }

    let mut warnings = Vec::new();
    let relative = [
        ("folder", cfg.folder.local()),
        ("projects", Some(cfg.projects.as_path())),
        ("output", Some(cfg.output.as_path())),
        ("state", Some(cfg.state.as_path())),
    ];
    for (key, p) in relative {
        if let Some(p) = p.filter(|p| p.is_relative()) {
            warnings.push(format!(
                "{key} = {} in {} is relative: a service does not start in your shell's folder; make it absolute",
                p.display(),
                config.display()
            ));
        }
    }
    if let Some(dir) = cfg
        .folder
        .local()
        .filter(|d| d.is_absolute() && !d.is_dir())
    {
        warnings.push(format!(
            "the folder {} does not exist (yet): the service fails until it does",
            dir.display()
        ));
    }
    let path_env = if cfg!(target_os = "macos") {
        std::env::var("PATH").ok().filter(|p| !p.is_empty())
    } else {
        None
    };
    Ok((
        Plan {
            name,
            scope,
            exe,
            config,
            log_file,
            run_as,
            stop_timeout: stop_timeout(cfg.grace),
            path_env,
        },
        warnings,
    ))
}

/// The log file when neither `--log-file` nor the config names one.
fn default_log_file(
    scope: Scope,
    name: &str,
    other_home: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    let file = format!("{name}.log");
    let home = || {
        other_home
            .map(Path::to_path_buf)
            .or_else(dirs::home_dir)
            .ok_or_else(|| anyhow::anyhow!("no home folder: pass --log-file PATH"))
    };
    if cfg!(windows) {
        let base = std::env::var_os("ProgramData")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
        return Ok(windows::default_log_file(&base, name));
    }
    if cfg!(target_os = "macos") {
        return Ok(match scope {
            Scope::System => PathBuf::from("/Library/Logs/droprender").join(file),
            Scope::User => home()?.join("Library/Logs/droprender").join(file),
        });
    }
    Ok(match scope {
        Scope::System => PathBuf::from("/var/log/droprender").join(file),
        Scope::User => {
            let state = match other_home {
                Some(h) => h.join(".local/state"),
                None => dirs::state_dir()
                    .or_else(dirs::data_local_dir)
                    .ok_or_else(|| anyhow::anyhow!("no state folder: pass --log-file PATH"))?,
            };
            state.join("droprender").join(file)
        }
    })
}

/// `droprender-node service …`.
pub fn main(args: &ServiceArgs) -> anyhow::Result<()> {
    match &args.cmd {
        ServiceCmd::Install(a) => {
            let (plan, warnings) = plan(a)?;
            for w in &warnings {
                eprintln!("droprender-node: warning: {w}");
            }
            os::install(&plan, a.target.dry_run)
        }
        ServiceCmd::Uninstall(t) => os::uninstall(t),
        ServiceCmd::Start(t) => os::start(t),
        ServiceCmd::Stop(t) => os::stop(t),
        ServiceCmd::Status(t) => os::status(t),
        ServiceCmd::Run(r) => run(r),
    }
}

#[cfg(windows)]
fn run(r: &ServiceRunArgs) -> anyhow::Result<()> {
    windows::dispatch(r)
}

#[cfg(not(windows))]
fn run(_: &ServiceRunArgs) -> anyhow::Result<()> {
    anyhow::bail!(
        "`service run` is the Windows service's entry point; here run the node with `droprender-node run`, or install it with `droprender-node service install`"
    )
}

#[cfg(target_os = "linux")]
use systemd::os;

#[cfg(target_os = "macos")]
use launchd::os;

#[cfg(windows)]
use windows::os;

/// Elsewhere (BSDs…): no service manager support yet.
#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod os {
    use super::{Plan, TargetArgs};

    const NONE: &str = "droprender-node has no service support on this OS yet: run `droprender-node run` under your init system (rc.d, supervisord…)";

    pub fn install(_: &Plan, _: bool) -> anyhow::Result<()> {
        anyhow::bail!(NONE)
    }
    pub fn uninstall(_: &TargetArgs) -> anyhow::Result<()> {
        anyhow::bail!(NONE)
    }
    pub fn start(_: &TargetArgs) -> anyhow::Result<()> {
        anyhow::bail!(NONE)
    }
    pub fn stop(_: &TargetArgs) -> anyhow::Result<()> {
        anyhow::bail!(NONE)
    }
    pub fn status(_: &TargetArgs) -> anyhow::Result<()> {
        anyhow::bail!(NONE)
    }
}

#[cfg(test)]
pub(crate) mod tests;
