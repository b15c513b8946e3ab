//! A deterministic simulator: N machines in virtual time over an in-memory network.
//!
//! The simulator drives the same [`Node`] as the hosts, so a simulated run starts, ticks
//! and ends by the one definition in [`crate::node`]. Virtual time jumps to the earliest
//! pending event: a tick deadline or a message arrival. Ticks happen exactly at their
//! deadlines; machines due at one instant tick in id order.
//!
//! The network is the hosts' network: a message sent at `t` arrives [`TRANSIT_NS`] (one
//! nanosecond) later, plus the latency `L` the caller asks for (`lab sim --latency-ms`,
//! default 0). So it is never taken at a tick at `t` itself, as on real sockets, where it
//! arrives microseconds after it was sent and a machine ticking at `t` has ticked; and a
//! delay a receiver holds it for (`--delay-ms`) counts from its arrival, as on the hosts.
//! Messages sent at one instant by different machines arrive in the order they were sent,
//! which is the senders' id order. On the hosts that order is a real-time race (which
//! sender's process ran first, which connection the receiver read first) that no rule
//! predicts (in the committed real runs the first such race of a run mostly went to the
//! higher id, the later ones either way: `tests/tests/model/twin.rs` names each).
//!
//! The network of a stopped machine drains at once: from the instant a machine stops, each
//! frame to it (and each still in flight to it) arrives at that instant, and `Bye` frames
//! arrive when sent. So a run ends at one instant: at the end of the run's time (`time up`),
//! or when a queue overflows, which stops that machine (`queue full (cap C)`); its `Bye`
//! stops every other machine (`peer X stopped early`). Each message still queued or in
//! flight is logged as `unprocessed` at its receiver: no message is lost.
//!
//! It allocates nothing: the caller provides the machines' storage as a slice of [`SimNode`]s
//! (a `Vec` on a host, an array on a microcontroller). Same parameters and seed, same
//! records, byte for byte.

use crate::{
    Error, MachineId, UnixNanos,
    faults::{Faults, NoFaults},
    live::Live,
    node::{Input, Ledger, Node, Stop},
    record::Record,
    spec::Spec,
    transport::{Discard, Outbox, Sent},
    wire::{Frame, Msg},
};
use core::cell::RefCell;
use heapless::Deque;

/// How long a message takes from its sender to its receiver's socket in the simulator
/// (before any latency asked for): one nanosecond, so that it arrives after every tick at
/// the instant it was sent.
pub const TRANSIT_NS: u64 = 1;

/// The storage of one simulated machine: its [`Node`] (queue of `CAP` messages, peer
/// ledger `L`) and up to `FLIGHT` messages in flight to it: at least one from each peer
/// (N - 1; a run with latency 0 needs no more), more with a latency.
#[derive(Debug, Clone)]
pub struct SimNode<const CAP: usize, const FLIGHT: usize, L, F = NoFaults> {
    node: Node<CAP, L, F>,
    inflight: Deque<(UnixNanos, Msg), FLIGHT>,
    overflow: Option<Msg>,
    next: Option<UnixNanos>,
}

impl<const CAP: usize, const FLIGHT: usize, L: Ledger, F: Faults> SimNode<CAP, FLIGHT, L, F> {
    /// The machine `spec` describes (see [`Node::new`]).
    pub fn new(spec: Spec<F>) -> Result<Self, Error> {
        let node = Node::new(spec)?;
        let next = node.machine().next_deadline();
        Ok(Self {
            node,
            inflight: Deque::new(),
            overflow: None,
            next,
        })
    }

    /// The machine.
    pub fn machine(&self) -> &crate::Machine<CAP> {
        self.node.machine()
    }
    /// The node.
    pub fn node(&self) -> &Node<CAP, L, F> {
        &self.node
    }

    fn running(&self) -> bool {
        self.node.stopped().is_none()
    }
}

