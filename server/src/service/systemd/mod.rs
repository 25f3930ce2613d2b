//! Linux: a systemd unit, user (`~/.config/systemd/user`) or system
//! (`/etc/systemd/system`, with `User=`), driven by `systemctl`.
//!
//! Stopping the unit sends SIGTERM to the node alone (`KillMode=mixed`),
//! which is the node's graceful stop; `TimeoutStopSec` leaves it the grace
//! period and a margin before systemd kills what is left.

use std::path::{Path, PathBuf};

use super::{Plan, Scope};

/// Where systemd reads units of this scope, given the user's config dir
/// (`$XDG_CONFIG_HOME`, else `~/.config`).
pub fn unit_dir(scope: Scope, user_config_dir: &Path) -> PathBuf {
    match scope {
        Scope::User => user_config_dir.join("systemd").join("user"),
        Scope::System => PathBuf::from("/etc/systemd/system"),
    }
}

pub fn unit_name(name: &str) -> String {
    format!("{name}.service")
}

/// One word of an `ExecStart=` line: `%` specifiers and `$` variables
/// escaped by doubling, C escapes for `\` and `"`, and double quotes
/// around anything systemd would split or unquote.
pub fn exec_word(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    let mut quote = s.is_empty();
    for c in s.chars() {
        match c {
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            '\\' => {
                out.push_str(r"\\");
                quote = true;
            }
            '"' => {
                out.push_str("\\\"");
                quote = true;
            }
            '\n' => {
                out.push_str(r"\n");
                quote = true;
            }
            '\t' => {
                out.push_str(r"\t");
                quote = true;
            }
            '\'' | ';' => {
                out.push(c);
                quote = true;
            }
            c if c.is_whitespace() => {
                out.push(c);
                quote = true;
            }
            c => out.push(c),
        }
    }
    if quote { format!("\"{out}\"") } else { out }
}

/// Splits an `ExecStart=` value the way systemd does for what
/// [`exec_word`] writes (quotes, C escapes, `%%`, `$$`): `status` reads
/// the log file back from the unit with it.
pub fn split_exec(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return words;
        };
        let mut word = String::new();
        let quote = matches!(first, '"' | '\'').then(|| {
            chars.next();
            first
        });
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => word.push('\n'),
                    Some('t') => word.push('\t'),
                    Some(o) => word.push(o),
                    None => {}
                },
                '%' | '$' if chars.peek() == Some(&c) => {
                    chars.next();
                    word.push(c);
                }
                c if Some(c) == quote => break,
                c if quote.is_none() && c.is_whitespace() => break,
                c => word.push(c),
            }
        }
        words.push(word);
    }
}

/// `LogsDirectory=` for a log file under /var/log: systemd creates the
/// folder and gives it to `User=`.
pub fn logs_directory(log_file: &Path) -> Option<String> {
    let rel = log_file.parent()?.strip_prefix("/var/log").ok()?;
    let s = rel.to_str()?;
    let plain = !s.is_empty()
        && s.split('/').all(|part| {
            !part.is_empty()
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        });
    plain.then(|| s.to_string())
}

/// The unit file's text.
pub fn unit_text(plan: &Plan) -> String {
    let mut exec = vec![exec_word(&plan.exe.to_string_lossy())];
    exec.extend(
        plan.run_args()
            .iter()
            .map(|a| exec_word(&a.to_string_lossy())),
    );
    let system = plan.scope == Scope::System;
    let mut t = String::new();
    t.push_str(&format!(
        "# droprender-node as a systemd {} service, written by `droprender-node service install`\n",
        if system { "system" } else { "user" }
    ));
    t.push_str("# (`droprender-node service uninstall` removes it; install again after changing grace_secs).\n");
    t.push_str(
        "# Stopping it sends SIGTERM, the node's graceful stop: it stops taking work, stops the\n",
    );
    t.push_str(
        "# render (grace period, then kill), records it as interrupted and exits; the next\n",
    );
    t.push_str("# start resumes it from its first missing frame.\n");
    t.push_str("[Unit]\n");
    t.push_str(&format!(
        "Description=droprender render node ({})\n",
        plan.name.replace('%', "%%")
    ));
    if system {
        t.push_str("After=network-online.target\nWants=network-online.target\n");
    }
    t.push_str("\n[Service]\nType=simple\n");
    if let Some(user) = plan.run_as.as_deref().filter(|_| system) {
        t.push_str(&format!(
            "# The user that owns the synced folder and may run the renderer.\nUser={user}\n"
        ));
    }
    t.push_str(&format!("ExecStart={}\n", exec.join(" ")));
    t.push_str("WorkingDirectory=~\n");
    t.push_str("KillSignal=SIGTERM\n");
    t.push_str(
        "# SIGTERM to the node only: it stops the renderer itself. Whatever is left after\n",
    );
    t.push_str("# TimeoutStopSec (the node's grace period and a margin) gets SIGKILL.\n");
    t.push_str("KillMode=mixed\n");
    t.push_str(&format!("TimeoutStopSec={}\n", plan.stop_timeout_secs()));
    t.push_str("Restart=on-failure\nRestartSec=10\n");
    if system && let Some(dir) = logs_directory(&plan.log_file) {
        t.push_str(&format!("LogsDirectory={dir}\n"));
    }
    t.push_str(&format!(
        "\n[Install]\nWantedBy={}\n",
        if system {
            "multi-user.target"
        } else {
            "default.target"
        }
    ));
    t
}

