//! The handshake of machines spread over computers (`lamport_host::meet`) in virtual time
//! (`lamport_tests::meet`): skewed system clocks, latencies, late and missing machines,
//! terms that differ, and strangers on the listening port (idle, slow, claiming an id,
//! forging a proof or a ready time, garbage, HTTP).

use lamport_host::meet::{
    EXTRA_PENDING, MARGIN_NS, MARGIN_PER_MACHINE_NS, Outcome, PROTOCOL, Purpose, Say, Terms,
};
use lamport_tests::meet::{
    Attacker, MS, Meeting, Net, RUN_SEED, SEC, Step, UNIX0, US, Who, addr, said, terms,
};
use proptest::prelude::*;

const TIMEOUT: u64 = 30 * SEC;
/// A second, signed (skews).
const S: i64 = SEC as i64;

/// A `Hello` as machine `sender` of a run of `n` with the harness's terms would say it,
/// with `nonce`.
fn hello(sender: u16, n: usize, nonce: u64) -> Vec<u8> {
    hello_with(sender, terms(n), nonce)
}

fn hello_with(sender: u16, terms: Terms, nonce: u64) -> Vec<u8> {
    Say::Hello {
        protocol: PROTOCOL,
        sender,
        purpose: Purpose::Link,
        collects: false,
        terms,
        nonce,
    }
    .encode()
}

/// Checks a run in which every machine started: one start on the common timeline, the real
/// starts within `within_ns` of each other, every clock's way to the common timeline and
/// every offset within its error of the truth, offsets consistent pairwise, the links and
/// proofs matched up; the start after everyone heard, and not far off.
fn assert_started(m: &Meeting, within_ns: u64) {
    let n = m.n();
    assert_eq!(m.stuck_wakes, 0, "a tick left wake_at in the past");
    let s0 = m.start(0).start_unix;
    for i in 0..n {
        let s = m.start(i);
        assert_eq!(
            s.start_unix,
            s0,
            "machine {i}'s start differs\n{}",
            m.summary()
        );
    }
    let real: Vec<u64> = (0..n).map(|i| m.real_start(i)).collect();
    let (lo, hi) = (*real.iter().min().unwrap(), *real.iter().max().unwrap());
    assert!(
        hi - lo <= within_ns,
        "real starts spread over {} µs (> {} µs): {real:?}\n{}",
        (hi - lo) / US,
        within_ns / US,
        m.summary()
    );
    // The common timeline is machine 0's clock: its start is there on it.
    let unix0_at_start = (i128::from(UNIX0) + i128::from(real[0]) + i128::from(m.skew(0))) as u64;
    assert_eq!(unix0_at_start, s0, "machine 0 starts off its own clock");
    let last_outcome = (0..n).filter_map(|i| m.outcome_at(i)).max().unwrap();
    assert!(
        lo > last_outcome,
        "a machine starts at {lo} before the last one agreed at {last_outcome}"
    );
    // Not long after: the latest ready plus the margin (and the handshake's time).
    assert!(
        hi <= last_outcome + MARGIN_NS + n as u64 * MARGIN_PER_MACHINE_NS,
        "the start is late: {hi} vs agreed at {last_outcome}"
    );
    for i in 0..n {
        let s = m.start(i);
        let truth = m.skew(0) - m.skew(i);
        if i == 0 {
            assert_eq!(s.to_common_ns, 0);
        } else {
            let err = s.offsets[0].expect("offset to 0").err_ns;
            assert!(
                s.to_common_ns.abs_diff(truth) <= err,
                "machine {i}: to_common {} vs truth {truth} (err {err})",
                s.to_common_ns
            );
        }
        assert_eq!(s.offsets.len(), n);
        assert!(s.offsets[i].is_none());
        // Every machine draws from one seed: the one machine 0 stated.
        assert_eq!(s.seed, Some(RUN_SEED), "machine {i}'s seed");
        for j in (0..n).filter(|&j| j != i) {
            let o = s.offsets[j].unwrap_or_else(|| panic!("no offset {i}->{j}"));
            let truth = m.skew(j) - m.skew(i);
            assert!(
                o.ns.abs_diff(truth) <= o.err_ns,
                "offset {i}->{j}: {} vs truth {truth} (err {})",
                o.ns,
                o.err_ns
            );
            let back = m.start(j).offsets[i].expect("offset back");
            assert!(
                o.ns.abs_diff(-back.ns) <= o.err_ns + back.err_ns,
                "offsets {i}->{j} {o:?} and {j}->{i} {back:?} disagree"
            );
            // The links: outbound dialed by i to j, inbound dialed by j to i.
            let out = s.outbound[j].expect("outbound");
            assert_eq!(m.other_end(i, out), Some((Who::Machine(j as u16), true)));
            let (inb, _) = s.inbound[j].as_ref().expect("inbound");
            assert_eq!(m.other_end(i, *inb), Some((Who::Machine(j as u16), false)));
            assert!(!m.closed_by(i, out) && !m.closed_by(i, *inb));
            // What proves i to j is what j sent i.
            assert_eq!(s.proofs[j], m.start(j).nonces[i], "proof {i}->{j}");
        }
    }
}

