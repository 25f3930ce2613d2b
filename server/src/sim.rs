//! The renderer simulators (examples/render-sim), for the demo and the
//! tests. With the `sim` feature (on by default) they are linked in, busybox
//! style: this binary run as `Render`, `husk`, `kick`… is that simulator.
//! Without it (packaged builds) the demo uses the `render-sim` program
//! shipped beside droprender-node.

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
/// `render-sim` program beside it.
pub fn provide(link: &Path) -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let source = if cfg!(feature = "sim") {
        exe
    } else {
        let sim = exe.with_file_name(format!("render-sim{}", std::env::consts::EXE_SUFFIX));
        if !sim.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "the renderer simulator {} is missing: it ships with droprender's packages; from source, build with the default `sim` feature",
                    sim.display()
                ),
            ));
        }
        sim
    };
    let _ = std::fs::remove_file(link);
    link_or_copy(&source, link)?;
    Ok(link.to_path_buf())
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
