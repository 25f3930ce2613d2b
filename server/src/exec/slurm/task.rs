//! `droprender-node slurm-task <work_dir>`: the process each array task runs.
//! It reads `tasks.json`, picks the entry for `$SLURM_ARRAY_TASK_ID`, and
//! execs that argv (no shell sees it), tagged so the node can tell farm
//! tasks from its own leftovers.

use std::ffi::OsString;
use std::path::Path;

use super::tasks::{TASK_TAG_PREFIX, TASKS_FILE, TASKS_FILE_VERSION, TaskFile};

/// Runs one array task's argv; returns only when it cannot.
pub fn task_main(work_dir: &Path) -> std::process::ExitCode {
    let id = std::env::var("SLURM_ARRAY_TASK_ID").ok();
    match task_exec(work_dir, id.as_deref()) {
        Ok(never) => match never {},
        Err((code, msg)) => {
            eprintln!("droprender-node slurm-task: {msg}");
            std::process::ExitCode::from(code)
        }
    }
}

/// Execs task `task_id` (`$SLURM_ARRAY_TASK_ID`) of `work_dir`'s task list.
/// Err: the exit code and why.
fn task_exec(
    work_dir: &Path,
    task_id: Option<&str>,
) -> Result<std::convert::Infallible, (u8, String)> {
    use std::os::unix::process::CommandExt;
    let raw = task_id.ok_or_else(|| {
        (
            2,
            "SLURM_ARRAY_TASK_ID is not set: this runs only as a task of the array job droprender-node submits".to_string(),
        )
    })?;
    let k: usize = raw.trim().parse().map_err(|_| {
        (
            2,
            format!("SLURM_ARRAY_TASK_ID={raw:?} is not a task number"),
        )
    })?;
    let path = work_dir.join(TASKS_FILE);
    let bytes =
        std::fs::read(&path).map_err(|e| (2, format!("cannot read {}: {e}", path.display())))?;
    let file: TaskFile = serde_json::from_slice(&bytes).map_err(|e| {
        (
            2,
            format!(
                "{} is not a task list this droprender-node understands: {e}",
                path.display()
            ),
        )
    })?;
    if file.version != TASKS_FILE_VERSION {
        return Err((
            2,
            format!(
                "{} has version {}, this droprender-node reads version {TASKS_FILE_VERSION}: run the same droprender-node on the cluster as on the node",
                path.display(),
                file.version
            ),
        ));
    }
    let n = file.tasks.len();
    let spec = k
        .checked_sub(1)
        .and_then(|i| file.tasks.get(i))
        .ok_or_else(|| {
            (
                2,
                format!("task {k} is not in {} ({n} task(s))", path.display()),
            )
        })?;
    let program = spec.program();
    let args: Vec<OsString> = spec.args();
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let shown = std::iter::once(program.display().to_string())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    // The log's first line: when and where the task started, and what it runs.
    eprintln!(
        "# droprender task {k}/{n} of {} on {host} at {}\n$ {shown}",
        file.name,
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f")
    );
    let err = std::process::Command::new(&program)
        .args(&args)
        .env(
            crate::exec::local::process::TAG_VAR,
            format!("{TASK_TAG_PREFIX}{}", file.tag),
        )
        .exec();
    Err((
        127,
        format!(
            "cannot run {}: {err}; check the renderer path the cluster sees ([executor] maya_program / blender_program)",
            program.display()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::tasks::{TaskSpec, write_files};
    use super::*;
    use crate::renderer::Invocation;

    fn err(work_dir: &Path, id: Option<&str>) -> (u8, String) {
        match task_exec(work_dir, id) {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    #[test]
    fn a_task_says_why_it_cannot_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        assert!(err(d, None).1.contains("SLURM_ARRAY_TASK_ID is not set"));
        assert!(err(d, Some("x")).1.contains("is not a task number"));
        assert!(err(d, Some("1")).1.starts_with("cannot read "));
        let spec = TaskSpec::from_invocation(&Invocation {
            program: d.join("no-such-renderer"),
            args: vec![OsString::from("-s")],
            frames: vec![1],
            env: Vec::new(),
        });
        write_files(d, "droprender-a-1", "t:1", &[spec], Path::new("/bin/true")).expect("write");
        assert!(err(d, Some("0")).1.contains("task 0 is not in"));
        assert!(err(d, Some("2")).1.contains("(1 task(s))"));
        // A program that does not exist: exit 127 and the hint.
        let (code, msg) = err(d, Some("1"));
        assert_eq!(code, 127);
        assert!(msg.contains("maya_program / blender_program"), "{msg}");
        std::fs::write(
            d.join(TASKS_FILE),
            br#"{"version":99,"name":"n","tag":"t","tasks":[]}"#,
        )
        .expect("write");
        assert!(err(d, Some("1")).1.contains("has version 99"));
    }
}
