//! The end-to-end tests' harness is droprender-testkit (one kit with the
//! bench and the storage crate's tests); this is what the suites name as
//! `common::…`. Nothing here is per crate: the kit finds the node binary
//! beside the test executable (see `droprender_testkit::bins`).

pub use droprender_testkit::*;
