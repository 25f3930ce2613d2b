use std::fs;
use std::path::PathBuf;

use super::*;

fn job(id: u64) -> JobRecord {
    JobRecord {
        id,
        line: "rend:-s 1 a.mb".into(),
        source: "commands.txt".into(),
        lineno: 1,
        state: JobState::Queued,
        submitted: "2026-11-22 10:00:00".into(),
        started: None,
        ended: None,
        render_secs: 0.0,
        attempts: 0,
        message: None,
        output_dir: PathBuf::from("/tmp/out"),
        frames_total: 1,
        frames_done: 0,
        proc: None,
        priority: 0,
        failures: 0,
        slurm: None,
        slot: None,
        frame_summary: None,
    }
}

#[test]
fn survives_reopen_with_and_without_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let h;
    {
        let mut l = Ledger::open(dir.path()).expect("open");
        assert!(l.is_fresh());
        h = l.hash("progress:");
        let mut b = Batch {
            src: "commands.txt".into(),
            cursor: Cursor {
                offset: 10,
                lines: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        b.counts.insert(
            h,
            Count {
                seen: 1,
                deficit: 0,
            },
        );
        b.jobs.push(job(l.state().peek_job_id()));
        l.commit(b).expect("commit");
        l.mark_initialized().expect("init");
        let mut j = job(1);
        j.state = JobState::Finished;
        l.append(vec![Record::Job(j)]).expect("put");
    }
    let l = Ledger::open(dir.path()).expect("reopen");
    assert!(!l.is_fresh());
    assert_eq!(l.hash("progress:"), h, "the hash key persists");
    assert_eq!(
        l.count(h),
        Count {
            seen: 1,
            deficit: 0
        }
    );
    assert_eq!(l.cursor("commands.txt").map(|c| c.offset), Some(10));
    assert_eq!(l.job(1).map(Job::state), Some(JobState::Finished));
    drop(l);
    let l = Ledger::open(dir.path()).expect("reopen after compaction");
    assert_eq!(l.count(h).seen, 1);
    assert_eq!(l.state().peek_job_id(), 2);
}

#[test]
fn every_record_kind_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut l = Ledger::open(dir.path()).expect("open");
        l.append(vec![
            Record::Paused { paused: true },
            Record::Job(job(3)),
            Record::Forget { jobs: vec![3] },
            Record::ControlDone { id: 1 },
        ])
        .expect("append");
        l.mark_initialized().expect("init");
    }
    let l = Ledger::open(dir.path()).expect("reopen");
    assert!(l.state().is_paused());
    assert!(!l.is_fresh());
    assert!(l.job(3).is_none());
}

#[test]
fn a_torn_last_record_is_ignored_but_a_torn_middle_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Ledger::open(dir.path()).expect("open"));
    let j = dir.path().join("journal.log");
    fs::write(&j, b"{\"t\":\"control_done\",\"id\":1}\n{\"t\":\"contr").expect("write");
    assert!(Ledger::open(dir.path()).is_ok());
    fs::write(&j, b"{\"t\":\"contr\n{\"t\":\"control_done\",\"id\":1}\n").expect("write");
    assert!(matches!(
        Ledger::open(dir.path()),
        Err(LedgerError::Corrupt { .. })
    ));
}

/// Issue 12 (a): the first start's history and `initialized` were two
/// writes; a crash between them left the ledger fresh, so lines appended
/// while the node was down were taken for history at the next start.
#[test]
fn first_start_history_and_initialized_are_one_write() {
    for rewrite in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut l = Ledger::open(dir.path()).expect("open");
            let batch = Batch {
                src: "commands.txt".into(),
                initialize: true,
                ..Default::default()
            };
            if rewrite {
                l.rebase(batch, Rewrite::new()).expect("rebase");
            } else {
                l.commit(batch).expect("commit");
            }
            // The node "crashes" here: no mark_initialized.
        }
        let l = Ledger::open(dir.path()).expect("reopen");
        assert!(!l.is_fresh(), "rewrite={rewrite}");
    }
}

#[test]
fn an_existing_state_dir_opens() {
    // A snapshot and journal as the previous release wrote them.
    let dir = tempfile::tempdir().expect("tempdir");
    let header = serde_json::json!({
        "key": [1, 2], "cursors": {"commands.txt": {"offset": 5, "tail": 9, "lines": 1, "version": "v1"}},
        "next_job": 3, "next_control": 1,
        "jobs": {"2": serde_json::to_value(job(2)).expect("json")},
        "controls": {}, "initialized": true, "paused": false, "entries": 0, "epoch": 4
    });
    let h = serde_json::to_vec(&header).expect("json");
    let mut snap = b"DRLEDGER1\n".to_vec();
    snap.extend((h.len() as u64).to_le_bytes());
    snap.extend(h);
    fs::write(dir.path().join("ledger.snap"), snap).expect("snap");
    fs::write(
        dir.path().join("journal.log"),
        "{\"t\":\"epoch\",\"n\":4}\n{\"t\":\"paused\",\"paused\":true}\n",
    )
    .expect("journal");
    let l = Ledger::open(dir.path()).expect("open");
    assert!(!l.is_fresh());
    assert!(l.state().is_paused());
    assert_eq!(l.cursor("commands.txt").map(|c| c.offset), Some(5));
    assert_eq!(l.state().queue().map(Job::id).collect::<Vec<_>>(), [2]);
}

