//! Submitting: the name check before every sbatch, retries, the nice
//! fallback, an sbatch without an id, a controller that does not answer.

use super::{NAME, Rig, fast, sbatch_failure};
use crate::exec::Outcome;

#[tokio::test]
async fn sbatch_failures_are_retried_after_a_name_check_each_time() {
    let mut rig = Rig::new();
    rig.auto(&[]);
    let refusal = "sbatch: error: Batch job submission failed: Invalid partition name specified";
    rig.fake.with(|c| {
        c.sbatch_errors
            .extend([sbatch_failure(refusal), sbatch_failure(refusal)]);
    });
    let t = std::time::Instant::now();
    rig.start(rig.job());
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    let want = format!("sbatch failed: {refusal}; retrying in 0 s");
    assert_eq!(rig.notes(), [want.as_str(), want.as_str()]);
    // Never an sbatch without the name check right before it.
    assert_eq!(
        rig.submit_calls(),
        ["find", "sbatch", "find", "sbatch", "find", "sbatch"]
    );
    assert!(t.elapsed() >= 2 * fast().submit_retry, "{:?}", t.elapsed());
    assert_eq!(rig.submitted(), ["100"]);
}

#[tokio::test]
async fn a_refused_nice_is_dropped_and_the_job_submitted_at_nice_zero() {
    let mut rig = Rig::new();
    rig.auto(&[]);
    rig.fake.with(|c| c.refuse_nice = true);
    let mut job = rig.job();
    job.nice = -5;
    rig.start(job);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(
        rig.notes(),
        [
            "sbatch refused --nice=-5 (sbatch: error: Batch job submission failed: Invalid --nice value); only Slurm operators may raise a job's priority: submitting at nice 0"
        ]
    );
    let subs = rig.fake.submissions();
    assert_eq!(subs.iter().map(|s| s.nice).collect::<Vec<_>>(), [-5, 0]);
    assert!(subs[0].argv().contains(&"--nice=-5".into()));
    assert!(
        !subs[1]
            .argv()
            .iter()
            .any(|a| a.to_string_lossy().starts_with("--nice"))
    );
    assert_eq!(rig.submit_calls(), ["find", "sbatch", "find", "sbatch"]);
}

#[tokio::test]
async fn sbatch_without_a_job_id_is_found_by_name_not_submitted_twice() {
    let mut rig = Rig::new();
    rig.auto(&[]);
    rig.fake.with(|c| c.sbatch_no_id = 1);
    rig.start(rig.job());
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(
        rig.notes(),
        [
            "sbatch printed no job id (\"Submitted.\"); looking it up by name in 0 s",
            "found Slurm job 100 named droprender-test-1 already queued (the node stopped before recording it): attached to it instead of submitting again",
        ]
    );
    assert_eq!(rig.submit_calls(), ["find", "sbatch", "find"]);
    assert_eq!(rig.submitted(), ["100"]);
}

#[tokio::test]
async fn a_job_queued_under_its_name_is_adopted_instead_of_submitted() {
    let mut rig = Rig::new();
    let id = rig.fake.add_job(NAME, 2, "RUNNING");
    rig.start(rig.job());
    rig.note("already queued").await;
    assert_eq!(rig.submitted(), [id.as_str()]);
    rig.complete(&id);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(rig.submit_calls(), ["find"]);
}

#[tokio::test]
async fn a_controller_that_is_down_delays_the_submission() {
    let mut rig = Rig::new();
    rig.fake.with(|c| c.down = true);
    rig.start(rig.job());
    rig.note("so nothing is submitted yet").await;
    assert_eq!(
        rig.notes(),
        [
            "squeue failed: squeue: error: Unable to contact slurm controller (connect failure); cannot check whether droprender-test-1 is already queued, so nothing is submitted yet; retrying in 0 s"
        ]
    );
    assert!(rig.fake.submissions().is_empty());
    rig.auto(&[]);
    rig.fake.with(|c| c.down = false);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    assert_eq!(rig.fake.submissions().len(), 1);
}

#[tokio::test]
async fn a_work_dir_that_cannot_be_made_fails_the_run() {
    let mut rig = Rig::new();
    std::fs::write(rig.dir.path().join("state"), b"a file").expect("file");
    rig.start(rig.job());
    let Outcome::Failed(msg) = rig.end().await else {
        panic!("not failed: {:#?}", rig.seen)
    };
    assert!(
        msg.starts_with("cannot create the Slurm work dir "),
        "{msg}"
    );
    assert!(rig.fake.calls().is_empty());
}
