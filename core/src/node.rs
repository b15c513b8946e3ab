//! One machine's whole run as a sans-IO state machine: ticks at their deadlines, every
//! arriving frame, and the end of the run (`Bye` counts, draining, `unprocessed` rows, the
//! `end` row and its reason). The one definition of how a run ends: both hosts and the
//! simulator drive a [`Node`].
//!
//! A `Node` never reads a clock, a socket or a file. Time comes in as `now` (nanoseconds on
//! the run's time base, [`UnixNanos`]); records leave through a [`Log`]; frames leave
//! through an [`Outbox`] (the one send path, [`crate::transport`]), which answers every send
//! with [`Sent`].
//!
//! # Call order
//!
//! 1. [`Node::new`] from the machine's [`Spec`], then log [`Node::opening`] (the header lines, with the faults line of a
//!    run that has faults) and [`Node::start_record`].
//! 2. Whenever something arrives on a peer's connection (a frame, bytes that are not a
//!    frame, the end of the stream): [`Node::handle_input`].
//! 3. When a signal or the supervisor says stop: [`Node::interrupt`]. When a fault is set
//!    while the run runs (`lab ctl`, keys, the live page): [`Node::control`].
//! 4. After any of those, and whenever the instant [`Node::poll_timeout`] has come:
//!    [`Node::handle_timeout`]. It does the ticks that are due (late ones are caught up,
//!    none is skipped), sends the `Bye`s of a stopped machine, gives up on stalled peers
//!    and ends the run.
//! 5. Once [`Node::ended`] is `Some`, the `end` row is written and the node does nothing
//!    more; the host closes its connections.
//!
//! Every call takes `now`, the instant on the run's timeline ([`UnixNanos`]) at which what
//! it reports happened; `now` never goes back from one call to the next (debug builds
//! assert it), as in quinn's `Connection` and str0m's `Rtc`.
//!
//! # How a run ends
//!
//! A machine stops ticking when its last deadline is done and the run's end has come
//! (`time up`), when its queue is full, when a peer says `Bye` before the end (`peer P
//! stopped early`), when a peer is lost (its stream closed without `Bye`, it sent bytes that
//! are not a frame, its link is gone or stalled), or when told to ([`Node::interrupt`]).
//! Stopping logs every queued message (and a message that did not fit, and every message a
//! fault still holds: [`crate::faults`]) as `unprocessed`;
//! the next [`Node::handle_timeout`] says `Bye` to every peer still there, with the number
//! of `Msg` frames sent to it. The node then drains: each `Msg` that still arrives is an
//! `unprocessed` row. Draining ends when every peer has said `Bye` or is lost and the outbox
//! is flushed, or after [`Timing::drain_timeout_ns`] (the silent peers are then lost). The
//! `end` row's note says why the machine stopped, which peers were lost, and any peer whose
//! `Bye` count differs from the messages that arrived.
//!
//! A peer's `Bye` at or after the end is the normal end: the node first catches up on any
//! tick still due (a late machine must not lose ticks), then stops. A `Bye` just before the
//! end (within [`Timing::end_tolerance_ns`], clock skew between computers) is noted and the
//! node ticks on to its own end.
//!
//! A run stopped before its start (a signal, a lost peer or supervisor while the machines
//! wait for the agreed start instant) ends at its start instant: every row a stop writes
//! (`unprocessed`, `end`) is stamped `now` or the start, whichever is later, so no row of a
//! log is ever stamped before its `start` row.

use crate::end_note::{Count, Milli, PeerList};
use crate::{
    Error, MachineId, UnixNanos,
    faults::{Faults, Held, NoFaults},
    live::{Live, Refusal},
    machine::Machine,
    record::{Header, Kind, Log, Note, Record},
    spec::Spec,
    transport::{Outbox, Sent},
    wire::{Bye, Frame, Msg},
};
use core::fmt::Write as _;

/// What arrived on a peer's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A whole frame.
    Frame(Frame),
    /// Bytes that are not a frame: the peer is lost.
    Bad(Error),
    /// End of the stream (or a read error).
    Closed,
}

/// Why a machine stopped ticking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The run's time is up.
    TimeUp,
    /// This machine's queue was full (limit given).
    QueueFull(u32),
    /// A peer said `Bye` before the end: it stopped early.
    PeerStopped(MachineId),
    /// A peer's connection closed without `Bye`, is gone, or carried bytes that are not a
    /// frame.
    PeerLost(MachineId),
    /// A peer stopped reading: its buffer stayed full for [`Timing::stall_ns`].
    PeerStalled(MachineId),
    /// The run's end passed [`Timing::lag_limit_ns`] ago and this machine still had ticks
    /// to do: it could not keep up with its clock rate (the `end` note says the rate, the
    /// speedup and the ticks left).
    FellBehind,
    /// SIGINT.
    Interrupted,
    /// SIGTERM.
    Terminated,
    /// SIGHUP: the terminal the run was started from closed.
    HungUp,
    /// The supervisor (parent process, or the process that owns this thread) went away.
    SupervisorLost,
    /// Killed while the run ran ([`crate::live::Live::Kill`]): it stopped at once, as a
    /// crash would, without `Bye`.
    Killed,
}

impl core::fmt::Display for Stop {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TimeUp => f.write_str("time up"),
            Self::QueueFull(cap) => write!(f, "queue full (cap {cap})"),
            Self::PeerStopped(p) => write!(f, "peer {p} stopped early"),
            Self::PeerLost(p) => write!(f, "peer {p} lost"),
            Self::PeerStalled(p) => write!(f, "peer {p} stalled"),
            Self::FellBehind => f.write_str("could not keep up"),
            Self::Interrupted => f.write_str("interrupted"),
            Self::Terminated => f.write_str("terminated"),
            Self::HungUp => f.write_str("hung up"),
            Self::SupervisorLost => f.write_str("supervisor lost"),
            Self::Killed => f.write_str("killed"),
        }
    }
}

/// How a machine's run ended, as a host reports it (its exit status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Time up, every peer said `Bye` with the right count.
    Clean,
    /// A peer stopped early or was lost; this machine did nothing wrong.
    PeerTrouble,
    /// This machine failed: its queue was full, it could not keep up, its supervisor is
    /// gone, or a `Bye` count did not match what arrived.
    Failed,
    /// Stopped by SIGINT.
    Interrupted,
    /// Stopped by SIGTERM.
    Terminated,
    /// Stopped by SIGHUP.
    HungUp,
    /// Killed on purpose while the run ran ([`Stop::Killed`]).
    Killed,
}

/// The end of one machine's run: the note of its `end` row and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct End {
    /// The `end` row's note.
    pub note: Note,
    /// The status.
    pub status: Status,
}

/// How a peer was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// It vanished: its stream closed without `Bye`, its link is gone, it sent bytes that
    /// are not a frame, or it said nothing until the drain timeout (the end note's `lost`).
    Vanished,
    /// It stopped reading (its buffer stayed full).
    Stalled,
}