fn fixed_skews(seed: u64, max_lat: u64) -> Meeting {
    let net = Net::random(3, seed, 30 * US, max_lat, 5, 20 * US);
    let mut m = Meeting::new(Meeting::machines(&[-3 * S, 0, 2 * S], TIMEOUT), net, seed);
    m.run(60 * SEC, SEC);
    m
}

#[test]
fn three_skewed_machines_start_together() {
    let m = fixed_skews(1, 3 * MS);
    assert_started(&m, MS);
}

proptest! {
    #![proptest_config(super::cases(64))]

    /// Skews −3 s, 0, +2 s; latencies up to a few ms (a little asymmetric, some jitter).
    #[test]
    fn three_skewed_machines_any_seed(seed in any::<u64>(), max_lat in 50 * US..5 * MS) {
        let m = fixed_skews(seed, max_lat);
        assert_started(&m, MS);
    }

    /// Any number of machines, skews within ±10 s, latencies, late starters (within the
    /// connect timeout): one start, together in real time.
    #[test]
    fn any_machines_start_together(
        seed in any::<u64>(),
        n in 3usize..=8,
        skews in proptest::collection::vec(-10_000i64..=10_000, 8),
        late in proptest::collection::vec((any::<bool>(), 0u64..=12_000), 8),
        lat in (20u64..=2_000, 0u64..=3_000),
        asym in 0u64..=20,
    ) {
        let (lo, extra) = lat;
        let net = Net::random(n, seed, lo * US, (lo + extra) * US, asym, 50 * US);
        let max = net.max() + 50 * US;
        let mut machines = Meeting::machines(
            &skews[..n].iter().map(|s| s * 1_000_000).collect::<Vec<_>>(),
            TIMEOUT,
        );
        for (i, mm) in machines.iter_mut().enumerate() {
            if late[i].0 {
                mm.start_at = Some(late[i].1 * MS);
            }
        }
        let mut m = Meeting::new(machines, net, seed);
        m.run(120 * SEC, SEC);
        assert_started(&m, 2 * max);
    }

    /// A connection between two machines breaks during the handshake (or twice): it is
    /// dialed again and the run starts as one.
    #[test]
    fn a_broken_connection_is_dialed_again(
        seed in any::<u64>(),
        cuts in proptest::collection::vec((0u64..=15_000, 0u16..3, 0u16..3), 1..=3),
    ) {
        let net = Net::random(3, seed, 100 * US, MS, 10, 20 * US);
        let mut m = Meeting::new(Meeting::machines(&[0, 2 * S, -3 * S], TIMEOUT), net, seed);
        for &(at, from, to) in &cuts {
            if from != to {
                m.cut(at * US, from, to);
            }
        }
        m.run(60 * SEC, SEC);
        assert_started(&m, 2 * MS);
    }
}

/// Machine 2's clock is 5 s behind machine 0's, and its way to machine 0 slow: machine 1's
/// ready time reaches it before it has measured machine 0's clock. It must wait for the
/// offset to place that ready time, not judge it on its own clock.
#[test]
fn a_ready_time_before_the_offset_to_machine_0_waits_for_it() {
    let mut net = Net::uniform(3, 100 * US);
    net.latency[2][0] = 5 * MS;
    net.latency[0][2] = 5 * MS;
    let mut m = Meeting::new(Meeting::machines(&[0, 0, -5 * S], TIMEOUT), net, 1);
    m.run(60 * SEC, SEC);
    assert_started(&m, MS);
}

