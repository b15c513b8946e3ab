//! The end of a run and every fault, in virtual time: N nodes over in-memory streams
//! (`lamport_tests::mesh`), driven the way the hosts drive them, each run's logs judged by
//! the shared checker. Thousands of seeds and fault schedules run in seconds; the real
//! process tests (tests/tests/hosts/) keep a few of the same cases as smoke tests.

use lamport_core::{RunParams, faults::Plan, node::Timing};
use lamport_host::check::{CheckOptions, DEFAULT_MAX_LATE_NS, Rule};
use lamport_tests::{
    assert_clean_with,
    mesh::{CAP, Ending, Failure, Mesh, Net},
};
use proptest::prelude::*;

const SEC: u64 = 1_000_000_000;

fn params(
    machines: u16,
    secs: u64,
    roll_max: u32,
    queue_cap: u32,
    speedup: u32,
    seed: u64,
) -> RunParams {
    RunParams {
        machines,
        secs,
        roll_max,
        queue_cap,
        speedup_milli: speedup * 1000,
        ..RunParams::new(seed, 0)
    }
}

/// Runs the mesh to its end (within the run plus 30 s) and checks its logs; returns how
/// each machine ended.
fn run(p: RunParams, net: Net, faults: Vec<Failure>) -> Vec<Ending> {
    run_pinned(p, &[], net, faults)
}

fn run_pinned(p: RunParams, pinned: &[Option<u32>], net: Net, faults: Vec<Failure>) -> Vec<Ending> {
    let mesh = Mesh::new(p, pinned, Timing::HOST, net, faults.clone());
    run_checked(mesh, p, net, &faults)
}

/// Runs `mesh` (made of `p`, `net` and `faults`) to its end (within the run plus 30 s) and
/// checks its logs; returns how each machine ended.
fn run_checked(mesh: Mesh, p: RunParams, net: Net, faults: &[Failure]) -> Vec<Ending> {
    // A frozen machine's ticks are late by the freeze: the only bound it may break.
    let frozen = faults.iter().any(|f| matches!(f, Failure::Freeze { .. }));
    let trusted_links = !faults.iter().any(breaks_a_link);
    let (endings, dir) = run_mesh(mesh, p, net, faults);
    let opts = CheckOptions {
        max_late_ns: if frozen {
            None
        } else {
            Some(DEFAULT_MAX_LATE_NS)
        },
        trusted_links,
        ..Default::default()
    };
    assert_clean_with(dir.path(), &opts);
    endings
}

/// A fault of the link itself (its writes fail, it carries garbage, it is cut): a peer may
/// then be lost at any moment, which the checker allows only when told the links were not
/// reliable.
fn breaks_a_link(f: &Failure) -> bool {
    matches!(
        f,
        Failure::CloseLink { .. } | Failure::Garble { .. } | Failure::Truncate { .. }
    )
}

/// Runs the mesh to its end (within the run plus 30 s); returns how each machine ended and
/// the folder of its logs.
fn run_unchecked(
    p: RunParams,
    pinned: &[Option<u32>],
    net: Net,
    faults: Vec<Failure>,
) -> (Vec<Ending>, tempfile::TempDir) {
    let mesh = Mesh::new(p, pinned, Timing::HOST, net, faults.clone());
    run_mesh(mesh, p, net, &faults)
}

/// Runs `mesh` (made of `p`, `net` and `faults`) to its end (within the run plus 30 s);
/// returns how each machine ended and the folder of its logs.
fn run_mesh(
    mut mesh: Mesh,
    p: RunParams,
    net: Net,
    faults: &[Failure],
) -> (Vec<Ending>, tempfile::TempDir) {
    let endings = mesh
        .run((p.secs + 30) * SEC)
        .unwrap_or_else(|t| panic!("no end by {t} ns: {p:?} {net:?} {faults:?}"));
    let dir = tempfile::tempdir().unwrap();
    mesh.write_logs(dir.path()).unwrap();
    (endings, dir)
}

fn note(e: &Ending) -> &str {
    match e {
        Ending::Ended(n) => n,
        _ => "",
    }
}

fn arb_net() -> impl Strategy<Value = Net> {
    (
        prop_oneof![Just(0u64), 0u64..50_000_000],
        prop_oneof![Just(24usize), Just(4096), Just(1 << 20)],
    )
        .prop_map(|(latency_ns, capacity)| Net {
            latency_ns,
            capacity,
        })
}