/// What one machine knows about one peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerState {
    sent: u64,
    received: u64,
    bye: Option<u64>,
    lost: Option<Lost>,
    /// Since when sends to it were `Blocked` or `Gone`.
    trouble_since: Option<UnixNanos>,
    gone: bool,
}

/// Storage for one [`PeerState`] per machine of the run: a `heapless::Vec` on a
/// microcontroller, a `Vec` on a host (feature `alloc`).
pub trait Ledger: AsRef<[PeerState]> + AsMut<[PeerState]> {
    /// Storage for `machines` entries, or `None` if it cannot hold that many.
    fn for_machines(machines: u16) -> Option<Self>
    where
        Self: Sized;
}

/// A ledger for runs of up to `N` machines, without allocation.
pub type FixedLedger<const N: usize> = heapless::Vec<PeerState, N>;

impl<const N: usize> Ledger for heapless::Vec<PeerState, N> {
    fn for_machines(machines: u16) -> Option<Self> {
        let mut v = Self::new();
        v.resize(usize::from(machines), PeerState::default()).ok()?;
        Some(v)
    }
}

#[cfg(feature = "alloc")]
impl Ledger for alloc::vec::Vec<PeerState> {
    fn for_machines(machines: u16) -> Option<Self> {
        Some(alloc::vec![PeerState::default(); usize::from(machines)])
    }
}

/// The waits of the end of a run, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A peer's `Bye` this close before the end still counts as the normal end (clock skew
    /// between computers). 0 on one computer.
    pub end_tolerance_ns: u64,
    /// How long a stopped machine waits for its peers' `Bye` before calling them lost.
    pub drain_timeout_ns: u64,
    /// How long a peer's buffer may stay full (or its link gone without the stream
    /// closing) before the peer is stalled (lost).
    pub stall_ns: u64,
    /// How long after the run's end a machine that still has ticks to do goes on catching
    /// up before it stops as [`Stop::FellBehind`]. Below the drain timeout, so that its
    /// peers still hear its `Bye`.
    pub lag_limit_ns: u64,
}

impl Timing {
    /// The waits the hosts use on one computer. Their order matters and is checked when
    /// the crate compiles: a machine that falls behind stops (`lag_limit_ns`) before its
    /// peers give up draining (`drain_timeout_ns`), so they still hear its `Bye`; a peer is
    /// called stalled (`stall_ns`) only after draining would have ended.
    pub const HOST: Self = Self {
        end_tolerance_ns: 0,
        drain_timeout_ns: 800_000_000,
        stall_ns: 2_000_000_000,
        lag_limit_ns: 500_000_000,
    };

    /// How long after the run's end (or a signal, or a machine's death) a supervisor waits
    /// for its machines before killing them: a late machine's lag limit, then its
    /// draining, plus one second for writing and exiting.
    pub const fn supervisor_grace_ns(&self) -> u64 {
        self.end_tolerance_ns + self.lag_limit_ns + self.drain_timeout_ns + 1_000_000_000
    }
}

const _: () = {
    let t = Timing::HOST;
    assert!(t.end_tolerance_ns < t.lag_limit_ns);
    assert!(t.lag_limit_ns < t.drain_timeout_ns);
    assert!(t.drain_timeout_ns < t.stall_ns);
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Running,
    Stopping {
        stop: Stop,
        at: UnixNanos,
        bye_sent: bool,
    },
    /// The `end` row is written; why the machine stopped.
    Ended {
        stop: Stop,
    },
}

/// Most ticks one [`Node::handle_timeout`] does; the rest stay due (and
/// [`Node::poll_timeout`] says so at once).
pub const MAX_BATCH: usize = 1024;

/// One machine's run: its [`Machine`], what it knows of its peers, where the run is, and
/// its faults (see [`crate::faults`]: messages held before they enter the queue, ticks
/// skipped in a pause; [`NoFaults`], the plain model, unless its [`Spec`] has faults).
#[derive(Debug, Clone)]
pub struct Node<const CAP: usize, L, F = NoFaults> {
    machine: Machine<CAP>,
    peers: L,
    stage: Stage,
    timing: Timing,
    faults: F,
    /// The latest `now` given, to check that a host's time never goes back (debug builds
    /// only: a release build, the firmware's too, carries nothing for it).
    #[cfg(debug_assertions)]
    latest: UnixNanos,
}

/// The host's outbox as a tick sees it: each frame goes through [`send_to`], which skips a
/// lost peer and keeps the ledger (the count of `Msg` frames taken, trouble).
struct Sending<'a, O> {
    out: &'a mut O,
    peers: &'a mut [PeerState],
    now: UnixNanos,
}

impl<O: Outbox> Outbox for Sending<'_, O> {
    fn send(&mut self, to: MachineId, frame: &Frame) -> Sent {
        send_to(self.out, self.peers, self.now, to, frame)
    }
    fn close(&mut self, peer: MachineId) {
        self.out.close(peer);
    }
    fn is_blocked(&self, peer: MachineId) -> bool {
        self.out.is_blocked(peer)
    }
    fn is_flushed(&self) -> bool {
        self.out.is_flushed()
    }
}

/// Sends `frame` to `to` unless it is lost or its link is gone; keeps the count of `Msg`
/// frames taken and notes trouble.
fn send_to<O: Outbox>(
    out: &mut O,
    peers: &mut [PeerState],
    now: UnixNanos,
    to: MachineId,
    frame: &Frame,
) -> Sent {
    let p = &mut peers[usize::from(to)];
    if p.lost.is_some() || p.gone {
        return Sent::Gone;
    }
    let sent = out.send(to, frame);
    match sent {
        Sent::Taken => p.trouble_since = None,
        Sent::Blocked => {
            p.trouble_since.get_or_insert(now);
        }
        Sent::Gone => {
            p.gone = true;
            p.trouble_since.get_or_insert(now);
            return sent;
        }
    }
    if matches!(frame, Frame::Msg(_)) {
        p.sent += 1;
    }
    sent
}

impl<const CAP: usize, L: Ledger, F: Faults> Node<CAP, L, F> {
    /// The machine `spec` describes (its fault plan is checked against the run).
    pub fn new(spec: Spec<F>) -> Result<Self, Error> {
        let machine = Machine::new(&spec)?;
        let Spec {
            params,
            timing,
            faults,
            ..
        } = spec;
        faults.plan().validate(params.machines, params.secs)?;
        let peers =
            L::for_machines(params.machines).ok_or(Error::Machines(params.machines.into()))?;
        let mut node = Self {
            machine,
            peers,
            stage: Stage::Running,
            timing,
            faults,
            #[cfg(debug_assertions)]
            latest: UnixNanos(0),
        };
        node.skip_paused(node.machine.params().start());
        Ok(node)
    }

    /// The faults: the plan and the messages held now.
    pub fn faults(&self) -> &F {
        &self.faults
    }

