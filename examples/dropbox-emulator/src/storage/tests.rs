//! Unit tests of the namespace.

use super::list::in_scope;
use super::*;
use axum::body::Bytes;

fn p(s: &str) -> DbxPath {
    DbxPath::parse(s).unwrap()
}

fn put(
    store: &mut Store,
    path: &str,
    data: &[u8],
    mode: WriteMode,
) -> Result<CommitOutcome, WriteError> {
    store.commit(
        &Commit {
            path: p(path),
            mode,
            autorename: false,
            strict_conflict: false,
            client_modified: None,
        },
        Bytes::copy_from_slice(data),
        crate::hash::content_hash(data),
    )
}

#[test]
fn scope() {
    assert!(in_scope("/a", "", false));
    assert!(!in_scope("/a/b", "", false));
    assert!(in_scope("/a/b", "", true));
    assert!(in_scope("/a/b", "/a", false));
    assert!(!in_scope("/a/b/c", "/a", false));
    assert!(in_scope("/a/b/c", "/a", true));
    assert!(in_scope("/a", "/a", true));
    assert!(!in_scope("/a", "/a", false));
    assert!(!in_scope("/ab", "/a", true));
}

#[test]
fn case_preserving_parents() {
    let mut s = Store::new(1);
    put(&mut s, "/Maya/a.txt", b"1", WriteMode::Add).unwrap();
    let m = put(&mut s, "/maya/B.txt", b"2", WriteMode::Add)
        .unwrap()
        .metadata;
    assert_eq!(m.path_display, "/Maya/B.txt");
    assert_eq!(m.path_lower, "/maya/b.txt");
    assert_eq!(m.name, "B.txt");
}

#[test]
fn file_ancestor_conflict() {
    let mut s = Store::new(1);
    put(&mut s, "/a", b"1", WriteMode::Add).unwrap();
    assert_eq!(
        put(&mut s, "/a/b", b"2", WriteMode::Add).unwrap_err(),
        WriteError::Conflict(WriteConflict::FileAncestor)
    );
}

#[test]
fn cursor_round_trip_and_paging() {
    let mut s = Store::new(7);
    for i in 0..5 {
        put(&mut s, &format!("/d/f{i}"), b"x", WriteMode::Add).unwrap();
    }
    let spec = ListSpec {
        path: "/d".into(),
        recursive: false,
        include_deleted: false,
        limit: 2,
    };
    let (e, c, more) = s.list_folder(&spec);
    assert_eq!(e.len(), 2);
    assert!(more);
    let c = Cursor::decode(&c.encode()).unwrap();
    let (e2, c2, more2) = s.list_continue(&c).unwrap();
    assert_eq!(e2.len(), 2);
    assert!(more2);
    let (e3, c3, more3) = s.list_continue(&c2).unwrap();
    assert_eq!(e3.len(), 1);
    assert!(!more3);
    assert!(!s.has_changes(&c3).unwrap());
    put(&mut s, "/d/f1", b"y", WriteMode::Overwrite).unwrap();
    assert!(s.has_changes(&c3).unwrap());
    let (e4, _, _) = s.list_continue(&c3).unwrap();
    assert_eq!(e4.len(), 1);
    assert_eq!(e4[0].name(), "f1");
}
