//! A stateful emulator of the Dropbox HTTP API v2 subset droprender uses,
//! with fault injection.
//!
//! One listener serves the four Dropbox "hosts" (api, content, notify,
//! oauth) — their routes are distinct by path — plus a JSON control surface
//! under `/__emulator/…`. Behaviour follows Dropbox's documentation (see the
//! crate README for the list of routes, the control endpoints, the fault
//! kinds and the places where the documentation was silent).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use dropbox_emulator::{Config, Emulator};
//!
//! let emu = Emulator::new(Config {
//!     access_tokens: vec!["test-token".into()],
//!     ..Config::default()
//! });
//! emu.put_file("/Maya/commands.txt", &b"render shot1\n"[..]).unwrap();
//! let running = emu.start().await?; // 127.0.0.1:0 in the background
//! println!("{}", running.urls().env_exports(Some("test-token")));
//! running.shutdown().await
//! # }
//! ```

pub mod args;
pub mod auth;
mod emulator;
pub mod error;
pub mod faults;
pub mod hash;
pub mod routes;
pub mod server;
pub mod stats;
pub mod storage;
pub mod wire;

pub use emulator::{Config, Emulator, EmulatorError, Urls};
pub use faults::{FaultConfig, FaultKind, RateLimitStyle};
pub use hash::content_hash;
pub use server::RunningEmulator;
pub use stats::{RouteStats, Stats};
pub use wire::{DeletedMetadata, FileMetadata, FolderMetadata, ListFolderResult, Metadata};
