//! The rules of one machine's log, as a state machine over its rows: no paths, no I/O.
//! [`MachineRules::row`] takes each record in file order and reports each broken rule
//! through `emit(line, rule, what)`; [`MachineRules::finish`] closes the file.

use super::{
    CheckOptions, MachineStats, Rule,
    note::{self, Claims, Reason},
};
use lamport_core::{
    RunParams, Schedule,
    faults::{Deadlines, FaultKind, Plan},
    live::Live,
    machine::Machine,
    node::{MAX_BATCH, Stop, Timing},
    record::{Header, Kind, Peers, Record},
    spec::Spec,
    wire::Msg,
};

/// The model of machine `id` as its header describes it, for the replay (its rate
/// pinned: the rate draw takes one value from the RNG whatever the range, but for a chance
/// below 2e-9 per machine, so the rolls come out the same).
fn replay_model(h: &Header, id: u16) -> Option<Machine<1>> {
    let params = RunParams {
        queue_cap: 1,
        ..h.params()
    };
    Machine::new(&Spec::new(params, id).pinned(Some(h.rate))).ok()
}

/// Which part of its log a machine's rows are in.
#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy, Debug)]
enum Part {
    BeforeStart,
    Ticking,
    Leftovers,
    Ended,
}

/// What one machine's log testifies, for the rules between machines (and its figures).
#[derive(Debug, Clone, Default)]
pub struct Testimony {
    /// Figures for summaries.
    pub stats: MachineStats,
    /// The clock of each message sent, per receiver, in order.
    pub sent: Vec<Vec<u64>>,
    /// The clock of each message logged from each sender (recv rows, then unprocessed).
    pub got: Vec<Vec<u64>>,
    /// Each `recv` row's time and queue, in order.
    pub recv_rows: Vec<(u64, u32)>,
    /// The time of its first `unprocessed` row.
    pub first_unprocessed_at: Option<u64>,
    /// The file has its `end` row.
    pub ended: bool,
    /// Peers its `end` row names lost or stalled.
    pub lost_named: Vec<u16>,
    /// What its `end` note claims (`None`: no `end` row, or a note the model never
    /// writes, reported already).
    pub claims: Option<Claims>,
    /// The time of its `end` row.
    pub end_at: Option<u64>,
    /// The deadline of the tick after its last one (`None`: it ticked them all).
    pub next_deadline: Option<u64>,
    /// The line of its `end` row (0: none).
    pub end_line: usize,
    /// The time of its last tick (its `start` row's if it did none).
    pub last_tick_at: u64,
    /// The time of each send row, per receiver.
    pub sent_at: Vec<Vec<u64>>,
    /// The time of each `recv` row, then of each `unprocessed` row, per sender.
    pub got_at: Vec<Vec<u64>>,
    /// How many of `got_at` are `recv` rows, per sender.
    pub recvs_from: Vec<usize>,
    /// Its effective faults: the header's, and the windows its own `fault` rows opened and
    /// closed (one still open at the end stays open), with the last delay it set.
    pub plan: Plan,
    /// The delay in force at this machine from each instant on: the header's from the
    /// start (instant 0), then each `delay` fault row's.
    pub delays: Vec<(u64, u64)>,
    /// The instant of its `kill` row.
    pub killed_at: Option<u64>,
    /// Each `fault` row's time and queue, with the receives logged before it.
    pub fault_rows: Vec<(u64, u32, usize)>,
}

impl Testimony {
    /// The earliest instant a message sent at `sent` and taken by `by` can have entered
    /// this machine's queue: it arrived at some instant of `[sent, by]` and waited the
    /// delay in force then (the jitter and the partitions only add to it).
    pub fn earliest_entry(&self, sent: u64, by: u64) -> u64 {
        let mut first = u64::MAX;
        for (k, &(at, d)) in self.delays.iter().enumerate() {
            let until = self.delays.get(k + 1).map_or(u64::MAX, |x| x.0);
            if at <= by && until > sent {
                first = first.min(sent.max(at).saturating_add(d));
            }
        }
        if first == u64::MAX { sent } else { first }
    }
}