/// The log file a unit's `ExecStart=` passes.
pub fn log_file_of(unit: &str) -> Option<PathBuf> {
    let line = unit.lines().find_map(|l| l.strip_prefix("ExecStart="))?;
    let words = split_exec(line);
    let i = words.iter().position(|w| w == "--log-file")?;
    words.get(i + 1).map(PathBuf::from)
}

#[cfg(target_os = "linux")]
pub use linux::os;

#[cfg(target_os = "linux")]
mod linux;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn plan(scope: Scope) -> Plan {
        Plan {
            name: "droprender-node".into(),
            scope,
            exe: "/opt/drop render/bin/droprender-node".into(),
            config: "/home/ann/My Config/node 100%.toml".into(),
            log_file: "/var/log/droprender/droprender-node.log".into(),
            run_as: Some("ann".into()),
            stop_timeout: Duration::from_secs(40),
            path_env: None,
        }
    }

    #[test]
    fn words_are_quoted_and_escaped() {
        assert_eq!(exec_word("/usr/bin/x"), "/usr/bin/x");
        assert_eq!(exec_word("a b"), "\"a b\"");
        assert_eq!(exec_word(""), "\"\"");
        assert_eq!(exec_word("100%"), "100%%");
        assert_eq!(exec_word("$HOME"), "$$HOME");
        assert_eq!(exec_word(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(exec_word(r"a\b"), r#""a\\b""#);
        assert_eq!(exec_word(";"), "\";\"");
        assert_eq!(exec_word("it's"), "\"it's\"");
    }

    #[test]
    fn split_reads_back_what_exec_word_writes() {
        let words = [
            "/opt/drop render/x",
            "",
            "100% ${X} $Y",
            r#"q"uo'te"#,
            r"back\slash\",
            ";",
            "tab\there",
            "plain",
        ];
        let line: Vec<String> = words.iter().map(|w| exec_word(w)).collect();
        assert_eq!(split_exec(&line.join(" ")), words);
    }

    #[test]
    fn system_unit_runs_the_node_as_the_user_with_the_paths() {
        let t = unit_text(&plan(Scope::System));
        assert!(t.contains("\nUser=ann\n"), "{t}");
        assert!(
            t.contains(
                "\nExecStart=\"/opt/drop render/bin/droprender-node\" run --config \"/home/ann/My Config/node 100%%.toml\" --log-file /var/log/droprender/droprender-node.log\n"
            ),
            "{t}"
        );
        assert!(t.contains("\nKillSignal=SIGTERM\n"));
        assert!(t.contains("\nKillMode=mixed\n"));
        assert!(t.contains("\nRestart=on-failure\n"));
        assert!(t.contains("\nTimeoutStopSec=40\n"));
        assert!(t.contains("\nLogsDirectory=droprender\n"));
        assert!(t.contains("\nWantedBy=multi-user.target\n"));
        assert!(t.contains("\nAfter=network-online.target\n"));
        assert_eq!(
            log_file_of(&t),
            Some(PathBuf::from("/var/log/droprender/droprender-node.log"))
        );
    }

    #[test]
    fn user_unit_has_no_user_and_wants_default_target() {
        let mut p = plan(Scope::User);
        p.log_file = "/home/ann/.local/state/droprender/droprender-node.log".into();
        let t = unit_text(&p);
        assert!(!t.contains("User="), "{t}");
        assert!(!t.contains("LogsDirectory="), "{t}");
        assert!(!t.contains("network-online"), "{t}");
        assert!(t.contains("\nWantedBy=default.target\n"), "{t}");
        assert_eq!(log_file_of(&t), Some(p.log_file.clone()));
        assert_eq!(
            unit_dir(Scope::User, Path::new("/home/ann/.config")),
            PathBuf::from("/home/ann/.config/systemd/user")
        );
    }

    #[test]
    fn logs_directory_only_for_plain_folders_under_var_log() {
        assert_eq!(
            logs_directory(Path::new("/var/log/droprender/n.log")).as_deref(),
            Some("droprender")
        );
        assert_eq!(
            logs_directory(Path::new("/var/log/a/b/n.log")).as_deref(),
            Some("a/b")
        );
        assert_eq!(logs_directory(Path::new("/var/log/n.log")), None);
        assert_eq!(logs_directory(Path::new("/var/log/a b/n.log")), None);
        assert_eq!(logs_directory(Path::new("/srv/log/n.log")), None);
    }

    /// examples/service/droprender-node.service is this code's output.
    #[test]
    fn the_example_unit_is_generated() {
        let p = Plan {
            name: "droprender-node".into(),
            scope: Scope::System,
            exe: "/usr/local/bin/droprender-node".into(),
            config: "/home/render/.config/droprender/node.toml".into(),
            log_file: "/var/log/droprender/droprender-node.log".into(),
            run_as: Some("render".into()),
            stop_timeout: super::super::stop_timeout(Duration::from_secs(10)),
            path_env: None,
        };
        super::super::tests::check_example("droprender-node.service", &unit_text(&p));
    }
}
