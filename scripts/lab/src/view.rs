//! `lab view`: one self-contained HTML page of a run (space-time diagram, causality, clock
//! and queue charts, summary). The page is `view.html` with the run's rows embedded as
//! compact columns (deltas of time and clock, one digit per row: its kind's index in the
//! data's `kinds`, the names the page looks kinds up by); its script decodes
//! them, matches every receive to its send, computes the vector clocks as `lab hb` does and
//! draws on canvas. Nothing is fetched: it opens from disk.

use anyhow::{Context, Result, bail};
use lamport_core::{
    faults::Plan,
    record::{Header, Kind, Peers, Record},
};
use lamport_host::check::{self, Head, log_files, read_head};
use serde::Serialize;
use std::{fs::File, io::BufReader, path::Path};

const TEMPLATE: &str = include_str!("view.html");

/// Most events a page holds: beyond, `lab view` keeps a window of the run (see [`Span`]).
/// A page of this many events is about 30 MB and takes a browser several seconds to open.
pub const MAX_EVENTS: u64 = 1_000_000;

/// The part of a run a page shows, seconds since the start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// From (inclusive).
    pub from: f64,
    /// To (exclusive).
    pub to: f64,
}

/// What `write` put in the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Rows of all kinds.
    pub rows: u64,
    /// Rows in the whole run.
    pub rows_in_run: u64,
    /// Bytes of the page.
    pub bytes: u64,
}

#[derive(Serialize)]
struct Page {
    run: String,
    program: String,
    made_by: String,
    secs: u64,
    speedup: f64,
    roll_max: u32,
    queue_cap: u32,
    start_unix_ns: String,
    rate_mean: f64,
    check: String,
    check_ok: bool,
    window: Option<String>,
    /// The faults as the log header states them (empty: none).
    faults: String,
    /// Each pause and partition, to shade on the diagram.
    fault_marks: Vec<FaultMark>,
    /// The name of each kind digit of [`Columns::k`], in digit order.
    kinds: [&'static str; 6],
    machines: Vec<Columns>,
}

/// A fault window on the page: its label, its span in ns after the start, and the machine
/// whose lane it shades (`None`: every lane, a partition).
#[derive(Serialize)]
struct FaultMark {
    label: String,
    from_ns: u64,
    to_ns: u64,
    lane: Option<u16>,
}

/// The kinds of rows, in the order of their digits in [`Columns::k`]; the page carries their
/// names (`kinds`) and looks each kind up by name.
const KINDS: [Kind; 6] = [
    Kind::Start,
    Kind::Recv,
    Kind::Send,
    Kind::Internal,
    Kind::Unprocessed,
    Kind::End,
];

/// One machine's rows as columns. `t`: time since the start minus the previous row's (ns);
/// `c`: clock minus the previous row's; `k`: one digit per row, its kind's index in the
/// page's `kinds`; `p`: the peer of each recv, send (-1: every other machine) and
/// unprocessed row, in row order; `mc`: the message clock of each recv and unprocessed row.
#[derive(Serialize, Default)]
struct Columns {
    id: u16,
    rate: u32,
    per_kilosec: u64,
    phase_ns: u64,
    seed: u64,
    note: String,
    t: Vec<i64>,
    k: String,
    c: Vec<i64>,
    q: Vec<u32>,
    p: Vec<i32>,
    mc: Vec<u64>,
    /// Where the page's tick j meets its deadline: pairs (j, index of the deadline in the
    /// schedule), one wherever the two stop moving together (the page starts later in the
    /// run, or a pause skipped deadlines); between pairs both advance by one.
    dl: Vec<[u64; 2]>,
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
            seed: h.seed,
            ..Self::default()
        }
    }

    /// Appends row `rec`, `at` ns after the start, after the previous row pushed (`last`:
    /// its time and clock).
    fn push(&mut self, rec: &Record, at: i64, last: &mut (i64, i64)) {
        let clock = rec.clock as i64;
        self.t.push(at - last.0);
        self.c.push(clock - last.1);
        *last = (at, clock);
        self.q.push(rec.queue);
        self.k.push(kind_digit(rec.kind));
        match (rec.kind, rec.peer) {
            (Kind::Recv | Kind::Send | Kind::Unprocessed, Peers::One(p)) => {
                self.p.push(i32::from(p));
            }
            (Kind::Recv | Kind::Send | Kind::Unprocessed, _) => self.p.push(-1),
            _ => {}
        }
        if matches!(rec.kind, Kind::Recv | Kind::Unprocessed) {
            self.mc.push(rec.msg_clock.unwrap_or(0));
        }
    }

    /// Notes that the page's tick `page_tick` met deadline `deadline` of the schedule.
    fn tick(&mut self, page_tick: u64, deadline: u64) {
        let moved = self
            .dl
            .last()
            .is_none_or(|&[j, k]| deadline - k != page_tick - j);
        if moved {
            self.dl.push([page_tick, deadline]);
        }
    }
}

