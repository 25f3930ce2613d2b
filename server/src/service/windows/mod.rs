//! Windows: a real service, registered with the service control manager
//! (SCM) through the `windows-service` crate. The SCM starts
//! `droprender-node.exe service run --name … --config … --log-file …`,
//! which hands the thread to the SCM's dispatcher; the service main
//! registers a control handler that turns Stop and Shutdown into the node's
//! graceful stop (`Shutdown::Graceful` on the watch channel `serve` reads),
//! and reports StartPending, Running, StopPending (with wait hints and
//! checkpoints) and Stopped with an exit code.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::{DEFAULT_NAME, Plan};

/// The service's exit code (service-specific) when the node failed.
pub const EXIT_NODE_FAILED: u32 = 1;
/// The service's exit code when the config could not be read.
pub const EXIT_BAD_CONFIG: u32 = 2;

/// Restarts after a failure (the SCM's recovery actions), like systemd's
/// `Restart=on-failure`: after 10 s, then 60 s; the count resets after a day.
pub const RESTART_DELAYS_SECS: [u64; 3] = [10, 60, 60];
pub const RESET_FAILURES_AFTER_SECS: u64 = 24 * 60 * 60;

/// What the SCM passes after the program: the hidden `service run` entry.
pub fn service_arguments(name: &str, config: &Path, log_file: &Path) -> Vec<OsString> {
    vec![
        "service".into(),
        "run".into(),
        "--name".into(),
        name.into(),
        "--config".into(),
        config.as_os_str().to_os_string(),
        "--log-file".into(),
        log_file.as_os_str().to_os_string(),
    ]
}

pub fn display_name(name: &str) -> String {
    if name == DEFAULT_NAME {
        "droprender render node".into()
    } else {
        format!("droprender render node ({name})")
    }
}

/// `%ProgramData%\droprender\logs\NAME.log`: writable by services, kept
/// across reinstalls.
pub fn default_log_file(program_data: &Path, name: &str) -> PathBuf {
    PathBuf::from(format!(
        "{}\\droprender\\logs\\{name}.log",
        program_data.to_string_lossy().trim_end_matches('\\')
    ))
}

