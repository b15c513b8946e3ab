//! What the live display knows of a run: every machine's log followed as it grows, each
//! machine's state derived from its rows, and the messages waiting for each machine
//! counted from every log (sent to it so far, less those it has taken).

use crate::follow::Follow;
use lamport_core::{
    MachineId,
    faults::{Plan, Window},
    live::Live as Fault,
    record::{Kind, Peers, Record},
};
use std::{collections::BTreeSet, path::Path};

/// One machine as its log tells it so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Its `start` row has been read.
    pub started: bool,
    /// Its clock after its last row.
    pub clock: u64,
    /// The `queue` of its last `recv` row (what it counted waiting after that tick).
    pub queue: u32,
    /// Messages it has taken: its `recv` and `unprocessed` rows.
    pub taken: u64,
    /// Between a `pause` and a `resume` row.
    pub paused: bool,
    /// The machines on the other side of every partition open at it.
    pub cut: BTreeSet<MachineId>,
    /// The delay a `delay` row set (ms, jitter ms; `None` for `delay 0`), once one did:
    /// it replaces the run's planned delay.
    pub delay: Option<Option<(u64, u64)>>,
    /// It took a `kill`.
    pub killed: bool,
    /// Its `end` row's note, once read (and the leftovers it counts).
    pub ended: Option<(String, u32)>,
    /// How it died without an `end` row (its supervisor's `# died:` line).
    pub died: Option<String>,
}

impl Seen {
    /// Takes one row of this machine's log.
    pub fn apply(&mut self, rec: &Record) {
        self.clock = rec.clock;
        match rec.kind {
            Kind::Start => self.started = true,
            Kind::Recv => {
                self.taken += 1;
                self.queue = rec.queue;
            }
            Kind::Unprocessed => self.taken += 1,
            Kind::Send | Kind::Internal => {}
            Kind::End => self.ended = Some((rec.note.to_string(), rec.queue)),
            Kind::Fault => self.fault(rec.machine, rec.note.as_ref()),
        }
    }

    fn fault(&mut self, me: MachineId, note: &str) {
        match Fault::parse(note) {
            Ok(Fault::Pause) => self.paused = true,
            Ok(Fault::Resume) => self.paused = false,
            Ok(Fault::Partition(a, b)) => {
                let other = if a.has(me) { b } else { a };
                self.cut.extend(other.ids());
            }
            Ok(Fault::Heal) => self.cut.clear(),
            Ok(Fault::Delay {
                delay_ns,
                jitter_ns,
            }) => {
                self.delay = Some(
                    (delay_ns != 0 || jitter_ns != 0)
                        .then_some((delay_ns / 1_000_000, jitter_ns / 1_000_000)),
                );
            }
            Ok(Fault::Kill) => self.killed = true,
            Err(_) => {}
        }
    }

    /// Its state in a few words: `starting`, `running`, `paused`, `cut from 1,2`, `delayed
    /// 300 ms` (the last three together when they are), `killed`, `died: ...`, `ended`
    /// (`ended, 33 left`; `ended: peer 2 lost` for an end other than `time up`).
    pub fn state(&self) -> String {
        self.state_with(&Planned::default())
    }

    /// [`Seen::state`] with what the run's planned faults do to it now.
    pub fn state_with(&self, planned: &Planned) -> String {
        if let Some((note, left)) = &self.ended {
            return match (self.killed || note == "killed", note.as_str(), left) {
                (true, ..) => "killed".into(),
                (false, "time up", 0) => "ended".into(),
                (false, "time up", n) => format!("ended, {n} left"),
                (false, note, _) => format!("ended: {note}"),
            };
        }
        if let Some(how) = &self.died {
            return format!("died: {how}");
        }
        if self.killed {
            return "killed".into();
        }
        if !self.started {
            return "starting".into();
        }
        let mut parts = Vec::new();
        if self.paused || planned.paused {
            parts.push("paused".to_string());
        }
        let cut: BTreeSet<MachineId> = self.cut.union(&planned.cut).copied().collect();
        if !cut.is_empty() {
            parts.push(format!("cut from {}", ranges(&cut)));
        }
        match self.delay.unwrap_or(planned.delay) {
            Some((d, 0)) => parts.push(format!("delayed {d} ms")),
            Some((d, j)) => parts.push(format!("delayed {d}-{} ms", d + j)),
            None => {}
        }
        if parts.is_empty() {
            "running".into()
        } else {
            parts.join(", ")
        }
    }
}

/// What a run's planned faults (its flags: `--pause`, `--partition`, `--delay-ms`) do to
/// one machine at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Planned {
    /// In one of its pauses.
    pub paused: bool,
    /// The machines a partition open now separates it from.
    pub cut: BTreeSet<MachineId>,
    /// The run's delay (ms, jitter ms), if any.
    pub delay: Option<(u64, u64)>,
}

