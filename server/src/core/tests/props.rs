//! The queue rules for any workload.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::harness;
use crate::exec::Outcome;
use crate::ledger::JobState;

/// A random workload: render lines (some with `after=` earlier jobs and
/// priorities) and controls, then the executor ends each started job with
/// a random outcome.
#[derive(Debug, Clone)]
enum Op {
    Render {
        after: Option<u8>,
        prio: i8,
    },
    Cancel(u8),
    Pause,
    Resume,
    Retry(u8),
    /// The running job ends: finished, or failed.
    End(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (proptest::option::of(0u8..8), -2i8..3).prop_map(|(after, prio)| Op::Render { after, prio }),
        1 => (1u8..10).prop_map(Op::Cancel),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
        1 => (1u8..10).prop_map(Op::Retry),
        5 => any::<bool>().prop_map(Op::End),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the workload: at most one job runs; no job starts while a
    /// job it waits for is unfinished, failed or cancelled; a cancelled
    /// job starts again only after `retry:`; while paused nothing starts;
    /// a job that was started is never started by someone else's end.
    #[test]
    fn queue_rules_hold_for_any_workload(ops in proptest::collection::vec(op(), 1..60)) {
        let mut h = harness();
        let mut retried: BTreeSet<u64> = BTreeSet::new();
        let mut cancelled_at: BTreeMap<u64, usize> = BTreeMap::new();
        for o in ops {
            let before = h.started.len();
            let paused = h.st.is_paused();
            match o {
                Op::Render { after, prio } => {
                    let mut l = format!("rend:-s 1 -e 2 scenes/s.mb priority={prio}");
                    if let Some(a) = after.filter(|a| u64::from(*a) < h.st.peek_job_id() && *a > 0) {
                        l.push_str(&format!(" after={a}"));
                    }
                    h.ingest(&[&l]);
                }
                Op::Cancel(id) => h.ingest(&[&format!("cancel: {id}")]),
                Op::Pause => h.ingest(&["pause:"]),
                Op::Resume => h.ingest(&["resume:"]),
                Op::Retry(id) => {
                    if h.state(u64::from(id)) == Some(JobState::Cancelled) {
                        retried.insert(u64::from(id));
                    }
                    h.ingest(&[&format!("retry: {id}")])
                }
                Op::End(ok) => {
                    if let Some(id) = h.running() {
                        let outcome = if ok { Outcome::Done } else { Outcome::Failed("x".into()) };
                        if ok {
                            h.facts.frames.insert(
                                h.st.job(id).map(|j| j.rec.output_dir.clone()).expect("job"),
                                BTreeSet::from([1, 2]),
                            );
                        }
                        h.end(id, outcome);
                    }
                }
            }
            prop_assert!(h.st.running().count() <= 1);
            for (id, _) in &h.started[before..] {
                let job = h.st.job(*id).expect("started job");
                if paused && h.st.is_paused() {
                    prop_assert!(false, "job {id} started while paused");
                }
                if let Ok(req) = &job.req {
                    for a in &req.options.after {
                        prop_assert_eq!(h.state(*a), Some(JobState::Finished), "job {} started before job {} finished", id, a);
                    }
                }
                if let Some(_at) = cancelled_at.get(id) {
                    prop_assert!(retried.contains(id), "cancelled job {id} restarted without retry:");
                }
            }
            for j in h.st.jobs() {
                if j.state() == JobState::Cancelled {
                    cancelled_at.entry(j.id()).or_insert(h.started.len());
                } else {
                    cancelled_at.remove(&j.id());
                }
            }
        }
    }

    /// Jobs start in priority order, then arrival order.
    #[test]
    fn priorities_order_the_queue(prios in proptest::collection::vec(-3i8..4, 2..12)) {
        let mut h = harness();
        h.ingest(&["pause:"]);
        let lines: Vec<String> = prios
            .iter()
            .map(|p| format!("rend:-s 1 -e 1 scenes/s.mb priority={p}"))
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        h.ingest(&refs);
        h.ingest(&["resume:"]);
        while let Some(id) = h.running() {
            h.end(id, Outcome::Failed("x".into()));
        }
        let mut want: Vec<(i8, u64)> = prios.iter().enumerate().map(|(i, p)| (-p, i as u64 + 1)).collect();
        want.sort();
        prop_assert_eq!(h.started_ids(), want.iter().map(|w| w.1).collect::<Vec<_>>());
    }
}
