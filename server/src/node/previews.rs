//! `progress:` and the automatic refresh: the newest frame copied into the
//! folder, preview.jpg (≤ 640 px) and contact.jpg, made off the node's
//! task (decoding an EXR takes a while).

use std::path::Path;
use std::sync::Arc;

use droprender_shared::files;
use droprender_storage::Folder;

use super::{Internal, Node};
use crate::frames::video;
use crate::{preview, renderer};

struct Previews {
    frame: i64,
    ext: String,
    original: Vec<u8>,
    preview: Option<Vec<u8>>,
    contact: Option<Vec<u8>>,
}

impl<F: Folder> Node<F> {
    pub(super) fn previews(&self, id: u64, log: bool) {
        let Some(job) = self.ledger.job(id) else {
            return;
        };
        let (dir, scene) = (job.rec.output_dir.clone(), job.scene().to_string());
        let folder = Arc::clone(&self.folder);
        let tx = self.internal_tx.clone();
        let video = self.cfg.video.clone();
        let scratch = self.cfg.state.clone();
        tokio::spawn(async move {
            let video_dir = dir.clone();
            let made = tokio::task::spawn_blocking(move || make_previews(&dir))
                .await
                .ok()
                .flatten();
            let movie = match video {
                Some(v) if made.is_some() => {
                    tokio::task::spawn_blocking(move || make_video(&video_dir, &v, &scratch))
                        .await
                        .ok()
                }
                _ => None,
            };
            let text = match made {
                None => "no frame has finished yet".to_string(),
                Some(p) => {
                    let copy_name = format!("latest_frame.{}", p.ext);
                    let mut wrote = vec![];
                    let mut fail = None;
                    for (name, data) in [
                        (copy_name.as_str(), Some(p.original)),
                        (files::PREVIEW, p.preview),
                        (files::CONTACT, p.contact),
                    ] {
                        if let Some(d) = data {
                            match folder.write_atomic(name, d).await {
                                Ok(()) => wrote.push(name.to_string()),
                                Err(e) => fail = Some(e.to_string()),
                            }
                        }
                    }
                    match movie {
                        Some(Ok(m)) => match folder.write_atomic(m.name, m.bytes).await {
                            Ok(()) => wrote.push(format!("{} ({} frames)", m.name, m.frames)),
                            Err(e) => fail = Some(e.to_string()),
                        },
                        Some(Err(e)) => fail = Some(format!("no preview video: {e}")),
                        None => {}
                    }
                    let mut t = format!("frame {} of {scene}: {}", p.frame, wrote.join(", "));
                    if let Some(f) = fail {
                        t.push_str(&format!("; could not write: {f}"));
                    }
                    t
                }
            };
            let _ = tx.send(Internal::Previews { job: id, text, log }).await;
        });
    }
}

impl<F: Folder> Node<F> {
    /// The preview video alone (a job's end).
    pub(super) fn video(&self, id: u64) {
        let (Some(job), Some(v)) = (self.ledger.job(id), self.cfg.video.clone()) else {
            return;
        };
        let dir = job.rec.output_dir.clone();
        let scratch = self.cfg.state.clone();
        let folder = Arc::clone(&self.folder);
        tokio::spawn(async move {
            let made = tokio::task::spawn_blocking(move || make_video(&dir, &v, &scratch)).await;
            match made {
                Ok(Ok(m)) => {
                    if let Err(e) = folder.write_atomic(m.name, m.bytes).await {
                        tracing::warn!("cannot write {}: {e}", m.name);
                    }
                }
                Ok(Err(e)) => tracing::info!("job {id}: no preview video: {e}"),
                Err(e) => tracing::warn!("job {id}: the preview video task failed: {e}"),
            }
        });
    }
}

/// The video, made in a scratch folder of its own (a `progress:` and a
/// job's end may make one at once) under the state dir, removed after.
fn make_video(dir: &Path, v: &video::VideoSettings, state: &Path) -> Result<video::Video, String> {
    let scratch = tempfile::Builder::new()
        .prefix("video-")
        .tempdir_in(state)
        .map_err(|e| format!("cannot make a scratch folder in {}: {e}", state.display()))?;
    video::make(dir, v, scratch.path())
}

fn make_previews(dir: &Path) -> Option<Previews> {
    let mut frames = renderer::frame_files(dir);
    frames.sort_by_key(|f| (f.frame, f.modified));
    let newest = frames.iter().max_by_key(|f| (f.modified, f.frame))?.clone();
    let original = std::fs::read(&newest.path).ok()?;
    let ext = newest
        .path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("img")
        .to_ascii_lowercase();
    let preview =
        preview::load(&newest.path).and_then(|img| preview::jpeg(&img, preview::MAX_WIDTH));
    let paths: Vec<&Path> = frames.iter().map(|f| f.path.as_path()).collect();
    let contact = preview::contact_sheet(&paths);
    Some(Previews {
        frame: newest.frame,
        ext,
        original,
        preview,
        contact,
    })
}
