//! Unix-domain socket links to the peers.

use lamport_core::{
    MachineId,
    wire::{self, Deframer, Frame, MAX_FRAME},
};
use lamport_host::runner::Input;
use std::{
    io::{ErrorKind, Read, Write},
    os::{fd::OwnedFd, unix::net::UnixStream},
};

/// One stream socket to one peer: bytes in through a deframer, bytes out through a buffer
/// (never blocks: what the socket does not take now waits for POLLOUT).
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) peer: MachineId,
    pub(crate) stream: UnixStream,
    pub(crate) deframer: Deframer,
    pub(crate) out: Vec<u8>,
    /// The connection is finished (EOF, error): no more reads or writes.
    pub(crate) closed: bool,
}

impl Link {
    pub(crate) fn new(peer: MachineId, fd: OwnedFd) -> Self {
        Self {
            peer,
            stream: UnixStream::from(fd),
            deframer: Deframer::new(),
            out: Vec::new(),
            closed: false,
        }
    }

    /// Queues a frame and tries to write it at once.
    pub(crate) fn send(&mut self, frame: &Frame) {
        if self.closed {
            return;
        }
        let mut buf = [0u8; MAX_FRAME];
        let bytes = wire::encode(frame, &mut buf).expect("every frame fits MAX_FRAME");
        self.out.extend_from_slice(bytes);
        self.flush();
    }

    /// Writes as much of the buffer as the socket takes.
    pub(crate) fn flush(&mut self) {
        while !self.out.is_empty() && !self.closed {
            match self.stream.write(&self.out) {
                Ok(0) => self.closed = true,
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
    }

    /// Reads everything available, handing each frame (or problem) to `f`.
    pub(crate) fn read(&mut self, mut f: impl FnMut(MachineId, Input)) {
        let mut buf = [0u8; 4096];
        while !self.closed {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.closed = true;
                    f(self.peer, Input::Closed);
                }
                Ok(n) => {
                    for &b in &buf[..n] {
                        match self.deframer.push(b) {
                            None => {}
                            Some(Ok(frame)) => f(self.peer, Input::Frame(frame)),
                            Some(Err(e)) => f(self.peer, Input::Bad(e)),
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.closed = true;
                    f(self.peer, Input::Closed);
                }
            }
        }
    }
}
