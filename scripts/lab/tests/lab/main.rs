//! lab end to end: its analysis and command line, its `view` page, and a fuzz test that no
//! input makes it panic. One test binary (linking lab and the host crate dominates a build
//! on two cores): `cargo test -p lab --test lab`.

mod analysis;
mod fuzz;
mod live;
mod view;

use proptest::test_runner::{Config, FileFailurePersistence};

/// A proptest config of `n` cases whose regressions are read from, and saved to,
/// `<source file>.proptest-regressions` beside the test's file (proptest's default looks in
/// a `proptest-regressions/` folder beside the folder that holds `main.rs`).
fn cases(n: u32) -> Config {
    Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::with_cases(n)
    }
}
