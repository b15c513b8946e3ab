//! TCP plumbing: the machine's channel (signals, live faults, dials that finished), and the
//! handshake driven over sockets: [`meet`] feeds [`lamport_host::meet::Meet`] what the
//! listener, the connections, the dialing threads and the clocks say, and does what it
//! asks, until the start is agreed. After the start, [`spawn_after_start`] answers
//! whoever still connects: the peers' logs at the end ([`lamport_host::collect`]), or a
//! refusal.

use crossbeam_channel::{Receiver, SendError, Sender};
use lamport_host::{
    collect::Door,
    drive::Stop,
    meet::{Action, Meet, Now, Outcome, Start, Token},
    time::Mono,
    waiter::Waiter,
};
use nix::sys::{
    epoll::EpollFlags,
    eventfd::{EfdFlags, EventFd},
};
use std::{
    collections::HashMap,
    io::{ErrorKind, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream},
    sync::Arc,
    time::Duration,
};

/// What a machine's owner thread hears about.
#[derive(Debug)]
pub(crate) enum Event {
    /// A dial to `peer` ended: the stream, or why not.
    Dialed(u16, Result<TcpStream, String>),
    /// Stop (a signal).
    Signal(Stop),
    /// A fault set while the run runs ([`lamport_host::control`]).
    Control(lamport_core::live::Live),
}

/// The sending end of a machine's channel: every send also rings the machine's bell (an
/// eventfd in its epoll set), so that a machine waiting on its sockets and timer sees it.
#[derive(Clone)]
pub(crate) struct Tx {
    tx: Sender<Event>,
    bell: Arc<EventFd>,
}

impl Tx {
    pub(crate) fn send(&self, ev: Event) -> Result<(), SendError<Event>> {
        let r = self.tx.send(ev);
        let _ = self.bell.write(1);
        r
    }
}

/// The receiving end: the channel and the bell to watch.
pub(crate) struct Rx {
    pub(crate) rx: Receiver<Event>,
    pub(crate) bell: Arc<EventFd>,
}

/// A machine's channel.
pub(crate) fn channel() -> std::io::Result<(Tx, Rx)> {
    let bell = Arc::new(
        EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(std::io::Error::from)?,
    );
    let (tx, rx) = crossbeam_channel::unbounded();
    Ok((
        Tx {
            tx,
            bell: Arc::clone(&bell),
        },
        Rx { rx, bell },
    ))
}

/// Both clocks now.
pub(crate) fn now() -> Now {
    Now {
        mono: Mono::now().ns(),
        wall: lamport_host::folder::now_unix_ns(),
    }
}

/// Bytes a handshake connection may hold unsent before it is dropped (a peer that does not
/// read its `Pong`s).
const MAX_UNSENT: usize = 1 << 20;

/// The epoll tokens of the bell and the listener; connections are numbered from 0.
const BELL: u64 = u64::MAX - 1;
const LISTENER: u64 = u64::MAX - 2;

struct Conn {
    stream: TcpStream,
    unsent: Vec<u8>,
    closing: bool,
    watched: EpollFlags,
}

/// The handshake's end: the start and the streams to run on.
pub(crate) struct Met {
    pub(crate) start: Start,
    /// Per peer: the stream this machine writes to.
    pub(crate) outbound: Vec<Option<TcpStream>>,
    /// Per peer: the stream it reads, and the bytes already read past the handshake.
    pub(crate) inbound: Vec<Option<(TcpStream, Vec<u8>)>>,
}

/// How the handshake did not end in a start.
pub(crate) enum NotMet {
    /// A signal stopped it.
    Stopped(Stop),
    /// It failed: why.
    Failed(String),
}

/// The sockets of a handshake: the listener, the connections by token, the dials' channel.
struct Sockets<'a> {
    meet: Meet,
    listener: &'a TcpListener,
    peers: &'a [SocketAddr],
    tx: &'a Tx,
    rx: &'a Rx,
    waiter: Waiter,
    conns: HashMap<Token, Conn>,
    next: Token,
    buf: Vec<u8>,
}

/// How often a machine that waits for its peers says what it waits for.
const SAY_WAITING_NS: u64 = 5_000_000_000;