    /// Skips every tick whose deadline lies in one of this machine's pauses as known at
    /// `now` (a pause still open has reached no later deadline yet), so that the next
    /// deadline is one it will tick at unless a pause reaches it first
    /// ([`crate::faults::Deadlines`]).
    fn skip_paused(&mut self, now: UnixNanos) {
        if !F::ACTIVE {
            return;
        }
        let m = &self.machine;
        let start = m.params().start();
        let deadlines =
            self.faults
                .plan()
                .deadlines_as_of(m.id(), *m.schedule(), start.ns(), now.since(start));
        let k = deadlines.at_or_after(m.next_index());
        self.machine.skip_to(k);
    }

    /// Takes a message that arrived at `now` while running: into the queue, or held until
    /// its delay is over and no partition separates it from this machine (see
    /// [`crate::faults`]). Hands it back if there is no room.
    fn admit(&mut self, now: UnixNanos, msg: Msg) -> Result<(), Msg> {
        let plan = self.faults.plan();
        // Without faults that hold, a message goes straight in, unless messages are still
        // held (a live delay cleared since): it must not pass an earlier one of its sender.
        if !F::ACTIVE || (!plan.holds() && self.faults.held().is_empty()) {
            return self.machine.deliver(msg);
        }
        let (delay, jitter) = (plan.delay_ns, plan.jitter_ns);
        let mut at = now.saturating_add(delay);
        if jitter != 0 {
            at = at.saturating_add(self.faults.jitter(jitter));
        }
        let due = at;
        let before = self
            .faults
            .held()
            .iter()
            .filter(|h| h.msg.sender == msg.sender)
            .map(|h| h.release)
            .max();
        if let Some(b) = before {
            at = at.max(b);
        }
        let start = self.machine.params().start();
        let plan = self.faults.plan();
        at = start.saturating_add(plan.heal(msg.sender, self.machine.id(), at.since(start)));
        if at <= now && before.is_none() {
            return self.machine.deliver(msg);
        }
        self.faults
            .hold(Held {
                release: at,
                due,
                msg,
            })
            .map_err(|h| h.msg)
    }

    /// Puts every held message whose instant has come by `t` into the queue, in order;
    /// hands back one that does not fit.
    fn release(&mut self, t: UnixNanos) -> Result<(), Msg> {
        if !F::ACTIVE {
            return Ok(());
        }
        while self.faults.held().first().is_some_and(|h| h.release <= t) {
            if let Some(h) = self.faults.pop() {
                self.machine.deliver(h.msg)?;
            }
        }
        Ok(())
    }

    /// Notes `now`. It never goes back: a host passes the instants it read in the order it
    /// read them (debug builds check it).
    fn saw(&mut self, now: UnixNanos) {
        #[cfg(debug_assertions)]
        {
            assert!(
                now >= self.latest,
                "time went back: now {now} after {}",
                self.latest
            );
            self.latest = now;
        }
        #[cfg(not(debug_assertions))]
        let _ = now;
    }

    /// `now`, or the run's start instant when `now` is before it: a run stopped before its
    /// start ends at its start instant (no row is stamped before the `start` row).
    fn not_before_start(&self, now: UnixNanos) -> UnixNanos {
        now.max(self.machine.params().start())
    }

    /// The end of the run's time.
    fn end_at(&self) -> UnixNanos {
        self.machine.params().end()
    }

