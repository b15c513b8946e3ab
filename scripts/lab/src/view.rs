//! `lab view`: one self-contained HTML page of a run (space-time diagram, causality, clock
//! and queue charts, summary): the page and its data ([`lamport_host::page`]) with the
//! run's rows embedded. Nothing is fetched: it opens from disk.

use anyhow::{Context, Result, bail};
use lamport_core::faults::Plan;
use lamport_host::{
    check::{self, Head, log_files, read_head},
    page::{self, Builder, Columns, Page},
};
use std::{fs::File, io::BufReader, path::Path};

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

/// One pass over one machine's log: its columns, the rows in `range` (absolute ns) kept,
/// start and end rows always. `faults`: the run's, whose pauses move the deadlines.
fn columns(
    path: &Path,
    head: &Head,
    reader: BufReader<File>,
    faults: &Plan,
    range: Option<(u64, u64)>,
) -> Result<Columns> {
    let mut b = Builder::new(head, faults, range);
    check::records(path, head, reader, |_, _, rec| b.push(&rec))?;
    Ok(b.finish())
}

/// The window the page shows: `asked`, checked; without it, the first part of the run that
/// holds [`MAX_EVENTS`] rows when the run has more (`secs` long, `rows_in_run` rows).
fn window_of(asked: Option<Span>, secs: u64, rows_in_run: u64) -> Result<Option<Span>> {
    Ok(match asked {
        Some(w) if !(w.from >= 0.0 && w.to > w.from) => {
            bail!("the window must be FROM < TO, in seconds since the start")
        }
        Some(w) if w.from >= secs as f64 => {
            bail!(
                "--from {} is past the end of the run: it is {secs} s long",
                w.from
            )
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

/// Writes the page of run folder `dir` to `out`. `window`: only rows in that part of the
/// run; without it, a run of more than [`MAX_EVENTS`] rows is cut to the first window that
/// holds that many. The checker reads the logs, then this reads each log once.
pub fn write(dir: &Path, out: &Path, window: Option<Span>) -> Result<Written> {
    let folder = check::check_folder(dir, &check::CheckOptions::default())?;
    let report = folder.report;
    let rows_in_run = report.machines.iter().map(|m| m.rows).sum();
    let (mut check, check_ok) = page::verdict(&report);
    if let Some(w) = folder.writing {
        check = format!("{w}. {check}");
    }
    write_judged(dir, out, window, rows_in_run, (check, check_ok))
}

/// [`write`] with the checker's verdict given: its line and whether every rule holds, for a
/// run of `rows_in_run` rows.
fn write_judged(
    dir: &Path,
    out: &Path,
    window: Option<Span>,
    rows_in_run: u64,
    (check, check_ok): (String, bool),
) -> Result<Written> {
    let files = log_files(dir)?;
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
    let rows = machines.iter().map(Columns::rows).sum();
    let mut page = Page {
        run: dir.display().to_string(),
        program: page::program(dir),
        made_by: format!("lab view {}", lamport_host::VERSION),
        check,
        check_ok,
        window: window.map(|w| w.note(rows, rows_in_run)),
        ..Page::default()
    };
    page::run_fields(&mut page, &h0, &faults);
    page.rate_mean = page::rate_mean(&machines, h0.speedup_milli);
    page.machines = machines;
    let html = page::html(&dir.display().to_string(), &page).map_err(anyhow::Error::msg)?;
    std::fs::write(out, &html).with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Written {
        rows,
        rows_in_run,
        bytes: html.len() as u64,
    })
}
