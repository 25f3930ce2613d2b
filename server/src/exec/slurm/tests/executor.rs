//! The executor seam: `Slurm::start` plans the chunks, names the array for
//! the node and job, turns priority into nice, and runs it to `Finished`.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::super::Slurm;
use super::Rig;
use crate::config::{Config, FileConfig, Overrides};
use crate::exec::{ExecJob, Executor, Outcome};
use crate::renderer::Resolved;

#[tokio::test]
async fn the_executor_submits_the_job_as_one_array_of_chunks() {
    let mut rig = Rig::new();
    rig.auto(&[]);
    let d = rig.dir.path();
    let cfg = Config::merge(
        FileConfig::default(),
        Overrides {
            folder: Some(d.join("folder")),
            projects: Some(d.join("projects")),
            output: Some(d.join("output")),
            state: Some(d.join("state")),
            name: Some("farmbox".into()),
            ..Default::default()
        },
    )
    .expect("config");
    let Ok(Some((_, cmd))) = droprender_shared::command::parse_str("rend:-r sw -s 1 -e 6 shot.ma")
    else {
        panic!("parses")
    };
    let droprender_shared::command::Action::Render(request) = cmd.action else {
        panic!("render")
    };
    let slurm = Slurm::with_cli(Arc::new(cfg), rig.job().settings, Arc::clone(&rig.fake));
    assert_eq!(slurm.caps().farm, Some("Slurm"));
    let (tx, rx) = mpsc::channel(1024);
    let handle = slurm.start(
        ExecJob {
            id: 1,
            resolved: Resolved {
                request,
                scene: d.join("projects/shot.ma"),
                output_dir: rig.out(),
                project: None,
            },
            done: BTreeSet::new(),
            attach: None,
            priority: 3,
            timeout: None,
            log: d.join("job.log"),
            tag: "node:1".into(),
            slot: crate::core::slots::Slot::plain(1).remove(0),
        },
        tx,
    );
    rig.handle = Some(handle);
    rig.rx = Some(rx);
    assert_eq!(rig.end().await, Outcome::Done, "{:#?}", rig.seen);
    let subs = rig.fake.submissions();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].name, "droprender-farmbox-1");
    assert_eq!((subs[0].tasks, subs[0].nice), (2, -3));
    assert_eq!(subs[0].work_dir, rig.work());
    let mut frames = rig.frames_done();
    frames.sort_unstable();
    assert_eq!(frames, [1, 2, 3, 4, 5, 6]);
}