/// Runs `meet` over `listener` and the dials to `peers` until it starts or fails; unless
/// `quiet`, says every 5 s what it still waits for.
pub(crate) fn meet(
    meet: Meet,
    listener: &TcpListener,
    peers: &[SocketAddr],
    (tx, rx): (&Tx, &Rx),
    quiet: bool,
) -> Result<Met, NotMet> {
    let sys = |e: std::io::Error| NotMet::Failed(format!("cannot wait for the peers: {e}"));
    listener.set_nonblocking(true).map_err(sys)?;
    let waiter = Waiter::new().map_err(sys)?;
    waiter
        .watch(&*rx.bell, BELL, EpollFlags::empty(), EpollFlags::EPOLLIN)
        .map_err(sys)?;
    waiter
        .watch(listener, LISTENER, EpollFlags::empty(), EpollFlags::EPOLLIN)
        .map_err(sys)?;
    let mut s = Sockets {
        meet,
        listener,
        peers,
        tx,
        rx,
        waiter,
        conns: HashMap::new(),
        next: 0,
        buf: vec![0u8; 64 * 1024],
    };
    let mut linger: Option<u64> = None;
    let mut say_at = now().mono + SAY_WAITING_NS;
    loop {
        if !quiet && linger.is_none() && now().mono >= say_at {
            say_at += SAY_WAITING_NS;
            eprintln!("host-tcp: still waiting: {}", s.meet.missing());
        }
        while let Some(a) = s.meet.next_action() {
            act(a, &mut s.conns, s.peers, s.tx);
        }
        match s.meet.outcome() {
            Some(Outcome::Started(start)) => return Ok(streams(start.clone(), s.conns)),
            Some(Outcome::Failed(why)) => {
                // It lingers a moment, telling whoever says `Hello` why.
                let until = *linger.get_or_insert(now().mono + Meet::LINGER_NS);
                if now().mono >= until {
                    for c in s.conns.values_mut() {
                        let _ = flush(c);
                    }
                    return Err(NotMet::Failed(why.clone()));
                }
            }
            None => {}
        }
        s.flush_and_watch();
        let n = now();
        let wake = s
            .meet
            .wake_at()
            .min(linger.unwrap_or(u64::MAX))
            .min(if quiet { u64::MAX } else { say_at })
            .saturating_sub(n.mono);
        let ready = s
            .waiter
            .wait(Mono(n.mono), lamport_host::pace::Wait::Sleep(wake.max(1)))
            .map_err(sys)?;
        for (token, _) in ready {
            match token {
                BELL => s.bell()?,
                LISTENER => s.accept(),
                t => s.read(t),
            }
        }
        s.meet.tick(now());
    }
}

