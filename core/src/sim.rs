//! A deterministic simulator: N machines in virtual time over an in-memory transport.
//!
//! The simulator runs the same [`Machine`] code as the hosts. Virtual time jumps to the
//! earliest pending event: a tick deadline or a message arrival. At one instant, arrivals
//! are delivered first, then machines tick in id order. A message sent with latency 0 is in
//! its receiver's queue at once (so a higher-id machine ticking at the same instant sees
//! it); with latency `L` it arrives `L` later. Ticks happen exactly at their deadlines.
//!
//! It allocates nothing: the caller provides the machines' storage as a slice of [`Slot`]s
//! (a `Vec` on a host, an array on a microcontroller). Same parameters and seed, same
//! records, byte for byte.
//!
//! A full queue stops the whole run at that instant: the machine whose queue overflowed
//! ends with `queue full (cap C)`, every other machine with `peer X stopped early`, and each
//! message still queued or in flight is logged as `unprocessed` at its receiver, so no
//! message is lost.

use crate::{
    Error, MachineId, UnixNanos,
    machine::{Machine, TickError},
    params::RunParams,
    record::Record,
    transport::Transport,
    wire::Msg,
};
use core::fmt::Write;
use heapless::Deque;

/// The storage of one simulated machine: the machine (queue of `CAP` messages) and up to
/// `FLIGHT` messages in flight to it (only used with a latency; a run with latency 0 can
/// use `FLIGHT = 1` to save memory).
#[derive(Debug, Clone)]
pub struct Slot<const CAP: usize, const FLIGHT: usize = CAP> {
    machine: Machine<CAP>,
    inflight: Deque<(UnixNanos, Msg), FLIGHT>,
    overflow: Option<Msg>,
    next: Option<UnixNanos>,
}

impl<const CAP: usize, const FLIGHT: usize> Slot<CAP, FLIGHT> {
    /// Machine `id` of a run, rate drawn or `pinned` (see [`Machine::new`]).
    pub fn new(params: &RunParams, id: MachineId, pinned: Option<u32>) -> Result<Self, Error> {
        let machine = Machine::new(params, id, pinned)?;
        let next = machine.next_deadline();
        Ok(Self {
            machine,
            inflight: Deque::new(),
            overflow: None,
            next,
        })
    }

    /// The machine.
    pub fn machine(&self) -> &Machine<CAP> {
        &self.machine
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
}

/// The simulator over caller-provided storage.
#[derive(Debug)]
pub struct Sim<'a, const CAP: usize, const FLIGHT: usize = CAP> {
    slots: &'a mut [Slot<CAP, FLIGHT>],
    latency_ns: u64,
}

struct Net<'s, const CAP: usize, const FLIGHT: usize> {
    before: &'s mut [Slot<CAP, FLIGHT>],
    after: &'s mut [Slot<CAP, FLIGHT>],
    me: usize,
    now: UnixNanos,
    latency_ns: u64,
    full: Option<MachineId>,
}

impl<const CAP: usize, const FLIGHT: usize> Transport for Net<'_, CAP, FLIGHT> {
    type Error = core::convert::Infallible;
    fn send(&mut self, to: MachineId, msg: Msg) -> Result<(), Self::Error> {
        let to = usize::from(to);
        let slot = if to < self.me {
            &mut self.before[to]
        } else {
            &mut self.after[to - self.me - 1]
        };
        let accepted = if self.latency_ns == 0 {
            slot.machine.deliver(msg).is_ok()
        } else {
            slot.inflight
                .push_back((self.now + self.latency_ns, msg))
                .is_ok()
        };
        if !accepted {
            // Held at the receiver and logged as `unprocessed` at the end: never dropped.
            slot.overflow = Some(msg);
            self.full.get_or_insert(to as MachineId);
        }
        Ok(())
    }
}

