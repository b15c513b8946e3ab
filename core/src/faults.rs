//! Faults as experiments: message delay with jitter, paused machines, partitions.
//!
//! A [`Plan`] is what a run's flags ask for; it is written in every log header (the line
//! `# faults=...`, see [`Plan`]'s `Display`) and read back by the checker. All three act at
//! the receiver, in [`crate::node::Node`], so that the simulator and both hosts run the one
//! definition:
//!
//! - **Delay** `D[:J]`: a message that arrives at `t` enters its receiver's queue at
//!   `t + D + j`, `j` uniform in `0..=J` drawn from the receiver's own RNG (seeded from the
//!   run seed and its id). Per sender, a message never enters before an earlier one: its
//!   instant is at least that of every message still held from the same sender (exactly-once
//!   FIFO per ordered pair holds).
//! - **Pause** `M@T+D`: machine `M` does no tick whose deadline lies in `[T, T+D)` seconds
//!   after the start. Those ticks are **skipped**, not caught up: a process stalled by its
//!   OS would catch up in a burst when it resumes, which hides what the pause did; a skipped
//!   tick leaves the gap in the log for the eye and the checker. Its queue keeps filling.
//! - **Partition** `A,B/C@T+D`: a message between the two sides that would enter its
//!   receiver's queue in `[T, T+D)` is held and enters at `T+D`, in order: held, never
//!   dropped. So no message sent across inside the window is received inside it (messages
//!   already queued before `T` are still taken). Machines on neither side are not cut.
//!
//! Every instant here is an offset from the run's start in nanoseconds, as the flags give
//! seconds (pause, partition) and milliseconds (delay) with up to three decimals.

use crate::{
    Error, MachineId, UnixNanos,
    live::{Live, Refusal},
    params::{parse_milli_u64, write_milli},
    record::{Kind, Record},
    wire::Msg,
};
use core::fmt;
use rand_core::Rng as _;
use rand_xorshift::XorShiftRng;

/// Most pauses and partitions one run's flags may plan, together.
pub const MAX_PLANNED: usize = 8;
/// Most windows one machine's plan holds: the planned ones and those opened live
/// ([`crate::live`]) at this machine.
pub const MAX_WINDOWS: usize = 64;
/// Most ranges (`3` or `0-7`) on one side of a partition.
pub const MAX_RANGES: usize = 8;

/// A span of the run: `[from_ns, from_ns + len_ns)` after its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Offset of the window's start from the run's start.
    pub from_ns: u64,
    /// Its length.
    pub len_ns: u64,
}

impl Window {
    /// The length of a window still open: a live pause not yet resumed, a live partition not
    /// yet healed ([`crate::live`]). It ends at the end of time until it is closed.
    pub const OPEN: u64 = u64::MAX;

    /// A window opened at `from_ns` and not closed yet.
    pub const fn open(from_ns: u64) -> Self {
        Self {
            from_ns,
            len_ns: Self::OPEN,
        }
    }
    /// True while the window is open.
    pub const fn is_open(&self) -> bool {
        self.len_ns == Self::OPEN
    }
    /// The window as known at offset `now`: an open one ends just after `now` (what lies
    /// later is not decided yet), a closed one as it is.
    pub const fn as_of(&self, now: u64) -> Self {
        if self.is_open() {
            Self {
                from_ns: self.from_ns,
                len_ns: now.saturating_add(1).saturating_sub(self.from_ns),
            }
        } else {
            *self
        }
    }
    /// The offset just after the window.
    pub const fn to_ns(&self) -> u64 {
        self.from_ns.saturating_add(self.len_ns)
    }
    /// True when `offset` lies inside.
    pub const fn contains(&self, offset: u64) -> bool {
        self.from_ns <= offset && offset < self.to_ns()
    }
}

/// One side of a partition: machine ids as inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Side(heapless::Vec<(MachineId, MachineId), MAX_RANGES>);

