//! One machine's owner thread: the handshake ([`net::meet`]: every peer connected both
//! ways, the clocks measured, an agreed start), then the shared [`Drive`] by
//! [`drive::run`], waiting in one epoll set ([`Thread`]): the peers' connections, the
//! channel's bell (signals, live faults) and a timer at the next deadline, as in host-unix.

use crate::net::{self, Event, NotMet, Rx, Tx};
use anyhow::{Result, bail};
use crossbeam_channel::TryRecvError;
use lamport_core::{MachineId, Spec, faults::HostFaults, wire::Deframer};
use lamport_host::{
    EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM,
    args::Model,
    collect::{Door, Keeper},
    drive::{self, Drive, Events, Happened, Input, Stop, Timing, Transport},
    error::Error,
    link::{self, Link, Links},
    meet::{Meet, Terms},
    pace::{self, Pacer, Wait},
    time::{Mono, TimeBase},
    waiter::Waiter,
};
use nix::sys::epoll::EpollFlags;
use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

/// A Bye this close before the end counts as the normal end (clock skew between computers).
const END_TOLERANCE_NS: u64 = 200_000_000;

/// What one machine needs to run.
pub(crate) struct Config {
    /// The machine (its timing is host-tcp's: [`END_TOLERANCE_NS`]).
    pub(crate) spec: Spec<HostFaults>,
    /// The run (what the peers must agree to).
    pub(crate) model: Model,
    pub(crate) peers: Vec<SocketAddr>,
    pub(crate) connect_timeout: Duration,
    /// Set by the signal handler before it sends `Event::Signal`: 1 SIGINT, 2 SIGTERM, 3
    /// SIGHUP. A peer's `Bye` caused by the same signal can overtake the event; this cannot.
    pub(crate) signalled: Arc<AtomicU8>,
    /// Tests only: socket and send buffer sizes, bytes.
    pub(crate) send_buffer: Option<usize>,
    /// How to wait for a deadline.
    pub(crate) pacing: pace::Mode,
    /// Keep the whole run at the end (`--collect`).
    pub(crate) collect: bool,
    /// Say nothing while waiting for the peers (`--quiet`, and threads mode).
    pub(crate) quiet: bool,
    /// The seed this machine states at the handshake ([`Terms::seed`]): machine 0's always,
    /// another's only when given.
    pub(crate) seed: Option<u64>,
}

impl Config {
    /// Machine `id` of `model`, listening for `peers` as `cli` says; `signalled` is the
    /// flag its process's signal handler sets.
    pub(crate) fn new(
        cli: &crate::Cli,
        model: &Model,
        id: MachineId,
        peers: &[SocketAddr],
        signalled: Arc<AtomicU8>,
    ) -> Self {
        Self {
            spec: spec_of(model, id),
            model: model.clone(),
            peers: peers.to_vec(),
            connect_timeout: Duration::from_secs(cli.connect_timeout),
            signalled,
            send_buffer: cli.model.send_buffer,
            pacing: cli.model.pacing,
            collect: cli.collect,
            // Threads of one process meet at once: nothing to say while they do.
            quiet: cli.model.quiet || cli.peers.is_none(),
            seed: (id == 0 || cli.model.seed.is_some()).then_some(model.params.seed),
        }
    }
}

