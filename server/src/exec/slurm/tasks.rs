//! The files a submission leaves in its work dir: `tasks.json` (what each
//! array task runs), the fixed batch script, and the task logs' names.
//!
//! Everything here is plain (blocking) file work: the runner calls it
//! through `spawn_blocking`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use droprender_shared::profile::Profile;

use crate::renderer::Invocation;

/// The array's argv, one entry per task, in the work dir.
pub const TASKS_FILE: &str = "tasks.json";
/// The fixed batch script, in the work dir.
pub const SCRIPT_FILE: &str = "batch.sh";
/// Farm tasks' DROPRENDER_JOB is this prefix + the job's tag (see the module doc).
pub const TASK_TAG_PREFIX: &str = "slurm/";
pub(super) const TASKS_FILE_VERSION: u32 = 1;

/// `tasks.json`: what each array task runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct TaskFile {
    pub version: u32,
    /// The Slurm job name.
    pub name: String,
    /// The job's tag (DROPRENDER_JOB is [`TASK_TAG_PREFIX`] + this).
    pub tag: String,
    /// Task n (`$SLURM_ARRAY_TASK_ID`, 1-based) runs `tasks[n - 1]`.
    pub tasks: Vec<TaskSpec>,
    /// The renderer's profile, for its output parser: with it a task runs
    /// the renderer as its child and records each frame's time and memory
    /// (`records`); without (an older node's file) it execs the renderer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct TaskSpec {
    pub program: Arg,
    pub args: Vec<Arg>,
    /// Frames this task renders (empty when the range is not known).
    #[serde(default)]
    pub frames: Vec<i64>,
}

/// An argument, exactly: UTF-8 as text, anything else as its bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum Arg {
    Text(String),
    Bytes(Vec<u8>),
}

impl Arg {
    fn from_os(s: &OsStr) -> Self {
        match s.to_str() {
            Some(t) => Arg::Text(t.to_string()),
            None => Arg::Bytes(s.as_bytes().to_vec()),
        }
    }

    pub fn to_os(&self) -> OsString {
        match self {
            Arg::Text(t) => OsString::from(t),
            Arg::Bytes(b) => OsString::from_vec(b.clone()),
        }
    }
}

impl TaskSpec {
    pub fn from_invocation(inv: &Invocation) -> Self {
        TaskSpec {
            program: Arg::from_os(inv.program.as_os_str()),
            args: inv.args.iter().map(|a| Arg::from_os(a)).collect(),
            frames: inv.frames.clone(),
        }
    }

    pub fn program(&self) -> PathBuf {
        PathBuf::from(self.program.to_os())
    }

    pub fn args(&self) -> Vec<OsString> {
        self.args.iter().map(Arg::to_os).collect()
    }

    /// Maya's `-r` renderer, which picks Maya's output parser.
    pub fn maya_r(&self) -> Option<String> {
        let i = self
            .args
            .iter()
            .position(|a| matches!(a, Arg::Text(t) if t == "-r"))?;
        match self.args.get(i + 1)? {
            Arg::Text(t) => Some(t.clone()),
            Arg::Bytes(_) => None,
        }
    }
}

/// The task list of the array in `work_dir`, if it is one this node reads.
pub(super) fn read_tasks(work_dir: &Path) -> Option<Vec<TaskSpec>> {
    let bytes = std::fs::read(work_dir.join(TASKS_FILE)).ok()?;
    let f: TaskFile = serde_json::from_slice(&bytes).ok()?;
    (f.version == TASKS_FILE_VERSION && !f.tasks.is_empty()).then_some(f.tasks)
}

