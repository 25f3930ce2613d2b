//! A model-based test of the command-log reconciler (`channel` + `ledger`).
//!
//! Random histories of a synced folder (appends, lines arriving in pieces,
//! phones that rewrite commands.txt or save it without the final newline,
//! sync-engine conflicted copies, garbage lines, crashes) are played against
//! the real [`Channel::scan`] and [`Ledger`], driven the way the node drives
//! them: scan, then `rebase` or `commit` the plan, then `mark_initialized`
//! after the first scan.
//!
//! Beside them runs a model that never looks at the ledger. It knows every
//! byte of every command file, and names each line by the identity rule of
//! shared/reference/command-channel.md: (normalised text, occurrence number
//! among the equal lines of that file). Consequences of the rule it respects:
//! re-adding a line that a rewrite deleted is an occurrence that already ran;
//! the same text at the same occurrence on two devices is one command. It
//! checks:
//!
//! (a) no identity is accepted twice over the whole run, restarts included (a
//!     plan's lines count as accepted once their commit is durable), and a
//!     line skipped as "already ran" really did;
//! (b) after a final scan with the quiet period elapsed, every line of every
//!     command file has been accepted, as a command or as a rejection with a
//!     parse error, or was history at the first start: exactly once with (a);
//! (c) nothing panics, every new line's number points at that line, and one
//!     more scan finds nothing.
//!
//! The folder, the node and the model live in tests/model/mod.rs, which the
//! cargo-fuzz target in server/fuzz shares; this file generates scenarios
//! with proptest, and keeps each bug the model found as a small story below.
//! commands.txt stays under 32 KiB: above `ledger::TAIL` (64 KiB) the fast
//! path trusts a fingerprint of the consumed tail only, a known limit.
//!
//! `DROPRENDER_LONG=1` runs 20 000 cases instead of 256 (`PROPTEST_CASES`
//! sets any other number). The figures printed at the end count every case
//! run, so after a failure they include proptest's shrinking runs.

mod model;

