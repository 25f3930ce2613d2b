//! `droprender-node service …` on Linux, end to end with the real binary:
//! the dry run prints the unit it would write; commands that need systemd
//! fail with a message that says what to do when there is none; and the
//! whole install/uninstall runs against a stand-in `systemctl` that
//! records its arguments (no systemd is needed, nothing outside a scratch
//! home is touched).

// Linux (Unix): systemd and launchd units, shell scripts; server/tests/portable runs on Windows too.
#![cfg(unix)]
#![cfg(target_os = "linux")]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXE: &str = env!("CARGO_BIN_EXE_droprender-node");

/// A scratch home with a valid config in a folder whose name has spaces.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = Home { dir };
        std::fs::create_dir_all(h.path().join("sync")).unwrap();
        std::fs::create_dir_all(h.config().parent().unwrap()).unwrap();
        std::fs::write(
            h.config(),
            format!(
                "folder = {:?}\nprojects = \"/srv/projects\"\noutput = \"/srv/out\"\ngrace_secs = 25\n",
                h.path().join("sync")
            ),
        )
        .unwrap();
        h
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.path().join("My Configs/node 1.toml")
    }

    /// The node with this home: HOME and the XDG dirs point into it.
    fn node(&self, args: &[&str]) -> Command {
        let mut c = Command::new(EXE);
        c.args(args)
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join(".config"))
            .env("XDG_STATE_HOME", self.path().join(".local/state"))
            .env("XDG_DATA_HOME", self.path().join(".local/share"))
            .env_remove("SUDO_USER")
            .env_remove("RUST_LOG");
        c
    }
}

