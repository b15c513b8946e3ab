//! One machine's owner thread: the handshake (every peer connected both ways, then an
//! agreed start), then the shared [`Drive`] by [`drive::run`], waiting in one epoll set
//! ([`Thread`]): the peers' connections (each handed over by its reader thread after the
//! peer's ready `Hello`), the channel's bell (signals, hand-overs) and a timer at the next
//! deadline, as in host-unix.

use crate::net::{self, Event, Gate, RunKey, Rx, Tx};
use anyhow::{Result, bail};
use crossbeam_channel::TryRecvError;
use lamport_core::{
    MachineId, Spec,
    faults::{Faults, HostFaults},
    wire::{Deframer, Frame},
};
use lamport_host::{
    EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM,
    args::Model,
    drive::{self, Drive, Events, Happened, Input, Stop, Timing, Transport},
    error::Error,
    folder,
    link::{self, Link, Links},
    pace::{self, Pacer, Wait},
    time::{Mono, TimeBase},
    waiter::Waiter,
};
use nix::sys::epoll::EpollFlags;
use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// A Bye this close before the end counts as the normal end (clock skew between computers).
const END_TOLERANCE_NS: u64 = 200_000_000;

/// What one machine needs to run.
pub(crate) struct Config {
    /// The machine (its timing is host-tcp's: [`END_TOLERANCE_NS`]).
    pub(crate) spec: Spec<HostFaults>,
    pub(crate) dir: PathBuf,
    pub(crate) peers: Vec<SocketAddr>,
    pub(crate) connect_timeout: Duration,
    /// Set by the signal handler before it sends `Event::Signal`: 1 SIGINT, 2 SIGTERM, 3
    /// SIGHUP. A peer's `Bye` caused by the same signal can overtake the event; this cannot.
    pub(crate) signalled: Arc<AtomicU8>,
    /// Tests only: socket and send buffer sizes, bytes.
    pub(crate) send_buffer: Option<usize>,
    /// How to wait for a deadline.
    pub(crate) pacing: pace::Mode,
}

impl Config {
    /// Machine `id` of `model`, listening for `peers` as `cli` says; `signalled` is the
    /// flag its process's signal handler sets.
    pub(crate) fn new(
        cli: &crate::Cli,
        model: &Model,
        id: MachineId,
        dir: PathBuf,
        peers: &[SocketAddr],
        signalled: Arc<AtomicU8>,
    ) -> Self {
        Self {
            spec: model.spec(id).timing(Timing {
                end_tolerance_ns: END_TOLERANCE_NS,
                ..Timing::HOST
            }),
            dir,
            peers: peers.to_vec(),
            connect_timeout: Duration::from_secs(cli.connect_timeout),
            signalled,
            send_buffer: cli.model.send_buffer,
            pacing: cli.model.pacing,
        }
    }
}

/// The stop a signal flag stands for.
pub(crate) fn flag_stop(flag: &AtomicU8) -> Option<Stop> {
    match flag.load(Ordering::SeqCst) {
        1 => Some(Stop::Interrupted),
        2 => Some(Stop::Terminated),
        3 => Some(Stop::HungUp),
        _ => None,
    }
}

/// Runs one machine to its end on the current thread; returns its exit status.
/// `on_start` is told the agreed start once every peer is connected both ways.
pub(crate) fn run(
    cfg: Config,
    listener: TcpListener,
    tx: Tx,
    rx: Rx,
    on_start: impl FnOnce(TimeBase),
) -> Result<u8> {
    let started = Arc::new(AtomicBool::new(false));
    let run_id = connect(&cfg, listener, tx, Arc::clone(&started));
    let setup = match handshake(&cfg, run_id, &rx.rx)? {
        Ok(setup) => setup,
        Err(code) => return Ok(code),
    };
    started.store(true, Ordering::SeqCst);
    on_start(setup.base);
    let links = setup
        .out
        .into_iter()
        .enumerate()
        .map(|(p, s)| {
            s.map(|s| {
                let _ = s.set_nonblocking(true);
                let l = Link::writer(p as MachineId, s);
                match cfg.send_buffer {
                    Some(b) => {
                        let _ = link::set_socket_buffers(l.stream(), b);
                        l.with_bound(b)
                    }
                    None => l,
                }
            })
        })
        .collect();
    let mut drive = Drive::new(
        "host-tcp",
        cfg.spec.clone(),
        &cfg.dir,
        setup.base,
        Links(links),
    )?;
    nix::sys::prctl::set_timerslack(1).ok();
    for (p, input) in setup.early {
        drive.input(Mono::now(), p, input)?;
    }
    let machines = cfg.spec.params.machines;
    let mut events = Thread::new(&rx, &cfg.signalled, machines, setup.handed)?;
    Ok(drive::run(
        drive,
        &mut events,
        Pacer::for_run(cfg.pacing, machines),
    )?)
}