/// The rules of one machine's log.
#[derive(Debug)]
pub struct MachineRules {
    id: u16,
    machines: u16,
    roll_max: u32,
    /// The deadlines it ticks at (its pauses skip some), made again from its effective
    /// plan at each `fault` row.
    deadlines: Deadlines,
    /// The schedule's index of the next deadline to look for.
    next_k: u64,
    /// The offset from the start of the last deadline ticked.
    last_deadline: Option<u64>,
    schedule: Schedule,
    /// The log's version (1, 2, 3).
    version: u32,
    /// The run is still being written.
    in_progress: bool,
    /// `fault` rows read.
    faults_seen: u64,
    /// The header's parameters.
    header: Header,
    m: Testimony,
    phase: Part,
    /// A `start` row was read.
    started: bool,
    /// Ticks in a row at the last tick's instant (this one included), and before it.
    batch: usize,
    batch_before: usize,
    clock: u64,
    last_time: u64,
    must_recv: bool,
    last_queue: Option<u32>,
    max_late_ns: Option<u64>,
    /// The last row was a tick.
    last_row_tick: bool,
    /// The instant of the last `fault` row, and whether the ticks just before it were a
    /// whole batch ([`MAX_BATCH`]): a machine takes every tick due by a fault's instant
    /// first, unless it was that far behind.
    fault_before: Option<(u64, bool)>,
    /// The model replaying this machine: its rolls come from the header's seed; each
    /// logged receive delivers its message just before the tick. `None` once it has
    /// disagreed (reported once).
    replay: Option<Machine<1>>,
}

impl MachineRules {
    /// The rules of the log of machine `id` (from its file name) whose header is `header`.
    /// A header that names another machine is reported through `emit` (line 2).
    pub fn new(
        header: &Header,
        faults: &Plan,
        version: u32,
        id: u16,
        opts: &CheckOptions,
        emit: &mut impl FnMut(usize, Rule, String),
    ) -> Self {
        let machines = usize::from(header.machines);
        let schedule = header.schedule();
        let mut m = Testimony {
            sent: vec![Vec::new(); machines],
            got: vec![Vec::new(); machines],
            ..Testimony::default()
        };
        m.stats.id = id;
        m.stats.rate = header.rate;
        let deadlines = faults.deadlines(id, schedule, header.start_unix_ns);
        m.stats.ticks_due = deadlines.total();
        m.sent_at = vec![Vec::new(); machines];
        m.got_at = vec![Vec::new(); machines];
        m.recvs_from = vec![0; machines];
        m.plan = faults.clone();
        m.delays = vec![(0, faults.delay_ns)];
        if header.machine != id {
            emit(
                2,
                Rule::Header,
                format!(
                    "header says machine {}, file name says {id}",
                    header.machine
                ),
            );
        }
        Self {
            id,
            machines: header.machines,
            roll_max: header.roll_max,
            deadlines,
            next_k: 0,
            last_deadline: None,
            schedule,
            version,
            in_progress: opts.in_progress,
            faults_seen: 0,
            header: *header,
            m,
            phase: Part::BeforeStart,
            started: false,
            batch: 0,
            batch_before: 0,
            clock: 0,
            last_time: 0,
            must_recv: false,
            last_queue: None,
            max_late_ns: opts.max_late_ns,
            last_row_tick: false,
            fault_before: None,
            replay: replay_model(header, id).filter(|_| opts.replay),
        }
    }

    /// Judges the row at line `n`.
    pub fn row(&mut self, n: usize, rec: &Record, emit: &mut impl FnMut(usize, Rule, String)) {
        self.m.stats.rows += 1;
        if rec.unix_ns < self.last_time {
            emit(
                n,
                Rule::TimeOrder,
                format!("time goes back: {} after {}", rec.unix_ns, self.last_time),
            );
        }
        self.last_time = rec.unix_ns;
        if self.phase == Part::Ended {
            emit(
                n,
                Rule::End,
                format!("`{}` row after `end`", rec.kind.name()),
            );
            return;
        }
        match rec.kind {
            Kind::Start => {
                if self.phase != Part::BeforeStart {
                    emit(n, Rule::Start, "second `start` row".into());
                }
                if rec.clock != 0 {
                    emit(
                        n,
                        Rule::Start,
                        format!("start clock {}, expected 0", rec.clock),
                    );
                }
                if rec.queue != 0
                    || rec.peer != Peers::None
                    || rec.msg_clock.is_some()
                    || !rec.note.is_empty()
                {
                    emit(
                        n,
                        Rule::EmptyColumns,
                        "`start` row with a queue, peer, msg_clock or note".into(),
                    );
                }
                if rec.unix_ns != self.header.start_unix_ns {
                    emit(
                        n,
                        Rule::Start,
                        format!(
                            "start row at {}, but the run starts at start_unix_ns={}",
                            rec.unix_ns, self.header.start_unix_ns
                        ),
                    );
                }
                self.m.last_tick_at = rec.unix_ns;
                self.started = true;
                self.phase = Part::Ticking;
            }
            k if k.is_tick() => self.tick(n, k, rec, emit),
            Kind::Unprocessed => self.unprocessed(n, rec, emit),
            Kind::End => self.end(n, rec, emit),
            Kind::Fault => self.fault(n, rec, emit),
            _ => unreachable!("every kind is handled"),
        }
        self.last_row_tick = rec.kind.is_tick();
    }

