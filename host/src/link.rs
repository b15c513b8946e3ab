//! One connection to one peer, the same for both hosts: frames out through one bounded
//! buffer (a send never blocks), frames in through a deframer. [`Links`] is the
//! [`Transport`] of a machine whose peers are byte streams: one link per peer.

use crate::drive::Transport;
use lamport_core::{
    MachineId,
    node::Input,
    transport::{Outbox, Sent},
    wire::{self, Deframer, Frame, MAX_FRAME},
};
use std::{
    io::{ErrorKind, Read, Write},
    net::{Shutdown, TcpStream},
    os::unix::net::UnixStream,
};

/// Bytes a peer's buffer may hold before a send says [`Sent::Blocked`] (about 4,000
/// frames): past it, the peer is not reading.
pub const SEND_BOUND: usize = 64 * 1024;

/// A non-blocking byte stream that can be shut down.
pub trait Stream: Read + Write {
    /// Shuts both directions down.
    fn shut(&self);
    /// Shuts the writing direction down: the peer reads the end of the stream after what
    /// was written. A stream that cannot half-close does nothing (the peer sees the end
    /// when the stream is dropped).
    fn shut_write(&self) {}
}

/// Sets the kernel's send and receive buffers of a socket to `bytes` (tests: a frozen
/// peer's buffers fill at once).
pub fn set_socket_buffers(fd: &impl std::os::fd::AsFd, bytes: usize) -> std::io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    setsockopt(fd, sockopt::SndBuf, &bytes).map_err(std::io::Error::from)?;
    setsockopt(fd, sockopt::RcvBuf, &bytes).map_err(std::io::Error::from)
}

impl Stream for UnixStream {
    fn shut(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
    fn shut_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

impl Stream for TcpStream {
    fn shut(&self) {
        let _ = self.shutdown(Shutdown::Both);
    }
    fn shut_write(&self) {
        let _ = self.shutdown(Shutdown::Write);
    }
}

/// One stream to one peer.
#[derive(Debug)]
pub struct Link<S> {
    peer: MachineId,
    bound: usize,
    stream: S,
    out: Vec<u8>,
    deframer: Deframer,
    write_open: bool,
    read_open: bool,
}

impl<S: Stream> Link<S> {
    /// A link that writes to and reads from `stream` (which must be non-blocking).
    pub fn new(peer: MachineId, stream: S) -> Self {
        Self {
            peer,
            bound: SEND_BOUND,
            stream,
            out: Vec::new(),
            deframer: Deframer::new(),
            write_open: true,
            read_open: true,
        }
    }

    /// A link that only writes (what the peer sends arrives on another connection).
    pub fn writer(peer: MachineId, stream: S) -> Self {
        Self {
            read_open: false,
            ..Self::new(peer, stream)
        }
    }

    /// A link that only reads, going on with `deframer` (a frame may have begun before).
    pub fn reader(peer: MachineId, stream: S, deframer: Deframer) -> Self {
        Self {
            write_open: false,
            deframer,
            ..Self::new(peer, stream)
        }
    }

    /// The same link with a send buffer of `bound` bytes instead of [`SEND_BOUND`].
    pub fn with_bound(self, bound: usize) -> Self {
        Self { bound, ..self }
    }

    /// The stream.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Puts `frame` in the buffer and writes what the stream takes now.
    pub fn send(&mut self, frame: &Frame) -> Sent {
        if !self.write_open {
            return Sent::Gone;
        }
        let mut buf = [0u8; MAX_FRAME];
        let Ok(bytes) = wire::encode(frame, &mut buf) else {
            return Sent::Gone;
        };
        self.out.extend_from_slice(bytes);
        self.flush();
        if !self.write_open {
            Sent::Gone
        } else if self.is_blocked() {
            Sent::Blocked
        } else {
            Sent::Taken
        }
    }

    /// Writes as much of the buffer as the stream takes. A failed write ends the writing
    /// side only: what the peer wrote before it went away is still read.
    pub fn flush(&mut self) {
        while !self.out.is_empty() && self.write_open {
            match self.stream.write(&self.out) {
                Ok(0) => self.write_open = false,
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => self.write_open = false,
            }
        }
        if !self.write_open {
            self.out.clear();
        }
    }

    /// True while the buffer holds more than its bound ([`SEND_BOUND`] unless set).
    pub fn is_blocked(&self) -> bool {
        self.write_open && self.out.len() > self.bound
    }

    /// True while bytes wait to be written.
    pub fn wants_write(&self) -> bool {
        self.write_open && !self.out.is_empty()
    }

    /// True while the reading side is open.
    pub fn wants_read(&self) -> bool {
        self.read_open
    }

    /// Reads everything available now, handing each frame (or problem, or the end of the
    /// stream) to `f`.
    pub fn read(&mut self, mut f: impl FnMut(MachineId, Input)) {
        let mut buf = [0u8; 4096];
        while self.read_open {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.read_open = false;
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
                    self.read_open = false;
                    f(self.peer, Input::Closed);
                }
            }
        }
    }