/// Starts accepting the peers' connections and connecting to theirs; returns the run id.
fn connect(cfg: &Config, listener: TcpListener, tx: Tx, started: Arc<AtomicBool>) -> u64 {
    let n = cfg.spec.params.machines;
    let key = RunKey::of(&cfg.peers, &cfg.spec.params, cfg.spec.faults.plan());
    let run_id = key.run_id();
    let gate = Gate {
        me: cfg.spec.id,
        machines: n,
        run_id,
        claimed: Arc::new(Mutex::new(vec![false; usize::from(n)])),
        pending: Arc::new(AtomicUsize::new(0)),
        started,
    };
    net::spawn_acceptor(listener, gate, tx.clone());
    let identity = net::hello(run_id, n, cfg.spec.id, folder::now_unix_ns());
    net::spawn_connector(
        cfg.spec.id,
        cfg.peers.clone(),
        identity,
        cfg.connect_timeout,
        tx,
    );
    run_id
}

/// What the handshake ends with: the agreed start, a stream to each peer, and frames that
/// arrived before the start.
struct Setup {
    base: TimeBase,
    out: Vec<Option<TcpStream>>,
    early: Vec<(MachineId, Input)>,
    /// Connections already handed over by their reader threads.
    handed: Vec<(MachineId, TcpStream, Deframer)>,
}

/// Both directions to every peer, then everyone's "ready" time; the start is the latest
/// plus a margin. `Ok(Err(code))`: a signal stopped it first.
fn handshake(
    cfg: &Config,
    run_id: u64,
    rx: &crossbeam_channel::Receiver<Event>,
) -> Result<Result<Setup, u8>> {
    let n = cfg.spec.params.machines;
    let me = usize::from(cfg.spec.id);
    let mut out: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    let mut joined = vec![false; usize::from(n)];
    let mut ready: Vec<Option<u64>> = vec![None; usize::from(n)];
    let mut mine: Option<u64> = None;
    let mut early: Vec<(MachineId, Input)> = Vec::new();
    let mut handed = Vec::new();
    let give_up = Instant::now() + cfg.connect_timeout + Duration::from_secs(5);
    let all_but_me = |v: &mut dyn Iterator<Item = bool>| v.enumerate().all(|(i, x)| x || i == me);
    loop {
        if mine.is_none()
            && all_but_me(&mut out.iter().map(Option::is_some))
            && all_but_me(&mut joined.iter().copied())
        {
            let t = folder::now_unix_ns();
            mine = Some(t);
            let h = Frame::Hello(net::hello(run_id, n, cfg.spec.id, t));
            for s in out.iter_mut().flatten() {
                net::write_frame(s, &h)?;
            }
        }
        if let Some(t) = mine
            && all_but_me(&mut ready.iter().map(Option::is_some))
        {
            let latest = ready
                .iter()
                .flatten()
                .copied()
                .chain([t])
                .max()
                .unwrap_or(t);
            let start_unix = latest + 300_000_000 + u64::from(n) * 2_000_000;
            return Ok(Ok(Setup {
                base: TimeBase::at_unix(start_unix),
                out,
                early,
                handed,
            }));
        }
        let Ok(ev) = rx.recv_deadline(give_up) else {
            bail!(
                "machine {}: peers did not all connect within {} s",
                cfg.spec.id,
                cfg.connect_timeout.as_secs()
            );
        };
        match ev {
            Event::Outbound(p, s) => out[usize::from(p)] = Some(s),
            Event::Handover(p, s, d) => handed.push((p, s, d)),
            Event::Joined(p) => joined[usize::from(p)] = true,
            Event::Input(p, Input::Frame(Frame::Hello(h))) => {
                ready[usize::from(p)] = Some(h.time_unix_ns)
            }
            Event::Input(p, input @ Input::Frame(_)) => early.push((p, input)),
            Event::Input(p, _) => {
                bail!("machine {}: peer {p} went away during set-up", cfg.spec.id)
            }
            Event::Signal(Stop::Interrupted) => return Ok(Err(EXIT_SIGINT)),
            Event::Signal(Stop::HungUp) => return Ok(Err(EXIT_SIGHUP)),
            Event::Signal(_) => return Ok(Err(EXIT_SIGTERM)),
            Event::Fatal(why) => bail!("machine {}: {why}", cfg.spec.id),
            // Before the start a machine takes no fault (`lab ctl` says it wrote no row).
            Event::Control(_) => {}
        }
    }
}