#[test]
fn sixty_four_machines_start() {
    let n = 64;
    let mut r = lamport_tests::meet::Rng::new(64);
    let skews: Vec<i64> = (0..n)
        .map(|_| r.range(0, 10 * SEC) as i64 - 5 * S)
        .collect();
    let net = Net::random(n, 64, 100 * US, MS, 10, 20 * US);
    let max = net.max() + 20 * US;
    let mut m = Meeting::new(Meeting::machines(&skews, TIMEOUT), net, 64);
    m.run(60 * SEC, SEC);
    assert_started(&m, 2 * max);
}

/// A run of 3 whose machine 2 states `odd` terms. Over one latency every way each Hello
/// arrives before any refusal: every machine fails at once, naming the flag and both
/// values. Over random latencies, machine 2 may be refused (and exit) before another's
/// Hello reaches it: that one learns nothing but a refused connection, and fails at the
/// connect timeout naming machine 2; every machine that was refused names the flag.
fn mismatch(odd: &Terms, expect: &[&str]) {
    let timeout = 10 * SEC;
    for seed in 0..8 {
        let net = if seed == 0 {
            Net::uniform(3, MS)
        } else {
            Net::random(3, seed, 100 * US, 2 * MS, 30, 50 * US)
        };
        let mut machines = Meeting::machines(&[0, -S, S], timeout);
        machines[2].terms = odd.clone();
        let mut m = Meeting::new(machines, net, seed);
        m.run(60 * SEC, SEC);
        // A machine that gave up lingers, telling whoever says `Hello` why: every machine
        // names the flag and both values, at once.
        for i in 0..3 {
            let why = m.failure(i);
            let at = m.outcome_at(i).unwrap();
            assert!(at < 2 * SEC, "seed {seed}: machine {i} failed late: {why}");
            for e in expect {
                assert!(why.contains(e), "machine {i}: {why:?} does not name {e:?}");
            }
        }
        // Machine 2 heard why.
        assert!(m.failure(2).contains("on machine 2"), "{}", m.failure(2));
    }
}

#[test]
fn mismatched_terms_fail_naming_the_flag_and_both_values() {
    let t = terms(3);
    let all = t.peers.join(",");
    let cases: Vec<(Terms, Vec<&str>)> = vec![
        (
            Terms {
                queue_cap: 100,
                ..t.clone()
            },
            vec!["--queue-cap", "256", "100"],
        ),
        (
            Terms {
                secs: 1161,
                ..t.clone()
            },
            vec!["--secs", "6", "1161"],
        ),
        (
            Terms {
                speedup_milli: 68_711,
                ..t.clone()
            },
            vec!["--speedup", " 5 ", "68.711"],
        ),
        (
            Terms {
                spread_phase: true,
                ..t.clone()
            },
            vec!["--phase", "aligned", "spread"],
        ),
        (
            Terms {
                faults: "--delay-ms 30:20".into(),
                ..t.clone()
            },
            vec!["the fault plan", "(none)", "--delay-ms 30:20"],
        ),
        (
            Terms {
                peers: vec![addr(0), addr(1), "10.9.9.9:7000".into()],
                ..t.clone()
            },
            vec!["--peers", &all, "10.9.9.9:7000"],
        ),
        (
            Terms {
                rates: vec![3, 4, 5],
                ..t.clone()
            },
            vec!["--rates", "(drawn)", "3,4,5"],
        ),
        (
            Terms {
                rate_min: 2,
                ..t.clone()
            },
            vec!["--rate-min", "1", "2"],
        ),
        (
            Terms {
                rate_max: 12,
                ..t.clone()
            },
            vec!["--rate-max", "10", "12"],
        ),
        (
            Terms {
                roll_max: 9,
                ..t.clone()
            },
            vec!["--roll-max", "6", "9"],
        ),
        // A seed given to another machine than 0 must be machine 0's (machine 1 states
        // none: it hears why from the others).
        (
            Terms {
                seed: Some(7),
                ..t.clone()
            },
            vec!["--seed", "42", "7"],
        ),
    ];
    for (odd, expect) in cases {
        mismatch(&odd, &expect);
    }
}