fn arb_params() -> impl Strategy<Value = RunParams> {
    (3u16..=5, 2u64..=6, 3u32..=10, 1u32..=3, any::<u64>())
        .prop_map(|(n, secs, k, speedup, seed)| params(n, secs, k, CAP as u32, speedup, seed))
}

/// One fault, on machines and at an instant inside the run (20% to 80% of it).
fn arb_fault(p: RunParams) -> impl Strategy<Value = Failure> {
    let n = p.machines;
    let span = p.secs * SEC;
    let at = (span / 5)..(span * 4 / 5);
    let pair = (0..n, 1..n).prop_map(move |(a, d)| (a, (a + d) % n));
    prop_oneof![
        (0..n, at.clone()).prop_map(|(m, at)| Failure::Crash { m, at }),
        (
            0..n,
            at.clone(),
            prop_oneof![Just(u64::MAX), 1u64..(span / 10).clamp(2, SEC)]
        )
            .prop_map(|(m, at, for_ns)| Failure::Freeze { m, at, for_ns }),
        (pair.clone(), at.clone()).prop_map(|((from, to), at)| Failure::CloseLink { from, to, at }),
        (pair.clone(), at.clone()).prop_map(|((from, to), at)| Failure::Garble { from, to, at }),
        (pair, at).prop_map(|((from, to), at)| Failure::Truncate { from, to, at }),
    ]
}

proptest! {
    #![proptest_config(crate::cases(1000))]

    /// No fault: every machine ends `time up`, every rule holds, whatever the latency and
    /// however small the streams' buffers.
    #[test]
    fn without_faults_every_machine_ends_time_up(p in arb_params(), net in arb_net()) {
        let endings = run(p, net, vec![]);
        for e in &endings {
            prop_assert_eq!(note(e), "time up", "{:?}", endings);
        }
    }

    /// One fault of each kind at a random instant: the run ends, the logs pass every rule,
    /// and the machines name the fault as it happened.
    #[test]
    fn every_fault_ends_the_run_and_is_named(
        (p, net, fault) in (arb_params(), arb_net())
            .prop_flat_map(|(p, net)| (Just(p), Just(net), arb_fault(p)))
    ) {
        let endings = run(p, net, vec![fault]);
        let others = |m: u16| endings.iter().enumerate().filter(move |(i, _)| *i != usize::from(m));
        match fault {
            Failure::Crash { m, .. } => {
                prop_assert_eq!(&endings[usize::from(m)], &Ending::Crashed);
                for (_, e) in others(m) {
                    prop_assert!(note(e).contains(&format!("peer {m} lost")), "{:?}", endings);
                }
            }
            Failure::Freeze { m, for_ns: u64::MAX, .. } => {
                prop_assert_eq!(&endings[usize::from(m)], &Ending::Frozen);
                for (_, e) in others(m) {
                    let n = note(e);
                    prop_assert!(
                        n.contains(&format!("peer {m} lost")) || n.contains(&format!("peer {m} stalled")),
                        "{:?}", endings
                    );
                }
            }
            Failure::Freeze { .. } => {
                // Shorter than the stall bound and over before the end (at most a tenth of
                // the run): the machine catches up on its ticks and the run ends normally.
                for e in &endings {
                    prop_assert_eq!(note(e), "time up", "{:?}", endings);
                }
            }
            Failure::CloseLink { from, to, .. }
            | Failure::Garble { from, to, .. }
            | Failure::Truncate { from, to, .. } => {
                prop_assert!(note(&endings[usize::from(to)]).contains(&format!("peer {from} lost")), "{:?}", endings);
                prop_assert!(endings.iter().all(|e| matches!(e, Ending::Ended(_))), "{:?}", endings);
            }
        }
    }

    /// Two faults at once, anywhere: the run still ends, and its logs pass every rule but
    /// one that nobody could have seen: a machine that crashed (or froze) after saying
    /// `Bye` leaves a log without `end` that no other machine names lost. The checker
    /// reports exactly that file, and only a machine that crashed or froze.
    #[test]
    fn two_faults_still_end_with_complete_logs(
        (p, net, f1, f2) in (arb_params(), arb_net())
            .prop_flat_map(|(p, net)| (Just(p), Just(net), arb_fault(p), arb_fault(p)))
    ) {
        let trusted_links = !breaks_a_link(&f1) && !breaks_a_link(&f2);
        let (endings, dir) = run_unchecked(p, &[], net, vec![f1, f2]);
        let opts = CheckOptions { max_late_ns: None, trusted_links, ..Default::default() };
        let report = lamport_host::check::check_run_with(dir.path(), &opts).unwrap();
        for v in &report.violations {
            prop_assert!(
                v.rule == Rule::MissingEnd
                    && v.what.starts_with("file ends without an `end` row")
                    && matches!(endings[usize::from(v.machine)], Ending::Crashed | Ending::Frozen),
                "{} {:?}", v, endings
            );
        }
    }

    /// Tiny queues: the full machine ends `queue full`, the others `stopped early`, and no
    /// message is lost (every one is a `recv` or an `unprocessed` row).
    #[test]
    fn a_full_queue_stops_every_machine_cleanly(
        seed in any::<u64>(), cap in 1u32..=3, net in arb_net()
    ) {
        let p = params(3, 20, 3, cap, 4, seed);
        let endings = run_pinned(p, &[Some(1), Some(6), Some(6)], net, vec![]);
        let full: Vec<usize> = (0..3).filter(|&i| note(&endings[i]).starts_with("queue full")).collect();
        prop_assert!(!full.is_empty(), "{:?}", endings);
        for (i, e) in endings.iter().enumerate() {
            if !full.contains(&i) {
                prop_assert!(note(e).contains("stopped early") || note(e).starts_with("queue full"), "{:?}", endings);
            }
        }
    }
}

