//! Start-up: folders, the projects-root safety check, leftovers of a
//! crash, the ledger, recovery, the first scan.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use droprender_shared::files;
use droprender_shared::logline::Event as Ev;
use droprender_storage::Folder;
use tokio::sync::mpsc;

use super::publish::{Names, Publisher};
use super::{DiskFacts, Internal, Node, NodeError, blocking};
use crate::channel::Channel;
use crate::config::Config;
use crate::core::{Core, Policy};
use crate::exec::Executor;
use crate::exec::local::process;
use crate::ledger::Ledger;
use crate::paths::is_within;
use crate::webhook::Notifier;
use crate::{projects, renderer, status};

impl<F: Folder> Node<F> {
    pub(super) async fn start(
        cfg: Config,
        folder: F,
        executor: Box<dyn Executor>,
    ) -> Result<Self, NodeError> {
        for dir in [&cfg.state, &cfg.state.join("jobs"), &cfg.output] {
            std::fs::create_dir_all(dir).map_err(|source| NodeError::Create {
                path: dir.clone(),
                source,
            })?;
        }
        if !cfg.allow_projects_in_folder
            && let Some(local) = cfg.folder.local()
            && is_within(&cfg.projects, local)
        {
            return Err(NodeError::Unsafe(format!(
                "the projects root {} is inside the synced folder {}: anyone who can write the folder could drop a scene that runs code when it opens. Move the projects elsewhere, or set allow_projects_in_folder = true in the config if that is intended",
                cfg.projects.display(),
                local.display()
            )));
        }
        let script = cfg.state.join(renderer::blender::SCRIPT_NAME);
        std::fs::write(&script, renderer::blender::SETUP_SCRIPT).map_err(|source| {
            NodeError::Create {
                path: script,
                source,
            }
        })?;
        let node_id = process::node_id(&cfg.state);
        let leftovers = process::kill_leftovers(&format!("{node_id}:"));
        let ledger = Ledger::open(&cfg.state)?;
        let (hints_tx, hints_rx) = mpsc::channel(256);
        let (events_tx, events_rx) = mpsc::channel(1024);
        let (internal_tx, internal_rx) = mpsc::channel(64);
        let (proj_tx, projects_rx) = mpsc::channel(1);
        let projects_guard = watch_projects(&cfg.projects, proj_tx);
        let info = status::node_info(&cfg);
        let names = Names::new(&cfg);
        if let Some(local) = cfg.folder.local() {
            remove_stale_temp_files(local, &names);
        }
        let caps = executor.caps();
        let policy = Policy {
            name: cfg.name.clone(),
            runs_unaddressed: names.default,
            multi: names.multi,
            output: cfg.output.clone(),
            jobs_dir: cfg.state.join("jobs"),
            maya_renderers: cfg.maya_renderers.clone(),
            cpus: info.cpus,
            default_retries: cfg.default_retries,
            default_timeout: cfg.default_timeout,
            schedule: cfg.schedule.clone(),
            scene_stable: cfg.scene_stable,
            retry_after: cfg.reconcile,
            preview_every: cfg.preview_every,
            recent_jobs: cfg.recent_jobs,
            no_suspend: caps.no_suspend,
            farm: caps.farm,
            freeze: caps.freeze,
            slots: cfg.slots.clone(),
            verify_retries: cfg.verify_retries,
        };
        let facts = DiskFacts {
            projects: cfg.projects.clone(),
            output: cfg.output.clone(),
            checks: cfg.verify,
        };
        let cfg = Arc::new(cfg);
        let mut node = Node {
            publish: Publisher::new(&cfg, names),
            notifier: Notifier::new(cfg.notify.clone()),
            core: Core::new(policy),
            folder: Arc::new(folder),
            ledger,
            channel: Channel::new(),
            facts,
            executor,
            handles: HashMap::new(),
            node_id,
            info,
            folder_ok: true,
            projects_due: None,
            hints_rx,
            hints_tx,
            watch_guard: None,
            _projects_guard: projects_guard,
            projects_rx,
            events_tx,
            events_rx,
            internal_tx,
            internal_rx,
            judging: HashMap::new(),
            others: BTreeMap::new(),
            cfg,
        };
        let now = node.now();
        node.publish.say(
            &now,
            Ev::Node,
            format!(
                "droprender-node {} started on {}",
                env!("CARGO_PKG_VERSION"),
                node.cfg.name
            ),
        );
        if node.cfg.video.as_ref().is_some_and(|v| v.ffmpeg.is_none()) {
            node.publish.say(
                &now,
                Ev::Warning,
                "ffmpeg was not found: preview videos are written as preview.gif; install ffmpeg (or set [preview] ffmpeg) for preview.mp4",
            );
        }
        if !leftovers.is_empty() {
            node.publish.say(
                &now,
                Ev::Node,
                format!(
                    "stopped {} renderer process(es) left over from before a crash",
                    leftovers.len()
                ),
            );
        }
        let fx = node.core.recover(node.ledger.state(), &now);
        if !fx.records.is_empty() {
            let (ledger, records) = (&mut node.ledger, fx.records);
            blocking(|| ledger.append(records))?;
        }
        node.publish.log(fx.log);
        node.rewatch();
        node.probe_versions();
        node.scan_all().await;
        if node.ledger.is_fresh() {
            let ledger = &mut node.ledger;
            blocking(|| ledger.mark_initialized())?;
        }
        node.refresh_projects().await;
        node.publish_renderers().await;
        Ok(node)
    }

