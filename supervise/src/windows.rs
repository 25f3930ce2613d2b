//! Windows: a renderer's tree is a Job Object.
//!
//! The renderer is created suspended, assigned to a fresh job with
//! KILL_ON_JOB_CLOSE, then resumed: everything it starts is born inside the
//! job, and when the node dies, even abruptly, the kernel closes the node's
//! handle and the whole tree dies with it. It also leads a new console
//! process group so CTRL_BREAK can ask it (and only it) to stop.
//!
//! The only unsafe code of the crate lives here: windows-sys calls, each
//! with a SAFETY note. ntdll's NtSuspendProcess/NtResumeProcess are declared
//! with windows-link (windows-sys does not carry them); Wine 8 implements both.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io;
use std::mem::{offset_of, size_of};
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::process::ExitStatus;
use std::ptr;

use tokio::process::{Child, Command};
use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_MORE_DATA, FILETIME, HANDLE, HWND, LPARAM, TRUE, WAIT_TIMEOUT,
};
use windows_sys::Win32::System::Console::{
    CTRL_BREAK_EVENT, GenerateConsoleCtrlEvent, GetConsoleProcessList,
};
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION,
    JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, JOBOBJECT_BASIC_PROCESS_ID_LIST,
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectBasicProcessIdList,
    JobObjectExtendedLimitInformation, QueryInformationJobObject, SetInformationJobObject,
    TerminateJobObject,
};
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW, CREATE_SUSPENDED, GetProcessTimes, OpenProcess,
    PROCESS_ACCESS_RIGHTS, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SUSPEND_RESUME,
    PROCESS_SYNCHRONIZE, PROCESS_TERMINATE, PROCESS_VM_READ, TerminateProcess, WaitForSingleObject,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    EnumWindows, GetWindowThreadProcessId, IsWindowVisible, PostMessageW, WM_CLOSE,
};
use windows_sys::core::BOOL;

use crate::Exit;
pub(crate) use crate::sysinfo_table::table;

windows_link::link!("ntdll.dll" "system" fn NtSuspendProcess(process: HANDLE) -> i32);
windows_link::link!("ntdll.dll" "system" fn NtResumeProcess(process: HANDLE) -> i32);

/// The exit code of a process we kill (what std's `Child::kill` and
/// `taskkill /F` give too).
const KILLED: u32 = 1;

fn check(ok: BOOL) -> io::Result<()> {
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn nt(status: i32) -> io::Result<()> {
    if status >= 0 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "NTSTATUS {:#010X}",
            status as u32
        )))
    }
}

/// Opens a process by pid; `None` if it is gone or we may not.
fn open(pid: u32, access: PROCESS_ACCESS_RIGHTS) -> Option<OwnedHandle> {
    // SAFETY: plain call; a null result is handled.
    let h = unsafe { OpenProcess(access, 0, pid) };
    if h.is_null() {
        return None;
    }
    // SAFETY: a fresh handle we own; OwnedHandle closes it exactly once.
    Some(unsafe { OwnedHandle::from_raw_handle(h) })
}

/// The node has a console iff at least one process is attached to it.
fn has_console() -> bool {
    let mut one = [0u32; 1];
    // SAFETY: the buffer holds the one entry we say it holds.
    unsafe { GetConsoleProcessList(one.as_mut_ptr(), 1) != 0 }
}

#[derive(Debug)]
struct Job(OwnedHandle);

