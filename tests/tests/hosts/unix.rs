//! End-to-end tests of host-unix: real processes, real sockets, logs checked by the one checker.

use lamport_tests::{assert_clean, assert_exit_0, bin, last_line, wait_exit, wait_for_logs};
use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn host(args: &[&str], out: &Path) -> Command {
    let mut c = Command::new(bin("host-unix"));
    c.args(args)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn children(pid: u32) -> Vec<i32> {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    text.split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn alive(pid: i32) -> bool {
    // A zombie still has a /proc entry; look at its state.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Waits for the machines to be forked and to have started logging.
fn wait_started(child: &Child, dir: &Path, n: usize) -> Vec<i32> {
    wait_for_logs(dir, n);
    let t0 = Instant::now();
    loop {
        let kids = children(child.id());
        if kids.len() == n {
            std::thread::sleep(Duration::from_millis(700));
            return kids;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "machines never forked"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sped_up_runs_pass_the_checker() {
    for (seed, n) in [("1", "3"), ("2", "3"), ("3", "5")] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let o = host(
            &[
                "--machines",
                n,
                "--secs",
                "3",
                "--speedup",
                "20",
                "--seed",
                seed,
            ],
            &out,
        )
        .output()
        .unwrap();
        assert_exit_0(&o);
        let report = assert_clean(&out);
        assert!(report.clean_end());
        for m in &report.machines {
            assert_eq!(m.ticks, m.ticks_due, "machine {}", m.id);
            assert!(m.ticks >= 60, "3 s x20 at rate >= 1");
        }
        let json = std::fs::read_to_string(out.join("run.json")).unwrap();
        assert!(
            json.contains(&format!("\"seed\": {seed}")) && json.contains("\"rates\""),
            "{json}"
        );
    }
}

#[test]
fn kill_9_of_one_machine_stops_the_others_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = host(&["--secs", "30", "--speedup", "5", "--seed", "11"], &out)
        .spawn()
        .unwrap();
    let kids = wait_started(&child, &out, 3);
    let victim = kids[1];
    // Which machine is it? The one whose log stops without an end row.
    let killed_at = lamport_host::folder::now_unix_ns();
    kill(Pid::from_raw(victim), Signal::SIGKILL).unwrap();
    let (code, err, _) = wait_exit(child, Duration::from_secs(10));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("died (killed by SIGKILL)"), "{err}");
    let dead: u16 = err
        .split("run failed: machine ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    for pid in kids {
        assert!(!alive(pid), "process {pid} left behind");
    }
    let report = assert_clean(&out);
    for m in report.machines.iter().filter(|m| m.id != dead) {
        let line = last_line(&out.join(format!("machine-{}.log", m.id)));
        assert!(
            line.contains(",end,") && line.ends_with(&format!("peer {dead} lost")),
            "machine {}: {line}",
            m.id
        );
        let t: u64 = line.split(',').next().unwrap().parse().unwrap();
        assert!(
            t.saturating_sub(killed_at) < 1_000_000_000,
            "machine {} ended {} ms after the kill",
            m.id,
            (t - killed_at) / 1_000_000
        );
    }
    assert!(
        report.machines[usize::from(dead)].end_note.is_none(),
        "the dead machine wrote no end row"
    );
}

fn signal_parent(sig: Signal, want: i32, note: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = host(&["--secs", "30", "--speedup", "5", "--seed", "12"], &out)
        .spawn()
        .unwrap();
    let kids = wait_started(&child, &out, 3);
    kill(Pid::from_raw(child.id() as i32), sig).unwrap();
    let (code, err, took) = wait_exit(child, Duration::from_secs(10));
    assert_eq!(code, want, "{err}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    for pid in kids {
        assert!(!alive(pid), "process {pid} left behind");
    }
    let report = assert_clean(&out);
    for m in &report.machines {
        assert_eq!(m.end_note.as_deref(), Some(note), "machine {}", m.id);
        assert!(m.ticks < m.ticks_due);
    }
}

#[test]
fn sigint_ends_the_run_cleanly_with_130() {
    signal_parent(Signal::SIGINT, 130, "interrupted");
}

#[test]
fn sigterm_ends_the_run_cleanly_with_143() {
    signal_parent(Signal::SIGTERM, 143, "terminated");
}

/// The terminal closing (SIGHUP) ends a run like SIGTERM: complete logs, `hung up`, 129.
#[test]
fn a_hang_up_ends_the_run_cleanly_with_129() {
    signal_parent(Signal::SIGHUP, 129, "hung up");
}

/// Ctrl-C while the machines wait for the start instant (the supervisor has announced it:
/// `run.json` is written): every machine ends at its start instant, its `end` row not
/// before its `start` row, and the supervisor checks the logs before it says so.
#[test]
fn ctrl_c_before_the_start_ends_every_log_at_its_start() {
    let mut before_start = 0;
    for seed in ["21", "22", "23", "24", "25"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        // 24 machines: the start is 74 ms after the announcement.
        let child = host(&["--machines", "24", "--secs", "5", "--seed", seed], &out)
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while !out.join("run.json").exists() {
            assert!(t0.elapsed() < Duration::from_secs(20), "never announced");
            std::thread::sleep(Duration::from_micros(200));
        }
        kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
        let (code, err, _) = wait_exit(child, Duration::from_secs(10));
        assert_eq!(code, 130, "{err}");
        assert!(err.contains("logs are complete"), "{err}");
        let report = assert_clean(&out);
        if report.machines.iter().all(|m| m.ticks == 0) {
            before_start += 1;
        }
        for m in &report.machines {
            assert_eq!(
                m.end_note.as_deref(),
                Some("interrupted"),
                "machine {}",
                m.id
            );
        }
    }
    assert!(before_start > 0, "no run was stopped before its start");
}

/// Under `cargo run` (a parent that burned CPU itself and in a reaped child, then exec'd
/// the host) the summary's `cpu:` line counts only the run.
#[test]
fn the_cpu_line_counts_only_the_run_under_a_busy_parent() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = lamport_tests::after_a_busy_parent(
        &bin("host-unix"),
        &["--secs", "1", "--seed", "4", "--pacing", "sleep", "--out"],
    )
    .arg(&out)
    .output()
    .unwrap();
    assert_exit_0(&o);
    let (own, children) = lamport_tests::burned_secs(&String::from_utf8_lossy(&o.stderr));
    assert!(
        own + children > 0.3,
        "the parent burned {own} + {children} s"
    );
    // Counted before the fix: (own + children) s over 3 machines and 1 s, > 100 ms.
    let ms = lamport_tests::cpu_ms(&String::from_utf8_lossy(&o.stdout));
    assert!(ms < 25.0, "{ms} ms per machine per second");
    assert_clean(&out);
}

/// stdout a closed pipe (`host-unix ... | head -c0`): the run ends as usual, its verdict
/// on stderr and its exit status, with complete logs.
#[test]
fn a_closed_stdout_loses_only_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut c = Command::new(bin("host-unix"));
    c.args(["--secs", "2", "--speedup", "5", "--seed", "6", "--out"])
        .arg(&out);
    let (code, err) = lamport_tests::with_stdout_closed(c);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_clean(&out);
    let mut c = Command::new(bin("host-unix"));
    c.args([
        "--rates",
        "1,6,6",
        "--roll-max",
        "3",
        "--queue-cap",
        "3",
        "--secs",
        "20",
    ])
    .args(["--seed", "1", "--out"])
    .arg(dir.path().join("full"));
    let (code, err) = lamport_tests::with_stdout_closed(c);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("queue full (cap 3)"), "{err}");
    assert_clean(&dir.path().join("full"));
}

