use super::*;

/// The file in examples/service/ is exactly `generated`;
/// `DROPRENDER_BLESS=1 cargo test` rewrites it.
pub(crate) fn check_example(file: &str, generated: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/service")
        .join(file);
    if std::env::var_os("DROPRENDER_BLESS").is_some() {
        std::fs::write(&path, generated).expect("write the example");
        return;
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == generated,
        "{} is not what the code generates: run `DROPRENDER_BLESS=1 cargo test -p droprender-node service` and commit it\n--- generated:\n{generated}",
        path.display()
    );
}

#[test]
fn names_are_plain() {
    assert!(parse_name("droprender-node").is_ok());
    assert!(parse_name("node_2.b").is_ok());
    for bad in ["", "-x", ".x", "a b", "a/b", "a\\b", "é", "a;b", "a%b"] {
        assert!(parse_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn commands_display_quoted_for_a_shell() {
    let c = Cmd::new("systemctl", ["--user", "start", "it's here.service"]);
    assert_eq!(
        c.to_string(),
        r"systemctl --user start 'it'\''s here.service'"
    );
    assert_eq!(sh_quote(OsStr::new("")), "''");
}

#[test]
fn stop_timeout_is_above_the_grace_period() {
    let t = stop_timeout(Duration::from_millis(10_500));
    assert!(t > Duration::from_millis(10_500));
    let p = Plan {
        name: DEFAULT_NAME.into(),
        scope: Scope::User,
        exe: "/x".into(),
        config: "/c".into(),
        log_file: "/l".into(),
        run_as: None,
        stop_timeout: t,
        path_env: None,
    };
    assert_eq!(p.stop_timeout_secs(), 41);
}