    /// The machine.
    pub fn machine(&self) -> &Machine<CAP> {
        &self.machine
    }
    /// This machine's id.
    pub fn id(&self) -> MachineId {
        self.machine.id()
    }
    /// The parameters line of the log.
    pub fn header(&self) -> Header {
        self.machine.header()
    }
    /// The lines that open its log: the parameters, and its faults if it has any.
    pub fn opening(&self) -> crate::record::Opening<'_> {
        crate::record::Opening {
            header: self.header(),
            faults: self.faults.plan(),
        }
    }
    /// The `start` record, at the run's start.
    pub fn start_record(&self) -> Record {
        self.machine.start_record(self.machine.params().start())
    }
    /// Why the machine stopped ticking, once it has (also after the end).
    pub fn stopped(&self) -> Option<Stop> {
        match self.stage {
            Stage::Running => None,
            Stage::Stopping { stop, .. } | Stage::Ended { stop } => Some(stop),
        }
    }
    /// True once the `end` row is written.
    pub fn has_ended(&self) -> bool {
        matches!(self.stage, Stage::Ended { .. })
    }

    /// How the run ended, once the `end` row is written (the note is made again on each
    /// call from why it stopped and what it knows of its peers: a node keeps no note, to
    /// stay small on a microcontroller).
    pub fn ended(&self) -> Option<End> {
        match self.stage {
            Stage::Ended { stop } => Some(self.verdict(stop)),
            _ => None,
        }
    }
    /// How a peer was lost, if it was.
    pub fn lost(&self, peer: MachineId) -> Option<Lost> {
        self.peers.as_ref()[usize::from(peer)].lost
    }

    /// The instant by which [`Node::handle_timeout`] must be called next, or `None` once
    /// the run has ended.
    pub fn poll_timeout(&self) -> Option<UnixNanos> {
        let stall = self
            .peers
            .as_ref()
            .iter()
            .filter(|p| p.lost.is_none())
            .filter_map(|p| p.trouble_since)
            .min()
            .map(|t| t.saturating_add(self.timing.stall_ns));
        let own = match self.stage {
            Stage::Running => self
                .machine
                .next_deadline()
                .map_or(self.end_at(), |d| d.min(self.end_at())),
            Stage::Stopping {
                at,
                bye_sent: false,
                ..
            } => at,
            Stage::Stopping { at, .. } => at.saturating_add(self.timing.drain_timeout_ns),
            Stage::Ended { .. } => return None,
        };
        Some(stall.map_or(own, |s| s.min(own)))
    }

    /// Does what is due at `now`: the ticks whose deadlines have come, the end of the run,
    /// the `Bye`s of a stopped machine, stalled peers, the end of draining.
    pub fn handle_timeout<G: Log, O: Outbox>(
        &mut self,
        now: UnixNanos,
        log: &mut G,
        out: &mut O,
    ) -> Result<(), G::Error> {
        self.saw(now);
        if self.has_ended() {
            return Ok(());
        }
        self.check_stalls(now, log, out)?;
        if self.stage == Stage::Running {
            self.skip_paused(now);
            let late = self.end_at().saturating_add(self.timing.lag_limit_ns);
            if now >= late && self.machine.next_deadline().is_some() {
                self.stop(now, Stop::FellBehind, None, log)?;
            }
        }
        if self.stage == Stage::Running {
            self.tick_due(now, log, out)?;
            if self.machine.next_deadline().is_none() && now >= self.end_at() {
                self.stop(now, Stop::TimeUp, None, log)?;
            }
        }
        if let Stage::Stopping {
            stop,
            at,
            bye_sent: false,
        } = self.stage
        {
            let me = self.machine.id();
            for p in 0..self.peers.as_ref().len() as MachineId {
                if p != me {
                    let sent = self.peers.as_ref()[usize::from(p)].sent;
                    let bye = Frame::Bye(Bye { sender: me, sent });
                    send_to(out, self.peers.as_mut(), now, p, &bye);
                }
            }
            self.stage = Stage::Stopping {
                stop,
                at,
                bye_sent: true,
            };
        }
        if let Stage::Stopping { stop, at, .. } = self.stage {
            let settled = self.settled() && out.is_flushed();
            let timed_out = now >= at.saturating_add(self.timing.drain_timeout_ns);
            if settled || timed_out {
                self.end(now, stop, settled, log)?;
            }
        }
        Ok(())
    }

    /// Takes what arrived from `peer` at `now`. Returns the peer's loss when this input
    /// made it lost (bytes that are not a frame, a frame that does not belong), so that the
    /// host can say so.
    pub fn handle_input<G: Log, O: Outbox>(
        &mut self,
        now: UnixNanos,
        peer: MachineId,
        input: Input,
        log: &mut G,
        out: &mut O,
    ) -> Result<Option<Refused>, G::Error> {
        self.saw(now);
        if self.has_ended() || peer >= self.machine.params().machines {
            return Ok(None);
        }
        let now = self.not_before_start(now);
        let i = usize::from(peer);
        match input {
            Input::Frame(Frame::Msg(msg)) if msg.sender == peer && peer != self.id() => {
                self.peers.as_mut()[i].received += 1;
                if self.stage != Stage::Running {
                    log.write(&self.machine.unprocessed_record(now, msg))?;
                } else if let Err(msg) = self.admit(now, msg) {
                    let cap = self.machine.params().queue_cap;
                    self.stop(now, Stop::QueueFull(cap), Some(msg), log)?;
                }
            }
            Input::Frame(Frame::Bye(bye)) if bye.sender == peer && peer != self.id() => {
                self.peers.as_mut()[i].bye = Some(bye.sent);
                if self.stage == Stage::Running {
                    if self.machine.next_deadline().is_none() || now >= self.end_at() {
                        // Catch up first; a machine far behind goes on in handle_timeout.
                        self.tick_due(now, log, out)?;
                        if self.machine.next_deadline().is_none() {
                            self.stop(now, Stop::TimeUp, None, log)?;
                        }
                    } else if now.saturating_add(self.timing.end_tolerance_ns) < self.end_at() {
                        self.stop(now, Stop::PeerStopped(peer), None, log)?;
                    }
                }
            }
            Input::Frame(_) | Input::Bad(_) => {
                let why = match input {
                    Input::Bad(e) => Refused::Bad(e),
                    _ => Refused::Unexpected,
                };
                self.lose(now, peer, Lost::Vanished, log, out)?;
                return Ok(Some(why));
            }
            Input::Closed => {
                let p = &mut self.peers.as_mut()[i];
                if p.bye.is_none() && p.lost.is_none() {
                    self.lose(now, peer, Lost::Vanished, log, out)?;
                }
            }
        }
        Ok(None)
    }

    /// Stops the run for a reason from outside (a signal, the supervisor gone). Nothing
    /// happens if the machine has stopped already.
    pub fn interrupt<G: Log>(
        &mut self,
        now: UnixNanos,
        stop: Stop,
        log: &mut G,
    ) -> Result<(), G::Error> {
        self.saw(now);
        if self.stage == Stage::Running {
            self.stop(now, stop, None, log)?;
        }
        Ok(())
    }

    /// Takes a fault set while the run runs ([`crate::live`]) at `now`: does the ticks due
    /// before `now` (a tick due at `now` itself comes after, as in the simulator), writes the
    /// fault's `fault` row, then changes the plan from this instant (a kill stops the
    /// machine at once).
    /// A fault the machine cannot take writes no `fault` row, changes nothing else, and says
    /// why.
    pub fn control<G: Log, O: Outbox>(
        &mut self,
        now: UnixNanos,
        live: &Live,
        log: &mut G,
        out: &mut O,
    ) -> Result<Result<(), Refusal>, G::Error> {
        self.saw(now);
        if !F::ACTIVE {
            // No room for faults (the firmware): none of what follows is compiled for it.
            return Ok(Err(Refusal::NoFaults));
        }
        let start = self.machine.params().start();
        let (me, run_ns) = (
            self.machine.id(),
            self.machine.params().secs * 1_000_000_000,
        );
        if self.stage != Stage::Running {
            return Ok(Err(Refusal::Stopped));
        }
        if now < start {
            return Ok(Err(Refusal::NotStarted));
        }
        if now >= self.end_at() {
            // The run's time is up: the machine stops at this instant (the simulator ends
            // the run here), whether or not its host has told it yet.
            return Ok(Err(Refusal::Stopped));
        }
        // The ticks due before `now` come first: a fault acts from its instant, not before
        // (and before a tick due at `now` itself, as in the simulator).
        self.tick_until(now, UnixNanos(now.ns().saturating_sub(1)), log, out)?;
        if self.stage != Stage::Running {
            return Ok(Err(Refusal::Stopped));
        }
        let at = now.since(start);
        let Some(plan) = self.faults.plan_mut() else {
            return Ok(Err(Refusal::NoFaults));
        };
        if let Some(why) = plan.refuse_live(me, live, run_ns) {
            return Ok(Err(why));
        }
        let mut rec = Record::new(now, me, Kind::Fault, self.machine.clock(), 0);
        rec.queue = self.machine.queued();
        let _ = write!(rec.note, "{live}");
        log.write(&rec)?;
        if *live == Live::Kill {
            self.stop(now, Stop::Killed, None, log)?;
            for p in 0..self.peers.as_ref().len() as MachineId {
                if p != me {
                    out.close(p);
                }
            }
            log.write(
                &self
                    .machine
                    .end_record(now, &self.verdict(Stop::Killed).note),
            )?;
            self.stage = Stage::Ended { stop: Stop::Killed };
            return Ok(Ok(()));
        }
        if let Some(plan) = self.faults.plan_mut() {
            plan.take_live(me, at, live);
        }
        if matches!(live, Live::Partition(..) | Live::Heal) {
            self.faults.retime(me, start);
        }
        self.skip_paused(now);
        Ok(Ok(()))
    }

    /// Writes the `end` row; peers still silent (the drain timed out) are lost.
    #[inline(never)]
    fn end<G: Log>(
        &mut self,
        now: UnixNanos,
        stop: Stop,
        settled: bool,
        log: &mut G,
    ) -> Result<(), G::Error> {
        let now = self.not_before_start(now);
        if !settled {
            let me = self.machine.id();
            for (i, p) in self.peers.as_mut().iter_mut().enumerate() {
                if i != usize::from(me) && p.bye.is_none() && p.lost.is_none() {
                    p.lost = Some(Lost::Vanished);
                }
            }
        }
        let end = self.verdict(stop);
        log.write(&self.machine.end_record(now, &end.note))?;
        self.stage = Stage::Ended { stop };
        Ok(())
    }

    /// True when every peer has said `Bye` or is lost.
    fn settled(&self) -> bool {
        let me = usize::from(self.machine.id());
        self.peers
            .as_ref()
            .iter()
            .enumerate()
            .all(|(i, p)| i == me || p.bye.is_some() || p.lost.is_some())
    }

    /// Does the ticks due by `now`, at most [`MAX_BATCH`]: a machine far behind still
    /// returns to its host often enough to read its connections.
    fn tick_due<G: Log, O: Outbox>(
        &mut self,
        now: UnixNanos,
        log: &mut G,
        out: &mut O,
    ) -> Result<(), G::Error> {
        self.tick_until(now, now, log, out)
    }

    /// [`Node::tick_due`] of the deadlines up to `until` (at most `now`), stamped `now`.
    fn tick_until<G: Log, O: Outbox>(
        &mut self,
        now: UnixNanos,
        until: UnixNanos,
        log: &mut G,
        out: &mut O,
    ) -> Result<(), G::Error> {
        for _ in 0..MAX_BATCH {
            if self.stage != Stage::Running {
                break;
            }
            self.skip_paused(until);
            let d = match self.machine.next_deadline() {
                Some(d) if d <= until => d,
                _ => break,
            };
            if let Err(msg) = self.release(d) {
                let cap = self.machine.params().queue_cap;
                self.stop(now, Stop::QueueFull(cap), Some(msg), log)?;
                break;
            }
            let mut transport = Sending {
                out: &mut *out,
                peers: self.peers.as_mut(),
                now,
            };
            self.machine.tick(now, log, &mut transport)?;
            self.skip_paused(until);
        }
        Ok(())
    }

    /// Peers whose link has been blocked or gone for `stall_ns` are lost.
    fn check_stalls<G: Log, O: Outbox>(
        &mut self,
        now: UnixNanos,
        log: &mut G,
        out: &mut O,
    ) -> Result<(), G::Error> {
        for i in 0..self.peers.as_ref().len() {
            let p = self.peers.as_ref()[i];
            let Some(since) = p.trouble_since else {
                continue;
            };
            if p.lost.is_some() || now < since.saturating_add(self.timing.stall_ns) {
                continue;
            }
            let peer = i as MachineId;
            if p.gone {
                self.lose(now, peer, Lost::Vanished, log, out)?;
            } else if out.is_blocked(peer) {
                self.lose(now, peer, Lost::Stalled, log, out)?;
            } else {
                self.peers.as_mut()[i].trouble_since = None;
            }
        }
        Ok(())
    }

    fn lose<G: Log, O: Outbox>(
        &mut self,
        now: UnixNanos,
        peer: MachineId,
        how: Lost,
        log: &mut G,
        out: &mut O,
    ) -> Result<(), G::Error> {
        self.peers.as_mut()[usize::from(peer)].lost = Some(how);
        out.close(peer);
        let stop = match how {
            Lost::Vanished => Stop::PeerLost(peer),
            Lost::Stalled => Stop::PeerStalled(peer),
        };
        if self.stage == Stage::Running {
            self.stop(now, stop, None, log)?;
        }
        Ok(())
    }

    /// Stops ticking: logs the queue (and a message that did not fit) as `unprocessed`.
    /// The `Bye`s leave on the next [`Node::handle_timeout`].
    #[inline(never)]
    fn stop<G: Log>(
        &mut self,
        now: UnixNanos,
        stop: Stop,
        overflow: Option<Msg>,
        log: &mut G,
    ) -> Result<(), G::Error> {
        let now = self.not_before_start(now);
        self.stage = Stage::Stopping {
            stop,
            at: now,
            bye_sent: false,
        };
        while let Some(rec) = self.machine.pop_unprocessed(now) {
            log.write(&rec)?;
        }
        if let Some(msg) = overflow {
            log.write(&self.machine.unprocessed_record(now, msg))?;
        }
        while let Some(h) = self.faults.pop() {
            log.write(&self.machine.unprocessed_record(now, h.msg))?;
        }
        Ok(())
    }

    /// The `end` row's note and the status, from why the machine stopped and what
    /// draining found.
    #[inline(never)]
    fn verdict(&self, stop: Stop) -> End {
        let me = usize::from(self.machine.id());
        let mut note = Note::new();
        // Whole parts only: a note without room (no `alloc`) leaves a part out rather than
        // cut a list of peers, which would name fewer than were lost.
        let mut part = |args: core::fmt::Arguments<'_>| {
            let sep = if note.is_empty() { "" } else { "; " };
            let mut len = Count(sep.len());
            let _ = len.write_fmt(args);
            len.0 <= note.room() && write!(note, "{sep}{args}").is_ok()
        };
        let mut mismatch = false;
        let peers = self.peers.as_ref();
        let any_lost = peers
            .iter()
            .enumerate()
            .any(|(i, p)| i != me && p.lost.is_some());
        let mut listed = [false; 2];
        for (k, (kind, word)) in [(Lost::Vanished, "lost"), (Lost::Stalled, "stalled")]
            .into_iter()
            .enumerate()
        {
            let is = |i: usize| i != me && peers[i].lost == Some(kind);
            if (0..peers.len()).any(is) {
                listed[k] = part(format_args!(
                    "{}",
                    PeerList {
                        n: peers.len(),
                        me,
                        is,
                        word
                    }
                ));
            }
        }
        let named = match stop {
            Stop::PeerLost(p) => listed[0] && self.lost(p) == Some(Lost::Vanished),
            Stop::PeerStalled(p) => listed[1] && self.lost(p) == Some(Lost::Stalled),
            Stop::PeerStopped(_) => any_lost && listed.iter().any(|&l| l),
            _ => false,
        };
        if stop == Stop::FellBehind {
            let m = &self.machine;
            part(format_args!(
                "could not keep up at rate {} × speedup {} ({} ticks left)",
                m.rate(),
                Milli(m.params().speedup_milli),
                m.schedule().total() - m.ticks() - m.skipped()
            ));
        } else if !named {
            part(format_args!("{stop}"));
        }
        for (i, p) in self.peers.as_ref().iter().enumerate() {
            if let Some(said) = p.bye.filter(|&s| s != p.received) {
                mismatch = true;
                part(format_args!(
                    "bye count mismatch: peer {i} sent {said} received {}",
                    p.received
                ));
            }
        }
        let status = if mismatch
            || matches!(
                stop,
                Stop::QueueFull(_) | Stop::SupervisorLost | Stop::FellBehind
            ) {
            Status::Failed
        } else if stop == Stop::Interrupted {
            Status::Interrupted
        } else if stop == Stop::Terminated {
            Status::Terminated
        } else if stop == Stop::HungUp {
            Status::HungUp
        } else if stop == Stop::Killed {
            Status::Killed
        } else if any_lost || stop != Stop::TimeUp {
            Status::PeerTrouble
        } else {
            Status::Clean
        };
        End { note, status }
    }
}

