//! The view page (`view.html`) and its data, described once for its two sources: `lab view`
//! embeds a finished run's rows in the page, and the live view ([`crate::live`]) streams
//! them while the run runs, in the same shape.
//!
//! The data is one JSON object ([`Page`]): the run's parameters, the checker's verdict,
//! the fault windows, the names of the kinds of rows (`kinds`: the page looks kinds up by
//! name), and each machine's rows as compact columns ([`Columns`]: deltas of time and clock,
//! one digit per row, its kind's index in `kinds`). The page's script decodes them, matches
//! every receive to its send, computes the vector clocks as `lab hb` does and draws on
//! canvas. A live page starts with `live: true` and no machines, and takes each machine's
//! header and then its rows, chunk by chunk, from the stream.

use crate::{
    check::{self, Head},
    live_faults::Ticking,
};
use lamport_core::{
    faults::{Fault, FaultKind, Plan},
    live::Live,
    record::{Header, Kind, Peers, Record},
};
use serde::Serialize;
use std::path::Path;

/// The page's HTML, with two placeholders: `__TITLE__` and `__DATA__`.
pub const TEMPLATE: &str = include_str!("view.html");

/// The page's data.
#[derive(Serialize, Debug, Default)]
pub struct Page {
    /// The run folder, as named.
    pub run: String,
    /// The program that made the run (run.json).
    pub program: String,
    /// What made the page.
    pub made_by: String,
    /// A live page: rows arrive from the stream.
    pub live: bool,
    /// The run's length, seconds.
    pub secs: u64,
    /// The speedup.
    pub speedup: f64,
    /// Rolls are in `1..=roll_max`.
    pub roll_max: u32,
    /// The queue's limit.
    pub queue_cap: u32,
    /// The start instant, a string: a JSON number would round it.
    pub start_unix_ns: String,
    /// The mean rate, ticks per second with the speedup.
    pub rate_mean: f64,
    /// The checker's verdict in one line (empty while a live run runs).
    pub check: String,
    /// Whether every rule holds.
    pub check_ok: bool,
    /// The sentence about the part of the run the page shows, if not all of it.
    pub window: Option<String>,
    /// The faults as the log header states them (empty: none).
    pub faults: String,
    /// Each pause and partition the header plans, to shade on the diagram (those set while
    /// the run ran are each machine's [`Columns`]' `lf`).
    pub fault_marks: Vec<FaultMark>,
    /// The name of each kind digit of [`Columns::k`], in digit order.
    pub kinds: [&'static str; 7],
    /// Each machine's rows.
    pub machines: Vec<Columns>,
}

/// A fault window on the page: its label, its span in ns after the start, and the machine
/// whose lane it shades (`None`: every lane, a partition).
#[derive(Serialize, Debug)]
pub struct FaultMark {
    label: String,
    from_ns: u64,
    to_ns: u64,
    lane: Option<u16>,
}

/// The kinds of rows, in the order of their digits in [`Columns::k`]; the page carries their
/// names (`kinds`) and looks each kind up by name.
pub const KINDS: [Kind; 7] = [
    Kind::Start,
    Kind::Recv,
    Kind::Send,
    Kind::Internal,
    Kind::Unprocessed,
    Kind::End,
    Kind::Fault,
];

/// A fault this machine took while the run ran, as the page shows it on its lane: `id`
/// (`w3`: the machine's fourth pause or partition, `d0`: its first delay, `k0`: its
/// kill), `kind` (`pause`, `partition`, `delay`, `kill`), its label, and its span in ns
/// after the start (`to_ns` `None`: still open, to the end of the run). A live page gets a
/// mark again, same `id`, when it changes (a resume closes a pause): the last one holds.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct LiveMark {
    /// Its name among the machine's marks.
    pub id: String,
    /// What kind of fault.
    pub kind: &'static str,
    /// Its label: `partition 0/1+2`, `delay 300:100`.
    pub label: String,
    /// From, ns after the start.
    pub from_ns: u64,
    /// To, ns after the start (`None`: open).
    pub to_ns: Option<u64>,
}