/// Idle connections opened to machine 1 before its peers connect (at 50 ms): the peers are
/// admitted, the run starts, and every idle connection is closed.
fn idle_connections(count: usize) {
    let mut machines = Meeting::machines(&[0, S, -S], TIMEOUT);
    machines[0].start_at = Some(50 * MS);
    machines[2].start_at = Some(50 * MS);
    let mut m = Meeting::new(machines, Net::uniform(3, 200 * US), count as u64);
    let ks: Vec<usize> = (0..count)
        .map(|k| m.attack(Attacker::idle(1, MS + k as u64 * 10 * US)))
        .collect();
    m.run(60 * SEC, SEC);
    assert_started(&m, MS);
    for k in ks {
        let a = m.attacker(k);
        assert!(!a.refused);
        assert!(a.closed_at.is_some(), "idle connection {k} stayed open");
        assert!(!a.welcomed());
    }
}

#[test]
fn idle_connections_do_not_keep_peers_out() {
    let cap = 2 * 3 + EXTRA_PENDING;
    for count in [cap - 1, cap, cap + 1, 100, 500] {
        idle_connections(count);
    }
}

#[test]
fn a_slow_hello_is_closed_and_the_run_starts() {
    let mut m = Meeting::new(
        Meeting::machines(&[0, 0, 0], TIMEOUT),
        Net::uniform(3, 500 * US),
        5,
    );
    let k = m.attack(Attacker::trickle(1, 0, &hello(2, 3, 42), SEC));
    m.run(60 * SEC, SEC);
    assert_started(&m, MS);
    let a = m.attacker(k);
    assert!(a.closed_at.is_some(), "the slow connection stayed open");
    assert!(!a.welcomed());
    assert!(
        m.notes(1).iter().any(|(_, n)| n.contains("203.0.113.")),
        "no note of the slow connection: {:?}",
        m.notes(1)
    );
}

#[test]
fn a_trickle_past_the_silence_bound_is_closed_then() {
    // Machine 2 comes 8 s late: the trickle (a byte a second) is cut at 5 s.
    let mut machines = Meeting::machines(&[0, 0, 0], TIMEOUT);
    machines[2].start_at = Some(8 * SEC);
    let mut m = Meeting::new(machines, Net::uniform(3, 500 * US), 6);
    let k = m.attack(Attacker::trickle(1, 0, &hello(2, 3, 42), SEC));
    m.run(60 * SEC, SEC);
    assert_started(&m, MS);
    let a = m.attacker(k);
    let at = a.closed_at.expect("closed");
    assert!((5 * SEC..6 * SEC).contains(&at), "closed at {at}");
    assert!(
        a.refusals().iter().any(|w| w.contains("no whole Hello")),
        "{:?}",
        a.refusals()
    );
}

/// A stranger claims machine 2's id at machine 1 (correct terms) before the real machine 2
/// connects, and keeps talking (pings, a forged proof): the real one is taken.
#[test]
fn a_duplicate_id_gives_way_to_the_proven_one() {
    for seed in 0..16 {
        let mut machines = Meeting::machines(&[0, 3 * S, -2 * S], TIMEOUT);
        machines[2].start_at = Some(100 * MS);
        let mut m = Meeting::new(
            machines,
            Net::random(3, seed, 100 * US, MS, 10, 10 * US),
            seed,
        );
        let mut script = vec![(0, Step::Send(hello(2, 3, 7)))];
        for k in 1..400 {
            script.push((k * MS, Step::Send(Say::Ping { t1: UNIX0 + k }.encode())));
        }
        script.push((50 * MS, Step::Send(Say::Proof { nonce: seed }.encode())));
        let k = m.attack(Attacker::new(1, 0, script));
        m.run(60 * SEC, SEC);
        assert_started(&m, 2 * MS);
        let a = m.attacker(k);
        assert!(a.welcomed(), "the stranger's claim was not even heard");
        assert!(a.closed_at.is_some(), "the stranger stayed connected");
        assert!(
            a.refusals()
                .iter()
                .any(|w| w.contains("machine 2 has joined")),
            "{:?}",
            a.refusals()
        );
        let (t, _) = m.start(1).inbound[2].as_ref().unwrap();
        assert_eq!(m.other_end(1, *t), Some((Who::Machine(2), false)));
        assert_eq!(m.start(1).proofs[2], m.start(2).nonces[1]);
    }
}

