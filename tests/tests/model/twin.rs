//! The simulator as the hosts' twin. Every committed real run in `experiments/` (host-unix,
//! real time) is simulated again from its `run.json` (seed, rates, flags): each machine's
//! log must be the real one row for row, all but `unix_ns`, or its first differing row
//! must be one of the real-time races the simulator resolves one way and the hosts either
//! way (after it, the runs have diverged). The test names each such row and its race; a
//! difference no race explains fails it.

use lamport_core::{RunParams, UnixNanos, faults::Plan, live::Live, sim::LiveAt};
use lamport_host::{args::Model, sim::simulate_to};
use std::path::{Path, PathBuf};

/// One data row of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    t: u64,
    kind: String,
    /// Everything but `unix_ns`.
    rest: String,
    peer: String,
    msg_clock: Option<u64>,
    clock: u64,
}

fn rows(path: &Path) -> Vec<Row> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("unix_ns,"))
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            Row {
                t: c[0].parse().unwrap(),
                kind: c[2].into(),
                rest: c[1..].join(","),
                peer: c[5].into(),
                msg_clock: c[6].parse().ok(),
                clock: c[3].parse().unwrap(),
            }
        })
        .collect()
}

/// The committed real runs.
fn real_runs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments");
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|g| g.file_name() != "sim")
        .flat_map(|g| std::fs::read_dir(g.path()).into_iter().flatten().flatten())
        .map(|r| r.path())
        .filter(|r| r.join("run.json").is_file())
        .collect();
    runs.sort();
    runs
}

/// The send row of machine `p` stamped `clock`.
fn send_of<'a>(logs: &'a [Vec<Row>], p: &str, clock: u64) -> Option<&'a Row> {
    let p: usize = p.parse().ok()?;
    logs.get(p)?
        .iter()
        .find(|r| r.kind == "send" && r.clock == clock)
}

/// Why the real row `r` and the simulated row `s` of machine `j` differ, if a race explains
/// it: with `real` and `sim` the two runs' logs (identical before this row), and `diverged`
/// the instant at which each machine's simulated log first differs from its real one.
fn race(
    j: usize,
    r: &Row,
    s: &Row,
    real: &[Vec<Row>],
    sim: &[Vec<Row>],
    diverged: &[u64],
) -> Option<String> {
    let at = s.t; // the tick's deadline (the simulator ticks exactly at deadlines)
    let ms = |a: u64, b: u64| (a as f64 - b as f64) / 1e6;
    // A message from a machine whose own run had already diverged (by a race of its own):
    // it sent other messages, or the same ones at other clocks.
    for p in [&r.peer, &s.peer] {
        if let Ok(p) = p.parse::<usize>()
            && p != j
            && diverged.get(p).is_some_and(|&d| d <= at)
            && (r.kind == "recv" || s.kind == "recv")
        {
            return Some(format!(
                "downstream of machine {p}, whose run had diverged by then (its own first difference is named)"
            ));
        }
    }
    if r.kind == "recv" {
        let sent = send_of(sim, &r.peer, r.msg_clock?)?;
        if s.kind == "recv" && s.peer != r.peer {
            let other = send_of(sim, &s.peer, s.msg_clock?)?;
            if other.t == sent.t {
                return Some(format!(
                    "arrival order: machines {} and {} both sent to machine {j} at one instant; the real one read {}'s first, the simulator takes them in the senders' order",
                    r.peer, s.peer, r.peer
                ));
            }
        }
        if sent.t == at {
            let rs = send_of(real, &r.peer, r.msg_clock?)?;
            return Some(format!(
                "a tick at its sender's instant: machine {} sent at this tick's deadline; the real tick ran {:.3} ms after the real send, so the message had arrived",
                r.peer,
                ms(r.t, rs.t)
            ));
        }
    }
    if s.kind == "recv" {
        // Sent at an earlier deadline (the simulator takes nothing sent at the tick's own
        // instant), but the real sender ran so late that it came after this real tick.
        let ss = send_of(sim, &s.peer, s.msg_clock?)?;
        let rs = send_of(real, &s.peer, s.msg_clock?)?;
        if ss.t < at && rs.t >= r.t {
            return Some(format!(
                "a late sender: machine {}'s real send came {:.3} ms after this real tick, so the message was not there yet",
                s.peer,
                ms(rs.t, r.t)
            ));
        }
    }
    None
}