fn picture(st: &State) -> (Vec<JobRecord>, Vec<u64>, Vec<u64>, Vec<u64>) {
    (
        st.jobs().map(|j| j.rec.clone()).collect(),
        st.queue().map(Job::id).collect(),
        st.running().map(Job::id).collect(),
        st.jobs_to_forget(0),
    )
}

/// Group commit: staged records show in the state at once, reach the disk
/// only with the sync, and a crash before it loses them as one.
#[test]
fn staged_records_are_durable_only_after_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut l = Ledger::open(dir.path()).expect("open");
        l.append(vec![Record::Job(job(1)), Record::Job(job(2))])
            .expect("append");
        let mut done = job(1);
        done.state = JobState::Finished;
        let mut running = job(2);
        running.state = JobState::Running;
        l.stage(vec![Record::Job(done), Record::Job(running)])
            .expect("stage");
        assert_eq!(l.job(1).map(Job::state), Some(JobState::Finished));
        assert_eq!(l.state().queued(), 0);
        // The node "crashes" before the sync.
    }
    let mut l = Ledger::open(dir.path()).expect("reopen");
    assert_eq!(l.job(1).map(Job::state), Some(JobState::Queued));
    assert_eq!(l.job(2).map(Job::state), Some(JobState::Queued));
    let mut done = job(1);
    done.state = JobState::Finished;
    l.stage(vec![Record::Job(done)]).expect("stage");
    l.stage(vec![Record::Forget { jobs: vec![2] }])
        .expect("stage");
    l.sync().expect("sync");
    drop(l);
    let l = Ledger::open(dir.path()).expect("reopen");
    assert_eq!(l.job(1).map(Job::state), Some(JobState::Finished));
    assert!(l.job(2).is_none());
}

/// A record that cannot be taken back is not staged: it is written at
/// once, with what was staged before it.
#[test]
fn staging_anything_but_jobs_writes_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut l = Ledger::open(dir.path()).expect("open");
        l.stage(vec![Record::Job(job(4))]).expect("stage");
        l.stage(vec![Record::Paused { paused: true }])
            .expect("stage");
    }
    let l = Ledger::open(dir.path()).expect("reopen");
    assert!(l.state().is_paused());
    assert!(l.job(4).is_some());
}

mod undo {
    use proptest::prelude::*;

    use super::*;

    fn record() -> impl Strategy<Value = Record> {
        let state = prop_oneof![
            Just(JobState::Queued),
            Just(JobState::Running),
            Just(JobState::Interrupted),
            Just(JobState::Finished),
            Just(JobState::Failed),
        ];
        prop_oneof![
            (1u64..6, state, -2i32..3, prop::bool::ANY).prop_map(|(id, s, prio, other)| {
                let mut j = job(id);
                j.state = s;
                j.priority = prio;
                if other {
                    j.line = "rend:-s 2 b.mb".into();
                }
                Record::Job(j)
            }),
            prop::collection::vec(1u64..6, 0..3).prop_map(|jobs| Record::Forget { jobs }),
        ]
    }

    proptest! {
        /// Whatever was staged, taking it back leaves the state (jobs and
        /// queue order) exactly as it was.
        #[test]
        fn undo_restores_the_state(
            before in prop::collection::vec(record(), 0..8),
            staged in prop::collection::vec(record(), 0..8),
        ) {
            let mut st = State::default();
            for r in before {
                st.apply(r);
            }
            let was = picture(&st);
            let mut undo = Vec::new();
            for r in staged {
                undo.push(st.undo_for(&r).expect("jobs and forgets can be undone"));
                st.apply(r);
            }
            while let Some(u) = undo.pop() {
                st.undo(u);
            }
            prop_assert_eq!(picture(&st), was);
        }

        /// The running and final indexes always name exactly the jobs
        /// whose record says so.
        #[test]
        fn the_indexes_match_the_records(
            records in prop::collection::vec(record(), 0..16),
        ) {
            let mut st = State::default();
            for r in records {
                st.apply(r);
                let scan: Vec<u64> = st
                    .jobs()
                    .filter(|j| j.state() == JobState::Running)
                    .map(Job::id)
                    .collect();
                prop_assert_eq!(st.running().map(Job::id).collect::<Vec<_>>(), scan);
                let finals: Vec<u64> = st
                    .jobs()
                    .filter(|j| j.state().is_final())
                    .map(Job::id)
                    .collect();
                prop_assert_eq!(st.jobs_to_forget(1), finals[..finals.len().saturating_sub(1)].to_vec());
            }
        }
    }
}
