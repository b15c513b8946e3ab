//! End-to-end tests of host-tcp: threads in one process, and one process per machine.

use lamport_host::meet::{PROTOCOL, Purpose, Say, Terms};
use lamport_tests::{assert_clean, assert_exit_0, bin, last_line, wait_exit, wait_for_logs};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use std::{
    io::{Read, Write},
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

pub(crate) use lamport_tests::free_ports;

pub(crate) fn machine(id: usize, peers: &[String], out: &Path, extra: &[&str]) -> Child {
    Command::new(bin("host-tcp"))
        .args([
            "--id",
            &id.to_string(),
            "--peers",
            &peers.join(","),
            "--quiet",
        ])
        .args(if extra.contains(&"--connect-timeout") {
            &[][..]
        } else {
            &["--connect-timeout", "20"][..]
        })
        .args(extra)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(c: Child, limit: Duration) -> (i32, String) {
    let (code, err, _) = wait_exit(c, limit);
    (code, err)
}

#[test]
fn threads_mode_passes_the_checker() {
    for (n, seed) in [("3", "5"), ("6", "6")] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let o = Command::new(bin("host-tcp"))
            .args([
                "--machines",
                n,
                "--secs",
                "3",
                "--speedup",
                "20",
                "--seed",
                seed,
                "--quiet",
                "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert_exit_0(&o);
        let r = assert_clean(&out);
        assert!(r.clean_end());
        assert!(
            r.machines
                .iter()
                .all(|m| m.ticks == m.ticks_due && m.ticks >= 60)
        );
        assert!(
            std::fs::read_to_string(out.join("run.json"))
                .unwrap()
                .contains("\"peers\"")
        );
    }
}

#[test]
fn three_processes_started_a_second_apart_in_any_order() {
    for order in [[2usize, 0, 1], [1, 2, 0]] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let peers = free_ports(3);
        let mut kids = Vec::new();
        for id in order {
            kids.push(machine(
                id,
                &peers,
                &out,
                &["--secs", "3", "--speedup", "10"],
            ));
            std::thread::sleep(Duration::from_secs(1));
        }
        for k in kids {
            let (code, err) = finish(k, Duration::from_secs(30));
            assert_eq!(code, 0, "{err}");
        }
        let r = assert_clean(&out);
        assert!(r.clean_end());
        for id in 0..3 {
            assert!(out.join(format!("run-{id}.json")).exists());
        }
    }
}

#[test]
fn strays_are_refused_and_the_run_stays_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let peers = free_ports(3);
    let kids: Vec<Child> = (0..3)
        .map(|id| machine(id, &peers, &out, &["--secs", "6", "--speedup", "5"]))
        .collect();
    // Wait until the run is ticking.
    wait_for_logs(&out, 3);
    std::thread::sleep(Duration::from_millis(500));
    let target = &peers[1];
    // Garbage, an HTTP request, and a well-formed Hello with the wrong run id.
    let mut g = TcpStream::connect(target).unwrap();
    g.write_all(&[0x07, 0xff, 0x13, 0x00, 0x09, 0x00]).unwrap();
    let mut h = TcpStream::connect(target).unwrap();
    h.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n")
        .unwrap();
    let mut w = TcpStream::connect(target).unwrap();
    let mut terms = terms_of(&peers, 7);
    w.write_all(&hello(0, &terms)).unwrap();
    // A Hello that agrees, after the start.
    terms.secs = 6;
    let mut late = TcpStream::connect(target).unwrap();
    late.write_all(&hello(0, &terms)).unwrap();
    // Each is answered and closed by the machine.
    for (name, s) in [
        ("garbage", &mut g),
        ("http", &mut h),
        ("other terms", &mut w),
        ("late", &mut late),
    ] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut all = Vec::new();
        let r = s.read_to_end(&mut all);
        assert!(
            !matches!(&r, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
            "{name}: connection should be closed"
        );
    }
    let mut errs = String::new();
    for k in kids {
        let (code, err) = finish(k, Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
        errs += &err;
    }
    assert_eq!(
        errs.matches("machine 1: refused connection").count(),
        4,
        "{errs}"
    );
    assert!(
        errs.contains("bytes that are not a lamport-lab handshake")
            && errs.contains("text where a handshake was expected (\"GET / HTTP/1.1")
            && errs.contains("--secs differs: 7 on machine 0, 6 on machine 1")
            && errs.contains("machine 1: the run has started"),
        "{errs}"
    );
    let r = assert_clean(&out);
    assert!(r.clean_end());
}

#[test]
fn kill_9_of_one_process_stops_the_others_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let peers = free_ports(3);
    let mut kids: Vec<Child> = (0..3)
        .map(|id| machine(id, &peers, &out, &["--secs", "30", "--speedup", "5"]))
        .collect();
    wait_for_logs(&out, 3);
    std::thread::sleep(Duration::from_millis(1500));
    let killed_at = lamport_host::folder::now_unix_ns();
    kill(Pid::from_raw(kids[2].id() as i32), Signal::SIGKILL).unwrap();
    let victim = kids.remove(2);
    let _ = finish(victim, Duration::from_secs(5));
    for (id, k) in kids.into_iter().enumerate() {
        let (code, err) = finish(k, Duration::from_secs(5));
        assert_eq!(code, 1, "machine {id}: {err}");
        let line = last_line(&out.join(format!("machine-{id}.log")));
        assert!(
            line.contains(",end,") && line.ends_with("peer 2 lost"),
            "{line}"
        );
        let t: u64 = line.split(',').next().unwrap().parse().unwrap();
        assert!(
            t - killed_at < 1_000_000_000,
            "machine {id} ended {} ms after the kill",
            (t - killed_at) / 1_000_000
        );
    }
    assert_clean(&out);
}

#[test]
fn different_parameters_are_refused_naming_the_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let peers = free_ports(3);
    let short = ["--secs", "2", "--connect-timeout", "3"];
    let a = machine(0, &peers, &out, &short);
    let b = machine(1, &peers, &out, &short);
    let c = machine(2, &peers, &out, &["--secs", "3", "--connect-timeout", "3"]);
    let mut errs = String::new();
    for k in [a, b, c] {
        let (code, err) = finish(k, Duration::from_secs(30));
        assert_ne!(code, 0, "{err}");
        errs += &err;
    }
    for id in 0..3 {
        assert!(
            errs.contains(&format!("host-tcp: machine {id}: "))
                && errs.contains("--secs differs: "),
            "{errs}"
        );
    }
    assert!(names_mismatch(&errs, "--secs", "3", "2"), "{errs}");
}