#[test]
fn every_real_run_is_its_simulated_twin_but_for_named_races() {
    let runs = real_runs();
    assert!(runs.len() >= 18, "the committed real runs: {runs:?}");
    let (mut same, mut raced, mut logs) = (0, 0, 0);
    let mut unexplained = Vec::new();
    for run in &runs {
        let m = lamport_host::folder::read_model(run).unwrap();
        let first = |a: &[Row], b: &[Row]| {
            (0..a.len().max(b.len()))
                .find(|&k| a.get(k).map(|r| &r.rest) != b.get(k).map(|r| &r.rest))
        };
        let dir = tempfile::tempdir().unwrap();
        simulate_to(&m, 0, dir.path()).unwrap();
        let n = usize::from(m.params.machines);
        let real: Vec<Vec<Row>> = (0..n)
            .map(|i| rows(&run.join(format!("machine-{i}.log"))))
            .collect();
        let sim: Vec<Vec<Row>> = (0..n)
            .map(|i| rows(&dir.path().join(format!("machine-{i}.log"))))
            .collect();
        let diverged: Vec<u64> = (0..n)
            .map(|j| {
                first(&real[j], &sim[j])
                    .and_then(|k| sim[j].get(k))
                    .map_or(u64::MAX, |r| r.t)
            })
            .collect();
        for j in 0..n {
            logs += 1;
            let (a, b) = (&real[j], &sim[j]);
            let Some(k) = first(a, b) else {
                same += 1;
                continue;
            };
            let name = format!("{}/machine-{j}.log row {}", run.display(), k + 1);
            match (a.get(k), b.get(k)) {
                (Some(r), Some(s)) => match race(j, r, s, &real, &sim, &diverged) {
                    Some(why) => {
                        raced += 1;
                        println!("{name}: real `{}`, simulated `{}`: {why}", r.rest, s.rest);
                    }
                    None => unexplained
                        .push(format!("{name}: real `{}`, simulated `{}`", r.rest, s.rest)),
                },
                _ => unexplained.push(format!("{name}: one log is longer")),
            }
        }
    }
    println!(
        "{same} of {logs} machine logs identical to their twins but for unix_ns; {raced} first differ at a named race"
    );
    assert!(
        unexplained.is_empty(),
        "differences no race explains:\n{}",
        unexplained.join("\n")
    );
}

mod against_the_mesh {
    //! The simulator against the real node code driven as the hosts drive it (the
    //! virtual-time mesh of `lamport_tests::mesh`, its messages 1 ns in transit like the
    //! simulator's): the same rows, but for `unix_ns`, over many seeds and rate sets whose
    //! deadlines coincide (rates dividing each other, equal rates).
    use super::*;
    use lamport_core::node::Timing;
    use lamport_tests::mesh::{Mesh, Net};
    use proptest::prelude::*;

    fn rows_in(dir: &Path, n: usize) -> Vec<Vec<String>> {
        (0..n)
            .map(|i| {
                rows(&dir.join(format!("machine-{i}.log")))
                    .into_iter()
                    .map(|r| r.rest)
                    .collect()
            })
            .collect()
    }