    fn tick(
        &mut self,
        n: usize,
        k: Kind,
        rec: &Record,
        emit: &mut impl FnMut(usize, Rule, String),
    ) {
        self.replay(n, rec, emit);
        if self.m.killed_at.is_some() {
            emit(n, Rule::Kill, format!("`{}` tick after `kill`", k.name()));
        }
        if self.phase != Part::Ticking {
            let (rule, when) = if self.phase == Part::BeforeStart {
                (Rule::Start, "before `start`")
            } else {
                (Rule::Leftovers, "after ticking stopped")
            };
            emit(n, rule, format!("`{}` tick {when}", k.name()));
        }
        let tick = self.m.stats.ticks;
        self.m.stats.ticks += 1;
        let prev = self.m.last_tick_at;
        self.batch_before = self.batch;
        self.batch = if tick > 0 && rec.unix_ns == prev {
            self.batch + 1
        } else {
            1
        };
        self.m.last_tick_at = rec.unix_ns;
        self.empty_columns(n, k, rec, emit);
        self.deadline(n, tick, prev, rec, emit);
        if self.must_recv && k != Kind::Recv {
            emit(
                n,
                Rule::QueuedFirst,
                format!(
                    "`{}` while the queue held a message: expected `recv`",
                    k.name()
                ),
            );
        }
        self.must_recv = false;
        let clock = self.clock;
        // Internal and send events: clock + 1.
        if k != Kind::Recv && rec.clock != clock.saturating_add(1) {
            emit(
                n,
                Rule::Clock,
                format!(
                    "{} clock {}, expected {clock} + 1 = {}",
                    k.name(),
                    rec.clock,
                    clock.saturating_add(1)
                ),
            );
        }
        match k {
            Kind::Internal => self.internal(n, rec, emit),
            Kind::Send => self.send(n, rec, emit),
            _ => self.recv(n, rec, emit),
        }
        self.clock = rec.clock;
    }

    /// The columns a tick leaves empty: no note; no queue but on a `recv`.
    fn empty_columns(
        &self,
        n: usize,
        k: Kind,
        rec: &Record,
        emit: &mut impl FnMut(usize, Rule, String),
    ) {
        if !rec.note.is_empty() {
            emit(
                n,
                Rule::EmptyColumns,
                format!("`{}` row with a note", k.name()),
            );
        }
        if k != Kind::Recv && rec.queue != 0 {
            emit(
                n,
                Rule::EmptyColumns,
                format!(
                    "`{}` row with queue {}: a machine rolls only when its queue is empty",
                    k.name(),
                    rec.queue
                ),
            );
        }
    }

    /// Tick `tick` (the previous one at `prev`) against its deadline: not early, not later
    /// than `--max-late-ms`, done at once with the ticks due with it, within the schedule.
    fn deadline(
        &mut self,
        n: usize,
        tick: u64,
        prev: u64,
        rec: &Record,
        emit: &mut impl FnMut(usize, Rule, String),
    ) {
        let k = self.deadlines.at_or_after(self.next_k);
        match self.schedule.deadline(k) {
            Some(d) => {
                self.next_k = k + 1;
                self.last_deadline = Some(d.saturating_sub(self.header.start_unix_ns));
                // A machine does every tick already due in one go (at most MAX_BATCH), at
                // the instant it wakes: a tick due by the previous tick's instant comes at
                // that instant.
                if tick > 0 && d <= prev && rec.unix_ns != prev && self.batch_before < MAX_BATCH {
                    emit(
                        n,
                        Rule::DueAtOnce,
                        format!(
                            "tick {} (deadline {d}) was due when tick {tick} ran at {prev}, but came at {}: a machine does every due tick at once",
                            tick + 1,
                            rec.unix_ns
                        ),
                    );
                }
                // A machine takes every tick due by a fault's instant before the fault.
                if let Some((f, false)) = self.fault_before.filter(|&(f, _)| d < f) {
                    emit(
                        n,
                        Rule::DueBeforeFault,
                        format!(
                            "tick {} (deadline {d}) comes after a `fault` row at {f}: a machine takes every tick due by a fault's instant first",
                            tick + 1
                        ),
                    );
                }
                let late = rec.unix_ns.saturating_sub(d);
                if let Some(max) = self.max_late_ns.filter(|&m| late > m) {
                    emit(
                        n,
                        Rule::Late,
                        format!(
                            "tick {} is {:.3} ms late (bound {:.3} ms, --max-late-ms)",
                            tick + 1,
                            late as f64 / 1e6,
                            max as f64 / 1e6
                        ),
                    );
                }
                if rec.unix_ns < d {
                    emit(
                        n,
                        Rule::Early,
                        format!(
                            "tick {} at {} is {} ns before its deadline {d}",
                            tick + 1,
                            rec.unix_ns,
                            d - rec.unix_ns
                        ),
                    );
                }
                self.m.stats.lateness_us.add(
                    ((i128::from(rec.unix_ns) - i128::from(d)) / 1000)
                        .clamp(i64::MIN.into(), i64::MAX.into()) as i64,
                )
            }
            None => {
                let me = self.id;
                let paused = self
                    .m
                    .plan
                    .windows
                    .iter()
                    .find(|f| f.what == FaultKind::Pause(me) && f.window.is_open());
                let why = match paused {
                    Some(f) => format!(
                        " outside its pauses: it is paused since {:.3} s",
                        f.window.from_ns as f64 / 1e9
                    ),
                    None if self.deadlines.has_pauses() => " outside its pauses".into(),
                    None => String::new(),
                };
                emit(
                    n,
                    Rule::ExtraTick,
                    format!(
                        "tick {} but the run has only {} deadlines{why}",
                        tick + 1,
                        self.m.stats.ticks_due,
                    ),
                )
            }
        }
    }

