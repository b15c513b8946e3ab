//! lab's statistics on a hand-made run whose answers are known, its plots, its ShiViz
//! export over random simulated runs, and its command line.

use lab::{hb, report};
use lamport_core::RunParams;
use lamport_host::{args::Model, check::Rule, sim::simulate_to};
use proptest::prelude::*;
use std::{path::Path, process::Command};

const S: u64 = 1_000_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;

fn header(id: u16, rate: u32) -> String {
    format!(
        "# lamport-lab log v1\n# machine={id} machines=3 rate={rate} speedup=1 secs=5 seed=1 roll_max=10 queue_cap=1024 start_unix_ns={S}\nunix_ns,machine,event,clock,queue,peer,msg_clock,note\n{S},{id},start,0,0,,,\n"
    )
}

/// m0 (rate 1): send to 1 (1), internal 2 ms late (2), internal (3), (4), (5).
/// m1 (rate 1): internal (1), recv m0's 1 -> 2, internal (3), recv m2's 6 -> 7, internal (8).
/// m2 (rate 2): internal x5 (1..5), send to 1 (6), internal x4 (7..10).
fn hand_made(dir: &Path) {
    let mut m0 = header(0, 1);
    m0 += &format!(
        "{S},0,send,1,0,1,1,\n{},0,internal,2,0,,,\n",
        S + SEC + 2_000_000
    );
    for (k, c) in [(2u64, 3), (3, 4), (4, 5)] {
        m0 += &format!("{},0,internal,{c},0,,,\n", S + k * SEC);
    }
    m0 += &format!("{},0,end,5,0,,,time up\n", S + 5 * SEC);
    let mut m1 = header(1, 1);
    m1 += &format!(
        "{S},1,internal,1,0,,,\n{},1,recv,2,0,0,1,\n{},1,internal,3,0,,,\n{},1,recv,7,0,2,6,\n{},1,internal,8,0,,,\n{},1,end,8,0,,,time up\n",
        S + SEC,
        S + 2 * SEC,
        S + 3 * SEC,
        S + 4 * SEC,
        S + 5 * SEC
    );
    let mut m2 = header(2, 2);
    for k in 0..10u64 {
        let t = S + k * SEC / 2;
        m2 += &if k == 5 {
            format!("{t},2,send,6,0,1,6,\n")
        } else {
            format!("{t},2,internal,{},0,,,\n", k + 1)
        };
    }
    m2 += &format!("{},2,end,10,0,,,time up\n", S + 5 * SEC);
    for (i, text) in [m0, m1, m2].iter().enumerate() {
        std::fs::write(dir.join(format!("machine-{i}.log")), text).unwrap();
    }
}

#[test]
fn statistics_of_a_hand_made_run() {
    let dir = tempfile::tempdir().unwrap();
    hand_made(dir.path());
    // Made by hand, not by the model: every rule holds, but the model's own rolls (seed 1)
    // differ, and the replay says where, once per machine.
    let opts = lamport_host::check::CheckOptions {
        replay: false,
        ..Default::default()
    };
    let check = lamport_host::check::check_run_with(dir.path(), &opts).unwrap();
    assert!(check.violations.is_empty(), "{:?}", check.violations);
    let replayed = lamport_host::check::check_run(dir.path()).unwrap();
    assert_eq!(replayed.violations.len(), 3, "{:?}", replayed.violations);
    assert!(
        replayed
            .violations
            .iter()
            .all(|v| v.rule == Rule::Replay && v.what.starts_with("the model (seed 1, machine ")),
        "{:?}",
        replayed.violations
    );
    let (r, _) = report::analyze(dir.path()).unwrap();
    let [m0, m1, m2] = &r.rows[..] else { panic!() };
    assert_eq!((m0.ticks, m1.ticks, m2.ticks), (5, 5, 10));
    assert_eq!((m0.ticks_due, m2.ticks_due), (5, 10));
    assert_eq!((m0.final_clock, m1.final_clock, m2.final_clock), (5, 8, 10));
    assert_eq!((m1.recv, m1.internal, m0.send, m2.send), (2, 3, 1, 1));
    assert!((m1.clock_per_s - 1.6).abs() < 1e-9);
    assert!((m2.clock_per_tick - 1.0).abs() < 1e-9);
    // m1's jumps: 1 (2 after 1) and 4 (7 after 3).
    assert_eq!(
        (
            m1.jumps.count,
            m1.jumps.min,
            m1.jumps.mean,
            m1.jumps.p50,
            m1.jumps.p99,
            m1.jumps.max
        ),
        (2, 1.0, 2.5, 1.0, 4.0, 4.0)
    );
    assert_eq!(m1.skipped_values, 3);
    assert!((m1.skipped_share - 3.0 / 8.0).abs() < 1e-9);
    // m0 is 2 ms late once in five ticks.
    assert_eq!(
        (m0.late_ms.p50, m0.late_ms.p99, m0.late_ms.max),
        (0.0, 2.0, 2.0)
    );
    // Lag: in the last half second m2 is at 10 and m0 at 5.
    assert_eq!(m0.lag_max, 5.0);
    assert_eq!(m2.lag_max, 0.0);
    assert!(m0.lag_trend_per_s > 0.0);
    assert_eq!(
        (r.highest_final_clock, r.final_clock_spread, r.messages),
        (10, 5, 2)
    );
    assert_eq!(m1.queue.max, 0.0);

    let h = hb::analyze(dir.path()).unwrap();
    assert_eq!(
        (h.events, h.message_edges, h.clock_condition_violations),
        (20, 2, 0)
    );
    assert_eq!(h.pairs, 190);
    // Longest chain: m2's own 10 events (the chain through the message, m2's first 6 then
    // m1's receive and internal, is 8).
    assert_eq!(h.longest_chain, 10);
}

