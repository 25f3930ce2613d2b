//! The reliability suites' helpers (`droprender_testkit::reliability`),
//! with their figures kept in `target/reliability/`: only this crate's
//! tests know the target dir (`CARGO_TARGET_TMPDIR` is set for them alone).
//!
//! Included by each suite with `#[path = "common/reliability.rs"] mod reliability;`.

#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};

pub use droprender_testkit::reliability::*;

/// Where figures are kept: `target/reliability/`.
pub fn figures_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf)
        .join("reliability")
}

/// The figures of the suite `name` (see [`Figures`]).
pub fn figures(name: &str) -> Figures {
    Figures::new(name, &figures_dir())
}
