//! The one way a machine's frames leave it: an [`Outbox`], which answers every send with
//! [`Sent`]. Each host implements it over its sockets (one bounded buffer per peer), the
//! simulator over memory; the [`crate::node::Node`] wraps the host's to count what it
//! sends, and [`crate::Machine::tick`] sends through that.

use crate::{MachineId, wire::Frame};

/// What became of a frame handed to an [`Outbox`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Taken: written, or waiting in the peer's buffer, which has room.
    Taken,
    /// Taken, but the peer's buffer is full past its bound: the peer is not reading. If it
    /// stays full for [`crate::node::Timing::stall_ns`] the peer is stalled, and lost.
    Blocked,
    /// Not taken: the connection is gone (the peer closed it, or writing failed).
    Gone,
}

/// How a machine's frames leave. `send` must never block.
pub trait Outbox {
    /// Hands `frame` to the connection to `to`.
    fn send(&mut self, to: MachineId, frame: &Frame) -> Sent;
    /// Stops writing to and reading from `peer` (it is lost or spoke nonsense).
    fn close(&mut self, peer: MachineId);
    /// True while `peer`'s buffer is still full past its bound.
    fn is_blocked(&self, _peer: MachineId) -> bool {
        false
    }
    /// True when nothing is waiting to be written to any peer.
    fn is_flushed(&self) -> bool {
        true
    }
}

impl<O: Outbox + ?Sized> Outbox for &mut O {
    fn send(&mut self, to: MachineId, frame: &Frame) -> Sent {
        (**self).send(to, frame)
    }
    fn close(&mut self, peer: MachineId) {
        (**self).close(peer);
    }
    fn is_blocked(&self, peer: MachineId) -> bool {
        (**self).is_blocked(peer)
    }
    fn is_flushed(&self) -> bool {
        (**self).is_flushed()
    }
}

/// An outbox that takes nothing (every send is [`Sent::Gone`]): for a machine replayed from
/// its log, or one that takes a frame at a moment it cannot send.
#[derive(Debug, Clone, Copy, Default)]
pub struct Discard;

impl Outbox for Discard {
    fn send(&mut self, _: MachineId, _: &Frame) -> Sent {
        Sent::Gone
    }
    fn close(&mut self, _: MachineId) {}
}