impl Side {
    /// True when machine `m` is on this side.
    pub fn has(&self, m: MachineId) -> bool {
        self.0.iter().any(|&(a, b)| a <= m && m <= b)
    }
    /// Every machine on this side, in the order named.
    pub fn ids(&self) -> impl Iterator<Item = MachineId> + '_ {
        self.0.iter().flat_map(|&(a, b)| a..=b)
    }
    /// The largest id named.
    fn max(&self) -> MachineId {
        self.0.iter().map(|r| r.1).max().unwrap_or(0)
    }
    fn parse(s: &str) -> Result<Self, Error> {
        let mut side = Self::default();
        for item in s.split([',', '+']) {
            let (a, b) = item.split_once('-').unwrap_or((item, item));
            let (a, b) = (id(a)?, id(b)?);
            if a > b {
                return Err(Error::Fault("a range of machines must go up, like 0-3"));
            }
            side.0
                .push((a, b))
                .map_err(|_| Error::Fault("too many ranges on one side of a partition (8)"))?;
        }
        Ok(side)
    }

    /// The two sides of a partition, which share no machine.
    pub(crate) fn parse_pair(a: &str, b: &str) -> Result<(Self, Self), Error> {
        let (a, b) = (Self::parse(a)?, Self::parse(b)?);
        if a.ids().any(|m| b.has(m)) {
            return Err(Error::Fault(
                "a machine cannot be on both sides of a partition",
            ));
        }
        Ok((a, b))
    }

    /// Writes the side with its ranges joined by `sep` (`,` in the flags, `+` in a log's
    /// `fault` row, whose note has no commas).
    pub fn write_with(&self, f: &mut fmt::Formatter<'_>, sep: &str) -> fmt::Result {
        for (i, &(a, b)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { sep };
            if a == b {
                write!(f, "{sep}{a}")?;
            } else {
                write!(f, "{sep}{a}-{b}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_with(f, ",")
    }
}

/// What happens in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// This machine does no tick.
    Pause(MachineId),
    /// Messages between the two sides are held.
    Partition(Side, Side),
}

/// A pause or a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What.
    pub what: FaultKind,
    /// When.
    pub window: Window,
}

impl Fault {
    /// True when this is a partition with `a` on one side and `b` on the other.
    pub fn separates(&self, a: MachineId, b: MachineId) -> bool {
        match &self.what {
            FaultKind::Partition(x, y) => (x.has(a) && y.has(b)) || (y.has(a) && x.has(b)),
            FaultKind::Pause(_) => false,
        }
    }
}

impl fmt::Display for Fault {
    /// Its item of the header line: `pause=1@10+5`, `partition=0-1/2@20+10`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.what {
            FaultKind::Pause(m) => write!(f, "pause={m}@")?,
            FaultKind::Partition(a, b) => write!(f, "partition={a}/{b}@")?,
        }
        write_milli(f, self.window.from_ns / 1_000_000)?;
        f.write_str("+")?;
        write_milli(f, self.window.len_ns / 1_000_000)
    }
}

/// The faults of a run. Empty by default (the perfect network of the plain model).
///
/// Written as one header line, `# faults=` and then space-separated items, in the flags'
/// own syntax: `delay_ms=D:J`, `pause=M@T+D`, `partition=A,B/C@T+D` (e.g. `# faults=
/// delay_ms=40:20 pause=1@10+5 partition=0-1/2@20+10`, without the space after `=`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Every message waits this long at its receiver before it enters the queue.
    pub delay_ns: u64,
    /// Plus a uniform jitter up to this.
    pub jitter_ns: u64,
    /// Pauses and partitions, in the order given.
    pub windows: heapless::Vec<Fault, MAX_WINDOWS>,
}

/// A message waiting at its receiver to enter the queue at `release`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// When it enters the queue.
    pub release: UnixNanos,
    /// When its delay is over (its arrival plus the delay and jitter), before any
    /// partition: a live partition opened or healed later moves `release` from it.
    pub due: UnixNanos,
    /// The message.
    pub msg: Msg,
}

fn id(s: &str) -> Result<MachineId, Error> {
    s.trim()
        .parse()
        .map_err(|_| Error::Fault("a machine id must be a number like 2"))
}

/// `T+D` in seconds.
fn window(s: &str) -> Result<Window, Error> {
    const BAD: &str = "a window is T+D in seconds, like 10+5 or 2.5+0.5";
    let (t, d) = s.split_once('+').ok_or(Error::Fault(BAD))?;
    let from = parse_milli_u64(t).ok_or(Error::Fault(BAD))?;
    let len = parse_milli_u64(d).ok_or(Error::Fault(BAD))?;
    if len == 0 {
        return Err(Error::Fault("a window must last more than 0 s"));
    }
    Ok(Window {
        from_ns: from.checked_mul(1_000_000).ok_or(Error::Fault(BAD))?,
        len_ns: len.checked_mul(1_000_000).ok_or(Error::Fault(BAD))?,
    })
}