impl Sockets<'_> {
    /// A new connection's token.
    fn add(&mut self, stream: TcpStream) -> Token {
        let t = self.next;
        self.next += 1;
        let _ = stream.set_nonblocking(true);
        let _ = stream.set_nodelay(true);
        self.conns.insert(t, conn(stream));
        t
    }

    /// Writes what each connection can take; watches each for reading, and for writing
    /// while it has bytes waiting; a connection done with is closed.
    fn flush_and_watch(&mut self) {
        let mut gone = Vec::new();
        for (&t, c) in &mut self.conns {
            if !flush(c) {
                gone.push(t);
                continue;
            }
            let want = if c.unsent.is_empty() {
                EpollFlags::EPOLLIN
            } else {
                EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT
            };
            if self.waiter.watch(&c.stream, t, c.watched, want).is_ok() {
                c.watched = want;
            }
        }
        for t in gone {
            self.conns.remove(&t);
            self.meet.closed(now(), t);
        }
    }

    /// The channel: a signal ends the handshake; dials that ended join it.
    fn bell(&mut self) -> Result<(), NotMet> {
        let _ = self.rx.bell.read();
        while let Ok(ev) = self.rx.rx.try_recv() {
            match ev {
                Event::Signal(stop) => return Err(NotMet::Stopped(stop)),
                // Before the start a machine takes no fault (`lab ctl` says it wrote no row).
                Event::Control(_) => {}
                Event::Dialed(p, Ok(stream)) => {
                    let t = self.add(stream);
                    self.meet.dialed(now(), t, p);
                }
                Event::Dialed(p, Err(why)) => self.meet.dial_failed(now(), p, &why),
            }
        }
        Ok(())
    }

    /// Every connection waiting on the listener.
    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, from)) => {
                    let t = self.add(stream);
                    self.meet.accepted(now(), t, &from.to_string());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Would block, or out of descriptors: the next turn tries again.
                Err(_) => break,
            }
        }
    }

    /// What connection `t` says.
    fn read(&mut self, t: Token) {
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        match c.stream.read(&mut self.buf) {
            Ok(0) => {
                self.conns.remove(&t);
                self.meet.closed(now(), t);
            }
            Ok(k) => self.meet.received(now(), t, &self.buf[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => {
                self.conns.remove(&t);
                self.meet.closed(now(), t);
            }
        }
    }
}

fn conn(stream: TcpStream) -> Conn {
    Conn {
        stream,
        unsent: Vec::new(),
        closing: false,
        watched: EpollFlags::empty(),
    }
}

/// Writes what it can; false once the connection is done with (closed, or a reader that
/// never reads).
fn flush(c: &mut Conn) -> bool {
    while !c.unsent.is_empty() {
        match c.stream.write(&c.unsent) {
            Ok(0) => return false,
            Ok(k) => {
                c.unsent.drain(..k);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    if c.closing && c.unsent.is_empty() {
        let _ = c.stream.shutdown(Shutdown::Both);
        return false;
    }
    c.unsent.len() <= MAX_UNSENT
}

fn act(a: Action, conns: &mut HashMap<Token, Conn>, peers: &[SocketAddr], tx: &Tx) {
    match a {
        Action::Write(t, bytes) => {
            if let Some(c) = conns.get_mut(&t) {
                c.unsent.extend_from_slice(&bytes);
            }
        }
        Action::Close(t) => {
            if let Some(c) = conns.get_mut(&t) {
                c.closing = true;
            }
        }
        Action::Dial(p) => dial(p, peers[usize::from(p)], tx.clone()),
        Action::Note(s) => eprintln!("host-tcp: {s}"),
    }
}

/// Connects to `addr` on a thread of its own and says how it went on the channel.
fn dial(p: u16, addr: SocketAddr, tx: Tx) {
    // A dial that cannot start fails like one that did not connect: tried again later.
    let failed = tx.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("dial-{p}"))
        .stack_size(64 << 10)
        .spawn(move || {
            let r = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .map_err(|e| e.to_string());
            let _ = tx.send(Event::Dialed(p, r));
        });
    if let Err(e) = spawned {
        let _ = failed.send(Event::Dialed(
            p,
            Err(format!("cannot start a thread to dial: {e}")),
        ));
    }
}

/// The streams the start names; the rest are closed (dropped).
fn streams(start: Start, mut conns: HashMap<Token, Conn>) -> Met {
    for c in conns.values_mut() {
        // What the handshake left unsent (a last `Pong`) is written now, blocking briefly.
        if !c.unsent.is_empty() {
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = c.stream.write_all(&c.unsent);
        }
    }
    let outbound = start
        .outbound
        .iter()
        .map(|t| t.and_then(|t| conns.remove(&t)).map(|c| c.stream))
        .collect();
    let inbound = start
        .inbound
        .iter()
        .map(|x| {
            x.as_ref()
                .and_then(|(t, rest)| conns.remove(t).map(|c| (c.stream, rest.clone())))
        })
        .collect();
    Met {
        start,
        outbound,
        inbound,
    }
}

/// After the start, whoever connects to `listener` is answered by `door` on a thread of
/// its own: the peers' files at the end (machine 0), or a refusal that says why.
pub(crate) fn spawn_after_start(listener: TcpListener, me: u16, door: Arc<Door>) {
    let _ = listener.set_nonblocking(false);
    let _ = std::thread::Builder::new()
        .name(format!("accept-{me}"))
        .stack_size(256 << 10)
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(stream) = conn else {
                    // Out of descriptors or memory: wait, do not spin.
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                };
                let door = Arc::clone(&door);
                let _ = std::thread::Builder::new()
                    .name(format!("door-{me}"))
                    .stack_size(256 << 10)
                    .spawn(move || door.serve(stream));
            }
        });
}
