//! droprender's test kit: one harness for the node's integration tests
//! (`server/tests`), its benchmark (`server/benches`) and the storage
//! crate's emulator tests.
//!
//! - [`bins`]: the node and client binaries under test (found beside the
//!   test executable; see there why), and optional tools.
//! - [`layout`]: the temp tree every case runs in and the node's command line.
//! - [`rig`]: the node on a local folder, started, killed and restarted,
//!   with the client; [`dropbox`]: the same in Dropbox API mode against
//!   the emulator ([`emulator`]: the emulator rig and the settings and
//!   environment that point droprender at it).
//! - [`log`]: LOG.txt with its archives, event words, growing files;
//!   [`wait`]: polling; [`process`]: child processes; [`procs`]: liveness
//!   and the processes a rig started, on every OS; [`clock`]: a monotonic
//!   clock; `procfs` (Unix): /proc measurements.
//! - [`reliability`]: the reliability suites' bookkeeping; `slurm` and
//!   `syncthing` (Unix): real clusters; [`blender`]: a tiny scene.
//!
//! The kit builds for Unix and Windows. What only Unix has (signals, /proc,
//! the Slurm and Syncthing rigs) is `cfg(unix)`; on Windows the layout
//! copies the node binary to `bin\Render.exe`, a process is stopped with
//! TerminateProcess (there is no SIGTERM), and liveness comes from
//! `droprender_supervise::alive`.

pub mod bins;
pub mod blender;
pub mod clock;
pub mod dropbox;
pub mod emulator;
pub mod layout;
pub mod log;
pub mod process;
#[cfg(unix)]
pub mod procfs;
pub mod procs;
pub mod reliability;
pub mod rig;
#[cfg(unix)]
pub mod slurm;
#[cfg(unix)]
pub mod syncthing;
pub mod wait;

pub use bins::{client as client_bin, require_tool};
pub use layout::{Layout, LayoutSpec, write_settled};
pub use log::{emulator_log, whole_log};
pub use procs::alive;
pub use rig::Rig;