/// A peer that stops reading (frozen for good) while the others send fast: its buffer fills
/// past the bound, and after the stall bound the others call it stalled and end.
#[test]
fn a_peer_that_stops_reading_is_stalled() {
    let p = RunParams {
        rate_min: 6,
        rate_max: 6,
        ..params(3, 30, 10, CAP as u32, 1000, 7)
    };
    let net = Net {
        latency_ns: 0,
        capacity: 4096,
    };
    let endings = run(
        p,
        net,
        vec![Failure::Freeze {
            m: 2,
            at: SEC / 10,
            for_ns: u64::MAX,
        }],
    );
    assert_eq!(endings[2], Ending::Frozen);
    for e in &endings[..2] {
        assert!(note(e).contains("peer 2 stalled"), "{endings:?}");
    }
}

/// A peer frozen across the end: the others wait for its `Bye` for the drain timeout, call
/// it lost and end; when it wakes it catches up on its ticks and ends too.
#[test]
fn a_peer_frozen_across_the_end_is_lost_by_the_drain_timeout() {
    let p = params(3, 4, 10, CAP as u32, 1, 11);
    let net = Net {
        latency_ns: 1_000_000,
        capacity: 1 << 20,
    };
    let endings = run(
        p,
        net,
        vec![Failure::Freeze {
            m: 1,
            at: 3 * SEC,
            for_ns: 5 * SEC,
        }],
    );
    for i in [0, 2] {
        assert!(note(&endings[i]).contains("peer 1 lost"), "{endings:?}");
    }
    assert!(matches!(endings[1], Ending::Ended(_)), "{endings:?}");
    // With the default bound, the checker names the paused machine's late ticks (and its
    // late leftovers and `end`: the lateness bound bounds those too).
    let (_, dir) = run_unchecked(
        p,
        &[],
        net,
        vec![Failure::Freeze {
            m: 1,
            at: 3 * SEC,
            for_ns: 5 * SEC,
        }],
    );
    let v = lamport_host::check::check_run(dir.path())
        .unwrap()
        .violations;
    assert!(!v.is_empty());
    assert!(
        v.iter().all(|v| v.machine == 1
            && match v.rule {
                Rule::Late => v.what.contains("ms late"),
                Rule::StopTooLate => v.what.contains("after any stop allows"),
                _ => false,
            }),
        "{v:?}"
    );
}

/// Seven machines of sixteen crash at once: every survivor's `end` names all seven (in a
/// note short enough to be whole), and the checker accepts their logs without `end`.
#[test]
fn many_crashes_are_all_named() {
    let p = params(16, 4, 10, CAP as u32, 1, 3);
    let net = Net {
        latency_ns: 0,
        capacity: 4096,
    };
    let dead = [3u16, 5, 7, 9, 11, 13, 15];
    let faults = dead
        .iter()
        .map(|&m| Failure::Crash { m, at: 2 * SEC })
        .collect();
    survivors_name(&run(p, net, faults), &dead);
}

