//! Unit tests of PKCE, secrets and the token file.

use std::path::Path;

use super::*;

#[test]
fn rfc7636_appendix_b() {
    let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_eq!(p.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

#[test]
fn generated_verifiers_are_valid() {
    let p = Pkce::generate();
    let v = p.verifier().expose();
    assert!((43..=128).contains(&v.len()));
    assert!(
        v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    );
    assert_eq!(p.challenge(), s256_challenge(v));
}

#[test]
fn secrets_never_show() {
    let s = Secret::new("sl.very-secret");
    assert!(!format!("{s:?}").contains("very-secret"));
    let c = Credentials::Token(s);
    assert!(!format!("{c:?}").contains("very-secret"));
    let t = StoredToken {
        app_key: "k".into(),
        refresh_token: "refresh-secret".into(),
        access_token: Some("access-secret".into()),
        expires_at: None,
        account_id: None,
    };
    let shown = format!("{t:?}");
    assert!(!shown.contains("secret"), "{shown}");
}

#[cfg(unix)]
#[test]
fn the_token_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = TokenStore::at(dir.path().join("droprender").join(TOKEN_FILE));
    assert!(store.load().expect("load").is_none());
    let t = StoredToken {
        app_key: "k".into(),
        refresh_token: "r".into(),
        access_token: None,
        expires_at: None,
        account_id: None,
    };
    store.save(&t).expect("save");
    store.save(&t).expect("save again");
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(store.path()), 0o600);
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    store.load().expect("load");
    assert_eq!(mode(store.path()), 0o600, "tightened on load");
    assert_eq!(
        store.load().expect("load").expect("some").refresh_token,
        "r"
    );
    assert!(store.delete().expect("delete"));
    assert!(!store.delete().expect("delete"));
}