#[test]
fn tiny_queue_cap_stops_the_run_without_losing_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = host(
        &[
            "--rates",
            "1,6,6",
            "--roll-max",
            "3",
            "--queue-cap",
            "3",
            "--secs",
            "20",
            "--speedup",
            "5",
            "--seed",
            "4",
        ],
        &out,
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("machine 0: queue full (cap 3)"), "{err}");
    let report = assert_clean(&out);
    assert_eq!(
        report.machines[0].end_note.as_deref(),
        Some("queue full (cap 3)")
    );
    // The others stop on the first early Bye they read: from machine 0, or from the other
    // machine that stopped because of it.
    for m in &report.machines[1..] {
        let other = 3 - m.id;
        let note = m.end_note.as_deref().unwrap_or_default();
        assert!(
            note == "peer 0 stopped early" || note == format!("peer {other} stopped early"),
            "machine {}: {note}",
            m.id
        );
    }
    assert!(
        report.machines[0].unprocessed >= 4,
        "the 3 queued and the one that did not fit"
    );
}

#[test]
fn bad_usage_exits_2_with_one_line_before_forking() {
    let dir = tempfile::tempdir().unwrap();
    let nonempty = dir.path().join("full");
    std::fs::create_dir(&nonempty).unwrap();
    std::fs::write(nonempty.join("x"), "x").unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--machines", "2"], "machines"),
        (vec!["--rate-min", "0"], "rate"),
        (vec!["--rates", "0,1,1"], "rate"),
        (vec!["--rate-min", "5", "--rate-max", "2"], "rate"),
        (
            vec!["--rates", "1,2"],
            "--rates gives 2 rates for 3 machines",
        ),
        (vec!["--roll-max", "2"], "roll-max"),
        (vec!["--speedup", "0"], "speedup"),
        (vec!["--speedup", "fast"], "speedup"),
        (vec!["--secs", "0"], "secs"),
        (vec!["--queue-cap", "0"], "queue-cap"),
        (
            vec!["--pause", "7@1+1"],
            "--pause 7@1+1: a fault names a machine the run does not have",
        ),
        (
            vec!["--pause", "1@100+1"],
            "a fault window starts after the run's end",
        ),
        (
            vec!["--partition", "0/0@1+1"],
            "a machine cannot be on both sides of a partition",
        ),
        (
            vec!["--delay-ms", "40:-1"],
            "--delay-ms is D or D:J in milliseconds",
        ),
        (vec!["--pause", "1@1"], "a window is T+D in seconds"),
        (vec!["--partition", "0/1@1+0"], "must last more than 0 s"),
    ];
    for (args, want) in cases {
        let out = dir.path().join("never");
        let o = host(&args, &out).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.to_lowercase().contains(&want.to_lowercase()),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!out.exists(), "{args:?}: nothing may be created");
    }
    for (out, want) in [
        (nonempty.clone(), "not empty"),
        (file.join("sub"), "cannot create"),
    ] {
        let o = host(&["--secs", "1"], &out).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(want), "{err}");
    }
}

