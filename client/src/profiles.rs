//! The renderers the node on this folder runs with: its renderers.json
//! (written at start, config profiles included), checked like any profile,
//! so a config-defined renderer's lines validate here as they will there.
//! Without the file (an older node, a sync not caught up): the built-ins.

use droprender_shared::files;
use droprender_shared::profile::{self, Profiles};
use droprender_storage::Folder;

use crate::read::read_text;

/// The node a raw line is addressed to (`rend@boxB:` → `boxB`).
fn target(raw: &str) -> Option<&str> {
    let head = raw.trim_start().split_once(':')?.0;
    head.split_once('@').map(|(_, node)| node.trim())
}

/// The profiles to check `raw` with.
pub async fn for_line<F: Folder>(folder: &F, raw: &str) -> Profiles {
    let mut names = Vec::new();
    if let Some(node) = target(raw).filter(|n| !n.is_empty()) {
        names.push(files::per_node(files::RENDERERS, node));
    }
    names.push(files::RENDERERS.to_string());
    for name in names {
        let Ok(Some(text)) = read_text(folder, &name).await else {
            continue;
        };
        match Profiles::from_json(&text) {
            Ok(p) => return p,
            Err(e) => {
                eprintln!("droprender: ignoring {name} ({e}); checking with the built-in renderers")
            }
        }
    }
    profile::builtin().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_node_comes_from_the_prefix() {
        assert_eq!(target("rend@boxB: -s 1 a.mb"), Some("boxB"));
        assert_eq!(target("rend:-s 1 a.mb"), None);
    }
}