    /// Asks the renderers for their versions in the background (status.txt shows them).
    fn probe_versions(&self) {
        for (i, r) in self.info.renderers.iter().enumerate() {
            if r.name != "blender" || !r.found {
                continue;
            }
            let program = PathBuf::from(&r.program);
            let tx = self.internal_tx.clone();
            tokio::spawn(async move {
                let out = tokio::time::timeout(
                    Duration::from_secs(20),
                    tokio::process::Command::new(program)
                        .arg("--version")
                        .stdin(std::process::Stdio::null())
                        .kill_on_drop(true)
                        .output(),
                )
                .await;
                if let Ok(Ok(o)) = out
                    && let Some(v) = String::from_utf8_lossy(&o.stdout).lines().next()
                {
                    let _ = tx
                        .send(Internal::RendererVersion(i, v.trim().to_string()))
                        .await;
                }
            });
        }
    }

    pub(super) async fn refresh_projects(&mut self) {
        let root = self.cfg.projects.clone();
        let exts = self.cfg.profiles.scene_extensions();
        let list = tokio::task::spawn_blocking(move || projects::scan(&root, &exts))
            .await
            .unwrap_or_default();
        let name = self.publish.names.projects.clone();
        if let Err(e) = self
            .publish
            .writer
            .put(&*self.folder, &name, projects::render(&list).into_bytes())
            .await
        {
            tracing::warn!("cannot write {name}: {e}");
        }
    }
}

impl<F: Folder> Node<F> {
    /// renderers.json: the profiles this node runs with, so a client checks
    /// lines for config-defined renderers as the node will (written only
    /// when it changed, like every status file).
    async fn publish_renderers(&mut self) {
        let name = self.publish.names.renderers.clone();
        let json = self.cfg.profiles.to_json().into_bytes();
        if let Err(e) = self.publish.writer.put(&*self.folder, &name, json).await {
            tracing::warn!("cannot write {name}: {e}");
        }
    }
}

/// Fix (found by tests/reliability_crash.rs): a crash inside an atomic
/// write leaves its temp file (`.droprender-<name>.<random>.tmp`) in the
/// synced folder, where the sync engine copies it to every device and
/// nothing ever removed it. At start-up no write of ours is in flight, so
/// ours are removed: every one when this node is alone on the folder, else
/// only those of the files this node alone writes (another node's write in
/// flight is never touched).
fn remove_stale_temp_files(dir: &Path, names: &Names) {
    let mut own = vec![
        names.status_json.as_str(),
        names.status_txt.as_str(),
        names.active.as_str(),
        names.projects.as_str(),
        names.renderers.as_str(),
    ];
    if names.default {
        own.extend([files::STATUS_JSON, files::STATUS_TXT]);
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(target) = name
            .to_str()
            .and_then(|n| n.strip_prefix(files::TEMP_PREFIX))
            .and_then(|n| n.strip_suffix(files::TEMP_SUFFIX))
            .and_then(|n| n.rsplit_once('.'))
            .map(|(target, _random)| target)
        else {
            continue;
        };
        if (!names.multi || own.contains(&target)) && e.path().is_file() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Watches the projects root (recursively) so projects_to_rend.txt follows it.
fn watch_projects(root: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = notify::RecommendedWatcher::new(
        move |res: notify::Result<notify::Event>| {
            // Our own scan opens every folder it walks: those access events
            // must not schedule the next scan (found by the idle benchmark:
            // the node rescanned three times a second, forever).
            if res.is_ok_and(|ev| matches!(ev.kind, notify::EventKind::Access(_))) {
                return;
            }
            let _ = tx.try_send(());
        },
        notify::Config::default(),
    )
    .ok()?;
    match w.watch(root, notify::RecursiveMode::Recursive) {
        Ok(()) => Some(w),
        Err(e) => {
            tracing::warn!(
                "cannot watch {}: {e}; the projects list refreshes on the reconcile timer",
                root.display()
            );
            None
        }
    }
}
