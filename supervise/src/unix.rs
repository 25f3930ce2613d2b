//! Unix: a renderer's tree is its process group. The renderer leads a new
//! group, so one `killpg` reaches everything it starts (unless a child leaves
//! the group with setsid; the tag sweep at restart still finds those) and
//! never the node, whose own group is untouched.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, getpgid};
use tokio::process::{Child, Command};

use crate::Exit;
pub(crate) use crate::procs::{alive, start_time, table};

/// Nothing needs carrying from spawn set-up to adoption on Unix.
pub(crate) struct Prepared;

pub(crate) fn prepare(cmd: &mut Command) -> io::Result<Prepared> {
    // setpgid(0, 0) in the child before exec: the group exists before the
    // renderer can start anything, and a Ctrl-C at the node's terminal does
    // not reach it (the node decides how renders stop).
    cmd.process_group(0);
    Ok(Prepared)
}

#[derive(Debug)]
pub(crate) struct Tree {
    pgid: Pid,
}

impl Tree {
    pub(crate) fn adopt(_: Prepared, _child: &Child, pid: u32) -> io::Result<Tree> {
        let pgid = i32::try_from(pid).map_err(io::Error::other)?;
        Ok(Tree {
            pgid: Pid::from_raw(pgid),
        })
    }

    fn signal(&self, sig: Signal) -> io::Result<()> {
        killpg(self.pgid, sig).map_err(io::Error::from)
    }

    /// SIGCONT first so a suspended renderer can act on the SIGTERM.
    pub(crate) fn ask_to_stop(&self) {
        let _ = self.signal(Signal::SIGCONT);
        let _ = self.signal(Signal::SIGTERM);
    }

    pub(crate) fn kill(&self) {
        // ESRCH (group already empty) is the normal case after a clean exit.
        let _ = self.signal(Signal::SIGKILL);
    }

    pub(crate) fn suspend(&self) -> io::Result<()> {
        self.signal(Signal::SIGSTOP)
    }

    pub(crate) fn resume(&self) -> io::Result<()> {
        self.signal(Signal::SIGCONT)
    }

    pub(crate) fn memory(&self) -> Option<u64> {
        let pgid = self.pgid.as_raw();
        let members: Vec<_> = table(None, true)
            .into_iter()
            .filter(|p| p.pgid == pgid)
            .collect();
        if members.is_empty() {
            return None;
        }
        Some(members.iter().map(|p| p.rss).sum())
    }
}

pub(crate) fn exit_of(status: ExitStatus) -> Exit {
    Exit {
        code: status.code(),
        signal: status.signal(),
    }
}

/// Kills a leftover and its whole group, but never the caller's own group (a
/// tagged process could have been started in it by hand).
pub(crate) fn kill_leftover(pid: u32) {
    let Ok(raw) = i32::try_from(pid) else { return };
    let pid = Pid::from_raw(raw);
    let own = getpgid(None).ok();
    match getpgid(Some(pid)) {
        Ok(pgid) if Some(pgid) != own && pgid.as_raw() > 1 => {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        Ok(_) | Err(Errno::EPERM) => {}
        Err(_) => return, // gone already
    }
    let _ = kill(pid, Signal::SIGKILL);
}

pub(crate) fn hostname() -> Option<String> {
    nix::unistd::gethostname().ok()?.into_string().ok()
}
