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
//!   [`wait`]: polling; [`process`]: child processes; [`procfs`]: liveness,
//!   the clock and /proc measurements.
//! - [`reliability`]: the reliability suites' bookkeeping; [`slurm`] and
//!   [`syncthing`]: real clusters; [`blender`]: a tiny scene.

pub mod bins;
pub mod blender;
pub mod dropbox;
pub mod emulator;
pub mod layout;
pub mod log;
pub mod process;
pub mod procfs;
pub mod reliability;
pub mod rig;
pub mod slurm;
pub mod syncthing;
pub mod wait;

pub use bins::{client as client_bin, require_tool};
pub use layout::{Layout, LayoutSpec, write_settled};
pub use log::{emulator_log, whole_log};
pub use procfs::alive;
pub use rig::Rig;
