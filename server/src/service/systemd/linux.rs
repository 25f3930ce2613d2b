//! systemctl calls: install, start, stop and status of the unit on Linux.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use super::super::{Cmd, Plan, Scope, TargetArgs, output_text};
use super::{log_file_of, logs_directory, unit_dir, unit_name, unit_text};

const NO_SYSTEMD: &str = "systemctl not found: this system does not use systemd; run `droprender-node run` under your init system";

/// `systemctl [--user] ARGS…`.
fn systemctl(scope: Scope, args: &[&str]) -> Cmd {
    let mut all = Vec::new();
    if scope == Scope::User {
        all.push("--user");
    }
    all.extend_from_slice(args);
    Cmd::new("systemctl", all)
}

fn user_config_dir() -> anyhow::Result<PathBuf> {
    dirs::config_dir().ok_or_else(|| anyhow::anyhow!("no home folder: set HOME"))
}

fn unit_path(scope: Scope, name: &str) -> anyhow::Result<PathBuf> {
    let dir = match scope {
        Scope::User => unit_dir(scope, &user_config_dir()?),
        Scope::System => unit_dir(scope, Path::new("/")),
    };
    Ok(dir.join(unit_name(name)))
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Why a `systemctl` run failed, and what to do.
fn failure(cmd: &Cmd, scope: Scope, out: &std::process::Output) -> anyhow::Error {
    let said = output_text(out);
    if !Path::new("/run/systemd/system").is_dir() {
        let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
        return anyhow::anyhow!(
            "systemd is not running on this machine (PID 1 is {:?}, not systemd), so there is no service manager to ask: run `droprender-node run` under the init system this machine uses (in a container: as its command)\n`{cmd}` said: {said}",
            pid1.trim()
        );
    }
    if scope == Scope::User
        && (said.contains("Failed to connect to bus")
            || said.contains("XDG_RUNTIME_DIR")
            || said.contains("DBUS_SESSION_BUS_ADDRESS"))
    {
        return anyhow::anyhow!(
            "no systemd user manager in this session (after su or sudo there is none): log in as this user directly (ssh or console), or install a system service with --system\n`{cmd}` said: {said}"
        );
    }
    if said.contains("Access denied") || said.contains("authentication required") {
        return anyhow::anyhow!("`{cmd}` needs root: run it with sudo\nsystemctl said: {said}");
    }
    anyhow::anyhow!("`{cmd}` failed ({}): {said}", out.status)
}

/// Runs a systemctl command; its output is returned on success.
fn run(cmd: &Cmd, scope: Scope) -> anyhow::Result<std::process::Output> {
    let out = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!(NO_SYSTEMD),
        _ => anyhow::anyhow!("cannot run `{cmd}`: {e}"),
    })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(failure(cmd, scope, &out))
    }
}

/// Asks the manager something harmless first, so nothing is written on
/// a machine where it cannot be used.
fn probe(scope: Scope) -> anyhow::Result<()> {
    run(&systemctl(scope, &["show", "--property=Version"]), scope).map(drop)
}

/// Under sudo, a user service would be root's, not the user's.
fn check_scope(scope: Scope) -> anyhow::Result<()> {
    if scope == Scope::User && is_root() && std::env::var_os("SUDO_USER").is_some() {
        anyhow::bail!(
            "you ran this with sudo: a user service would be root's. Run it as the render user without sudo, or pass --system (with --run-as USER)"
        );
    }
    Ok(())
}

fn echo(out: &std::process::Output) {
    let t = output_text(out);
    if !t.is_empty() {
        println!("{t}");
    }
}

pub mod os {
    use super::*;