#[test]
fn plots_are_valid_svg() {
    let dir = tempfile::tempdir().unwrap();
    let params = RunParams {
        secs: 20,
        ..RunParams::new(3, 0)
    };
    simulate_to(
        &Model {
            params,
            pinned: vec![None; 3],
            faults: Default::default(),
        },
        0,
        dir.path(),
    )
    .unwrap();
    let (_, accs) = report::analyze(dir.path()).unwrap();
    let out = dir.path().join("plots");
    let files = lab::plots::write_all(dir.path(), &accs, &out, 10.0).unwrap();
    assert_eq!(files.len(), 4);
    for f in files {
        let text = std::fs::read_to_string(out.join(&f)).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg", "{f}");
        let texts: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .collect();
        assert!(
            texts.iter().any(|t| t.contains("machine 0")),
            "{f}: legend or labels"
        );
        assert!(
            doc.descendants()
                .filter(|n| n.has_tag_name("polyline")
                    || n.has_tag_name("rect")
                    || n.has_tag_name("circle"))
                .count()
                > 10,
            "{f}"
        );
    }
}

#[test]
fn the_space_time_legend_hides_no_event() {
    for (seed, n) in [(3u64, 3u16), (5, 5), (8, 8)] {
        let dir = tempfile::tempdir().unwrap();
        let params = RunParams {
            secs: 12,
            machines: n,
            ..RunParams::new(seed, 0)
        };
        simulate_to(
            &Model {
                params,
                pinned: vec![Some(6); usize::from(n)],
                faults: Default::default(),
            },
            0,
            dir.path(),
        )
        .unwrap();
        let (_, accs) = report::analyze(dir.path()).unwrap();
        let out = dir.path().join("plots");
        lab::plots::write_all(dir.path(), &accs, &out, 10.0).unwrap();
        let text = std::fs::read_to_string(out.join("spacetime.svg")).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap();
        let num = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<f64>().unwrap();
        // The legend's box: the one rect drawn with the legend's background opacity.
        let boxes: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("opacity") == Some("0.85"))
            .collect();
        assert_eq!(boxes.len(), 1, "one legend box");
        let b = boxes[0];
        let (x, y, w, h) = (num(b, "x"), num(b, "y"), num(b, "width"), num(b, "height"));
        let events: Vec<(f64, f64)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("circle"))
            .map(|c| (num(c, "cx"), num(c, "cy")))
            .filter(|&(cx, cy)| !(cx < x || cx > x + w || cy < y || cy > y + h))
            .collect();
        // Only the legend's own sample dots, one per machine, lie inside its box.
        assert_eq!(
            events.len(),
            usize::from(n),
            "seed {seed}: events under the legend"
        );
    }
}