impl Job {
    fn new() -> io::Result<Job> {
        // SAFETY: null attributes and name: an unnamed job whose handle
        // children do not inherit (so only the node keeps the tree alive).
        let h = unsafe { CreateJobObjectW(ptr::null(), ptr::null()) };
        if h.is_null() {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh handle we own; OwnedHandle closes it exactly once.
        let job = Job(unsafe { OwnedHandle::from_raw_handle(h) });
        let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
        // DIE_ON_UNHANDLED_EXCEPTION: a crashing renderer exits instead of
        // waiting forever on a Windows Error Reporting dialog nobody sees.
        info.BasicLimitInformation.LimitFlags =
            JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
        // SAFETY: `info` is a valid struct of the class and size passed.
        check(unsafe {
            SetInformationJobObject(
                job.raw(),
                JobObjectExtendedLimitInformation,
                (&raw const info).cast::<c_void>(),
                size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            )
        })?;
        Ok(job)
    }

    fn raw(&self) -> HANDLE {
        self.0.as_raw_handle()
    }

    /// The pids now in the job.
    fn pids(&self) -> io::Result<Vec<u32>> {
        let word = size_of::<usize>();
        let header = offset_of!(JOBOBJECT_BASIC_PROCESS_ID_LIST, ProcessIdList) / word;
        let mut room = 32usize;
        for _ in 0..8 {
            // usize words keep the buffer aligned for the struct.
            let mut buf = vec![0usize; header + room];
            // SAFETY: `buf` is writable, aligned for the struct and as long as
            // the length passed; the return-length pointer may be null.
            let ok = unsafe {
                QueryInformationJobObject(
                    self.raw(),
                    JobObjectBasicProcessIdList,
                    buf.as_mut_ptr().cast::<c_void>(),
                    (buf.len() * word) as u32,
                    ptr::null_mut(),
                )
            };
            let err = (ok == 0).then(io::Error::last_os_error);
            // SAFETY: the buffer is at least one struct long (header + 1 entry)
            // and the call filled the header, on ERROR_MORE_DATA too.
            let list: JOBOBJECT_BASIC_PROCESS_ID_LIST = unsafe { ptr::read(buf.as_ptr().cast()) };
            let assigned = list.NumberOfAssignedProcesses as usize;
            let listed = (list.NumberOfProcessIdsInList as usize).min(room);
            match err {
                Some(e) if e.raw_os_error() != Some(ERROR_MORE_DATA as i32) => return Err(e),
                None if listed >= assigned => {
                    return Ok(buf[header..header + listed]
                        .iter()
                        .map(|&p| p as u32)
                        .collect());
                }
                _ => room = assigned.max(room) * 2,
            }
        }
        Err(io::Error::other(
            "the job's process list kept growing; try again",
        ))
    }

    fn terminate(&self) {
        // SAFETY: plain call on our own job handle.
        unsafe { TerminateJobObject(self.raw(), KILLED) };
    }
}

/// What `prepare` made for `adopt`.
pub(crate) struct Prepared {
    job: Job,
    console: bool,
}

pub(crate) fn prepare(cmd: &mut Command) -> io::Result<Prepared> {
    let job = Job::new()?;
    // With a console (node run from a terminal) the renderer shares it, so
    // CTRL_BREAK can reach it. Without one (a service) each console renderer
    // would pop up a window: CREATE_NO_WINDOW, and stop requests go by
    // WM_CLOSE instead.
    let console = has_console();
    let mut flags = CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP;
    if !console {
        flags |= CREATE_NO_WINDOW;
    }
    cmd.creation_flags(flags);
    Ok(Prepared { job, console })
}

#[derive(Debug)]
pub(crate) struct Tree {
    job: Job,
    pid: u32,
    console: bool,
}

impl Tree {
    pub(crate) fn adopt(p: Prepared, child: &Child, pid: u32) -> io::Result<Tree> {
        let h = child
            .raw_handle()
            .ok_or_else(|| io::Error::other("the new process has no handle"))?;
        // SAFETY: `h` is the child's process handle, valid while `child` is
        // borrowed; the job handle is ours.
        let mut res = check(unsafe { AssignProcessToJobObject(p.job.raw(), h) });
        if res.is_ok() {
            // Resumes the suspended main thread: only now can it start children.
            // SAFETY: as above.
            res = nt(unsafe { NtResumeProcess(h) });
        }
        if res.is_err() {
            // Never let it run unsupervised; it has not run a single instruction.
            // SAFETY: as above.
            unsafe { TerminateProcess(h, KILLED) };
        }
        res.map(|()| Tree {
            job: p.job,
            pid,
            console: p.console,
        })
    }