impl Plan {
    /// No faults.
    pub const NONE: Self = Self {
        delay_ns: 0,
        jitter_ns: 0,
        windows: heapless::Vec::new(),
    };

    /// True when the run has no faults.
    pub fn is_empty(&self) -> bool {
        self.delay_ns == 0 && self.jitter_ns == 0 && self.windows.is_empty()
    }

    /// Sets the delay from `--delay-ms D[:J]`.
    pub fn set_delay(&mut self, s: &str) -> Result<(), Error> {
        const BAD: &str = "--delay-ms is D or D:J in milliseconds, like 40 or 40:20";
        let (d, j) = s.split_once(':').unwrap_or((s, "0"));
        let us = |t: &str| parse_milli_u64(t).and_then(|m| m.checked_mul(1_000));
        let (d, j) = (us(d), us(j));
        (self.delay_ns, self.jitter_ns) = d.zip(j).ok_or(Error::Fault(BAD))?;
        Ok(())
    }

    fn push(&mut self, f: Fault) -> Result<(), Error> {
        const TOO_MANY: &str = "at most 8 pauses and partitions in one run";
        if self.windows.len() >= MAX_PLANNED {
            return Err(Error::Fault(TOO_MANY));
        }
        self.windows.push(f).map_err(|_| Error::Fault(TOO_MANY))
    }

    /// Adds `--pause M@T+D`.
    pub fn add_pause(&mut self, s: &str) -> Result<(), Error> {
        let (m, w) = s
            .split_once('@')
            .ok_or(Error::Fault("--pause is M@T+D, like 1@10+5"))?;
        self.push(Fault {
            what: FaultKind::Pause(id(m)?),
            window: window(w)?,
        })
    }

    /// Adds `--partition A,B/C@T+D`.
    pub fn add_partition(&mut self, s: &str) -> Result<(), Error> {
        const BAD: &str = "--partition is A,B/C@T+D, like 0,1/2@20+10";
        let (sides, w) = s.split_once('@').ok_or(Error::Fault(BAD))?;
        let (a, b) = sides.split_once('/').ok_or(Error::Fault(BAD))?;
        let (a, b) = Side::parse_pair(a, b)?;
        self.push(Fault {
            what: FaultKind::Partition(a, b),
            window: window(w)?,
        })
    }

    /// Checks the plan against a run of `machines` machines lasting `secs` seconds.
    pub fn validate(&self, machines: u16, secs: u64) -> Result<(), Error> {
        let run = secs.saturating_mul(1_000_000_000);
        if self.delay_ns.saturating_add(self.jitter_ns) > run {
            return Err(Error::Fault("--delay-ms: longer than the run"));
        }
        for f in &self.windows {
            let top = match &f.what {
                FaultKind::Pause(m) => *m,
                FaultKind::Partition(a, b) => a.max().max(b.max()),
            };
            if top >= machines {
                return Err(Error::Fault(
                    "a fault names a machine the run does not have",
                ));
            }
            if f.window.from_ns >= run {
                return Err(Error::Fault("a fault window starts after the run's end"));
            }
        }
        Ok(())
    }

    /// Parses the header line `# faults=...` (see [`Plan`]).
    pub fn parse_line(line: &str) -> Result<Self, Error> {
        let body = line
            .trim_end()
            .strip_prefix("# faults=")
            .ok_or(Error::Field("faults"))?;
        let mut plan = Self::default();
        for item in body.split_ascii_whitespace() {
            let (k, v) = item.split_once('=').ok_or(Error::Field("faults"))?;
            match k {
                "delay_ms" => plan.set_delay(v)?,
                "pause" => plan.add_pause(v)?,
                "partition" => plan.add_partition(v)?,
                _ => return Err(Error::Field("faults")),
            }
        }
        Ok(plan)
    }

