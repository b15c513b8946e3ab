//! Property tests on the deterministic simulator, checked by the shared log checker.

use lamport_core::{
    Machine, RunParams, Spec,
    node::FixedLedger,
    record::{Kind, Record},
    sim::{Outcome, Sim, SimNode},
};
use lamport_host::{args::Model, check, sim::simulate_to};
use lamport_tests::assert_clean;
use proptest::prelude::*;

fn model(
    machines: u16,
    rates: Option<Vec<u32>>,
    rate_max: u32,
    roll_max: u32,
    secs: u64,
    seed: u64,
) -> Model {
    let params = RunParams {
        machines,
        secs,
        rate_max,
        roll_max,
        ..RunParams::new(seed, 0)
    };
    let pinned = match rates {
        Some(r) => r.into_iter().map(Some).collect(),
        None => vec![None; usize::from(machines)],
    };
    Model {
        params,
        pinned,
        faults: Default::default(),
    }
}

fn arb_run() -> impl Strategy<Value = (Model, u64)> {
    (
        3u16..=16,
        any::<bool>(),
        1u32..=8,
        3u32..=12,
        1u64..=12,
        any::<u64>(),
        prop_oneof![Just(0u64), 0u64..300_000_000],
    )
        .prop_flat_map(|(n, pin, rate_max, k, secs, seed, latency)| {
            let rates = if pin {
                proptest::option::of(proptest::collection::vec(1u32..=8, usize::from(n))).boxed()
            } else {
                Just(None).boxed()
            };
            rates.prop_map(move |r| (model(n, r, rate_max, k, secs, seed), latency))
        })
}

proptest! {
    #![proptest_config(crate::cases(1000))]

    /// Over 1,000 random runs: every clock rule, exactly-once FIFO per ordered pair, one
    /// tick per deadline, complete files (all in the shared checker).
    #[test]
    fn simulated_runs_obey_every_rule((m, latency) in arb_run()) {
        let dir = tempfile::tempdir().unwrap();
        let outcome = simulate_to(&m, latency, dir.path()).unwrap();
        prop_assert_eq!(outcome, Outcome::TimeUp);
        let report = check::check_run(dir.path()).unwrap();
        let v: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
        prop_assert!(v.is_empty(), "{}", v.join("\n"));
        prop_assert!(report.clean_end());
        for s in &report.machines {
            prop_assert_eq!(s.ticks, s.ticks_due);
            prop_assert_eq!(s.ticks, s.recvs + s.sends + s.internals);
        }
    }
}

/// Clocks strictly increase over every machine's ticks (stated directly, not via the checker).
#[test]
fn clocks_strictly_increase() {
    for seed in 0..200 {
        let params = RunParams {
            machines: 4,
            secs: 20,
            ..RunParams::new(seed, 1_000)
        };
        let mut slots: Vec<SimNode<1024, 1024, FixedLedger<4>>> = (0..4)
            .map(|i| SimNode::new(Spec::new(params, i)).unwrap())
            .collect();
        let mut last = [0u64; 4];
        Sim::new(&mut slots, 0).unwrap().run(|id, rec: &Record| {
            if rec.kind.is_tick() {
                assert!(
                    rec.clock > last[usize::from(id)],
                    "seed {seed} machine {id}"
                );
                last[usize::from(id)] = rec.clock;
            }
        });
    }
}

/// Each roll value comes up 1/K of the time: the share of send events among rolls
/// converges to 3/K, and of sends to every peer to 1/K.
#[test]
fn roll_frequencies_converge() {
    for k in [3u32, 5, 10] {
        let (mut rolls, mut one, mut next2, mut all) = (0u64, 0u64, 0u64, 0u64);
        for seed in 0..300 {
            let params = RunParams {
                machines: 3,
                secs: 60,
                roll_max: k,
                queue_cap: 1024,
                ..RunParams::new(seed, 0)
            };
            let mut slots: Vec<SimNode<1024, 1024, FixedLedger<4>>> = (0..3)
                .map(|i| SimNode::new(Spec::new(params, i)).unwrap())
                .collect();
            Sim::new(&mut slots, 0)
                .unwrap()
                .run(|id, rec: &Record| match (rec.kind, rec.peer) {
                    (Kind::Send, lamport_core::Peers::One(p)) if p == (id + 1) % 3 => {
                        rolls += 1;
                        one += 1;
                    }
                    (Kind::Send, lamport_core::Peers::One(_)) => {
                        rolls += 1;
                        next2 += 1;
                    }
                    (Kind::Send, _) => {
                        rolls += 1;
                        all += 1;
                    }
                    (Kind::Internal, _) => rolls += 1,
                    _ => {}
                });
        }
        let expect = 1.0 / f64::from(k);
        for (name, c) in [("r=1", one), ("r=2", next2), ("r=3", all)] {
            let share = c as f64 / rolls as f64;
            assert!(
                (share - expect).abs() < 0.01,
                "K={k} {name}: {share:.4} vs {expect:.4} over {rolls} rolls"
            );
        }
    }
}

/// A simulated 60-second 3-machine run written twice is byte-identical.
#[test]
fn same_seed_same_bytes() {
    let m = model(3, None, 6, 10, 60, 42);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    simulate_to(&m, 0, a.path()).unwrap();
    simulate_to(&m, 0, b.path()).unwrap();
    for i in 0..3 {
        let name = format!("machine-{i}.log");
        let (x, y) = (
            std::fs::read(a.path().join(&name)).unwrap(),
            std::fs::read(b.path().join(&name)).unwrap(),
        );
        assert!(x.len() > 1000);
        assert_eq!(x, y, "{name} differs");
    }
    assert_clean(a.path());
    // A different seed gives a different run.
    let c = tempfile::tempdir().unwrap();
    simulate_to(&model(3, None, 6, 10, 60, 43), 0, c.path()).unwrap();
    assert_ne!(
        std::fs::read(a.path().join("machine-0.log")).unwrap(),
        std::fs::read(c.path().join("machine-0.log")).unwrap()
    );
}

