//! Faults set while the run ran, as the logs show them: each machine's `fault` rows (log
//! v3, [`lamport_core::live`]) folded into its header's plan, for every reader that uses a
//! machine's plan (`lab report`, its plots, the page).
//!
//! A machine's effective plan at a row is its header's plan with every `fault` row before
//! it folded in by [`Plan::take_row`] (the core's one definition, which the node itself
//! follows); a window still open at the end lasts to the end of the run. [`Ticking`] does
//! so row by row (the page streams rows); [`read`] lists a finished run's live faults,
//! one entry per fault however many machines took it ([`LiveFault`]).

use crate::check::{self, CheckError, Head};
use lamport_core::{
    MachineId,
    faults::{Deadlines, Fault, FaultKind, Plan, Window},
    live::Live,
    record::{Header, MAX_LINE, Record},
};
use serde::Serialize;
use std::{
    io::BufRead,
    path::{Path, PathBuf},
};

/// One machine's plan and deadlines as its log shows them so far: fed its rows in order,
/// it folds each `fault` row into the plan and hands each tick the deadline it meets.
#[derive(Debug, Clone)]
pub struct Ticking {
    header: Header,
    plan: Plan,
    planned: usize,
    deadlines: Deadlines,
    next: u64,
    total: u64,
}

impl Ticking {
    /// The machine of `header` in a run whose header states `plan`.
    pub fn new(header: &Header, plan: &Plan) -> Self {
        let schedule = header.schedule();
        Self {
            header: *header,
            plan: plan.clone(),
            planned: plan.windows.len(),
            deadlines: plan.deadlines(header.machine, schedule, header.start_unix_ns),
            next: 0,
            total: schedule.total(),
        }
    }

    /// Takes the machine's next row: a `fault` row changes the plan from its instant and is
    /// returned (a note that is not a live fault changes nothing: the checker names it).
    pub fn take(&mut self, rec: &Record) -> Option<Live> {
        let live = self
            .plan
            .take_row(self.header.start_unix_ns, rec)
            .ok()
            .flatten()?;
        if matches!(live, Live::Pause | Live::Resume) {
            let h = &self.header;
            self.deadlines = self
                .plan
                .deadlines(h.machine, h.schedule(), h.start_unix_ns);
        }
        Some(live)
    }

    /// The deadline of the machine's next tick: its index in the schedule and its instant
    /// (`None` past the schedule's end, a broken log). Deadlines in its pauses are skipped.
    pub fn next_deadline(&mut self) -> Option<(u64, u64)> {
        let k = self.deadlines.at_or_after(self.next);
        let d = self.header.schedule().deadline(k)?;
        self.next = k + 1;
        Some((k, d))
    }

    /// The schedule's deadlines in the whole run, pauses or not.
    pub fn schedule_total(&self) -> u64 {
        self.total
    }

    /// The deadlines it owes in the whole run with the plan as it stands (an open pause
    /// lasts to the end).
    pub fn ticks_due(&self) -> u64 {
        self.deadlines.total()
    }

    /// The plan as it stands.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The windows its `fault` rows opened so far (after the header's), in order.
    pub fn live_windows(&self) -> &[Fault] {
        &self.plan.windows[self.planned.min(self.plan.windows.len())..]
    }
}

/// One fault set while the run ran, as the report, the plots and the page list it: a pause,
/// a partition or a delay over its span, or a kill at its instant. A partition or a delay
/// that several machines took (each writes its row; a partition holds messages at each
/// receiver that took it) is one entry naming them all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveFault {
    /// `pause`, `partition`, `delay` or `kill`.
    pub kind: &'static str,
    /// What, as the report says it: `pause of 1`, `partition 0/1+2`, `delay 300:100`,
    /// `kill of 2`.
    pub what: String,
    /// The machines that took it, in increasing order.
    pub machines: Vec<MachineId>,
    /// When it was taken (the earliest row), ns after the start.
    pub from_ns: u64,
    /// When it ended (the latest resume, heal or next delay), ns after the start; `None`
    /// while open (to the end of the run) and for a kill.
    pub to_ns: Option<u64>,
    /// A pause or a partition as a window of the run (an open one to the end of the run
    /// `run_ns`), for the analysis of what a window did.
    #[serde(skip)]
    pub window: Option<Fault>,
}

/// Two machines' rows of one fault lie at most this far apart (ns) to be one entry.
pub const SAME_FAULT_NS: u64 = 1_000_000_000;

impl LiveFault {
    /// Its end, ns after the start, in a run `run_ns` long (the instant of a kill).
    pub fn to_or(&self, run_ns: u64) -> u64 {
        match self.kind {
            "kill" => self.from_ns,
            _ => self.to_ns.unwrap_or(run_ns).max(self.from_ns),
        }
    }

