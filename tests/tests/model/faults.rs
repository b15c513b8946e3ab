//! Faults in the simulator, over many seeds: delays with jitter, pauses, partitions. Each
//! run must pass the shared checker (which knows the faults from the log headers) and the
//! fault's own rule, stated here directly on the rows.

use lamport_core::{RunParams, faults::Plan, record::Record, sim::Outcome};
use lamport_host::{args::Model, check, sim::simulate_to};
use lamport_tests::trips;
use proptest::prelude::*;
use std::path::Path;

fn model(machines: u16, rate_max: u32, secs: u64, seed: u64, faults: Plan) -> Model {
    Model {
        params: RunParams {
            machines,
            secs,
            rate_max,
            ..RunParams::new(seed, 0)
        },
        pinned: vec![None; usize::from(machines)],
        faults,
    }
}

/// Every row of every machine, by machine.
fn rows(dir: &Path, machines: u16) -> Vec<Vec<Record>> {
    (0..machines)
        .map(|m| {
            let mut v = Vec::new();
            check::for_each_record(&dir.join(format!("machine-{m}.log")), |_, _, r| v.push(r))
                .unwrap();
            v
        })
        .collect()
}

/// Runs `m` in the simulator; requires time up and a clean check. Returns the rows.
fn run_clean(m: &Model) -> Result<Vec<Vec<Record>>, TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let outcome = simulate_to(m, 0, dir.path()).unwrap();
    prop_assert_eq!(outcome, Outcome::TimeUp);
    let report = check::check_run(dir.path()).unwrap();
    let v: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
    prop_assert!(v.is_empty(), "{}", v.join("\n"));
    prop_assert!(report.clean_end());
    for s in &report.machines {
        prop_assert_eq!(s.ticks, s.ticks_due);
    }
    let head = std::fs::read_to_string(dir.path().join("machine-0.log")).unwrap();
    let line = head.lines().nth(2).unwrap();
    if m.faults.is_empty() {
        prop_assert!(head.starts_with("# lamport-lab log v1\n"));
    } else {
        prop_assert!(head.starts_with("# lamport-lab log v2\n"));
        prop_assert_eq!(Plan::parse_line(line).unwrap(), m.faults.clone());
    }
    Ok(rows(dir.path(), m.params.machines))
}

fn arb_delay() -> impl Strategy<Value = (u64, u64)> {
    (0u64..400, prop_oneof![Just(0u64), 1u64..300])
}

proptest! {
    #![proptest_config(crate::cases(1000))]

    /// Every receive comes at least D after its send; FIFO per pair holds with any jitter
    /// (the checker's pair rule); nothing is lost.
    #[test]
    fn a_delayed_message_is_received_no_sooner_than_its_delay(
        n in 3u16..=7, rate_max in 1u32..=8, secs in 1u64..=10, seed in any::<u64>(),
        (d, j) in arb_delay(),
    ) {
        let mut plan = Plan::default();
        plan.set_delay(&format!("{d}:{j}")).unwrap();
        let m = model(n, rate_max, secs, seed, plan);
        let all = run_clean(&m)?;
        for i in 0..n {
            for k in (0..n).filter(|&k| k != i) {
                for (s, r) in trips(&all, i, k) {
                    prop_assert!(r >= s + d * 1_000_000, "{i}->{k} sent {s} received {r}");
                }
            }
        }
    }

    /// A paused machine ticks at every deadline outside its pauses and at none inside.
    #[test]
    fn a_paused_machine_skips_exactly_its_windows(
        n in 3u16..=6, rate_max in 1u32..=8, seed in any::<u64>(),
        pauses in proptest::collection::vec((0u16..6, 0u64..9_000, 1u64..5_000), 1..4),
        (d, j) in prop_oneof![Just((0u64, 0u64)), arb_delay()],
    ) {
        let mut plan = Plan::default();
        plan.set_delay(&format!("{d}:{j}")).unwrap();
        for (who, t, len) in &pauses {
            plan.add_pause(&format!("{}@{}.{:03}+{}.{:03}", who % n, t / 1000, t % 1000, len / 1000, len % 1000)).unwrap();
        }
        let m = model(n, rate_max, 10, seed, plan.clone());
        let all = run_clean(&m)?;
        let start = lamport_host::sim::DEFAULT_START_UNIX_NS;
        for (id, rows) in all.iter().enumerate() {
            let id = id as u16;
            let ticks: Vec<u64> = rows.iter().filter(|r| r.kind.is_tick()).map(|r| r.unix_ns).collect();
            let paused = |t: u64| plan.pauses(id).any(|w| w.contains(t - start));
            for &t in &ticks {
                prop_assert!(!paused(t), "machine {id} ticked at {} s inside a pause", (t - start) as f64 / 1e9);
            }
            let h = lamport_core::Machine::<1>::new(&lamport_core::Spec::new(RunParams { queue_cap: 1, start_unix_ns: start, ..m.params }, id)).unwrap();
            let s = *h.schedule();
            let want: Vec<u64> = (0..s.total()).filter_map(|k| s.deadline(k)).filter(|&d| !paused(d)).collect();
            prop_assert_eq!(&ticks, &want, "machine {} ticks", id);
            prop_assert_eq!(ticks.len() as u64, plan.deadlines(id, s, start).total());
        }
    }

    /// No message sent across a partition inside its window is received inside it; a
    /// machine on neither side is not cut.
    #[test]
    fn a_partition_holds_every_message_across_until_it_heals(
        n in 3u16..=7, rate_max in 1u32..=8, seed in any::<u64>(),
        split in proptest::collection::vec(0u8..3, 7), t in 0u64..6_000, len in 1u64..4_000,
        (d, j) in prop_oneof![Just((0u64, 0u64)), arb_delay()],
    ) {
        let side = |s: u8| -> Vec<String> {
            (0..n).filter(|&m| split[usize::from(m)] == s).map(|m| m.to_string()).collect()
        };
        let (a, b) = (side(0), side(1));
        prop_assume!(!a.is_empty() && !b.is_empty());
        let mut plan = Plan::default();
        plan.set_delay(&format!("{d}:{j}")).unwrap();
        plan.add_partition(&format!("{}/{}@{}.{:03}+{}.{:03}", a.join(","), b.join(","), t / 1000, t % 1000, len / 1000, len % 1000)).unwrap();
        let m = model(n, rate_max, 8, seed, plan.clone());
        let all = run_clean(&m)?;
        let start = lamport_host::sim::DEFAULT_START_UNIX_NS;
        let (from, to) = (start + t * 1_000_000, start + (t + len) * 1_000_000);
        for i in 0..n {
            for k in (0..n).filter(|&k| k != i) {
                let cut = plan.cuts(i, k).next().is_some();
                prop_assert_eq!(cut, (split[usize::from(i)] + split[usize::from(k)] == 1) && split[usize::from(i)] < 2 && split[usize::from(k)] < 2);
                for (s, r) in trips(&all, i, k) {
                    if cut && s >= from {
                        prop_assert!(!(from..to).contains(&r), "{i}->{k} sent {s} received {r} inside the partition");
                    }
                }
            }
        }
    }
}