    /// The pauses of machine `m`.
    pub fn pauses(&self, m: MachineId) -> impl Iterator<Item = Window> + '_ {
        self.windows.iter().filter_map(move |f| match f.what {
            FaultKind::Pause(p) if p == m => Some(f.window),
            _ => None,
        })
    }

    /// The windows in which messages between `a` and `b` are held.
    pub fn cuts(&self, a: MachineId, b: MachineId) -> impl Iterator<Item = Window> + '_ {
        self.windows
            .iter()
            .filter(move |f| f.separates(a, b))
            .map(|f| f.window)
    }

    /// The pauses of `m`, sorted, those that overlap or touch joined.
    pub fn merged_pauses(&self, m: MachineId) -> heapless::Vec<Window, MAX_WINDOWS> {
        self.merged_pauses_as_of(m, u64::MAX)
    }

    /// [`Plan::merged_pauses`] as known at offset `now` ([`Window::as_of`]).
    fn merged_pauses_as_of(&self, m: MachineId, now: u64) -> heapless::Vec<Window, MAX_WINDOWS> {
        let mut v: heapless::Vec<Window, MAX_WINDOWS> =
            self.pauses(m).map(|w| w.as_of(now)).collect();
        v.sort_unstable_by_key(|w| w.from_ns);
        let mut out: heapless::Vec<Window, MAX_WINDOWS> = heapless::Vec::new();
        for w in v {
            match out.last_mut() {
                Some(last) if w.from_ns <= last.to_ns() => {
                    let to = last.to_ns().max(w.to_ns());
                    last.len_ns = to - last.from_ns;
                }
                // At most as many as were collected: the push cannot fail.
                _ => out.push(w).unwrap_or(()),
            }
        }
        out
    }

    /// The deadlines machine `m` ticks at: those of its `schedule` (run start `start`)
    /// outside its pauses (a pause still open lasts to the end of the run).
    pub fn deadlines(&self, m: MachineId, schedule: crate::Schedule, start: u64) -> Deadlines {
        Deadlines {
            schedule,
            start,
            pauses: self.merged_pauses(m),
            next: 0,
        }
    }

    /// [`Plan::deadlines`] as known at offset `now`: a pause still open ends just after
    /// `now`, so that only deadlines it has already reached are skipped.
    pub fn deadlines_as_of(
        &self,
        m: MachineId,
        schedule: crate::Schedule,
        start: u64,
        now: u64,
    ) -> Deadlines {
        Deadlines {
            schedule,
            start,
            pauses: self.merged_pauses_as_of(m, now),
            next: 0,
        }
    }

    /// The earliest offset at or after `offset` at which a message from `from` may enter
    /// `to`'s queue: past every partition window between them that holds it.
    pub fn heal(&self, from: MachineId, to: MachineId, offset: u64) -> u64 {
        let mut at = offset;
        while let Some(end) = self
            .cuts(from, to)
            .filter(|w| w.contains(at))
            .map(|w| w.to_ns())
            .max()
        {
            at = end;
        }
        at
    }

    /// Why machine `me` cannot take live fault `live` with this plan, in a run `run_ns`
    /// long (`None`: it can). [`crate::node::Node::control`] asks it before it writes the
    /// `fault` row; a reader of logs may ask it of a row (a row it refuses was not the
    /// node's).
    pub fn refuse_live(&self, me: MachineId, live: &Live, run_ns: u64) -> Option<Refusal> {
        let my_pause = |f: &Fault| f.what == FaultKind::Pause(me) && f.window.is_open();
        let partition =
            |f: &Fault| matches!(f.what, FaultKind::Partition(..)) && f.window.is_open();
        let full = self.windows.is_full();
        match live {
            Live::Pause if self.windows.iter().any(my_pause) => Some(Refusal::Paused),
            Live::Pause | Live::Partition(..) if full => Some(Refusal::Full),
            Live::Resume if !self.windows.iter().any(my_pause) => Some(Refusal::NotPaused),
            Live::Partition(a, b) if !a.has(me) && !b.has(me) => Some(Refusal::NotOnASide),
            Live::Heal if !self.windows.iter().any(partition) => Some(Refusal::NoPartition),
            Live::Delay {
                delay_ns,
                jitter_ns,
            } if delay_ns.saturating_add(*jitter_ns) > run_ns => Some(Refusal::TooLong),
            _ => None,
        }
    }

    /// What live fault `live`, taken by machine `me` at offset `at` after the start, does
    /// to its plan from that instant ([`crate::live`]): `pause` opens a pause of `me`
    /// ([`Window::open`]) that `resume` closes at its instant; `partition` opens a
    /// partition window that `heal` closes, with every other one open; `delay` sets the
    /// delay; `kill` changes nothing (the machine ends). The one definition of a live fault's
    /// effect on a plan: the node takes it so, and readers of logs fold each machine's
    /// `fault` rows into its header's plan with it ([`Plan::take_row`]). A window that does
    /// not fit (more than [`MAX_WINDOWS`], which the node refuses) is left out.
    pub fn take_live(&mut self, me: MachineId, at: u64, live: &Live) {
        let close = |f: &mut Fault| f.window.len_ns = at.saturating_sub(f.window.from_ns);
        let opened = |what| Fault {
            what,
            window: Window::open(at),
        };
        match live {
            Live::Pause => self
                .windows
                .push(opened(FaultKind::Pause(me)))
                .unwrap_or(()),
            Live::Resume => self
                .windows
                .iter_mut()
                .filter(|f| f.what == FaultKind::Pause(me) && f.window.is_open())
                .for_each(close),
            Live::Partition(a, b) => {
                let what = FaultKind::Partition(a.clone(), b.clone());
                self.windows.push(opened(what)).unwrap_or(());
            }
            Live::Heal => self
                .windows
                .iter_mut()
                .filter(|f| matches!(f.what, FaultKind::Partition(..)) && f.window.is_open())
                .for_each(close),
            Live::Delay {
                delay_ns,
                jitter_ns,
            } => (self.delay_ns, self.jitter_ns) = (*delay_ns, *jitter_ns),
            Live::Kill => {}
        }
    }

    /// Folds one row of machine `rec.machine`'s log (run start `start_unix_ns`) into its
    /// plan: a `fault` row's fault is taken at the row's instant ([`Plan::take_live`]) and
    /// returned; any other row changes nothing (`None`). A machine's plan at any row of its
    /// log is its header's plan (`# faults=`) with every `fault` row before folded in; a
    /// window still open at the end lasts to the end of the run. An `Err` names a note that
    /// is not a live fault.
    pub fn take_row(&mut self, start_unix_ns: u64, rec: &Record) -> Result<Option<Live>, Error> {
        if rec.kind != Kind::Fault {
            return Ok(None);
        }
        let live = Live::parse(&rec.note)?;
        self.take_live(
            rec.machine,
            rec.unix_ns.saturating_sub(start_unix_ns),
            &live,
        );
        Ok(Some(live))
    }

    /// True when a message may have to wait at its receiver.
    pub fn holds(&self) -> bool {
        self.delay_ns != 0
            || self.jitter_ns != 0
            || self
                .windows
                .iter()
                .any(|f| matches!(f.what, FaultKind::Partition(..)))
    }
}

