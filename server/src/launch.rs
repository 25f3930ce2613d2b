//! Putting a node together from its config: the async runtime, the
//! shutdown signal, the folder (local or the Dropbox API) and the executor
//! (local or Slurm). The node itself knows none of these choices.

use std::sync::Arc;

use anyhow::Context as _;
use droprender_storage::LocalFolder;
use droprender_storage::dropbox::{DropboxFolder, DropboxSettings};
use tokio::sync::watch;

use crate::config::{Config, Executor as ExecutorKind, FolderSpec};
use crate::core::Shutdown;
use crate::exec::Executor;
use crate::exec::local::Local;

/// The runtime the node runs on: two workers, so blocking work moved off
/// one (`block_in_place`) leaves the other for renderer output and the watch.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The shutdown channel, fed by SIGINT/SIGTERM (Ctrl-C, Ctrl-Break and
/// console close on Windows): the first asks for a graceful stop, the
/// second forces.
pub fn shutdown_signal() -> anyhow::Result<watch::Receiver<Shutdown>> {
    let (tx, rx) = watch::channel(Shutdown::Run);
    ctrlc::set_handler(move || {
        tx.send_modify(|s| {
            *s = match *s {
                Shutdown::Run => Shutdown::Graceful,
                _ => Shutdown::Force,
            }
        });
        if *tx.borrow() == Shutdown::Force {
            eprintln!("droprender-node: forcing stop");
        } else {
            eprintln!("droprender-node: stopping (again to force)");
        }
    })?;
    Ok(rx)
}

/// The executor the config asks for.
pub fn executor(cfg: &Arc<Config>) -> anyhow::Result<Box<dyn Executor>> {
    Ok(match &cfg.executor {
        ExecutorKind::Local => Box::new(Local::new(Arc::clone(cfg))),
        #[cfg(unix)]
        ExecutorKind::Slurm(s) => {
            Box::new(crate::exec::slurm::Slurm::new(Arc::clone(cfg), s.clone()))
        }
        #[cfg(not(unix))]
        ExecutorKind::Slurm(_) => anyhow::bail!(
            "[executor] kind = \"slurm\" needs a Unix node: Slurm's client tools (sbatch, squeue) do not run on this OS. Run the node that submits to Slurm on a Linux machine of the cluster"
        ),
    })
}

/// Runs a node with `cfg` until `shutdown` says stop.
pub async fn serve(mut cfg: Config, shutdown: watch::Receiver<Shutdown>) -> anyhow::Result<()> {
    cfg.locate_programs();
    // Lines are parsed in the channel and again when the journal replays;
    // both use this process's profiles, so they are the config's from now on.
    if let Err(p) = droprender_shared::profile::install((*cfg.profiles).clone())
        && p != *droprender_shared::profile::installed()
    {
        anyhow::bail!("this process already runs a node with other renderer profiles");
    }
    let cfg = Arc::new(cfg);
    let executor = executor(&cfg)?;
    let cfg = Arc::unwrap_or_clone(cfg);
    match cfg.folder.clone() {
        FolderSpec::Local(dir) => {
            if !dir.is_dir() {
                anyhow::bail!(
                    "the folder {} does not exist: create it, or point --folder at your synced folder",
                    dir.display()
                );
            }
            let folder = LocalFolder::new(dir).with_poll(cfg.poll);
            crate::node::run(cfg, folder, executor, shutdown).await?;
        }
        FolderSpec::Dropbox(path) => {
            // The config file's [dropbox_api], then DROPRENDER_DROPBOX_* on top.
            let d = &cfg.dropbox_api;
            let mut settings = DropboxSettings::default();
            for (from, to) in [
                (&d.app_key, &mut settings.app_key),
                (&d.api_url, &mut settings.api_url),
                (&d.content_url, &mut settings.content_url),
                (&d.notify_url, &mut settings.notify_url),
                (&d.oauth_url, &mut settings.oauth_url),
            ] {
                if let Some(v) = from {
                    to.clone_from(v);
                }
            }
            let folder = DropboxFolder::from_env(&settings.with_env(), &path)
                .context("opening the Dropbox folder")?;
            crate::node::run(cfg, folder, executor, shutdown).await?;
        }
    }
    Ok(())
}