    fn internal(&mut self, n: usize, rec: &Record, emit: &mut impl FnMut(usize, Rule, String)) {
        self.m.stats.internals += 1;
        self.last_queue = Some(0);
        if self.roll_max < 4 {
            emit(
                n,
                Rule::InternalRoll,
                format!(
                    "internal event, but roll_max={} leaves no roll for one",
                    self.roll_max
                ),
            );
        }
        if rec.peer != Peers::None || rec.msg_clock.is_some() {
            emit(
                n,
                Rule::Peer,
                "internal event with a peer or msg_clock".into(),
            );
        }
    }

    fn send(&mut self, n: usize, rec: &Record, emit: &mut impl FnMut(usize, Rule, String)) {
        self.m.stats.sends += 1;
        self.last_queue = Some(0);
        if rec.msg_clock != Some(rec.clock) {
            emit(
                n,
                Rule::Send,
                format!(
                    "send carries {:?}, expected its own clock {}",
                    rec.msg_clock, rec.clock
                ),
            );
        }
        let (id, machines) = (self.id, self.machines);
        let next = (id + 1) % machines;
        let next2 = ((u32::from(id) + 2) % u32::from(machines)) as u16;
        match rec.peer {
            Peers::One(p) if p == next || p == next2 => {}
            Peers::AllBut { .. } => {}
            p => emit(
                n,
                Rule::Send,
                format!("send to `{p}`: expected {next}, {next2} or every peer"),
            ),
        }
        for p in rec.peer.iter() {
            if let Some(v) = self.m.sent.get_mut(usize::from(p)) {
                v.push(rec.clock);
            }
            if let Some(v) = self.m.sent_at.get_mut(usize::from(p)) {
                v.push(rec.unix_ns);
            }
        }
    }

    fn recv(&mut self, n: usize, rec: &Record, emit: &mut impl FnMut(usize, Rule, String)) {
        self.m.stats.recvs += 1;
        let clock = self.clock;
        let (Peers::One(p), Some(m)) = (rec.peer, rec.msg_clock) else {
            emit(
                n,
                Rule::Peer,
                "recv without one sender and a msg_clock".into(),
            );
            return;
        };
        let want = clock.max(m).saturating_add(1);
        if rec.clock != want {
            emit(
                n,
                Rule::Clock,
                format!(
                    "recv clock {}, expected max({clock}, {m}) + 1 = {want}",
                    rec.clock
                ),
            );
        }
        if p == self.id {
            emit(n, Rule::Peer, "message from itself".into());
        }
        // One message leaves the queue per tick; only arrivals make it longer.
        if let Some(q) = self
            .last_queue
            .filter(|&q| u64::from(rec.queue) + 1 < u64::from(q))
        {
            emit(
                n,
                Rule::TickTakesOne,
                format!(
                    "queue {} after a tick that left {q}: a tick takes one message",
                    rec.queue
                ),
            );
        }
        let cap = self.header.queue_cap;
        if rec.queue >= cap {
            emit(
                n,
                Rule::QueueCap,
                format!(
                    "a receive left {} messages waiting, but queue_cap={cap} holds at most {cap} (so {} after taking one)",
                    rec.queue,
                    cap - 1
                ),
            );
        }
        self.last_queue = Some(rec.queue);
        let s = &mut self.m.stats;
        s.max_jump = s.max_jump.max(rec.clock.saturating_sub(clock));
        s.max_queue = s.max_queue.max(u64::from(rec.queue));
        self.must_recv = rec.queue > 0;
        self.m.got[usize::from(p)].push(m);
        self.m.got_at[usize::from(p)].push(rec.unix_ns);
        self.m.recvs_from[usize::from(p)] += 1;
        self.m.recv_rows.push((rec.unix_ns, rec.queue));
    }