/// The 32 odd machines of 64 crash at once: every survivor's `end` note names all 32 (it
/// was cut at 96 bytes, and the checker then reported each crashed machine's missing `end`
/// row as unexplained), and the checker accepts the run.
#[test]
fn half_of_sixty_four_crash_and_every_survivor_names_them_all() {
    let p = params(64, 3, 10, CAP as u32, 1, 7);
    let net = Net {
        latency_ns: 0,
        capacity: 4096,
    };
    let dead: Vec<u16> = (1..64).filter(|m| m % 2 == 1).collect();
    let faults = dead
        .iter()
        .map(|&m| Failure::Crash { m, at: SEC })
        .collect();
    survivors_name(&run(p, net, faults), &dead);
}

/// Every machine in `dead` crashed, and every other one's `end` note names exactly them.
fn survivors_name(endings: &[Ending], dead: &[u16]) {
    let n = endings.len() as u16;
    for (i, e) in endings.iter().enumerate() {
        if dead.contains(&(i as u16)) {
            assert_eq!(*e, Ending::Crashed);
        } else {
            let mut named = Vec::new();
            lamport_core::end_note::named_lost(note(e), n, i as u16, |p, _| named.push(p));
            assert_eq!(named, dead, "{i}: {e:?}");
        }
    }
}

/// A case the two-fault property once took 22 s of release time on (and minutes in debug):
/// two garbles on one link 15 ms apart with 40 ms latency. The receiver drops the link at
/// the first; the bytes still in the pipe behind it were never read, yet each woke the
/// virtual clock one nanosecond later, for the whole drain. Bytes nobody reads wake nobody:
/// the run takes a few thousand steps (about one per tick and arrival).
#[test]
fn bytes_behind_a_closed_reader_do_not_stall_virtual_time() {
    let p = RunParams {
        roll_max: 4,
        ..params(3, 4, 4, CAP as u32, 2, 2794958021478396856)
    };
    let net = Net {
        latency_ns: 39_519_451,
        capacity: 1 << 20,
    };
    let faults = vec![
        Failure::Garble {
            from: 0,
            to: 1,
            at: 2_467_774_800,
        },
        Failure::Garble {
            from: 0,
            to: 1,
            at: 2_453_381_166,
        },
    ];
    let mut mesh = Mesh::new(p, &[], Timing::HOST, net, faults);
    let endings = mesh.run(34 * SEC).unwrap();
    assert!(note(&endings[1]).contains("peer 0 lost"), "{endings:?}");
    assert!(mesh.steps() < 20_000, "{} steps", mesh.steps());
}

/// A side of a partition in the flags' syntax: `a` or `a-b`.
fn side(a: u16, b: u16) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

/// The model's own faults, as the flags give them: one pause of a machine or one partition
/// of the machines in two (a window inside the first half of the run, up to half of it
/// long), and a delay with jitter or none.
fn arb_plan(p: RunParams) -> impl Strategy<Value = Plan> {
    let n = p.machines;
    let ms = p.secs * 1000;
    let window = (0..ms / 2, 1..=ms / 2).prop_map(|(from, len)| {
        format!(
            "{}.{:03}+{}.{:03}",
            from / 1000,
            from % 1000,
            len / 1000,
            len % 1000
        )
    });
    let window_of = prop_oneof![
        (0..n, window.clone()).prop_map(|(m, w)| (vec![format!("{m}@{w}")], vec![])),
        (1..n, window).prop_map(move |(k, w)| (
            vec![],
            vec![format!("{}/{}@{w}", side(0, k - 1), side(k, n - 1))]
        )),
    ];
    let delay = proptest::option::of((0u64..300, 0u64..50).prop_map(|(d, j)| format!("{d}:{j}")));
    (window_of, delay).prop_map(move |((pauses, partitions), delay)| {
        lamport_host::args::fault_plan(delay.as_deref(), &pauses, &partitions, &p)
            .unwrap_or_else(|e| panic!("{e:?}: {delay:?} {pauses:?} {partitions:?}"))
    })
}

/// A crash of one machine at an instant inside the run (20% to 80% of it).
fn arb_crash(p: RunParams) -> impl Strategy<Value = Failure> {
    let span = p.secs * SEC;
    (0..p.machines, (span / 5)..(span * 4 / 5)).prop_map(|(m, at)| Failure::Crash { m, at })
}

