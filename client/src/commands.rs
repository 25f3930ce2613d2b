//! What each `droprender` subcommand does, over the synced-folder seam.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use droprender_shared::command::{self, ParseError};
use droprender_shared::files;
use droprender_shared::logline::{Event, LogLine};
use droprender_shared::status::StatusDoc;
use droprender_storage::dropbox::{
    self, DropboxFolder, DropboxSettings, Login, Logout, TokenStore,
};
use droprender_storage::{Folder, Hint, LocalFolder};
use std::io::Write as _;
use tokio::sync::mpsc;

use crate::cli::{Cli, Cmd};
use crate::failure::Failure;
use crate::read::{node_statuses, read_logs, read_status, read_text};

pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.cmd {
        Cmd::Login { app_key } => return login(app_key).await,
        Cmd::Logout => return logout().await,
        _ => {}
    }
    if let Some(path) = &cli.dropbox {
        let folder = DropboxFolder::from_env(&DropboxSettings::default().with_env(), path)
            .map_err(anyhow::Error::from)?;
        return exec(&folder, cli.cmd, cli.node.as_deref()).await;
    }
    let dir = cli.folder.ok_or_else(|| {
        anyhow!("which folder? pass --folder DIR (or set DROPRENDER_FOLDER), or --dropbox /PATH")
    })?;
    if !dir.is_dir() {
        return Err(anyhow!("the folder {} does not exist", dir.display()).into());
    }
    exec(&LocalFolder::new(dir), cli.cmd, cli.node.as_deref()).await
}

/// `word:` or `word@node:`.
fn prefix(word: &str, node: Option<&str>) -> String {
    match node {
        Some(n) => format!("{word}@{n}:"),
        None => format!("{word}:"),
    }
}

/// One subcommand over any folder: the client does not care which storage
/// carries the files.
async fn exec<F: Folder>(folder: &F, cmd: Cmd, node: Option<&str>) -> Result<(), Failure> {
    let p = |w: &str| prefix(w, node);
    match cmd {
        Cmd::Rend { args } => {
            let line = format!("{}{}", p("rend"), join_args(&args));
            send(folder, &line).await
        }
        Cmd::Send { line } => send(folder, &line).await,
        Cmd::Cancel { job } => send(folder, &format!("{} {job}", p("cancel"))).await,
        Cmd::Pause => send(folder, &p("pause")).await,
        Cmd::Resume { job } => {
            let arg = job.map(|j| format!(" {j}")).unwrap_or_default();
            send(folder, &format!("{}{arg}", p("resume"))).await
        }
        Cmd::Suspend { job } => send(folder, &format!("{} {job}", p("suspend"))).await,
        Cmd::Priority { job, priority } => {
            send(folder, &format!("{} {job} {priority}", p("priority"))).await
        }
        Cmd::Retry { job } => send(folder, &format!("{} {job}", p("retry"))).await,
        Cmd::Watch { json } => crate::watch::watch(folder, json).await,
        Cmd::Completions { .. } => Ok(()),
        Cmd::Progress { no_wait, timeout } => {
            progress(folder, no_wait, Duration::from_secs(timeout)).await
        }
        Cmd::Status { json } => status(folder, json).await,
        Cmd::Projects { json } => {
            let text = read_text(folder, files::PROJECTS)
                .await?
                .unwrap_or_default();
            if json {
                let list: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).map_err(anyhow::Error::from)?
                );
            } else {
                print!("{text}");
            }
            Ok(())
        }
        Cmd::Log { n, json } => {
            let text = read_logs(folder, n).await?;
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(n)..];
            if json {
                let items: Vec<serde_json::Value> = tail
                    .iter()
                    .map(|l| match LogLine::parse(l) {
                        Some(p) => serde_json::json!({
                            "time": p.time.format(droprender_shared::logline::TIME_FORMAT).to_string(),
                            "event": p.event.word(),
                            "job": p.job,
                            "text": p.text,
                        }),
                        None => serde_json::json!({ "text": l }),
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&items).map_err(anyhow::Error::from)?
                );
            } else {
                for l in tail {
                    println!("{l}");
                }
            }
            Ok(())
        }
        Cmd::Login { .. } | Cmd::Logout => Ok(()),
    }
}

