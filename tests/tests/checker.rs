//! The checker catches each kind of violation planted in a copy of a valid run.

use lamport_core::RunParams;
use lamport_host::{args::Model, check::check_run, sim::simulate_to};
use std::path::Path;

fn valid_run() -> tempfile::TempDir {
    let params = RunParams {
        secs: 30,
        ..RunParams::new(7, 0)
    };
    let m = Model {
        params,
        pinned: vec![Some(2), Some(5), Some(6)],
        faults: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    simulate_to(&m, 0, dir.path()).unwrap();
    let r = check_run(dir.path()).unwrap();
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    dir
}

/// Rewrites machine `id`'s log lines with `f` and returns the violations found.
fn plant(id: u16, f: impl FnOnce(&mut Vec<String>)) -> Vec<String> {
    let dir = valid_run();
    let path = dir.path().join(format!("machine-{id}.log"));
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    f(&mut lines);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    violations(dir.path())
}

fn violations(dir: &Path) -> Vec<String> {
    check_run(dir)
        .unwrap()
        .violations
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn find(lines: &[String], event: &str, nth: usize) -> usize {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.split(',').nth(2) == Some(event))
        .nth(nth)
        .map(|(i, _)| i)
        .expect("row")
}

fn set_col(line: &str, col: usize, value: &str) -> String {
    let mut c: Vec<&str> = line.split(',').collect();
    c[col] = value;
    c.join(",")
}

#[test]
fn wrong_clock() {
    let v = plant(1, |l| {
        let i = find(l, "internal", 3);
        let clock: u64 = l[i].split(',').nth(3).unwrap().parse().unwrap();
        l[i] = set_col(&l[i], 3, &(clock + 5).to_string());
    });
    assert!(
        v.iter()
            .any(|s| s.contains("internal clock") && s.contains("machine-1.log")),
        "{v:?}"
    );
}

#[test]
fn dropped_message() {
    let v = plant(2, |l| {
        let i = find(l, "recv", 2);
        l.remove(i);
    });
    assert!(v.iter().any(|s| s.contains("first difference")), "{v:?}");
}

#[test]
fn duplicated_message() {
    let v = plant(2, |l| {
        let i = find(l, "recv", 4);
        let row = l[i].clone();
        l.insert(i + 1, row);
    });
    assert!(v.iter().any(|s| s.contains("first difference")), "{v:?}");
}

#[test]
fn reordered_messages() {
    let v = plant(0, |l| {
        // Two receives from the same sender, swapped (clocks fixed up so only order is wrong).
        let recvs: Vec<usize> = (0..)
            .map_while(|n| {
                l.iter()
                    .enumerate()
                    .filter(|(_, x)| x.contains(",recv,") && x.split(',').nth(5) == Some("2"))
                    .nth(n)
                    .map(|(i, _)| i)
            })
            .collect();
        let (a, b) = (recvs[1], recvs[2]);
        let (ma, mb) = (
            l[a].split(',').nth(6).unwrap().to_string(),
            l[b].split(',').nth(6).unwrap().to_string(),
        );
        l[a] = set_col(&l[a], 6, &mb);
        l[b] = set_col(&l[b], 6, &ma);
    });
    assert!(
        v.iter()
            .any(|s| s.contains("messages from machine 2") && s.contains("first difference")),
        "{v:?}"
    );
}

#[test]
fn missing_end() {
    let v = plant(1, |l| {
        l.pop();
    });
    assert!(
        v.iter().any(|s| s.contains("without an `end` row")),
        "{v:?}"
    );
}

#[test]
fn extra_tick() {
    let v = plant(0, |l| {
        let i = find(l, "end", 0);
        let last = l[i - 1].clone();
        let clock: u64 = last.split(',').nth(3).unwrap().parse().unwrap();
        let extra = format!(
            "{},0,internal,{},0,,,",
            last.split(',').next().unwrap(),
            clock + 1
        );
        l.insert(i, extra);
        l[i + 1] = set_col(&l[i + 1], 3, &(clock + 1).to_string());
    });
    assert!(v.iter().any(|s| s.contains("deadlines")), "{v:?}");
}

#[test]
fn bad_input_is_an_error_naming_file_and_line() {
    let dir = valid_run();
    let path = dir.path().join("machine-1.log");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text = text.replacen(",internal,", ",interna1,", 1);
    std::fs::write(&path, &text).unwrap();
    let err = format!("{:#}", check_run(dir.path()).unwrap_err());
    assert!(
        err.contains("machine-1.log:") && err.contains("event"),
        "{err}"
    );
    // Unknown version.
    let path0 = dir.path().join("machine-0.log");
    let t0 = std::fs::read_to_string(&path0).unwrap();
    std::fs::write(&path0, t0.replacen("log v1", "log v9", 1)).unwrap();
    let err = format!("{:#}", check_run(dir.path()).unwrap_err());
    assert!(err.contains("machine-0.log:1"), "{err}");
    // Missing folder; folder without logs.
    assert!(check_run(&dir.path().join("nope")).is_err());
    let empty = tempfile::tempdir().unwrap();
    assert!(format!("{:#}", check_run(empty.path()).unwrap_err()).contains("no machine logs"));
}

/// Rewrites machine `id`'s header line (line 2) with `f`.
fn plant_header(id: u16, f: impl FnOnce(&str) -> String) -> tempfile::TempDir {
    let dir = valid_run();
    let path = dir.path().join(format!("machine-{id}.log"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[1] = f(&lines[1]);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    dir
}

#[test]
fn ticks_fired_early_or_all_at_once_are_caught() {
    let v = plant(1, |l| {
        let start = l[3].split(',').next().unwrap().to_string();
        for line in l.iter_mut().skip(3) {
            *line = set_col(line, 0, &start);
        }
    });
    assert!(
        v.iter()
            .any(|s| s.contains("before its deadline") && s.contains("machine-1.log")),
        "{v:?}"
    );
}

#[test]
fn internal_events_with_roll_max_3_are_caught() {
    // Every file says roll_max=3 (so they still agree); machine 0 has internal events.
    let dir = valid_run();
    for id in 0..3 {
        let path = dir.path().join(format!("machine-{id}.log"));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("roll_max=10", "roll_max=3", 1)).unwrap();
    }
    let v = violations(dir.path());
    assert!(
        v.iter().any(|s| s.contains("roll_max=3 leaves no roll")),
        "{v:?}"
    );
}

#[test]
fn an_invalid_header_is_an_error_naming_file_and_line() {
    for (from, to) in [
        ("machines=3", "machines=0"),
        ("machines=3", "machines=2"),
        ("rate=2", "rate=0"),
        ("secs=30", "secs=0"),
        ("secs=30", "secs=18446744074"),
        ("roll_max=10", "roll_max=2"),
        ("machine=0 ", "machine=5 "),
    ] {
        let dir = plant_header(0, |h| h.replacen(from, to, 1));
        let e = check_run(dir.path()).expect_err(to).to_string();
        assert!(e.contains("machine-0.log:2: not a valid run"), "{to}: {e}");
    }
}

#[test]
fn headers_that_disagree_are_named_without_a_panic() {
    // A file that names a different number of machines: named (or, where its rows no
    // longer parse, an error naming the line), never a panic.
    for (id, to) in [(2, "machines=4"), (0, "machines=4")] {
        let dir = plant_header(id, |h| h.replacen("machines=3", to, 1));
        match check_run(dir.path()) {
            Ok(r) => {
                let v: Vec<String> = r.violations.iter().map(ToString::to_string).collect();
                assert!(
                    v.iter()
                        .any(|s| s.contains("differ from machine 0's: machines")),
                    "{v:?}"
                );
            }
            Err(e) => assert!(e.to_string().contains(".log:"), "{e}"),
        }
    }
    for (from, to, name) in [
        ("secs=30", "secs=31", "secs"),
        ("speedup=1", "speedup=2", "speedup"),
        ("queue_cap=1024", "queue_cap=1000", "queue_cap"),
        ("start_unix_ns=", "start_unix_ns=1", "start_unix_ns"),
    ] {
        let dir = plant_header(1, |h| h.replacen(from, to, 1));
        let v = violations(dir.path());
        assert!(
            v.iter().any(|s| s.contains("machine-1.log:2")
                && s.contains(&format!("differ from machine 0's: {name}"))),
            "{name}: {v:?}"
        );
    }
}

#[test]
fn a_run_whose_headers_all_say_another_seed_is_caught_by_the_replay() {
    let dir = valid_run();
    for id in 0..3 {
        let path = dir.path().join(format!("machine-{id}.log"));
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("seed=7 ", "seed=8 ", 1)).unwrap();
    }
    let v = violations(dir.path());
    assert!(!v.is_empty());
    assert!(
        v.iter().all(|s| s.contains("the model (seed 8, machine ")),
        "every rule holds; only the rolls differ: {v:?}"
    );
    // With the rules alone, it passes: the replay is what proves a run is the model.
    let opts = lamport_host::check::CheckOptions {
        replay: false,
        ..Default::default()
    };
    let r = lamport_host::check::check_run_with(dir.path(), &opts).unwrap();
    assert!(r.violations.is_empty(), "{:?}", r.violations);
}

#[test]
fn a_roll_changed_in_one_row_is_caught_by_the_replay() {
    // An internal event turned into a send to the next machine keeps every clock rule
    // (same clock), but it is not what the seed rolled.
    let v = plant(0, |l| {
        let i = find(l, "internal", 2);
        let clock = l[i].split(',').nth(3).unwrap().to_string();
        l[i] = set_col(&set_col(&set_col(&l[i], 2, "send"), 5, "1"), 6, &clock);
    });
    assert!(
        v.iter()
            .any(|s| s.contains("machine-0.log") && s.contains("would have written")),
        "{v:?}"
    );
}

/// A 3-machine, 30 s run with `faults` (flags as the hosts take them), checked clean.
fn faulty_run(delay: Option<&str>, pauses: &[&str], partitions: &[&str]) -> tempfile::TempDir {
    let params = RunParams {
        secs: 30,
        ..RunParams::new(7, 0)
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let faults =
        lamport_host::args::fault_plan(delay, &s(pauses), &s(partitions), &params).unwrap();
    let m = Model {
        params,
        pinned: vec![Some(2), Some(5), Some(6)],
        faults,
    };
    let dir = tempfile::tempdir().unwrap();
    simulate_to(&m, 0, dir.path()).unwrap();
    let r = check_run(dir.path()).unwrap();
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    dir
}

/// Rewrites the opening of every log: `f` gets and returns the lines before the columns
/// line (version, parameters, and the faults line of a v2 log).
fn reopen(dir: &Path, f: impl Fn(Vec<String>) -> Vec<String>) {
    for id in 0..3 {
        let path = dir.join(format!("machine-{id}.log"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<String> = text.lines().map(String::from).collect();
        let cols = lines
            .iter()
            .position(|l| l.starts_with("unix_ns,"))
            .unwrap();
        let mut out = f(lines[..cols].to_vec());
        out.extend_from_slice(&lines[cols..]);
        std::fs::write(&path, out.join("\n") + "\n").unwrap();
    }
}

/// The opening of a v2 log with the faults line `faults`.
fn with_faults(faults: &'static str) -> impl Fn(Vec<String>) -> Vec<String> {
    move |l| {
        vec![
            "# lamport-lab log v2".into(),
            l[1].clone(),
            format!("# faults={faults}"),
        ]
    }
}

#[test]
fn a_pause_the_header_does_not_state_is_ticks_missing() {
    let dir = faulty_run(None, &["1@5+5"], &[]);
    reopen(dir.path(), |l| {
        vec!["# lamport-lab log v1".into(), l[1].clone()]
    });
    let v = violations(dir.path());
    assert!(
        v.iter()
            .any(|x| x.contains("machine 1") && x.contains("ms late")),
        "{v:?}"
    );
}

#[test]
fn a_pause_the_run_did_not_take_is_ticks_inside_it() {
    let dir = valid_run();
    reopen(dir.path(), with_faults("pause=1@5+5"));
    let v = violations(dir.path());
    assert!(
        v.iter()
            .any(|x| x.contains("machine 1") && x.contains("before its deadline")),
        "{v:?}"
    );
    assert!(v.iter().all(|x| x.contains("machine 1")), "{v:?}");
}

#[test]
fn a_message_received_sooner_than_the_delay_is_caught() {
    let dir = faulty_run(Some("50"), &[], &[]);
    reopen(dir.path(), with_faults("delay_ms=400"));
    let v = violations(dir.path());
    assert!(
        v.iter().any(|x| x.contains("the delay is 400.000 ms")),
        "{v:?}"
    );
}

#[test]
fn a_message_received_across_a_partition_before_it_heals_is_caught() {
    let dir = valid_run();
    reopen(dir.path(), with_faults("partition=0/1,2@5+10"));
    let v = violations(dir.path());
    assert!(v.iter().any(|x| x.contains("before it healed")), "{v:?}");
    // The same run with the partition it had passes.
    let dir = faulty_run(None, &[], &["0/1,2@5+10"]);
    assert!(violations(dir.path()).is_empty());
}

#[test]
fn logs_that_disagree_on_the_faults_are_named() {
    let dir = faulty_run(Some("10"), &[], &[]);
    let path = dir.path().join("machine-2.log");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("# faults=delay_ms=10", "# faults=delay_ms=1"),
    )
    .unwrap();
    let v = violations(dir.path());
    assert!(
        v.iter()
            .any(|x| x.contains("machine 2") && x.contains("faults differ")),
        "{v:?}"
    );
}

#[test]
fn a_bad_faults_line_is_an_error_naming_file_and_line() {
    let dir = faulty_run(Some("10"), &[], &[]);
    reopen(dir.path(), with_faults("pause=9@1+1"));
    let e = check_run(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with(
            "machine-0.log:3: not a valid run: a fault names a machine the run does not have"
        ),
        "{e}"
    );
    reopen(dir.path(), |l| {
        vec!["# lamport-lab log v3".into(), l[1].clone()]
    });
    let e = check_run(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with("machine-0.log:1: not a lamport-lab log v1 or v2"),
        "{e}"
    );
}

/// A log cut inside its last line (a full disk, a file-size limit) is not refused: its
/// whole lines are read, and the cut is returned (line and bytes) for the checker to name.
#[test]
fn a_cut_last_line_is_returned_and_the_whole_lines_are_read() {
    let dir = valid_run();
    let path = dir.path().join("machine-0.log");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines = text.lines().count();
    std::fs::write(&path, &text[..text.len() - 3]).unwrap();
    let (head, reader) = lamport_host::check::read_head(&path).unwrap();
    let mut rows = 0;
    let cut = lamport_host::check::records(&path, &head, reader, |_, _, _| rows += 1).unwrap();
    let cut = cut.expect("the cut is returned");
    assert_eq!(
        (cut.line, cut.bytes),
        (lines, text.lines().last().unwrap().len() - 2)
    );
    assert_eq!(rows, lines - head.lines - 1, "every whole row is read");
    assert!(
        check_run(dir.path()).is_ok(),
        "the folder is judged, not refused"
    );
}
