//! The model in virtual time: the simulator's properties, its faults, the virtual-time
//! mesh of real nodes, and the simulator as the hosts' twin. One test binary for the area
//! (linking the host crate dominates a build on two cores):
//! `cargo test -p lamport-tests --test model`.
//!
//! Each file keeps its proptest regressions beside it (`<file>.proptest-regressions`):
//! see [`cases`].

mod faults;
mod meet;
mod mesh;
mod sim;
mod twin;

use proptest::test_runner::{Config, FileFailurePersistence};

/// A proptest config of `n` cases whose regressions are read from, and saved to,
/// `<source file>.proptest-regressions` beside the test's file. Proptest's default looks
/// in a `proptest-regressions/` folder beside the folder that holds `main.rs`
/// (`tests/tests/proptest-regressions/mesh.txt` here), one name space for every area.
fn cases(n: u32) -> Config {
    Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::with_cases(n)
    }
}