    pub fn install(plan: &Plan, dry_run: bool) -> anyhow::Result<()> {
        let scope = plan.scope;
        let path = unit_path(scope, &plan.name)?;
        let text = unit_text(plan);
        let unit = unit_name(&plan.name);
        let steps = [
            systemctl(scope, &["daemon-reload"]),
            systemctl(scope, &["enable", &unit]),
            systemctl(scope, &["start", &unit]),
        ];
        let log_dir = plan.log_file.parent().map(Path::to_path_buf);
        let own_log_dir = scope == Scope::User || logs_directory(&plan.log_file).is_none();
        if dry_run {
            println!("would write {}:", path.display());
            print!("{text}");
            if let Some(dir) = log_dir.as_ref().filter(|_| own_log_dir) {
                match plan.run_as.as_deref().filter(|_| scope == Scope::System) {
                    Some(u) => println!("would create {} owned by {u}", dir.display()),
                    None => println!("would create {}", dir.display()),
                }
            }
            for s in &steps {
                println!("would run: {s}");
            }
            return Ok(());
        }
        check_scope(scope)?;
        if scope == Scope::System && !is_root() {
            anyhow::bail!(
                "--system writes {}: run it with sudo (as root)",
                path.display()
            );
        }
        probe(scope)?;
        if let Some(dir) = log_dir.filter(|_| own_log_dir) {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating the log folder {}", dir.display()))?;
            if scope == Scope::System
                && let Some(user) = &plan.run_as
            {
                give_to(&dir, user)?;
            }
        }
        let existed = path.exists();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "{} {}",
            if existed { "replaced" } else { "wrote" },
            path.display()
        );
        for s in &steps {
            echo(&run(s, scope)?);
        }
        println!("node log: {} (rotated daily)", plan.log_file.display());
        if existed {
            println!(
                "if it was running, it still runs the old unit: `droprender-node service stop` then `start` to use the new one"
            );
        }
        check_running(scope, &plan.name)?;
        if scope == Scope::User {
            linger_note();
        }
        Ok(())
    }

    pub fn uninstall(t: &TargetArgs) -> anyhow::Result<()> {
        let scope = t.scope()?;
        let path = unit_path(scope, &t.name)?;
        let unit = unit_name(&t.name);
        let disable = systemctl(scope, &["disable", "--now", &unit]);
        let reload = systemctl(scope, &["daemon-reload"]);
        if t.dry_run {
            println!("would run: {disable}");
            println!("would remove {}", path.display());
            println!("would run: {reload}");
            return Ok(());
        }
        check_scope(scope)?;
        if !path.exists() {
            anyhow::bail!(
                "no unit at {}: nothing to uninstall{}",
                path.display(),
                other_scope_hint(scope, &t.name)
            );
        }
        probe(scope)?;
        echo(&run(&disable, scope)?);
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        println!("removed {}", path.display());
        echo(&run(&reload, scope)?);
        Ok(())
    }

    pub fn start(t: &TargetArgs) -> anyhow::Result<()> {
        let scope = t.scope()?;
        let cmd = systemctl(scope, &["start", &unit_name(&t.name)]);
        if t.dry_run {
            println!("would run: {cmd}");
            return Ok(());
        }
        check_scope(scope)?;
        echo(&run(&cmd, scope)?);
        check_running(scope, &t.name)
    }

    pub fn stop(t: &TargetArgs) -> anyhow::Result<()> {
        let scope = t.scope()?;
        let cmd = systemctl(scope, &["stop", &unit_name(&t.name)]);
        if t.dry_run {
            println!("would run: {cmd}");
            return Ok(());
        }
        check_scope(scope)?;
        // systemctl stop waits until the node has exited (TimeoutStopSec at most).
        echo(&run(&cmd, scope)?);
        println!(
            "stopped {}: a render it was running resumes at the next start",
            t.name
        );
        Ok(())
    }

    pub fn status(t: &TargetArgs) -> anyhow::Result<()> {
        let scope = t.scope()?;
        let unit = unit_name(&t.name);
        let cmd = systemctl(scope, &["status", "--no-pager", "--lines=10", &unit]);
        if t.dry_run {
            println!("would run: {cmd}");
            return Ok(());
        }
        let path = unit_path(scope, &t.name)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                anyhow::bail!(
                    "{} is not installed (no {}): `droprender-node service install`{}",
                    t.name,
                    path.display(),
                    other_scope_hint(scope, &t.name)
                )
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        println!("unit: {}", path.display());
        if let Some(log) = log_file_of(&text) {
            println!("node log: {}.<date> (rotated daily)", log.display());
        }
        let journal = match scope {
            Scope::User => format!("journalctl --user -u {unit}"),
            Scope::System => format!("journalctl -u {unit}"),
        };
        println!("its output: {journal}");
        let out = cmd.output().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!(NO_SYSTEMD),
            _ => anyhow::anyhow!("cannot run `{cmd}`: {e}"),
        })?;
        // systemctl status: 0 running, 3 not running; more is an error.
        match out.status.code() {
            Some(0 | 3) => {
                echo(&out);
                Ok(())
            }
            _ => Err(failure(&cmd, scope, &out)),
        }
    }
}

/// A started unit can fail at once (a folder missing): say so now.
fn check_running(scope: Scope, name: &str) -> anyhow::Result<()> {
    std::thread::sleep(Duration::from_secs(2));
    let cmd = systemctl(scope, &["is-active", &unit_name(name)]);
    let out = cmd.output().with_context(|| format!("running `{cmd}`"))?;
    let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if state == "active" {
        println!("{name} is running");
        Ok(())
    } else {
        anyhow::bail!(
            "{name} did not keep running (systemd says {state:?}): see `droprender-node service status{}` and the node log",
            if scope == Scope::System {
                " --system"
            } else {
                ""
            }
        )
    }
}

fn other_scope_hint(scope: Scope, name: &str) -> String {
    let (other, flag) = match scope {
        Scope::User => (Scope::System, " --system"),
        Scope::System => (Scope::User, " --user"),
    };
    match unit_path(other, name) {
        Ok(p) if p.exists() => format!(" (there is a{flag} unit: {})", p.display()),
        _ => String::new(),
    }
}

/// The log folder of a system service belongs to the user it runs as.
fn give_to(dir: &Path, user: &str) -> anyhow::Result<()> {
    let u = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .ok_or_else(|| anyhow::anyhow!("there is no user named {user}"))?;
    nix::unistd::chown(dir, Some(u.uid), Some(u.gid))
        .with_context(|| format!("giving {} to {user}", dir.display()))
}

/// A user manager runs only while its user is logged in, unless lingering.
fn linger_note() {
    let Some(me) = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
    else {
        return;
    };
    if !Path::new("/var/lib/systemd/linger").join(&me.name).exists() {
        println!(
            "note: systemd runs user services only while {0} is logged in. To start the node at boot without a login: sudo loginctl enable-linger {0}",
            me.name
        );
    }
}
