//! The one way a tick sends: a [`Transport`].

use crate::{MachineId, wire::Msg};

/// Carries a message to a peer. Implemented by each host (Unix sockets, TCP) and by the
/// simulator (in memory). `send` must not block indefinitely: a host queues what it cannot
/// write at once.
pub trait Transport {
    /// What can go wrong when sending.
    type Error;

    /// Sends `msg` to machine `to` (never the sender itself).
    fn send(&mut self, to: MachineId, msg: Msg) -> Result<(), Self::Error>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    type Error = T::Error;
    fn send(&mut self, to: MachineId, msg: Msg) -> Result<(), Self::Error> {
        (**self).send(to, msg)
    }
}
