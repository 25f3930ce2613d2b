//! A real single-host Slurm cluster for tests, by the measured recipe in
//! shared/reference/slurm.md: a scratch dir with munge's key and socket and
//! Slurm's state, spool, logs and jobcomp file; `munged -F`, `slurmctld -D -c`
//! and `slurmd -D -N render1` as children of the test, each waited for with
//! its readiness check, then an `sbatch --wait` smoke job.
//!
//! Slurm's ports (6817/6818) are fixed, so one cluster runs at a time: a
//! process-wide mutex and an flock on a file in the temp dir (other test
//! processes, e.g. a second `cargo test`) serialize them. Daemons are
//! stopped by `Drop` (SIGTERM, then SIGKILL), also when a test panics; their
//! pids are kept in a file beside the lock, so a cluster left behind by a
//! test process that was killed is stopped by the next one (those pids only).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The node name in slurm.conf and `slurmd -N`.
pub const NODE_NAME: &str = "render1";
pub const PARTITION: &str = "render";

static IN_PROCESS: Mutex<()> = Mutex::new(());

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub cpus: u32,
    munged: Option<Child>,
    ctld: Option<Child>,
    slurmd: Option<Child>,
    ctld_runs: u32,
    // Dropped last: the locks outlive the daemons.
    _file_lock: File,
    _guard: MutexGuard<'static, ()>,
}

/// Where the cross-process lock and the pid list live.
fn lock_paths() -> (PathBuf, PathBuf) {
    let t = std::env::temp_dir();
    (
        t.join("droprender-slurm-cluster.lock"),
        t.join("droprender-slurm-cluster.pids"),
    )
}

