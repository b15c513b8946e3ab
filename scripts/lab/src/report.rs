//! `lab report`: the numbers of a run, per machine and for the run, as Markdown or JSON.

use crate::stats::{Hist, MachineAcc, Summary, Trend};
use anyhow::Result;
use lamport_host::{
    check::{for_each_record, log_files, read_head},
    live_faults::{self, LiveFault},
};
use serde::Serialize;
use std::{fmt::Write, path::Path};

/// One machine's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct MachineRow {
    /// Machine id.
    pub id: u16,
    /// Clock rate (ticks per second, before speedup).
    pub rate: u32,
    /// Ticks done.
    pub ticks: u64,
    /// Deadlines in the run.
    pub ticks_due: u64,
    /// Receive ticks.
    pub recv: u64,
    /// Send events.
    pub send: u64,
    /// Internal events.
    pub internal: u64,
    /// Messages left unprocessed at the end.
    pub unprocessed: u64,
    /// Messages sent (a send to every peer counts one per peer).
    pub messages_sent: u64,
    /// Final logical clock.
    pub final_clock: u64,
    /// Final clock divided by the run's length: clock units per second.
    pub clock_per_s: f64,
    /// `clock_per_s` divided by the tick rate (rate x speedup): 1 means no jumps.
    pub clock_per_tick: f64,
    /// Least-squares slope of clock against system time, per second.
    pub clock_slope_per_s: f64,
    /// Receive jumps (clock after minus clock before).
    pub jumps: Summary,
    /// Clock values skipped by jumps: sum of (jump - 1).
    pub skipped_values: u64,
    /// Skipped values as a share of the final clock.
    pub skipped_share: f64,
    /// Lag: the run's highest clock minus this machine's clock, sampled every 100 ms; its
    /// mean over time (>= 0). Not drift against system time, which is `clock_per_s`.
    pub lag_mean: f64,
    /// Largest lag behind the highest clock.
    pub lag_max: f64,
    /// Trend of the lag, clock units per second (positive: falling behind).
    pub lag_trend_per_s: f64,
    /// Queue length at the ticks.
    pub queue: Summary,
    /// Queue growth per second over the second half of the run.
    pub queue_growth_per_s: f64,
    /// Tick lateness (event time minus deadline), milliseconds.
    pub late_ms: Summary,
    /// How the machine ended.
    pub end_note: Option<String>,
}

/// A run's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// The run folder.
    pub run: String,
    /// Machines.
    pub machines: u16,
    /// Run length, seconds.
    pub secs: u64,
    /// Seed of machine 0's log.
    pub seed: u64,
    /// Each machine's seed (they differ in a host-tcp run of one process per machine).
    pub seeds: Vec<u64>,
    /// Roll range.
    pub roll_max: u32,
    /// Speedup.
    pub speedup: f64,
    /// Per machine.
    pub rows: Vec<MachineRow>,
    /// Highest final clock.
    pub highest_final_clock: u64,
    /// Highest minus lowest final clock.
    pub final_clock_spread: u64,
    /// Tick events of all machines.
    pub ticks: u64,
    /// Messages sent by all machines.
    pub messages: u64,
    /// Tick lateness over every tick of every machine, milliseconds.
    pub late_ms: Summary,
    /// The run's faults as the log header states them (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faults: Option<String>,
    /// The faults set while the run ran, from the logs' `fault` rows (empty: none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub live_faults: Vec<LiveFaultRow>,
    /// What each pause and partition did, planned and live (empty without).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fault_windows: Vec<crate::stats::WindowEffect>,
}

/// A fault set while the run ran, as the report lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LiveFaultRow {
    /// `pause`, `partition`, `delay` or `kill`.
    pub kind: &'static str,
    /// `pause of 1`, `partition 0/1+2`, `delay 300:100`, `kill of 2`.
    pub what: String,
    /// The machines that took it (wrote its `fault` row).
    pub machines: Vec<u16>,
    /// When, seconds after the start.
    pub from_s: f64,
    /// Until when, seconds after the start (`None`: open to the end of the run, or a kill).
    pub to_s: Option<f64>,
}

impl From<&LiveFault> for LiveFaultRow {
    fn from(f: &LiveFault) -> Self {
        Self {
            kind: f.kind,
            what: f.what.clone(),
            machines: f.machines.clone(),
            from_s: f.from_ns as f64 / 1e9,
            to_s: f.to_ns.map(|t| t as f64 / 1e9),
        }
    }
}