/// Machine `id` of `model`, with host-tcp's timing ([`END_TOLERANCE_NS`]).
fn spec_of(model: &Model, id: MachineId) -> Spec<HostFaults> {
    model.spec(id).timing(Timing {
        end_tolerance_ns: END_TOLERANCE_NS,
        ..Timing::HOST
    })
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

/// What the handshake settled, for the process around the machine: the start (the rows'
/// timeline is machine 0's clock), the offsets measured, and what collecting the logs at
/// the end needs.
#[derive(Debug, Clone)]
pub(crate) struct Agreed {
    /// The start on the run's timeline and on this computer's monotonic clock.
    pub(crate) base: TimeBase,
    /// The handshake's own account.
    pub(crate) start: lamport_host::meet::Start,
    /// What every machine agreed to.
    pub(crate) terms: Terms,
    /// The run as agreed: this machine's flags with the run's seed (machine 0's).
    pub(crate) model: Model,
}

impl Agreed {
    /// The start on this computer's own system clock.
    pub(crate) fn local_start(&self) -> u64 {
        (i128::from(self.base.start_unix) - i128::from(self.start.to_common_ns)).max(0) as u64
    }

    /// The log header line that records the offsets: `# clock=to_common:N P:OFFSET/ERR ...`.
    pub(crate) fn clock_line(&self) -> String {
        lamport_host::check::Clock::of(self.start.to_common_ns, &self.start.offsets).to_string()
    }
}

/// Runs one machine to its end on the current thread; returns its exit status.
/// `on_start` is told what was agreed once every peer is connected both ways, and returns
/// the run folder to write the log in (it may name it by the start).
pub(crate) fn run(
    mut cfg: Config,
    listener: TcpListener,
    tx: Tx,
    rx: Rx,
    on_start: impl FnOnce(&Agreed) -> Result<(PathBuf, Option<Arc<Keeper>>)>,
) -> Result<u8> {
    let terms = Terms::of(&cfg.model, &cfg.peers, cfg.seed);
    let nonces = random_nonces(cfg.peers.len())?;
    let meet = Meet::new(
        cfg.spec.id,
        terms.clone(),
        u64::try_from(cfg.connect_timeout.as_nanos()).unwrap_or(u64::MAX),
        0,
        net::now(),
    )
    .with_nonces(nonces)
    .collecting(cfg.collect);
    let met = match net::meet(meet, &listener, &cfg.peers, (&tx, &rx), cfg.quiet) {
        Ok(m) => m,
        Err(NotMet::Failed(why)) => bail!("{why}"),
        Err(NotMet::Stopped(stop)) => {
            return Ok(match stop {
                Stop::Interrupted => EXIT_SIGINT,
                Stop::HungUp => EXIT_SIGHUP,
                _ => EXIT_SIGTERM,
            });
        }
    };
    // Every process draws from the run's seed: machine 0's.
    if let Some(seed) = met.start.seed {
        cfg.model.params.seed = seed;
        cfg.spec = spec_of(&cfg.model, cfg.spec.id);
    }
    let agreed = Agreed {
        model: cfg.model.clone(),
        base: TimeBase {
            start_mono: Mono(met.start.start_mono),
            start_unix: met.start.start_unix,
        },
        start: met.start.clone(),
        terms,
    };
    let (dir, keeper) = on_start(&agreed)?;
    let door = Door::new(cfg.spec.id, agreed.terms.clone(), keeper);
    net::spawn_after_start(listener, cfg.spec.id, Arc::new(door));
    let links = met
        .outbound
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
    let mut drive = Drive::with_clock(
        "host-tcp",
        cfg.spec.clone(),
        &dir,
        agreed.base,
        Links(links),
        Some(&agreed.clock_line()),
    )?;
    nix::sys::prctl::set_timerslack(1).ok();
    // Frames that came with a peer's `Ready` (it started first) go first.
    let mut handed = Vec::new();
    for (p, x) in met.inbound.into_iter().enumerate() {
        let Some((s, rest)) = x else { continue };
        let mut d = Deframer::new();
        for &b in &rest {
            match d.push(b) {
                Some(Ok(frame)) => drive.input(Mono::now(), p as MachineId, Input::Frame(frame))?,
                Some(Err(e)) => drive.input(Mono::now(), p as MachineId, Input::Bad(e))?,
                None => {}
            }
        }
        handed.push((p as MachineId, s, d));
    }
    let machines = cfg.spec.params.machines;
    let mut events = Thread::new(&rx, &cfg.signalled, machines, handed)?;
    Ok(drive::run(
        drive,
        &mut events,
        Pacer::for_run(cfg.pacing, machines),
    )?)
}

/// `n` nonces, each 8 bytes of the system's randomness on its own (none tells another).
fn random_nonces(n: usize) -> Result<Vec<u64>> {
    let mut b = vec![0u8; 8 * n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .map_err(|e| anyhow::anyhow!("cannot read /dev/urandom for the handshake's nonces: {e}"))?;
    Ok(b.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect())
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

    /// Whatever the channel holds: signals, live faults.
    fn drain_channel(&mut self, into: &mut Vec<(Mono, Happened)>) {
        let _ = self.rx.bell.read();
        loop {
            match self.rx.rx.try_recv() {
                Ok(Event::Signal(stop)) => into.push((Mono::now(), Happened::Stop(stop))),
                Ok(Event::Control(live)) => into.push((Mono::now(), Happened::Control(live))),
                Ok(Event::Dialed(..)) => {}
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
