//! The runner: the core's sans-IO [`Node`] as the hosts run it (a queue of
//! [`HOST_QUEUE_CAP`] messages, a `Vec` ledger of peers) and its exit status.
//!
//! This module reads no clock and touches no file, socket or process: the node takes `now`
//! and hands out records (through a [`lamport_core::record::Log`]) and frames (through an
//! [`Outbox`]). Its call order is in [`lamport_core::node`]. [`crate::drive`] is the I/O
//! side both hosts share; [`crate::link`] the one bounded buffer per peer.

use crate::{
    EXIT_FAILED, EXIT_OK, EXIT_PEER, EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM, args::HOST_QUEUE_CAP,
};
use lamport_core::faults::Faulty;
pub use lamport_core::node::{End, Input, Node, PeerState, Status, Stop, Timing};
pub use lamport_core::transport::{Outbox, Sent};

/// A machine as the hosts run it.
pub type Runner = Node<HOST_QUEUE_CAP, Vec<PeerState>, Faulty>;

/// The exit status of a machine that ended with `status`.
pub fn exit_code(status: Status) -> u8 {
    match status {
        Status::Clean => EXIT_OK,
        Status::PeerTrouble => EXIT_PEER,
        Status::Failed => EXIT_FAILED,
        Status::Interrupted => EXIT_SIGINT,
        Status::Terminated => EXIT_SIGTERM,
        Status::HungUp => EXIT_SIGHUP,
    }
}
