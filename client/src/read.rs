//! Reading what the node writes: status.json (the node's, or each node's
//! on a shared folder) and LOG.txt (merged across nodes, with the newest
//! archives of a rotated log when its tail is asked for).

use anyhow::{Context as _, anyhow};
use droprender_shared::files;
use droprender_shared::status::StatusDoc;
use droprender_storage::Folder;

pub async fn read_text<F: Folder>(folder: &F, name: &str) -> anyhow::Result<Option<String>> {
    Ok(folder
        .read_from(name, 0)
        .await
        .with_context(|| format!("reading {name}"))?
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned()))
}

pub async fn read_status<F: Folder>(folder: &F) -> anyhow::Result<StatusDoc> {
    let text = read_text(folder, files::STATUS_JSON).await?.ok_or_else(|| {
        anyhow!(
            "there is no {} in {}: is a droprender-node running on this folder, and has the sync caught up?",
            files::STATUS_JSON,
            folder.describe()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid", files::STATUS_JSON))
}

/// Every `status-<node>.json` in the folder.
pub async fn node_statuses<F: Folder>(folder: &F) -> anyhow::Result<Vec<StatusDoc>> {
    let mut out = Vec::new();
    let mut names: Vec<String> = folder
        .list()
        .await?
        .into_iter()
        .map(|e| e.name)
        .filter(|n| files::status_json_node(n).is_some())
        .collect();
    names.sort();
    for n in names {
        if let Some(t) = read_text(folder, &n).await?
            && let Ok(doc) = serde_json::from_str(&t)
        {
            out.push(doc);
        }
    }
    Ok(out)
}

/// LOG.txt, merged with every node's LOG-<name>.txt when several nodes
/// share the folder (lines start with their time, so a stable sort merges
/// them). A log with fewer than `want` lines — it was just moved aside to
/// `LOG.<time>.txt` — is preceded by its newest archives until it has them.
pub async fn read_logs<F: Folder>(folder: &F, want: usize) -> anyhow::Result<String> {
    let entries: Vec<String> = folder.list().await?.into_iter().map(|e| e.name).collect();
    let mut names: Vec<&String> = entries
        .iter()
        .filter(|n| {
            *n == files::LOG
                || (n.starts_with("LOG-") && n.ends_with(".txt") && files::archive_of(n).is_none())
        })
        .collect();
    names.sort();
    let mut lines: Vec<String> = Vec::new();
    for n in &names {
        let node = n.strip_prefix("LOG-").and_then(|r| r.strip_suffix(".txt"));
        for l in read_with_archives(folder, n, &entries, want).await? {
            lines.push(match node {
                // Say which node wrote it, after the time.
                Some(node) if names.len() > 1 && l.len() > 19 => {
                    format!("{} [{node}]{}", &l[..19], &l[19..])
                }
                _ => l,
            });
        }
    }
    if names.len() > 1 {
        lines.sort_by(|a, b| a.get(..19).cmp(&b.get(..19)));
    }
    if lines.is_empty() {
        return Ok(String::new());
    }
    Ok(lines.join("\n") + "\n")
}

/// The lines of one log, with as many of its newest archives before them
/// as it takes to have `want` lines.
async fn read_with_archives<F: Folder>(
    folder: &F,
    log: &str,
    entries: &[String],
    want: usize,
) -> anyhow::Result<Vec<String>> {
    let mut lines: Vec<String> = read_text(folder, log)
        .await?
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let mut archives: Vec<((String, u32), &String)> = entries
        .iter()
        .filter_map(|n| match files::archive_of(n) {
            Some((of, key)) if of == log => Some((key, n)),
            _ => None,
        })
        .collect();
    archives.sort();
    while lines.len() < want {
        let Some((_, name)) = archives.pop() else {
            break;
        };
        let mut older: Vec<String> = read_text(folder, name)
            .await?
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        older.append(&mut lines);
        lines = older;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use droprender_storage::MemFolder;

    use super::*;

    fn lines(from: u32, to: u32) -> Vec<u8> {
        (from..=to)
            .map(|i| format!("2026-11-22 10:00:{i:02} node line {i}\n"))
            .collect::<String>()
            .into_bytes()
    }

    /// Issue 12 (c): right after LOG.txt was moved aside, `log -n N` showed
    /// only the few lines of the new LOG.txt.
    #[tokio::test]
    async fn the_tail_reaches_into_the_newest_archives() {
        let f = MemFolder::new();
        let a1 = files::log_archive(files::LOG, "2026-11-22 09:00:00");
        let a2 = files::log_archive(files::LOG, "2026-11-22 10:00:00");
        f.write_atomic(&a1, lines(1, 3)).await.expect("write");
        f.write_atomic(&a2, lines(4, 8)).await.expect("write");
        f.write_atomic(files::LOG, lines(9, 10))
            .await
            .expect("write");
        let text = read_logs(&f, 4).await.expect("read");
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got.len(), 7, "LOG.txt and the newest archive: {got:?}");
        assert!(
            got[0].ends_with("line 4") && got[6].ends_with("line 10"),
            "{got:?}"
        );
        let all = read_logs(&f, 100).await.expect("read");
        assert_eq!(all.lines().count(), 10);
        let few = read_logs(&f, 2).await.expect("read");
        assert_eq!(
            few.lines().count(),
            2,
            "a long enough LOG.txt is read alone"
        );
    }
}
