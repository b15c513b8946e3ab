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
    /// Every seed's own numbers (written by `--per-seed`, not part of the summary).
    #[serde(skip)]
    pub per_seed: PerSeed,
}

/// Every seed's numbers of one set, in seed order: what the summary's distributions are
/// made of, so that a reader can compute intervals, or pair two sets seed by seed.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct PerSeed {
    /// Per machine.
    pub machines: Vec<SeedColumns>,
    /// Per pause or partition (`None` where the summary leaves a seed out).
    pub windows: Vec<SeedWindowColumns>,
}

/// One machine's numbers, one entry per seed. Fractions are rounded to 4 decimals.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct SeedColumns {
    /// Final logical clock.
    pub final_clock: Vec<u64>,
    /// Mean receive jump.
    pub mean_jump: Vec<f64>,
    /// Largest receive jump.
    pub max_jump: Vec<u64>,
    /// Longest queue.
    pub max_queue: Vec<u64>,
    /// Queue growth per second over the second half.
    pub queue_growth: Vec<f64>,
}

/// One window's numbers, one entry per seed (as in [`WindowDist`]).
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct SeedWindowColumns {
    /// The fault, as the log header writes it.
    pub fault: String,
    /// A pause: messages waiting when the machine resumed.
    pub waiting_at_resume: Vec<Option<u64>>,
    /// A pause: its clock's lag behind the highest when it resumed.
    pub lag_at_resume: Vec<Option<u64>>,
    /// A pause: seconds until its queue was empty again.
    pub drained_after_s: Vec<Option<f64>>,
    /// Seconds until the machines behind caught up.
    pub caught_up_after_s: Vec<Option<f64>>,
    /// A partition: the gap between the sides' highest clocks when it opened.
    pub gap_at_from: Vec<Option<u64>>,
    /// A partition: the same just before it healed.
    pub gap_at_to: Vec<Option<u64>>,
    /// A partition: the largest jump of a receive across it until the side behind caught up.
    pub heal_jump: Vec<Option<u64>>,
    /// A partition: whether that jump's message was sent after the heal.
    pub heal_jump_fresh: Vec<Option<bool>>,
}

/// `x` rounded to 4 decimals (per-seed files stay small and diff cleanly).
fn r4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// The per-seed numbers of a set's runs (in seed order).
fn per_seed(runs: &[(Vec<One>, bool, Vec<crate::stats::WindowEffect>)]) -> PerSeed {
    let machines = runs.first().map_or(0, |r| r.0.len());
    let windows = runs.first().map_or(0, |r| r.2.len());
    PerSeed {
        machines: (0..machines)
            .map(|m| {
                let col = |f: fn(&One) -> f64| runs.iter().map(|r| f(&r.0[m])).collect::<Vec<_>>();
                let int = |f: fn(&One) -> f64| col(f).into_iter().map(|x| x as u64).collect();
                SeedColumns {
                    final_clock: int(|o| o.final_clock),
                    mean_jump: col(|o| o.mean_jump).into_iter().map(r4).collect(),
                    max_jump: int(|o| o.max_jump),
                    max_queue: int(|o| o.max_queue),
                    queue_growth: col(|o| o.growth).into_iter().map(r4).collect(),
                }
            })
            .collect(),
        windows: (0..windows)
            .map(|w| {
                let col = |f: &dyn Fn(&crate::stats::WindowEffect) -> Option<u64>| {
                    runs.iter().map(|r| f(&r.2[w])).collect()
                };
                let secs = |f: &dyn Fn(&crate::stats::WindowEffect) -> Option<f64>| {
                    runs.iter().map(|r| f(&r.2[w]).map(r4)).collect()
                };
                let gap = |c: Option<[u64; 2]>| c.map(|c| c[0].abs_diff(c[1]));
                SeedWindowColumns {
                    fault: runs[0].2[w].fault.clone(),
                    waiting_at_resume: col(&|e| e.waiting_at_resume),
                    lag_at_resume: col(&|e| e.lag_at_resume),
                    drained_after_s: secs(&|e| e.drained_after_s),
                    caught_up_after_s: secs(&|e| e.caught_up_after_s),
                    gap_at_from: col(&|e| gap(e.side_clocks_at_from)),
                    gap_at_to: col(&|e| gap(e.side_clocks_at_to)),
                    heal_jump: col(&|e| e.heal_jump),
                    heal_jump_fresh: runs.iter().map(|r| r.2[w].heal_jump_fresh).collect(),
                }
            })
            .collect(),
    }
}