impl fmt::Display for Plan {
    /// The items of the header line, without `# faults=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if self.delay_ns != 0 || self.jitter_ns != 0 {
            f.write_str("delay_ms=")?;
            write_milli(f, self.delay_ns / 1_000)?;
            if self.jitter_ns != 0 {
                f.write_str(":")?;
                write_milli(f, self.jitter_ns / 1_000)?;
            }
            sep = " ";
        }
        for w in &self.windows {
            write!(f, "{sep}{w}")?;
            sep = " ";
        }
        Ok(())
    }
}

/// The deadlines one machine ticks at, in order: its schedule's, less those inside its
/// pauses (made by [`Plan::deadlines`]). The one definition of which deadlines a paused
/// machine owes: the node skips by it, the checker, `lab report` and `lab view` count and
/// time ticks by it. As an iterator: each deadline's index in the schedule, and its instant.
#[derive(Debug, Clone)]
pub struct Deadlines {
    schedule: crate::Schedule,
    start: u64,
    /// Sorted, those that overlap or touch joined.
    pauses: heapless::Vec<Window, MAX_WINDOWS>,
    next: u64,
}

impl Deadlines {
    /// True when the machine has a pause.
    pub fn has_pauses(&self) -> bool {
        !self.pauses.is_empty()
    }

    /// The index of the first deadline at or after index `k` that is not in a pause (the
    /// schedule's total when none is left).
    pub fn at_or_after(&self, mut k: u64) -> u64 {
        let s = &self.schedule;
        while let Some(d) = s.deadline(k) {
            let offset = d.saturating_sub(self.start);
            match self.pauses.iter().find(|w| w.contains(offset)) {
                // Past the window: its end is after `d`, so the index grows.
                Some(w) => k = s.due_by(self.start.saturating_add(w.to_ns()) - 1),
                None => return k,
            }
        }
        k.min(s.total())
    }

