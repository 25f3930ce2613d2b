//! The renderer simulators (examples/render-sim), for the demo and the
//! tests. With the `sim` feature (on by default) they are linked in, busybox
//! style: this binary run as `Render`, `husk`, `kick`… is that simulator.
//! Without it (packaged builds) the demo uses the `render-sim` program
//! shipped with droprender-node: beside it (the Windows zip, a source
//! build), or in `../lib/droprender/` from its folder (the .deb's
//! /usr/lib/droprender/render-sim next to /usr/bin, the macOS tarball):
//! a helper users do not run belongs in lib, not on PATH.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// When this process was started under a simulated renderer's name, runs
/// that simulator and returns its exit code.
pub fn as_simulator() -> Option<ExitCode> {
    #[cfg(feature = "sim")]
    {
        let argv0 = std::env::args_os().next()?;
        let argv0 = argv0.to_string_lossy();
        let name = Path::new(argv0.as_ref()).file_stem()?.to_string_lossy();
        // `render-sim` is the simulator's own name: this binary keeps its own.
        if name.eq_ignore_ascii_case("render-sim") {
            return None;
        }
        render_sim::Program::from_argv0(&argv0)?;
        let code = render_sim::run_as(&argv0, std::env::args_os().skip(1).collect());
        Some(ExitCode::from(u8::try_from(code).unwrap_or(1)))
    }
    #[cfg(not(feature = "sim"))]
    None
}

/// A program that behaves as `program` (`Render`, `husk`…) when run as
/// `link`: this binary when the simulators are linked in, else the
/// `render-sim` program shipped with it (see [`sim_candidates`]).
pub fn provide(link: &Path) -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let source = if cfg!(feature = "sim") {
        exe
    } else {
        let candidates = sim_candidates(&exe);
        match candidates.iter().find(|c| c.is_file()) {
            Some(sim) => sim.clone(),
            None => {
                let looked: Vec<String> =
                    candidates.iter().map(|c| c.display().to_string()).collect();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "the renderer simulator is missing (looked for {}): it ships with droprender's packages; from source, build with the default `sim` feature",
                        looked.join(" and ")
                    ),
                ));
            }
        }
    };
    let _ = std::fs::remove_file(link);
    link_or_copy(&source, link)?;
    Ok(link.to_path_buf())
}

/// Where a build without the `sim` feature looks for `render-sim`, in
/// order: beside `exe`, then in `../lib/droprender/` from `exe`'s folder.
pub fn sim_candidates(exe: &Path) -> Vec<PathBuf> {
    let name = format!("render-sim{}", std::env::consts::EXE_SUFFIX);
    let mut out = vec![exe.with_file_name(&name)];
    if let Some(prefix) = exe.parent().and_then(Path::parent) {
        out.push(prefix.join("lib").join("droprender").join(&name));
    }
    out
}

#[cfg(unix)]
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(from, to)
}

/// Symbolic links need a privilege on Windows: a copy behaves the same.
#[cfg(not(unix))]
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::copy(from, to).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulator_is_looked_for_beside_the_node_then_in_lib() {
        let exe = Path::new("/usr/bin/droprender-node");
        let sim = format!("render-sim{}", std::env::consts::EXE_SUFFIX);
        assert_eq!(
            sim_candidates(exe),
            vec![
                PathBuf::from("/usr/bin").join(&sim),
                PathBuf::from("/usr/lib/droprender").join(&sim),
            ]
        );
    }
}