/// Reads a run folder (streaming) and computes its report; also returns the accumulators.
pub fn analyze(dir: &Path) -> Result<(RunReport, Vec<MachineAcc>)> {
    let files = log_files(dir)?;
    let live = live_faults::read(&files)?;
    let mut accs = Vec::new();
    for f in &files {
        let (head, _) = read_head(f)?;
        let mut acc = MachineAcc::with_live(head.header, &head.faults, &live);
        for_each_record(f, |_, _, rec| acc.push(&rec))?;
        acc.finish();
        accs.push(acc);
    }
    Ok((report_of(&dir.display().to_string(), &accs), accs))
}

/// The report of finished accumulators, one per machine in id order.
pub fn report_of(run: &str, accs: &[MachineAcc]) -> RunReport {
    let h0 = accs[0].header;
    let samples = accs.iter().map(|a| a.clock_at.len()).min().unwrap_or(0);
    let grid = accs[0].grid();
    let mut lag: Vec<(Trend, f64, f64, u64)> = vec![(Trend::default(), 0.0, 0.0, 0); accs.len()];
    for i in 0..samples {
        let clocks: Option<Vec<u64>> = accs.iter().map(|a| a.clock_at[i]).collect();
        let Some(clocks) = clocks else { continue };
        let top = *clocks.iter().max().unwrap_or(&0);
        for (m, c) in clocks.iter().enumerate() {
            let d = top as f64 - *c as f64;
            let e = &mut lag[m];
            e.0.add(grid.secs(i), d);
            e.1 += d;
            e.2 = e.2.max(d);
            e.3 += 1;
        }
    }
    let speedup = f64::from(h0.speedup_milli) / 1000.0;
    let rows: Vec<MachineRow> = accs
        .iter()
        .zip(&lag)
        .map(|(a, d)| {
            let h = a.header;
            let dur = h.secs as f64;
            let skipped = (a.jumps.sum() - i128::from(a.jumps.count())).max(0) as u64;
            MachineRow {
                id: h.machine,
                rate: h.rate,
                ticks: a.ticks(),
                ticks_due: a.ticks_due(),
                recv: a.recv,
                send: a.send,
                internal: a.internal,
                unprocessed: a.unprocessed,
                messages_sent: a.messages_sent,
                final_clock: a.clock,
                clock_per_s: a.clock as f64 / dur,
                clock_per_tick: a.clock as f64 / (dur * f64::from(h.rate) * speedup),
                clock_slope_per_s: a.clock_slope(),
                jumps: Summary::of(&a.jumps, 1.0),
                skipped_values: skipped,
                skipped_share: if a.clock == 0 {
                    0.0
                } else {
                    skipped as f64 / a.clock as f64
                },
                lag_mean: if d.3 == 0 { 0.0 } else { d.1 / d.3 as f64 },
                lag_max: d.2,
                lag_trend_per_s: d.0.slope(),
                queue: Summary::of(&a.queue, 1.0),
                queue_growth_per_s: a.queue_growth(),
                late_ms: Summary::of(&a.late_us, 1e-3),
                end_note: a.end_note.clone(),
            }
        })
        .collect();
    let finals: Vec<u64> = rows.iter().map(|r| r.final_clock).collect();
    RunReport {
        run: run.to_string(),
        machines: h0.machines,
        secs: h0.secs,
        seed: h0.seed,
        seeds: accs.iter().map(|a| a.header.seed).collect(),
        roll_max: h0.roll_max,
        speedup,
        highest_final_clock: finals.iter().copied().max().unwrap_or(0),
        final_clock_spread: finals.iter().max().unwrap_or(&0) - finals.iter().min().unwrap_or(&0),
        ticks: rows.iter().map(|r| r.ticks).sum(),
        messages: rows.iter().map(|r| r.messages_sent).sum(),
        late_ms: Summary::of(
            &accs.iter().fold(Hist::default(), |mut all, a| {
                all.merge(&a.late_us);
                all
            }),
            1e-3,
        ),
        faults: Some(accs[0].faults.to_string()).filter(|s| !s.is_empty()),
        live_faults: accs[0].live.iter().map(LiveFaultRow::from).collect(),
        fault_windows: crate::stats::window_effects(accs),
        rows,
    }
}

/// The report as Markdown tables.
pub fn markdown(r: &RunReport) -> String {
    let mut s = String::new();
    intro_markdown(&mut s, r);
    counts_markdown(&mut s, r);
    jumps_markdown(&mut s, r);
    lag_markdown(&mut s, r);
    lateness_markdown(&mut s, r);
    let _ = writeln!(
        s,
        "\nRun: {} ticks, {} messages, highest final clock {}, spread of final clocks {}.",
        r.ticks, r.messages, r.highest_final_clock, r.final_clock_spread
    );
    if r.faults.is_some() || !r.live_faults.is_empty() {
        faults_markdown(&mut s, r);
    }
    s
}

