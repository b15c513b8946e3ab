//! `lab view`: one self-contained HTML page of a run (space-time diagram, causality, clock
//! and queue charts, summary). The page is `view.html` with the run's rows embedded as
//! compact columns (deltas of time and clock, one character per kind); its script decodes
//! them, matches every receive to its send, computes the vector clocks as `lab hb` does and
//! draws on canvas. Nothing is fetched: it opens from disk.

use anyhow::{Context, Result, bail};
use lamport_core::record::{Header, Kind, Peers};
use lamport_host::check::{self, for_each_record, log_files, read_head};
use serde::Serialize;
use std::path::Path;

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

/// One machine's rows as columns. `t`: time since the start minus the previous row's (ns);
/// `c`: clock minus the previous row's; `k`: one digit per row (0 start, 1 recv, 2 send,
/// 3 internal, 4 unprocessed, 5 end); `p`: the peer of each recv, send (-1: every other
/// machine) and unprocessed row, in row order; `mc`: the message clock of each recv and
/// unprocessed row.
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
    match k {
        Kind::Start => '0',
        Kind::Recv => '1',
        Kind::Send => '2',
        Kind::Internal => '3',
        Kind::Unprocessed => '4',
        Kind::End => '5',
    }
}

/// Writes the page of run folder `dir` to `out`. `window`: only rows in that part of the
/// run; without it, a run of more than [`MAX_EVENTS`] rows is cut to the first window that
/// holds that many.
pub fn write(dir: &Path, out: &Path, window: Option<Span>) -> Result<Written> {
    let files = log_files(dir)?;
    let mut headers: Vec<Header> = Vec::new();
    let mut rows_in_run = 0u64;
    for f in &files {
        headers.push(for_each_record(f, |_, _, _| rows_in_run += 1)?);
    }
    let h0 = headers[0];
    let faults = read_head(&files[0])?.0.faults;
    let secs = h0.secs as f64;
    let window = match window {
        Some(w) if !(w.from >= 0.0 && w.to > w.from) => {
            bail!("the window must be FROM < TO, in seconds since the start")
        }
        Some(w) => Some(w),
        None if rows_in_run > MAX_EVENTS => Some(Span {
            from: 0.0,
            to: secs * MAX_EVENTS as f64 / rows_in_run as f64,
        }),
        None => None,
    };
    let range = window.map(|w| {
        (
            h0.start_unix_ns
                .saturating_add((w.from * 1e9).min(u64::MAX as f64) as u64),
            h0.start_unix_ns
                .saturating_add((w.to * 1e9).min(u64::MAX as f64) as u64),
        )
    });
    let mut machines = Vec::new();
    let mut rows = 0u64;
    for (f, h) in files.iter().zip(&headers) {
        let mut col = Columns {
            id: h.machine,
            rate: h.rate,
            per_kilosec: u64::from(h.rate) * u64::from(h.speedup_milli),
            phase_ns: h.phase_ns,
            seed: h.seed,
            ..Columns::default()
        };
        let (mut t, mut c) = (0i64, 0i64);
        let schedule = h.schedule();
        let mut deadlines = faults.deadlines(h.machine, schedule, h.start_unix_ns);
        let mut page_ticks = 0u64;
        for_each_record(f, |_, _, rec| {
            // Every tick of the run takes the next deadline, in the page or not; a tick
            // beyond the schedule (a broken log) gets its end.
            let this = if rec.kind.is_tick() {
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
            rows += 1;
            if rec.kind.is_tick() {
                let moved = col
                    .dl
                    .last()
                    .is_none_or(|&[j, k]| this - k != page_ticks - j);
                if moved {
                    col.dl.push([page_ticks, this]);
                }
                page_ticks += 1;
            }
            let at = rec.unix_ns.wrapping_sub(h0.start_unix_ns) as i64;
            col.t.push(at - t);
            t = at;
            let clock = rec.clock as i64;
            col.c.push(clock - c);
            c = clock;
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
        })?;
        machines.push(col);
    }
    let (check, check_ok) = match check::check_run(dir) {
        Ok(r) if r.holds() => (
            format!(
                "ok: {} machines, {} ticks, every rule holds",
                r.machines.len(),
                r.machines.iter().map(|m| m.ticks).sum::<u64>()
            ),
            true,
        ),
        Ok(r) => (
            format!("{} violations; the first: {}", r.count(), r.violations[0]),
            false,
        ),
        Err(e) => (e.to_string(), false),
    };
    // run.json, or in host-tcp's one-process-per-machine mode machine 0's run-0.json.
    let info: Option<serde_json::Value> = ["run.json", "run-0.json"]
        .iter()
        .find_map(|f| std::fs::read(dir.join(f)).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    let program = info
        .as_ref()
        .and_then(|v| v.get("program")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "an unknown program (no run.json)".into());
    let page = Page {
        run: dir.display().to_string(),
        program,
        made_by: format!("lab view {}", lamport_host::VERSION),
        secs: h0.secs,
        speedup: f64::from(h0.speedup_milli) / 1000.0,
        roll_max: h0.roll_max,
        queue_cap: h0.queue_cap,
        start_unix_ns: h0.start_unix_ns.to_string(),
        rate_mean: headers.iter().map(|h| f64::from(h.rate)).sum::<f64>() / headers.len() as f64
            * f64::from(h0.speedup_milli)
            / 1000.0,
        check,
        check_ok,
        window: window.map(|w| {
            format!(
                "This page shows {:.3} s to {:.3} s of the run ({rows} of its {rows_in_run} rows{}); \
                 pick another part with lab view --from S --to S.",
                w.from,
                w.to,
                if rows_in_run > MAX_EVENTS {
                    format!(": a page holds at most {MAX_EVENTS}")
                } else {
                    String::new()
                }
            )
        }),
        faults: faults.to_string(),
        fault_marks: faults
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
            .collect(),
        machines,
    };
    // Inside <script>, "</" could close the element: JSON allows "<\/" for it.
    let data = serde_json::to_string(&page)?.replace("</", "<\\/");
    let title = html_escape(&dir.display().to_string());
    // The data first: the title placeholder comes before it in the page.
    let html = TEMPLATE
        .replacen("__DATA__", &data, 1)
        .replacen("__TITLE__", &title, 1);
    std::fs::write(out, &html).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Written {
        rows,
        rows_in_run,
        bytes: html.len() as u64,
    })
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