/// One machine's rows as columns. `t`: time since the start minus the previous row's (ns);
/// `c`: clock minus the previous row's; `k`: one digit per row, its kind's index in the
/// page's `kinds`; `p`: the peer of each recv, send (-1: every other machine) and
/// unprocessed row, in row order; `mc`: the message clock of each recv and unprocessed row.
/// The seed is a string: a JSON number would round a 64-bit seed.
#[derive(Serialize, Default, Debug, Clone, PartialEq)]
pub struct Columns {
    /// The machine.
    pub id: u16,
    rate: u32,
    per_kilosec: u64,
    phase_ns: u64,
    seed: String,
    note: String,
    t: Vec<i64>,
    /// One digit per row.
    pub k: String,
    c: Vec<i64>,
    q: Vec<u32>,
    p: Vec<i32>,
    mc: Vec<u64>,
    /// Where the page's tick j meets its deadline: pairs (j, index of the deadline in the
    /// schedule), one wherever the two stop moving together (the page starts later in the
    /// run, or a pause skipped deadlines); between pairs both advance by one.
    dl: Vec<[u64; 2]>,
    /// The note of each `fault` row, in row order.
    pub f: Vec<String>,
    /// The faults this machine took while the run ran ([`LiveMark`]).
    pub lf: Vec<LiveMark>,
}

fn kind_digit(k: Kind) -> char {
    let i = KINDS
        .iter()
        .position(|&x| x == k)
        .expect("KINDS lists every kind");
    char::from(b'0' + i as u8)
}

impl Columns {
    fn new(h: &Header) -> Self {
        Self {
            id: h.machine,
            rate: h.rate,
            per_kilosec: u64::from(h.rate) * u64::from(h.speedup_milli),
            phase_ns: h.phase_ns,
            seed: h.seed.to_string(),
            ..Self::default()
        }
    }

    /// Rows held.
    pub fn rows(&self) -> u64 {
        self.k.len() as u64
    }

    /// The same machine without rows (its header only).
    fn header_only(&self) -> Self {
        Self {
            id: self.id,
            rate: self.rate,
            per_kilosec: self.per_kilosec,
            phase_ns: self.phase_ns,
            seed: self.seed.clone(),
            ..Self::default()
        }
    }
}

/// One machine's rows turned into [`Columns`] one at a time: the time and clock of the
/// previous row, the deadline each tick meets (a pause skips some, planned or set while the
/// run ran: each `fault` row changes the machine's plan from its instant), the faults it
/// took, and the part of the run kept.
#[derive(Debug)]
pub struct Builder {
    col: Columns,
    start_unix_ns: u64,
    ticking: Ticking,
    /// Every live mark so far, in order of `id`s made.
    marks: Vec<LiveMark>,
    delays: usize,
    page_ticks: u64,
    last: (i64, i64),
    last_dl: Option<[u64; 2]>,
    range: Option<(u64, u64)>,
}

impl Builder {
    /// The machine of log header `head` in a run with `faults`, keeping the rows in `range`
    /// (absolute ns; start and end rows always).
    pub fn new(head: &Head, faults: &Plan, range: Option<(u64, u64)>) -> Self {
        let h = head.header;
        Self {
            col: Columns::new(&h),
            start_unix_ns: h.start_unix_ns,
            ticking: Ticking::new(&h, faults),
            marks: Vec::new(),
            delays: 0,
            page_ticks: 0,
            last: (0, 0),
            last_dl: None,
            range,
        }
    }

    /// Takes the next row of the log.
    pub fn push(&mut self, rec: &Record) {
        // Every tick of the run takes the next deadline, in the page or not; a tick beyond
        // the schedule (a broken log) gets its end.
        let deadline = if rec.kind.is_tick() {
            let total = self.ticking.schedule_total();
            self.ticking.next_deadline().map_or(total, |(k, _)| k)
        } else {
            0
        };
        if let Some(live) = self.ticking.take(rec) {
            self.mark(rec.unix_ns.saturating_sub(self.start_unix_ns), &live);
        }
        if rec.kind == Kind::End {
            self.col.note = rec.note.to_string();
        }
        // Start and end rows stay in every window: they frame the machine's line.
        let framing = matches!(rec.kind, Kind::Start | Kind::End);
        if let Some((a, b)) = self.range
            && !framing
            && !(a..b).contains(&rec.unix_ns)
        {
            return;
        }
        if rec.kind.is_tick() {
            self.tick(deadline);
        }
        let at = rec.unix_ns.wrapping_sub(self.start_unix_ns) as i64;
        let clock = rec.clock as i64;
        let col = &mut self.col;
        col.t.push(at.wrapping_sub(self.last.0));
        col.c.push(clock.wrapping_sub(self.last.1));
        self.last = (at, clock);
        col.q.push(rec.queue);
        col.k.push(kind_digit(rec.kind));
        match (rec.kind, rec.peer) {
            (Kind::Recv | Kind::Send | Kind::Unprocessed, Peers::One(p)) => {
                col.p.push(i32::from(p));
            }
            (Kind::Recv | Kind::Send | Kind::Unprocessed, _) => col.p.push(-1),
            _ => {}
        }
        if matches!(rec.kind, Kind::Recv | Kind::Unprocessed) {
            col.mc.push(rec.msg_clock.unwrap_or(0));
        }
        if rec.kind == Kind::Fault {
            col.f.push(rec.note.to_string());
        }
    }