    /// How many of them lie at or before `until`.
    pub fn due_by(&self, until: u64) -> u64 {
        let s = &self.schedule;
        let mut n = s.due_by(until);
        for w in &self.pauses {
            let a = self.start.saturating_add(w.from_ns);
            let b = self.start.saturating_add(w.to_ns());
            if a > until {
                continue;
            }
            let lo = if a == 0 { 0 } else { s.due_by(a - 1) };
            let hi = s.due_by((b - 1).min(until));
            n -= hi - lo;
        }
        n
    }

    /// How many there are in the whole run.
    pub fn total(&self) -> u64 {
        self.due_by(u64::MAX)
    }
}

impl Iterator for Deadlines {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<Self::Item> {
        let k = self.at_or_after(self.next);
        let d = self.schedule.deadline(k)?;
        self.next = k + 1;
        Some((k, d))
    }
}

/// Where a node keeps its faults: the plan, the messages held at its receiver side, and the
/// RNG of the jitter. [`NoFaults`] on a microcontroller (nothing is held: the plain model),
/// [`HostFaults`] on a host (feature `alloc`).
pub trait Faults {
    /// False for a type that can hold no fault: the node then skips every fault step at
    /// compile time (the plain model pays nothing for faults).
    const ACTIVE: bool = true;
    /// The plan.
    fn plan(&self) -> &Plan;
    /// The held messages, in the order they will enter the queue.
    fn held(&self) -> &[Held];
    /// Holds `h` after every held message whose release is not later; hands it back when
    /// there is no room.
    fn hold(&mut self, h: Held) -> Result<(), Held>;
    /// Takes the first held message.
    fn pop(&mut self) -> Option<Held>;
    /// A jitter uniform in `0..=max`.
    fn jitter(&mut self, max: u64) -> u64;
    /// The plan to change while the run runs ([`crate::live`]), or `None` for a type that
    /// holds no fault.
    fn plan_mut(&mut self) -> Option<&mut Plan> {
        None
    }
    /// Times every held message again after the plan changed (a live partition opened or
    /// healed): each enters at its `due` instant or past every window that now holds it,
    /// never before an earlier message from its sender.
    fn retime(&mut self, _me: MachineId, _start: UnixNanos) {}
}

/// No faults and no room for them: the plain model (a node with a non-empty plan cannot be
/// made with it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoFaults;

static NO_PLAN: Plan = Plan::NONE;

impl Faults for NoFaults {
    const ACTIVE: bool = false;
    fn plan(&self) -> &Plan {
        &NO_PLAN
    }
    fn held(&self) -> &[Held] {
        &[]
    }
    fn hold(&mut self, h: Held) -> Result<(), Held> {
        Err(h)
    }
    fn pop(&mut self) -> Option<Held> {
        None
    }
    fn jitter(&mut self, _: u64) -> u64 {
        0
    }
}

/// The RNG of machine `id`'s jitter: from the run seed and the id, apart from its rolls.
pub fn jitter_rng(seed: u64, id: MachineId) -> XorShiftRng {
    crate::rng::machine_rng(seed ^ 0x6a69_7474_6572_0000, id)
}

/// A uniform draw in `0..=max`, by rejection (no bias). Not [`crate::rng::below`]: that one
/// draws 32-bit words and rejects the lowest values, this one 64-bit words (two of the
/// generator's) and the highest, so the same stream gives other draws; either calling the
/// other would change every log of a run with delay jitter, or every roll.
pub fn uniform(rng: &mut XorShiftRng, max: u64) -> u64 {
    if max == u64::MAX {
        return rng.next_u64();
    }
    let n = max + 1;
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let v = rng.next_u64();
        if v < zone {
            return v % n;
        }
    }
}

/// A host's faults: the plan, held messages in a `VecDeque`, the jitter's RNG.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone)]
pub struct HostFaults {
    plan: Plan,
    held: alloc::collections::VecDeque<Held>,
    rng: XorShiftRng,
}

#[cfg(feature = "alloc")]
impl HostFaults {
    /// The faults of machine `id` of a run with this seed.
    pub fn new(plan: Plan, seed: u64, id: MachineId) -> Self {
        Self {
            plan,
            held: alloc::collections::VecDeque::new(),
            rng: jitter_rng(seed, id),
        }
    }
}

