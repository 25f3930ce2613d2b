//! The reconciler model: a synced folder, a node (channel + ledger) driven
//! like the real one, and beside them a model that names every line by the
//! identity rule and checks the node against it. Used by
//! tests/reconciler_model.rs (proptest) and fuzz/fuzz_targets/reconciler.rs
//! (cargo-fuzz). See tests/reconciler_model.rs for what is checked.

#![allow(dead_code)]

mod identity;
mod scenario;
mod world;

pub use identity::*;
pub use scenario::*;
pub use world::*;

/// An index into whatever list exists when the operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick(pub usize);

impl Pick {
    /// Panics when `len` is 0, like a slice index.
    pub fn index(self, len: usize) -> usize {
        assert!(len > 0, "pick from an empty list");
        self.0 % len
    }
}