/// Stops daemons a killed test process left behind: only pids we recorded,
/// and only while they still run a Slurm or munge daemon.
fn stop_stale(pids_file: &Path) {
    let Ok(text) = std::fs::read_to_string(pids_file) else {
        return;
    };
    for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if ["munged", "slurmctld", "slurmd"].contains(&comm.trim()) {
            eprintln!(
                "slurm test cluster: stopping leftover {} (pid {pid})",
                comm.trim()
            );
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            for _ in 0..100 {
                if !crate::procfs::alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    let _ = std::fs::remove_file(pids_file);
}

impl Cluster {
    /// Starts a cluster whose node has `cpus` cores. `None` (after a loud
    /// skip message) when Slurm or munge is not installed, unless
    /// DROPRENDER_REQUIRE_TOOLS=1, which makes that a failure.
    pub fn start(cpus: u32) -> Option<Cluster> {
        for tool in [
            "slurmctld",
            "slurmd",
            "munged",
            "mungekey",
            "munge",
            "unmunge",
            "sbatch",
            "squeue",
            "scontrol",
            "scancel",
            "sinfo",
        ] {
            crate::bins::require_tool(tool)?;
        }
        let guard = IN_PROCESS.lock().unwrap_or_else(|e| e.into_inner());
        let (lock, pids) = lock_paths();
        let file_lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .expect("open the cluster lock file");
        file_lock.lock().expect("lock the cluster lock file");
        stop_stale(&pids);
        let dir = tempfile::Builder::new()
            .prefix("droprender-slurm-")
            .tempdir()
            .expect("tempdir");
        let b = dir.path().to_path_buf();
        for d in ["munge", "state", "spool", "run", "log"] {
            std::fs::create_dir_all(b.join(d)).expect("mkdir");
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(b.join("munge"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod munge dir");
        let mut c = Cluster {
            conf: b.join("slurm.conf"),
            dir,
            cpus,
            munged: None,
            ctld: None,
            slurmd: None,
            ctld_runs: 0,
            _file_lock: file_lock,
            _guard: guard,
        };
        let t = Instant::now();
        c.write_conf();
        c.start_munge();
        c.start_controller(true);
        c.start_slurmd();
        c.record_pids();
        let daemons = t.elapsed();
        c.smoke();
        eprintln!(
            "slurm test cluster ({cpus} CPUs): daemons ready in {:.2} s, smoke job done at {:.2} s",
            daemons.as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        Some(c)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn socket(&self) -> PathBuf {
        self.path("munge/munge.socket.2")
    }

    fn write_conf(&self) {
        let b = self.dir.path().display();
        let text = format!(
            "ClusterName=rendertest
SlurmctldHost=localhost(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={b}/munge/munge.socket.2
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation={b}/state
SlurmdSpoolDir={b}/spool
SlurmctldPidFile={b}/run/slurmctld.pid
SlurmdPidFile={b}/run/slurmd.pid
SlurmctldLogFile={b}/log/slurmctld.log
SlurmdLogFile={b}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={b}/log/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName={NODE_NAME} NodeAddr=127.0.0.1 NodeHostname=localhost Sockets=1 CoresPerSocket={} ThreadsPerCore=1 RealMemory=2000 State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
",
            self.cpus
        );
        std::fs::write(&self.conf, text).expect("write slurm.conf");
    }

    fn daemon(&self, program: &str, args: &[&str], log: &str) -> Child {
        let out = File::create(self.path(&format!("log/{log}"))).expect("daemon log");
        let err = out.try_clone().expect("daemon log");
        Command::new(program)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
    }

    fn start_munge(&mut self) {
        let key = self.path("munge/munge.key");
        let st = Command::new("mungekey")
            .arg("-c")
            .arg("-k")
            .arg(&key)
            .status()
            .expect("mungekey");
        assert!(st.success(), "mungekey failed");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
        let sock = self.socket().display().to_string();
        let args = [
            "-F".to_string(),
            "-S".to_string(),
            sock.clone(),
            format!("--key-file={}", key.display()),
            format!("--log-file={}", self.path("log/munged.log").display()),
            format!("--pid-file={}", self.path("run/munged.pid").display()),
            format!("--seed-file={}", self.path("munge/munge.seed").display()),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.munged = Some(self.daemon("munged", &args, "munged.out"));
        self.wait("munged", Duration::from_secs(20), |_| {
            let Ok(cred) = Command::new("munge").args(["-S", &sock, "-n"]).output() else {
                return false;
            };
            if !cred.status.success() {
                return false;
            }
            let Ok(mut un) = Command::new("unmunge")
                .args(["-S", &sock])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            else {
                return false;
            };
            if let Some(mut i) = un.stdin.take() {
                let _ = i.write_all(&cred.stdout);
            }
            un.wait().is_ok_and(|s| s.success())
        });
    }

    /// `slurmctld -D` (with `-c`: clear saved state). Ready when `scontrol ping` answers.
    pub fn start_controller(&mut self, clear: bool) {
        assert!(self.ctld.is_none(), "slurmctld already running");
        self.ctld_runs += 1;
        let log = format!("slurmctld-{}.out", self.ctld_runs);
        let args: &[&str] = if clear { &["-D", "-c"] } else { &["-D"] };
        self.ctld = Some(self.daemon("slurmctld", args, &log));
        self.wait("slurmctld", Duration::from_secs(30), |c| {
            c.cmd("scontrol")
                .arg("ping")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        self.record_pids();
    }

    /// Stops slurmctld (SIGTERM, wait): the controller goes down, jobs stay.
    pub fn stop_controller(&mut self) {
        if let Some(c) = self.ctld.take() {
            stop_child(c, "slurmctld");
        }
    }

    fn start_slurmd(&mut self) {
        self.slurmd = Some(self.daemon("slurmd", &["-D", "-N", NODE_NAME], "slurmd.out"));
        self.wait("slurmd", Duration::from_secs(30), |c| {
            c.cmd("sinfo")
                .args(["-h", "-n", NODE_NAME, "-o", "%T"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
        });
    }

    /// The scheduler starts a few seconds after slurmctld: a job that runs
    /// proves the whole chain.
    fn smoke(&self) {
        let out = self
            .cmd("sbatch")
            .args(["--wait", "-o", "/dev/null", "--wrap", "true"])
            .output()
            .expect("sbatch");
        assert!(
            out.status.success(),
            "smoke job failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
    }

    fn record_pids(&self) {
        let (_, pids) = lock_paths();
        let text: String = [&self.munged, &self.ctld, &self.slurmd]
            .iter()
            .filter_map(|c| c.as_ref().map(|c| format!("{}\n", c.id())))
            .collect();
        let _ = std::fs::write(pids, text);
    }

    fn wait(&self, what: &str, timeout: Duration, mut ready: impl FnMut(&Self) -> bool) {
        let t = Instant::now();
        while !ready(self) {
            assert!(
                t.elapsed() < timeout,
                "{what} did not become ready in {timeout:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A Slurm client command pointed at this cluster.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf).stdin(Stdio::null());
        c
    }

    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        self.cmd(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// `squeue` lines (`%F %K %T`) of queued or running jobs with this name.
    pub fn active(&self, name: &str) -> Vec<String> {
        let o = self.run("squeue", &["-h", "-r", "--name", name, "-o", "%F %K %T"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// jobcomp.txt: one line per finished task.
    pub fn jobcomp(&self) -> String {
        std::fs::read_to_string(self.path("log/jobcomp.txt")).unwrap_or_default()
    }

    /// Distinct array job ids that ran under this name (from jobcomp and squeue).
    pub fn array_ids(&self, name: &str) -> std::collections::BTreeSet<String> {
        let mut ids = std::collections::BTreeSet::new();
        for line in self.jobcomp().lines() {
            let field = |k: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
                    .map(str::to_string)
            };
            if field("Name").as_deref() == Some(name)
                && let Some(id) = field("ArrayJobId")
            {
                ids.insert(id);
            }
        }
        let o = self.run("squeue", &["-h", "-t", "all", "--name", name, "-o", "%F"]);
        for l in String::from_utf8_lossy(&o.stdout).lines() {
            ids.insert(l.trim().to_string());
        }
        ids
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["slurmctld.log", "slurmd.log", "munged.log"] {
            let t = std::fs::read_to_string(self.path(&format!("log/{f}"))).unwrap_or_default();
            let tail: Vec<&str> = t.lines().rev().take(30).collect();
            s.push_str(&format!("--- {f} (last lines) ---\n"));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

fn stop_child(mut c: Child, what: &str) {
    let started = Instant::now();
    stop_child_inner(&mut c, what);
    eprintln!(
        "slurm test cluster: {what} stopped in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

fn stop_child_inner(c: &mut Child, what: &str) {
    let pid = Pid::from_raw(c.id() as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let t = Instant::now();
    loop {
        match c.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => {}
        }
        if t.elapsed() > Duration::from_secs(10) {
            eprintln!("{what} ignored SIGTERM for 10 s: SIGKILL");
            let _ = c.kill();
            let _ = c.wait();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Jobs first, so no task outlives the test.
        if self.ctld.is_some()
            && let Ok(o) = self.cmd("squeue").args(["-h", "-o", "%F"]).output()
        {
            for id in String::from_utf8_lossy(&o.stdout).lines() {
                let _ = self.cmd("scancel").arg(id.trim()).output();
            }
        }
        for (c, what) in [
            (self.slurmd.take(), "slurmd"),
            (self.ctld.take(), "slurmctld"),
            (self.munged.take(), "munged"),
        ] {
            if let Some(c) = c {
                stop_child(c, what);
            }
        }
        let (_, pids) = lock_paths();
        let _ = std::fs::remove_file(pids);
    }
}