use std::cell::RefCell;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use droprender_node::channel::{Channel, QUIET};
use droprender_node::ledger::Ledger;
use droprender_shared::files::{COMMANDS, Source};
use droprender_storage::MemFolder;
use model::{
    Conflict, Crash, GARBAGE, JOURNAL, Op, Pick, REPEATED, Raw, Rewrite, Scenario, Stats, TORN,
    Which, ready, state_dir,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn pick() -> impl Strategy<Value = Pick> {
    any::<usize>().prop_map(Pick)
}

fn line() -> impl Strategy<Value = Raw> {
    prop_oneof![
        6 => prop::sample::select(REPEATED).prop_map(|s| Raw(s.as_bytes().to_vec())),
        3 => (1u32..300, 0u8..3)
            .prop_map(|(n, s)| Raw(format!("rend:-s {n} -e {n} shot{s}.mb").into_bytes())),
        2 => prop::sample::select(GARBAGE).prop_map(|b| Raw(b.to_vec())),
        1 => prop::collection::vec(any::<u8>(), 0..12)
            .prop_map(|v| Raw(v.into_iter().filter(|b| *b != b'\n').collect())),
        1 => (prop::sample::select(&[4096usize, 4097, 5000][..]), b'a'..=b'c')
            .prop_map(|(n, c)| Raw(vec![c; n])),
    ]
}

fn some_lines(max: usize) -> impl Strategy<Value = Vec<Raw>> {
    prop::collection::vec(line(), 0..=max)
}

fn op() -> impl Strategy<Value = Op> {
    let rewrite = (
        prop::collection::vec(prop::bool::weighted(0.8), 0..8),
        some_lines(3),
        pick(),
        any::<bool>(),
        prop::bool::weighted(0.2),
        any::<bool>(),
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(keep, add, at, crlf, bom, final_newline, cosmetic)| Rewrite {
                keep,
                add,
                at,
                crlf,
                bom,
                final_newline,
                cosmetic,
            },
        );
    let conflict = (
        0usize..3,
        0usize..3,
        some_lines(3),
        some_lines(3),
        any::<u8>(),
        prop::bool::weighted(0.8),
    )
        .prop_map(
            |(main_base, copy_base, main_add, copy_add, naming, final_newline)| Conflict {
                main_base,
                copy_base,
                main_add,
                copy_add,
                naming,
                final_newline,
            },
        );
    let crash = prop_oneof![
        Just(Crash::Clean),
        Just(Crash::BeforeCommit),
        pick().prop_map(Crash::TornJournal),
        Just(Crash::AfterSnapshot),
    ];
    let which = prop_oneof![
        2 => Just(Which::All),
        2 => Just(Which::Main),
        1 => pick().prop_map(Which::Copy),
    ];
    prop_oneof![
        8 => (some_lines(4), prop::bool::weighted(0.2))
            .prop_map(|(lines, crlf)| Op::Append { lines, crlf }),
        2 => (line(), pick(), any::<bool>())
            .prop_map(|(line, cut, scan_between)| Op::Partial { line, cut, scan_between }),
        2 => line().prop_map(Op::NoNewline),
        2 => Just(Op::Quiet),
        3 => rewrite.prop_map(Op::Rewrite),
        2 => conflict.prop_map(Op::Conflict),
        1 => (pick(), 1usize..4, any::<bool>())
            .prop_map(|(copy, last, delete)| Op::Merge { copy, last, delete }),
        1 => pick().prop_map(Op::DeleteCopy),
        1 => Just(Op::Touch),
        1 => Just(Op::DeleteMain),
        8 => which.prop_map(Op::Scan),
        2 => crash.prop_map(Op::Crash),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop_oneof![3 => Just(Vec::new()), 1 => some_lines(4)],
        prop::bool::weighted(0.8),
        prop::collection::vec(op(), 1..48),
        prop::bool::ANY,
    )
        .prop_map(|(initial, initial_newline, ops, content_hash)| Scenario {
            initial,
            initial_newline,
            ops,
            content_hash,
        })
}

fn run(s: &Scenario, total: &RefCell<Stats>) -> Result<(), TestCaseError> {
    let (stats, result) = model::run(s);
    let mut t = total.borrow_mut();
    t.cases += 1;
    t.ops += stats.ops;
    t.executed += stats.executed;
    t.rejected += stats.rejected;
    t.duplicated += stats.duplicated;
    t.lost += stats.lost;
    result.map_err(TestCaseError::fail)
}

#[test]
fn reconciler_model() {
    let long = std::env::var("DROPRENDER_LONG").is_ok_and(|v| v == "1");
    let cases = match std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        _ if long => 20_000,
        Some(n) => n,
        None => 256,
    };
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let total = RefCell::new(Stats::default());
    let result = runner.run(&scenario(), |s| run(&s, &total));
    let t = *total.borrow();
    // Straight to stderr, so the figures show without --nocapture.
    let _ = writeln!(
        std::io::stderr(),
        "reconciler model: cases: {}, operations: {}, executed: {}, rejected: {}, duplicated: {}, lost: {}",
        t.cases,
        t.ops,
        t.executed,
        t.rejected,
        t.duplicated,
        t.lost
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------------
// The bugs the model found, each as its smallest story.

/// Scans one source and commits the plan like the node; returns the new
/// lines as (line number, text).
fn step(w: &mut (Ledger, Channel, MemFolder), now: Instant, src: &Source) -> Vec<(u64, String)> {
    let (ledger, chan, folder) = w;
    let Some(plan) = ready(chan.scan(folder, ledger, src, now)).expect("scan") else {
        return Vec::new();
    };
    let new = plan
        .new_lines
        .iter()
        .map(|l| (l.lineno, l.text.clone()))
        .collect();
    match plan.rebase {
        Some(t) => ledger.rebase(plan.batch, t).expect("rebase"),
        None => ledger.commit(plan.batch).expect("commit"),
    }
    ledger.mark_initialized().expect("init");
    new
}

fn rig(dir: &Path, commands: &str) -> (Ledger, Channel, MemFolder) {
    let folder = MemFolder::new();
    folder.put(COMMANDS, commands);
    let ledger = Ledger::open(dir).expect("ledger");
    (ledger, Channel::new(), folder)
}

#[test]
fn a_line_after_an_unterminated_one_has_its_own_line_number() {
    let dir = state_dir();
    let mut w = rig(dir.path(), "progress:\n");
    let mut t = Instant::now();
    assert!(step(&mut w, t, &Source::Main).is_empty(), "history");
    // A phone saves without the final newline; it counts once quiet.
    w.2.push(COMMANDS, b"rend:-s 2 a.mb");
    assert!(step(&mut w, t, &Source::Main).is_empty());
    t += QUIET;
    assert_eq!(
        step(&mut w, t, &Source::Main),
        [(2, "rend:-s 2 a.mb".into())]
    );
    // A Windows laptop ends that line and adds one: line 3, not 4.
    w.2.push(COMMANDS, b"\r\nprogress:\r\n");
    assert_eq!(step(&mut w, t, &Source::Main), [(3, "progress:".into())]);
    w.2.push(COMMANDS, b"rend:-s 3 a.mb\n");
    assert_eq!(
        step(&mut w, t, &Source::Main),
        [(4, "rend:-s 3 a.mb".into())]
    );
}

#[test]
fn a_crash_between_snapshot_and_journal_truncation_runs_nothing_twice() {
    let dir = state_dir();
    let mut w = rig(dir.path(), "");
    let t = Instant::now();
    step(&mut w, t, &Source::Main);
    w.2.push(COMMANDS, b"progress:\n");
    assert_eq!(step(&mut w, t, &Source::Main).len(), 1);
    // A phone adds a note at the top and a second `progress:` at the end:
    // a rewrite, so the ledger rebases and writes a snapshot. The node dies
    // after the snapshot's rename, before the journal is emptied.
    w.2.put(COMMANDS, "# note\nprogress:\nprogress:\n");
    let journal = dir.path().join(JOURNAL);
    let old = std::fs::read(&journal).expect("journal");
    assert_eq!(step(&mut w, t, &Source::Main), [(3, "progress:".into())]);
    std::fs::write(&journal, old).expect("journal");
    drop(w);
    let mut w = (
        Ledger::open(dir.path()).expect("reopen"),
        Channel::new(),
        MemFolder::new(),
    );
    w.2.put(COMMANDS, "# note\nprogress:\nprogress:\n");
    assert!(
        step(&mut w, t, &Source::Main).is_empty(),
        "the second progress: ran before the crash"
    );
}

#[test]
fn a_journal_record_torn_inside_a_character_is_still_just_torn() {
    let dir = state_dir();
    drop(Ledger::open(dir.path()).expect("open"));
    let mut j = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join(JOURNAL))
        .expect("journal");
    j.write_all(&TORN[..TORN.iter().position(|b| *b >= 0x80).expect("é") + 1])
        .expect("write");
    drop(j);
    assert!(Ledger::open(dir.path()).is_ok());
}

#[test]
fn a_phone_edit_far_back_in_a_long_file_is_not_taken_for_an_append() {
    let dir = state_dir();
    let mut w = rig(dir.path(), "");
    let t = Instant::now();
    step(&mut w, t, &Source::Main);
    let mut text = String::from("rend:-s 1 a.mb\n");
    text.push_str(&"progress:\n".repeat(40));
    w.2.push(COMMANDS, text.as_bytes());
    assert_eq!(step(&mut w, t, &Source::Main).len(), 41);
    // The phone changes the frame of the first line (same length) and adds a
    // line: the last 256 bytes before the old end are unchanged.
    let edited = text.replacen("-s 1", "-s 2", 1) + "progress:\n";
    w.2.put(COMMANDS, edited);
    let new: Vec<String> = step(&mut w, t, &Source::Main)
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(new, ["rend:-s 2 a.mb", "progress:"]);
    // Typing the old line again is its first occurrence, which already ran.
    w.2.push(COMMANDS, b"rend:-s 1 a.mb\n");
    assert!(step(&mut w, t, &Source::Main).is_empty());
}

#[test]
fn an_unreadable_line_is_the_same_line_with_a_crlf_ending() {
    let dir = state_dir();
    let mut w = rig(dir.path(), "");
    let mut t = Instant::now();
    step(&mut w, t, &Source::Main);
    // A phone saves a line that is not UTF-8, without the final newline.
    w.2.push(COMMANDS, b"rend:\xff a.mb");
    step(&mut w, t, &Source::Main);
    t += QUIET;
    assert_eq!(step(&mut w, t, &Source::Main).len(), 1, "rejected once");
    // A Windows laptop ends it with CRLF and adds a line...
    w.2.push(COMMANDS, b"\r\nprogress:\r\n");
    let new = step(&mut w, t, &Source::Main);
    assert_eq!(new, [(2, "progress:".to_string())]);
    // ...and a phone saves the whole file again with a note on top: the
    // rejected line is not new, whatever its line ending.
    w.2.put(COMMANDS, &b"# note\r\nrend:\xff a.mb\r\nprogress:\r\n"[..]);
    assert!(step(&mut w, t, &Source::Main).is_empty());
}
