//! The end of a run: `Done` when every task completed and every frame is on
//! disk, else `Failed` naming the missing frames and, for each failed task,
//! its state, frames, last error line and log (the node retries the missing
//! frames and shows this text in LOG.txt).
//!
//! Blocking (it reads task logs): the runner calls it through `spawn_blocking`.

use std::collections::BTreeSet;
use std::path::Path;

use super::parse::{Phase, TaskMap, TaskStatus};
use super::tasks::{TaskSpec, task_log};
use crate::exec::Outcome;
use crate::renderer;

/// Judges array `farm` from its task states and the frames on disk.
/// `expected` empty: the frames are not known, task states alone decide.
pub(super) fn evaluate(
    farm: &str,
    tasks: &[TaskSpec],
    states: &TaskMap,
    expected: &BTreeSet<i64>,
    done: &BTreeSet<i64>,
    work_dir: &Path,
) -> Outcome {
    let missing: Vec<i64> = expected
        .iter()
        .copied()
        .filter(|f| !done.contains(f))
        .collect();
    let failed: Vec<(u32, &TaskStatus)> = states
        .iter()
        .filter(|(_, s)| s.phase == Phase::Failed)
        .map(|(k, s)| (*k, s))
        .collect();
    if missing.is_empty() && failed.is_empty() {
        return Outcome::Done;
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "{} frame(s) missing after Slurm job {farm}: {}",
            missing.len(),
            frame_ranges(&missing)
        ));
    }
    let frames_of = |k: u32| -> String {
        usize::try_from(k)
            .ok()
            .and_then(|k| k.checked_sub(1))
            .and_then(|i| tasks.get(i))
            .filter(|t| !t.frames.is_empty())
            .map(|t| format!(", frames {}", frame_ranges(&t.frames)))
            .unwrap_or_default()
    };
    let mut named: BTreeSet<u32> = BTreeSet::new();
    for (k, s) in &failed {
        named.insert(*k);
        let log = task_log(work_dir, farm, *k);
        let reason = if s.reason.is_empty() || s.reason == "None" {
            String::new()
        } else {
            format!(" ({})", s.reason)
        };
        let why = last_error_line(&log)
            .map(|l| format!(": {l}"))
            .unwrap_or_default();
        parts.push(format!(
            "task {k} {}{reason}{}{why}; log {}",
            s.state,
            frames_of(*k),
            log.display()
        ));
    }
    // Tasks that ended without their frames but were not marked failed.
    for (i, t) in tasks.iter().enumerate() {
        let k = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if !named.contains(&k) && t.frames.iter().any(|f| missing.contains(f)) {
            let log = task_log(work_dir, farm, k);
            let state = states
                .get(&k)
                .map_or("ended".to_string(), |s| s.state.clone());
            parts.push(format!(
                "task {k} {state} without all its frames{}; log {}",
                frames_of(k),
                log.display()
            ));
        }
    }
    if missing.is_empty() {
        return Outcome::Failed(format!(
            "every frame is on disk, but Slurm reports {}",
            parts.join("; ")
        ));
    }
    Outcome::Failed(parts.join("; "))
}

/// `1-3, 7, 9-10`.
fn frame_ranges(frames: &[i64]) -> String {
    renderer::runs(frames)
        .iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The line of a task log that best says why it failed: the last one that
/// mentions an error, else the last non-empty one.
fn last_error_line(log: &Path) -> Option<String> {
    let text = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let pick = lines
        .iter()
        .rev()
        .find(|l| l.to_ascii_lowercase().contains("error"))
        .or(lines.last())?;
    let mut s: String = pick.chars().take(200).collect();
    if pick.chars().count() > 200 {
        s.push('…');
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use super::super::tasks::Arg;

    fn spec(frames: &[i64]) -> TaskSpec {
        TaskSpec {
            program: Arg::Text("/bin/Render".into()),
            args: vec![],
            frames: frames.to_vec(),
        }
    }

    fn states(s: &[(u32, &str, &str)]) -> TaskMap {
        s.iter()
            .map(|(k, st, r)| (*k, TaskStatus::new(st, r)))
            .collect()
    }

    fn set(f: impl IntoIterator<Item = i64>) -> BTreeSet<i64> {
        f.into_iter().collect()
    }

    #[test]
    fn ranges_read_well() {
        assert_eq!(frame_ranges(&[1, 2, 3, 7, 9, 10]), "1-3, 7, 9-10");
    }

    #[test]
    fn every_task_completed_and_every_frame_on_disk_is_done() {
        let tasks = [spec(&[1, 2]), spec(&[3])];
        let st = states(&[(1, "COMPLETED", "None"), (2, "COMPLETED", "None")]);
        let out = evaluate("7", &tasks, &st, &set(1..=3), &set(1..=3), Path::new("/w"));
        assert_eq!(out, Outcome::Done);
    }

    #[test]
    fn a_failed_task_is_named_with_its_frames_error_and_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            task_log(dir.path(), "7", 2),
            "# droprender task 2/3\nRendering frame 4\nError: Frame rendering aborted.\nbye\n",
        )
        .expect("log");
        let tasks = [spec(&[1, 2, 3]), spec(&[4, 5, 6]), spec(&[7])];
        let st = states(&[
            (1, "COMPLETED", "None"),
            (2, "FAILED", "NonZeroExitCode"),
            (3, "COMPLETED", "None"),
        ]);
        let Outcome::Failed(msg) = evaluate(
            "7",
            &tasks,
            &st,
            &set(1..=7),
            &set([1, 2, 3, 4, 7]),
            dir.path(),
        ) else {
            panic!("not failed")
        };
        let log: PathBuf = task_log(dir.path(), "7", 2);
        assert_eq!(
            msg,
            format!(
                "2 frame(s) missing after Slurm job 7: 5-6; task 2 FAILED (NonZeroExitCode), frames 4-6: Error: Frame rendering aborted.; log {}",
                log.display()
            )
        );
    }

    #[test]
    fn a_task_that_ended_without_its_frames_is_named_too() {
        let tasks = [spec(&[1]), spec(&[2])];
        // Task 2 completed (or was purged) but its frame is not on disk.
        let st = states(&[(1, "COMPLETED", "None")]);
        let Outcome::Failed(msg) =
            evaluate("9", &tasks, &st, &set(1..=2), &set([1]), Path::new("/w"))
        else {
            panic!("not failed")
        };
        assert_eq!(
            msg,
            "1 frame(s) missing after Slurm job 9: 2; task 2 ended without all its frames, frames 2; log /w/task-9_2.log"
        );
    }

    #[test]
    fn a_failed_task_fails_the_job_even_with_every_frame_on_disk() {
        let tasks = [spec(&[])];
        let st = states(&[(1, "TIMEOUT", "TimeLimit")]);
        let Outcome::Failed(msg) = evaluate("3", &tasks, &st, &set([]), &set([]), Path::new("/w"))
        else {
            panic!("not failed")
        };
        assert_eq!(
            msg,
            "every frame is on disk, but Slurm reports task 1 TIMEOUT (TimeLimit); log /w/task-3_1.log"
        );
    }
}
