//! The Slurm command line behind a trait: the runner asks [`SlurmCli`] and
//! gets typed answers; [`RealCli`] runs sbatch/squeue/scancel/scontrol
//! (explicit args, no shell, `SLURM_CONF` from the environment) with a
//! timeout, and sorts failures into [`SlurmError`] by reading stderr once.

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use super::error::SlurmError;
use super::parse::{self, TaskMap};
use super::tasks::{SCRIPT_FILE, log_pattern};

/// A Slurm client command that has not answered in this long has failed
/// (squeue alone takes ~18 s to give up on a controller that is down).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// What the runner needs from Slurm.
pub trait SlurmCli: Send + Sync + 'static {
    /// Submits the array; its job id.
    fn sbatch(
        &self,
        req: &SbatchRequest,
    ) -> impl Future<Output = Result<String, SlurmError>> + Send;

    /// The array's tasks in any state (`squeue -r -j ID -t all`); empty when
    /// squeue lists none, [`SlurmError::UnknownJob`] when Slurm forgot the id.
    fn squeue_tasks(&self, job: &str) -> impl Future<Output = Result<TaskMap, SlurmError>> + Send;

    /// The id of a queued or running job with this name (finished jobs do not count).
    fn find_by_name(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, SlurmError>> + Send;

    /// Cancels the whole array.
    fn scancel(&self, job: &str) -> impl Future<Output = Result<(), SlurmError>> + Send;

    /// Cancels every job with this name.
    fn scancel_name(&self, name: &str) -> impl Future<Output = Result<(), SlurmError>> + Send;

    /// The finished array's tasks from the jobcomp/filetxt record (empty
    /// when the cluster keeps none).
    fn jobcomp(&self, job: &str) -> impl Future<Output = Result<TaskMap, SlurmError>> + Send;
}

/// One array submission, as sbatch arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct SbatchRequest {
    pub name: String,
    /// Array tasks 1..=tasks.
    pub tasks: usize,
    /// At most this many tasks at once (`%M`).
    pub max_tasks: Option<u32>,
    /// Holds the batch script; task logs go here, tasks start here.
    pub work_dir: PathBuf,
    /// `--nice` (0: not passed).
    pub nice: i32,
    pub partition: Option<String>,
    pub time_limit: Option<String>,
    /// Operator-configured extra sbatch arguments.
    pub extra: Vec<String>,
}

