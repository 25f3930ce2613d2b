//! Keeps the status files in the folder current: written atomically, and only
//! when their content changes (so an idle node writes nothing).

use std::collections::HashMap;

use droprender_shared::files;
use droprender_shared::status::{NodeInfo, RendererInfo, StatusDoc};
use droprender_shared::storage::{Folder, StorageError};

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

    /// Writes status.json and status.txt when anything but the timestamp changed.
    pub async fn put_status<F: Folder>(
        &mut self,
        folder: &F,
        doc: &StatusDoc,
    ) -> Result<bool, StorageError> {
        let mut key_doc = doc.clone();
        key_doc.updated.clear();
        let key = serde_json::to_vec(&key_doc).unwrap_or_default();
        if self.last.get("\0status") == Some(&key) {
            return Ok(false);
        }
        let json = serde_json::to_vec_pretty(doc).unwrap_or_default();
        folder.write_atomic(files::STATUS_JSON, json).await?;
        folder
            .write_atomic(files::STATUS_TXT, doc.to_text().into_bytes())
            .await?;
        self.last.insert("\0status".into(), key);
        Ok(true)
    }
}

/// Finds a program the way the OS would (absolute path, or on PATH).
pub fn find_program(program: &std::path::Path) -> Option<std::path::PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

fn memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

/// What the node tells about itself (BackburnerPy's "server info").
pub fn node_info(cfg: &Config) -> NodeInfo {
    let renderer = |name: &str, program: &std::path::Path| {
        let found = find_program(program);
        RendererInfo {
            name: name.into(),
            program: found
                .as_ref()
                .unwrap_or(&program.to_path_buf())
                .display()
                .to_string(),
            found: found.is_some(),
            version: None,
        }
    };
    NodeInfo {
        name: cfg.name.clone(),
        host: crate::config::host_name(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_mb: memory_mb(),
        version: env!("CARGO_PKG_VERSION").into(),
        renderers: vec![
            renderer("maya", &cfg.maya),
            renderer("blender", &cfg.blender),
        ],
    }
}
