//! `droprender watch`: live progress bars from status.json until Ctrl-C.
//!
//! It wakes on the folder's change hints (inotify locally, the longpoll in
//! API mode) and once a second to advance elapsed times; it never re-reads
//! status.json unless its version changed.

use std::time::Duration;

use droprender_shared::files;
use droprender_shared::status::{JobInfo, StatusDoc, human_duration};
use droprender_storage::{Folder, Hint};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use crate::failure::Failure;
use crate::read::read_status;

/// Queued jobs shown as bars.
const QUEUE_BARS: usize = 8;

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>8} [{bar:30.cyan/blue}] {pos:>4}/{len:<4} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-")
}

fn line_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>8} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn job_msg(j: &JobInfo) -> String {
    let mut m = format!("job {} {} {}", j.id, j.scene, j.state);
    if let Some(e) = j.eta_s {
        m.push_str(&format!(" · ETA {}", human_duration(e)));
    }
    if let Some(a) = j.after {
        m.push_str(&format!(" · after {a}"));
    }
    m
}

struct Bars {
    multi: MultiProgress,
    header: ProgressBar,
    current: ProgressBar,
    queue: Vec<ProgressBar>,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let header = multi.add(
            ProgressBar::new(0)
                .with_style(line_style())
                .with_prefix("node"),
        );
        let current = multi.add(
            ProgressBar::new(1)
                .with_style(bar_style())
                .with_prefix("now"),
        );
        let queue = (0..QUEUE_BARS)
            .map(|_| multi.add(ProgressBar::new(1).with_style(line_style()).with_prefix("")))
            .collect();
        Bars {
            multi,
            header,
            current,
            queue,
        }
    }

    fn show(&self, s: &StatusDoc) {
        let mut h = format!("{} · {}", s.node.name, s.state);
        if let Some(n) = &s.note {
            h.push_str(&format!(" · {n}"));
        }
        for n in &s.nodes {
            h.push_str(&format!(" | {} {}", n.name, n.state));
        }
        self.header.set_message(h);
        match &s.current {
            Some(c) => {
                self.current.set_length(c.frames_total.max(1));
                self.current.set_position(c.frames_done);
                self.current.set_message(job_msg(c));
            }
            None => {
                self.current.set_length(1);
                self.current.set_position(0);
                self.current.set_message("nothing rendering");
            }
        }
        for (i, b) in self.queue.iter().enumerate() {
            match s.queue.get(i) {
                Some(j) => {
                    b.set_prefix(if i == 0 { "queue" } else { "" });
                    b.set_message(job_msg(j));
                }
                None if i == 0 && s.queue.is_empty() => {
                    b.set_prefix("queue");
                    b.set_message("empty");
                }
                None => {
                    b.set_prefix("");
                    b.set_message("");
                }
            }
        }
    }

    fn finish(&self) {
        for b in std::iter::once(&self.header)
            .chain([&self.current])
            .chain(&self.queue)
        {
            b.abandon();
        }
        let _ = self.multi.clear();
    }
}

pub async fn watch<F: Folder>(folder: &F, json: bool) -> Result<(), Failure> {
    let (tx, mut rx) = mpsc::channel::<Hint>(64);
    // Without a watch (a folder that sends no events) the tick still refreshes.
    let _guard = folder.watch(tx).ok();
    let bars = (!json).then(Bars::new);
    let mut last_version = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let version = folder
            .stat(files::STATUS_JSON)
            .await
            .map_err(anyhow::Error::from)?
            .map(|m| m.version);
        if version != last_version {
            last_version = version;
            if let Ok(doc) = read_status(folder).await {
                match &bars {
                    Some(b) => b.show(&doc),
                    None => println!(
                        "{}",
                        serde_json::to_string(&doc).map_err(anyhow::Error::from)?
                    ),
                }
            }
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            Some(_) = rx.recv() => {
                while rx.try_recv().is_ok() {}
            }
            _ = tick.tick() => {}
        }
    }
    if let Some(b) = bars {
        b.finish();
    }
    Ok(())
}
