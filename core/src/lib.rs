//! `lamport-core`: the sans-IO heart of lamport-lab.
//!
//! A scale model of a small asynchronous distributed system: N machines, each with a
//! Lamport logical clock, a fixed-capacity network queue and a clock rate, exchange
//! messages stamped with their clocks. This crate holds everything that is the *model*:
//!
//! - [`clock`]: the Lamport clock and its two rules;
//! - [`queue`]: the fixed-capacity FIFO network queue (a full queue hands the message back);
//! - [`machine`]: one machine and its tick, exactly as `docs/model.md` "Tick rules" says;
//! - [`spec`]: what one machine is made from ([`Spec`]: the run, its id, a pinned rate,
//!   its end-of-run waits and its faults), made once per machine;
//! - [`node`]: one machine's whole run as a sans-IO state machine: ticks, arriving frames,
//!   and the one definition of how a run ends (`Bye` counts, draining, the `end` row);
//! - [`schedule`]: the absolute tick deadlines `start + k / (rate * speedup)`;
//! - [`wire`]: `Hello`/`Msg`/`Bye` frames in postcard with COBS framing;
//! - [`transport`]: the one send path, [`Outbox`] (every send answered with [`Sent`]);
//! - [`end_note`]: the `end` note's list of lost and stalled peers, written and read back;
//! - [`faults`]: delay, pause and partition, held at the receiver inside the node, and the
//!   deadlines a paused machine owes;
//! - [`params`]: a run's parameters and their validation; [`rng`]: the seeded generators;
//! - [`error`]: the crate's one error type;
//! - [`record`]: the event record and the one log-line format (v1, v2 with faults),
//!   formatted and parsed;
//! - [`sim`]: a deterministic simulator in virtual time over an in-memory network, driving
//!   the same [`node::Node`] as the hosts.
//!
//! # Determinism contract
//!
//! The crate is `no_std`, contains no `unsafe`, performs no I/O and never reads a clock. It
//! allocates nothing, except with the feature `alloc` (the hosts): a node's peer ledger,
//! and an `end` row's note, as long as the list of lost peers it names
//! ([`record::Note`]). Time always arrives as an argument (nanoseconds since the Unix
//! epoch, [`UnixNanos`]); randomness comes from a seed. Given the same parameters, seed and
//! sequence of inputs, a [`Machine`] produces the same records and the same messages on
//! every platform, which is why the host programs, the simulator and a microcontroller all
//! print byte-identical log lines for the same run.
//!
//! # Run loop (what a host does)
//!
//! A host drives one [`node::Node`] per machine (see its call order): it hands in what
//! arrives on each connection ([`node::Node::handle_input`]), calls
//! [`node::Node::handle_timeout`] whenever [`node::Node::poll_timeout`] has come, and moves
//! the records to a log and the frames to sockets. The node ticks the [`Machine`] (one
//! message or one roll per tick, record written before its messages are sent) and ends the
//! run.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod clock;
pub mod end_note;
pub mod error;
pub mod faults;
pub mod live;
pub mod machine;
pub mod node;
pub mod params;
pub mod queue;
pub mod record;
pub mod rng;
pub mod schedule;
pub mod sim;
pub mod spec;
pub mod transport;
pub mod wire;

pub use clock::Lamport;
pub use error::Error;
pub use machine::Machine;
pub use params::RunParams;
pub use queue::Inbox;
pub use record::{Header, Kind, Peers, Record};
pub use schedule::Schedule;
pub use spec::Spec;
pub use transport::{Discard, Outbox, Sent};
pub use wire::{Frame, Msg};

/// An instant on the run's timeline, nanoseconds since the Unix epoch (UTC): the only
/// notion of time the core knows. Hosts pass real time in (their monotonic clock mapped
/// onto the run's time base), the simulator virtual time. The `now` a node is given never
/// goes back (debug builds assert it: [`node::Node`]).
///
/// The numbers a log or a frame carries (a row's `unix_ns`, the run's `start_unix_ns`, the
/// tick deadlines of a [`Schedule`]) are plain `u64` nanoseconds on the same timeline;
/// this type marks the instants that cross the node's boundary, so that a host cannot pass
/// its monotonic clock where the run's time is meant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixNanos(pub u64);

impl UnixNanos {
    /// The latest instant.
    pub const MAX: Self = Self(u64::MAX);

    /// Nanoseconds since the epoch.
    pub const fn ns(self) -> u64 {
        self.0
    }

    /// `ns` nanoseconds later, or the latest instant.
    #[must_use]
    pub const fn saturating_add(self, ns: u64) -> Self {
        Self(self.0.saturating_add(ns))
    }

    /// Nanoseconds from `earlier` to this instant, 0 if `earlier` is later.
    pub const fn since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl core::fmt::Display for UnixNanos {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A machine's id, `0..machines`.
pub type MachineId = u16;

/// The 64-bit FNV-1a digest of `bytes`, continuing from `state` (start with [`FNV_OFFSET`]).
/// Used for run ids and for comparing logs across platforms without shipping them whole.
pub const fn fnv1a(mut state: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        state ^= bytes[i] as u64;
        state = state.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    state
}

/// The FNV-1a 64-bit offset basis, the initial state for [`fnv1a`].
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
