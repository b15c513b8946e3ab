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
pub use lamport_core::node::{End, Input, Node, PeerState, Status, Stop, Timing};
pub use lamport_core::transport::{Outbox, Sent};
use lamport_core::{
    MachineId, RunParams,
    faults::{Faulty, Plan},
};

/// A machine as the hosts run it.
pub type Runner = Node<HOST_QUEUE_CAP, Vec<PeerState>, Faulty>;

/// Machine `id` of a run (rate drawn, or `pinned`) with `faults`, boxed: its queue is
/// large.
pub fn runner(
    params: &RunParams,
    id: MachineId,
    pinned: Option<u32>,
    timing: Timing,
    faults: &Plan,
) -> Result<Box<Runner>, lamport_core::Error> {
    let faults = Faulty::new(faults.clone(), params.seed, id);
    Node::with_faults(params, id, pinned, timing, faults).map(Box::new)
}

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