    /// Updates the marks after live fault `live`, taken at `at` ns after the start: the
    /// pauses and partitions as the machine's plan now holds them, a delay until the next,
    /// a kill at its instant. Each mark made or changed goes into the next chunk.
    fn mark(&mut self, at: u64, live: &Live) {
        let mut changed = Vec::new();
        match live {
            Live::Pause | Live::Resume | Live::Partition(..) | Live::Heal => {
                for (i, f) in self.ticking.live_windows().iter().enumerate() {
                    let (kind, label) = match &f.what {
                        FaultKind::Pause(_) => ("pause", "paused".to_string()),
                        FaultKind::Partition(a, b) => (
                            "partition",
                            Live::Partition(a.clone(), b.clone()).to_string(),
                        ),
                    };
                    changed.push(LiveMark {
                        id: format!("w{i}"),
                        kind,
                        label,
                        from_ns: f.window.from_ns,
                        to_ns: (!f.window.is_open()).then(|| f.window.to_ns()),
                    });
                }
            }
            Live::Delay { .. } => {
                if let Some(open) = self
                    .marks
                    .iter()
                    .rfind(|m| m.kind == "delay" && m.to_ns.is_none())
                {
                    let mut closed = open.clone();
                    closed.to_ns = Some(at);
                    changed.push(closed);
                }
                if !live.ends_a_fault() {
                    changed.push(LiveMark {
                        id: format!("d{}", self.delays),
                        kind: "delay",
                        label: live.to_string(),
                        from_ns: at,
                        to_ns: None,
                    });
                    self.delays += 1;
                }
            }
            Live::Kill => changed.push(LiveMark {
                id: "k0".into(),
                kind: "kill",
                label: "killed".into(),
                from_ns: at,
                to_ns: Some(at),
            }),
        }
        for m in changed {
            if self.col.lf.last() != Some(&m) && !self.marks.contains(&m) {
                self.col.lf.push(m.clone());
            }
            match self.marks.iter_mut().find(|x| x.id == m.id) {
                Some(x) => *x = m,
                None => self.marks.push(m),
            }
        }
    }

    /// Notes that the page's next tick met deadline `deadline` of the schedule.
    fn tick(&mut self, deadline: u64) {
        let j = self.page_ticks;
        let moved = self.last_dl.is_none_or(|[pj, pk]| deadline - pk != j - pj);
        if moved {
            self.col.dl.push([j, deadline]);
            self.last_dl = Some([j, deadline]);
        }
        self.page_ticks += 1;
    }

    /// The columns of every row taken, with every live mark.
    pub fn finish(mut self) -> Columns {
        self.col.lf = self.marks;
        self.col
    }

    /// The machine's header, no rows.
    pub fn header(&self) -> Columns {
        self.col.header_only()
    }

    /// The rows taken since the last call, as columns to append to the previous ones (the
    /// deltas continue), with the end row's note once there is one.
    pub fn take(&mut self) -> Columns {
        let empty = self.col.header_only();
        let chunk = std::mem::replace(&mut self.col, empty);
        self.col.note.clone_from(&chunk.note);
        chunk
    }
}

/// The page of a live run in `dir` made by `program`: no machines yet, they come from the
/// stream.
pub fn live(dir: &Path, program: &str, made_by: &str) -> Page {
    Page {
        run: dir.display().to_string(),
        program: program.to_string(),
        made_by: made_by.to_string(),
        live: true,
        kinds: KINDS.map(Kind::name),
        ..Page::default()
    }
}

/// Fills `page`'s fields that come from the first machine's header `h` and the run's
/// `faults`.
pub fn run_fields(page: &mut Page, h: &Header, faults: &Plan) {
    page.secs = h.secs;
    page.speedup = f64::from(h.speedup_milli) / 1000.0;
    page.roll_max = h.roll_max;
    page.queue_cap = h.queue_cap;
    page.start_unix_ns = h.start_unix_ns.to_string();
    page.faults = faults.to_string();
    page.fault_marks = fault_marks(faults);
    page.kinds = KINDS.map(Kind::name);
}

/// The mean rate of `machines`, ticks per second with the speedup.
pub fn rate_mean(machines: &[Columns], speedup_milli: u32) -> f64 {
    machines.iter().map(|m| f64::from(m.rate)).sum::<f64>() / machines.len() as f64
        * f64::from(speedup_milli)
        / 1000.0
}