#[cfg(feature = "alloc")]
impl Faults for HostFaults {
    fn plan(&self) -> &Plan {
        &self.plan
    }
    fn held(&self) -> &[Held] {
        self.held.as_slices().0
    }
    fn hold(&mut self, h: Held) -> Result<(), Held> {
        let at = self.held.partition_point(|x| x.release <= h.release);
        self.held.insert(at, h);
        self.held.make_contiguous();
        Ok(())
    }
    fn pop(&mut self) -> Option<Held> {
        self.held.pop_front()
    }
    fn jitter(&mut self, max: u64) -> u64 {
        uniform(&mut self.rng, max)
    }
    fn plan_mut(&mut self) -> Option<&mut Plan> {
        Some(&mut self.plan)
    }
    fn retime(&mut self, me: MachineId, start: UnixNanos) {
        let mut last = alloc::collections::BTreeMap::<MachineId, UnixNanos>::new();
        for h in self.held.iter_mut() {
            let at = last.get(&h.msg.sender).map_or(h.due, |&b| h.due.max(b));
            h.release = start.saturating_add(self.plan.heal(h.msg.sender, me, at.since(start)));
            last.insert(h.msg.sender, h.release);
        }
        // Stable: a sender's messages keep their order, and so do ties.
        self.held.make_contiguous().sort_by_key(|h| h.release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn the_header_line_round_trips() {
        let mut p = Plan::default();
        p.set_delay("40:2.5").unwrap();
        p.add_pause("1@10+5").unwrap();
        p.add_partition("0-1,4/2,3@20.25+0.5").unwrap();
        let line = ["# faults=", &p.to_string()].concat();
        assert_eq!(
            line,
            "# faults=delay_ms=40:2.5 pause=1@10+5 partition=0-1,4/2,3@20.25+0.5"
        );
        assert_eq!(Plan::parse_line(&line), Ok(p));
        assert_eq!(Plan::parse_line("# faults="), Ok(Plan::NONE));
        assert!(Plan::parse_line("# faults=wobble=1").is_err());
    }

    #[test]
    fn bad_flags_say_what_is_expected() {
        let mut p = Plan::default();
        for bad in ["", "x", "1:", ":1", "1.2345", "-1"] {
            assert!(p.set_delay(bad).is_err(), "{bad}");
        }
        for bad in ["1", "1@", "1@10", "1@10+0", "x@1+1", "1@-1+2"] {
            assert!(p.add_pause(bad).is_err(), "{bad}");
        }
        for bad in [
            "0/1",
            "0,1@1+1",
            "0/0@1+1",
            "3-1/0@1+1",
            "0-3/2@1+1",
            "/1@1+1",
        ] {
            assert!(p.add_partition(bad).is_err(), "{bad}");
        }
        assert!(p.is_empty());
        p.add_pause("3@1+1").unwrap();
        assert!(p.validate(3, 10).is_err());
        assert!(p.validate(4, 10).is_ok());
        assert!(p.validate(4, 1).is_err(), "starts after the end");
    }

    #[test]
    fn times_read_as_speedups_do() {
        // One parser of thousandths: `.5` is half a second here as `--speedup .5` is half.
        let mut p = Plan::default();
        p.add_pause("1@.5+1").unwrap();
        p.set_delay(".25").unwrap();
        assert_eq!(p.delay_ns, 250_000);
        assert_eq!(std::format!("{p}"), "delay_ms=0.25 pause=1@0.5+1");
    }

    #[test]
    fn pauses_and_cuts_find_their_windows() {
        let mut p = Plan::default();
        p.add_pause("1@1+1").unwrap();
        p.add_pause("1@2+1").unwrap();
        p.add_partition("0/1-2@5+1").unwrap();
        let s = 1_000_000_000;
        let one = p.merged_pauses(1);
        assert_eq!(one.len(), 1, "back-to-back pauses join");
        assert_eq!((one[0].from_ns, one[0].to_ns()), (s, 3 * s));
        assert!(p.merged_pauses(0).is_empty());
        assert_eq!(p.heal(0, 2, 5 * s), 6 * s);
        assert_eq!(p.heal(2, 0, 5 * s + 1), 6 * s);
        assert_eq!(p.heal(1, 2, 5 * s), 5 * s, "same side");
        assert_eq!(p.heal(0, 2, 6 * s), 6 * s);
    }

    #[test]
    fn fault_rows_fold_into_a_machine_s_plan() {
        let s = 1_000_000_000;
        let start = 7 * s;
        let row = |at: u64, note: &str| {
            let mut r = Record::new(UnixNanos(start + at), 1, Kind::Fault, 5, 0);
            r.note = note.try_into().unwrap();
            r
        };
        let mut p = Plan::default();
        p.add_pause("1@1+1").unwrap();
        let planned = p.windows.len();
        for (at, note) in [
            (3 * s, "pause"),
            (4 * s, "resume"),
            (5 * s, "partition 0/1+2"),
            (6 * s, "delay 300:100"),
            (7 * s, "heal"),
            (8 * s, "pause"),
        ] {
            assert!(p.take_row(start, &row(at, note)).unwrap().is_some());
        }
        let other = Record::new(UnixNanos(start), 1, Kind::Internal, 1, 0);
        assert_eq!(p.take_row(start, &other), Ok(None));
        assert!(p.take_row(start, &row(9 * s, "banana")).is_err());
        let live: std::vec::Vec<_> = p.windows[planned..]
            .iter()
            .map(|f| {
                (
                    f.what.clone(),
                    f.window.from_ns,
                    if f.window.is_open() {
                        0
                    } else {
                        f.window.to_ns()
                    },
                )
            })
            .collect();
        let (a, b) = Side::parse_pair("0", "1,2").unwrap();
        assert_eq!(
            live,
            [
                (FaultKind::Pause(1), 3 * s, 4 * s),
                (FaultKind::Partition(a, b), 5 * s, 7 * s),
                (FaultKind::Pause(1), 8 * s, 0),
            ]
        );
        assert_eq!((p.delay_ns, p.jitter_ns), (300_000_000, 100_000_000));
        // The open pause lasts to the end: no deadline from 8 s on, as the node skips them.
        let sched = crate::Schedule::new(start, 2, 1000, 10);
        let d = p.deadlines(1, sched, start);
        assert_eq!(d.total(), sched.total() - 2 * 2 - 2 * 2);
        assert_eq!(
            p.refuse_live(1, &Live::Pause, 10 * s),
            Some(Refusal::Paused)
        );
        assert_eq!(
            p.refuse_live(1, &Live::Heal, 10 * s),
            Some(Refusal::NoPartition)
        );
    }

    #[test]
    fn the_jitter_is_uniform_and_bounded() {
        let mut rng = jitter_rng(7, 1);
        let mut seen = [0u32; 5];
        for _ in 0..10_000 {
            let v = uniform(&mut rng, 4);
            seen[v as usize] += 1;
        }
        assert!(
            seen.iter().all(|&c| (1_800..2_200).contains(&c)),
            "{seen:?}"
        );
    }
}

#[cfg(test)]
mod schedule_tests {
    use super::*;
    use crate::Schedule;
    use proptest::prelude::*;

    proptest! {
        /// Counting the deadlines a paused machine ticks at, by formula, agrees with
        /// walking the schedule one deadline at a time.
        #[test]
        fn deadlines_agree_with_a_walk(
            rate in 1u32..7,
            pauses in proptest::collection::vec((0u64..12_000, 1u64..4_000), 0..4),
            until_ms in 0u64..13_000,
        ) {
            let start = 1_000_000_000u64;
            let s = Schedule::new(start, rate, 1000, 10);
            let mut plan = Plan::default();
            for (t, d) in &pauses {
                plan.add_pause(&std::format!("1@{}.{:03}+{}.{:03}", t / 1000, t % 1000, d / 1000, d % 1000)).unwrap();
            }
            let until = start + until_ms * 1_000_000;
            let paused = |d: u64| plan.pauses(1).any(|w| w.contains(d - start));
            let want = (0..s.total())
                .filter(|&k| { let d = s.deadline(k).unwrap(); d <= until && !paused(d) })
                .count() as u64;
            let (one, zero) = (plan.deadlines(1, s, start), plan.deadlines(0, s, start));
            prop_assert_eq!(one.due_by(until), want);
            prop_assert_eq!(zero.due_by(until), s.due_by(until));
            for k in 0..=s.total() {
                let want = (k..s.total()).find(|&j| !paused(s.deadline(j).unwrap())).unwrap_or(s.total());
                prop_assert_eq!(one.at_or_after(k), want);
            }
            let walked: std::vec::Vec<(u64, u64)> = (0..s.total())
                .map(|k| (k, s.deadline(k).unwrap()))
                .filter(|&(_, d)| !paused(d))
                .collect();
            prop_assert_eq!(one.clone().collect::<std::vec::Vec<_>>(), walked.clone());
            prop_assert_eq!(one.total(), walked.len() as u64);
        }
    }
}