/// A machine frozen by SIGSTOP with small socket buffers: the others' sends never block,
/// its buffers fill, and after the stall bound the others end `peer X stalled` with
/// complete logs; the supervisor kills the frozen one and names it.
#[test]
fn a_frozen_machine_is_stalled_and_the_others_end_with_complete_logs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = [
        "--secs",
        "8",
        "--speedup",
        "1000",
        "--rates",
        "6,6,6",
        "--seed",
        "5",
        "--send-buffer",
        "4096",
    ];
    let child = host(&args, &out).spawn().unwrap();
    let kids = wait_started(&child, &out, 3);
    let frozen = kids[2];
    kill(Pid::from_raw(frozen), Signal::SIGSTOP).unwrap();
    let (code, err, took) = wait_exit(child, Duration::from_secs(20));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("died (killed by SIGKILL)"), "{err}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    for pid in &kids {
        assert!(!alive(*pid), "process {pid} left behind");
    }
    let report = assert_clean(&out);
    let dead = report
        .machines
        .iter()
        .find(|m| m.end_note.is_none())
        .expect("the frozen machine wrote no end row")
        .id;
    for m in report.machines.iter().filter(|m| m.id != dead) {
        assert_eq!(
            m.end_note.as_deref(),
            Some(format!("peer {dead} stalled").as_str()),
            "machine {}",
            m.id
        );
        assert!(m.ticks < m.ticks_due, "they stopped early, at the stall");
    }
}