/// How the plots and the page name a fault window (`pause 1`, `partition 0/1,2`), and the
/// machine whose lane it covers (a pause), or `None` (a partition: every lane).
pub fn label(f: &Fault) -> (String, Option<u16>) {
    match &f.what {
        FaultKind::Pause(m) => (format!("pause {m}"), Some(*m)),
        FaultKind::Partition(a, b) => (format!("partition {a}/{b}"), None),
    }
}

/// Each pause and partition of `faults`, as the page shades it.
pub fn fault_marks(faults: &Plan) -> Vec<FaultMark> {
    faults
        .windows
        .iter()
        .map(|f| {
            let (label, lane) = label(f);
            FaultMark {
                label,
                from_ns: f.window.from_ns,
                to_ns: f.window.to_ns(),
                lane,
            }
        })
        .collect()
}

/// The checker's verdict in one line, and whether every rule holds.
pub fn verdict(r: &check::CheckReport) -> (String, bool) {
    if r.holds() {
        let ticks = r.machines.iter().map(|m| m.ticks).sum::<u64>();
        let line = format!(
            "ok: {} machines, {ticks} ticks, every rule holds",
            r.machines.len()
        );
        (line, true)
    } else {
        let line = format!("{} violations; the first: {}", r.count(), r.violations[0]);
        (line, false)
    }
}

/// The program the run folder's run.json names (or, in host-tcp's one-process-per-machine
/// mode, machine 0's run-0.json).
pub fn program(dir: &Path) -> String {
    let info: Option<serde_json::Value> = ["run.json", "run-0.json"]
        .iter()
        .find_map(|f| std::fs::read(dir.join(f)).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    info.as_ref()
        .and_then(|v| v.get("program")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "an unknown program (no run.json)".into())
}

/// The page's HTML: [`TEMPLATE`] with `title` and `page`'s data.
pub fn html(title: &str, page: &Page) -> Result<String, String> {
    // Inside <script>, "</" could close the element: JSON allows "<\/" for it.
    let data = serde_json::to_string(page)
        .map_err(|e| e.to_string())?
        .replace("</", "<\\/");
    fill(TEMPLATE, &[("TITLE", &html_escape(title)), ("DATA", &data)])
}

/// `template` with each placeholder `__NAME__` (capital letters) replaced by the value of
/// its name in `values`, in one pass: a value is never searched for placeholders, so the
/// order of the names does not matter. A placeholder without a value, or a value whose
/// placeholder is not in the template, is an error.
pub fn fill(template: &str, values: &[(&str, &str)]) -> Result<String, String> {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut used = vec![false; values.len()];
    let mut rest = template;
    while let Some(i) = rest.find("__") {
        let after = &rest[i + 2..];
        let name_len = after.bytes().take_while(u8::is_ascii_uppercase).count();
        if name_len == 0 || !after[name_len..].starts_with("__") {
            out.push_str(&rest[..i + 2]);
            rest = after;
            continue;
        }
        let name = &after[..name_len];
        let Some(at) = values.iter().position(|(n, _)| *n == name) else {
            return Err(format!(
                "the page template has a placeholder __{name}__ that nothing fills"
            ));
        };
        used[at] = true;
        out.push_str(&rest[..i]);
        out.push_str(values[at].1);
        rest = &after[name_len + 2..];
    }
    out.push_str(rest);
    if let Some(at) = used.iter().position(|u| !u) {
        return Err(format!(
            "the page template has no placeholder __{}__",
            values[at].0
        ));
    }
    Ok(out)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_template_has_exactly_the_placeholders_write_fills() {
        let html = fill(TEMPLATE, &[("TITLE", "t"), ("DATA", "{}")]).unwrap();
        assert!(!html.contains("__TITLE__") && !html.contains("__DATA__"));
        assert!(
            fill(TEMPLATE, &[("TITLE", "t")]).is_err(),
            "__DATA__ left unreplaced"
        );
        let extra = [("TITLE", "t"), ("DATA", "{}"), ("MORE", "")];
        assert!(
            fill(TEMPLATE, &extra).is_err(),
            "a value with no placeholder"
        );
    }

    #[test]
    fn fill_replaces_by_name_whatever_the_order_and_never_inside_a_value() {
        let t = "<h1>__TITLE__</h1><p>__DATA__</p> a__b __ __x__";
        let want = "<h1>__DATA__</h1><p>__TITLE__</p> a__b __ __x__";
        for values in [
            [("TITLE", "__DATA__"), ("DATA", "__TITLE__")],
            [("DATA", "__TITLE__"), ("TITLE", "__DATA__")],
        ] {
            assert_eq!(fill(t, &values).unwrap(), want);
        }
        let err = fill("__TITLE__ __NOPE__", &[("TITLE", "")]).unwrap_err();
        assert!(err.contains("__NOPE__"), "{err}");
    }
}
