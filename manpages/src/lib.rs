//! Man pages for the node and the client, generated from their command
//! lines, so the packages' pages never drift from `--help`.

use std::path::Path;

/// Writes `<program>.1` and one page per visible subcommand, nested
/// (`droprender-node-service-install.1`), into `dir`. Every page is footed
/// with the program's name and version (clap_mangen's `generate_to` would
/// put the subcommand's).
pub fn write(cmd: clap::Command, dir: &Path) -> std::io::Result<()> {
    fn pages(cmd: clap::Command, dir: &Path, source: &str) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            pages(sub, dir, source)?;
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
    pages(cmd, dir, &source)
}