/// Parses a ShiViz export back and checks its rules.
fn check_shiviz(text: &str, machines: usize, events: u64) -> Result<(), String> {
    let mut lines: Vec<&str> = text.lines().collect();
    // First the parsing rule ShiViz's "Choose File" takes from line 1, then no delimiter.
    if lines.len() < 2 || lines[0] != hb::SHIVIZ_RULE || !lines[1].is_empty() {
        return Err("the file must start with the rule and an empty line".into());
    }
    lines.drain(..2);
    if !lines.len().is_multiple_of(2) {
        return Err("odd number of lines".into());
    }
    let mut own = vec![0u64; machines];
    for pair in lines.chunks(2) {
        let (host, clock) = pair[1].split_once(' ').ok_or("no space")?;
        let m: usize = host
            .strip_prefix('m')
            .ok_or("host")?
            .parse()
            .map_err(|_| "host id")?;
        let vc: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(clock).map_err(|e| e.to_string())?;
        own[m] += 1;
        let mine = vc
            .get(host)
            .and_then(serde_json::Value::as_u64)
            .ok_or("own entry")?;
        if mine != own[m] {
            return Err(format!("{host}: own entry {mine}, expected {}", own[m]));
        }
        if pair[0].is_empty() {
            return Err("empty event line".into());
        }
    }
    if own.iter().sum::<u64>() != events {
        return Err("event count".into());
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::cases(60))]
    #[test]
    fn shiviz_export_follows_its_rules(seed in any::<u64>(), n in 3u16..=6, k in 3u32..=10, latency in 0u64..200_000_000) {
        let dir = tempfile::tempdir().unwrap();
        let params = RunParams { machines: n, secs: 10, roll_max: k, ..RunParams::new(seed, 0) };
        simulate_to(&Model { params, pinned: vec![None; usize::from(n)], faults: Default::default() }, latency, dir.path()).unwrap();
        let mut out = Vec::new();
        hb::shiviz(dir.path(), &mut out).unwrap();
        let r = hb::analyze(dir.path()).unwrap();
        prop_assert_eq!(r.clock_condition_violations, 0);
        let text = String::from_utf8(out).unwrap();
        prop_assert!(check_shiviz(&text, usize::from(n), r.events).is_ok(), "{:?}", check_shiviz(&text, usize::from(n), r.events));
    }
}

fn lab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lab"))
}