/// Bytes waiting for a slow peer are retried this often.
const FLUSH_RETRY_NS: u64 = 1_000_000;

/// The epoll token of the channel's bell; peer `i`'s connection is token `i`.
const BELL: u64 = u64::MAX - 1;

/// What a machine's thread waits for: the channel (signals, hand-overs, frames read before
/// a hand-over) and the connections its reader threads handed over.
struct Thread<'a> {
    waiter: Waiter,
    rx: &'a Rx,
    signalled: &'a AtomicU8,
    /// The connections the peers write to, indexed by peer.
    readers: Vec<Option<Link<TcpStream>>>,
    /// What each reader is watched for, kept in step with what it wants.
    watched: Vec<EpollFlags>,
}

impl<'a> Thread<'a> {
    fn new(
        rx: &'a Rx,
        signalled: &'a AtomicU8,
        machines: u16,
        handed: Vec<(MachineId, TcpStream, Deframer)>,
    ) -> Result<Self> {
        let waiter = Waiter::new()?;
        waiter.watch(&*rx.bell, BELL, EpollFlags::empty(), EpollFlags::EPOLLIN)?;
        let n = usize::from(machines);
        let mut t = Self {
            waiter,
            rx,
            signalled,
            readers: (0..n).map(|_| None).collect(),
            watched: vec![EpollFlags::empty(); n],
        };
        for (p, s, d) in handed {
            t.take(p, s, d);
        }
        Ok(t)
    }

    /// Reads from now on what peer `p` writes to `s`, going on with `d`.
    fn take(&mut self, p: MachineId, s: TcpStream, d: Deframer) {
        let _ = s.set_nonblocking(true);
        if let Some(r) = self.readers.get_mut(usize::from(p)) {
            *r = Some(Link::reader(p, s, d));
        }
    }

    /// A signal's stop, if one came: it goes before what was read with it (a peer's `Bye`
    /// caused by the same signal may be read before the signal's event).
    fn signal_first(&self, into: &mut Vec<(Mono, Happened)>) {
        if let Some(stop) = flag_stop(self.signalled) {
            into.push((Mono::now(), Happened::Stop(stop)));
        }
    }

    /// Whatever the channel holds: signals, hand-overs, the last frames a reader thread
    /// read before its hand-over (they come before the connection's own).
    fn drain_channel(&mut self, into: &mut Vec<(Mono, Happened)>) {
        let _ = self.rx.bell.read();
        loop {
            match self.rx.rx.try_recv() {
                Ok(Event::Input(p, input)) => {
                    self.signal_first(into);
                    into.push((Mono::now(), Happened::Input(p, input)));
                }
                Ok(Event::Handover(p, s, d)) => self.take(p, s, d),
                Ok(Event::Signal(stop)) => into.push((Mono::now(), Happened::Stop(stop))),
                Ok(Event::Control(live)) => into.push((Mono::now(), Happened::Control(live))),
                Ok(Event::Outbound(..) | Event::Joined(_) | Event::Fatal(_)) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    into.push((Mono::now(), Happened::Stop(Stop::SupervisorLost)));
                    break;
                }
            }
        }
    }
}

impl Events<Links<TcpStream>> for Thread<'_> {
    fn wake_at(&self, links: &Links<TcpStream>, now: Mono, deadline: Mono) -> Mono {
        if links.wants_write() {
            deadline.min(now.saturating_add(FLUSH_RETRY_NS))
        } else {
            deadline
        }
    }

    fn wait(
        &mut self,
        _links: &mut Links<TcpStream>,
        _wake: Mono,
        how: Wait,
        into: &mut Vec<(Mono, Happened)>,
    ) -> lamport_host::error::Result<()> {
        self.drain_channel(into);
        if !into.is_empty() {
            // The node takes these first; the next turn waits.
            return Ok(());
        }
        let fail = |e| Error::sys("wait for the peers", e);
        self.waiter
            .watch_links(&self.readers, &mut self.watched)
            .map_err(fail)?;
        let ready = self.waiter.wait(Mono::now(), how).map_err(fail)?;
        if !ready.is_empty() {
            self.signal_first(into);
        }
        for (token, _) in ready {
            let Some(l) = usize::try_from(token)
                .ok()
                .and_then(|i| self.readers.get_mut(i)?.as_mut())
            else {
                continue;
            };
            l.read(|peer, input| into.push((Mono::now(), Happened::Input(peer, input))));
        }
        Ok(())
    }
}