fn run(mut c: Command) -> (Output, String, String) {
    let out = c.output().expect("run droprender-node");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn exe() -> String {
    std::fs::canonicalize(EXE)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn dry_run_prints_the_user_unit_with_quoted_paths() {
    let h = Home::new();
    let log = h.path().join("log dir/node 100%.log");
    let config = h.config();
    let (out, stdout, stderr) = run(h.node(&[
        "service",
        "install",
        "--dry-run",
        "--config",
        config.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let unit_path = h
        .path()
        .join(".config/systemd/user/droprender-node.service");
    assert!(
        stdout.contains(&format!("would write {}:\n", unit_path.display())),
        "{stdout}"
    );
    let exec = format!(
        "\nExecStart={} run --config \"{}\" --log-file \"{}\"\n",
        exe(),
        config.display(),
        h.path().join("log dir/node 100%%.log").display()
    );
    assert!(stdout.contains(&exec), "expected {exec}\nin:\n{stdout}");
    for line in [
        "\nKillSignal=SIGTERM\n",
        "\nRestart=on-failure\n",
        // grace_secs = 25 in the config, plus the margin.
        "\nTimeoutStopSec=55\n",
        "\nWantedBy=default.target\n",
        "\nwould run: systemctl --user daemon-reload\n",
        "\nwould run: systemctl --user enable droprender-node.service\n",
        "\nwould run: systemctl --user start droprender-node.service\n",
    ] {
        assert!(stdout.contains(line), "no {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("User="), "{stdout}");
    assert!(!unit_path.exists(), "a dry run writes nothing");
    assert!(!log.parent().unwrap().exists(), "a dry run creates nothing");
}

#[test]
fn dry_run_defaults_the_config_and_log_and_takes_a_name() {
    let h = Home::new();
    let default = h.path().join(".config/droprender/node.toml");
    std::fs::create_dir_all(default.parent().unwrap()).unwrap();
    std::fs::copy(h.config(), &default).unwrap();
    let (out, stdout, stderr) =
        run(h.node(&["service", "install", "--dry-run", "--name", "node-b"]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("systemd/user/node-b.service:"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            " run --config {} --log-file {}\n",
            default.display(),
            h.path()
                .join(".local/state/droprender/node-b.log")
                .display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("would run: systemctl --user start node-b.service"));
}

#[test]
fn dry_run_system_unit_runs_as_the_user() {
    let h = Home::new();
    let config = h.config();
    let (out, stdout, stderr) = run(h.node(&[
        "service",
        "install",
        "--system",
        "--run-as",
        "root",
        "--dry-run",
        "--config",
        config.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for part in [
        "would write /etc/systemd/system/droprender-node.service:\n",
        "\nUser=root\n",
        "--log-file /var/log/droprender/droprender-node.log\n",
        "\nLogsDirectory=droprender\n",
        "\nWantedBy=multi-user.target\n",
        "\nwould run: systemctl daemon-reload\n",
        "\nwould run: systemctl enable droprender-node.service\n",
    ] {
        assert!(stdout.contains(part), "no {part:?} in:\n{stdout}");
    }
}

#[test]
fn install_refuses_without_a_usable_config() {
    let h = Home::new();
    // No default config in this home.
    let (out, _, stderr) = run(h.node(&["service", "install", "--dry-run"]));
    assert!(!out.status.success());
    assert!(stderr.contains("no config at"), "{stderr}");
    assert!(stderr.contains("droprender-node init"), "{stderr}");

    let missing = h.path().join("nope.toml");
    let (out, _, stderr) = run(h.node(&[
        "service",
        "install",
        "--dry-run",
        "--config",
        missing.to_str().unwrap(),
    ]));
    assert!(!out.status.success());
    assert!(stderr.contains("droprender-node init"), "{stderr}");

    let bad = h.path().join("bad.toml");
    std::fs::write(&bad, "folder = \n").unwrap();
    let (out, _, stderr) = run(h.node(&[
        "service",
        "install",
        "--dry-run",
        "--config",
        bad.to_str().unwrap(),
    ]));
    assert!(!out.status.success());
    assert!(stderr.contains("is not valid"), "{stderr}");
    assert!(stderr.contains("init --force"), "{stderr}");

    let incomplete = h.path().join("incomplete.toml");
    std::fs::write(&incomplete, "projects = \"/p\"\n").unwrap();
    let (out, _, stderr) = run(h.node(&[
        "service",
        "install",
        "--dry-run",
        "--config",
        incomplete.to_str().unwrap(),
    ]));
    assert!(!out.status.success());
    assert!(stderr.contains("folder is not set"), "{stderr}");
}

#[test]
fn without_systemctl_the_message_says_use_another_init_system() {
    let h = Home::new();
    let empty = h.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    for args in [
        &["service", "start"][..],
        &["service", "stop"][..],
        &[
            "service",
            "install",
            "--config",
            h.config().to_str().unwrap(),
        ][..],
    ] {
        let mut c = h.node(args);
        c.env("PATH", &empty);
        let (out, stdout, stderr) = run(c);
        assert!(!out.status.success(), "{args:?}: {stdout}");
        assert!(
            stderr.contains(
                "systemctl not found: this system does not use systemd; run `droprender-node run` under your init system"
            ),
            "{args:?}: {stderr}"
        );
    }
    assert!(
        !h.path()
            .join(".config/systemd/user/droprender-node.service")
            .exists(),
        "nothing is written where systemd cannot be used"
    );
}

/// Where systemd is not PID 1 (containers, this CI): the real systemctl
/// fails, and the message says so plainly.
#[test]
fn without_a_running_systemd_the_message_says_so() {
    if Path::new("/run/systemd/system").is_dir() {
        eprintln!("skipped: systemd runs on this machine");
        return;
    }
    if !std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("systemctl").is_file()))
    {
        eprintln!("skipped: no systemctl on this machine");
        return;
    }
    let h = Home::new();
    for args in [
        &["service", "start"][..],
        &[
            "service",
            "install",
            "--config",
            h.config().to_str().unwrap(),
        ][..],
    ] {
        let (out, stdout, stderr) = run(h.node(args));
        assert!(!out.status.success(), "{args:?}: {stdout}");
        assert!(
            stderr.contains("systemd is not running on this machine"),
            "{args:?}: {stderr}"
        );
        assert!(stderr.contains("droprender-node run"), "{args:?}: {stderr}");
    }
    assert!(
        !h.path()
            .join(".config/systemd/user/droprender-node.service")
            .exists()
    );
}

/// A stand-in `systemctl` that logs its arguments and answers `show` and
/// `is-active`.
fn fake_systemctl(h: &Home) -> (PathBuf, PathBuf) {
    let bin = h.path().join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = h.path().join("systemctl.log");
    let script = bin.join("systemctl");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\ncase \"$*\" in\n  *is-active*) echo active ;;\n  *show*) echo Version=255 ;;\nesac\nexit 0\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, log)
}

#[test]
fn install_and_uninstall_drive_systemctl_without_a_shell() {
    let h = Home::new();
    let (bin, calls) = fake_systemctl(&h);
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let log = h.path().join("logs/node.log");
    let mut c = h.node(&[
        "service",
        "install",
        "--config",
        h.config().to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
    ]);
    c.env("PATH", &path);
    let (out, stdout, stderr) = run(c);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let unit = h
        .path()
        .join(".config/systemd/user/droprender-node.service");
    let text = std::fs::read_to_string(&unit).expect("the unit is written");
    assert!(
        text.contains(&format!(
            "\nExecStart={} run --config \"{}\" --log-file {}\n",
            exe(),
            h.config().display(),
            log.display()
        )),
        "{text}"
    );
    assert!(log.parent().unwrap().is_dir(), "the log folder is created");
    assert!(stdout.contains("droprender-node is running"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "--user show --property=Version\n--user daemon-reload\n--user enable droprender-node.service\n--user start droprender-node.service\n--user is-active droprender-node.service\n"
    );

    let mut c = h.node(&["service", "status"]);
    c.env("PATH", &path);
    let (out, stdout, stderr) = run(c);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("node log: {}.<date>", log.display())),
        "{stdout}"
    );

    std::fs::remove_file(&calls).unwrap();
    let mut c = h.node(&["service", "uninstall"]);
    c.env("PATH", &path);
    let (out, stdout, stderr) = run(c);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(!unit.exists(), "the unit is removed");
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "--user show --property=Version\n--user disable --now droprender-node.service\n--user daemon-reload\n"
    );

    let mut c = h.node(&["service", "uninstall"]);
    c.env("PATH", &path);
    let (out, _, stderr) = run(c);
    assert!(!out.status.success());
    assert!(stderr.contains("nothing to uninstall"), "{stderr}");
}

#[test]
fn service_run_is_for_windows_only() {
    let h = Home::new();
    let (out, _, stderr) = run(h.node(&["service", "run", "--config", "/c", "--log-file", "/l"]));
    assert!(!out.status.success());
    assert!(stderr.contains("droprender-node run"), "{stderr}");
}

/// systemd's own parser (`systemd-analyze verify`, no running systemd
/// needed) accepts the unit, paths with quotes, `$`, `%` and `;` included.
#[test]
fn systemd_analyze_accepts_the_unit() {
    let has = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("systemd-analyze").is_file()));
    if !has {
        eprintln!("skipped: no systemd-analyze on this machine");
        return;
    }
    let h = Home::new();
    let config = h.path().join("cfg $HOME dir/node.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::copy(h.config(), &config).unwrap();
    let log = h.path().join("lo\"g\\s/a;b 50%.log");
    let (out, stdout, stderr) = run(h.node(&[
        "service",
        "install",
        "--dry-run",
        "--config",
        config.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let unit: String = stdout
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("would "))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = h.path().join("units");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("droprender-node.service");
    std::fs::write(&file, &unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .env("SYSTEMD_LOG_LEVEL", "debug")
        .output()
        .expect("systemd-analyze");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{unit}\n{said}");
    let complaints: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("droprender-node.service:"))
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            ["ignoring", "unknown", "invalid", "unbalanced", "failed"]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect();
    assert!(complaints.is_empty(), "{complaints:#?}\n{unit}");
    // systemd 252's dump shows the parsed argv re-quoted: five arguments.
    if let Some(line) = said
        .lines()
        .find_map(|l| l.trim().strip_prefix("Command Line: "))
    {
        assert!(line.contains("50%.log"), "% read back as %: {line}");
        assert!(line.contains("a;b"), "{line}");
    }
}