/// Whether `errs` has a machine naming `what` as differing between machine 2 (`odd`) and
/// machine 0 or 1 (`usual`). Which pair meets first, and which side of it names the
/// mismatch, is a race of the dials; the others only hear that someone gave up.
fn names_mismatch(errs: &str, what: &str, odd: &str, usual: &str) -> bool {
    (0..2).any(|x| {
        errs.contains(&format!(
            "{what} differs: {odd} on machine 2, {usual} on machine {x}"
        )) || errs.contains(&format!(
            "{what} differs: {usual} on machine {x}, {odd} on machine 2"
        ))
    })
}

#[test]
fn address_in_use_and_absent_peers_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peers = free_ports(2);
    peers.insert(0, holder.local_addr().unwrap().to_string());
    let (code, err) = finish(
        machine(0, &peers, &dir.path().join("a"), &["--secs", "2"]),
        Duration::from_secs(10),
    );
    assert_ne!(code, 0);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot listen on"), "{err}");
    let (code, err) = finish(
        machine(
            1,
            &peers,
            &dir.path().join("b"),
            &["--secs", "2", "--connect-timeout", "1"],
        ),
        Duration::from_secs(20),
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("never came") || err.contains("did not all connect"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // Neither run started: neither leaves a run folder behind.
    assert!(!dir.path().join("a").exists());
    assert!(!dir.path().join("b").exists());
}

/// A threads run stopped by `sig` once it runs: exit `code`, complete logs, every `end`
/// row saying `note`.
fn signal_threads(sig: Signal, code: i32, note: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = Command::new(bin("host-tcp"))
        .args([
            "--secs",
            "30",
            "--speedup",
            "5",
            "--seed",
            "8",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_logs(&out, 3);
    std::thread::sleep(Duration::from_millis(800));
    kill(Pid::from_raw(child.id() as i32), sig).unwrap();
    let (got, err) = finish(child, Duration::from_secs(5));
    assert_eq!(got, code, "{err}");
    assert!(err.contains("logs are complete"), "{err}");
    let r = assert_clean(&out);
    let notes: Vec<_> = r.machines.iter().map(|m| m.end_note.clone()).collect();
    assert!(
        notes.iter().all(|n| n.as_deref() == Some(note)),
        "{notes:?}"
    );
}

#[test]
fn sigint_ends_a_threads_run_cleanly() {
    signal_threads(Signal::SIGINT, 130, "interrupted");
}

/// The terminal closing ends a threads run like SIGTERM (it used to kill the process
/// without a single `end` row).
#[test]
fn a_hang_up_ends_a_threads_run_cleanly_with_129() {
    signal_threads(Signal::SIGHUP, 129, "hung up");
}

/// One process per machine judges its own log: machine 2, frozen for 1.5 s (its ticks
/// then more than the checker's 1 s late), exits 1 naming the first violation; machine 1,
/// whose log keeps every rule, exits 0; machine 0 judges the whole run and exits 1 naming
/// machine 2's violation.
#[test]
fn a_process_whose_own_log_breaks_a_rule_exits_1() {
    let extra = ["--secs", "5", "--rates", "6,6,6", "--seed", "3"];
    let (_dir, out, kids, frozen) = with_a_frozen_peer(&extra);
    std::thread::sleep(Duration::from_millis(1500));
    kill(Pid::from_raw(frozen.id() as i32), Signal::SIGCONT).unwrap();
    let (code, err) = finish(frozen, Duration::from_secs(20));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("log check found") && err.contains("late"),
        "{err}"
    );
    for (id, k) in kids.into_iter().enumerate() {
        let (code, err) = finish(k, Duration::from_secs(20));
        if id == 0 {
            assert_eq!(code, 1, "machine 0: {err}");
            assert!(
                err.contains("violations in the whole run; first:")
                    && err.contains("machine-2.log"),
                "{err}"
            );
        } else {
            assert_eq!(code, 0, "machine {id}: {err}");
        }
    }
    let _ = out;
}

/// `--quiet` silences the display and the table, never the verdict: the machine whose
/// queue filled says so in one line, and so do the machines it stopped.
#[test]
fn a_quiet_process_still_says_why_its_run_failed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let peers = free_ports(3);
    let extra = [
        "--rates",
        "1,6,6",
        "--roll-max",
        "3",
        "--queue-cap",
        "3",
        "--secs",
        "20",
        "--seed",
        "1",
    ];
    let kids: Vec<Child> = (0..3).map(|id| machine(id, &peers, &out, &extra)).collect();
    for (id, k) in kids.into_iter().enumerate() {
        let (code, err) = finish(k, Duration::from_secs(30));
        assert_eq!(code, 1, "machine {id}: {err}");
        let why = if id == 0 {
            "run failed: machine 0: queue full (cap 3)"
        } else {
            "run failed: machine"
        };
        assert!(err.contains(why), "machine {id}: {err}");
    }
    assert_clean(&out);
}

/// Under `cargo run` (a parent that burned CPU, then exec'd the host) the summary's
/// `cpu:` line counts only the run: host-tcp counts its own process.
#[test]
fn the_cpu_line_counts_only_the_run_under_a_busy_parent() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = lamport_tests::after_a_busy_parent(
        &bin("host-tcp"),
        &["--secs", "1", "--seed", "4", "--pacing", "sleep", "--out"],
    )
    .arg(&out)
    .output()
    .unwrap();
    assert_exit_0(&o);
    let (own, children) = lamport_tests::burned_secs(&String::from_utf8_lossy(&o.stderr));
    assert!(own > 0.15, "the parent burned {own} + {children} s");
    // Counted before the fix: the parent's own time over 3 machines and 1 s, > 50 ms.
    let ms = lamport_tests::cpu_ms(&String::from_utf8_lossy(&o.stdout));
    assert!(ms < 25.0, "{ms} ms per machine per second");
    assert_clean(&out);
}