/// Writes `tasks.json` and the batch script (each atomically) for a submission.
pub(super) fn write_files(
    work_dir: &Path,
    name: &str,
    tag: &str,
    tasks: &[TaskSpec],
    profile: Option<&Profile>,
    node_program: &Path,
) -> std::io::Result<()> {
    let file = TaskFile {
        version: TASKS_FILE_VERSION,
        name: name.to_string(),
        tag: tag.to_string(),
        tasks: tasks.to_vec(),
        profile: profile.cloned(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?;
    write_atomic(&work_dir.join(TASKS_FILE), &json)?;
    write_atomic(
        &work_dir.join(SCRIPT_FILE),
        &batch_script(node_program, work_dir),
    )
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `'…'` for sh: everything literal, a `'` written as `'\''`.
fn sh_quote(s: &OsStr) -> Vec<u8> {
    let mut out = vec![b'\''];
    for &b in s.as_bytes() {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// The batch script: fixed text, the two node-owned paths quoted.
pub(super) fn batch_script(node_program: &Path, work_dir: &Path) -> Vec<u8> {
    let mut s = b"#!/bin/sh\n# Written by droprender-node: runs one array task's argv from tasks.json (no shell sees it).\nexec ".to_vec();
    s.extend(sh_quote(node_program.as_os_str()));
    s.extend_from_slice(b" slurm-task ");
    s.extend(sh_quote(work_dir.as_os_str()));
    s.push(b'\n');
    s
}

/// `-o` pattern: `<work_dir>/task-%A_%a.log`, a literal `%` in the dir escaped.
pub(super) fn log_pattern(work_dir: &Path) -> OsString {
    let mut b = Vec::new();
    for &c in work_dir.as_os_str().as_bytes() {
        if c == b'%' {
            b.extend_from_slice(b"%%");
        } else {
            b.push(c);
        }
    }
    b.extend_from_slice(b"/task-%A_%a.log");
    OsString::from_vec(b)
}

/// The log of array task `k` of job `farm` (what [`log_pattern`] expands to).
pub(super) fn task_log(work_dir: &Path, farm: &str, k: u32) -> PathBuf {
    work_dir.join(format!("task-{farm}_{k}.log"))
}

/// The program the batch script execs: the configured one, else this binary.
pub(super) fn node_program(configured: Option<&Path>) -> PathBuf {
    configured
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_exe().ok().map(|p| undeleted(&p)))
        .unwrap_or_else(|| PathBuf::from("droprender-node"))
}

/// Linux names a running program whose file was replaced (an upgrade, a
/// rebuild) `<path> (deleted)`; the tasks must run the file now at `<path>`.
fn undeleted(exe: &Path) -> PathBuf {
    let bytes = exe.as_os_str().as_bytes();
    match bytes.strip_suffix(b" (deleted)") {
        Some(b) if !exe.exists() => PathBuf::from(OsStr::from_bytes(b)),
        _ => exe.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_quotes_node_owned_paths() {
        let s = batch_script(
            Path::new("/opt/it's/droprender-node"),
            Path::new("/st ate/job-1"),
        );
        let s = String::from_utf8(s).expect("utf8");
        assert!(s.starts_with("#!/bin/sh\n"));
        assert!(s.ends_with("exec '/opt/it'\\''s/droprender-node' slurm-task '/st ate/job-1'\n"));
        // sh reads it back to the same two words.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "set -- {} {}; printf '%s\\n' \"$1\" \"$2\"",
                String::from_utf8(sh_quote(OsStr::new("a'b $c `d`"))).expect("utf8"),
                String::from_utf8(sh_quote(OsStr::new("\"x\" \\y"))).expect("utf8"),
            ))
            .output()
            .expect("sh");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "a'b $c `d`\n\"x\" \\y\n"
        );
    }

    #[test]
    fn log_pattern_escapes_percent() {
        assert_eq!(
            log_pattern(Path::new("/s/100%/job-1")),
            OsString::from("/s/100%%/job-1/task-%A_%a.log")
        );
    }

    #[test]
    fn tasks_file_round_trips_any_bytes() {
        let inv = Invocation {
            program: PathBuf::from("/bin/Render"),
            args: vec![
                OsString::from("-s"),
                OsString::from("1"),
                OsString::from_vec(vec![b's', 0xff, b'.', b'm', b'a']),
            ],
            frames: vec![1, 2, 3],
            env: Vec::new(),
        };
        let f = TaskFile {
            version: TASKS_FILE_VERSION,
            name: "droprender-a-1".into(),
            tag: "t:1".into(),
            tasks: vec![TaskSpec::from_invocation(&inv)],
            profile: droprender_shared::profile::builtin()
                .get("maya")
                .map(|p| Profile::clone(p)),
        };
        assert!(f.profile.is_some());
        let back: TaskFile =
            serde_json::from_slice(&serde_json::to_vec(&f).expect("json")).expect("parse");
        assert_eq!(back, f);
        assert_eq!(back.tasks[0].args(), inv.args);
        assert_eq!(back.tasks[0].program(), inv.program);
    }

    #[test]
    fn written_files_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = TaskSpec::from_invocation(&Invocation {
            program: PathBuf::from("/bin/Render"),
            args: vec![OsString::from("-s")],
            frames: vec![4],
            env: Vec::new(),
        });
        assert_eq!(read_tasks(dir.path()), None);
        write_files(
            dir.path(),
            "droprender-a-1",
            "t:1",
            std::slice::from_ref(&spec),
            None,
            Path::new("/bin/droprender-node"),
        )
        .expect("write");
        assert_eq!(read_tasks(dir.path()), Some(vec![spec]));
        let script = std::fs::read(dir.path().join(SCRIPT_FILE)).expect("script");
        assert_eq!(
            script,
            batch_script(Path::new("/bin/droprender-node"), dir.path())
        );
    }

    #[test]
    fn a_replaced_binary_is_found_at_its_path() {
        assert_eq!(
            undeleted(Path::new("/no/such/droprender-node (deleted)")),
            Path::new("/no/such/droprender-node")
        );
        assert_eq!(undeleted(Path::new("/bin/sh")), Path::new("/bin/sh"));
    }
}