/// The run's parameters in one sentence.
fn intro_markdown(s: &mut String, r: &RunReport) {
    let rates: Vec<String> = r.rows.iter().map(|m| m.rate.to_string()).collect();
    let seed = if r.seeds.iter().all(|&x| x == r.seed) {
        format!("seed {}", r.seed)
    } else {
        let all: Vec<String> = r.seeds.iter().map(u64::to_string).collect();
        format!("seeds {} (one per machine)", all.join(", "))
    };
    let _ = writeln!(
        s,
        "Run `{}`: {} machines, {} s, {seed}, roll_max {}, speedup {}, rates {}.\n",
        r.run,
        r.machines,
        r.secs,
        r.roll_max,
        r.speedup,
        rates.join(", ")
    );
}

/// Events per kind and the clock's pace, a row per machine.
fn counts_markdown(s: &mut String, r: &RunReport) {
    let _ = writeln!(
        s,
        "| machine | rate | ticks (due) | recv | send | internal | unprocessed | final clock | clock/s | clock per tick | clock slope /s |"
    );
    let _ = writeln!(
        s,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for m in &r.rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} ({}) | {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} |",
            m.id,
            m.rate,
            m.ticks,
            m.ticks_due,
            m.recv,
            m.send,
            m.internal,
            m.unprocessed,
            m.final_clock,
            m.clock_per_s,
            m.clock_per_tick,
            m.clock_slope_per_s
        );
    }
}

/// Jumps on receive and the clock values they skip, a row per machine.
fn jumps_markdown(s: &mut String, r: &RunReport) {
    let _ = writeln!(
        s,
        "\nJumps on receive (clock after minus before; 1 = no gap) and the clock values they skip:\n"
    );
    let _ = writeln!(
        s,
        "| machine | receives | min | mean | p50 | p99 | max | values skipped | share of final clock |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in &r.rows {
        let j = &m.jumps;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {} | {} | {} | {} | {:.1}% |",
            m.id,
            j.count,
            j.min,
            j.mean,
            j.p50,
            j.p99,
            j.max,
            m.skipped_values,
            m.skipped_share * 100.0
        );
    }
}

/// Lag behind the highest clock and the queue, a row per machine.
fn lag_markdown(s: &mut String, r: &RunReport) {
    let _ = writeln!(
        s,
        "\nLag: the run's highest clock minus each clock, sampled every 100 ms (drift against system time is clock/s above); and the queue at each tick:\n"
    );
    let _ = writeln!(
        s,
        "| machine | lag mean | largest lag | lag trend /s | queue mean | queue p99 | longest queue | queue growth /s (2nd half) |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|");
    for m in &r.rows {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {} | {:.3} | {:.2} | {} | {} | {:.3} |",
            m.id,
            m.lag_mean,
            m.lag_max,
            m.lag_trend_per_s,
            m.queue.mean,
            m.queue.p99,
            m.queue.max,
            m.queue_growth_per_s
        );
    }
}

/// Tick lateness and how each machine ended, a row per machine.
fn lateness_markdown(s: &mut String, r: &RunReport) {
    let _ = writeln!(
        s,
        "\nTick lateness (event time minus deadline), ms, and how each machine ended:\n"
    );
    let _ = writeln!(s, "| machine | p50 | p99 | max | end |");
    let _ = writeln!(s, "|---:|---:|---:|---:|---|");
    for m in &r.rows {
        let _ = writeln!(
            s,
            "| {} | {:.3} | {:.3} | {:.3} | {} |",
            m.id,
            m.late_ms.p50,
            m.late_ms.p99,
            m.late_ms.max,
            m.end_note.as_deref().unwrap_or("(no end row)")
        );
    }
}

/// A window's end: its time, or `the end` for a live one never closed.
fn to_markdown(w: &crate::stats::WindowEffect) -> String {
    if w.open {
        "the end".into()
    } else {
        format!("{:.3}", w.to_s)
    }
}

/// The faults set while the run ran, a row each.
fn live_markdown(s: &mut String, live: &[LiveFaultRow]) {
    let _ = writeln!(
        s,
        "\nFaults set while the run ran (from the logs' `fault` rows):\n"
    );
    let _ = writeln!(s, "| fault | machines | from (s) | to (s) |");
    let _ = writeln!(s, "|---|---|---:|---:|");
    for f in live {
        let ids: Vec<String> = f.machines.iter().map(u16::to_string).collect();
        let to = match (f.kind, f.to_s) {
            ("kill", _) => "-".to_string(),
            (_, Some(t)) => format!("{t:.3}"),
            (_, None) => "the end".to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {to} |",
            f.what,
            ids.join(", "),
            f.from_s
        );
    }
}