/// `droprender login`: OAuth 2 with PKCE, the code pasted back by hand.
async fn login(app_key: Option<String>) -> Result<(), Failure> {
    let mut settings = DropboxSettings::default().with_env();
    if let Some(k) = app_key.filter(|k| !k.trim().is_empty()) {
        settings.app_key = k.trim().to_string();
    }
    let login = Login::start(settings).map_err(anyhow::Error::from)?;
    let store = TokenStore::default_location().map_err(anyhow::Error::from)?;
    println!("1. Open this page in a browser, log in to Dropbox and allow access:\n");
    println!("   {}\n", login.authorize_url());
    print!("2. Paste the code Dropbox shows: ");
    std::io::stdout().flush().map_err(anyhow::Error::from)?;
    let mut code = String::new();
    std::io::stdin()
        .read_line(&mut code)
        .context("reading the code")?;
    let code = code.trim();
    if code.is_empty() {
        return Err(anyhow!("no code given; run `droprender login` again").into());
    }
    login
        .finish(code, &store)
        .await
        .map_err(anyhow::Error::from)?;
    println!(
        "Logged in. The login is kept in {} (readable only by you); `droprender logout` undoes it.",
        store.path().display()
    );
    Ok(())
}

async fn logout() -> Result<(), Failure> {
    let settings = DropboxSettings::default().with_env();
    match dropbox::logout(&settings)
        .await
        .map_err(anyhow::Error::from)?
    {
        Logout::Revoked(p) => println!(
            "Logged out: the token was revoked and {} deleted.",
            p.display()
        ),
        Logout::DeletedOnly(p, e) => {
            println!(
                "Deleted {}, but Dropbox could not be told to revoke the token: {e}",
                p.display()
            );
            println!(
                "To be sure, remove droprender's access at https://www.dropbox.com/account/connected_apps"
            );
        }
        Logout::NotLoggedIn => println!("Not logged in: there is no stored Dropbox token."),
    }
    Ok(())
}