impl<'a, const CAP: usize, const FLIGHT: usize> Sim<'a, CAP, FLIGHT> {
    /// A simulator over `slots`, which must hold machines `0..N` of one run in order.
    /// `latency_ns` delays every message (0: delivered at once).
    pub fn new(slots: &'a mut [Slot<CAP, FLIGHT>], latency_ns: u64) -> Result<Self, Error> {
        let params = *slots.first().ok_or(Error::SimSlots)?.machine.params();
        if slots.len() != usize::from(params.machines)
            || slots
                .iter()
                .enumerate()
                .any(|(i, s)| usize::from(s.machine.id()) != i || *s.machine.params() != params)
        {
            return Err(Error::SimSlots);
        }
        Ok(Self { slots, latency_ns })
    }

    /// The machines.
    pub fn slots(&self) -> &[Slot<CAP, FLIGHT>] {
        self.slots
    }

    /// Runs the whole run, handing every record to `emit` with its machine's id, and says
    /// how it ended. Records of one machine come in log order.
    pub fn run(&mut self, mut emit: impl FnMut(MachineId, &Record)) -> Outcome {
        let params = *self.slots[0].machine.params();
        let end = params.end_unix_ns();
        for s in self.slots.iter() {
            emit(
                s.machine.id(),
                &s.machine.start_record(params.start_unix_ns),
            );
        }
        let outcome = loop {
            let next_tick = self.slots.iter().filter_map(|s| s.next).min();
            let next_arrival = self
                .slots
                .iter()
                .filter_map(|s| s.inflight.front().map(|f| f.0))
                .min();
            let t = match (next_tick, next_arrival) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break Outcome::TimeUp,
                },
            };
            if t >= end {
                break Outcome::TimeUp;
            }
            if let Some(machine) = self.deliver_until(t) {
                break Outcome::QueueFull { machine, at: t };
            }
            if let Some(machine) = self.tick_at(t, &mut emit) {
                break Outcome::QueueFull { machine, at: t };
            }
        };
        let stop = match outcome {
            Outcome::TimeUp => end,
            Outcome::QueueFull { at, .. } => at,
        };
        for s in self.slots.iter_mut() {
            let id = s.machine.id();
            while let Some(rec) = s.machine.pop_unprocessed(stop) {
                emit(id, &rec);
            }
            while let Some((_, msg)) = s.inflight.pop_front() {
                emit(id, &s.machine.unprocessed_record(stop, msg));
            }
            if let Some(msg) = s.overflow.take() {
                emit(id, &s.machine.unprocessed_record(stop, msg));
            }
            let mut reason = heapless::String::<96>::new();
            let _ = match outcome {
                Outcome::TimeUp => reason.write_str("time up"),
                Outcome::QueueFull { machine, .. } if machine == id => {
                    write!(reason, "queue full (cap {})", params.queue_cap)
                }
                Outcome::QueueFull { machine, .. } => {
                    write!(reason, "peer {machine} stopped early")
                }
            };
            emit(id, &s.machine.end_record(stop, &reason));
        }
        outcome
    }

    /// Delivers every in-flight message due by `t`; returns a machine whose queue is full.
    fn deliver_until(&mut self, t: UnixNanos) -> Option<MachineId> {
        for s in self.slots.iter_mut() {
            while let Some(&(at, msg)) = s.inflight.front() {
                if at > t {
                    break;
                }
                if s.machine.deliver(msg).is_err() {
                    return Some(s.machine.id());
                }
                s.inflight.pop_front();
            }
        }
        None
    }

    /// Ticks, in id order, every machine whose deadline is `t`; returns a machine whose
    /// queue overflowed.
    fn tick_at(
        &mut self,
        t: UnixNanos,
        emit: &mut impl FnMut(MachineId, &Record),
    ) -> Option<MachineId> {
        for i in 0..self.slots.len() {
            if self.slots[i].next != Some(t) {
                continue;
            }
            let (before, rest) = self.slots.split_at_mut(i);
            let (me, after) = rest.split_first_mut()?;
            let mut net = Net {
                before,
                after,
                me: i,
                now: t,
                latency_ns: self.latency_ns,
                full: None,
            };
            let id = me.machine.id();
            let mut log = |rec: &Record| emit(id, rec);
            match me.machine.tick(t, &mut log, &mut net) {
                Ok(_) => {}
                Err(TickError::Log(e) | TickError::Send(e)) => match e {},
            }
            me.next = me.machine.next_deadline();
            if net.full.is_some() {
                return net.full;
            }
        }
        None
    }
}