/// How a simulated run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every machine did every tick of the run.
    TimeUp,
    /// The queue of `machine` overflowed at `at`, which stopped the run.
    QueueFull {
        /// Whose queue was full.
        machine: MachineId,
        /// When.
        at: UnixNanos,
    },
    /// `machine` was killed at `at` ([`Live::Kill`]), which stopped the run.
    Killed {
        /// Who.
        machine: MachineId,
        /// When.
        at: UnixNanos,
    },
}

/// A fault set while the run runs ([`crate::live`]): at `at`, machine `machine` takes
/// `live`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAt {
    /// When.
    pub at: UnixNanos,
    /// Which machine takes it.
    pub machine: MachineId,
    /// What.
    pub live: Live,
}

/// The simulator over caller-provided storage.
#[derive(Debug)]
pub struct Sim<'a, const CAP: usize, const FLIGHT: usize, L, F = NoFaults> {
    slots: &'a mut [SimNode<CAP, FLIGHT, L, F>],
    latency_ns: u64,
}

/// The network seen by machine `me` while it acts: the other slots, split around it.
struct Net<'s, 'e, const CAP: usize, const FLIGHT: usize, L, F, E> {
    before: &'s mut [SimNode<CAP, FLIGHT, L, F>],
    after: &'s mut [SimNode<CAP, FLIGHT, L, F>],
    me: usize,
    now: UnixNanos,
    latency_ns: u64,
    emit: &'e RefCell<E>,
    /// A receiver whose in-flight store was full.
    full: Option<MachineId>,
}

impl<const CAP: usize, const FLIGHT: usize, L: Ledger, F: Faults, E: FnMut(MachineId, &Record)>
    Outbox for Net<'_, '_, CAP, FLIGHT, L, F, E>
{
    fn send(&mut self, to: MachineId, frame: &Frame) -> Sent {
        let i = usize::from(to);
        let slot = if i < self.me {
            &mut self.before[i]
        } else {
            &mut self.after[i - self.me - 1]
        };
        let from = self.me as MachineId;
        match *frame {
            Frame::Msg(msg) if slot.running() => {
                let at = self
                    .now
                    .saturating_add(TRANSIT_NS)
                    .saturating_add(self.latency_ns);
                if slot.inflight.push_back((at, msg)).is_err() {
                    // Held at the receiver and logged as `unprocessed` at the end.
                    slot.overflow = Some(msg);
                    self.full.get_or_insert(to);
                }
            }
            _ => {
                // A `Bye`, or anything to a stopped machine, arrives now; what is in flight
                // to a machine that has stopped arrives with it, in order.
                arrive(slot, self.now, from, *frame, self.emit);
                if !slot.running() {
                    drain(slot, self.now, self.emit);
                }
            }
        }
        Sent::Taken
    }
    fn close(&mut self, _: MachineId) {}
}

/// `frame` from `from` arrives at `slot` at `now`.
fn arrive<
    const CAP: usize,
    const FLIGHT: usize,
    L: Ledger,
    F: Faults,
    E: FnMut(MachineId, &Record),
>(
    slot: &mut SimNode<CAP, FLIGHT, L, F>,
    now: UnixNanos,
    from: MachineId,
    frame: Frame,
    emit: &RefCell<E>,
) {
    let id = slot.node.id();
    let mut log = |rec: &Record| (emit.borrow_mut())(id, rec);
    let input = Input::Frame(frame);
    match slot
        .node
        .handle_input(now, from, input, &mut log, &mut Discard)
    {
        Ok(_) => {}
        Err(e) => match e {},
    }
}

/// Everything in flight to a stopped `slot` arrives at `now`, then a message held back.
fn drain<
    const CAP: usize,
    const FLIGHT: usize,
    L: Ledger,
    F: Faults,
    E: FnMut(MachineId, &Record),
>(
    slot: &mut SimNode<CAP, FLIGHT, L, F>,
    now: UnixNanos,
    emit: &RefCell<E>,
) {
    while let Some((_, msg)) = slot.inflight.pop_front() {
        arrive(slot, now, msg.sender, Frame::Msg(msg), emit);
    }
    if let Some(msg) = slot.overflow.take() {
        arrive(slot, now, msg.sender, Frame::Msg(msg), emit);
    }
}