/// Quotes arguments that need it, so the node's tokenizer gets them back.
fn join_args(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.is_empty()
                || a.chars()
                    .any(|c| c.is_whitespace() || c == '\'' || c == '"')
            {
                if a.contains('"') {
                    format!("'{a}'")
                } else {
                    format!("\"{a}\"")
                }
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Validates with the shared grammar, then appends the normalised line in one write.
async fn send<F: Folder>(folder: &F, raw: &str) -> Result<(), Failure> {
    let line = append_line(folder, raw).await?;
    println!("sent: {line}");
    Ok(())
}

/// Appends one command to commands.txt and returns its canonical text:
/// validated with the shared grammar, normalised, unique in its bytes where
/// the storage judges an uncertain append by content (see
/// `droprender_shared::normalize::marked`).
pub async fn append_line<F: Folder>(folder: &F, raw: &str) -> Result<String, Failure> {
    if raw.contains('\n') || raw.contains('\r') {
        return Err(Failure::Refused("send one line at a time".into()));
    }
    let profiles = crate::profiles::for_line(folder, raw).await;
    let (text, cmd) = match command::parse_str_with(raw, &profiles) {
        Ok(Some(x)) => x,
        Ok(None) => return Err(Failure::Refused("the line is empty or a comment".into())),
        Err(e) => return Err(Failure::Refused(refusal(&e))),
    };
    let line = if folder.appends_are_judged_by_content() {
        droprender_shared::normalize::marked(&text, rand::random())
    } else {
        text
    };
    let mut bytes = format!("{line}\n").into_bytes();
    if bytes.len() > droprender_shared::normalize::MAX_LINE_BYTES {
        return Err(Failure::Refused(
            "the line is longer than 4096 bytes".into(),
        ));
    }
    // A phone may have saved the file without a final newline: end that line
    // first, or ours would be glued onto it.
    if let Some(meta) = folder
        .stat(files::COMMANDS)
        .await
        .map_err(anyhow::Error::from)?
        && meta.size > 0
        && let Some((_, last)) = folder
            .read_from(files::COMMANDS, meta.size - 1)
            .await
            .map_err(anyhow::Error::from)?
        && last.last().is_some_and(|b| *b != b'\n')
    {
        bytes.insert(0, b'\n');
    }
    folder
        .append(files::COMMANDS, bytes)
        .await
        .with_context(|| format!("appending to {}", files::COMMANDS))?;
    Ok(cmd.to_line())
}

fn refusal(e: &ParseError) -> String {
    e.to_string()
}

async fn status<F: Folder>(folder: &F, json: bool) -> Result<(), Failure> {
    // status.json is the node's (or, with several nodes, the default node's
    // summary of all of them). Without it, show each node's own file.
    let docs = match read_status(folder).await {
        Ok(doc) => vec![doc],
        Err(e) => {
            let docs = node_statuses(folder).await?;
            if docs.is_empty() {
                return Err(e.into());
            }
            docs
        }
    };
    if json {
        let v = if docs.len() == 1 {
            serde_json::to_value(&docs[0])
        } else {
            serde_json::to_value(&docs)
        }
        .map_err(anyhow::Error::from)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(anyhow::Error::from)?
        );
    } else {
        let texts: Vec<String> = docs.iter().map(StatusDoc::to_text).collect();
        print!("{}", texts.join("\n"));
    }
    Ok(())
}

/// Appends `progress:` and waits until LOG.txt shows the node's answer.
async fn progress<F: Folder>(folder: &F, no_wait: bool, timeout: Duration) -> Result<(), Failure> {
    let before = folder
        .stat(files::LOG)
        .await
        .map_err(anyhow::Error::from)?
        .map_or(0, |m| m.size);
    send(folder, "progress:").await?;
    if no_wait {
        return Ok(());
    }
    // Wake on the folder's change hints (inotify, Dropbox longpoll), with a
    // light poll as the fallback; reads happen only when LOG.txt changed.
    let (tx, rx) = mpsc::channel::<Hint>(16);
    let _watch = folder.watch(tx).ok();
    let mut rx = Some(rx);
    let mut seen = None;
    let t = Instant::now();
    while t.elapsed() < timeout {
        let meta = folder.stat(files::LOG).await.map_err(anyhow::Error::from)?;
        let version = meta.map(|m| m.version);
        if version.is_some() && version != seen {
            seen = version;
            if let Some((_, tail)) = folder
                .read_from(files::LOG, before)
                .await
                .map_err(anyhow::Error::from)?
            {
                let text = String::from_utf8_lossy(&tail);
                if let Some(l) = text
                    .lines()
                    .filter_map(LogLine::parse)
                    .find(|l| l.event == Event::Progress)
                {
                    println!("{}", l.text);
                    if l.text.contains(files::PREVIEW) {
                        println!(
                            "preview: {}",
                            folder.describe().trim_end_matches('/').to_string()
                                + "/"
                                + files::PREVIEW
                        );
                    }
                    return Ok(());
                }
            }
        }
        wait_for_change(&mut rx, Duration::from_millis(200)).await;
    }
    Err(anyhow!(
        "no answer from the node within {}s; is it running, and is the folder syncing?",
        timeout.as_secs()
    )
    .into())
}

/// Until a hint arrives or `poll` passes.
async fn wait_for_change(rx: &mut Option<mpsc::Receiver<Hint>>, poll: Duration) {
    match rx {
        Some(r) => {
            tokio::select! {
                h = r.recv() => if h.is_none() { *rx = None },
                () = tokio::time::sleep(poll) => {}
            }
        }
        None => tokio::time::sleep(poll).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_with_spaces_are_quoted() {
        assert_eq!(
            join_args(&["-cam".into(), "my cam".into(), "a.mb".into()]),
            "-cam \"my cam\" a.mb"
        );
    }
}