    fn unprocessed(&mut self, n: usize, rec: &Record, emit: &mut impl FnMut(usize, Rule, String)) {
        self.phase = Part::Leftovers;
        self.after_kill(n, rec, emit);
        self.m.first_unprocessed_at.get_or_insert(rec.unix_ns);
        self.not_too_late(n, rec, emit);
        if !rec.note.is_empty() {
            emit(
                n,
                Rule::EmptyColumns,
                "`unprocessed` row with a note".into(),
            );
        }
        self.m.stats.unprocessed += 1;
        if rec.clock != self.clock {
            emit(
                n,
                Rule::Leftovers,
                format!(
                    "unprocessed row changes the clock to {}, expected {}",
                    rec.clock, self.clock
                ),
            );
        }
        if u64::from(rec.queue) != self.m.stats.unprocessed {
            emit(
                n,
                Rule::Leftovers,
                format!(
                    "unprocessed row numbered {}, expected {}",
                    rec.queue, self.m.stats.unprocessed
                ),
            );
        }
        match (rec.peer, rec.msg_clock) {
            (Peers::One(p), Some(m)) if p != self.id => {
                self.m.got[usize::from(p)].push(m);
                self.m.got_at[usize::from(p)].push(rec.unix_ns);
            }
            _ => emit(
                n,
                Rule::Peer,
                "unprocessed row without one sender and a msg_clock".into(),
            ),
        }
    }

    fn end(&mut self, n: usize, rec: &Record, emit: &mut impl FnMut(usize, Rule, String)) {
        self.phase = Part::Ended;
        self.after_kill(n, rec, emit);
        let says_killed = note::parse(&rec.note, self.machines, self.id)
            .is_ok_and(|c| c.reason == Some(Reason::Stop(Stop::Killed)));
        if self.m.killed_at.is_none() && says_killed {
            emit(
                n,
                Rule::Kill,
                "`end` row noting `killed`, but no `kill` row came before it".into(),
            );
        }
        self.m.ended = true;
        self.not_too_late(n, rec, emit);
        if rec.peer != Peers::None || rec.msg_clock.is_some() {
            emit(
                n,
                Rule::EmptyColumns,
                "`end` row with a peer or msg_clock".into(),
            );
        }
        if rec.clock != self.clock {
            emit(
                n,
                Rule::End,
                format!("end clock {}, expected {}", rec.clock, self.clock),
            );
        }
        if u64::from(rec.queue) != self.m.stats.unprocessed {
            emit(
                n,
                Rule::End,
                format!(
                    "end counts {} leftovers, {} were logged",
                    rec.queue, self.m.stats.unprocessed
                ),
            );
        }
        lamport_core::end_note::named_lost(&rec.note, self.machines, self.id, |p, _| {
            self.m.lost_named.push(p)
        });
        match note::parse(&rec.note, self.machines, self.id) {
            Ok(c) => self.m.claims = Some(c),
            Err(e) => emit(n, Rule::Note, format!("end note: {e}")),
        }
        self.m.end_at = Some(rec.unix_ns);
        self.m.end_line = n;
        self.m.stats.end_note = Some(rec.note.to_string());
    }

    /// A machine stops by the run's end plus the lag limit (late by at most the lateness
    /// bound), and ends at most the drain timeout later (late by the bound again): no
    /// `unprocessed` or `end` row comes after that.
    fn not_too_late(&self, n: usize, rec: &Record, emit: &mut impl FnMut(usize, Rule, String)) {
        let Some(max_late) = self.max_late_ns else {
            return;
        };
        let t = Timing::HOST;
        let latest = self
            .header
            .params()
            .end_unix_ns()
            .saturating_add(t.lag_limit_ns)
            .saturating_add(t.drain_timeout_ns)
            .saturating_add(max_late.saturating_mul(2));
        if rec.unix_ns > latest {
            emit(
                n,
                Rule::StopTooLate,
                format!(
                    "`{}` row at {}, after any stop allows: the run's end, the lag limit ({:.3} s), the drain timeout ({:.3} s) and twice the lateness bound ({:.3} s) end at {latest}",
                    rec.kind.name(),
                    rec.unix_ns,
                    t.lag_limit_ns as f64 / 1e9,
                    t.drain_timeout_ns as f64 / 1e9,
                    max_late as f64 / 1e9
                ),
            );
        }
    }

    /// After a `kill` row only `unprocessed` rows and the `end` row come, at its instant;
    /// the `end` notes `killed` and names no one.
    fn after_kill(&self, n: usize, rec: &Record, emit: &mut impl FnMut(usize, Rule, String)) {
        let Some(at) = self.m.killed_at else { return };
        if rec.unix_ns != at {
            emit(
                n,
                Rule::Kill,
                format!(
                    "`{}` row at {}, but the machine was killed at {at}: a kill logs its leftovers and its `end` at once",
                    rec.kind.name(),
                    rec.unix_ns
                ),
            );
        }
        // `killed`, and the `Bye` counts that did not match (a peer's `Bye` may have come
        // before the kill), judged with the other logs.
        let killed = |c: &Claims| c.reason == Some(Reason::Stop(Stop::Killed)) && c.lost.is_empty();
        if rec.kind == Kind::End
            && !note::parse(&rec.note, self.machines, self.id).is_ok_and(|c| killed(&c))
        {
            emit(
                n,
                Rule::Kill,
                format!(
                    "`end` note `{}` after `kill`: a killed machine notes `killed` and names no one",
                    rec.note
                ),
            );
        }
    }