/// One pass over one machine's log: its columns, the rows in `range` (absolute ns) kept,
/// start and end rows always. `faults`: the run's, whose pauses move the deadlines.
fn columns(
    path: &Path,
    head: &Head,
    reader: BufReader<File>,
    faults: &Plan,
    range: Option<(u64, u64)>,
) -> Result<Columns> {
    let h = head.header;
    let mut col = Columns::new(&h);
    let schedule = h.schedule();
    let mut deadlines = faults.deadlines(h.machine, schedule, h.start_unix_ns);
    let mut page_ticks = 0u64;
    let mut last = (0i64, 0i64);
    check::records(path, head, reader, |_, _, rec| {
        // Every tick of the run takes the next deadline, in the page or not; a tick beyond
        // the schedule (a broken log) gets its end.
        let deadline = if rec.kind.is_tick() {
            deadlines.next().map_or(schedule.total(), |(k, _)| k)
        } else {
            0
        };
        if rec.kind == Kind::End {
            col.note = rec.note.to_string();
        }
        // Start and end rows stay in every window: they frame the machine's line.
        let framing = matches!(rec.kind, Kind::Start | Kind::End);
        if let Some((a, b)) = range
            && !framing
            && !(a..b).contains(&rec.unix_ns)
        {
            return;
        }
        if rec.kind.is_tick() {
            col.tick(page_ticks, deadline);
            page_ticks += 1;
        }
        let at = rec.unix_ns.wrapping_sub(h.start_unix_ns) as i64;
        col.push(&rec, at, &mut last);
    })?;
    Ok(col)
}

/// The window the page shows: `asked`, checked; without it, the first part of the run that
/// holds [`MAX_EVENTS`] rows when the run has more (`secs` long, `rows_in_run` rows).
fn window_of(asked: Option<Span>, secs: u64, rows_in_run: u64) -> Result<Option<Span>> {
    Ok(match asked {
        Some(w) if !(w.from >= 0.0 && w.to > w.from) => {
            bail!("the window must be FROM < TO, in seconds since the start")
        }
        Some(w) => Some(w),
        None if rows_in_run > MAX_EVENTS => Some(Span {
            from: 0.0,
            to: secs as f64 * MAX_EVENTS as f64 / rows_in_run as f64,
        }),
        None => None,
    })
}

impl Span {
    /// The span as absolute times (ns) in a run that starts at `start_unix_ns`.
    fn unix_ns(self, start_unix_ns: u64) -> (u64, u64) {
        let at = |s: f64| start_unix_ns.saturating_add((s * 1e9).min(u64::MAX as f64) as u64);
        (at(self.from), at(self.to))
    }

    /// The page's sentence about the window: it shows `rows` of the run's `rows_in_run`.
    fn note(self, rows: u64, rows_in_run: u64) -> String {
        format!(
            "This page shows {:.3} s to {:.3} s of the run ({rows} of its {rows_in_run} rows{}); \
             pick another part with lab view --from S --to S.",
            self.from,
            self.to,
            if rows_in_run > MAX_EVENTS {
                format!(": a page holds at most {MAX_EVENTS}")
            } else {
                String::new()
            }
        )
    }
}