/// A stranger that claims machine 0's id first, stating another seed, cannot give the run
/// its seed: the seed is the one on machine 0's proven connection.
#[test]
fn a_stranger_claiming_machine_0_cannot_set_the_seed() {
    for seed in 0..8 {
        let mut machines = Meeting::machines(&[0, S, -S], TIMEOUT);
        machines[0].start_at = Some(100 * MS);
        let mut m = Meeting::new(
            machines,
            Net::random(3, seed, 100 * US, MS, 10, 10 * US),
            seed,
        );
        let forged = Terms {
            seed: Some(99),
            ..terms(3)
        };
        let k = m.attack(Attacker::new(
            1,
            0,
            vec![(0, Step::Send(hello_with(0, forged, 7)))],
        ));
        m.run(60 * SEC, SEC);
        assert!(m.attacker(k).welcomed(), "the claim was not even heard");
        assert_started(&m, 2 * MS);
    }
}

/// A stranger that claims an id cannot prove it, so its ready time is refused out of turn.
#[test]
fn an_unproven_ready_is_refused_out_of_turn() {
    let mut machines = Meeting::machines(&[0, 0, 0], TIMEOUT);
    machines[2].start_at = Some(100 * MS);
    let mut m = Meeting::new(machines, Net::uniform(3, 300 * US), 9);
    let script = vec![
        (0, Step::Send(hello(2, 3, 7))),
        (5 * MS, Step::Send(Say::Proof { nonce: 12345 }.encode())),
        (10 * MS, Step::Send(Say::Ready { at: u64::MAX }.encode())),
    ];
    let k = m.attack(Attacker::new(1, 0, script));
    m.run(60 * SEC, SEC);
    assert_started(&m, MS);
    let a = m.attacker(k);
    assert!(a.welcomed());
    assert!(
        a.refusals().iter().any(|w| w.contains("Ready out of turn")),
        "{:?}",
        a.refusals()
    );
    let at = a.closed_at.unwrap();
    assert!(at < 20 * MS, "closed only at {at}");
}

/// Machine 2's real `Ready` to machine 0 says `at` instead (rewritten in flight): machine 0
/// fails naming machine 2; no machine starts off the sane timeline.
fn rogue_ready(at: u64) {
    let mut m = Meeting::new(
        Meeting::machines(&[0, S, -S], TIMEOUT),
        Net::uniform(3, 300 * US),
        3,
    );
    m.rewrite(Box::new(move |from, to, bytes| {
        if from == 2 && to == 0 && matches!(said(&bytes)[..], [Some(Say::Ready { .. })]) {
            Say::Ready { at }.encode()
        } else {
            bytes
        }
    }));
    m.run(60 * SEC, SEC);
    let why = m.failure(0);
    assert!(why.contains("machine 2 at 10.0.0.3:7000"), "{why}");
    assert!(why.contains("ready"), "{why}");
    for i in 1..3 {
        if let Some(Outcome::Started(s)) = m.outcome(i) {
            assert!(
                s.start_unix.abs_diff(UNIX0) < 10 * SEC,
                "machine {i} starts at {}",
                s.start_unix
            );
            assert!(m.real_start(i) < 10 * SEC);
        }
    }
}

#[test]
fn a_peer_ready_far_off_the_timeline_fails_naming_it() {
    for at in [
        u64::MAX,
        u64::MAX - 1,
        0,
        1,
        UNIX0 + 1_000 * SEC,
        UNIX0 - 1_000 * SEC,
    ] {
        rogue_ready(at);
    }
}

#[test]
fn a_late_peer_is_waited_for() {
    let mut machines = Meeting::machines(&[0, 2 * S, -4 * S], TIMEOUT);
    machines[2].start_at = Some(10 * SEC);
    let mut m = Meeting::new(
        machines,
        Net::random(3, 11, 100 * US, 2 * MS, 10, 10 * US),
        11,
    );
    m.run(60 * SEC, SEC);
    assert_started(&m, 2 * MS);
    assert!(m.real_start(0) > 10 * SEC);
}