/// stdout a closed pipe: a threads run ends as usual with complete logs, and so does one
/// process per machine.
#[test]
fn a_closed_stdout_loses_only_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut c = Command::new(bin("host-tcp"));
    c.args(["--secs", "2", "--speedup", "5", "--seed", "6", "--out"])
        .arg(&out);
    let (code, err) = lamport_tests::with_stdout_closed(c);
    assert_eq!(code, 0, "{err}");
    assert_clean(&out);
    let out = dir.path().join("one");
    let peers = free_ports(3);
    let spawn = |id: usize| {
        let mut c = Command::new(bin("host-tcp"));
        c.args(["--id", &id.to_string(), "--peers", &peers.join(",")])
            .args(["--secs", "2", "--speedup", "5", "--out"])
            .arg(&out)
            .stderr(Stdio::piped());
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        c.stdout(writer).spawn().unwrap()
    };
    let kids: Vec<Child> = (0..3).map(spawn).collect();
    for (id, k) in kids.into_iter().enumerate() {
        let (code, err) = finish(k, Duration::from_secs(30));
        assert_eq!(code, 0, "machine {id}: {err}");
    }
    assert_clean(&out);
}

/// Three processes with `extra` flags; once they run, machine 2 is frozen (SIGSTOP).
/// Returns the folder, the run's out path, machines 0 and 1, and the frozen one.
fn with_a_frozen_peer(
    extra: &[&str],
) -> (tempfile::TempDir, std::path::PathBuf, Vec<Child>, Child) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let peers = free_ports(3);
    let mut kids: Vec<Child> = (0..3).map(|id| machine(id, &peers, &out, extra)).collect();
    wait_for_logs(&out, 3);
    std::thread::sleep(Duration::from_millis(300));
    let frozen = kids.remove(2);
    kill(Pid::from_raw(frozen.id() as i32), Signal::SIGSTOP).unwrap();
    (dir, out, kids, frozen)
}

