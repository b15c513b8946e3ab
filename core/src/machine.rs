//! One machine of the model and its tick: `docs/model.md` "Tick rules".
//!
//! Per tick, exactly one of:
//! - the queue holds a message: take exactly one; `clock = max(clock, msg) + 1`; log `recv`
//!   with the queue length after taking it;
//! - otherwise roll `r` uniform in `1..=K`: `r = 1` sends to `(id+1) mod N`, `r = 2` to
//!   `(id+2) mod N`, `r = 3` to every peer (one send event, one increment, every message
//!   carries that clock); `r >= 4` is an internal event (`clock += 1`).
//!
//! The record of a tick is written before its messages are sent (write-ahead).

use crate::{
    Error, MachineId, UnixNanos,
    clock::Lamport,
    params::RunParams,
    queue::Inbox,
    record::{Header, Kind, Log, Note, Peers, Record},
    rng::{below, machine_rng},
    schedule::Schedule,
    spec::Spec,
    transport::Outbox,
    wire::{Frame, Msg},
};
use rand_xorshift::XorShiftRng;

/// One virtual machine: its Lamport clock, network queue of compile-time capacity `CAP`,
/// clock rate, RNG and tick schedule. Hosts feed it messages ([`Machine::deliver`]) and
/// time ([`Machine::tick`]); it never reads a clock or a socket.
#[derive(Debug, Clone)]
pub struct Machine<const CAP: usize> {
    id: MachineId,
    params: RunParams,
    rate: u32,
    clock: Lamport,
    inbox: Inbox<CAP>,
    rng: XorShiftRng,
    schedule: Schedule,
    ticks: u64,
    skipped: u64,
    max_jump: u64,
    leftover: u32,
}

impl<const CAP: usize> Machine<CAP> {
    /// The machine `spec` describes. Its rate is drawn uniformly from `rate_min..=rate_max`
    /// with its own RNG (seeded from the run seed and its id), unless pinned. The draw
    /// happens either way, so pinning rates does not change a machine's rolls.
    pub fn new<F>(spec: &Spec<F>) -> Result<Self, Error> {
        let (params, id, pinned) = (&spec.params, spec.id, spec.pinned);
        params.validate(CAP)?;
        params.check_id(id)?;
        let mut rng = machine_rng(params.seed, id);
        let drawn = params.rate_min + below(&mut rng, params.rate_max - params.rate_min + 1);
        let rate = match pinned {
            Some(r) if r == 0 || r > crate::params::MAX_RATE => return Err(Error::Rate),
            Some(r) => r,
            None => drawn,
        };
        Ok(Self {
            id,
            params: *params,
            rate,
            clock: Lamport::default(),
            inbox: Inbox::new(params.queue_cap as usize),
            rng,
            schedule: {
                let s = Schedule::new(
                    params.start_unix_ns,
                    rate,
                    params.speedup_milli,
                    params.secs,
                );
                if params.spread_phase {
                    s.with_phase(s.spread_phase(params.seed, id), params.secs)
                } else {
                    s
                }
            },
            ticks: 0,
            skipped: 0,
            max_jump: 0,
            leftover: 0,
        })
    }

