//! `droprender-node check-config`: validates a node.toml the way `run`
//! would — every renderer profile through the one profile check (kinds,
//! denied and known-unsafe flags, patterns) — and prints each renderer and
//! the grammar help.txt will show a phone user.

use std::path::PathBuf;

use crate::config::{Config, ConfigError, FileConfig, Overrides, default_config_path};

#[derive(clap::Args, Debug)]
pub struct CheckConfigArgs {
    /// Config file (default: the user config dir's droprender/node.toml, if present).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

fn load(path: Option<&PathBuf>) -> Result<FileConfig, ConfigError> {
    path.map_or_else(|| Ok(FileConfig::default()), |p| FileConfig::load(p))
}

/// The config as `run` would settle it; roots the file leaves to flags get
/// stand-ins, so everything else is still checked.
fn settle(path: Option<&PathBuf>) -> Result<(Config, Vec<&'static str>), ConfigError> {
    let mut notes = Vec::new();
    let mut o = Overrides::default();
    loop {
        match Config::merge(load(path)?, o.clone()) {
            Ok(cfg) => return Ok((cfg, notes)),
            Err(ConfigError::Missing(what)) if !notes.contains(&what) => {
                notes.push(what);
                let stand_in = Some(PathBuf::from(format!("/unset-{what}")));
                match what {
                    "folder" => o.folder = stand_in,
                    "projects" => o.projects = stand_in,
                    "output" => o.output = stand_in,
                    _ => return Err(ConfigError::Missing(what)),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

pub fn run(args: &CheckConfigArgs) -> anyhow::Result<()> {
    let path = args
        .config
        .clone()
        .or_else(|| default_config_path().filter(|p| p.is_file()));
    let (mut cfg, notes) = settle(path.as_ref())?;
    match &path {
        Some(p) => println!("{}: valid", p.display()),
        None => println!("no config file: the built-in settings and renderers"),
    }
    for what in notes {
        println!("note: {what} is not set in the file; pass --{what} to `droprender-node run`");
    }
    cfg.locate_programs();
    println!("\nrenderers (program tokens after `rend:` pick one):");
    for p in cfg.profiles.iter() {
        let key = p.run.install.as_deref().unwrap_or(&p.name);
        let found = crate::programs::locate(key, &cfg.program_for(p));
        let builtin = droprender_shared::profile::builtin().get(&p.name);
        let origin = match builtin {
            Some(b) if b == p => "built-in",
            Some(_) => "built-in, changed by the config",
            None => "from the config",
        };
        println!(
            "  {} ({}; {origin}): {} — {}",
            p.name,
            p.programs.join(" "),
            found.path().display(),
            if found.is_found() {
                "found"
            } else {
                "not found"
            }
        );
    }
    println!("\nhelp.txt shows:\n");
    print!("{}", droprender_shared::help::renderers(&cfg.profiles));
    Ok(())
}
