//! `lab sweep`: the simulator over many seeds for each parameter set, in parallel.

use crate::stats::MachineAcc;
use anyhow::{Context, Result};
use lamport_core::{
    RunParams,
    record::Record,
    sim::{Outcome, Sim},
};
use rayon::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;

/// One parameter set of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepSet {
    /// Pinned rates (one per machine), or drawn.
    pub rates: Option<Vec<u32>>,
    /// Roll range.
    pub roll_max: u32,
    /// The faults, as the log header writes them (empty: none).
    pub faults: String,
    /// The same, as the simulator takes them.
    #[serde(skip)]
    pub plan: lamport_core::faults::Plan,
}

/// Median and 5th-95th percentiles across seeds.
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq)]
pub struct Dist {
    /// 5th percentile.
    pub p5: f64,
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
}

impl Dist {
    /// The distribution of `v` (sorted in place).
    pub fn of(v: &mut [f64]) -> Self {
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Self {
            p5: at(0.05),
            median: at(0.5),
            p95: at(0.95),
        }
    }
}

/// One machine's distributions across seeds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MachineDist {
    /// Clock rate when pinned (0 when drawn per seed).
    pub rate: u32,
    /// Final logical clock.
    pub final_clock: Dist,
    /// Mean receive jump.
    pub mean_jump: Dist,
    /// Largest receive jump.
    pub max_jump: Dist,
    /// Longest queue.
    pub max_queue: Dist,
    /// Queue growth per second over the second half.
    pub queue_growth: Dist,
}

/// One fault window's effects across seeds (see [`crate::stats::WindowEffect`]).
#[derive(Debug, Clone, Serialize, Default)]
pub struct WindowDist {
    /// The fault, as the log header writes it.
    pub fault: String,
    /// A pause: messages waiting when the machine resumed.
    pub waiting_at_resume: Dist,
    /// A pause: its clock's lag behind the highest when it resumed.
    pub lag_at_resume: Dist,
    /// A pause: seconds until its queue was empty again (runs where it never was are left
    /// out; see `never_drained`).
    pub drained_after_s: Dist,
    /// A pause: runs whose paused machine never emptied its queue again.
    pub never_drained: u64,
    /// Seconds until the machines behind caught up (runs where they never did are left
    /// out; see `never_caught_up`).
    pub caught_up_after_s: Dist,
    /// Runs whose machines behind never caught up.
    pub never_caught_up: u64,
    /// A partition: the difference of the two sides' highest clocks when it opened.
    pub gap_at_from: Dist,
    /// A partition: the same just before it healed.
    pub gap_at_to: Dist,
    /// A partition: the largest jump of a receive across it within a second after.
    pub heal_jump: Dist,
}

/// A set's results.
#[derive(Debug, Clone, Serialize)]
pub struct SetResult {
    /// The set.
    pub set: SweepSet,
    /// Seeds run.
    pub seeds: u64,
    /// Seeds whose run stopped on a full queue.
    pub queue_full: u64,
    /// Per machine.
    pub machines: Vec<MachineDist>,
    /// Per pause or partition.
    pub windows: Vec<WindowDist>,
}

/// Per-seed numbers of one machine.
#[derive(Debug, Clone, Copy)]
struct One {
    final_clock: f64,
    mean_jump: f64,
    max_jump: f64,
    max_queue: f64,
    growth: f64,
}

/// Simulates one seed and returns per-machine numbers and whether a queue overflowed.
fn one_seed(
    params: &RunParams,
    rates: &Option<Vec<u32>>,
    faults: &lamport_core::faults::Plan,
    latency_ns: u64,
) -> Result<(Vec<One>, bool, Vec<crate::stats::WindowEffect>)> {
    let pinned: Vec<Option<u32>> = (0..params.machines)
        .map(|id| rates.as_ref().map(|r| r[usize::from(id)]))
        .collect();
    let mut slots =
        lamport_host::sim::host_slots(params, &pinned, faults).context("invalid parameters")?;
    lamport_host::sim::check_latency(&slots, latency_ns)?;
    let mut accs: Vec<MachineAcc> = slots
        .iter()
        .map(|s| MachineAcc::new(s.machine().header(), faults))
        .collect();
    let outcome =
        Sim::new(&mut slots, latency_ns)?.run(|id, rec: &Record| accs[usize::from(id)].push(rec));
    let effects = crate::stats::window_effects(&accs);
    let ones = accs
        .iter_mut()
        .map(|a| {
            a.finish();
            One {
                final_clock: a.clock as f64,
                mean_jump: a.jumps.mean(),
                max_jump: a.jumps.max() as f64,
                max_queue: a.queue.max() as f64,
                growth: a.queue_growth(),
            }
        })
        .collect();
    Ok((ones, outcome != Outcome::TimeUp, effects))
}