/// Kills the frozen machine and checks the run: its log has no end, the others name it.
fn bury(frozen: Child, out: &Path) {
    kill(Pid::from_raw(frozen.id() as i32), Signal::SIGKILL).unwrap();
    let _ = finish(frozen, Duration::from_secs(5));
    assert_clean(out);
}

/// A process frozen by SIGSTOP with small socket buffers: the others never block on a
/// write, call it stalled after the bound, and end with complete logs. At least one of
/// them calls it stalled; the other may take that one's `Bye` first (it stops as `peer X
/// stopped early`) and name the frozen peer lost when its drain times out: `peer 2 lost`
/// alone, lost peers naming the stop (docs/model.md, "Log format").
#[test]
fn a_frozen_process_is_stalled_and_the_others_end_with_complete_logs() {
    let extra = [
        "--secs",
        "30",
        "--speedup",
        "1000",
        "--rates",
        "6,6,6",
        "--send-buffer",
        "4096",
    ];
    let (_dir, out, kids, frozen) = with_a_frozen_peer(&extra);
    let mut stalled = 0;
    for (id, k) in kids.into_iter().enumerate() {
        let (code, err) = finish(k, Duration::from_secs(20));
        assert_eq!(code, 1, "machine {id}: {err}");
        let line = last_line(&out.join(format!("machine-{id}.log")));
        assert!(line.contains(",end,"), "{line}");
        if line.ends_with(",peer 2 stalled") {
            stalled += 1;
        } else {
            assert!(line.ends_with(",peer 2 lost"), "{line}");
        }
    }
    assert!(stalled >= 1, "one of them called the frozen peer stalled");
    bury(frozen, &out);
}