/// The faults section of the report: the header's line and the live faults, then one row
/// per window (planned and live).
fn faults_markdown(s: &mut String, r: &RunReport) {
    let windows = &r.fault_windows;
    match &r.faults {
        Some(line) => {
            let _ = writeln!(s, "\nFaults: `{line}`.");
        }
        None => {
            let _ = writeln!(s, "\nFaults: none planned.");
        }
    }
    if !r.live_faults.is_empty() {
        live_markdown(s, &r.live_faults);
    }
    let pauses: Vec<_> = windows.iter().filter(|w| w.machine.is_some()).collect();
    if !pauses.is_empty() {
        let _ = writeln!(
            s,
            "\nPauses (no tick inside; the ticks are skipped): the paused machine when it resumed, and how long it took to empty its queue and to reach the clock the highest machine had then.\n"
        );
        let _ = writeln!(
            s,
            "| fault | from (s) | to (s) | waiting in its queue | clock behind the highest | queue empty again after (s) | clock caught up after (s) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
        for w in pauses {
            let _ = writeln!(
                s,
                "| {} | {:.3} | {} | {} | {} | {} | {} |",
                w.fault,
                w.from_s,
                to_markdown(w),
                w.waiting_at_resume.map_or("-".into(), |v| v.to_string()),
                w.lag_at_resume.map_or("-".into(), |v| v.to_string()),
                w.drained_after_s
                    .map_or("never".into(), |v| format!("{v:.3}")),
                w.caught_up_after_s
                    .map_or("never".into(), |v| format!("{v:.1}"))
            );
        }
    }
    let parts: Vec<_> = windows.iter().filter(|w| w.heal_jump.is_some()).collect();
    if !parts.is_empty() {
        let _ = writeln!(
            s,
            "\nPartitions (messages across held until the heal): the highest clock of each side when it opened and just before it healed; after the heal, how long until every machine of the side behind had the other side's highest clock at the heal, and the largest jump of a receive across until then.\n"
        );
        let _ = writeln!(
            s,
            "| fault | from (s) | to (s) | clocks at open (A / B) | clocks before heal (A / B) | caught up after (s) | largest jump across | receives across inside (sent before) |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for w in parts {
            let pair =
                |c: Option<[u64; 2]>| c.map_or("-".into(), |c| format!("{} / {}", c[0], c[1]));
            let _ = writeln!(
                s,
                "| {} | {:.3} | {} | {} | {} | {} | {} | {} |",
                w.fault,
                w.from_s,
                to_markdown(w),
                pair(w.side_clocks_at_from),
                pair(w.side_clocks_at_to),
                w.caught_up_after_s
                    .map_or("never".into(), |v| format!("{v:.1}")),
                w.heal_jump.unwrap_or(0),
                w.cross_recv_inside.unwrap_or(0)
            );
        }
    }
}

/// The header of [`table_row`]'s table.
pub fn table_header() -> String {
    "| run | rates | final clocks | mean jump | max jump | longest queue | largest lag | late p99 (ms) | concurrent pairs | of which Lamport orders |\n\
     |---|---|---|---|---|---|---|---:|---:|---:|\n"
        .to_string()
}

/// One row per run; per-machine values joined by ` / `.
pub fn table_row(r: &RunReport, h: &crate::hb::HbReport) -> String {
    let join =
        |f: &dyn Fn(&MachineRow) -> String| r.rows.iter().map(f).collect::<Vec<_>>().join(" / ");
    let name = Path::new(&r.run)
        .iter()
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    let late = r.rows.iter().map(|m| m.late_ms.p99).fold(0.0f64, f64::max);
    let pct = |a: u128, b: u128| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    format!(
        "| {name} | {} | {} | {} | {} | {} | {} | {late:.3} | {:.1}% | {:.1}% |\n",
        join(&|m| m.rate.to_string()),
        join(&|m| m.final_clock.to_string()),
        join(&|m| format!("{:.2}", m.jumps.mean)),
        join(&|m| format!("{}", m.jumps.max)),
        join(&|m| format!("{}", m.queue.max)),
        join(&|m| format!("{}", m.lag_max)),
        pct(h.concurrent_pairs, h.pairs),
        pct(h.concurrent_lamport_ordered, h.concurrent_pairs),
    )
}