/// The same flags, the same faults, the same bytes.
#[test]
fn a_faulty_run_repeats_byte_for_byte() {
    let mut plan = Plan::default();
    plan.set_delay("30:40").unwrap();
    plan.add_pause("1@2+1.5").unwrap();
    plan.add_partition("0/2@4+2").unwrap();
    let m = model(4, 6, 10, 77, plan);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    simulate_to(&m, 0, a.path()).unwrap();
    simulate_to(&m, 0, b.path()).unwrap();
    for id in 0..4 {
        let f = format!("machine-{id}.log");
        assert_eq!(
            std::fs::read(a.path().join(&f)).unwrap(),
            std::fs::read(b.path().join(&f)).unwrap()
        );
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.path().join("run.json")).unwrap()).unwrap();
    assert_eq!(json["log_format"], "lamport-lab log v2");
    assert_eq!(
        json["faults"]["line"],
        "delay_ms=30:40 pause=1@2+1.5 partition=0/2@4+2"
    );
    assert_eq!(json["faults"]["windows"][1]["partition"][1][0], 2);
}

/// Random live faults (pauses and resumes, partitions and heals, delays, a kill) taken in
/// the simulator: the run passes the checker, each log with a `fault` row says v3 on its
/// first line (the others v1), and the faults' rules hold on the rows
/// ([`lamport_tests::live::rules_hold`]).
fn run_live_clean(
    m: &Model,
    picks: &[lamport_tests::live::Pick],
    kill: Option<(u64, u16)>,
) -> Result<(), TestCaseError> {
    let start = lamport_host::sim::DEFAULT_START_UNIX_NS;
    let live: Vec<lamport_core::sim::LiveAt> =
        lamport_tests::live::script(m.params.machines, picks, kill)
            .into_iter()
            .map(|(at, machine, live)| lamport_core::sim::LiveAt {
                at: lamport_core::UnixNanos(start + at),
                machine,
                live,
            })
            .collect();
    let dir = tempfile::tempdir().unwrap();
    let outcome = lamport_host::sim::simulate_live_to(m, 0, &live, dir.path()).unwrap();
    match kill {
        Some((_, k)) => prop_assert!(
            matches!(outcome, Outcome::Killed { machine, .. } if machine == k % m.params.machines),
            "{outcome:?}"
        ),
        None => prop_assert_eq!(outcome, Outcome::TimeUp),
    }
    let report = check::check_run(dir.path()).unwrap();
    let v: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
    prop_assert!(v.is_empty(), "{}", v.join("\n"));
    let all = rows(dir.path(), m.params.machines);
    for (id, rows) in all.iter().enumerate() {
        let head = std::fs::read_to_string(dir.path().join(format!("machine-{id}.log"))).unwrap();
        let v3 = rows
            .iter()
            .any(|r| r.kind == lamport_core::record::Kind::Fault);
        let want = if v3 {
            "# lamport-lab log v3\n"
        } else {
            "# lamport-lab log v1\n"
        };
        prop_assert!(
            head.starts_with(want),
            "machine {id}: {}",
            head.lines().next().unwrap()
        );
    }
    let held = lamport_tests::live::rules_hold(&all);
    prop_assert!(held.is_ok(), "{}", held.unwrap_err());
    Ok(())
}

proptest! {
    #![proptest_config(crate::cases(300))]

    /// Live faults in the simulator, over many seeds: clean checks and the rules on the rows.
    #[test]
    fn live_faults_in_the_simulator_keep_every_rule(
        n in 3u16..=6, rate_max in 1u32..=8, seed in any::<u64>(),
        picks in lamport_tests::live::arb_picks(6),
        kill in proptest::option::of((0u64..6_000, any::<u16>())),
    ) {
        run_live_clean(&model(n, rate_max, 6, seed, Plan::default()), &picks, kill)?;
    }
}
