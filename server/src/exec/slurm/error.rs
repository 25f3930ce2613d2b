//! Why a Slurm client command did not give what was asked. The command line
//! adapter ([`super::cli`]) reads stderr once and picks the variant; the
//! runner decides by variant. The texts are what users read in LOG.txt
//! after the runner's context ("sbatch failed: …; retrying in 30 s").

use std::process::ExitStatus;

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// The program is not on the node's PATH.
    #[error(
        "cannot run {program}: it is not installed or not on the node's PATH (install Slurm's client tools)"
    )]
    NotInstalled { program: &'static str },

    /// The program did not finish in time (a controller that is down makes
    /// squeue wait ~18 s before it gives up).
    #[error("{program} did not answer within {secs} s")]
    TimedOut { program: &'static str, secs: u64 },

    /// The program could not be started for another reason.
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// Slurm does not know the job id: purged after MinJobAge, or never existed.
    #[error("{stderr}")]
    UnknownJob {
        program: &'static str,
        stderr: String,
    },

    /// sbatch refused the requested `--nice` (only Slurm operators may
    /// raise a job's priority): submit again at nice 0.
    #[error("{stderr}")]
    NiceRefused { stderr: String },

    /// sbatch exited 0 without an id we can read: the job may exist, so look
    /// it up by name before submitting again.
    #[error("sbatch printed no job id ({stdout:?})")]
    NoJobId { stdout: String },

    /// The program failed; Slurm's own words (stderr in one line).
    #[error("{}", failed_text(program, stderr, status))]
    Failed {
        program: &'static str,
        stderr: String,
        status: ExitStatus,
    },
}

fn failed_text(program: &str, stderr: &str, status: &ExitStatus) -> String {
    if stderr.is_empty() {
        format!("{program} failed ({status})")
    } else {
        stderr.to_string()
    }
}

impl SlurmError {
    /// Sorts a failed command by what its stderr says (already one line).
    pub(super) fn from_stderr(program: &'static str, stderr: String, status: ExitStatus) -> Self {
        if stderr.contains("Invalid job id") {
            SlurmError::UnknownJob { program, stderr }
        } else if program == "sbatch" && stderr.contains("nice") {
            SlurmError::NiceRefused { stderr }
        } else {
            SlurmError::Failed {
                program,
                stderr,
                status,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn exit1() -> ExitStatus {
        ExitStatus::from_raw(1 << 8)
    }

    #[test]
    fn stderr_is_sorted_once() {
        let e = SlurmError::from_stderr(
            "squeue",
            "slurm_load_jobs error: Invalid job id specified".into(),
            exit1(),
        );
        assert!(matches!(e, SlurmError::UnknownJob { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "slurm_load_jobs error: Invalid job id specified"
        );
        let e = SlurmError::from_stderr(
            "sbatch",
            "sbatch: error: Batch job submission failed: Invalid --nice value".into(),
            exit1(),
        );
        assert!(matches!(e, SlurmError::NiceRefused { .. }), "{e:?}");
        // "nice" from another program is just a failure.
        let e = SlurmError::from_stderr("squeue", "nice try".into(), exit1());
        assert!(matches!(e, SlurmError::Failed { .. }), "{e:?}");
        assert_eq!(e.to_string(), "nice try");
        let e = SlurmError::from_stderr("scancel", String::new(), exit1());
        assert_eq!(e.to_string(), "scancel failed (exit status: 1)");
    }

    #[test]
    fn messages_say_what_to_do() {
        assert_eq!(
            SlurmError::NotInstalled { program: "sbatch" }.to_string(),
            "cannot run sbatch: it is not installed or not on the node's PATH (install Slurm's client tools)"
        );
        assert_eq!(
            SlurmError::TimedOut {
                program: "squeue",
                secs: 120
            }
            .to_string(),
            "squeue did not answer within 120 s"
        );
        assert_eq!(
            SlurmError::NoJobId {
                stdout: "odd".into()
            }
            .to_string(),
            "sbatch printed no job id (\"odd\")"
        );
    }
}
