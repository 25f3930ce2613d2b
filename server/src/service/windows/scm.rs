//! The Windows service itself: the Service Control Manager calls (install,
//! start, stop, status) and the dispatcher that runs the node as a service.

use std::ffi::{OsStr, OsString};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::watch;
use windows_service::service::{
    Service, ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::service_dispatcher;
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::super::{Plan, ServiceRunArgs, TargetArgs};
use super::{
    EXIT_BAD_CONFIG, EXIT_NODE_FAILED, RESET_FAILURES_AFTER_SECS, RESTART_DELAYS_SECS, describe,
    display_name, log_file_of, needs_password, service_arguments,
};
use crate::core::Shutdown;

const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_SERVICE_ALREADY_RUNNING: i32 = 1056;
const ERROR_SERVICE_CANNOT_ACCEPT_CTRL: i32 = 1061;
const ERROR_SERVICE_DOES_NOT_EXIST: i32 = 1060;
const ERROR_SERVICE_NOT_ACTIVE: i32 = 1062;
const ERROR_FAILED_SERVICE_CONTROLLER_CONNECT: i32 = 1063;
const ERROR_SERVICE_MARKED_FOR_DELETE: i32 = 1072;
const ERROR_SERVICE_LOGON_FAILED: i32 = 1069;

/// The password of `--run-as ACCOUNT`: from the environment, never argv.
const PASSWORD_VAR: &str = "DROPRENDER_SERVICE_PASSWORD";

fn code(e: &windows_service::Error) -> Option<i32> {
    match e {
        windows_service::Error::Winapi(io) => io.raw_os_error(),
        _ => None,
    }
}

/// The SCM's error, said with what to do.
fn explain(e: windows_service::Error, what: &str, name: &str) -> anyhow::Error {
    match code(&e) {
        Some(ERROR_ACCESS_DENIED) => anyhow::anyhow!(
            "{what}: access denied. Services are managed by administrators: open the terminal with \"Run as administrator\" and try again"
        ),
        Some(ERROR_SERVICE_DOES_NOT_EXIST) => anyhow::anyhow!(
            "{what}: no service named {name} is installed: `droprender-node service install`"
        ),
        Some(ERROR_SERVICE_MARKED_FOR_DELETE) => anyhow::anyhow!(
            "{what}: {name} is being removed; Windows finishes once nothing holds it open: close the Services window (services.msc) and try again"
        ),
        Some(ERROR_SERVICE_LOGON_FAILED) => anyhow::anyhow!(
            "{what}: the service's account could not log on: check the password (install again with {PASSWORD_VAR} set) and that the account has \"Log on as a service\""
        ),
        _ => anyhow::Error::new(e).context(what.to_string()),
    }
}

fn manager(access: ServiceManagerAccess) -> anyhow::Result<ServiceManager> {
    ServiceManager::local_computer(None::<&str>, access)
        .map_err(|e| explain(e, "opening the service control manager", ""))
}

fn open(name: &str, access: ServiceAccess) -> anyhow::Result<Service> {
    manager(ServiceManagerAccess::CONNECT)?
        .open_service(name, access)
        .map_err(|e| explain(e, &format!("opening the service {name}"), name))
}

fn state_text(s: &ServiceStatus) -> String {
    let state = match s.current_state {
        ServiceState::Stopped => "stopped",
        ServiceState::StartPending => "starting",
        ServiceState::StopPending => "stopping",
        ServiceState::Running => "running",
        ServiceState::ContinuePending => "continuing",
        ServiceState::PausePending => "pausing",
        ServiceState::Paused => "paused",
    };
    let mut detail = Vec::new();
    if let Some(pid) = s.process_id {
        detail.push(format!("pid {pid}"));
    }
    match s.exit_code {
        ServiceExitCode::Win32(0) => {}
        ServiceExitCode::Win32(c) => detail.push(format!("Windows error {c}")),
        ServiceExitCode::ServiceSpecific(EXIT_BAD_CONFIG) => {
            detail.push("exit code 2: the config could not be read".into())
        }
        ServiceExitCode::ServiceSpecific(EXIT_NODE_FAILED) => {
            detail.push("exit code 1: the node failed".into())
        }
        ServiceExitCode::ServiceSpecific(c) => detail.push(format!("exit code {c}")),
    }
    if detail.is_empty() {
        state.to_string()
    } else {
        format!("{state} ({})", detail.join(", "))
    }
}

/// Polls until `done` or `timeout`.
fn wait(
    svc: &Service,
    timeout: Duration,
    done: impl Fn(ServiceState) -> bool,
) -> anyhow::Result<ServiceStatus> {
    let t0 = Instant::now();
    loop {
        let st = svc.query_status().context("asking the service's state")?;
        if done(st.current_state) || t0.elapsed() >= timeout {
            return Ok(st);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn log_hint(svc: &Service) -> String {
    svc.query_config()
        .ok()
        .and_then(|c| log_file_of(&c.executable_path.to_string_lossy()))
        .map(|p| format!(": see the node log {}.<date>", p.display()))
        .unwrap_or_default()
}

/// After a start: running, or why not.
fn started(svc: &Service, name: &str) -> anyhow::Result<()> {
    let st = wait(svc, Duration::from_secs(60), |s| {
        s != ServiceState::StartPending
    })?;
    if st.current_state == ServiceState::Running {
        // A node that fails at once (a folder missing) stops within a moment.
        std::thread::sleep(Duration::from_secs(2));
    }
    let st = svc.query_status().context("asking the service's state")?;
    match st.current_state {
        ServiceState::Running => {
            println!("{name}: {}", state_text(&st));
            Ok(())
        }
        _ => anyhow::bail!(
            "{name} did not keep running: {}{}",
            state_text(&st),
            log_hint(svc)
        ),
    }
}

/// Stops and waits until stopped.
fn stop_and_wait(svc: &Service, name: &str) -> anyhow::Result<()> {
    match svc.stop() {
        Ok(_) => {}
        Err(e) if code(&e) == Some(ERROR_SERVICE_NOT_ACTIVE) => {
            println!("{name} is not running");
            return Ok(());
        }
        // Stopping already (or starting): wait for it below.
        Err(e) if code(&e) == Some(ERROR_SERVICE_CANNOT_ACCEPT_CTRL) => {}
        Err(e) => return Err(explain(e, &format!("stopping {name}"), name)),
    }
    println!("stopping {name}: the node stops the render and records it as interrupted…");
    let st = wait(svc, Duration::from_secs(10 * 60), |s| {
        s == ServiceState::Stopped
    })?;
    if st.current_state != ServiceState::Stopped {
        anyhow::bail!(
            "{name} is still {} after 10 minutes{}",
            state_text(&st),
            log_hint(svc)
        );
    }
    println!("stopped {name}: a render it was running resumes at the next start");
    Ok(())
}

fn warn_unless<T>(r: windows_service::Result<T>, what: &str) {
    if let Err(e) = r {
        let os = match &e {
            windows_service::Error::Winapi(io) => format!(": {io}"),
            _ => String::new(),
        };
        eprintln!(
            "droprender-node: warning: could not set {what} ({e}{os}); set it in services.msc"
        );
    }
}

pub mod os {
    use super::*;

    pub fn install(plan: &Plan, dry_run: bool) -> anyhow::Result<()> {
        if dry_run {
            print!("{}", describe(plan));
            return Ok(());
        }
        let name = plan.name.as_str();
        let account = plan
            .run_as
            .clone()
            .filter(|a| !a.eq_ignore_ascii_case("LocalSystem"));
        let password = match &account {
            Some(a) if needs_password(a) => Some(std::env::var_os(PASSWORD_VAR).ok_or_else(|| {
                anyhow::anyhow!(
                    "--run-as {a} needs the account's password: set {PASSWORD_VAR} for this command (it goes to the service manager only), or leave --run-as out and set the account later in services.msc (Log On tab)"
                )
            })?),
            _ => None,
        };
        let info = ServiceInfo {
            name: name.into(),
            display_name: display_name(name).into(),
            service_type: ServiceType::OWN_PROCESS,
            start_type: ServiceStartType::AutoStart,
            error_control: ServiceErrorControl::Normal,
            executable_path: plan.exe.clone(),
            launch_arguments: service_arguments(name, &plan.config, &plan.log_file),
            dependencies: vec![],
            account_name: account.clone().map(OsString::from),
            account_password: password,
        };
        if let Some(dir) = plan.log_file.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the log folder {}", dir.display()))?;
        }
        let access = ServiceAccess::QUERY_STATUS
            | ServiceAccess::QUERY_CONFIG
            | ServiceAccess::CHANGE_CONFIG
            | ServiceAccess::START;
        let mgr = manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
        let (svc, updated) = match mgr.open_service(name, access) {
            Ok(svc) => {
                svc.change_config(&info)
                    .map_err(|e| explain(e, &format!("updating the service {name}"), name))?;
                (svc, true)
            }
            Err(e) if code(&e) == Some(ERROR_SERVICE_DOES_NOT_EXIST) => {
                let svc = mgr
                    .create_service(&info, access)
                    .map_err(|e| explain(e, &format!("registering the service {name}"), name))?;
                (svc, false)
            }
            Err(e) => return Err(explain(e, &format!("opening the service {name}"), name)),
        };
        println!(
            "{} the Windows service {name} ({})",
            if updated { "updated" } else { "registered" },
            account.as_deref().unwrap_or("LocalSystem")
        );
        warn_unless(
            svc.set_description(format!(
                "Runs renders requested through a synced folder's commands.txt (droprender). Log: {}",
                plan.log_file.display()
            )),
            "the description",
        );
        warn_unless(
            svc.set_delayed_auto_start(true),
            "the delayed automatic start",
        );
        warn_unless(
            svc.update_failure_actions(ServiceFailureActions {
                reset_period: ServiceFailureResetPeriod::After(Duration::from_secs(
                    RESET_FAILURES_AFTER_SECS,
                )),
                reboot_msg: None,
                command: None,
                actions: Some(
                    RESTART_DELAYS_SECS
                        .iter()
                        .map(|s| ServiceAction {
                            action_type: ServiceActionType::Restart,
                            delay: Duration::from_secs(*s),
                        })
                        .collect(),
                ),
            }),
            "the recovery actions (restart on failure)",
        );
        warn_unless(
            svc.set_failure_actions_on_non_crash_failures(true),
            "recovery on error exits",
        );
        println!("node log: {} (rotated daily)", plan.log_file.display());
        let st = svc.query_status().context("asking the service's state")?;
        if st.current_state == ServiceState::Running {
            println!(
                "{name} is running the old settings: `droprender-node service stop` then `start` to use the new ones"
            );
            return Ok(());
        }
        match svc.start(&[] as &[&OsStr]) {
            Ok(()) => started(&svc, name),
            Err(e) => Err(explain(e, &format!("starting {name}"), name)),
        }
    }

    pub fn uninstall(t: &TargetArgs) -> anyhow::Result<()> {
        t.scope()?;
        let name = t.name.as_str();
        if t.dry_run {
            println!("would stop the Windows service {name} (if running) and delete it");
            return Ok(());
        }
        let svc = open(
            name,
            ServiceAccess::QUERY_STATUS
                | ServiceAccess::QUERY_CONFIG
                | ServiceAccess::STOP
                | ServiceAccess::DELETE,
        )?;
        let log = log_hint(&svc);
        if svc
            .query_status()
            .context("asking the service's state")?
            .current_state
            != ServiceState::Stopped
        {
            stop_and_wait(&svc, name)?;
        }
        svc.delete()
            .map_err(|e| explain(e, &format!("deleting the service {name}"), name))?;
        println!("removed the Windows service {name}");
        if !log.is_empty() {
            println!(
                "its logs stay{}",
                log.trim_start_matches(": see the node log")
            );
        }
        Ok(())
    }

    pub fn start(t: &TargetArgs) -> anyhow::Result<()> {
        t.scope()?;
        let name = t.name.as_str();
        if t.dry_run {
            println!("would start the Windows service {name}");
            return Ok(());
        }
        let svc = open(
            name,
            ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG | ServiceAccess::START,
        )?;
        match svc.start(&[] as &[&OsStr]) {
            Ok(()) => started(&svc, name),
            Err(e) if code(&e) == Some(ERROR_SERVICE_ALREADY_RUNNING) => {
                println!("{name} is running already");
                Ok(())
            }
            Err(e) => Err(explain(e, &format!("starting {name}"), name)),
        }
    }

    pub fn stop(t: &TargetArgs) -> anyhow::Result<()> {
        t.scope()?;
        let name = t.name.as_str();
        if t.dry_run {
            println!("would stop the Windows service {name} (the node's graceful stop)");
            return Ok(());
        }
        let svc = open(
            name,
            ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG | ServiceAccess::STOP,
        )?;
        stop_and_wait(&svc, name)
    }

    pub fn status(t: &TargetArgs) -> anyhow::Result<()> {
        t.scope()?;
        let name = t.name.as_str();
        if t.dry_run {
            println!("would ask the service control manager about {name}");
            return Ok(());
        }
        let svc = open(
            name,
            ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG,
        )?;
        let st = svc.query_status().context("asking the service's state")?;
        println!("{name}: {}", state_text(&st));
        if let Ok(c) = svc.query_config() {
            let start = match c.start_type {
                ServiceStartType::AutoStart => "automatic",
                ServiceStartType::OnDemand => "manual",
                ServiceStartType::Disabled => "disabled",
                _ => "at boot (driver)",
            };
            println!("start: {start}");
            println!(
                "account: {}",
                c.account_name
                    .as_deref()
                    .map(|a| a.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "LocalSystem".into())
            );
            let cmd = c.executable_path.to_string_lossy().into_owned();
            println!("command: {cmd}");
            if let Some(log) = log_file_of(&cmd) {
                println!("node log: {}.<date> (rotated daily)", log.display());
            }
        }
        Ok(())
    }
}

// ---- The service itself: what the SCM runs.

static RUN_ARGS: OnceLock<ServiceRunArgs> = OnceLock::new();

windows_service::define_windows_service!(ffi_service_main, service_main);

/// `service run`: hands this thread to the SCM's dispatcher, which calls
/// [`service_main`] on another thread and returns once it has stopped.
pub fn dispatch(args: &ServiceRunArgs) -> anyhow::Result<()> {
    let _ = RUN_ARGS.set(args.clone());
    service_dispatcher::start(&args.name, ffi_service_main).map_err(|e| {
        if code(&e) == Some(ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
            anyhow::anyhow!(
                "`service run` is what the Windows service manager starts, not a console command: run the node here with `droprender-node run`, or start the service with `droprender-node service start`"
            )
        } else {
            anyhow::Error::new(e).context("connecting to the service control manager")
        }
    })
}

/// Reports the service's state to the SCM; checkpoints count up while pending.
#[derive(Clone)]
struct Reporter {
    handle: ServiceStatusHandle,
    checkpoint: Arc<AtomicU32>,
}

impl Reporter {
    fn set(&self, state: ServiceState, exit_code: ServiceExitCode, wait_hint: Duration) {
        let pending = matches!(
            state,
            ServiceState::StartPending | ServiceState::StopPending
        );
        let checkpoint = if pending {
            self.checkpoint.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            0
        };
        let controls_accepted = if state == ServiceState::Running {
            ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN
        } else {
            ServiceControlAccept::empty()
        };
        if let Err(e) = self.handle.set_service_status(ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted,
            exit_code,
            checkpoint,
            wait_hint,
            process_id: None,
        }) {
            tracing::warn!("reporting {state:?} to the service manager: {e}");
        }
    }
}

fn service_main(_arguments: Vec<OsString>) {
    let Some(args) = RUN_ARGS.get() else {
        return;
    };
    let guard = crate::cli::init_tracing("info", Some(&args.log_file));
    if let Err(e) = run_service(args) {
        tracing::error!("the service could not run: {e:#}");
    }
    drop(guard);
}

fn run_service(args: &ServiceRunArgs) -> anyhow::Result<()> {
    let (tx, rx) = watch::channel(Shutdown::Run);
    let escalate = tx.clone();
    // Stop (services.msc, `service stop`) and Shutdown (the machine is
    // going down) ask for the graceful stop; a second one, should the
    // SCM send it, forces.
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            tx.send_modify(|s| {
                *s = match *s {
                    Shutdown::Run => Shutdown::Graceful,
                    _ => Shutdown::Force,
                }
            });
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = service_control_handler::register(&args.name, handler)
        .context("registering the service control handler")?;
    let report = Reporter {
        handle,
        checkpoint: Arc::new(AtomicU32::new(0)),
    };
    report.set(
        ServiceState::StartPending,
        ServiceExitCode::NO_ERROR,
        Duration::from_secs(30),
    );
    let exit = match serve(args, rx, escalate, &report) {
        Ok(()) => {
            tracing::info!(name = %args.name, "service stopped");
            ServiceExitCode::NO_ERROR
        }
        Err((code, e)) => {
            tracing::error!(name = %args.name, "service stopped: {e:#}");
            ServiceExitCode::ServiceSpecific(code)
        }
    };
    report.set(ServiceState::Stopped, exit, Duration::ZERO);
    Ok(())
}

/// The node, until the SCM says stop; the error carries the exit code.
fn serve(
    args: &ServiceRunArgs,
    rx: watch::Receiver<Shutdown>,
    escalate: watch::Sender<Shutdown>,
    report: &Reporter,
) -> Result<(), (u32, anyhow::Error)> {
    let run = crate::cli::RunArgs {
        config: Some(args.config.clone()),
        log_file: Some(args.log_file.clone()),
        ..Default::default()
    };
    let cfg = run
        .config()
        .map_err(|e| (EXIT_BAD_CONFIG, anyhow::Error::new(e)))?;
    let rt = crate::launch::runtime().map_err(|e| (EXIT_NODE_FAILED, e))?;
    let stop_hint = super::super::stop_timeout(cfg.grace);
    tracing::info!(name = %args.name, folder = %cfg.folder, "service running");
    report.set(
        ServiceState::Running,
        ServiceExitCode::NO_ERROR,
        Duration::ZERO,
    );
    let stopping = report.clone();
    let mut asked = rx.clone();
    let result = rt.block_on(async move {
        // StopPending as soon as a stop is asked for, with a fresh
        // checkpoint every few seconds while the render winds down. Past
        // the wait hint the stop is forced (systemd's TimeoutStopSec and
        // launchd's ExitTimeOut kill at that point); past twice the hint
        // the checkpoints stop, so the SCM sees a hung service.
        tokio::spawn(async move {
            if asked.wait_for(|s| *s != Shutdown::Run).await.is_err() {
                return;
            }
            tracing::info!("the service manager asked the node to stop");
            let t0 = tokio::time::Instant::now();
            while t0.elapsed() < stop_hint * 2 {
                stopping.set(
                    ServiceState::StopPending,
                    ServiceExitCode::NO_ERROR,
                    stop_hint,
                );
                if t0.elapsed() >= stop_hint && *escalate.borrow() == Shutdown::Graceful {
                    tracing::warn!(
                        "the node has not stopped within {} s: forcing",
                        stop_hint.as_secs()
                    );
                    escalate.send_replace(Shutdown::Force);
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
        crate::launch::serve(cfg, rx).await
    });
    report.set(
        ServiceState::StopPending,
        ServiceExitCode::NO_ERROR,
        Duration::from_secs(10),
    );
    rt.shutdown_timeout(Duration::from_secs(5));
    result.map_err(|e| (EXIT_NODE_FAILED, e))
}