    /// A `fault` row: a live fault the machine took at that instant. Judges the row and
    /// changes the machine's effective plan as the node does ([`lamport_core::live`]).
    fn fault(&mut self, n: usize, rec: &Record, emit: &mut impl FnMut(usize, Rule, String)) {
        if self.version < 3 && self.faults_seen == 0 && !self.in_progress {
            emit(
                n,
                Rule::Version,
                format!(
                    "`fault` row in a v{} log: a log with live faults says v3 on its first line",
                    self.version
                ),
            );
        }
        self.faults_seen += 1;
        if let Some(when) = self.fault_out_of_place(rec) {
            let rule = if self.m.killed_at.is_some() {
                Rule::Kill
            } else {
                Rule::FaultWhen
            };
            emit(n, rule, format!("`fault` row {when}"));
            return;
        }
        // The ticks just before it a whole batch: the machine was behind by more (still
        // catching up), and the ticks due by now may follow the row.
        let behind = self.last_row_tick && self.batch >= MAX_BATCH;
        self.fault_before = Some((rec.unix_ns, behind));
        if rec.peer != Peers::None || rec.msg_clock.is_some() {
            emit(
                n,
                Rule::EmptyColumns,
                "`fault` row with a peer or msg_clock".into(),
            );
        }
        if rec.clock != self.clock {
            emit(
                n,
                Rule::Clock,
                format!(
                    "`fault` row with clock {}, expected {}: a fault does not change the clock",
                    rec.clock, self.clock
                ),
            );
        }
        self.fault_queue(n, rec, emit);
        let live = match Live::parse(&rec.note) {
            Ok(l) if l.to_string() == rec.note.as_str() => l,
            Ok(l) => {
                emit(
                    n,
                    Rule::FaultNote,
                    format!("fault note `{}`: the node writes `{l}`", rec.note),
                );
                l
            }
            Err(e) => {
                emit(
                    n,
                    Rule::FaultNote,
                    format!("fault note `{}`: {e}", rec.note),
                );
                return;
            }
        };
        if let Live::Partition(a, b) = &live
            && let Some(m) = a.ids().chain(b.ids()).find(|&m| m >= self.machines)
        {
            emit(
                n,
                Rule::FaultNote,
                format!(
                    "fault note `{}` names machine {m}, but the run has {} machines",
                    rec.note, self.machines
                ),
            );
            return;
        }
        let at = rec.unix_ns.saturating_sub(self.header.start_unix_ns);
        if let Some(why) = self.refusal(&live) {
            emit(
                n,
                Rule::FaultState,
                format!("`{live}` at a machine that could not take it: {why}"),
            );
            return;
        }
        self.take(&live, at, rec.unix_ns);
        if live == Live::Kill {
            self.owed_at_kill(n, rec.unix_ns, behind, emit);
        }
    }

    /// A kill at `t` comes after every tick due before `t` outside the pauses (the ticks
    /// due by a fault's instant come first); when the machine was a whole batch behind,
    /// after every one due more than the lateness bound before it.
    fn owed_at_kill(
        &self,
        n: usize,
        t: u64,
        behind: bool,
        emit: &mut impl FnMut(usize, Rule, String),
    ) {
        let by = match (behind, self.max_late_ns) {
            (false, _) => t.saturating_sub(1),
            (true, Some(max_late)) => t.saturating_sub(max_late).saturating_sub(1),
            (true, None) => return,
        };
        let owed = self.deadlines.due_by(by);
        let ticks = self.m.stats.ticks;
        if ticks < owed {
            let secs = |x: u64| x.saturating_sub(self.header.start_unix_ns) as f64 / 1e9;
            emit(
                n,
                Rule::DueBeforeFault,
                format!(
                    "`kill` at {:.3} s after {ticks} ticks, but {owed} deadlines {} were owed: a machine takes every tick due by a fault's instant first",
                    secs(t),
                    if behind {
                        format!(
                            "more than the lateness bound before it (by {:.3} s)",
                            secs(by)
                        )
                    } else {
                        "before it".to_string()
                    }
                ),
            );
        }
    }