    pub(crate) fn ask_to_stop(&self) {
        // The caller has checked that the leader is not yet reaped: a group
        // id that names no group makes Windows signal every process on the
        // console, the node included.
        // SAFETY: plain call.
        if self.console && unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, self.pid) } != 0 {
            return;
        }
        self.close_windows();
    }

    /// WM_CLOSE to the visible top-level windows of the job's processes:
    /// what a user closing the window would send.
    fn close_windows(&self) {
        extern "system" fn collect(hwnd: HWND, found: LPARAM) -> BOOL {
            // SAFETY: `found` is the Vec passed to EnumWindows below, alive and
            // not otherwise borrowed for the whole (synchronous) enumeration.
            let found = unsafe { &mut *(found as *mut Vec<(usize, u32)>) };
            let mut pid = 0u32;
            // SAFETY: `hwnd` comes from EnumWindows; `pid` is a valid out pointer.
            if unsafe { IsWindowVisible(hwnd) } != 0 {
                unsafe { GetWindowThreadProcessId(hwnd, &mut pid) };
                found.push((hwnd as usize, pid));
            }
            TRUE
        }
        let Ok(pids) = self.job.pids() else { return };
        let mut windows: Vec<(usize, u32)> = Vec::new();
        // SAFETY: `collect` only runs during this call and gets our Vec.
        unsafe { EnumWindows(Some(collect), (&raw mut windows) as LPARAM) };
        for (hwnd, _) in windows.iter().filter(|(_, pid)| pids.contains(pid)) {
            // SAFETY: posting to a window that may have closed since is harmless.
            unsafe { PostMessageW(*hwnd as HWND, WM_CLOSE, 0, 0) };
        }
    }

    pub(crate) fn kill(&self) {
        self.job.terminate();
    }

    /// NtSuspendProcess on every process in the job. Repeated until no new
    /// process appears, since one could start between listing and freezing.
    pub(crate) fn suspend(&self) -> io::Result<()> {
        self.each_process(true)
    }

    pub(crate) fn resume(&self) -> io::Result<()> {
        self.each_process(false)
    }

    fn each_process(&self, suspend: bool) -> io::Result<()> {
        let mut done: Vec<u32> = Vec::new();
        for _ in 0..4 {
            let fresh: Vec<u32> = self
                .job
                .pids()?
                .into_iter()
                .filter(|p| !done.contains(p))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for pid in fresh {
                done.push(pid);
                let Some(h) = open(pid, PROCESS_SUSPEND_RESUME) else {
                    continue;
                };
                // SAFETY: plain call on a handle we own.
                let status = unsafe {
                    if suspend {
                        NtSuspendProcess(h.as_raw_handle())
                    } else {
                        NtResumeProcess(h.as_raw_handle())
                    }
                };
                nt(status)?;
            }
        }
        Ok(())
    }

    /// The sum of the job's working sets (resident bytes).
    pub(crate) fn memory(&self) -> Option<u64> {
        let pids = self.job.pids().ok()?;
        let mut total = 0u64;
        let mut seen = false;
        for pid in pids {
            let Some(h) = open(pid, PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ) else {
                continue;
            };
            let mut c = PROCESS_MEMORY_COUNTERS::default();
            let cb = size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
            // SAFETY: `c` is a writable struct of the size passed.
            if unsafe { K32GetProcessMemoryInfo(h.as_raw_handle(), &mut c, cb) } != 0 {
                total += c.WorkingSetSize as u64;
                seen = true;
            }
        }
        seen.then_some(total)
    }
}

pub(crate) fn exit_of(status: ExitStatus) -> Exit {
    Exit {
        code: status.code(),
        signal: None,
    }
}

pub(crate) fn kill_leftover(pid: u32) {
    if let Some(h) = open(pid, PROCESS_TERMINATE) {
        // SAFETY: plain call on a handle we own.
        unsafe { TerminateProcess(h.as_raw_handle(), KILLED) };
    }
}

/// Creation time in 100 ns units since 1601 (GetProcessTimes).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let h = open(pid, PROCESS_QUERY_LIMITED_INFORMATION)?;
    let mut t = [FILETIME::default(); 4];
    let [c, e, k, u] = &mut t;
    // SAFETY: four writable FILETIMEs.
    check(unsafe { GetProcessTimes(h.as_raw_handle(), c, e, k, u) }).ok()?;
    Some((u64::from(t[0].dwHighDateTime) << 32) | u64::from(t[0].dwLowDateTime))
}

pub(crate) fn alive(pid: u32) -> bool {
    match open(pid, PROCESS_SYNCHRONIZE) {
        // SAFETY: plain call on a handle we own; 0 ms never blocks.
        Some(h) => unsafe { WaitForSingleObject(h.as_raw_handle(), 0) == WAIT_TIMEOUT },
        // A process we may not open still exists.
        None => io::Error::last_os_error().raw_os_error() == Some(ERROR_ACCESS_DENIED as i32),
    }
}

pub(crate) fn hostname() -> Option<String> {
    sysinfo::System::host_name().or_else(|| std::env::var("COMPUTERNAME").ok())
}