impl SbatchRequest {
    /// sbatch's argv (after the program name).
    pub fn argv(&self) -> Vec<OsString> {
        let w = &self.work_dir;
        let mut a: Vec<OsString> = os(&["--parsable", "--job-name", &self.name]);
        let mut array = format!("--array=1-{}", self.tasks);
        if let Some(m) = self.max_tasks.filter(|m| *m > 0) {
            array.push_str(&format!("%{m}"));
        }
        a.push(array.into());
        a.push("-o".into());
        a.push(log_pattern(w));
        a.push("--chdir".into());
        a.push(w.clone().into_os_string());
        a.push("--export=ALL".into());
        if self.nice != 0 {
            a.push(format!("--nice={}", self.nice).into());
        }
        if let Some(p) = &self.partition {
            a.push("--partition".into());
            a.push(p.into());
        }
        if let Some(t) = &self.time_limit {
            a.push("--time".into());
            a.push(t.into());
        }
        a.extend(self.extra.iter().map(OsString::from));
        a.push(w.join(SCRIPT_FILE).into_os_string());
        a
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// The real Slurm client tools.
#[derive(Debug, Clone)]
pub struct RealCli {
    /// A command that runs longer has failed ([`SlurmError::TimedOut`]).
    pub timeout: Duration,
}

impl Default for RealCli {
    fn default() -> Self {
        RealCli {
            timeout: COMMAND_TIMEOUT,
        }
    }
}

impl RealCli {
    async fn run(&self, program: &'static str, args: &[OsString]) -> Result<String, SlurmError> {
        run_cmd(program, args, self.timeout).await
    }
}

impl SlurmCli for RealCli {
    async fn sbatch(&self, req: &SbatchRequest) -> Result<String, SlurmError> {
        let out = self.run("sbatch", &req.argv()).await?;
        parse::parse_parsable(&out).ok_or_else(|| SlurmError::NoJobId {
            stdout: out.trim().to_string(),
        })
    }

    async fn squeue_tasks(&self, job: &str) -> Result<TaskMap, SlurmError> {
        let args = os(&["-h", "-r", "-j", job, "-t", "all", "-o", "%K %T %r"]);
        Ok(parse::parse_squeue(&self.run("squeue", &args).await?))
    }

    async fn find_by_name(&self, name: &str) -> Result<Option<String>, SlurmError> {
        let out = self
            .run("squeue", &os(&["-h", "--name", name, "-o", "%F"]))
            .await?;
        Ok(parse::parse_job_ids(&out))
    }

    async fn scancel(&self, job: &str) -> Result<(), SlurmError> {
        self.run("scancel", &[OsString::from(job)]).await.map(drop)
    }

    async fn scancel_name(&self, name: &str) -> Result<(), SlurmError> {
        self.run("scancel", &os(&["--name", name])).await.map(drop)
    }

    async fn jobcomp(&self, job: &str) -> Result<TaskMap, SlurmError> {
        let cfg = self.run("scontrol", &os(&["show", "config"])).await?;
        if parse::config_value(&cfg, "JobCompType").as_deref() != Some("jobcomp/filetxt") {
            return Ok(TaskMap::new());
        }
        let Some(loc) = parse::config_value(&cfg, "JobCompLoc") else {
            return Ok(TaskMap::new());
        };
        // A record that cannot be read is no record: the verdict goes by frames.
        Ok(match tokio::fs::read(&loc).await {
            Ok(t) => parse::parse_jobcomp(&String::from_utf8_lossy(&t), job),
            Err(_) => TaskMap::new(),
        })
    }
}

/// Runs one client command. Ok: stdout. Err: why it did not run, or its
/// stderr (in one line) sorted by [`SlurmError::from_stderr`].
pub(super) async fn run_cmd(
    program: &'static str,
    args: &[OsString],
    timeout: Duration,
) -> Result<String, SlurmError> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => {
            return Err(SlurmError::TimedOut {
                program,
                secs: timeout.as_secs(),
            });
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SlurmError::NotInstalled { program });
        }
        Ok(Err(source)) => return Err(SlurmError::Spawn { program, source }),
        Ok(Ok(o)) => o,
    };
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Err(SlurmError::from_stderr(program, stderr, out.status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbatch_arguments_are_exact() {
        let mut req = SbatchRequest {
            name: "droprender-farmbox-1".into(),
            tasks: 4,
            max_tasks: None,
            work_dir: PathBuf::from("/st/slurm/job-1"),
            nice: 0,
            partition: None,
            time_limit: None,
            extra: vec![],
        };
        let s = |a: Vec<OsString>| {
            a.iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            s(req.argv()),
            "--parsable --job-name droprender-farmbox-1 --array=1-4 -o /st/slurm/job-1/task-%A_%a.log --chdir /st/slurm/job-1 --export=ALL /st/slurm/job-1/batch.sh"
        );
        req.max_tasks = Some(2);
        req.nice = -5;
        req.partition = Some("render".into());
        req.time_limit = Some("10".into());
        req.extra = vec!["--qos=low".into()];
        assert_eq!(
            s(req.argv()),
            "--parsable --job-name droprender-farmbox-1 --array=1-4%2 -o /st/slurm/job-1/task-%A_%a.log --chdir /st/slurm/job-1 --export=ALL --nice=-5 --partition render --time 10 --qos=low /st/slurm/job-1/batch.sh"
        );
        req.max_tasks = Some(0);
        assert!(s(req.argv()).contains(" --array=1-4 "));
    }

    #[tokio::test]
    async fn a_missing_program_is_not_installed() {
        let e = run_cmd("droprender-no-such-slurm-tool", &[], COMMAND_TIMEOUT)
            .await
            .expect_err("not installed");
        assert!(matches!(e, SlurmError::NotInstalled { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn a_silent_program_times_out() {
        let t = std::time::Instant::now();
        let e = run_cmd("sleep", &os(&["5"]), Duration::from_millis(100))
            .await
            .expect_err("timeout");
        assert!(matches!(e, SlurmError::TimedOut { secs: 0, .. }), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(4));
    }

    #[tokio::test]
    async fn stderr_becomes_one_typed_error() {
        let e = run_cmd(
            "sh",
            &os(&[
                "-c",
                "echo 'squeue: error: Invalid job id specified' >&2; echo >&2; echo more >&2; exit 1",
            ]),
            COMMAND_TIMEOUT,
        )
        .await
        .expect_err("fails");
        assert!(matches!(e, SlurmError::UnknownJob { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            "squeue: error: Invalid job id specified; more"
        );
        let out = run_cmd("sh", &os(&["-c", "echo 42"]), COMMAND_TIMEOUT)
            .await
            .expect("runs");
        assert_eq!(out, "42\n");
    }
}