proptest! {
    #![proptest_config(crate::cases(500))]

    /// The machines act in a random order at each instant (a seed per run), with one fault
    /// of the mesh or none: the run ends and its logs pass every rule.
    #[test]
    fn machines_acting_in_a_random_order_keep_every_rule(
        (p, net, fault, seed) in (arb_params(), arb_net()).prop_flat_map(|(p, net)| {
            (Just(p), Just(net), proptest::option::of(arb_fault(p)), any::<u64>())
        })
    ) {
        let faults: Vec<Failure> = fault.into_iter().collect();
        let mesh = Mesh::new(p, &[], Timing::HOST, net, faults.clone()).random_order(seed);
        let endings = run_checked(mesh, p, net, &faults);
        if faults.is_empty() {
            for e in &endings {
                prop_assert_eq!(note(e), "time up", "{:?}", endings);
            }
        }
    }

    /// A pause or a partition of the model (with a delay or not) meets a crash the mesh
    /// injects, the machines acting in a random order: the crashed machine's log stops,
    /// every other machine ends naming it lost, and the logs pass every rule (the checker
    /// reads the plan from the headers).
    #[test]
    fn a_model_fault_meeting_a_crash_keeps_every_rule(
        (p, net, plan, crash, seed) in (arb_params(), arb_net()).prop_flat_map(|(p, net)| {
            (Just(p), Just(net), arb_plan(p), arb_crash(p), any::<u64>())
        })
    ) {
        let faults = vec![crash];
        let mesh = Mesh::with_plan(p, &[], Timing::HOST, net, &plan, faults.clone())
            .random_order(seed);
        let endings = run_checked(mesh, p, net, &faults);
        let Failure::Crash { m, .. } = crash else { unreachable!("a crash") };
        prop_assert_eq!(&endings[usize::from(m)], &Ending::Crashed);
        for (i, e) in endings.iter().enumerate().filter(|(i, _)| *i != usize::from(m)) {
            prop_assert!(note(e).contains(&format!("peer {m} lost")), "{}: {:?} {}", i, endings, plan);
        }
    }
}

/// The order matters, and the random one differs from the id order: with no latency, a
/// message sent at an instant reaches a machine that acts later at that instant (taken at
/// its tick there) and not one that acted before. Three machines ticking at the same
/// instants: some order seed gives logs other than the id order's, and every run passes.
#[test]
fn a_random_order_changes_who_takes_a_message_at_once() {
    let p = params(3, 4, 10, CAP as u32, 1, 7);
    let net = Net {
        latency_ns: 0,
        capacity: 4096,
    };
    let pinned = [Some(3), Some(3), Some(3)];
    let logs = |mesh: Mesh| {
        let (_, dir) = run_mesh(mesh, p, net, &[]);
        assert_clean_with(dir.path(), &CheckOptions::default());
        (0..3)
            .map(|i| std::fs::read_to_string(dir.path().join(format!("machine-{i}.log"))).unwrap())
            .collect::<Vec<_>>()
    };
    let by_id = logs(Mesh::new(p, &pinned, Timing::HOST, net, vec![]));
    assert_eq!(
        by_id,
        logs(Mesh::new(p, &pinned, Timing::HOST, net, vec![])),
        "one order, one run"
    );
    let differ = (0..20)
        .filter(|&seed| {
            logs(Mesh::new(p, &pinned, Timing::HOST, net, vec![]).random_order(seed)) != by_id
        })
        .count();
    assert!(differ > 0, "no order seed changed the run");
}

/// Runs `mesh` (made of `p` and `net`, with live faults only) to its end, checks its logs
/// over reliable links and returns how each machine ended and its rows, by machine.
fn run_live(mesh: Mesh, p: RunParams, net: Net) -> (Vec<Ending>, Vec<Vec<lamport_core::Record>>) {
    let (endings, dir) = run_mesh(mesh, p, net, &[]);
    assert_clean_with(dir.path(), &CheckOptions::default());
    let rows = (0..p.machines)
        .map(|m| {
            let mut v = Vec::new();
            lamport_host::check::for_each_record(
                &dir.path().join(format!("machine-{m}.log")),
                |_, _, r| v.push(r),
            )
            .unwrap();
            v
        })
        .collect();
    (endings, rows)
}