impl<'a, const CAP: usize, const FLIGHT: usize, L: Ledger, F: Faults> Sim<'a, CAP, FLIGHT, L, F> {
    /// A simulator over `slots`, which must hold machines `0..N` of one run in order,
    /// each with room for a message from every peer in flight (`FLIGHT >= N - 1`).
    /// `latency_ns` delays every message beyond its [`TRANSIT_NS`].
    pub fn new(
        slots: &'a mut [SimNode<CAP, FLIGHT, L, F>],
        latency_ns: u64,
    ) -> Result<Self, Error> {
        let params = *slots.first().ok_or(Error::SimSlots)?.machine().params();
        if slots.len() != usize::from(params.machines)
            || FLIGHT < usize::from(params.machines) - 1
            || slots
                .iter()
                .enumerate()
                .any(|(i, s)| usize::from(s.node.id()) != i || *s.machine().params() != params)
        {
            return Err(Error::SimSlots);
        }
        Ok(Self { slots, latency_ns })
    }

    /// The machines.
    pub fn slots(&self) -> &[SimNode<CAP, FLIGHT, L, F>] {
        self.slots
    }

    /// Runs the whole run, handing every record to `emit` with its machine's id, and says
    /// how it ended. Records of one machine come in log order.
    pub fn run(&mut self, emit: impl FnMut(MachineId, &Record)) -> Outcome {
        self.run_live(&[], emit)
    }

    /// [`Sim::run`] with faults set while it runs: each [`LiveAt`] (sorted by time) is
    /// taken by its machine at its instant, before anything else that happens then. A
    /// fault a machine refuses (see [`crate::live::Refusal`]) changes nothing, as on a
    /// host. A machine killed stops the run: its peers see its connections close.
    pub fn run_live(&mut self, live: &[LiveAt], emit: impl FnMut(MachineId, &Record)) -> Outcome {
        let emit = RefCell::new(emit);
        let end = self.slots[0].machine().params().end();
        for s in self.slots.iter() {
            (emit.borrow_mut())(s.node.id(), &s.node.start_record());
        }
        let mut live = live.iter().peekable();
        let mut killed = None;
        let stop_at = loop {
            let next_live = live.peek().map(|l| l.at);
            let next_tick = self.slots.iter().filter_map(|s| s.next).min();
            let next_arrival = self
                .slots
                .iter()
                .filter_map(|s| s.inflight.front().map(|f| f.0))
                .min();
            let Some(t) = [next_live, next_tick, next_arrival]
                .into_iter()
                .flatten()
                .min()
            else {
                break end;
            };
            if t >= end {
                break end;
            }
            if next_live == Some(t) {
                let l = live.next().unwrap_or_else(|| unreachable!());
                if self.control(l, &emit) {
                    killed = Some(l.machine);
                    break t;
                }
                continue;
            }
            if self.deliver_until(t, &emit) || self.tick_at(t, &emit) {
                break t;
            }
        };
        self.finish(stop_at, end, &emit);
        if let Some(machine) = killed {
            return Outcome::Killed {
                machine,
                at: stop_at,
            };
        }
        self.slots
            .iter()
            .find(|s| matches!(s.node.stopped(), Some(Stop::QueueFull(_))))
            .map_or(Outcome::TimeUp, |s| Outcome::QueueFull {
                machine: s.node.id(),
                at: stop_at,
            })
    }