/// Runs every set over `seeds` seeds starting at `params.seed`, in parallel.
pub fn run(
    params: &RunParams,
    sets: &[SweepSet],
    seeds: u64,
    latency_ns: u64,
    progress: bool,
) -> Result<Vec<SetResult>> {
    let bar = if progress {
        let b = indicatif::ProgressBar::new(seeds * sets.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {eta} left")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let mut out = Vec::new();
    for set in sets {
        let machines = set
            .rates
            .as_ref()
            .map_or(params.machines, |r| r.len() as u16);
        let p = RunParams {
            machines,
            roll_max: set.roll_max,
            ..*params
        };
        let runs: Vec<(Vec<One>, bool, Vec<crate::stats::WindowEffect>)> = (0..seeds)
            .into_par_iter()
            .map(|k| {
                let r = one_seed(
                    &RunParams {
                        seed: params.seed.wrapping_add(k),
                        ..p
                    },
                    &set.rates,
                    &set.plan,
                    latency_ns,
                );
                if let Some(b) = &bar {
                    b.inc(1);
                }
                r
            })
            .collect::<Result<_>>()?;
        let machines = (0..usize::from(machines))
            .map(|m| {
                let col = |f: fn(&One) -> f64| -> Dist {
                    Dist::of(&mut runs.iter().map(|(v, _, _)| f(&v[m])).collect::<Vec<_>>())
                };
                MachineDist {
                    rate: set.rates.as_ref().map_or(0, |r| r[m]),
                    final_clock: col(|o| o.final_clock),
                    mean_jump: col(|o| o.mean_jump),
                    max_jump: col(|o| o.max_jump),
                    max_queue: col(|o| o.max_queue),
                    queue_growth: col(|o| o.growth),
                }
            })
            .collect();
        out.push(SetResult {
            set: set.clone(),
            seeds,
            queue_full: runs.iter().filter(|(_, f, _)| *f).count() as u64,
            machines,
            windows: window_dists(&runs),
        });
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(out)
}

/// Each window's effects across the runs of a set.
fn window_dists(runs: &[(Vec<One>, bool, Vec<crate::stats::WindowEffect>)]) -> Vec<WindowDist> {
    let Some((_, _, first)) = runs.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|w| {
            let col = |f: &dyn Fn(&crate::stats::WindowEffect) -> Option<f64>| {
                Dist::of(&mut runs.iter().filter_map(|r| f(&r.2[w])).collect::<Vec<_>>())
            };
            let gap = |c: Option<[u64; 2]>| c.map(|c| c[0].abs_diff(c[1]) as f64);
            WindowDist {
                fault: first[w].fault.clone(),
                waiting_at_resume: col(&|e| e.waiting_at_resume.map(|v| v as f64)),
                lag_at_resume: col(&|e| e.lag_at_resume.map(|v| v as f64)),
                drained_after_s: col(&|e| e.drained_after_s),
                never_drained: runs
                    .iter()
                    .filter(|r| r.2[w].machine.is_some() && r.2[w].drained_after_s.is_none())
                    .count() as u64,
                caught_up_after_s: col(&|e| e.caught_up_after_s),
                never_caught_up: runs
                    .iter()
                    .filter(|r| r.2[w].caught_up_after_s.is_none())
                    .count() as u64,
                gap_at_from: col(&|e| gap(e.side_clocks_at_from)),
                gap_at_to: col(&|e| gap(e.side_clocks_at_to)),
                heal_jump: col(&|e| e.heal_jump.map(|v| v as f64)),
            }
        })
        .collect()
}

/// The results as Markdown: per set, per machine, median [p5, p95].
pub fn markdown(params: &RunParams, results: &[SetResult]) -> String {
    let d = |x: &Dist, prec: usize| {
        // A value that rounds to zero prints as 0, never -0.
        let z = |v: f64| {
            if (v * 10f64.powi(prec as i32)).round() == 0.0 {
                0.0
            } else {
                v
            }
        };
        format!(
            "{:.p$} [{:.p$}, {:.p$}]",
            z(x.median),
            z(x.p5),
            z(x.p95),
            p = prec
        )
    };
    let mut s = String::new();
    for r in results {
        let rates = match &r.set.rates {
            Some(v) => v.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
            None => format!("drawn from {} to {}", params.rate_min, params.rate_max),
        };
        let faults = if r.set.faults.is_empty() {
            String::new()
        } else {
            format!(", faults `{}`", r.set.faults)
        };
        let _ = writeln!(
            s,
            "Rates {rates}, roll_max {}, {} s{faults}, {} seeds from {} (median [5th, 95th percentile]); runs stopped by a full queue: {}.\n",
            r.set.roll_max, params.secs, r.seeds, params.seed, r.queue_full
        );
        let _ = writeln!(
            s,
            "| machine | rate | final clock | mean jump | max jump | longest queue | queue growth /s |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|");
        for (i, m) in r.machines.iter().enumerate() {
            let rate = if m.rate == 0 {
                "drawn".to_string()
            } else {
                m.rate.to_string()
            };
            let _ = writeln!(
                s,
                "| {i} | {rate} | {} | {} | {} | {} | {} |",
                d(&m.final_clock, 0),
                d(&m.mean_jump, 2),
                d(&m.max_jump, 0),
                d(&m.max_queue, 0),
                d(&m.queue_growth, 3)
            );
        }
        for w in &r.windows {
            if w.fault.starts_with("pause") {
                let _ = writeln!(
                    s,
                    "\n`{}`: when the machine resumed, messages waiting {}, clock behind the highest {}; queue empty again after {} s (never, in {} runs); clock caught up with that highest after {} s (never, in {} runs).",
                    w.fault,
                    d(&w.waiting_at_resume, 0),
                    d(&w.lag_at_resume, 0),
                    d(&w.drained_after_s, 2),
                    w.never_drained,
                    d(&w.caught_up_after_s, 1),
                    w.never_caught_up
                );
            } else {
                let _ = writeln!(
                    s,
                    "\n`{}`: gap between the sides' highest clocks when it opened {}, just before it healed {}; the side behind caught up after {} s (never, in {} runs), its largest jump across until then {}.",
                    w.fault,
                    d(&w.gap_at_from, 0),
                    d(&w.gap_at_to, 0),
                    d(&w.caught_up_after_s, 1),
                    w.never_caught_up,
                    d(&w.heal_jump, 0)
                );
            }
        }
        s.push('\n');
    }
    s
}