    /// This machine's id.
    pub fn id(&self) -> MachineId {
        self.id
    }
    /// The run's parameters.
    pub fn params(&self) -> &RunParams {
        &self.params
    }
    /// Clock rate in ticks per second (before speedup).
    pub fn rate(&self) -> u32 {
        self.rate
    }
    /// Current logical clock.
    pub fn clock(&self) -> u64 {
        self.clock.get()
    }
    /// Ticks done so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }
    /// Largest clock advance of a single receive so far.
    pub fn max_jump(&self) -> u64 {
        self.max_jump
    }
    /// Messages waiting in the queue now.
    pub fn queued(&self) -> u32 {
        self.inbox.len() as u32
    }
    /// The tick schedule.
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }
    /// Deadlines skipped so far (a pause, [`Machine::skip_to`]).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
    /// The deadline of the next tick, or `None` once every tick of the run is done.
    pub fn next_deadline(&self) -> Option<UnixNanos> {
        self.schedule.deadline(self.next_index()).map(UnixNanos)
    }
    /// The index in the schedule of the next deadline.
    pub fn next_index(&self) -> u64 {
        self.ticks + self.skipped
    }
    /// Skips the deadlines before index `k` not yet ticked (a paused machine).
    pub fn skip_to(&mut self, k: u64) {
        self.skipped += k.saturating_sub(self.next_index());
    }

    /// The parameters line of this machine's log.
    pub fn header(&self) -> Header {
        let p = &self.params;
        Header {
            machine: self.id,
            machines: p.machines,
            rate: self.rate,
            speedup_milli: p.speedup_milli,
            secs: p.secs,
            seed: p.seed,
            roll_max: p.roll_max,
            queue_cap: p.queue_cap,
            start_unix_ns: p.start_unix_ns,
            phase_ns: self.schedule.first() - p.start_unix_ns,
        }
    }

    /// The `start` record.
    pub fn start_record(&self, now: UnixNanos) -> Record {
        Record::new(now, self.id, Kind::Start, self.clock(), 0)
    }

    /// Puts an arriving message at the back of the queue, or hands it back when the queue
    /// is full (the host decides; nothing is dropped).
    pub fn deliver(&mut self, msg: Msg) -> Result<(), Msg> {
        self.inbox.push(msg)
    }

    /// One tick at time `now`: takes one message, or rolls. Writes the record to `log`
    /// first, then sends through `out` (what becomes of each frame is the outbox's
    /// business), and returns the kind of event. Bounded work:
    /// one message, or at most `N - 1` sends. (The record itself is only lent to `log`: it
    /// is not copied out, which was a fifth of the simulator's time.)
    pub fn tick<L: Log, O: Outbox>(
        &mut self,
        now: UnixNanos,
        log: &mut L,
        out: &mut O,
    ) -> Result<Kind, L::Error> {
        self.ticks += 1;
        let n = self.params.machines;
        if let Some(msg) = self.inbox.pop() {
            let before = self.clock();
            self.clock.observe(msg.clock);
            self.max_jump = self.max_jump.max(self.clock() - before);
            let mut rec = Record::new(
                now,
                self.id,
                Kind::Recv,
                self.clock(),
                self.inbox.len() as u32,
            );
            rec.peer = Peers::One(msg.sender);
            rec.msg_clock = Some(msg.clock);
            log.write(&rec)?;
            return Ok(Kind::Recv);
        }
        let roll = below(&mut self.rng, self.params.roll_max) + 1;
        let peer = match roll {
            1 => Peers::One((self.id + 1) % n),
            2 => Peers::One(((u32::from(self.id) + 2) % u32::from(n)) as MachineId),
            3 => Peers::AllBut {
                me: self.id,
                machines: n,
            },
            _ => {
                self.clock.tick();
                let rec = Record::new(now, self.id, Kind::Internal, self.clock(), 0);
                log.write(&rec)?;
                return Ok(Kind::Internal);
            }
        };
        let stamp = self.clock.tick();
        let mut rec = Record::new(now, self.id, Kind::Send, stamp, 0);
        rec.peer = peer;
        rec.msg_clock = Some(stamp);
        log.write(&rec)?;
        let msg = Msg {
            sender: self.id,
            clock: stamp,
        };
        for to in peer.iter() {
            out.send(to, &Frame::Msg(msg));
        }
        Ok(Kind::Send)
    }

    /// The `unprocessed` record of a message left over at the end (taken from the queue, or
    /// arriving after ticking stopped). Numbers leftovers 1, 2, ... in the `queue` column.
    pub fn unprocessed_record(&mut self, now: UnixNanos, msg: Msg) -> Record {
        self.leftover += 1;
        let mut rec = Record::new(now, self.id, Kind::Unprocessed, self.clock(), self.leftover);
        rec.peer = Peers::One(msg.sender);
        rec.msg_clock = Some(msg.clock);
        rec
    }

    /// Takes the next queued message as an `unprocessed` record, if any.
    pub fn pop_unprocessed(&mut self, now: UnixNanos) -> Option<Record> {
        let msg = self.inbox.pop()?;
        Some(self.unprocessed_record(now, msg))
    }

    /// The `end` record: `queue` is the number of leftovers, `note` the reason (commas and
    /// newlines are replaced, and it is cut to fit).
    pub fn end_record(&self, now: UnixNanos, reason: &str) -> Record {
        let mut rec = Record::new(now, self.id, Kind::End, self.clock(), self.leftover);
        rec.note = note(reason);
        rec
    }
}

