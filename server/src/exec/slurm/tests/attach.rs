//! Re-attaching after a restart: by id, by name, and to a job that ended
//! while the node was away (judged, never submitted again).

use super::super::fake::{Call, write_frame};
use super::{NAME, Rig};
use crate::exec::Outcome;

#[tokio::test]
async fn attach_by_id_re_attaches_and_never_submits() {
    let mut rig = Rig::new();
    let id = rig.fake.add_job(NAME, 2, "RUNNING");
    rig.fake.set(&id, 2, "PENDING", "JobArrayTaskLimit");
    let mut job = rig.job();
    job.attach = Some(id.clone());
    rig.start(job);
    rig.note("re-attached").await;
    assert_eq!(
        rig.notes(),
        [
            "re-attached to Slurm job 100 after the node restarted: 1 task(s) running, 1 pending, 0 done, 0 failed"
        ]
    );
    rig.complete(&id);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert!(rig.submit_calls().is_empty(), "{:?}", rig.fake.calls());
    // The journal already has the id: no Submitted again.
    assert!(rig.submitted().is_empty());
}

#[tokio::test]
async fn attach_finds_the_job_by_name_when_slurm_does_not_know_the_id() {
    let mut rig = Rig::new();
    let id = rig.fake.add_job(NAME, 2, "RUNNING");
    let mut job = rig.job();
    job.attach = Some("55".into());
    rig.start(job);
    rig.note("found by its name").await;
    assert_eq!(
        rig.notes(),
        [
            "re-attached to Slurm job 100, found by its name droprender-test-1 (Slurm does not know job 55)"
        ]
    );
    assert_eq!(rig.submitted(), [id.as_str()]);
    rig.complete(&id);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(rig.submit_calls(), ["find"]);
}

#[tokio::test]
async fn a_job_that_ended_while_the_node_was_away_is_judged_not_resubmitted() {
    // Still listed (squeue -t all): judged from its states and frames.
    let mut rig = Rig::new();
    let id = rig.fake.add_job(NAME, 2, "COMPLETED");
    for f in 1..=6 {
        write_frame(&rig.out(), f);
    }
    let mut job = rig.job();
    job.attach = Some(id);
    rig.start(job);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(
        rig.notes(),
        [
            "re-attached to Slurm job 100: it ended while the node was away (2 task(s) done, 0 failed); checking its frames"
        ]
    );
    assert!(rig.submit_calls().is_empty());

    // Forgotten by Slurm: jobcomp's record and the frames decide.
    let mut rig = Rig::new();
    let id = rig.fake.add_job(NAME, 2, "COMPLETED");
    rig.fake
        .with(|c| c.jobs.get_mut(&id).expect("job").purged = true);
    for f in 1..=3 {
        write_frame(&rig.out(), f);
    }
    let mut job = rig.job();
    job.attach = Some(id.clone());
    rig.start(job);
    let Outcome::Failed(msg) = rig.end().await else {
        panic!("not failed: {:#?}", rig.seen)
    };
    assert_eq!(
        msg,
        format!(
            "3 frame(s) missing after Slurm job 100: 4-6; task 2 COMPLETED without all its frames, frames 4-6; log {}",
            rig.work().join("task-100_2.log").display()
        )
    );
    assert_eq!(
        rig.notes(),
        [
            "re-attached to Slurm job 100: Slurm no longer lists it, so it ended while the node was away; checking its frames (it is not submitted again)"
        ]
    );
    assert!(rig.fake.calls().contains(&Call::Jobcomp(id)));
    assert!(rig.fake.submissions().is_empty());
}