#[test]
fn a_missing_peer_fails_the_others_after_the_timeout() {
    let timeout = 10 * SEC;
    let mut machines = Meeting::machines(&[0, S, 0], timeout);
    machines[2].start_at = None;
    let mut m = Meeting::new(machines, Net::uniform(3, 300 * US), 2);
    m.run(60 * SEC, SEC);
    for i in 0..2 {
        let why = m.failure(i);
        let at = m.outcome_at(i).unwrap();
        assert!(
            (timeout..timeout + 600 * MS).contains(&at),
            "machine {i} failed at {at}: {why}"
        );
        assert!(why.contains("machine 2 at 10.0.0.3:7000"), "{why}");
        assert!(why.contains("connection refused"), "{why}");
        // The other, present peer is connected: only not ready.
        let other = format!("machine {} at {}: it is not ready", 1 - i, addr(1 - i));
        assert!(why.contains(&other), "{why}");
    }
}

#[test]
fn garbage_and_http_are_refused_with_a_note() {
    let texts: Vec<(Vec<u8>, &str)> = vec![
        (
            vec![0xff, 0xfe, 0x17, 0x80, 0x00],
            "not a lamport-lab handshake",
        ),
        (vec![0x00], "not a lamport-lab handshake"),
        (
            b"GET / HTTP/1.1\r\nHost: 10.0.0.2:7000\r\n\r\n".to_vec(),
            "text where a handshake was expected",
        ),
        (b"hello?\n".to_vec(), "text where a handshake was expected"),
        (
            vec![0x41; 300 * 1024],
            "text where a handshake was expected",
        ),
    ];
    for (bytes, expect) in texts {
        let mut m = Meeting::new(
            Meeting::machines(&[0, 0, 0], TIMEOUT),
            Net::uniform(3, 300 * US),
            4,
        );
        let k = m.attack(Attacker::new(1, 0, vec![(0, Step::Send(bytes.clone()))]));
        m.run(60 * SEC, SEC);
        assert_started(&m, MS);
        let a = m.attacker(k);
        let closed = a.closed_at.expect("closed");
        assert!(closed < 10 * MS, "{expect}: closed only at {closed}");
        assert!(
            a.refusals().iter().any(|w| w.contains(expect)),
            "{:?}",
            a.refusals()
        );
        let note = m.notes(1).iter().find(|(_, n)| n.contains("203.0.113.1"));
        let (_, note) = note.unwrap_or_else(|| panic!("no note: {:?}", m.notes(1)));
        assert!(note.contains(expect), "{note}");
    }
}

/// A `Hello` of another protocol, or for logs, or with a foreign id: refused with a note;
/// the run goes on.
#[test]
fn foreign_hellos_are_refused() {
    let bad: Vec<(Vec<u8>, &str)> = vec![
        (
            Say::Hello {
                protocol: PROTOCOL + 1,
                sender: 2,
                purpose: Purpose::Link,
                collects: false,
                terms: terms(3),
                nonce: 1,
            }
            .encode(),
            "handshake protocol",
        ),
        (
            Say::Hello {
                protocol: PROTOCOL,
                sender: 2,
                purpose: Purpose::Logs,
                collects: false,
                terms: terms(3),
                nonce: 1,
            }
            .encode(),
            "logs before the run",
        ),
        (hello(1, 3, 1), "is not a peer"),
        (hello(7, 3, 1), "is not a peer"),
        (Say::Ready { at: UNIX0 }.encode(), "Ready out of turn"),
        (Say::Welcome.encode(), "Welcome out of turn"),
    ];
    for (bytes, expect) in bad {
        let mut m = Meeting::new(
            Meeting::machines(&[0, 0, 0], TIMEOUT),
            Net::uniform(3, 300 * US),
            4,
        );
        let k = m.attack(Attacker::new(1, 0, vec![(0, Step::Send(bytes))]));
        m.run(60 * SEC, SEC);
        assert_started(&m, MS);
        let a = m.attacker(k);
        assert!(a.closed_at.is_some());
        assert!(
            a.refusals().iter().any(|w| w.contains(expect)),
            "{expect}: {:?}",
            a.refusals()
        );
    }
}