    /// Where a `fault` row cannot be: before `start`, after the machine stopped ticking or
    /// was killed, at or after the run's end (the node refuses a fault then).
    fn fault_out_of_place(&self, rec: &Record) -> Option<&'static str> {
        let run_end = self
            .header
            .start_unix_ns
            .saturating_add(self.header.secs.saturating_mul(1_000_000_000));
        match self.phase {
            Part::BeforeStart => Some("before `start`"),
            Part::Leftovers | Part::Ended => Some("after the machine stopped ticking"),
            Part::Ticking if self.m.killed_at.is_some() => Some("after `kill`"),
            Part::Ticking if rec.unix_ns >= run_end => {
                Some("at or after the run's end, when the machine stops ticking")
            }
            Part::Ticking => None,
        }
    }

    /// The queue a `fault` row logs: at most `queue_cap`, and no shorter than the last
    /// tick left it (only a tick takes a message). The next tick takes one if it holds any.
    fn fault_queue(&mut self, n: usize, rec: &Record, emit: &mut impl FnMut(usize, Rule, String)) {
        let cap = self.header.queue_cap;
        if rec.queue > cap {
            emit(
                n,
                Rule::QueueCap,
                format!(
                    "a `fault` row with {} messages waiting, but queue_cap={cap} holds at most {cap}",
                    rec.queue
                ),
            );
        }
        if let Some(q) = self.last_queue.filter(|&q| rec.queue < q) {
            emit(
                n,
                Rule::TickTakesOne,
                format!(
                    "queue {} at a `fault` row after a tick that left {q}: only a tick takes a message",
                    rec.queue
                ),
            );
        }
        self.last_queue = Some(rec.queue);
        self.must_recv = rec.queue > 0;
        let recvs = self.m.recv_rows.len();
        self.m.fault_rows.push((rec.unix_ns, rec.queue, recvs));
    }

    /// Why the machine could not take `live` now, as [`lamport_core::node::Node::control`]
    /// refuses it (the one definition, [`lamport_core::faults::Plan::refuse_live`]).
    fn refusal(&self, live: &Live) -> Option<lamport_core::live::Refusal> {
        let run_ns = self.header.secs.saturating_mul(1_000_000_000);
        self.m.plan.refuse_live(self.id, live, run_ns)
    }

    /// Changes the effective plan as the node does when it takes `live` at offset `at`
    /// (instant `t`), and makes the deadlines again from it.
    fn take(&mut self, live: &Live, at: u64, t: u64) {
        let me = self.id;
        // A deadline ticked at this very instant, before the pause, stays ticked.
        let at = match live {
            Live::Pause => self.last_deadline.map_or(at, |d| at.max(d + 1)),
            _ => at,
        };
        self.m.plan.take_live(me, at, live);
        match live {
            Live::Delay { delay_ns, .. } => self.m.delays.push((t, *delay_ns)),
            Live::Kill => self.m.killed_at = Some(t),
            _ => {}
        }
        self.deadlines = self
            .m
            .plan
            .deadlines(me, self.schedule, self.header.start_unix_ns);
        self.m.stats.ticks_due = self.deadlines.total();
    }

    /// Ticks the replaying model as the logged row says and compares (all but the time,
    /// and the queue length of a receive: the replay holds one message at a time).
    fn replay(&mut self, n: usize, rec: &Record, emit: &mut impl FnMut(usize, Rule, String)) {
        let Some(model) = self.replay.as_mut() else {
            return;
        };
        if let (Kind::Recv, Peers::One(sender), Some(clock)) = (rec.kind, rec.peer, rec.msg_clock) {
            let _ = model.deliver(Msg { sender, clock });
        }
        let mut got: Option<Record> = None;
        let mut log = |r: &Record| got = Some(r.clone());
        // A replay sends nowhere.
        match model.tick(
            lamport_core::UnixNanos(rec.unix_ns),
            &mut log,
            &mut lamport_core::Discard,
        ) {
            Ok(_) => {}
            Err(e) => match e {},
        }
        let Some(want) = got else { return };
        let same = want.kind == rec.kind
            && want.clock == rec.clock
            && want.peer == rec.peer
            && want.msg_clock == rec.msg_clock
            && (rec.kind == Kind::Recv || want.queue == rec.queue);
        if !same {
            emit(
                n,
                Rule::Replay,
                format!(
                    "the model (seed {}, machine {}) would have written `{}` here",
                    model.params().seed,
                    self.id,
                    want.to_string().trim_end()
                ),
            );
            self.replay = None;
        }
    }

    /// Closes the file: the rules that need all its rows. Returns what the rows said.
    pub fn finish(mut self, emit: &mut impl FnMut(usize, Rule, String)) -> Testimony {
        if !self.started {
            emit(4, Rule::Start, "no `start` row".into());
        }
        if self.version == 3 && self.faults_seen == 0 && !self.in_progress {
            emit(
                1,
                Rule::Version,
                "a v3 log without any `fault` row: a log without live faults is v1 or v2".into(),
            );
        }
        if self.m.killed_at.is_some() && !self.m.ended && !self.in_progress {
            emit(
                0,
                Rule::Kill,
                "a `kill` row without its `end` row: a kill logs its leftovers and its `end` at once"
                    .into(),
            );
        }
        self.m.stats.final_clock = self.clock;
        self.m.stats.ticks_due = self.deadlines.total();
        self.m.next_deadline = self
            .schedule
            .deadline(self.deadlines.at_or_after(self.next_k));
        self.m.stats.ticks_due_by_end = match self.m.stats.end_note.as_deref() {
            Some("time up") | None => self.m.stats.ticks_due,
            Some(_) => self.deadlines.due_by(self.last_time),
        };
        let s = &self.m.stats;
        let time_up = self.m.claims.as_ref().is_some_and(Claims::time_up);
        if time_up && s.ticks != s.ticks_due {
            emit(
                0,
                Rule::TimeUpTicks,
                format!(
                    "{} ticks, expected one per deadline: {}",
                    s.ticks, s.ticks_due
                ),
            );
        }
        // A machine that crashed (no `end` row) lost its queue with it.
        if let Some(q) = self
            .last_queue
            .filter(|&q| self.m.ended && u64::from(q) > s.unprocessed)
        {
            emit(
                self.m.end_line,
                Rule::QueueLeftovers,
                format!(
                    "{q} messages waited after the last tick, but {} leftovers were logged: every queued message is an `unprocessed` row",
                    s.unprocessed
                ),
            );
        }
        if let (Some(c), Some(at)) = (self.m.claims.clone(), self.m.end_at) {
            self.judge_reason(&c, at, emit);
        }
        self.m
    }

    /// Judges the reason an `end` note gives against this machine's own rows: the instant
    /// it may come, the figures it states, the deadlines ticked before it.
    fn judge_reason(&self, c: &Claims, at: u64, emit: &mut impl FnMut(usize, Rule, String)) {
        let n = self.m.end_line;
        let s = &self.m.stats;
        let h = &self.header;
        let run_end = h.params().end_unix_ns();
        let secs = |t: u64| t.saturating_sub(h.start_unix_ns) as f64 / 1e9;
        let timing = Timing::HOST;
        match c.reason {
            // Judged with the other logs: before the run's end only when a peer that
            // stopped early said `Bye` after this machine's last deadline.
            Some(Reason::Stop(Stop::TimeUp)) => return,
            Some(Reason::Stop(Stop::QueueFull(cap))) => {
                if cap != h.queue_cap {
                    emit(
                        n,
                        Rule::QueueFull,
                        format!("`queue full (cap {cap})`, but queue_cap={}", h.queue_cap),
                    );
                } else if s.unprocessed <= u64::from(cap) {
                    emit(
                        n,
                        Rule::QueueFull,
                        format!(
                            "`queue full (cap {cap})` with {} leftovers: a full queue leaves at least {} (its {cap} messages and the one that did not fit)",
                            s.unprocessed,
                            u64::from(cap) + 1
                        ),
                    );
                }
            }
            Some(Reason::FellBehind {
                rate,
                speedup_milli,
                left,
            }) => {
                let really = s.ticks_due.saturating_sub(s.ticks);
                if rate != h.rate || speedup_milli != h.speedup_milli || left != really {
                    emit(
                        n,
                        Rule::FellBehind,
                        format!(
                            "`could not keep up at rate {rate} × speedup {} ({left} ticks left)`, but the header says rate {} × speedup {} and {really} ticks were left",
                            speedup_milli as f64 / 1e3,
                            h.rate,
                            h.speedup_milli as f64 / 1e3,
                        ),
                    );
                }
                let lag = run_end.saturating_add(timing.lag_limit_ns);
                if at < lag {
                    emit(
                        n,
                        Rule::FellBehind,
                        format!(
                            "`could not keep up` at {:.3} s: a machine gives up only {:.3} s after the run's end",
                            secs(at),
                            timing.lag_limit_ns as f64 / 1e9
                        ),
                    );
                }
                return;
            }
            _ => {}
        }
        // Stopped early: it ticked every deadline until it stopped (late by at most the
        // lateness bound), and it stopped at most the drain timeout before its `end`.
        let Some(max_late) = self.max_late_ns else {
            return;
        };
        let by = at.saturating_sub(max_late.saturating_add(timing.drain_timeout_ns));
        let owed = self.deadlines.due_by(by);
        if s.ticks < owed {
            emit(
                n,
                Rule::OwedTicks,
                format!(
                    "ended at {:.3} s after {} ticks, but {owed} deadlines before {:.3} s were owed (its stop comes at most {:.3} s, the drain timeout, before its `end`, and a tick at most {:.3} s, the lateness bound, after its deadline)",
                    secs(at),
                    s.ticks,
                    secs(by),
                    timing.drain_timeout_ns as f64 / 1e9,
                    max_late as f64 / 1e9
                ),
            );
        }
    }
}