    /// Stops reading and writing, and shuts the stream down.
    pub fn close(&mut self) {
        self.read_open = false;
        self.write_open = false;
        self.out.clear();
        self.stream.shut();
    }

    /// Says "no more frames" to the peer once the buffer is written (shuts the writing
    /// side down).
    pub fn finish(&mut self) {
        self.flush();
        self.write_open = false;
        self.stream.shut_write();
    }
}

/// A machine's links, indexed by peer id (`None` for itself, or a peer not connected).
#[derive(Debug)]
pub struct Links<S>(pub Vec<Option<Link<S>>>);

impl<S: Stream> Transport for Links<S> {
    fn flush(&mut self) {
        self.0.iter_mut().flatten().for_each(Link::flush);
    }
    fn wants_write(&self) -> bool {
        self.0.iter().flatten().any(Link::wants_write)
    }
    fn finish(&mut self) {
        self.0.iter_mut().flatten().for_each(Link::finish);
    }
}

impl<S: Stream> Outbox for Links<S> {
    fn send(&mut self, to: MachineId, frame: &Frame) -> Sent {
        match self.0.get_mut(usize::from(to)).and_then(Option::as_mut) {
            Some(l) => l.send(frame),
            None => Sent::Gone,
        }
    }
    fn close(&mut self, peer: MachineId) {
        if let Some(l) = self.0.get_mut(usize::from(peer)).and_then(Option::as_mut) {
            l.close();
        }
    }
    fn is_blocked(&self, peer: MachineId) -> bool {
        self.0
            .get(usize::from(peer))
            .and_then(Option::as_ref)
            .is_some_and(Link::is_blocked)
    }
    fn is_flushed(&self) -> bool {
        !self.wants_write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamport_core::wire::Msg;

    fn pair() -> (Link<UnixStream>, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (Link::new(1, a), b)
    }

    const MSG: Frame = Frame::Msg(Msg {
        sender: 0,
        clock: 7,
    });

    #[test]
    fn a_peer_that_does_not_read_blocks_then_the_buffer_stays_bounded_by_time() {
        let (mut link, _peer) = pair();
        let mut results = Vec::new();
        for _ in 0..200_000 {
            results.push(link.send(&MSG));
            if results.last() == Some(&Sent::Blocked) {
                break;
            }
        }
        assert_eq!(results.last(), Some(&Sent::Blocked));
        assert!(
            results[..results.len() - 1]
                .iter()
                .all(|r| *r == Sent::Taken)
        );
        assert!(link.is_blocked());
    }

    #[test]
    fn a_closed_peer_is_gone_but_what_it_wrote_is_still_read() {
        let (mut link, mut peer) = pair();
        let mut buf = [0u8; MAX_FRAME];
        peer.write_all(wire::encode(&MSG, &mut buf).unwrap())
            .unwrap();
        drop(peer);
        let mut sent = Sent::Taken;
        for _ in 0..100 {
            sent = link.send(&MSG);
            if sent == Sent::Gone {
                break;
            }
        }
        assert_eq!(sent, Sent::Gone);
        let mut got = Vec::new();
        link.read(|p, i| got.push((p, i)));
        assert_eq!(got, vec![(1, Input::Frame(MSG)), (1, Input::Closed)]);
    }
}