/// A machine's clock far from every other's (a day): still one start, in real time.
#[test]
fn a_day_of_skew_is_measured() {
    let day = 86_400 * S;
    let mut machines = Meeting::machines(&[0, day, -day], TIMEOUT);
    machines[1].start_at = Some(2 * SEC);
    let mut m = Meeting::new(machines, Net::uniform(3, MS), 8);
    m.run(60 * SEC, SEC);
    assert_started(&m, MS);
}

/// A network whose round trips take 2.4 s: no offset can be measured within the 1 s the
/// handshake keeps, so every machine gives up naming the peer and the round trip rather
/// than start on a timeline it cannot trust.
#[test]
fn a_peer_whose_clock_cannot_be_measured_is_given_up_on() {
    let machines = Meeting::machines(&[0, 0, 0], 60 * SEC);
    let mut m = Meeting::new(machines, Net::uniform(3, 1200 * MS), 1);
    m.run(120 * SEC, SEC);
    for i in 0..3 {
        let why = m.failure(i);
        assert!(
            why.contains("its clock cannot be measured: the best of 8 round trips took 2400 ms"),
            "machine {i}: {why}"
        );
    }
}

/// A machine's system clock steps 1.5 s forward during the handshake, after it measured
/// machine 0 (an outside tester's case): every timestamp of the handshake is the clock read
/// at its beginning carried on by the monotonic clock, so the machines still start together.
#[test]
fn a_clock_step_during_the_handshake_does_not_move_the_start() {
    let mut machines = Meeting::machines(&[0, -S, S], 30 * SEC);
    machines[1].step = Some((500 * MS, 1_500 * MS as i64));
    // Machine 2 comes late, so the step falls between machine 1's measurement of machine
    // 0 and its ready time.
    machines[2].start_at = Some(2 * SEC);
    let mut m = Meeting::new(machines, Net::uniform(3, MS), 1);
    m.run(60 * SEC, SEC);
    let starts: Vec<u64> = (0..3).map(|i| m.real_start(i)).collect();
    let spread = starts.iter().max().unwrap() - starts.iter().min().unwrap();
    assert!(spread < MS, "started {spread} ns apart: {starts:?}");
}

/// The run's first frames of the machines that started reach a machine still waiting for a
/// `Ready` (one link slow one way: machine 1's `Ready` reaches machine 2 after the start).
/// They are kept for the run, byte for byte, and no connection is refused or closed.
#[test]
fn frames_that_come_before_the_last_ready_are_kept_for_the_run() {
    // Two model frames as the wire encodes them (a Msg's variant reads as a `Welcome`).
    let mut frames = Vec::new();
    for clock in [1, 300] {
        let mut buf = [0u8; lamport_core::wire::MAX_FRAME];
        let msg = lamport_core::wire::Frame::Msg(lamport_core::wire::Msg { sender: 0, clock });
        frames.extend_from_slice(lamport_core::wire::encode(&msg, &mut buf).unwrap());
    }
    for seed in 0..8 {
        let mut net = Net::uniform(3, 200 * US);
        net.latency[1][2] = 500 * MS;
        net.jitter_ns = 20 * US;
        let mut m = Meeting::new(Meeting::machines(&[0, S, -S], TIMEOUT), net, seed);
        m.run_frames = Some(frames.clone());
        m.run(60 * SEC, 2 * SEC);
        for i in 0..3 {
            assert!(
                matches!(m.outcome(i), Some(Outcome::Started(_))),
                "seed {seed}: machine {i}: {}",
                m.summary()
            );
            assert!(
                m.notes(i).is_empty(),
                "seed {seed}: machine {i}: {:?}",
                m.notes(i)
            );
        }
        // Machine 2 heard machine 1's `Ready` after machine 0 started (the case at hand).
        assert!(
            m.outcome_at(2).unwrap() > m.real_start(0),
            "seed {seed}: the frames did not come first\n{}",
            m.summary()
        );
        for i in 0..3 {
            for p in (0..3).filter(|&p| p != i) {
                let (t, leftover) = m.start(i).inbound[p].clone().unwrap();
                let mut got = leftover;
                if let Some((after, _)) = m.after_start(i, t) {
                    got.extend_from_slice(after);
                }
                assert_eq!(got, frames, "seed {seed}: machine {i} from machine {p}");
                assert!(!m.closed_by(i, t), "seed {seed}: {i} closed {p}'s link");
            }
        }
    }
}