/// The checker's verdict in one line, and whether every rule holds.
fn verdict(r: &check::CheckReport) -> (String, bool) {
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
fn program(dir: &Path) -> String {
    let info: Option<serde_json::Value> = ["run.json", "run-0.json"]
        .iter()
        .find_map(|f| std::fs::read(dir.join(f)).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    info.as_ref()
        .and_then(|v| v.get("program")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "an unknown program (no run.json)".into())
}

/// Each pause and partition of `faults`, as the page shades it.
fn fault_marks(faults: &Plan) -> Vec<FaultMark> {
    faults
        .windows
        .iter()
        .map(|f| {
            let (label, lane) = crate::plots::label(f);
            FaultMark {
                label,
                from_ns: f.window.from_ns,
                to_ns: f.window.to_ns(),
                lane,
            }
        })
        .collect()
}

/// Writes the page of run folder `dir` to `out`. `window`: only rows in that part of the
/// run; without it, a run of more than [`MAX_EVENTS`] rows is cut to the first window that
/// holds that many. The checker reads the logs, then this reads each log once.
pub fn write(dir: &Path, out: &Path, window: Option<Span>) -> Result<Written> {
    let files = log_files(dir)?;
    let report = check::check_run(dir)?;
    let rows_in_run = report.machines.iter().map(|m| m.rows).sum();
    let (head0, reader0) = read_head(&files[0])?;
    let (h0, faults) = (head0.header, head0.faults.clone());
    let window = window_of(window, h0.secs, rows_in_run)?;
    let range = window.map(|w| w.unix_ns(h0.start_unix_ns));
    let heads =
        std::iter::once(Ok((head0, reader0))).chain(files[1..].iter().map(|f| read_head(f)));
    let machines = files
        .iter()
        .zip(heads)
        .map(|(f, head)| {
            let (head, reader) = head?;
            columns(f, &head, reader, &faults, range)
        })
        .collect::<Result<Vec<_>>>()?;
    let rows = machines.iter().map(|m| m.k.len() as u64).sum();
    let (check, check_ok) = verdict(&report);
    let page = Page {
        run: dir.display().to_string(),
        program: program(dir),
        made_by: format!("lab view {}", lamport_host::VERSION),
        secs: h0.secs,
        speedup: f64::from(h0.speedup_milli) / 1000.0,
        roll_max: h0.roll_max,
        queue_cap: h0.queue_cap,
        start_unix_ns: h0.start_unix_ns.to_string(),
        rate_mean: machines.iter().map(|m| f64::from(m.rate)).sum::<f64>() / machines.len() as f64
            * f64::from(h0.speedup_milli)
            / 1000.0,
        check,
        check_ok,
        window: window.map(|w| w.note(rows, rows_in_run)),
        faults: faults.to_string(),
        fault_marks: fault_marks(&faults),
        kinds: KINDS.map(Kind::name),
        machines,
    };
    // Inside <script>, "</" could close the element: JSON allows "<\/" for it.
    let data = serde_json::to_string(&page)?.replace("</", "<\\/");
    let title = html_escape(&dir.display().to_string());
    let html = fill(TEMPLATE, &[("TITLE", &title), ("DATA", &data)])?;
    std::fs::write(out, &html).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Written {
        rows,
        rows_in_run,
        bytes: html.len() as u64,
    })
}

/// `template` with each placeholder `__NAME__` (capital letters) replaced by the value of
/// its name in `values`, in one pass: a value is never searched for placeholders, so the
/// order of the names does not matter. A placeholder without a value, or a value whose
/// placeholder is not in the template, is an error.
fn fill(template: &str, values: &[(&str, &str)]) -> Result<String> {
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
            bail!("the page template has a placeholder __{name}__ that nothing fills");
        };
        used[at] = true;
        out.push_str(&rest[..i]);
        out.push_str(values[at].1);
        rest = &after[name_len + 2..];
    }
    out.push_str(rest);
    if let Some(at) = used.iter().position(|u| !u) {
        bail!("the page template has no placeholder __{}__", values[at].0);
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
        assert!(err.to_string().contains("__NOPE__"), "{err}");
    }
}
