//! macOS: a launchd agent (`~/Library/LaunchAgents`, started at login) or
//! daemon (`/Library/LaunchDaemons` with `UserName`, started at boot),
//! driven by `launchctl bootstrap/bootout/kickstart/print`.
//!
//! launchd stops a job with SIGTERM, the node's graceful stop, and kills it
//! `ExitTimeOut` seconds later.

use std::path::{Path, PathBuf};

use super::{Plan, Scope};

/// Where launchd reads jobs of this scope, given the home folder.
pub fn plist_dir(scope: Scope, home: &Path) -> PathBuf {
    match scope {
        Scope::User => home.join("Library/LaunchAgents"),
        Scope::System => PathBuf::from("/Library/LaunchDaemons"),
    }
}

pub fn plist_name(name: &str) -> String {
    format!("{name}.plist")
}

/// Text for an XML element: `&`, `<`, `>` escaped (quotes need not be in
/// text; escaped anyway for the odd reader).
pub fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`xml_text`] (and numeric references), for reading the plist back.
pub fn xml_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';') else { break };
        let entity = &rest[1..end];
        let c = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e => e
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| e.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Where the job's stdout and stderr go: early errors (a config that stopped
/// parsing) and panics; the node's own log is the rotated `--log-file`.
/// Beside the log, joined with `/` whatever OS runs this (tests run anywhere).
pub fn stdio_path(plan: &Plan) -> PathBuf {
    let log = plan.log_file.to_string_lossy();
    let dir = log.rsplit_once('/').map_or("/tmp", |(dir, _)| dir);
    PathBuf::from(format!("{dir}/{}.stderr.log", plan.name))
}

/// The plist's text.
pub fn plist_text(plan: &Plan) -> String {
    let s = |v: &str| format!("<string>{}</string>", xml_text(v));
    let mut args = vec![s(&plan.exe.to_string_lossy())];
    args.extend(plan.run_args().iter().map(|a| s(&a.to_string_lossy())));
    let stdio = s(&stdio_path(plan).to_string_lossy());
    let mut t = String::new();
    t.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    t.push_str("<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n");
    // No double hyphen may appear inside an XML comment.
    t.push_str(&format!(
        "<!--\n  droprender-node as a launchd {}, written by `droprender-node service install`\n  (`droprender-node service uninstall` removes it; install again after changing grace_secs).\n  launchd stops it with SIGTERM, the node's graceful stop: it stops taking work, stops the\n  render, records it as interrupted and exits; the next start resumes it.\n-->\n",
        if plan.scope == Scope::System { "daemon" } else { "agent" }
    ));
    t.push_str("<plist version=\"1.0\">\n<dict>\n");
    t.push_str(&format!("  <key>Label</key>\n  {}\n", s(&plan.name)));
    t.push_str("  <key>ProgramArguments</key>\n  <array>\n");
    for a in &args {
        t.push_str(&format!("    {a}\n"));
    }
    t.push_str("  </array>\n");
    if plan.scope == Scope::System
        && let Some(u) = &plan.run_as
    {
        t.push_str(&format!("  <key>UserName</key>\n  {}\n", s(u)));
    }
    t.push_str("  <key>RunAtLoad</key>\n  <true/>\n");
    t.push_str("  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n");
    t.push_str("  <key>ThrottleInterval</key>\n  <integer>10</integer>\n");
    t.push_str(&format!(
        "  <key>ExitTimeOut</key>\n  <integer>{}</integer>\n",
        plan.stop_timeout_secs()
    ));
    // Unset, launchd throttles the job's CPU and I/O: renders must not be.
    t.push_str("  <key>ProcessType</key>\n  <string>Interactive</string>\n");
    t.push_str(&format!("  <key>StandardOutPath</key>\n  {stdio}\n"));
    t.push_str(&format!("  <key>StandardErrorPath</key>\n  {stdio}\n"));
    if let Some(path) = &plan.path_env {
        t.push_str("  <key>EnvironmentVariables</key>\n  <dict>\n");
        t.push_str(&format!("    <key>PATH</key>\n    {}\n", s(path)));
        t.push_str("  </dict>\n");
    }
    t.push_str("</dict>\n</plist>\n");
    t
}

