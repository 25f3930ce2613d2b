//! droprender: the command-line client. It validates lines with the same
//! grammar the node uses, appends them to commands.txt in one atomic write,
//! and reads the status files the node keeps.
//!
//! [`cli`] is the command line, [`commands`] what each subcommand does,
//! [`read`] how status files and LOG.txt are read, [`watch`] the live view.

pub mod cli;
pub mod commands;
pub mod failure;
pub mod profiles;
pub mod read;
pub mod watch;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

use cli::Cli;
use failure::Failure;

/// Writes `droprender.1` and one page per visible subcommand, nested
/// (`droprender-rend.1`), into `dir`: the packages' man pages, generated from
/// the command line itself. Every page is footed with the program's name
/// and version (clap_mangen's `generate_to` would put the subcommand's).
pub fn write_manpages(cmd: clap::Command, dir: &std::path::Path) -> std::io::Result<()> {
    fn write(cmd: clap::Command, dir: &std::path::Path, source: &str) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            write(sub, dir, source)?;
        }
        clap_mangen::Man::new(cmd)
            .source(source)
            .manual("droprender")
            .generate_to(dir)
            .map(drop)
    }
    std::fs::create_dir_all(dir)?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let source = format!(
        "{} {}",
        cmd.get_name(),
        cmd.get_version().unwrap_or_default()
    );
    write(cmd, dir, &source)
}

pub fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    if let Some(("completions", sub)) = matches.subcommand()
        && let Some(shell) = sub.get_one::<clap_complete::Shell>("shell")
    {
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "droprender",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    if let Some(("manpages", sub)) = matches.subcommand()
        && let Some(dir) = sub.get_one::<std::path::PathBuf>("dir")
    {
        return match write_manpages(Cli::command(), dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("droprender: writing man pages to {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // DROPRENDER_FOLDER may be set in the environment while --dropbox is
    // given: that is a choice, not a conflict. Both on the command line is.
    if cli.dropbox.is_some()
        && matches.value_source("folder") == Some(clap::parser::ValueSource::CommandLine)
    {
        eprintln!("droprender: pass either --folder or --dropbox, not both");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("droprender: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(msg)) => {
            eprintln!("droprender: refused: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("droprender: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_pages_cover_every_visible_subcommand_and_no_hidden_one() {
        Cli::command().debug_assert();
        let dir = tempfile::tempdir().unwrap();
        write_manpages(Cli::command(), dir.path()).unwrap();
        let pages: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        for page in [
            "droprender.1",
            "droprender-rend.1",
            "droprender-status.1",
            "droprender-completions.1",
        ] {
            assert!(pages.iter().any(|p| p == page), "{page} missing: {pages:?}");
        }
        assert!(
            !pages
                .iter()
                .any(|p| p.contains("manpages") || p.contains("help")),
            "{pages:?}"
        );
        let top = std::fs::read_to_string(dir.path().join("droprender.1")).unwrap();
        assert!(top.contains("DROPRENDER_FOLDER"), "{top}");
        let rend = std::fs::read_to_string(dir.path().join("droprender-rend.1")).unwrap();
        let footer = format!("\"droprender {}\"", env!("CARGO_PKG_VERSION"));
        assert!(rend.contains(&footer), "{rend}");
    }
}