/// One argument quoted for `CommandLineToArgvW` and the MSVC runtime, as
/// `windows-service` quotes the SCM's binary path: only when it holds a
/// space, tab, newline, vertical tab or `"` (or is empty); backslashes
/// doubled only before a `"` or the closing quote.
pub fn quote_arg(s: &str) -> String {
    let needs = s.is_empty() || s.contains([' ', '\t', '\n', '\u{b}', '"']);
    if !needs {
        return s.to_string();
    }
    let mut out = String::from("\"");
    let mut slashes = 0;
    for c in s.chars() {
        match c {
            '\\' => slashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', slashes * 2 + 1));
                out.push('"');
                slashes = 0;
            }
            c => {
                out.extend(std::iter::repeat_n('\\', slashes));
                out.push(c);
                slashes = 0;
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', slashes * 2));
    out.push('"');
    out
}

/// The binary path the SCM stores: the program and its arguments, quoted.
pub fn command_line(exe: &Path, args: &[OsString]) -> String {
    let mut words = vec![quote_arg(&exe.to_string_lossy())];
    words.extend(args.iter().map(|a| quote_arg(&a.to_string_lossy())));
    words.join(" ")
}

/// Splits a command line the way `CommandLineToArgvW` does (the program
/// name: up to the next quote or blank; then backslash-quote rules), to
/// read the log file back from the SCM's binary path.
pub fn split_command_line(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = s.chars().peekable();
    // The program name: no escapes.
    let mut first = String::new();
    if chars.peek() == Some(&'"') {
        chars.next();
        for c in chars.by_ref() {
            if c == '"' {
                break;
            }
            first.push(c);
        }
    } else {
        while let Some(c) = chars.next_if(|c| !matches!(c, ' ' | '\t')) {
            first.push(c);
        }
    }
    words.push(first);
    loop {
        while chars.next_if(|c| matches!(c, ' ' | '\t')).is_some() {}
        if chars.peek().is_none() {
            return words;
        }
        let mut word = String::new();
        let mut quoted = false;
        loop {
            let mut slashes = 0;
            while chars.next_if_eq(&'\\').is_some() {
                slashes += 1;
            }
            match chars.peek().copied() {
                Some('"') => {
                    word.extend(std::iter::repeat_n('\\', slashes / 2));
                    chars.next();
                    if slashes % 2 == 1 {
                        word.push('"');
                    } else if quoted && chars.peek() == Some(&'"') {
                        // `""` inside quotes: a literal quote.
                        chars.next();
                        word.push('"');
                    } else {
                        quoted = !quoted;
                    }
                }
                Some(c) => {
                    word.extend(std::iter::repeat_n('\\', slashes));
                    if !quoted && matches!(c, ' ' | '\t') {
                        break;
                    }
                    chars.next();
                    word.push(c);
                }
                None => {
                    word.extend(std::iter::repeat_n('\\', slashes));
                    break;
                }
            }
        }
        words.push(word);
    }
}

/// The log file the SCM's binary path passes.
pub fn log_file_of(command_line: &str) -> Option<PathBuf> {
    let words = split_command_line(command_line);
    let i = words.iter().position(|w| w == "--log-file")?;
    words.get(i + 1).map(PathBuf::from)
}

/// What `install` registers, for `--dry-run`.
pub fn describe(plan: &Plan) -> String {
    let args = service_arguments(&plan.name, &plan.config, &plan.log_file);
    let delays: Vec<String> = RESTART_DELAYS_SECS
        .iter()
        .map(|s| format!("{s} s"))
        .collect();
    format!(
        "would register the Windows service {name} with the service control manager:\n  \
         display name: {display}\n  \
         binary path:  {cmd}\n  \
         start:        automatic (delayed start)\n  \
         account:      {account}\n  \
         on failure:   restart after {delays}; failure count reset after a day; also when it stops with an error code\n  \
         stop:         the node's graceful stop (wait hint {stop} s)\n\
         would create {logdir}\n\
         would start it\n",
        name = plan.name,
        display = display_name(&plan.name),
        cmd = command_line(&plan.exe, &args),
        account = plan.run_as.as_deref().unwrap_or("LocalSystem"),
        delays = delays.join(", "),
        stop = plan.stop_timeout_secs(),
        logdir = plan
            .log_file
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    )
}

/// Built-in accounts that sign in without a password.
pub fn needs_password(account: &str) -> bool {
    let a = account.to_ascii_lowercase();
    !(a == "localsystem"
        || a == r"nt authority\localservice"
        || a == r"nt authority\networkservice"
        || a == r"nt authority\system"
        || a.ends_with('$'))
}

#[cfg(windows)]
pub use scm::{dispatch, os};

#[cfg(windows)]
mod scm;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::Scope;
    use super::*;

    fn plan() -> Plan {
        Plan {
            name: "droprender-node".into(),
            scope: Scope::System,
            exe: r"C:\Program Files\droprender\droprender-node.exe".into(),
            config: r"C:\Users\Ann\AppData\Roaming\droprender\node.toml".into(),
            log_file: r"C:\ProgramData\droprender\logs\droprender-node.log".into(),
            run_as: None,
            stop_timeout: Duration::from_secs(40),
            path_env: None,
        }
    }

    #[test]
    fn the_scm_runs_the_hidden_entry_with_the_paths() {
        let p = plan();
        let args = service_arguments(&p.name, &p.config, &p.log_file);
        assert_eq!(
            args,
            [
                "service",
                "run",
                "--name",
                "droprender-node",
                "--config",
                r"C:\Users\Ann\AppData\Roaming\droprender\node.toml",
                "--log-file",
                r"C:\ProgramData\droprender\logs\droprender-node.log",
            ]
            .map(OsString::from)
        );
        assert_eq!(
            command_line(&p.exe, &args),
            r#""C:\Program Files\droprender\droprender-node.exe" service run --name droprender-node --config C:\Users\Ann\AppData\Roaming\droprender\node.toml --log-file C:\ProgramData\droprender\logs\droprender-node.log"#
        );
        assert_eq!(
            log_file_of(&command_line(&p.exe, &args)),
            Some(p.log_file.clone())
        );
    }

    #[test]
    fn the_hidden_entry_parses_what_the_scm_passes() {
        use clap::Parser as _;
        let p = plan();
        let mut argv = vec![OsString::from("droprender-node.exe")];
        argv.extend(service_arguments(&p.name, &p.config, &p.log_file));
        let cli = crate::cli::Cli::try_parse_from(argv).expect("parses");
        let crate::cli::Cmd::Service(s) = cli.cmd else {
            panic!("not service")
        };
        let super::super::ServiceCmd::Run(r) = s.cmd else {
            panic!("not run")
        };
        assert_eq!(r.name, "droprender-node");
        assert_eq!(r.config, p.config);
        assert_eq!(r.log_file, p.log_file);
    }

    #[test]
    fn arguments_are_quoted_like_the_msvc_runtime_reads_them() {
        assert_eq!(quote_arg(r"C:\plain\path"), r"C:\plain\path");
        assert_eq!(quote_arg(""), r#""""#);
        assert_eq!(quote_arg(r"C:\My Dir\"), r#""C:\My Dir\\""#);
        assert_eq!(quote_arg(r#"a "b" c"#), r#""a \"b\" c""#);
        assert_eq!(quote_arg(r#"x\" y"#), r#""x\\\" y""#);
        let words = [
            r"C:\Program Files\x.exe",
            r"C:\My Dir\",
            "",
            r#"a "quoted" word"#,
            r"back\\slashes\ in\",
            r#"tail\""#,
            "plain",
        ];
        let args: Vec<OsString> = words[1..].iter().map(OsString::from).collect();
        let line = command_line(Path::new(words[0]), &args);
        assert_eq!(split_command_line(&line), words);
    }

    #[test]
    fn dry_run_names_the_command_and_the_account() {
        let mut p = plan();
        let d = describe(&p);
        assert!(d.contains(r#"binary path:  "C:\Program Files\droprender\droprender-node.exe" service run --name droprender-node"#), "{d}");
        assert!(d.contains("account:      LocalSystem"), "{d}");
        assert!(d.contains("automatic"), "{d}");
        p.run_as = Some(r".\render".into());
        assert!(describe(&p).contains(r"account:      .\render"));
        assert!(needs_password(r".\render"));
        assert!(!needs_password(r"NT AUTHORITY\NetworkService"));
        assert_eq!(
            default_log_file(Path::new(r"C:\ProgramData"), "n"),
            PathBuf::from(r"C:\ProgramData\droprender\logs\n.log")
        );
    }
}