/// Ctrl-C (SIGINT to the supervisor) works while a machine is frozen: the others end
/// `interrupted` with complete logs within the drain timeout, and nothing is left behind.
#[test]
fn ctrl_c_works_while_a_machine_is_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let args = [
        "--secs",
        "60",
        "--speedup",
        "50",
        "--seed",
        "6",
        "--send-buffer",
        "4096",
    ];
    let child = host(&args, &out).spawn().unwrap();
    let kids = wait_started(&child, &out, 3);
    kill(Pid::from_raw(kids[0]), Signal::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let (_, err, took) = wait_exit(child, Duration::from_secs(15));
    assert!(took < Duration::from_secs(6), "{took:?}: {err}");
    for pid in &kids {
        assert!(!alive(*pid), "process {pid} left behind");
    }
    let report = assert_clean(&out);
    let ended: Vec<&str> = report
        .machines
        .iter()
        .filter_map(|m| m.end_note.as_deref())
        .collect();
    assert_eq!(ended.len(), 2, "{ended:?}");
    for note in ended {
        assert!(
            note.contains("interrupted") && note.contains("lost"),
            "{note}"
        );
    }
}

/// Both pacings and both schedules run the model: every rule, every tick; a spread run's
/// headers carry each machine's phase, and the summary reports the CPU it cost.
#[test]
fn pacing_and_phase_flags_keep_every_rule() {
    for (pacing, phase) in [
        ("sleep", "aligned"),
        ("hybrid", "spread"),
        ("sleep", "spread"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let mut c = Command::new(bin("host-unix"));
        c.args([
            "--secs",
            "3",
            "--speedup",
            "10",
            "--seed",
            "9",
            "--pacing",
            pacing,
            "--phase",
            phase,
        ])
        .arg("--out")
        .arg(&out);
        let o = c.output().unwrap();
        assert_exit_0(&o);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            stdout.contains(&format!("ms per machine per second (pacing {pacing})")),
            "{stdout}"
        );
        let report = assert_clean(&out);
        for m in &report.machines {
            assert_eq!(m.ticks, m.ticks_due);
        }
        let header = std::fs::read_to_string(out.join("machine-0.log")).unwrap();
        assert_eq!(header.contains(" phase_ns="), phase == "spread");
    }
}

/// One run per fault kind; each passes the checker and shows its fault on the rows.
#[test]
fn each_fault_kind_keeps_every_rule() {
    lamport_tests::run_each_fault_kind("host-unix");
}

/// Under a file-size limit (`ulimit -f`: 16 KiB) the fast machine's log fills first. Its
/// write fails with EFBIG (SIGXFSZ, which would kill it, is blocked), its file is cut back
/// to whole lines, and it stops with one line naming itself, the file and the OS error;
/// the others end it as lost with complete logs, which pass the checker; exit 1. Before,
/// SIGXFSZ killed it mid-line and the checker refused the torn file.
#[test]
fn a_log_that_cannot_be_written_stops_its_machine_with_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 32 && exec \"$0\" \"$@\"")
        .arg(bin("host-unix"))
        .args([
            "--rates",
            "1,1,100",
            "--speedup",
            "10",
            "--secs",
            "30",
            "--seed",
            "5",
            "--quiet",
        ])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("cannot write the log"))
        .collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(
        said[0].starts_with("host-unix: machine 2: ")
            && said[0].contains("machine-2.log")
            && said[0].contains("os error 27"),
        "{err}"
    );
    for i in 0..3 {
        let bytes = std::fs::read(out.join(format!("machine-{i}.log"))).unwrap();
        assert_eq!(bytes.last(), Some(&b'\n'), "machine {i}: whole lines only");
    }
    let report = assert_clean(&out);
    for m in &report.machines[..2] {
        assert_eq!(m.end_note.as_deref(), Some("peer 2 lost"), "{err}");
    }
    assert_eq!(report.machines[2].end_note, None);
}

