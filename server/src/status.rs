//! Keeps the status files in the folder current: written atomically, and only
//! when their content changes (so an idle node writes nothing).

use std::collections::HashMap;

use droprender_shared::status::{NodeInfo, RendererInfo, StatusDoc};
use droprender_storage::{Folder, StorageError};

use crate::config::Config;

/// Remembers what each file last held, to skip identical writes.
#[derive(Default)]
pub struct Writer {
    last: HashMap<String, Vec<u8>>,
}

impl Writer {
    /// Writes `name` if its content differs from what we last wrote.
    /// Returns true when it wrote.
    pub async fn put<F: Folder>(
        &mut self,
        folder: &F,
        name: &str,
        data: Vec<u8>,
    ) -> Result<bool, StorageError> {
        if self.last.get(name) == Some(&data) {
            return Ok(false);
        }
        folder.write_atomic(name, data.clone()).await?;
        self.last.insert(name.to_string(), data);
        Ok(true)
    }

    /// Writes a status pair (`json`, `txt`) when anything but the timestamp changed.
    pub async fn put_status<F: Folder>(
        &mut self,
        folder: &F,
        doc: &StatusDoc,
        json: &str,
        txt: &str,
    ) -> Result<bool, StorageError> {
        let mut key_doc = doc.clone();
        key_doc.updated.clear();
        let key = serde_json::to_vec(&key_doc).unwrap_or_default();
        let slot = format!("\0{json}");
        if self.last.get(&slot) == Some(&key) {
            return Ok(false);
        }
        // status.json last: a reader that sees it finds status.txt telling
        // the same story already. But a status.txt that a reader holds
        // (the phone's sync app, an antivirus) must not hold back the
        // status.json the client reads: that is written anyway, and the
        // pair stays unmemoised so the caller's retry writes both.
        let txt_written = folder.write_atomic(txt, doc.to_text().into_bytes()).await;
        let bytes = serde_json::to_vec_pretty(doc).unwrap_or_default();
        folder.write_atomic(json, bytes).await?;
        txt_written?;
        self.last.insert(slot, key);
        Ok(true)
    }
}

/// The files one node writes. A node alone on its folder (no `default_node`)
/// uses the plain names. With several nodes, each writes its own
/// `status-<name>.*`; the default node keeps the plain LOG.txt,
/// active_rend.txt and projects_to_rend.txt and writes the status.txt/json
/// summary of all nodes; the others write `LOG-<name>.txt` and so on, so two
/// machines never write the same file (a sync engine would make conflicted
/// copies).
#[derive(Debug, Clone)]
pub struct Names {
    pub log: String,
    pub active: String,
    pub projects: String,
    /// The renderer profiles (renderers.json).
    pub renderers: String,
    pub status_json: String,
    pub status_txt: String,
    /// Several nodes share the folder.
    pub multi: bool,
    /// This node runs unaddressed lines (and writes the summary when `multi`).
    pub default: bool,
}

impl Names {
    pub fn new(cfg: &Config) -> Self {
        use droprender_shared::files as f;
        let name = &cfg.name;
        match &cfg.default_node {
            None => Names {
                log: f::LOG.into(),
                active: f::ACTIVE.into(),
                projects: f::PROJECTS.into(),
                renderers: f::RENDERERS.into(),
                status_json: f::STATUS_JSON.into(),
                status_txt: f::STATUS_TXT.into(),
                multi: false,
                default: true,
            },
            Some(d) => {
                let default = d.eq_ignore_ascii_case(name);
                let own = |n: &str| {
                    if default {
                        n.to_string()
                    } else {
                        f::per_node(n, name)
                    }
                };
                Names {
                    log: own(f::LOG),
                    active: own(f::ACTIVE),
                    projects: own(f::PROJECTS),
                    renderers: own(f::RENDERERS),
                    status_json: f::node_status_json(name),
                    status_txt: f::node_status_txt(name),
                    multi: true,
                    default,
                }
            }
        }
    }
}

fn memory_mb() -> u64 {
    droprender_supervise::total_memory().map_or(0, |b| b / (1024 * 1024))
}

/// What the node tells about itself (BackburnerPy's "server info").
pub fn node_info(cfg: &Config) -> NodeInfo {
    // Maya and Blender always show; another renderer once it is configured
    // or installed (a phone need not read seven "not found" lines).
    let renderer = |p: &droprender_shared::profile::Profile| {
        let key = p.run.install.as_deref().unwrap_or(&p.name);
        let found = crate::programs::locate(key, &cfg.program_for(p));
        let shown = matches!(p.name.as_str(), "maya" | "blender")
            || cfg.programs.contains_key(&p.name)
            || found.is_found();
        shown.then(|| RendererInfo {
            name: p.name.clone(),
            program: found.path().display().to_string(),
            found: found.is_found(),
            version: None,
        })
    };
    NodeInfo {
        name: cfg.name.clone(),
        host: crate::config::host_name(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_mb: memory_mb(),
        version: env!("CARGO_PKG_VERSION").into(),
        renderers: {
            let mut r: Vec<RendererInfo> =
                cfg.profiles.iter().filter_map(|p| renderer(p)).collect();
            // The preview video's encoder: status says whether there is one.
            if let Some(v) = &cfg.video {
                let ffmpeg = crate::programs::locate(
                    "ffmpeg",
                    v.ffmpeg
                        .as_deref()
                        .unwrap_or(std::path::Path::new("ffmpeg")),
                );
                r.push(RendererInfo {
                    name: "ffmpeg".into(),
                    program: ffmpeg.path().display().to_string(),
                    found: ffmpeg.is_found(),
                    version: None,
                });
            }
            r
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use droprender_storage::MemFolder;

    fn doc(note: &str) -> StatusDoc {
        StatusDoc {
            note: Some(note.into()),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_held_status_txt_does_not_hold_back_status_json() {
        let folder = MemFolder::new();
        let mut w = Writer::default();
        folder.hold("status.txt", true);
        let r = w
            .put_status(&folder, &doc("first"), "status.json", "status.txt")
            .await;
        assert!(r.is_err(), "the held file's failure is reported");
        let json = String::from_utf8(folder.get("status.json").expect("written")).unwrap();
        assert!(json.contains("first"), "{json}");
        assert!(folder.get("status.txt").is_none());

        // Released: the retry of the same document writes both.
        folder.hold("status.txt", false);
        let wrote = w
            .put_status(&folder, &doc("first"), "status.json", "status.txt")
            .await
            .expect("write");
        assert!(wrote);
        let txt = String::from_utf8(folder.get("status.txt").expect("written")).unwrap();
        assert!(txt.contains("first"), "{txt}");
        // And then nothing again until the content changes.
        let again = w
            .put_status(&folder, &doc("first"), "status.json", "status.txt")
            .await
            .expect("write");
        assert!(!again);
    }
}
