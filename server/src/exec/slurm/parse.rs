//! What Slurm's client tools print, read into task states: squeue lines,
//! jobcomp/filetxt records, `sbatch --parsable`, `scontrol show config`.
//! Pure functions, no I/O.

use std::collections::BTreeMap;

/// Where a task stands, from Slurm's state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Done,
    Failed,
}

pub(super) fn phase_of(state: &str) -> Phase {
    match state {
        "COMPLETED" => Phase::Done,
        "RUNNING" | "COMPLETING" | "SUSPENDED" | "STOPPED" | "SIGNALING" | "STAGE_OUT"
        | "RESIZING" => Phase::Running,
        "FAILED" | "CANCELLED" | "TIMEOUT" | "NODE_FAIL" | "PREEMPTED" | "BOOT_FAIL"
        | "DEADLINE" | "OUT_OF_MEMORY" | "SPECIAL_EXIT" | "REVOKED" => Phase::Failed,
        // PENDING, CONFIGURING, REQUEUED…, and any state this code does not
        // know: not over, so keep watching.
        _ => Phase::Pending,
    }
}

/// One array task as Slurm reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    pub phase: Phase,
    /// Slurm's word: COMPLETED, FAILED, TIMEOUT, …
    pub state: String,
    /// squeue's reason (NonZeroExitCode, TimeLimit, …) or jobcomp's ExitCode.
    pub reason: String,
}

impl TaskStatus {
    pub fn new(state: &str, reason: &str) -> Self {
        TaskStatus {
            phase: phase_of(state),
            state: state.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// An array's tasks by array index (`$SLURM_ARRAY_TASK_ID`).
pub type TaskMap = BTreeMap<u32, TaskStatus>;

/// Parses `squeue -h -r -o '%K %T %r'`: array task id, state, reason.
pub(super) fn parse_squeue(out: &str) -> TaskMap {
    let mut m = BTreeMap::new();
    for line in out.lines() {
        let mut f = line.split_whitespace();
        let (Some(k), Some(state)) = (f.next(), f.next()) else {
            continue;
        };
        let Ok(k) = k.parse::<u32>() else { continue };
        let reason = f.collect::<Vec<_>>().join(" ");
        m.insert(k, TaskStatus::new(state, &reason));
    }
    m
}

/// Parses jobcomp/filetxt lines (`Key=Value …`) for one array job's tasks.
pub(super) fn parse_jobcomp(text: &str, array_id: &str) -> TaskMap {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        };
        if field("ArrayJobId") != Some(array_id) {
            continue;
        }
        let (Some(k), Some(state)) = (
            field("ArrayTaskId").and_then(|k| k.parse::<u32>().ok()),
            field("JobState"),
        ) else {
            continue;
        };
        let reason = field("ExitCode")
            .map(|c| format!("exit {c}"))
            .unwrap_or_default();
        m.insert(k, TaskStatus::new(state, &reason));
    }
    m
}

/// `scontrol show config`'s value for `key` (`Key = Value` lines).
pub(super) fn config_value(cfg: &str, key: &str) -> Option<String> {
    cfg.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// sbatch --parsable prints `ID` or `ID;cluster`.
pub(super) fn parse_parsable(out: &str) -> Option<String> {
    let id = out.lines().next()?.split(';').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
}

/// `squeue -h --name NAME -o %F`: the lowest array job id listed.
pub(super) fn parse_job_ids(out: &str) -> Option<String> {
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        .map(|l| l.parse::<u64>().unwrap_or(u64::MAX))
        .min()
        .map(|id| id.to_string())
}

/// Task counts: pending, running, done, failed. Tasks Slurm does not list
/// (not yet split off, or purged) count as pending.
pub(super) fn counts(map: &TaskMap, n: usize) -> [u32; 4] {
    let mut c = [0u32; 4];
    for s in map.values() {
        let i = match s.phase {
            Phase::Pending => 0,
            Phase::Running => 1,
            Phase::Done => 2,
            Phase::Failed => 3,
        };
        c[i] += 1;
    }
    let listed = u32::try_from(map.len()).unwrap_or(u32::MAX);
    c[0] += u32::try_from(n).unwrap_or(u32::MAX).saturating_sub(listed);
    c
}

/// Whether any task is pending or running.
pub(super) fn active(map: &TaskMap) -> bool {
    map.values()
        .any(|s| matches!(s.phase, Phase::Pending | Phase::Running))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_lines_parse() {
        let m = parse_squeue(
            "1 COMPLETED None\n2 RUNNING None\n3 PENDING JobArrayTaskLimit\n4 FAILED NonZeroExitCode\nN/A RUNNING None\n\n",
        );
        assert_eq!(m.len(), 4);
        assert_eq!(m[&1].phase, Phase::Done);
        assert_eq!(m[&2].phase, Phase::Running);
        assert_eq!(m[&3].phase, Phase::Pending);
        assert_eq!(m[&4].phase, Phase::Failed);
        assert_eq!(m[&4].reason, "NonZeroExitCode");
        assert_eq!(counts(&m, 6), [3, 1, 1, 1]);
        assert!(active(&m));
        assert_eq!(phase_of("TIMEOUT"), Phase::Failed);
        assert_eq!(phase_of("COMPLETING"), Phase::Running);
        assert_eq!(phase_of("SOMETHING_NEW"), Phase::Pending);
    }

    #[test]
    fn jobcomp_lines_parse() {
        let text = "JobId=6 Name=x JobState=COMPLETED ArrayJobId=2 ArrayTaskId=4 DerivedExitCode=0:0 ExitCode=0:0 \n\
                    JobId=7 Name=x JobState=FAILED ArrayJobId=2 ArrayTaskId=3 ExitCode=211:0\n\
                    JobId=9 Name=y JobState=COMPLETED ArrayJobId=12 ArrayTaskId=1 ExitCode=0:0\n";
        let m = parse_jobcomp(text, "2");
        assert_eq!(m.len(), 2);
        assert_eq!(m[&4].phase, Phase::Done);
        assert_eq!(m[&3].phase, Phase::Failed);
        assert_eq!(m[&3].reason, "exit 211:0");
    }

    #[test]
    fn parsable_ids() {
        assert_eq!(parse_parsable("42\n").as_deref(), Some("42"));
        assert_eq!(parse_parsable("42;cluster\n").as_deref(), Some("42"));
        assert_eq!(parse_parsable("Submitted batch job 42"), None);
        assert_eq!(parse_parsable(""), None);
    }

    #[test]
    fn job_ids_by_name_take_the_lowest() {
        assert_eq!(parse_job_ids("17\n9\n\n").as_deref(), Some("9"));
        assert_eq!(parse_job_ids("N/A\n"), None);
        assert_eq!(parse_job_ids(""), None);
    }

    #[test]
    fn config_values() {
        let cfg = "Configuration data as of …\nJobCompLoc              = /b/log/jobcomp.txt\nJobCompType             = jobcomp/filetxt\n";
        assert_eq!(
            config_value(cfg, "JobCompType").as_deref(),
            Some("jobcomp/filetxt")
        );
        assert_eq!(
            config_value(cfg, "JobCompLoc").as_deref(),
            Some("/b/log/jobcomp.txt")
        );
        assert_eq!(config_value(cfg, "JobComp"), None);
    }
}