/// The start names each machine's process, so a teacher can pause or kill one by hand: the
/// pid printed for machine 1, killed, is the machine the supervisor says died.
#[test]
fn the_pid_line_names_each_machines_process() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut child = Command::new(bin("host-unix"))
        .args(["--machines", "3", "--secs", "20", "--quiet", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("machine 0 pid ") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "no pid line");
    }
    let pids: Vec<i32> = line
        .trim()
        .trim_start_matches("host-unix: ")
        .split(", ")
        .enumerate()
        .map(|(i, m)| {
            let (id, pid) = m
                .strip_prefix("machine ")
                .and_then(|r| r.split_once(" pid "))
                .unwrap_or_else(|| panic!("{line}"));
            assert_eq!(id, i.to_string(), "{line}");
            pid.parse().unwrap()
        })
        .collect();
    let mut kids = wait_started(&child, &out, 3);
    let mut printed = pids.clone();
    kids.sort_unstable();
    printed.sort_unstable();
    assert_eq!(
        printed, kids,
        "the printed pids are the machines' processes"
    );
    kill(Pid::from_raw(pids[1]), Signal::SIGKILL).unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest}");
    assert!(
        rest.contains("machine 1 died (killed by SIGKILL)"),
        "{rest}"
    );
}

/// `--events`: one line on stdout per row of the logs, before the summary table, each in
/// 80 columns and without escape codes when stdout is not a terminal; a receive says its
/// jump. The hint after the table runs as written.
#[test]
fn events_print_one_line_per_row_then_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new(bin("host-unix"))
        .args([
            "--machines",
            "4",
            "--secs",
            "2",
            "--speedup",
            "3",
            "--events",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    for l in stderr.lines() {
        assert!(l.chars().count() <= 80, "{l}");
    }
    assert!(
        stderr.lines().any(|l| l.starts_with("host-unix: seed ")),
        "{stderr}"
    );
    let events: Vec<&str> = stdout
        .lines()
        .take_while(|l| !l.starts_with("machine  rate"))
        .collect();
    let rows: usize = (0..4)
        .map(|i| {
            let text = std::fs::read_to_string(out.join(format!("machine-{i}.log"))).unwrap();
            text.lines()
                .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
                .count()
        })
        .sum();
    assert_eq!(events.len(), rows, "{stdout}");
    let kinds = [
        " start",
        " recv from m",
        " send to ",
        " internal: ",
        " unprocessed from m",
        " end: ",
    ];
    for e in &events {
        assert!(e.chars().count() <= 80 && !e.contains('\x1b'), "{e}");
        let (m, rest) = e.split_at(e.find(' ').unwrap());
        assert!(m[1..].parse::<u16>().unwrap() < 4, "{e}");
        assert!(kinds.iter().any(|k| rest.starts_with(k)), "{e}");
        if rest.starts_with(" recv") {
            // `38 → 40 (+2)`: the jump is the clock's change.
            let (_, change) = rest.split_once("): ").unwrap();
            let (before, after) = change.split_once(" → ").unwrap();
            let (after, jump) = after.split_once(" (+").unwrap();
            let jump: u64 = jump.split_once(')').unwrap().0.parse().unwrap();
            let (b, a): (u64, u64) = (before.parse().unwrap(), after.parse().unwrap());
            assert_eq!(a - b, jump, "{e}");
        }
    }
    assert_eq!(events.iter().filter(|e| e.ends_with(" start")).count(), 4);
    assert_eq!(events.iter().filter(|e| e.contains(" end: ")).count(), 4);
    let rest: Vec<&str> = stdout.lines().skip(events.len()).collect();
    assert!(
        rest[0].starts_with("machine  rate  ticks (due)"),
        "{stdout}"
    );
    for l in &rest[..6] {
        assert!(l.chars().count() <= 80, "{l}");
    }
    let mut lines = rest.iter();
    let view = lines
        .find_map(|l| l.strip_prefix("see it:"))
        .map(|r| match r.trim() {
            "" => lines.next().unwrap().trim().to_string(),
            cmd => cmd.to_string(),
        })
        .unwrap_or_else(|| panic!("{stdout}"));
    let ran = Command::new("sh").arg("-c").arg(&view).output().unwrap();
    assert!(ran.status.success(), "{view}: {ran:?}");
    assert!(out.join("view.html").is_file(), "{view}");
}
