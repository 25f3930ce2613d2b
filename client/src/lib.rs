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
        return match droprender_manpages::write(Cli::command(), dir) {
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
        droprender_manpages::write(Cli::command(), dir.path()).unwrap();
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