    proptest! {
        #![proptest_config(crate::cases(200))]
        #[test]
        fn the_simulator_takes_what_the_node_takes_at_coinciding_deadlines(
            seed in any::<u64>(),
            rates in proptest::collection::vec(prop_oneof![Just(1u32), Just(2), Just(3), Just(6)], 3..=5),
            roll_max in 3u32..=10,
        ) {
            let n = rates.len();
            let params = RunParams {
                machines: n as u16,
                secs: 8,
                roll_max,
                queue_cap: lamport_tests::mesh::CAP as u32,
                ..RunParams::new(seed, 1_000_000_000)
            };
            let pinned: Vec<Option<u32>> = rates.iter().map(|&r| Some(r)).collect();
            let sim = tempfile::tempdir().unwrap();
            simulate_to(&Model { params, pinned: pinned.clone(), faults: Plan::default() }, 0, sim.path()).unwrap();
            let net = Net { latency_ns: lamport_core::sim::TRANSIT_NS, capacity: 1 << 20 };
            let mut mesh = Mesh::new(params, &pinned, Timing::HOST, net, Vec::new());
            mesh.run(40_000_000_000).unwrap();
            let real = tempfile::tempdir().unwrap();
            mesh.write_logs(real.path()).unwrap();
            let (a, b) = (rows_in(sim.path(), n), rows_in(real.path(), n));
            for j in 0..n {
                let k = (0..a[j].len().max(b[j].len())).find(|&k| a[j].get(k) != b[j].get(k));
                prop_assert!(
                    k.is_none(),
                    "machine {j}, row {}: simulator `{:?}`, mesh `{:?}`",
                    k.unwrap_or(0) + 1,
                    a[j].get(k.unwrap_or(0)),
                    b[j].get(k.unwrap_or(0))
                );
            }
        }
    }
}

/// A run with faults set while it ran is its own logs' twin: replayed from its `run.json`
/// and its `fault` rows ([`lamport_host::sim::replay`]), every log comes back byte for byte.
mod replay {
    use super::*;
    use proptest::prelude::*;

    /// A fault at an instant (ms after the start) for a machine: a pause, a resume, a cut of
    /// it from the others, a heal, a delay (or its end), a kill.
    fn arb_live(n: u16) -> impl Strategy<Value = (u64, u16, Live)> {
        (0u64..8_000, 0..n, 0u8..12, 0u64..400, 0u64..200).prop_map(move |(ms, m, k, d, j)| {
            let others: Vec<String> = (0..n).filter(|&o| o != m).map(|o| o.to_string()).collect();
            let live = match k {
                0..=2 => Live::Pause,
                3..=5 => Live::Resume,
                6 | 7 => Live::parse(&format!("partition {m}/{}", others.join(","))).unwrap(),
                8 | 9 => Live::Heal,
                10 => Live::Delay {
                    delay_ns: d * 1_000_000,
                    jitter_ns: j * 1_000_000,
                },
                _ => Live::Kill,
            };
            (ms, m, live)
        })
    }

    proptest! {
        #![proptest_config(crate::cases(64))]
        #[test]
        fn a_run_with_live_faults_replays_from_its_own_logs(
            seed in any::<u64>(),
            n in 3u16..=5,
            cmds in proptest::collection::vec(arb_live(5), 0..12),
        ) {
            let start = lamport_host::sim::DEFAULT_START_UNIX_NS;
            let mut live: Vec<LiveAt> = cmds
                .into_iter()
                .filter(|c| c.1 < n)
                .map(|(ms, machine, live)| LiveAt { at: UnixNanos(start + ms * 1_000_000), machine, live })
                .collect();
            live.sort_by_key(|l| l.at);
            let m = Model {
                params: RunParams { machines: n, secs: 8, ..RunParams::new(seed, start) },
                pinned: vec![None; usize::from(n)],
                faults: Plan::default(),
            };
            let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            lamport_host::sim::simulate_live_to(&m, 0, &live, a.path()).unwrap();
            let r = lamport_host::sim::replay(a.path(), b.path()).unwrap();
            prop_assert!(r.differences.is_empty(), "{:?}", r.differences);
            for j in 0..n {
                let f = format!("machine-{j}.log");
                let (x, y) = (std::fs::read(a.path().join(&f)).unwrap(), std::fs::read(b.path().join(&f)).unwrap());
                prop_assert!(x == y, "machine {j}: not byte for byte");
            }
        }
    }
}
