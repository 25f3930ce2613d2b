//! `droprender-node slurm-task <work_dir>`: the process each array task runs.
//! It reads `tasks.json`, picks the entry for `$SLURM_ARRAY_TASK_ID`, and
//! runs that argv (no shell sees it), tagged so the node can tell farm
//! tasks from its own leftovers: as its child, timing each frame into the
//! task's records file, or by exec when the list has no profile.

use std::ffi::OsString;
use std::path::Path;

use super::records::records_file;
use super::tasks::{TASK_TAG_PREFIX, TASKS_FILE, TASKS_FILE_VERSION, TaskFile};

/// Runs one array task: its renderer as a child whose frames are timed
/// (see [`super::supervised`]), or exec'd when the task list carries no
/// profile. Returns the task's exit code.
pub fn task_main(work_dir: &Path) -> std::process::ExitCode {
    let id = std::env::var("SLURM_ARRAY_TASK_ID").ok();
    match task_exec(work_dir, id.as_deref()) {
        Ok(code) => std::process::ExitCode::from(code),
        Err((code, msg)) => {
            eprintln!("droprender-node slurm-task: {msg}");
            std::process::ExitCode::from(code)
        }
    }
}

/// Runs task `task_id` (`$SLURM_ARRAY_TASK_ID`) of `work_dir`'s task list.
/// Ok: the exit code when the renderer ran; Err: the exit code and why not.
fn task_exec(work_dir: &Path, task_id: Option<&str>) -> Result<u8, (u8, String)> {
    let raw = task_id.ok_or_else(|| {
        (
            2,
            "SLURM_ARRAY_TASK_ID is not set: this runs only as a task of the array job droprender-node submits".to_string(),
        )
    })?;
    let k: u32 = raw.trim().parse().map_err(|_| {
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
    let spec = usize::try_from(k)
        .ok()
        .and_then(|k| k.checked_sub(1))
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
    // The log's first line: when and where the task started, and what it
    // runs. On stdout: a supervised task writes everything there, so its
    // lines and the renderer's share one file offset.
    println!(
        "# droprender task {k}/{n} of {} on {host} at {}",
        file.name,
        chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.3f")
    );
    let tag = format!("{TASK_TAG_PREFIX}{}", file.tag);
    let not_run = |err: &dyn std::fmt::Display| {
        (
            127,
            format!(
                "cannot run {}: {err}; check the renderer path the cluster sees ([executor] maya_program, blender_program or programs.<renderer>)",
                program.display()
            ),
        )
    };
    if let Some(profile) = &file.profile {
        let farm = std::env::var("SLURM_ARRAY_JOB_ID").unwrap_or_else(|_| "0".into());
        let records = records_file(work_dir, &farm, k);
        return super::supervised::run(spec, profile, tag, &records).map_err(|e| match e {
            super::supervised::Error::Spawn(why) => (
                127,
                format!("{why}; on the farm, check the renderer path the cluster sees ([executor] maya_program, blender_program or programs.<renderer>)"),
            ),
            super::supervised::Error::Other(msg) => (1, msg),
        });
    }
    // Exec'd, the renderer writes the log itself; the supervised worker
    // writes this line on its own.
    println!("$ {shown}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(&program)
        .args(&args)
        .env(crate::exec::local::process::TAG_VAR, tag)
        .exec();
    Err(not_run(&err))
}

#[cfg(test)]
mod tests {
    use super::super::tasks::{TaskSpec, write_files};
    use super::*;
    use crate::renderer::Invocation;

    fn err(work_dir: &Path, id: Option<&str>) -> (u8, String) {
        match task_exec(work_dir, id) {
            Ok(code) => panic!("ran, exit {code}"),
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
        write_files(
            d,
            "droprender-a-1",
            "t:1",
            &[spec],
            None,
            Path::new("/bin/true"),
        )
        .expect("write");
        assert!(err(d, Some("0")).1.contains("task 0 is not in"));
        assert!(err(d, Some("2")).1.contains("(1 task(s))"));
        // A program that does not exist: exit 127 and the hint.
        let (code, msg) = err(d, Some("1"));
        assert_eq!(code, 127);
        assert!(
            msg.contains("maya_program, blender_program or programs."),
            "{msg}"
        );
        std::fs::write(
            d.join(TASKS_FILE),
            br#"{"version":99,"name":"n","tag":"t","tasks":[]}"#,
        )
        .expect("write");
        assert!(err(d, Some("1")).1.contains("has version 99"));
    }
}
