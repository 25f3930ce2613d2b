//! projects_to_rend.txt: the scene files under the projects root, of every
//! extension a renderer this node runs accepts.

use std::path::Path;

/// Scene files with one of `extensions` (`.ma`, `.usd`… lower case) under
/// `root`, as sorted relative paths with `/`. Hidden folders and symlinked
/// folders are not entered, and the walk is bounded in depth and count so a
/// huge tree cannot stall the node.
pub fn scan(root: &Path, extensions: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    walk(root, root, extensions, 0, &mut out);
    out.sort();
    out
}

const MAX_DEPTH: u32 = 8;
const MAX_SCENES: usize = 10_000;

fn walk(root: &Path, dir: &Path, extensions: &[String], depth: u32, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        if out.len() >= MAX_SCENES {
            return;
        }
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let Ok(ft) = ent.file_type() else { continue };
        let path = ent.path();
        if ft.is_dir() {
            if depth < MAX_DEPTH {
                walk(root, &path, extensions, depth + 1, out);
            }
        } else if is_scene(name, extensions)
            && let Ok(rel) = path.strip_prefix(root)
        {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

pub fn is_scene(name: &str, extensions: &[String]) -> bool {
    let lower = name.to_ascii_lowercase();
    extensions
        .iter()
        .any(|e| lower.ends_with(e.as_str()) && lower.len() > e.len())
}

/// The file's text: one path per line.
pub fn render(list: &[String]) -> String {
    let mut s = list.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}