impl Planned {
    /// What `plan` does to machine `id` of a run of `machines`, `elapsed_ns` after its start.
    pub fn at(plan: &Plan, machines: u16, id: MachineId, elapsed_ns: u64) -> Self {
        let open = |w: Window| w.from_ns <= elapsed_ns && elapsed_ns - w.from_ns < w.len_ns;
        Self {
            paused: plan.pauses(id).any(open),
            cut: (0..machines)
                .filter(|&p| p != id && plan.cuts(id, p).any(open))
                .collect(),
            delay: (plan.delay_ns != 0 || plan.jitter_ns != 0)
                .then_some((plan.delay_ns / 1_000_000, plan.jitter_ns / 1_000_000)),
        }
    }
}

/// Ids as a list with runs of three or more as ranges: `1,2`, `0-3,7`.
pub fn ranges(ids: &BTreeSet<MachineId>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut it = ids.iter().copied().peekable();
    while let Some(a) = it.next() {
        let mut b = a;
        while it.peek() == Some(&(b + 1)) {
            b += 1;
            it.next();
        }
        match b - a {
            0 => out.push(a.to_string()),
            1 => out.push(format!("{a},{b}")),
            _ => out.push(format!("{a}-{b}")),
        }
    }
    out.join(",")
}

/// A row read, with the clock its machine had before it (for the event feed).
#[derive(Debug, Clone)]
pub struct Read {
    /// The row.
    pub rec: Record,
    /// The machine's clock before it.
    pub before: u64,
}

/// Every machine's log of a run, followed.
#[derive(Debug)]
pub struct Watch {
    machines: u16,
    logs: Vec<Follow>,
    /// Whether any line of each log has been read (the file exists).
    opened: Vec<bool>,
    /// Per machine, what its log says.
    pub seen: Vec<Seen>,
    /// Per machine, the messages its peers' logs have sent it so far.
    sent_to: Vec<u64>,
}

/// How much of one log a refresh reads at most: a display that falls behind a very fast
/// run catches up over the next refreshes rather than stall.
pub(super) const BUDGET: u64 = 4 << 20;

impl Watch {
    /// Follows the logs of the run of `machines` in `dir` (they may not exist yet).
    pub fn new(dir: &Path, machines: u16) -> Self {
        let n = usize::from(machines);
        Self {
            machines,
            logs: (0..machines)
                .map(|i| Follow::new(crate::folder::log_path(dir, i)))
                .collect(),
            opened: vec![false; n],
            seen: vec![Seen::default(); n],
            sent_to: vec![0; n],
        }
    }

    /// Reads what the logs gained since the last call (up to `budget` bytes of each),
    /// applies it, and returns the rows read (with each one's clock before) when `keep`.
    /// Also returns whether some log has more to read.
    pub fn poll(&mut self, budget: u64, keep: bool) -> (Vec<Read>, bool) {
        let mut read = Vec::new();
        let mut behind = false;
        for i in 0..self.logs.len() {
            let (bytes, left) = self.logs[i].whole_lines(budget);
            behind |= left > 0;
            if bytes.is_empty() {
                continue;
            }
            self.opened[i] = true;
            for line in String::from_utf8_lossy(&bytes).lines() {
                if let Some(how) = line.strip_prefix(crate::folder::DIED) {
                    let how = how.trim_end_matches(" (seen by its supervisor)");
                    self.seen[i].died = Some(how.to_string());
                    continue;
                }
                if line.starts_with('#') {
                    continue;
                }
                let Ok(rec) = Record::parse(line, self.machines) else {
                    continue;
                };
                if usize::from(rec.machine) != i {
                    continue;
                }
                if rec.kind == Kind::Send {
                    for p in rec.peer.iter() {
                        if let Some(n) = self.sent_to.get_mut(usize::from(p)) {
                            *n += 1;
                        }
                    }
                }
                let before = self.seen[i].clock;
                self.seen[i].apply(&rec);
                if keep {
                    read.push(Read { rec, before });
                }
            }
        }
        (read, behind)
    }

    /// Machines in the run.
    pub fn machines(&self) -> u16 {
        self.machines
    }

    /// Notes that machine `id` died as its supervisor saw it (`killed by SIGKILL`).
    pub fn died(&mut self, id: MachineId, how: &str) {
        if let Some(s) = self.seen.get_mut(usize::from(id)) {
            s.died.get_or_insert_with(|| how.to_string());
        }
    }

    /// The messages waiting for machine `id`: sent to it by its peers' logs so far, less
    /// those it has taken; `None` while some peer's log is not there to count (a machine of
    /// a run spread over computers sees only its own).
    pub fn waiting(&self, id: MachineId) -> Option<u64> {
        let i = usize::from(id);
        if !self.opened.iter().all(|&o| o) {
            return None;
        }
        Some(self.sent_to[i].saturating_sub(self.seen[i].taken))
    }
}

/// A send row's receivers as the feed names them.
pub(super) fn receivers(peer: Peers) -> String {
    match peer {
        Peers::AllBut { .. } => "every peer".into(),
        p => p
            .iter()
            .map(|m| format!("m{m}"))
            .collect::<Vec<_>>()
            .join(","),
    }
}