/// The log file a plist's `ProgramArguments` pass.
pub fn log_file_of(plist: &str) -> Option<PathBuf> {
    let strings: Vec<&str> = plist
        .split("<string>")
        .skip(1)
        .filter_map(|s| s.split_once("</string>").map(|(v, _)| v))
        .collect();
    let i = strings.iter().position(|s| *s == "--log-file")?;
    strings.get(i + 1).map(|s| PathBuf::from(xml_unescape(s)))
}

#[cfg(target_os = "macos")]
pub use mac::os;

#[cfg(target_os = "macos")]
mod mac {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use anyhow::Context as _;

    use super::super::{Cmd, Plan, Scope, TargetArgs, output_text};
    use super::{log_file_of, plist_dir, plist_name, plist_text, stdio_path};

    const LAUNCHCTL: &str = "/bin/launchctl";

    fn launchctl<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Cmd {
        Cmd::new(LAUNCHCTL, args.iter().map(|a| a.as_ref().to_os_string()))
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// `gui/<uid>` for an agent, `system` for a daemon.
    fn domain(scope: Scope) -> String {
        match scope {
            Scope::User => format!("gui/{}", nix::unistd::getuid()),
            Scope::System => "system".into(),
        }
    }

    fn target(scope: Scope, name: &str) -> String {
        format!("{}/{name}", domain(scope))
    }

    fn plist_path(scope: Scope, name: &str) -> anyhow::Result<PathBuf> {
        let home = dirs::home_dir().ok_or_else(|| anyhow::anyhow!("no home folder: set HOME"))?;
        Ok(plist_dir(scope, &home).join(plist_name(name)))
    }

    /// Under sudo, a user service would be root's, not the user's.
    fn check_scope(scope: Scope) -> anyhow::Result<()> {
        if scope == Scope::User && is_root() && std::env::var_os("SUDO_USER").is_some() {
            anyhow::bail!(
                "you ran this with sudo: an agent would be root's. Run it as the render user without sudo, or pass --system (with --run-as USER)"
            );
        }
        if scope == Scope::System && !is_root() {
            anyhow::bail!("--system manages /Library/LaunchDaemons: run it with sudo");
        }
        Ok(())
    }

    fn run(cmd: &Cmd, scope: Scope) -> anyhow::Result<std::process::Output> {
        let out = cmd
            .output()
            .map_err(|e| anyhow::anyhow!("cannot run `{cmd}`: {e}"))?;
        if out.status.success() {
            return Ok(out);
        }
        let said = output_text(&out);
        if scope == Scope::User
            && (said.contains("125:") || said.contains("Domain does not support"))
        {
            anyhow::bail!(
                "no GUI login session for this user (over ssh?): an agent runs in a login session. Log in on the Mac (or turn on automatic login), or install a daemon with --system\n`{cmd}` said: {said}"
            );
        }
        anyhow::bail!("`{cmd}` failed ({}): {said}", out.status)
    }

    /// Whether launchd has the job loaded.
    fn loaded(scope: Scope, name: &str) -> bool {
        launchctl(&["print", &target(scope, name)])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    fn echo(out: &std::process::Output) {
        let t = output_text(out);
        if !t.is_empty() {
            println!("{t}");
        }
    }

    fn give_to(dir: &Path, user: &str) -> anyhow::Result<()> {
        let u = nix::unistd::User::from_name(user)
            .ok()
            .flatten()
            .ok_or_else(|| anyhow::anyhow!("there is no user named {user}"))?;
        nix::unistd::chown(dir, Some(u.uid), Some(u.gid))
            .with_context(|| format!("giving {} to {user}", dir.display()))
    }

    fn check_running(scope: Scope, name: &str) -> anyhow::Result<()> {
        std::thread::sleep(Duration::from_secs(2));
        let out = launchctl(&["print", &target(scope, name)]).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && text.contains("state = running") {
            println!("{name} is running");
            Ok(())
        } else {
            anyhow::bail!(
                "{name} did not keep running: see `droprender-node service status{}` and its logs",
                if scope == Scope::System {
                    " --system"
                } else {
                    ""
                }
            )
        }
    }

    pub mod os {
        use super::*;

        pub fn install(plan: &Plan, dry_run: bool) -> anyhow::Result<()> {
            let scope = plan.scope;
            let path = plist_path(scope, &plan.name)?;
            let text = plist_text(plan);
            let tgt = target(scope, &plan.name);
            let bootout = launchctl(&["bootout", &tgt]);
            let enable = launchctl(&["enable", &tgt]);
            let bootstrap = launchctl(&[
                "bootstrap".to_string(),
                domain(scope),
                path.to_string_lossy().into_owned(),
            ]);
            let log_dir = plan.log_file.parent().map(Path::to_path_buf);
            if dry_run {
                println!("would write {}:", path.display());
                print!("{text}");
                if let Some(dir) = &log_dir {
                    println!("would create {}", dir.display());
                }
                println!("would run (if it is loaded): {bootout}");
                println!("would run: {enable}");
                println!("would run: {bootstrap}");
                return Ok(());
            }
            check_scope(scope)?;
            if let Some(dir) = &log_dir {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the log folder {}", dir.display()))?;
                if scope == Scope::System
                    && let Some(u) = &plan.run_as
                {
                    give_to(dir, u)?;
                }
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let existed = path.exists();
            std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
            println!(
                "{} {}",
                if existed { "replaced" } else { "wrote" },
                path.display()
            );
            if loaded(scope, &plan.name) {
                // launchd reads a plist when the job is bootstrapped.
                echo(&run(&bootout, scope)?);
            }
            echo(&run(&enable, scope)?);
            echo(&run(&bootstrap, scope)?);
            println!("node log: {} (rotated daily)", plan.log_file.display());
            println!("startup errors: {}", stdio_path(plan).display());
            check_running(scope, &plan.name)
        }

        pub fn uninstall(t: &TargetArgs) -> anyhow::Result<()> {
            let scope = t.scope()?;
            let path = plist_path(scope, &t.name)?;
            let bootout = launchctl(&["bootout", &target(scope, &t.name)]);
            if t.dry_run {
                println!("would run (if it is loaded): {bootout}");
                println!("would remove {}", path.display());
                return Ok(());
            }
            check_scope(scope)?;
            if !path.exists() {
                anyhow::bail!("no plist at {}: nothing to uninstall", path.display());
            }
            if loaded(scope, &t.name) {
                echo(&run(&bootout, scope)?);
            }
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            println!("removed {}", path.display());
            Ok(())
        }

        pub fn start(t: &TargetArgs) -> anyhow::Result<()> {
            let scope = t.scope()?;
            let path = plist_path(scope, &t.name)?;
            let tgt = target(scope, &t.name);
            let kickstart = launchctl(&["kickstart", &tgt]);
            let bootstrap = launchctl(&[
                "bootstrap".to_string(),
                domain(scope),
                path.to_string_lossy().into_owned(),
            ]);
            if t.dry_run {
                println!("would run (if it is not loaded): {bootstrap}");
                println!("would run (if it is loaded): {kickstart}");
                return Ok(());
            }
            check_scope(scope)?;
            if !path.exists() {
                anyhow::bail!(
                    "{} is not installed (no {}): `droprender-node service install`",
                    t.name,
                    path.display()
                );
            }
            if loaded(scope, &t.name) {
                echo(&run(&kickstart, scope)?);
            } else {
                echo(&run(&bootstrap, scope)?);
            }
            check_running(scope, &t.name)
        }

        pub fn stop(t: &TargetArgs) -> anyhow::Result<()> {
            let scope = t.scope()?;
            let bootout = launchctl(&["bootout", &target(scope, &t.name)]);
            if t.dry_run {
                println!("would run: {bootout}");
                return Ok(());
            }
            check_scope(scope)?;
            if !loaded(scope, &t.name) {
                println!("{} is not loaded: nothing to stop", t.name);
                return Ok(());
            }
            // bootout: SIGTERM, then SIGKILL after ExitTimeOut. The job stays
            // installed and loads again at the next login (agent) or boot (daemon).
            echo(&run(&bootout, scope)?);
            println!(
                "stopped {}: a render it was running resumes at the next start",
                t.name
            );
            Ok(())
        }

        pub fn status(t: &TargetArgs) -> anyhow::Result<()> {
            let scope = t.scope()?;
            let print = launchctl(&["print", &target(scope, &t.name)]);
            if t.dry_run {
                println!("would run: {print}");
                return Ok(());
            }
            let path = plist_path(scope, &t.name)?;
            let text = std::fs::read_to_string(&path).map_err(|e| {
                anyhow::anyhow!(
                    "{} is not installed ({}: {e}): `droprender-node service install`",
                    t.name,
                    path.display()
                )
            })?;
            println!("plist: {}", path.display());
            if let Some(log) = log_file_of(&text) {
                println!("node log: {}.<date> (rotated daily)", log.display());
            }
            let out = print.output()?;
            if out.status.success() {
                let text = String::from_utf8_lossy(&out.stdout);
                for line in text.lines().filter(|l| {
                    let l = l.trim_start();
                    ["state =", "pid =", "last exit code =", "runs =", "path ="]
                        .iter()
                        .any(|k| l.starts_with(k))
                }) {
                    println!("{}", line.trim());
                }
            } else {
                println!(
                    "not loaded: stopped (`droprender-node service start` loads and starts it)"
                );
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn plan(scope: Scope) -> Plan {
        Plan {
            name: "droprender-node".into(),
            scope,
            exe: "/Applications/Drop & Render/droprender-node".into(),
            config: "/Users/ann/Library/Application Support/droprender/<node>.toml".into(),
            log_file: "/Users/ann/Library/Logs/droprender/droprender-node.log".into(),
            run_as: Some("ann".into()),
            stop_timeout: Duration::from_secs(40),
            path_env: Some("/opt/homebrew/bin:/usr/bin:/bin".into()),
        }
    }

    #[test]
    fn plist_escapes_and_lists_the_arguments() {
        let t = plist_text(&plan(Scope::User));
        assert!(
            t.contains(
                "    <string>/Applications/Drop &amp; Render/droprender-node</string>\n    <string>run</string>\n    <string>--config</string>\n    <string>/Users/ann/Library/Application Support/droprender/&lt;node&gt;.toml</string>\n    <string>--log-file</string>\n    <string>/Users/ann/Library/Logs/droprender/droprender-node.log</string>\n  </array>"
            ),
            "{t}"
        );
        assert!(t.contains("<key>Label</key>\n  <string>droprender-node</string>"));
        assert!(t.contains("<key>RunAtLoad</key>\n  <true/>"));
        assert!(t.contains(
            "<key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>"
        ));
        assert!(t.contains("<key>ExitTimeOut</key>\n  <integer>40</integer>"));
        assert!(t.contains(
            "<key>StandardErrorPath</key>\n  <string>/Users/ann/Library/Logs/droprender/droprender-node.stderr.log</string>"
        ));
        assert!(
            t.contains("<key>PATH</key>\n    <string>/opt/homebrew/bin:/usr/bin:/bin</string>")
        );
        assert!(!t.contains("UserName"), "an agent runs as its user: {t}");
        // A comment must not hold "--" (only the opening and closing marks).
        let comment = t.split("<!--").nth(1).unwrap().split("-->").next().unwrap();
        assert!(!comment.contains("--"), "{comment}");
        assert_eq!(log_file_of(&t), Some(plan(Scope::User).log_file));
    }

    #[test]
    fn daemon_names_its_user() {
        let t = plist_text(&plan(Scope::System));
        assert!(
            t.contains("<key>UserName</key>\n  <string>ann</string>"),
            "{t}"
        );
        assert_eq!(
            plist_dir(Scope::System, Path::new("/Users/ann")),
            PathBuf::from("/Library/LaunchDaemons")
        );
        assert_eq!(
            plist_dir(Scope::User, Path::new("/Users/ann")),
            PathBuf::from("/Users/ann/Library/LaunchAgents")
        );
    }

    #[test]
    fn xml_round_trips() {
        for s in ["a & b <c> \"d\" 'e'", "&amp;", "plain", "&", "&#x41;"] {
            assert_eq!(xml_unescape(&xml_text(s)), s);
        }
        assert_eq!(xml_unescape("&#x41;&#66;&bogus;"), "AB&bogus;");
    }

    /// examples/service/droprender-node.plist is this code's output.
    #[test]
    fn the_example_plist_is_generated() {
        let p = Plan {
            name: "droprender-node".into(),
            scope: Scope::User,
            exe: "/usr/local/bin/droprender-node".into(),
            config: "/Users/render/Library/Application Support/droprender/node.toml".into(),
            log_file: "/Users/render/Library/Logs/droprender/droprender-node.log".into(),
            run_as: None,
            stop_timeout: super::super::stop_timeout(Duration::from_secs(10)),
            path_env: Some("/opt/homebrew/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into()),
        };
        super::super::tests::check_example("droprender-node.plist", &plist_text(&p));
    }
}