/// A full queue stops the simulated run without losing a message.
#[test]
fn full_queue_stops_the_run_and_loses_nothing() {
    let mut m = model(3, Some(vec![1, 6, 6]), 6, 3, 60, 9);
    m.params.queue_cap = 4;
    let dir = tempfile::tempdir().unwrap();
    let outcome = simulate_to(&m, 0, dir.path()).unwrap();
    assert!(
        matches!(outcome, Outcome::QueueFull { machine: 0, .. }),
        "{outcome:?}"
    );
    let report = assert_clean(dir.path());
    assert_eq!(
        report.machines[0].end_note.as_deref(),
        Some("queue full (cap 4)")
    );
    assert_eq!(
        report.machines[1].end_note.as_deref(),
        Some("peer 0 stopped early")
    );
    assert!(
        report.machines[0].unprocessed >= 5,
        "4 queued and the one that did not fit"
    );
    let _ = Machine::<4>::new(&Spec::new(m.params, 0)).unwrap();
}

/// A latency the simulator cannot hold is refused up front with one line, never reported
/// later as a full queue (and never wraps the clock).
#[test]
fn a_latency_the_simulator_cannot_hold_is_refused() {
    let m = model(3, Some(vec![6, 6, 6]), 6, 10, 20, 1);
    let dir = tempfile::tempdir().unwrap();
    let e = simulate_to(&m, 20_000_000_001, dir.path()).unwrap_err();
    assert!(e.to_string().contains("longer than the run"), "{e}");
    let e = simulate_to(&m, u64::MAX, dir.path()).unwrap_err();
    assert!(e.to_string().contains("longer than the run"), "{e}");
    let fast = Model {
        params: RunParams {
            speedup_milli: 1_000_000,
            ..m.params
        },
        ..m.clone()
    };
    let e = simulate_to(&fast, 2_000_000_000, dir.path()).unwrap_err();
    assert!(
        e.to_string().contains("could be in flight to machine 0"),
        "{e}"
    );
    // Within the store: accepted (300 ms at 6,000 ticks a second from each of two peers).
    let ok = simulate_to(&fast, 300_000_000, tempfile::tempdir().unwrap().path());
    assert!(ok.is_ok(), "{ok:?}");
}

/// After an early stop the summary's "ticks (due)" counts the deadlines up to each
/// machine's end, not the whole run's: no tick reads as missed.
#[test]
fn ticks_due_stop_at_the_end_row() {
    let mut m = model(3, Some(vec![1, 6, 6]), 6, 3, 20, 5);
    m.params.queue_cap = 3;
    let dir = tempfile::tempdir().unwrap();
    let outcome = simulate_to(&m, 0, dir.path()).unwrap();
    assert!(matches!(outcome, Outcome::QueueFull { .. }));
    let r = check::check_run(dir.path()).unwrap();
    for mach in &r.machines {
        assert!(mach.ticks_due_by_end < mach.ticks_due, "{mach:?}");
        assert!(
            mach.ticks <= mach.ticks_due_by_end && mach.ticks_due_by_end <= mach.ticks + 1,
            "machine {}: {} ticks, {} due by its end",
            mach.id,
            mach.ticks,
            mach.ticks_due_by_end
        );
    }
}

proptest! {
    #![proptest_config(crate::cases(300))]

    /// `--phase spread`: each machine's ticks shifted by a phase from the seed, below one
    /// period; every rule holds (the checker reads the phase from the header) and every
    /// deadline still gets its tick.
    #[test]
    fn spread_phases_keep_every_rule(
        seed in any::<u64>(), n in 3u16..8, secs in 1u64..20, latency in prop_oneof![Just(0u64), 0u64..200_000_000]
    ) {
        let mut m = model(n, None, 6, 10, secs, seed);
        m.params.spread_phase = true;
        let dir = tempfile::tempdir().unwrap();
        simulate_to(&m, latency, dir.path()).unwrap();
        let r = assert_clean(dir.path());
        let phases = m.phases();
        prop_assert!(phases.iter().any(|&p| p > 0));
        for (i, mach) in r.machines.iter().enumerate() {
            let period = 1_000_000_000 / u64::from(mach.rate);
            prop_assert!(phases[i] < period);
            if mach.end_note.as_deref() == Some("time up") {
                prop_assert_eq!(mach.ticks, mach.ticks_due);
            }
        }
    }
}

/// A phase is one more key of the header, and a phase not below the period is refused.
#[test]
fn a_phase_is_in_the_header_and_checked() {
    let mut m = model(3, Some(vec![2, 4, 6]), 6, 10, 10, 3);
    m.params.spread_phase = true;
    let dir = tempfile::tempdir().unwrap();
    simulate_to(&m, 0, dir.path()).unwrap();
    let path = dir.path().join("machine-0.log");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().nth(1).unwrap();
    assert!(line.contains(" phase_ns="), "{line}");
    let run = std::fs::read_to_string(dir.path().join("run.json")).unwrap();
    assert!(run.contains("\"phase\": \"spread\""), "{run}");
    // Machine 0 ticks twice a second: a phase of half a second or more is not a phase.
    let bad: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 1 {
                let cut = l.find(" phase_ns=").unwrap();
                format!("{} phase_ns=500000000\n", &l[..cut])
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&path, bad).unwrap();
    let e = check::check_run(dir.path()).unwrap_err().to_string();
    assert!(e.contains("is not below the tick period"), "{e}");
}