/// Why an input made its peer lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Bytes that are not a frame.
    Bad(Error),
    /// A frame that does not belong: `Hello` during the run, or a sender id that is not
    /// the peer's.
    Unexpected,
}

impl core::fmt::Display for Refused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Bad(e) => write!(f, "{e}"),
            Self::Unexpected => f.write_str("unexpected frame"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::end_note::named_lost;
    use crate::params::RunParams;
    use std::{string::String, vec::Vec};

    const SEC: u64 = 1_000_000_000;
    const T0: u64 = 1_000 * SEC;

    type N = Node<16, FixedLedger<4>>;

    /// An outbox that records every frame and answers what it is told to.
    #[derive(Default)]
    struct Out {
        frames: Vec<(MachineId, Frame)>,
        answer: Option<Sent>,
        blocked: bool,
        closed: Vec<MachineId>,
    }

    impl Outbox for Out {
        fn send(&mut self, to: MachineId, frame: &Frame) -> Sent {
            self.frames.push((to, *frame));
            self.answer.unwrap_or(Sent::Taken)
        }
        fn close(&mut self, peer: MachineId) {
            self.closed.push(peer);
        }
        fn is_blocked(&self, _: MachineId) -> bool {
            self.blocked
        }
    }

    fn node(secs: u64, timing: Timing) -> N {
        let params = RunParams {
            secs,
            queue_cap: 16,
            ..RunParams::new(5, T0)
        };
        Node::new(Spec::new(params, 0).pinned(Some(2)).timing(timing)).unwrap()
    }

    fn rows(log: &[Record]) -> Vec<(Kind, u64)> {
        log.iter().map(|r| (r.kind, r.unix_ns)).collect()
    }

    fn bye(sender: MachineId, sent: u64) -> Input {
        Input::Frame(Frame::Bye(Bye { sender, sent }))
    }

    fn msg(sender: MachineId, clock: u64) -> Input {
        Input::Frame(Frame::Msg(Msg { sender, clock }))
    }

    fn end_note(n: &N) -> String {
        n.ended()
            .map(|e| String::from(e.note.as_str()))
            .unwrap_or_default()
    }

    /// Drives `n` by its own timeouts up to `until`, answering nothing.
    fn run_until(n: &mut N, until: u64, log: &mut Vec<Record>, out: &mut Out) {
        while let Some(t) = n.poll_timeout() {
            if t > UnixNanos(until) {
                break;
            }
            n.handle_timeout(t, &mut |r: &Record| log.push(r.clone()), out)
                .unwrap();
        }
    }

    #[test]
    fn time_up_then_bye_to_every_peer_then_end_when_every_bye_is_in() {
        let mut n = node(3, Timing::HOST);
        let (mut log, mut out) = (Vec::new(), Out::default());
        run_until(&mut n, T0 + 3 * SEC, &mut log, &mut out);
        assert_eq!(n.machine().ticks(), 6, "every deadline ticked");
        assert_eq!(n.stopped(), Some(Stop::TimeUp));
        let byes: Vec<MachineId> = out
            .frames
            .iter()
            .filter(|(_, f)| matches!(f, Frame::Bye(_)))
            .map(|(to, _)| *to)
            .collect();
        assert_eq!(byes, [1, 2]);
        assert!(n.ended().is_none(), "waits for the peers' Bye");
        let mut l = |r: &Record| log.push(r.clone());
        n.handle_input(UnixNanos(T0 + 3 * SEC), 1, bye(1, 0), &mut l, &mut out)
            .unwrap();
        n.handle_input(UnixNanos(T0 + 3 * SEC), 2, bye(2, 0), &mut l, &mut out)
            .unwrap();
        n.handle_timeout(UnixNanos(T0 + 3 * SEC), &mut l, &mut out)
            .unwrap();
        assert_eq!(end_note(&n), "time up");
        assert_eq!(n.ended().unwrap().status, Status::Clean);
        assert_eq!(log.last().unwrap().kind, Kind::End);
        assert_eq!(n.poll_timeout(), None);
    }

    #[test]
    fn a_bye_before_the_end_stops_early_and_one_within_the_tolerance_does_not() {
        for (tolerance, expect) in [(0, Some(Stop::PeerStopped(2))), (SEC, None)] {
            let mut n = node(
                3,
                Timing {
                    end_tolerance_ns: tolerance,
                    ..Timing::HOST
                },
            );
            let (mut log, mut out) = (Vec::new(), Out::default());
            let mut l = |r: &Record| log.push(r.clone());
            n.handle_input(
                UnixNanos(T0 + 2_500_000_000),
                2,
                bye(2, 0),
                &mut l,
                &mut out,
            )
            .unwrap();
            assert_eq!(n.stopped(), expect);
        }
    }

    #[test]
    fn a_late_machine_catches_up_on_every_tick_before_a_bye_at_the_end_stops_it() {
        let mut n = node(3, Timing::HOST);
        let (mut log, mut out) = (Vec::new(), Out::default());
        let mut l = |r: &Record| log.push(r.clone());
        // No timeout was handled at all: the Bye arrives after the end.
        n.handle_input(UnixNanos(T0 + 3 * SEC + 1), 1, bye(1, 0), &mut l, &mut out)
            .unwrap();
        assert_eq!(n.machine().ticks(), 6);
        assert_eq!(n.stopped(), Some(Stop::TimeUp));
    }

    #[test]
    fn queued_and_late_messages_are_unprocessed_and_counts_are_checked() {
        let mut n = node(3, Timing::HOST);
        let (mut log, mut out) = (Vec::new(), Out::default());
        let mut l = |r: &Record| log.push(r.clone());
        n.handle_input(UnixNanos(T0 + 10), 1, msg(1, 4), &mut l, &mut out)
            .unwrap();
        n.interrupt(UnixNanos(T0 + 20), Stop::Interrupted, &mut l)
            .unwrap();
        n.handle_input(UnixNanos(T0 + 30), 2, msg(2, 9), &mut l, &mut out)
            .unwrap();
        n.handle_input(UnixNanos(T0 + 40), 1, bye(1, 1), &mut l, &mut out)
            .unwrap();
        n.handle_input(UnixNanos(T0 + 40), 2, bye(2, 2), &mut l, &mut out)
            .unwrap();
        n.handle_timeout(UnixNanos(T0 + 50), &mut l, &mut out)
            .unwrap();
        assert_eq!(
            rows(&log),
            [
                (Kind::Unprocessed, T0 + 20),
                (Kind::Unprocessed, T0 + 30),
                (Kind::End, T0 + 50)
            ]
        );
        assert_eq!(
            end_note(&n),
            "interrupted; bye count mismatch: peer 2 sent 2 received 1"
        );
        assert_eq!(n.ended().unwrap().status, Status::Failed);
    }

    #[test]
    fn a_stream_closed_without_bye_is_a_lost_peer_after_bye_it_is_not() {
        let mut n = node(3, Timing::HOST);
        let (mut log, mut out) = (Vec::new(), Out::default());
        let mut l = |r: &Record| log.push(r.clone());
        n.handle_input(UnixNanos(T0 + 10), 1, bye(1, 0), &mut l, &mut out)
            .unwrap();
        n.handle_input(UnixNanos(T0 + 10), 1, Input::Closed, &mut l, &mut out)
            .unwrap();
        n.handle_input(UnixNanos(T0 + 20), 2, Input::Closed, &mut l, &mut out)
            .unwrap();
        n.handle_timeout(UnixNanos(T0 + 20), &mut l, &mut out)
            .unwrap();
        assert_eq!(end_note(&n), "peer 2 lost");
        assert_eq!(n.ended().unwrap().status, Status::PeerTrouble);
        assert_eq!(out.closed, [2]);
    }

    #[test]
    fn garbage_is_refused_and_the_sender_lost() {
        let mut n = node(3, Timing::HOST);
        let (mut log, mut out) = (Vec::new(), Out::default());
        let mut l = |r: &Record| log.push(r.clone());
        let r = n
            .handle_input(
                UnixNanos(T0),
                1,
                Input::Bad(Error::Garbage),
                &mut l,
                &mut out,
            )
            .unwrap();
        assert_eq!(r, Some(Refused::Bad(Error::Garbage)));
        let hello = Input::Frame(Frame::Msg(Msg {
            sender: 2,
            clock: 1,
        }));
        let r = n
            .handle_input(UnixNanos(T0), 1, hello, &mut l, &mut out)
            .unwrap();
        assert_eq!(
            r,
            Some(Refused::Unexpected),
            "a Msg claiming another sender"
        );
        assert_eq!(n.lost(1), Some(Lost::Vanished));
        assert_eq!(n.stopped(), Some(Stop::PeerLost(1)));
    }

    #[test]
    fn silent_peers_are_lost_at_the_drain_timeout() {
        let mut n = node(3, Timing::HOST);
        let (mut log, mut out) = (Vec::new(), Out::default());
        let mut l = |r: &Record| log.push(r.clone());
        n.interrupt(UnixNanos(T0), Stop::Terminated, &mut l)
            .unwrap();
        n.handle_input(UnixNanos(T0), 1, bye(1, 0), &mut l, &mut out)
            .unwrap();
        assert_eq!(n.poll_timeout(), Some(UnixNanos(T0)), "Byes are due");
        n.handle_timeout(UnixNanos(T0), &mut l, &mut out).unwrap();
        assert_eq!(
            n.poll_timeout(),
            Some(UnixNanos(T0 + Timing::HOST.drain_timeout_ns))
        );
        n.handle_timeout(
            UnixNanos(T0 + Timing::HOST.drain_timeout_ns - 1),
            &mut l,
            &mut out,
        )
        .unwrap();
        assert!(n.ended().is_none());
        n.handle_timeout(
            UnixNanos(T0 + Timing::HOST.drain_timeout_ns),
            &mut l,
            &mut out,
        )
        .unwrap();
        assert_eq!(end_note(&n), "peer 2 lost; terminated");
        assert_eq!(n.ended().unwrap().status, Status::Terminated);
    }

    /// A signal, a message and a lost peer before the start instant (the hosts wait for
    /// it): every row is stamped at the start or after, never before the `start` row.
    #[test]
    fn a_run_stopped_before_its_start_ends_at_its_start_instant() {
        let early = T0 - SEC;
        let mut n = node(3, Timing::HOST);
        let (mut log, mut out) = (Vec::new(), Out::default());
        let mut l = |r: &Record| log.push(r.clone());
        n.handle_input(UnixNanos(early), 1, msg(1, 1), &mut l, &mut out)
            .unwrap();
        n.handle_timeout(UnixNanos(early), &mut l, &mut out)
            .unwrap();
        assert_eq!(n.machine().ticks(), 0, "no tick before the start");
        n.interrupt(UnixNanos(early), Stop::HungUp, &mut l).unwrap();
        n.handle_input(UnixNanos(early + 1), 2, msg(2, 1), &mut l, &mut out)
            .unwrap();
        n.handle_input(UnixNanos(early + 2), 1, Input::Closed, &mut l, &mut out)
            .unwrap();
        n.handle_timeout(UnixNanos(early + 3), &mut l, &mut out)
            .unwrap();
        n.handle_timeout(
            UnixNanos(T0 + Timing::HOST.drain_timeout_ns),
            &mut l,
            &mut out,
        )
        .unwrap();
        assert_eq!(end_note(&n), "every peer lost; hung up");
        assert_eq!(n.ended().unwrap().status, Status::HungUp);
        let stamps = rows(&log);
        assert_eq!(
            stamps.iter().map(|r| r.0).collect::<Vec<_>>(),
            [Kind::Unprocessed, Kind::Unprocessed, Kind::End]
        );
        assert!(stamps.iter().all(|&(_, t)| t >= T0), "{stamps:?}");
    }

    #[test]
    fn a_peer_blocked_past_the_stall_bound_is_stalled_one_that_drains_is_not() {
        for still_blocked in [true, false] {
            let mut n = node(60, Timing::HOST);
            let (mut log, mut out) = (Vec::new(), Out::default());
            out.answer = Some(Sent::Blocked);
            out.blocked = true;
            // Tick until a send was blocked.
            while !out.frames.iter().any(|(_, f)| matches!(f, Frame::Msg(_))) {
                let t = n.poll_timeout().unwrap();
                n.handle_timeout(t, &mut |r: &Record| log.push(r.clone()), &mut out)
                    .unwrap();
            }
            let first = log.last().unwrap().unix_ns;
            out.answer = Some(Sent::Taken);
            out.blocked = still_blocked;
            let mut l = |r: &Record| log.push(r.clone());
            let bound = first + Timing::HOST.stall_ns;
            assert!(
                n.poll_timeout().unwrap() <= UnixNanos(bound),
                "wakes for the stall check"
            );
            n.handle_timeout(UnixNanos(bound), &mut l, &mut out)
                .unwrap();
            let stalled = n
                .stopped()
                .is_some_and(|s| matches!(s, Stop::PeerStalled(_)));
            assert_eq!(stalled, still_blocked);
        }
    }

    #[test]
    fn a_gone_link_is_not_written_again_and_is_lost_unless_its_stream_says_bye() {
        let mut n = node(60, Timing::HOST);
        let (mut log, mut out) = (Vec::new(), Out::default());
        out.answer = Some(Sent::Gone);
        while !out.frames.iter().any(|(_, f)| matches!(f, Frame::Msg(_))) {
            let t = n.poll_timeout().unwrap();
            n.handle_timeout(t, &mut |r: &Record| log.push(r.clone()), &mut out)
                .unwrap();
        }
        let gone: Vec<MachineId> = out.frames.iter().map(|(to, _)| *to).collect();
        out.frames.clear();
        out.answer = Some(Sent::Taken);
        let t = log.last().unwrap().unix_ns + Timing::HOST.stall_ns;
        run_until(&mut n, t, &mut log, &mut out);
        assert!(
            out.frames.iter().all(|(to, _)| !gone.contains(to)),
            "nothing more to a gone link"
        );
        assert_eq!(n.stopped(), Some(Stop::PeerLost(gone[0])));
    }

    #[test]
    fn a_machine_far_behind_ticks_in_batches_and_stops_when_it_cannot_keep_up() {
        let params = RunParams {
            secs: 10,
            queue_cap: 16,
            roll_max: 1_000_000,
            speedup_milli: 1_000_000,
            ..RunParams::new(5, T0)
        };
        let mut n: N = Node::new(Spec::new(params, 0).pinned(Some(6))).unwrap();
        let (mut log, mut out) = (Vec::new(), Out::default());
        let mut l = |r: &Record| log.push(r.clone());
        // 60,000 ticks are due by the end; one call does one batch.
        n.handle_timeout(UnixNanos(T0 + 10 * SEC), &mut l, &mut out)
            .unwrap();
        assert_eq!(n.machine().ticks(), MAX_BATCH as u64);
        assert!(
            n.poll_timeout().unwrap() <= UnixNanos(T0 + 10 * SEC),
            "the rest is due at once"
        );
        // A peer's Bye at the end: it catches up (one more batch) but does not stop yet.
        n.handle_input(UnixNanos(T0 + 10 * SEC), 1, bye(1, 0), &mut l, &mut out)
            .unwrap();
        assert_eq!(n.machine().ticks(), 2 * MAX_BATCH as u64);
        assert_eq!(n.stopped(), None);
        let late = T0 + 10 * SEC + Timing::HOST.lag_limit_ns;
        n.handle_timeout(UnixNanos(late), &mut l, &mut out).unwrap();
        let left = 60_000 - 2 * MAX_BATCH as u64;
        assert_eq!(n.stopped(), Some(Stop::FellBehind));
        n.handle_input(UnixNanos(late), 2, bye(2, 0), &mut l, &mut out)
            .unwrap();
        n.handle_timeout(UnixNanos(late), &mut l, &mut out).unwrap();
        assert_eq!(
            end_note(&n),
            std::format!("could not keep up at rate 6 × speedup 1000 ({left} ticks left)")
        );
        assert_eq!(n.ended().unwrap().status, Status::Failed);
    }

    /// A run of `machines` in which every odd machine is lost (its stream closes without
    /// `Bye`) and every even one says `Bye`: machine 0's `end` row, written and parsed back.
    #[cfg(feature = "alloc")]
    fn end_row_with_odd_peers_lost(machines: u16) -> Record {
        let params = RunParams {
            machines,
            secs: 3,
            queue_cap: 16,
            ..RunParams::new(5, T0)
        };
        let mut n: Node<16, Vec<PeerState>> =
            Node::new(Spec::new(params, 0).pinned(Some(2))).unwrap();
        let (mut log, mut out) = (Vec::new(), Out::default());
        let mut l = |r: &Record| log.push(r.clone());
        for p in (1..machines).filter(|p| p % 2 == 1) {
            n.handle_input(UnixNanos(T0), p, Input::Closed, &mut l, &mut out)
                .unwrap();
        }
        for p in (2..machines).filter(|p| p % 2 == 0) {
            n.handle_input(UnixNanos(T0), p, bye(p, 0), &mut l, &mut out)
                .unwrap();
        }
        n.handle_timeout(UnixNanos(T0), &mut l, &mut out).unwrap();
        assert!(n.ended().is_some());
        let end = log.last().unwrap();
        assert_eq!(end.kind, Kind::End);
        let line = std::string::ToString::to_string(end);
        assert!(!end.note.contains(','), "a note is one CSV field");
        let back = Record::parse(&line, machines).unwrap();
        assert_eq!(&back, end);
        back
    }

    /// Half of 64 machines lost, and half of the most a run may have: the `end` note names
    /// every one, however long it is (it was cut at 96 bytes, and the checker then found
    /// the lost machines' missing `end` rows unexplained).
    #[cfg(feature = "alloc")]
    #[test]
    fn half_of_the_largest_runs_lost_round_trips_in_the_end_note() {
        for machines in [64, crate::params::MAX_MACHINES] {
            let end = end_row_with_odd_peers_lost(machines);
            let mut named = Vec::new();
            named_lost(&end.note, machines, 0, |i, how| {
                assert_eq!(how, Lost::Vanished);
                named.push(i);
            });
            let odd: Vec<MachineId> = (1..machines).filter(|p| p % 2 == 1).collect();
            assert_eq!(named, odd, "{machines} machines: {}", end.note.as_str());
            assert!(end.note.len() > crate::record::NOTE_CAP);
        }
    }

    /// Without `alloc` a note has a fixed size: a list of peers that does not fit is left
    /// out whole, never cut (a cut list would name fewer peers than were lost).
    #[cfg(not(feature = "alloc"))]
    #[test]
    fn a_list_that_does_not_fit_is_left_out_whole() {
        let params = RunParams {
            machines: 64,
            secs: 3,
            queue_cap: 16,
            ..RunParams::new(5, T0)
        };
        let mut n: Node<16, FixedLedger<64>> =
            Node::new(Spec::new(params, 0).pinned(Some(2))).unwrap();
        let (mut log, mut out) = (Vec::new(), Out::default());
        let mut l = |r: &Record| log.push(r.clone());
        for p in (1..64).filter(|p| p % 2 == 1) {
            n.handle_input(UnixNanos(T0), p, Input::Closed, &mut l, &mut out)
                .unwrap();
        }
        for p in (2..64).filter(|p| p % 2 == 0) {
            n.handle_input(UnixNanos(T0), p, bye(p, 0), &mut l, &mut out)
                .unwrap();
        }
        n.handle_timeout(UnixNanos(T0), &mut l, &mut out).unwrap();
        let note = n.ended().unwrap().note;
        // The first lost peer stopped the machine; the list of all 32 does not fit.
        assert_eq!(note.as_str(), "peer 1 lost");
    }

    #[test]
    fn seven_lost_peers_of_sixteen_fit_the_note() {
        let params = RunParams {
            machines: 16,
            secs: 3,
            queue_cap: 16,
            ..RunParams::new(5, T0)
        };
        let mut n: Node<16, FixedLedger<16>> =
            Node::new(Spec::new(params, 0).pinned(Some(2))).unwrap();
        let (mut log, mut out) = (Vec::new(), Out::default());
        let mut l = |r: &Record| log.push(r.clone());
        for p in [3, 5, 7, 9, 11, 13, 15] {
            n.handle_input(UnixNanos(T0), p, Input::Closed, &mut l, &mut out)
                .unwrap();
        }
        for p in (1..16).filter(|p| p % 2 == 0 || *p == 1) {
            n.handle_input(UnixNanos(T0), p, bye(p, 0), &mut l, &mut out)
                .unwrap();
        }
        n.handle_timeout(UnixNanos(T0), &mut l, &mut out).unwrap();
        let note = n.ended().unwrap().note;
        assert_eq!(note.as_str(), "peers 3+5+7+9+11+13+15 lost");
        let mut named = Vec::new();
        named_lost(&note, 16, 0, |i, _| named.push(i));
        assert_eq!(named, [3, 5, 7, 9, 11, 13, 15]);
    }
}