/// The per-seed numbers of every set as JSON, one line per set: `{"set", "first_seed",
/// "seeds", "machines", "windows"}`, each column one entry per seed in seed order.
pub fn per_seed_json(params: &RunParams, results: &[SetResult]) -> Result<String> {
    #[derive(Serialize)]
    struct Line<'a> {
        set: &'a SweepSet,
        first_seed: u64,
        seeds: u64,
        #[serde(flatten)]
        per_seed: &'a PerSeed,
    }
    let mut s = String::new();
    for r in results {
        let line = Line {
            set: &r.set,
            first_seed: params.seed,
            seeds: r.seeds,
            per_seed: &r.per_seed,
        };
        let _ = writeln!(s, "{}", serde_json::to_string(&line)?);
    }
    Ok(s)
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
    let model = lamport_host::args::Model {
        params: *params,
        pinned: (0..params.machines)
            .map(|id| rates.as_ref().map(|r| r[usize::from(id)]))
            .collect(),
        faults: faults.clone(),
    };
    let mut slots = lamport_host::sim::sim_nodes(&model).context("invalid parameters")?;
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
            per_seed: per_seed(&runs),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pause_set(params: &RunParams) -> SweepSet {
        let plan = lamport_host::args::fault_plan(None, &["1@10+5".to_string()], &[], params)
            .expect("a valid pause");
        SweepSet {
            rates: Some(vec![3, 4, 6]),
            roll_max: 10,
            faults: plan.to_string(),
            plan,
        }
    }

    /// `--per-seed` keeps every seed's numbers in seed order: entry k is what a sweep of the
    /// one seed `first + k` gives, and the summary's median is the median of the column.
    #[test]
    fn per_seed_columns_are_the_seeds_in_order() {
        let params = RunParams {
            secs: 30,
            ..RunParams::new(5, 0)
        };
        let set = pause_set(&params);
        let all = run(&params, std::slice::from_ref(&set), 7, 0, false).expect("sweep");
        let ps = &all[0].per_seed;
        assert_eq!(ps.machines.len(), 3);
        assert_eq!(ps.windows.len(), 1);
        for k in 0..7u64 {
            let one = run(
                &RunParams {
                    seed: params.seed + k,
                    ..params
                },
                std::slice::from_ref(&set),
                1,
                0,
                false,
            )
            .expect("sweep of one seed");
            let k = k as usize;
            for (m, col) in ps.machines.iter().enumerate() {
                let d = &one[0].machines[m];
                assert_eq!(col.final_clock[k] as f64, d.final_clock.median);
                assert_eq!(col.mean_jump[k], r4(d.mean_jump.median));
                assert_eq!(col.max_queue[k] as f64, d.max_queue.median);
            }
            let w = &one[0].windows[0];
            assert_eq!(
                ps.windows[0].waiting_at_resume[k].map(|v| v as f64),
                Some(w.waiting_at_resume.median)
            );
        }
        let mut jumps = ps.machines[1].mean_jump.clone();
        assert_eq!(
            Dist::of(&mut jumps).median,
            r4(all[0].machines[1].mean_jump.median)
        );
        // One JSON line per set, with the set, the first seed and the columns.
        let text = per_seed_json(&params, &all).expect("json");
        assert_eq!(text.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(text.trim()).expect("valid JSON");
        assert_eq!(v["first_seed"], 5);
        assert_eq!(v["seeds"], 7);
        assert_eq!(v["set"]["faults"], "pause=1@10+5");
        assert_eq!(
            v["machines"][0]["final_clock"].as_array().map(Vec::len),
            Some(7)
        );
        assert_eq!(v["windows"][0]["fault"], "pause=1@10+5");
    }
}