    /// Machine `l.machine` takes `l.live`; true when it was killed (every peer still
    /// running then sees its connection close, at once).
    fn control<E: FnMut(MachineId, &Record)>(&mut self, l: &LiveAt, emit: &RefCell<E>) -> bool {
        let i = usize::from(l.machine);
        let Some(s) = self.slots.get_mut(i).filter(|_| F::ACTIVE) else {
            // A simulator without faults (the firmware's) takes none: nothing here is
            // compiled for it.
            return false;
        };
        let mut log = |rec: &Record| (emit.borrow_mut())(l.machine, rec);
        let taken = match s.node.control(l.at, &l.live, &mut log, &mut Discard) {
            Ok(r) => r.is_ok(),
            Err(e) => match e {},
        };
        s.next = s.machine().next_deadline().filter(|_| s.running());
        if !(taken && l.live == Live::Kill) {
            return false;
        }
        for p in self.slots.iter_mut() {
            if p.running() {
                let id = p.node.id();
                let mut log = |rec: &Record| (emit.borrow_mut())(id, rec);
                match p
                    .node
                    .handle_input(l.at, l.machine, Input::Closed, &mut log, &mut Discard)
                {
                    Ok(_) => {}
                    Err(e) => match e {},
                }
            }
        }
        true
    }

    /// Machine `i` acts at `t` through `f`, with the rest of the network around it.
    /// Returns a receiver whose in-flight store overflowed.
    fn act<E: FnMut(MachineId, &Record)>(
        &mut self,
        i: usize,
        t: UnixNanos,
        emit: &RefCell<E>,
    ) -> Option<MachineId> {
        let (before, rest) = self.slots.split_at_mut(i);
        let (me, after) = rest.split_first_mut()?;
        let mut net = Net {
            before,
            after,
            me: i,
            now: t,
            latency_ns: self.latency_ns,
            emit,
            full: None,
        };
        let id = me.node.id();
        let mut log = |rec: &Record| (emit.borrow_mut())(id, rec);
        match me.node.handle_timeout(t, &mut log, &mut net) {
            Ok(()) => {}
            Err(e) => match e {},
        }
        me.next = me.machine().next_deadline().filter(|_| me.running());
        net.full
    }

    /// Delivers every in-flight message due by `t`, machine by machine; true as soon as one
    /// stopped (its queue was full).
    fn deliver_until<E: FnMut(MachineId, &Record)>(
        &mut self,
        t: UnixNanos,
        emit: &RefCell<E>,
    ) -> bool {
        for s in self.slots.iter_mut() {
            while let Some(&(at, msg)) = s.inflight.front() {
                if at > t {
                    break;
                }
                s.inflight.pop_front();
                arrive(s, t, msg.sender, Frame::Msg(msg), emit);
                if !s.running() {
                    // The run stops at once: what else arrives at `t` is still in flight
                    // and ends as `unprocessed` at its receiver.
                    drain(s, t, emit);
                    return true;
                }
            }
        }
        false
    }

    /// Ticks, in id order, every machine whose deadline is `t` (what they send arrives
    /// after [`TRANSIT_NS`]); true when a machine stopped.
    fn tick_at<E: FnMut(MachineId, &Record)>(&mut self, t: UnixNanos, emit: &RefCell<E>) -> bool {
        for i in 0..self.slots.len() {
            if self.slots[i].next != Some(t) {
                continue;
            }
            if let Some(full) = self.act(i, t, emit) {
                let s = &mut self.slots[usize::from(full)];
                let cap = s.machine().params().queue_cap;
                let id = s.node.id();
                let mut log = |rec: &Record| (emit.borrow_mut())(id, rec);
                match s.node.interrupt(t, Stop::QueueFull(cap), &mut log) {
                    Ok(()) => {}
                    Err(e) => match e {},
                }
                drain(s, t, emit);
                return true;
            }
        }
        false
    }

    /// Ends the run at `t`: each machine, in id order, until every one has written its
    /// `end` row. At the run's `end` each one stops by itself (time up); earlier, the
    /// stopped one's `Bye` stops the others (a running machine is not asked to act then:
    /// it may have a tick due at `t`).
    fn finish<E: FnMut(MachineId, &Record)>(
        &mut self,
        t: UnixNanos,
        end: UnixNanos,
        emit: &RefCell<E>,
    ) {
        while self.slots.iter().any(|s| !s.node.has_ended()) {
            for i in 0..self.slots.len() {
                if t >= end || !self.slots[i].running() {
                    self.act(i, t, emit);
                }
                let s = &mut self.slots[i];
                if !s.running() {
                    drain(s, t, emit);
                }
            }
        }
    }
}