proptest! {
    #![proptest_config(crate::cases(500))]

    /// Live faults (pauses and resumes, partitions and heals, delays, a kill) at random
    /// instants, in a random order of the machines or in id order, over many seeds: every
    /// run's logs pass the checker, and the faults' rules hold on the rows: no tick inside
    /// a pause, no message from the other side of a partition received inside it, every
    /// receive at least its delay after its send, each message logged once at its receiver
    /// (a prefix at a killed one), a killed machine ends `killed` and its peers name it
    /// lost ([`lamport_tests::live::rules_hold`]).
    #[test]
    fn live_faults_in_the_mesh_keep_every_rule(
        p in arb_params(), net in arb_net(),
        picks in lamport_tests::live::arb_picks(6),
        kill in proptest::option::of((0u64..6_000, any::<u16>())),
        order in proptest::option::of(any::<u64>()),
        delay_ms in prop_oneof![Just(0u64), 1u64..200],
    ) {
        let script = lamport_tests::live::script(p.machines, &picks, kill);
        let mut plan = Plan::default();
        if delay_ms > 0 {
            plan.set_delay(&delay_ms.to_string()).unwrap();
        }
        let mut mesh = Mesh::with_plan(p, &[], Timing::HOST, net, &plan, vec![])
            .with_live(script.clone());
        if let Some(seed) = order {
            mesh = mesh.random_order(seed);
        }
        let (endings, rows) = run_live(mesh, p, net);
        let held = lamport_tests::live::rules_hold(&rows);
        prop_assert!(held.is_ok(), "{}: {script:?}", held.unwrap_err());
        let end = |r: &lamport_core::Record| r.unix_ns - lamport_tests::mesh::START;
        if let Some((at, k)) = kill.filter(|k| k.0 < p.secs * 1000) {
            let k = usize::from(k % p.machines);
            // Killed unless it had stopped by then (a full queue, a peer's early stop).
            let stopped_first = rows[k]
                .iter()
                .find(|r| matches!(r.kind, lamport_core::record::Kind::Unprocessed | lamport_core::record::Kind::End))
                .is_some_and(|r| end(r) < at * 1_000_000);
            prop_assert!(stopped_first || note(&endings[k]) == "killed", "{:?}", endings[k]);
        }
    }
}

proptest! {
    #![proptest_config(crate::cases(300))]

    /// Live faults meet the mesh's own failures (a crash, a freeze, a broken link): every
    /// run's logs still pass the checker (told when links were not reliable, and when a
    /// freeze made ticks late).
    #[test]
    fn live_faults_meet_the_mesh_s_failures(
        (p, net, fault) in (arb_params(), arb_net())
            .prop_flat_map(|(p, net)| (Just(p), Just(net), arb_fault(p))),
        picks in lamport_tests::live::arb_picks(6),
        kill in proptest::option::of((0u64..6_000, any::<u16>())),
    ) {
        let script = lamport_tests::live::script(p.machines, &picks, kill);
        let mesh = Mesh::new(p, &[], Timing::HOST, net, vec![fault]).with_live(script);
        run_checked(mesh, p, net, &[fault]);
    }
}

/// A pause taken live in the mesh leaves its gap in the log: no tick while paused, each
/// deadline outside it ticked, the rest caught up on by no one.
#[test]
fn a_live_pause_in_the_mesh_skips_its_ticks_and_a_kill_ends_the_run() {
    use lamport_core::live::Live;
    let p = params(3, 6, 10, CAP as u32, 1, 11);
    let net = Net {
        latency_ns: 1_000_000,
        capacity: 4096,
    };
    let live = vec![
        (SEC, 1, Live::Pause),
        (3 * SEC, 1, Live::Resume),
        (4 * SEC, 2, Live::Kill),
    ];
    let mesh =
        Mesh::new(p, &[Some(5), Some(5), Some(5)], Timing::HOST, net, vec![]).with_live(live);
    let (endings, rows) = run_live(mesh, p, net);
    let ticks = |m: usize| {
        rows[m]
            .iter()
            .filter(|r| r.kind.is_tick())
            .map(|r| r.unix_ns - lamport_tests::mesh::START)
            .collect::<Vec<_>>()
    };
    assert!(!ticks(1).iter().any(|&t| (SEC..3 * SEC).contains(&t)));
    assert!(ticks(1).contains(&(3 * SEC)), "ticks again at the resume");
    assert_eq!(ticks(0).len(), ticks(1).len() + 10, "ten deadlines skipped");
    assert_eq!(note(&endings[2]), "killed");
    assert_eq!(note(&endings[0]), "peer 2 lost");
    assert_eq!(note(&endings[1]), "peer 2 lost");
}
