//! The real hosts end to end: real processes, real sockets, each run's logs checked by the
//! one checker. One test binary for the area (linking the host crate dominates a build on
//! two cores): `cargo test -p lamport-tests --test hosts`.

mod control;
mod fourth;
mod live;
mod tcp;
mod unix;