/// A note from free text: commas and line breaks become `;` and spaces; cut to capacity.
pub fn note(text: &str) -> Note {
    let mut n = Note::new();
    for c in text.chars() {
        let c = match c {
            ',' => ';',
            '\n' | '\r' => ' ',
            c => c,
        };
        if n.push(c).is_err() {
            break;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Sent;
    use std::vec::Vec;

    #[derive(Default)]
    struct Wire(Vec<(MachineId, Msg)>);
    impl Outbox for Wire {
        fn send(&mut self, to: MachineId, frame: &Frame) -> Sent {
            if let Frame::Msg(msg) = *frame {
                self.0.push((to, msg));
            }
            Sent::Taken
        }
        fn close(&mut self, _: MachineId) {}
    }

    /// One tick, returning the record it logged.
    fn tick<O: Outbox>(
        m: &mut Machine<8>,
        now: UnixNanos,
        out: &mut O,
    ) -> Result<Record, core::convert::Infallible> {
        let mut got = None;
        let mut log = |r: &Record| got = Some(r.clone());
        let kind = m.tick(now, &mut log, out)?;
        let rec = got.expect("a tick logs one record");
        assert_eq!(rec.kind, kind);
        Ok(rec)
    }

    fn params(k: u32) -> RunParams {
        RunParams {
            roll_max: k,
            queue_cap: 8,
            ..RunParams::new(7, 0)
        }
    }

    /// Ticks until the machine rolls `want` (queue empty), returning that tick's record.
    fn tick_until(m: &mut Machine<8>, want: fn(&Record) -> bool, wire: &mut Wire) -> Record {
        for _ in 0..10_000 {
            wire.0.clear();
            let rec = tick(m, UnixNanos(0), wire).unwrap();
            if want(&rec) {
                return rec;
            }
        }
        panic!("never rolled the wanted action");
    }

    #[test]
    fn one_message_per_tick_and_receive_rule() {
        let mut m = Machine::<8>::new(&Spec::new(params(10), 0).pinned(Some(1))).unwrap();
        m.deliver(Msg {
            sender: 1,
            clock: 10,
        })
        .unwrap();
        m.deliver(Msg {
            sender: 2,
            clock: 3,
        })
        .unwrap();
        let mut wire = Wire::default();
        let a = tick(&mut m, UnixNanos(0), &mut wire).unwrap();
        assert_eq!(
            (a.kind, a.clock, a.queue, a.peer, a.msg_clock),
            (Kind::Recv, 11, 1, Peers::One(1), Some(10))
        );
        let b = tick(&mut m, UnixNanos(0), &mut wire).unwrap();
        assert_eq!(
            (b.kind, b.clock, b.queue, b.msg_clock),
            (Kind::Recv, 12, 0, Some(3)),
            "max(11, 3) + 1"
        );
        assert!(wire.0.is_empty(), "a receive tick sends nothing");
        assert_eq!(m.max_jump(), 11);
        let c = tick(&mut m, UnixNanos(0), &mut wire).unwrap();
        assert_ne!(c.kind, Kind::Recv, "queue empty: roll");
        assert_eq!(c.clock, 13);
    }

    #[test]
    fn roll_one_and_two_send_to_next_and_next_but_one() {
        for id in 0..4u16 {
            let p = RunParams {
                machines: 4,
                ..params(10)
            };
            let mut m = Machine::<8>::new(&Spec::new(p, id)).unwrap();
            let mut wire = Wire::default();
            let one = |r: &Record| r.kind == Kind::Send && r.peer.count() == 1;
            let mut seen = [false; 4];
            for _ in 0..200 {
                let rec = tick_until(&mut m, one, &mut wire);
                assert_eq!(wire.0.len(), 1);
                let (to, msg) = wire.0[0];
                assert_eq!(
                    msg,
                    Msg {
                        sender: id,
                        clock: rec.clock
                    },
                    "message carries the send event's clock"
                );
                assert_eq!(Peers::One(to), rec.peer);
                seen[usize::from(to)] = true;
            }
            let expect: Vec<usize> = [(id + 1) % 4, (id + 2) % 4]
                .into_iter()
                .map(usize::from)
                .collect();
            for (i, s) in seen.iter().enumerate() {
                assert_eq!(*s, expect.contains(&i), "machine {id} sent to {i}");
            }
        }
    }

    #[test]
    fn roll_three_is_one_event_to_every_peer() {
        let p = RunParams {
            machines: 5,
            ..params(10)
        };
        let mut m = Machine::<8>::new(&Spec::new(p, 2)).unwrap();
        let mut wire = Wire::default();
        let before_clock = m.clock();
        let rec = tick_until(
            &mut m,
            |r| r.kind == Kind::Send && r.peer.count() == 4,
            &mut wire,
        );
        assert!(rec.clock > before_clock);
        let to: Vec<MachineId> = wire.0.iter().map(|(t, _)| *t).collect();
        assert_eq!(to, [0, 1, 3, 4]);
        assert!(
            wire.0.iter().all(|(_, m)| m.clock == rec.clock),
            "one increment, one stamp"
        );
        assert_eq!(std::format!("{}", rec.peer), "0+1+3+4");
    }

    #[test]
    fn each_roll_value_maps_to_its_action() {
        // Replay the RNG: the kind of each tick must follow from the roll it drew.
        let p = RunParams {
            machines: 3,
            ..params(10)
        };
        let mut m = Machine::<8>::new(&Spec::new(p, 1).pinned(Some(3))).unwrap();
        let mut rng = machine_rng(p.seed, 1);
        let _rate = below(&mut rng, 6);
        let mut wire = Wire::default();
        for _ in 0..1000 {
            wire.0.clear();
            let roll = below(&mut rng, 10) + 1;
            let rec = tick(&mut m, UnixNanos(0), &mut wire).unwrap();
            let to: Vec<MachineId> = wire.0.iter().map(|(t, _)| *t).collect();
            match roll {
                1 => assert_eq!(to, [2]),
                2 => assert_eq!(to, [0]),
                3 => assert_eq!(to, [0, 2]),
                _ => assert_eq!((rec.kind, to.len()), (Kind::Internal, 0)),
            }
        }
    }

    #[test]
    fn roll_max_three_means_no_internal_events() {
        let mut m = Machine::<8>::new(&Spec::new(params(3), 0)).unwrap();
        let mut wire = Wire::default();
        for _ in 0..2000 {
            let rec = tick(&mut m, UnixNanos(0), &mut wire).unwrap();
            assert_eq!(rec.kind, Kind::Send);
        }
    }

    #[test]
    fn record_is_written_before_the_send() {
        // An outbox that sees whether the send row is logged when the frame reaches it.
        struct Watch<'a>(&'a core::cell::Cell<usize>, usize);
        impl Outbox for Watch<'_> {
            fn send(&mut self, _: MachineId, _: &Frame) -> Sent {
                self.1 = self.0.get();
                Sent::Gone
            }
            fn close(&mut self, _: MachineId) {}
        }
        let mut m = Machine::<8>::new(&Spec::new(params(3), 0)).unwrap();
        let logged = core::cell::Cell::new(0);
        let mut log = |r: &Record| {
            assert_eq!(r.kind, Kind::Send);
            logged.set(logged.get() + 1);
        };
        let mut out = Watch(&logged, 0);
        m.tick(UnixNanos(5), &mut log, &mut out).unwrap();
        assert_eq!(out.1, 1, "the send was logged before the frame left");
    }

    #[test]
    fn full_queue_hands_back_and_leftovers_are_counted() {
        let p = RunParams {
            queue_cap: 2,
            ..params(10)
        };
        let mut m = Machine::<8>::new(&Spec::new(p, 0)).unwrap();
        m.deliver(Msg {
            sender: 1,
            clock: 1,
        })
        .unwrap();
        m.deliver(Msg {
            sender: 2,
            clock: 2,
        })
        .unwrap();
        assert_eq!(
            m.deliver(Msg {
                sender: 1,
                clock: 3
            }),
            Err(Msg {
                sender: 1,
                clock: 3
            })
        );
        let a = m.pop_unprocessed(UnixNanos(9)).unwrap();
        let b = m.pop_unprocessed(UnixNanos(9)).unwrap();
        let c = m.unprocessed_record(
            UnixNanos(9),
            Msg {
                sender: 1,
                clock: 3,
            },
        );
        assert_eq!((a.queue, b.queue, c.queue), (1, 2, 3));
        assert_eq!(m.pop_unprocessed(UnixNanos(9)), None);
        let end = m.end_record(UnixNanos(9), "queue full, cap 2");
        assert_eq!(std::format!("{end}"), "9,0,end,0,3,,,queue full; cap 2");
    }

    #[test]
    fn pinned_rate_keeps_the_rolls() {
        let p = params(10);
        let mut a = Machine::<8>::new(&Spec::new(p, 0).pinned(Some(6))).unwrap();
        let mut b = Machine::<8>::new(&Spec::new(p, 0)).unwrap();
        assert_eq!(a.rate(), 6);
        assert!((1..=6).contains(&b.rate()));
        for _ in 0..100 {
            let ra = tick(&mut a, UnixNanos(0), &mut Wire::default()).unwrap();
            let rb = tick(&mut b, UnixNanos(0), &mut Wire::default()).unwrap();
            assert_eq!(ra, rb);
        }
        assert_eq!(
            Machine::<8>::new(&Spec::new(p, 0).pinned(Some(0))).unwrap_err(),
            Error::Rate
        );
        assert_eq!(
            Machine::<8>::new(&Spec::new(p, 3)).unwrap_err(),
            Error::MachineId(3)
        );
    }
}