/// Ctrl-C reaches the others at any moment, also while a peer is frozen. Separate
/// processes cannot be signalled at one instant: whichever takes its signal first ends
/// `interrupted` (130); the other may take that one's `Bye` before its own signal, and then
/// stops as `peer X stopped early` (1), as README's table of chaos statuses says. The frozen
/// peer never says `Bye`, so that one then names it lost when its drain times out, and its
/// note is `peer 2 lost` alone (lost peers first, at most one reason: a peer lost names
/// the stop, docs/model.md "Log format").
#[test]
fn ctrl_c_reaches_a_process_whose_peer_is_frozen() {
    let extra = ["--secs", "60", "--speedup", "50", "--send-buffer", "4096"];
    let (_dir, out, kids, frozen) = with_a_frozen_peer(&extra);
    for k in &kids {
        kill(Pid::from_raw(k.id() as i32), Signal::SIGINT).unwrap();
    }
    let mut interrupted = 0;
    for (id, k) in kids.into_iter().enumerate() {
        let (code, err, took) = wait_exit(k, Duration::from_secs(10));
        assert!(took < Duration::from_secs(3), "machine {id} took {took:?}");
        let line = last_line(&out.join(format!("machine-{id}.log")));
        assert!(line.contains(",end,"), "{line}");
        let other = format!("peer {} stopped early", 1 - id);
        match code {
            130 if line.contains("interrupted") => interrupted += 1,
            1 if line.contains(&other) && err.contains(&other) => {}
            1 if line.ends_with(",peer 2 lost") && err.contains("peer 2 lost") => {}
            _ => panic!("machine {id} exited {code}: {err} {line}"),
        }
    }
    assert!(interrupted >= 1, "one of them took its own signal first");
    bury(frozen, &out);
}

