//! The local executor: a job's renderer runs on this machine, one process
//! tree per job, supervised per OS (see [`process`]).

pub mod output;
pub mod process;
pub mod worker;

use std::sync::Arc;

use super::{Caps, Events, ExecJob, Executor, Handle};
use crate::config::Config;
use crate::renderer;

pub struct Local {
    /// Renderer programs and settings (argv planning reads them).
    cfg: Arc<Config>,
}

impl Local {
    pub fn new(cfg: Arc<Config>) -> Self {
        Local { cfg }
    }
}

impl Executor for Local {
    fn caps(&self) -> Caps {
        Caps {
            no_suspend: None,
            farm: None,
            freeze: process::FREEZE,
        }
    }

    fn start(&self, job: ExecJob, events: Events) -> Handle {
        let (handle, ctl) = Handle::new();
        let req = &job.resolved.request;
        let mut invocations = renderer::plan(&self.cfg, &job.resolved, &job.done);
        for inv in &mut invocations {
            renderer::on_slot(inv, req.renderer, &job.slot);
        }
        let wjob = worker::Job {
            id: job.id,
            invocations,
            parser: renderer::parser(req),
            log: job.log,
            tag: job.tag,
            grace: self.cfg.grace,
            kind: req.renderer,
            stall: self.cfg.stall,
            timeout: job.timeout,
        };
        let begun = worker::begin(&wjob);
        tokio::spawn(worker::run(wjob, begun, events, ctl));
        handle
    }
}
