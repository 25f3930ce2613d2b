//! `droprender-node demo`: a short render end to end, no account and no Maya.
//!
//! It makes a scratch synced folder and projects root with the sample scenes,
//! points the node at the Render simulator (this very binary, linked as
//! `Render`; in packaged builds the `render-sim` shipped with it, see
//! [`crate::sim`]), appends a render and a `progress:` the way the client does, and
//! prints where to look.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use droprender_shared::files;
use droprender_shared::status::StatusDoc;
use droprender_storage::{Folder, LocalFolder};
use tokio::sync::watch;

use crate::config::{Config, FileConfig, Overrides};
use crate::core::Shutdown;

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Where to make the scratch folders (default: a new dir under the temp dir).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Frames to render.
    #[arg(long, default_value_t = 6)]
    pub frames: u32,
}

const SCENES: &[(&str, &str)] = &[
    ("shot01.ma", include_str!("../../examples/scenes/shot01.ma")),
    ("shot02.ma", include_str!("../../examples/scenes/shot02.ma")),
];

fn setup(root: &Path) -> anyhow::Result<Config> {
    let folder = root.join("Dropbox").join("Maya");
    let projects = root.join("projects");
    let bin = root.join("bin");
    for d in [&folder, &projects.join("scenes"), &bin] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    for (name, text) in SCENES {
        std::fs::write(projects.join("scenes").join(name), text)?;
    }
    let render = crate::sim::provide(&bin.join(format!("Render{}", std::env::consts::EXE_SUFFIX)))
        .context("setting up the Render simulator")?;
    Ok(Config::merge(
        FileConfig::default(),
        Overrides {
            folder: Some(folder),
            projects: Some(projects),
            output: Some(root.join("renders")),
            state: Some(root.join("state")),
            maya: Some(render),
            name: Some("demo-node".into()),
            ..Default::default()
        },
    )?)
}

async fn read_status(folder: &LocalFolder) -> Option<StatusDoc> {
    let (_, bytes) = folder.read_from(files::STATUS_JSON, 0).await.ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Polls status.json (the demo plays the client, which has no events either).
async fn wait_for(
    folder: &LocalFolder,
    what: &str,
    f: impl Fn(&StatusDoc) -> bool,
) -> anyhow::Result<StatusDoc> {
    let t = Instant::now();
    loop {
        if let Some(s) = read_status(folder).await
            && f(&s)
        {
            return Ok(s);
        }
        if t.elapsed() > Duration::from_secs(60) {
            anyhow::bail!(
                "the demo waited 60 s for {what}; see LOG.txt in {}",
                folder.describe()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let root = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("droprender-demo-{}", std::process::id())),
    };
    let cfg = setup(&root)?;
    let dir = cfg
        .folder
        .local()
        .context("the demo uses a local folder")?
        .to_path_buf();
    let folder = LocalFolder::new(dir.clone());
    println!("droprender demo in {}", root.display());
    println!("  synced folder  {}", dir.display());
    println!("  projects       {}", cfg.projects.display());
    println!("  renders        {}", cfg.output.display());
    let rt = crate::launch::runtime()?;
    let (stop_tx, stop_rx) = watch::channel(Shutdown::Run);
    rt.block_on(async {
        let node = tokio::spawn(crate::launch::serve(cfg.clone(), stop_rx));
        let line = format!(
            "rend:render -r sw -s 1 -e {} -x 320 -y 180 scenes/shot01.ma\n",
            args.frames.max(1)
        );
        wait_for(&folder, "the node to start", |_| true).await?;
        println!("\n> appending to commands.txt: {}", line.trim_end());
        folder.append(files::COMMANDS, line.into_bytes()).await?;
        // A short job (`--frames 2`) can end between two polls: ended counts.
        let s = wait_for(&folder, "the render to start", |s| {
            s.current.as_ref().is_some_and(|c| c.frames_done >= 2) || !s.recent.is_empty()
        })
        .await?;
        if let Some(c) = &s.current {
            println!(
                "  rendering job {}: frame {}/{}",
                c.id, c.frames_done, c.frames_total
            );
        }
        println!("> appending to commands.txt: progress:");
        folder
            .append(files::COMMANDS, b"progress:\n".to_vec())
            .await?;
        let s = wait_for(&folder, "the render to finish", |s| {
            s.current.is_none() && !s.recent.is_empty()
        })
        .await?;
        // Let the node write its last lines, then stop it like Ctrl-C would.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = stop_tx.send(Shutdown::Graceful);
        node.await.context("the node task")??;
        println!("\n--- status.txt (what a phone shows) ---");
        println!("{}", s.to_text());
        println!("--- LOG.txt ---");
        if let Ok(Some((_, log))) = folder.read_from(files::LOG, 0).await {
            print!("{}", String::from_utf8_lossy(&log));
        }
        Ok::<_, anyhow::Error>(())
    })?;
    println!("\nLook at:");
    println!(
        "  {}, LOG.txt, preview.jpg, contact.jpg",
        dir.join("status.txt").display()
    );
    println!("  {} for the frames", cfg.output.display());
    println!("\nRun a node on this folder yourself:");
    println!(
        "  droprender-node run --folder {} --projects {} --output {} --state {} --maya {}",
        dir.display(),
        cfg.projects.display(),
        cfg.output.display(),
        cfg.state.display(),
        cfg.maya.display()
    );
    println!("and send it work from another terminal:");
    println!(
        "  droprender --folder {} rend -r sw -s 1 -e 10 scenes/shot02.ma",
        dir.display()
    );
    Ok(())
}