/// A client that sends its Hello a byte a second is cut off after 5 s in all (the bound is
/// for the whole handshake, not per read); a flood of silent connections is held to 22
/// at once (two per machine and 16), the oldest closed for each newcomer; the run is
/// untouched.
#[test]
fn a_slow_hello_and_a_flood_of_connections_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let peers = free_ports(3);
    let kids: Vec<Child> = (0..3)
        .map(|id| machine(id, &peers, &out, &["--secs", "12", "--speedup", "5"]))
        .collect();
    wait_for_logs(&out, 3);
    // The flood first: 60 silent connections, each newcomer past 22 closing the oldest.
    let flood: Vec<TcpStream> = (0..60)
        .filter_map(|_| TcpStream::connect(&peers[1]).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut s = TcpStream::connect(&peers[1]).unwrap();
    s.write_all(&[0x07]).unwrap();
    let slow = std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        for b in [0x01u8, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09] {
            if s.write_all(&[b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        s.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
        let mut b = [0u8; 64];
        let closed = loop {
            match s.read(&mut b) {
                Ok(0) => break true,
                Ok(_) => {}
                Err(e) => {
                    break !matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    );
                }
            }
        };
        (closed, t0.elapsed())
    });
    let (closed, took) = slow.join().unwrap();
    assert!(closed, "the slow client was not cut off");
    assert!(
        took < Duration::from_secs(11),
        "cut off only after {took:?}"
    );
    drop(flood);
    let mut errs = String::new();
    for k in kids {
        let (code, err) = finish(k, Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
        errs += &err;
    }
    assert!(errs.contains("no whole Hello within 5 s"), "{errs}");
    assert_eq!(
        errs.matches("22 connections were open; the oldest gives way")
            .count(),
        60 + 1 - 22,
        "{errs}"
    );
    assert!(errs.contains("sent nothing within 5 s"), "{errs}");
    let r = assert_clean(&out);
    assert!(r.clean_end());
}

/// Host names are accepted in --peers; a --machines that contradicts the list is refused in
/// one line, exit 2, before anything listens.
#[test]
fn peer_names_resolve_and_a_contradicting_machine_count_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let ports: Vec<String> = free_ports(3)
        .iter()
        .map(|a| a.rsplit(':').next().unwrap().to_string())
        .collect();
    let named: Vec<String> = ports.iter().map(|p| format!("localhost:{p}")).collect();
    let kids: Vec<Child> = (0..3)
        .map(|id| machine(id, &named, &out, &["--secs", "2", "--speedup", "5"]))
        .collect();
    for k in kids {
        let (code, err) = finish(k, Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
    }
    let report = assert_clean(&out);
    assert!(report.clean_end());
    // Each process's run-<id>.json states the run as agreed: machine 0's seed, so every
    // machine's rate as each drew it.
    let rates: Vec<u64> = report.machines.iter().map(|m| u64::from(m.rate)).collect();
    for id in 0..3 {
        let text = std::fs::read_to_string(out.join(format!("run-{id}.json"))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["rates"], serde_json::json!(rates), "{text}");
    }
    let o = Command::new(bin("host-tcp"))
        .args(["--id", "0", "--machines", "4", "--peers", &named.join(",")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--machines 4 contradicts --peers, which lists 3 addresses"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let o = Command::new(bin("host-tcp"))
        .args([
            "--id",
            "0",
            "--peers",
            "nohost.invalid:1,localhost:2,localhost:3",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot resolve the host"), "{err}");
}

/// Without --quiet each process prints its own machine's row of the summary table and how
/// to check the whole run.
#[test]
fn each_process_prints_its_own_summary_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let peers = free_ports(3);
    let kids: Vec<Child> = (0..3)
        .map(|id| {
            Command::new(bin("host-tcp"))
                .args([
                    "--id",
                    &id.to_string(),
                    "--peers",
                    &peers.join(","),
                    "--secs",
                    "2",
                    "--speedup",
                    "5",
                ])
                .arg("--out")
                .arg(&out)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut hints = Vec::new();
    for (id, k) in kids.into_iter().enumerate() {
        let o = k.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let rows: Vec<&str> = stdout
            .lines()
            .filter(|l| l.trim_end().ends_with("time up") && !l.starts_with("machine "))
            .collect();
        assert_eq!(rows.len(), 1, "{stdout}");
        assert!(
            stdout.contains(&format!("\nmachine {id}: time up\n")),
            "{stdout}"
        );
        assert!(
            rows[0].trim_start().starts_with(&id.to_string()),
            "{stdout}"
        );
        assert!(stdout.contains("machine  rate  ticks (due)"), "{stdout}");
        // The hint is a command that runs as written: the lab beside host-tcp.
        // On the hint's line, or alone on the next when the line would pass 80 columns.
        let label = "check the whole run (machine 0 keeps every log here):";
        let mut lines = stdout.lines();
        let hint = lines
            .find_map(|l| l.strip_prefix(label))
            .map(|rest| match rest.trim() {
                "" => lines.next().unwrap_or("").trim().to_string(),
                cmd => cmd.to_string(),
            })
            .unwrap_or_else(|| panic!("{stdout}"));
        hints.push(hint);
    }
    for hint in hints {
        let o = Command::new("sh").arg("-c").arg(&hint).output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success() && text.contains("every rule holds"),
            "{hint}: {text}"
        );
    }
    // Every process drew from machine 0's seed: the report names that one.
    let o = Command::new(bin("lab"))
        .arg("report")
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run-0.json")).unwrap()).unwrap();
    assert!(
        text.contains(&format!("s, seed {}, roll_max", json["seed"])),
        "{text}"
    );
}

/// host-tcp with --pacing sleep and --phase spread (threads mode): every rule, every tick.
#[test]
fn pacing_and_phase_flags_keep_every_rule() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new(bin("host-tcp"))
        .args([
            "--secs",
            "3",
            "--speedup",
            "10",
            "--seed",
            "9",
            "--pacing",
            "sleep",
            "--phase",
            "spread",
            "--quiet",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_exit_0(&o);
    let report = assert_clean(&out);
    assert!(report.clean_end());
    for m in &report.machines {
        assert_eq!(m.ticks, m.ticks_due);
    }
}

/// One threads-mode run per fault kind; each passes the checker and shows its fault.
#[test]
fn each_fault_kind_keeps_every_rule_in_threads_mode() {
    lamport_tests::run_each_fault_kind("host-tcp");
}

/// One process per machine, every fault kind at once; a process given other fault flags
/// is refused, naming them.
#[test]
fn faults_work_with_one_process_per_machine_and_must_agree() {
    let faults: Vec<&str> = lamport_tests::FAULT_RUNS
        .iter()
        .flat_map(|(_, f)| f.iter().copied())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let peers = free_ports(3);
    let mut args = vec!["--secs", "4", "--speedup", "10"];
    args.extend(&faults);
    let kids: Vec<Child> = (0..3).map(|id| machine(id, &peers, &out, &args)).collect();
    for k in kids {
        let (code, err) = finish(k, Duration::from_secs(40));
        assert_eq!(code, 0, "{err}");
    }
    lamport_tests::assert_fault_run(&out);

    let out = dir.path().join("other");
    let peers = free_ports(3);
    let mut other = vec!["--secs", "2", "--connect-timeout", "3", "--delay-ms", "5"];
    let same = other.clone();
    other[5] = "6";
    let kids = [
        machine(0, &peers, &out, &same),
        machine(1, &peers, &out, &same),
        machine(2, &peers, &out, &other),
    ];
    let mut errs = String::new();
    for k in kids {
        let (code, err) = finish(k, Duration::from_secs(30));
        assert_ne!(code, 0, "{err}");
        errs += &err;
    }
    assert!(
        names_mismatch(&errs, "the fault plan", "delay_ms=6", "delay_ms=5"),
        "{errs}"
    );
}

/// A handshake `Hello` from machine `sender` with `terms`.
fn hello(sender: u16, terms: &Terms) -> Vec<u8> {
    Say::Hello {
        protocol: PROTOCOL,
        sender,
        purpose: Purpose::Link,
        collects: false,
        terms: terms.clone(),
        nonce: 1,
    }
    .encode()
}

/// The README's three-terminal lines, without `--out`, twice in the same directory: the
/// default folder names the agreed start, so the second run (a teacher's class after the
/// rehearsal) gets a folder of its own, shared by its three processes, and machine 0's
/// verdict covers the whole run.
#[test]
fn the_three_terminal_run_can_be_done_again_in_its_default_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut folders = Vec::new();
    for _ in 0..2 {
        let peers = free_ports(3);
        let kids: Vec<Child> = (0..3)
            .map(|id| {
                Command::new(bin("host-tcp"))
                    .args(["--id", &id.to_string(), "--peers", &peers.join(",")])
                    .args(["--secs", "2", "--speedup", "5", "--quiet"])
                    .current_dir(dir.path())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut errs = Vec::new();
        for k in kids {
            let (code, err) = finish(k, Duration::from_secs(30));
            assert_eq!(code, 0, "{err}");
            errs.push(err);
        }
        assert!(
            errs[0].contains("the whole run is here (3 machines) and lab check is ok"),
            "{}",
            errs[0]
        );
        let runs: Vec<_> = std::fs::read_dir(dir.path().join("runs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !folders.contains(p))
            .collect();
        assert_eq!(runs.len(), 1, "one new folder per run: {runs:?}");
        let name = runs[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("tcp-20"), "{name}");
        for id in 0..3 {
            assert!(runs[0].join(format!("machine-{id}.log")).exists(), "{name}");
        }
        assert_clean(&runs[0]);
        folders.push(runs[0].clone());
    }
}

/// Machine 0, and a machine started with `--collect`, end with the whole run in their own
/// folders (the machines write separate folders, as on three computers) and say one
/// verdict for it; a machine that is neither keeps only its own files.
#[test]
fn machine_0_and_a_collector_keep_the_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let peers = free_ports(3);
    let outs: Vec<_> = (0..3).map(|i| dir.path().join(format!("m{i}"))).collect();
    let kids: Vec<Child> = (0..3)
        .map(|id| {
            let extra: &[&str] = if id == 2 {
                &["--secs", "2", "--speedup", "5", "--collect"]
            } else {
                &["--secs", "2", "--speedup", "5"]
            };
            machine(id, &peers, &outs[id], extra)
        })
        .collect();
    let mut errs = Vec::new();
    for k in kids {
        let (code, err) = finish(k, Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
        errs.push(err);
    }
    for keeper in [0, 2] {
        assert!(
            errs[keeper].contains("the whole run is here (3 machines) and lab check is ok"),
            "{}",
            errs[keeper]
        );
        assert_clean(&outs[keeper]);
    }
    let logs = |i: usize| {
        (0..3)
            .filter(|m| outs[i].join(format!("machine-{m}.log")).exists())
            .count()
    };
    assert_eq!((logs(0), logs(1), logs(2)), (3, 1, 3));
    // What machine 0 keeps is what each machine wrote.
    for m in [1, 2] {
        let name = format!("machine-{m}.log");
        assert_eq!(
            std::fs::read(outs[0].join(&name)).unwrap(),
            std::fs::read(outs[m].join(&name)).unwrap()
        );
    }
}

/// A machine gone before the end (kill -9, its own folder elsewhere): machine 0 names it,
/// leaves `machine-2.log.missing` saying why, and exits 1; its peers' own logs are whole.
#[test]
fn a_machine_gone_before_the_end_is_named_missing_at_machine_0() {
    let dir = tempfile::tempdir().unwrap();
    let peers = free_ports(3);
    let outs: Vec<_> = (0..3).map(|i| dir.path().join(format!("m{i}"))).collect();
    let mut kids: Vec<Child> = (0..3)
        .map(|id| machine(id, &peers, &outs[id], &["--secs", "30", "--speedup", "5"]))
        .collect();
    for o in &outs {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !o.join("machine-0.log").exists()
            && !o.join("machine-1.log").exists()
            && !o.join("machine-2.log").exists()
        {
            assert!(std::time::Instant::now() < deadline, "no run started");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    kill(Pid::from_raw(kids[2].id() as i32), Signal::SIGKILL).unwrap();
    let _ = finish(kids.remove(2), Duration::from_secs(5));
    let (code, err) = finish(kids.remove(0), Duration::from_secs(20));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the whole run is not here: machine 2 did not hand its log over"),
        "{err}"
    );
    let why = std::fs::read_to_string(outs[0].join("machine-2.log.missing")).unwrap();
    assert!(
        why.contains("machine 2's log did not reach machine 0"),
        "{why}"
    );
    assert!(outs[0].join("machine-1.log").exists());
    let _ = finish(kids.remove(0), Duration::from_secs(20));
}

/// A stranger who hands machine 0 a log for machine 1, with the run's terms but not the
/// nonce machine 0 sent machine 1, is refused; machine 0 keeps the real log.
#[test]
fn a_forged_log_handed_to_machine_0_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let peers = free_ports(3);
    let kids: Vec<Child> = (0..3)
        .map(|id| machine(id, &peers, &out, &["--secs", "4", "--speedup", "5"]))
        .collect();
    wait_for_logs(&out, 3);
    let terms = terms_of(&peers, 4);
    let mut s = TcpStream::connect(&peers[0]).unwrap();
    let mut bytes = Say::Hello {
        protocol: PROTOCOL,
        sender: 1,
        purpose: Purpose::Logs,
        collects: false,
        terms,
        nonce: 0,
    }
    .encode();
    for m in [
        Say::Proof {
            nonce: 0x5eed_1234_abcd_0001,
        },
        Say::File {
            name: "machine-1.log".into(),
            offset: 0,
            bytes: b"# forged\n".to_vec(),
        },
        Say::Done,
    ] {
        bytes.extend(m.encode());
    }
    s.write_all(&bytes).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert!(
        String::from_utf8_lossy(&answer).contains("wrong proof for machine 1"),
        "{answer:?}"
    );
    let mut errs = String::new();
    for k in kids {
        let (code, err) = finish(k, Duration::from_secs(30));
        assert_eq!(code, 0, "{err}");
        errs += &err;
    }
    assert!(errs.contains("refused connection from 127.0.0.1"), "{errs}");
    assert!(
        !std::fs::read_to_string(out.join("machine-1.log"))
            .unwrap()
            .contains("forged")
    );
    assert_clean(&out);
}

/// The terms of a run that [`machine`] starts with `--secs secs --speedup 5` over `peers`
/// (every other flag at its default).
fn terms_of(peers: &[String], secs: u64) -> Terms {
    Terms {
        peers: peers.to_vec(),
        secs,
        rate_min: 1,
        rate_max: 6,
        rates: Vec::new(),
        roll_max: 10,
        speedup_milli: 5000,
        queue_cap: 1024,
        spread_phase: false,
        faults: String::new(),
        seed: None,
    }
}