    /// Takes `other` in when it is the same fault taken by another machine at about the
    /// same time.
    fn merge(&mut self, other: &Self) -> bool {
        let same = self.kind == other.kind
            && matches!(self.kind, "partition" | "delay")
            && self.what == other.what
            && self.from_ns.abs_diff(other.from_ns) <= SAME_FAULT_NS
            && !self.machines.contains(&other.machines[0]);
        if same {
            self.machines.push(other.machines[0]);
            self.machines.sort_unstable();
            self.from_ns = self.from_ns.min(other.from_ns);
            self.to_ns = self.to_ns.zip(other.to_ns).map(|(a, b)| a.max(b));
            if let (Some(w), Some(o)) = (self.window.as_mut(), other.window.as_ref()) {
                let to = w.window.to_ns().max(o.window.to_ns());
                w.window.from_ns = self.from_ns;
                w.window.len_ns = to - self.from_ns;
            }
        }
        same
    }
}

/// One machine's live faults from its `fault` rows, in order (`run_ns`: the run's length).
fn of_machine(header: &Header, plan: &Plan, rows: &[Record], run_ns: u64) -> Vec<LiveFault> {
    let me = header.machine;
    let mut t = Ticking::new(header, plan);
    let mut delays: Vec<LiveFault> = Vec::new();
    let mut kills = Vec::new();
    for rec in rows {
        let Some(live) = t.take(rec) else { continue };
        let at = rec.unix_ns.saturating_sub(header.start_unix_ns);
        match live {
            Live::Delay { .. } => {
                if let Some(last) = delays.last_mut().filter(|d| d.to_ns.is_none()) {
                    last.to_ns = Some(at);
                }
                if live.ends_a_fault() {
                    continue;
                }
                delays.push(entry("delay", live.to_string(), me, at, None));
            }
            Live::Kill => kills.push(entry("kill", format!("kill of {me}"), me, at, None)),
            _ => {}
        }
    }
    let mut out: Vec<LiveFault> = t
        .live_windows()
        .iter()
        .map(|f| {
            let w = f.window;
            let what = match &f.what {
                FaultKind::Pause(m) => ("pause", format!("pause of {m}")),
                FaultKind::Partition(..) => ("partition", live_partition(f)),
            };
            let to = (!w.is_open()).then(|| w.to_ns());
            let mut e = entry(what.0, what.1, me, w.from_ns, to);
            let end = to.unwrap_or(run_ns).max(w.from_ns);
            e.window = Some(Fault {
                what: f.what.clone(),
                window: Window {
                    from_ns: w.from_ns,
                    len_ns: end - w.from_ns,
                },
            });
            e
        })
        .collect();
    out.extend(delays);
    out.extend(kills);
    out
}

/// `partition 0/1+2`, as the `fault` row writes it.
fn live_partition(f: &Fault) -> String {
    match &f.what {
        FaultKind::Partition(a, b) => Live::Partition(a.clone(), b.clone()).to_string(),
        FaultKind::Pause(_) => String::new(),
    }
}

fn entry(kind: &'static str, what: String, m: MachineId, from: u64, to: Option<u64>) -> LiveFault {
    LiveFault {
        kind,
        what,
        machines: vec![m],
        from_ns: from,
        to_ns: to,
        window: None,
    }
}

/// The live faults of a run from each machine's header, header plan and `fault` rows (one
/// list per machine, in id order), sorted by time: a partition or a delay that several
/// machines took within [`SAME_FAULT_NS`] is one entry.
pub fn of_rows(machines: &[(Header, Plan, Vec<Record>)]) -> Vec<LiveFault> {
    let Some((h0, ..)) = machines.first() else {
        return Vec::new();
    };
    let run_ns = h0.secs.saturating_mul(1_000_000_000);
    let mut all: Vec<LiveFault> = machines
        .iter()
        .flat_map(|(h, p, rows)| of_machine(h, p, rows, run_ns))
        .collect();
    all.sort_by_key(|f| (f.from_ns, f.machines[0]));
    let mut out: Vec<LiveFault> = Vec::new();
    for f in all {
        if !out.iter_mut().rev().any(|g| g.merge(&f)) {
            out.push(f);
        }
    }
    out
}

/// The `fault` rows of the log `path` (its head `head`, reader after it), in order, up to
/// its first line that is cut or longer than any log line. Other rows are only looked at,
/// not parsed.
pub fn fault_rows(
    path: &Path,
    head: &Head,
    mut r: std::io::BufReader<std::fs::File>,
) -> Result<Vec<Record>, CheckError> {
    let mut rows = Vec::new();
    let mut line = Vec::new();
    let mut n = head.lines;
    loop {
        line.clear();
        n += 1;
        // At most one line's worth: a longer line is not a log line (the reader of the rows
        // names it), and is not held whole here.
        let got = std::io::Read::take(&mut r, MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .map_err(|source| CheckError::Io {
                path: path.to_path_buf(),
                line: n,
                source,
            })?;
        if got == 0 || !line.ends_with(b"\n") {
            return Ok(rows);
        }
        if !line.windows(7).any(|w| w == b",fault,") {
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        if let Ok(rec) = Record::parse(text.trim_end(), head.header.machines) {
            rows.push(rec);
        }
    }
}

/// The live faults of the run whose logs are `files` (see [`of_rows`]).
pub fn read(files: &[PathBuf]) -> Result<Vec<LiveFault>, CheckError> {
    let mut machines = Vec::new();
    for f in files {
        let (head, r) = check::read_head(f)?;
        let rows = fault_rows(f, &head, r)?;
        machines.push((head.header, head.faults, rows));
    }
    Ok(of_rows(&machines))
}