#[test]
fn sim_twice_gives_identical_folders() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        let o = lab()
            .args(["sim", "--seed", "77", "--quiet", "--out"])
            .arg(dir.path().join(name))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for f in [
        "machine-0.log",
        "machine-1.log",
        "machine-2.log",
        "run.json",
    ] {
        assert_eq!(
            std::fs::read(dir.path().join("a").join(f)).unwrap(),
            std::fs::read(dir.path().join("b").join(f)).unwrap(),
            "{f}"
        );
    }
    let o = lab()
        .arg("check")
        .arg(dir.path().join("a"))
        .output()
        .unwrap();
    assert!(o.status.success());
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    hand_made(dir.path());
    let p = dir.path().join("machine-2.log");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replacen(",internal,3,", ",internal,x,", 1);
    std::fs::write(&p, text).unwrap();
    for cmd in ["check", "report", "hb", "shiviz"] {
        let o = lab().arg(cmd).arg(dir.path()).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{cmd}: {err}");
        assert!(
            err.contains("machine-2.log:") && err.contains("clock"),
            "{cmd}: {err}"
        );
        let o = lab()
            .arg(cmd)
            .arg(dir.path().join("missing"))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{cmd}");
    }
    let o = lab().args(["sweep", "--rates", "1,0,3"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn sweep_reports_distributions() {
    let o = lab()
        .args([
            "sweep",
            "--seeds",
            "50",
            "--secs",
            "30",
            "--rates",
            "1,6,6",
            "--roll-max",
            "10",
            "--roll-max",
            "5",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sets = v.as_array().unwrap();
    assert_eq!(sets.len(), 2);
    let slow = &sets[0]["machines"][0];
    let growth = slow["queue_growth"]["median"].as_f64().unwrap();
    // The rate-1 machine receives more than one message a second from two rate-6 peers: its queue grows.
    assert!(growth > 0.5, "{growth}");
    let med = |s: &serde_json::Value| s["machines"][0]["max_queue"]["median"].as_f64().unwrap();
    assert!(
        med(&sets[1]) > med(&sets[0]),
        "roll_max 5 sends more, so the slow queue grows faster"
    );
}

/// A quiet run still says its seed (on stderr); `lab check` given a log file instead of its
/// folder says so; sweep tables never print -0.
#[test]
fn quiet_runs_say_their_seed_and_check_names_a_file_given_for_a_folder() {
    let lab = env!("CARGO_BIN_EXE_lab");
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let o = Command::new(lab)
        .args(["sim", "--seed", "77", "--secs", "5", "--quiet", "--out"])
        .arg(&run)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("seed 77 (repeat with --seed 77)"), "{err}");
    let o = Command::new(lab)
        .arg("check")
        .arg(run.join("machine-0.log"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("a file, not a run folder"), "{err}");
    let o = Command::new(lab)
        .args([
            "sweep", "--seeds", "50", "--secs", "120", "--rates", "1,2,2",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let negative_zero = out
        .split(|c: char| c.is_whitespace() || "[],|".contains(c))
        .any(|t| t.starts_with('-') && t.parse::<f64>() == Ok(0.0));
    assert!(!negative_zero, "{out}");
}

/// Runs lab with its stdout a pipe whose reader is closed before lab starts (`| head
/// -c0`); returns its exit status and stderr.
fn lab_with_stdout_closed(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = lab().args(args).stdout(writer).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stderr).into())
}

/// A closed stdout (`lab check RUN | head -1`, `lab sim ... | head -c0`) ends lab
/// quietly with 0, as ripgrep does, instead of a panic (101).
#[test]
fn a_closed_stdout_ends_lab_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r");
    let (code, err) = lab_with_stdout_closed(&[
        "sim".as_ref(),
        "--seed".as_ref(),
        "5".as_ref(),
        "--secs".as_ref(),
        "5".as_ref(),
        "--out".as_ref(),
        run.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
    let (code, err) = lab_with_stdout_closed(&["check".as_ref(), run.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
    // Two broken logs: violations to print.
    for i in [1, 2] {
        let log = run.join(format!("machine-{i}.log"));
        let text = std::fs::read_to_string(&log).unwrap();
        let cut = text.trim_end().rfind('\n').unwrap();
        std::fs::write(&log, &text[..=cut]).unwrap();
    }
    let (code, err) = lab_with_stdout_closed(&["check".as_ref(), run.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// "Longest queue" has one meaning: the largest `queue` a `recv` row logged. The run's
/// summary (the checker's figures), `lab report` and `lab table` all give that number.
#[test]
fn the_longest_queue_is_one_number_everywhere() {
    for seed in [42, 7, 102, 303] {
        let m = Model {
            params: RunParams {
                secs: 30,
                ..RunParams::new(seed, 0)
            },
            pinned: vec![Some(1), Some(6), Some(5)],
            faults: Default::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        simulate_to(&m, 0, dir.path()).unwrap();
        let report = lamport_host::check::check_run(dir.path()).unwrap();
        let lab_report = report::analyze(dir.path()).unwrap().0;
        let table = report::table_row(&lab_report, &hb::analyze(dir.path()).unwrap());
        let table_queues: Vec<String> = table
            .split('|')
            .nth(6)
            .unwrap()
            .split('/')
            .map(|s| s.trim().to_string())
            .collect();
        for (i, mach) in report.machines.iter().enumerate() {
            let log = std::fs::read_to_string(dir.path().join(format!("machine-{i}.log"))).unwrap();
            let from_log = log
                .lines()
                .filter(|l| l.split(',').nth(2) == Some("recv"))
                .map(|l| l.split(',').nth(4).unwrap().parse::<u64>().unwrap())
                .max()
                .unwrap_or(0);
            assert_eq!(
                mach.max_queue, from_log,
                "summary, seed {seed}, machine {i}"
            );
            assert_eq!(lab_report.rows[i].queue.max as u64, from_log, "report");
            assert_eq!(table_queues[i], from_log.to_string(), "table");
        }
    }
}

/// The plots of a run with faults shade and label each window; a run without has none;
/// the report says what each window did, as the rows show it.
#[test]
fn fault_windows_are_marked_in_the_plots_and_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let params = RunParams {
        secs: 30,
        ..RunParams::new(4, 0)
    };
    let faults = lamport_host::args::fault_plan(
        Some("20:10"),
        &["1@5+5".into()],
        &["0/1,2@15+8".into()],
        &params,
    )
    .unwrap();
    let m = Model {
        params,
        pinned: vec![Some(2), Some(4), Some(1)],
        faults,
    };
    simulate_to(&m, 0, dir.path()).unwrap();
    let (r, accs) = report::analyze(dir.path()).unwrap();
    let out = dir.path().join("plots");
    lab::plots::write_all(dir.path(), &accs, &out, 20.0).unwrap();
    for f in ["clock.svg", "queue.svg", "spacetime.svg"] {
        let texts = svg_texts(&out.join(f));
        assert!(texts.iter().any(|t| t == "pause 1"), "{f}");
        assert!(texts.iter().any(|t| t == "partition 0/1,2"), "{f}");
    }
    assert_eq!(
        r.faults.as_deref(),
        Some("delay_ms=20:10 pause=1@5+5 partition=0/1,2@15+8")
    );
    // The paused machine's first tick from 10 s on, read from its log.
    let mut first = None;
    lamport_host::check::for_each_record(&dir.path().join("machine-1.log"), |_, h, rec| {
        if first.is_none() && rec.kind.is_tick() && rec.unix_ns >= h.start_unix_ns + 10_000_000_000
        {
            first = Some(rec);
        }
    })
    .unwrap();
    let first = first.unwrap();
    let waiting = u64::from(first.queue) + u64::from(first.kind == lamport_core::Kind::Recv);
    let pause = &r.fault_windows[0];
    assert_eq!(pause.machine, Some(1));
    assert_eq!(pause.waiting_at_resume, Some(waiting));
    assert!(
        waiting > 0,
        "machines 0 and 2 sent to it while it was paused"
    );
    assert_eq!(r.rows[1].ticks, r.rows[1].ticks_due);
    assert_eq!(r.rows[1].ticks_due, 4 * 30 - 4 * 5);
    let part = &r.fault_windows[1];
    assert!(part.heal_jump.is_some() && part.machine.is_none());
    let md = report::markdown(&r);
    assert!(md.contains("| pause=1@5+5 | 5.000 | 10.000 |"), "{md}");

    let plain = tempfile::tempdir().unwrap();
    simulate_to(
        &Model {
            faults: Default::default(),
            ..m
        },
        0,
        plain.path(),
    )
    .unwrap();
    let (r, accs) = report::analyze(plain.path()).unwrap();
    lab::plots::write_all(plain.path(), &accs, &out, 20.0).unwrap();
    let texts = svg_texts(&out.join("clock.svg"));
    assert!(!texts.iter().any(|t| t.starts_with("pause")) && r.faults.is_none());
    assert!(!report::markdown(&r).contains("Faults"));
}

/// The text of every `<text>` element of an SVG file, trimmed.
fn svg_texts(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect()
}

/// Runs `lab <cmd> <dir>`; a command still running after a minute is killed and fails the
/// test (it blocked: a FIFO read as a log blocks until a writer comes).
fn lab_on(cmd: &str, dir: &Path) -> std::process::Output {
    let mut child = lab()
        .arg(cmd)
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    panic!("lab {cmd} did not end: {}", dir.display());
}

/// A FIFO named like a log is refused in one line before a byte is read: every command
/// that reads logs used to block on it for ever.
#[test]
fn a_fifo_for_a_log_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    hand_made(dir.path());
    let p = dir.path().join("machine-1.log");
    std::fs::remove_file(&p).unwrap();
    let made = Command::new("mkfifo").arg(&p).status().unwrap();
    assert!(made.success());
    for cmd in ["check", "report", "hb", "view", "digest"] {
        let o = lab_on(cmd, dir.path());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{cmd}: {err}");
        assert!(
            err.contains("machine-1.log") && err.contains("not a regular file"),
            "{cmd}: {err}"
        );
    }
}

/// A sparse log with a 100 MB line (of zero bytes) is refused in one line naming the file
/// and the line, without holding the line: `check` used to allocate it whole (a 3 GB line
/// aborted it).
#[test]
fn a_line_longer_than_any_log_line_is_refused_without_reading_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    hand_made(dir.path());
    let p = dir.path().join("machine-1.log");
    let f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len + 100_000_000).unwrap();
    drop(f);
    // 3 header lines, `start`, 6 rows: the long one is line 11.
    for cmd in ["check", "report", "hb", "view"] {
        let o = lab_on(cmd, dir.path());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{cmd}: {err}");
        assert!(
            err.contains("machine-1.log:11: line longer than"),
            "{cmd}: {err}"
        );
    }
}
