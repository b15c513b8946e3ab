//! The checker catches each kind of violation planted in a copy of a valid run.

use lamport_core::RunParams;
use lamport_host::{
    args::Model,
    check::{Rule, check_run},
    sim::simulate_to,
};
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

/// A violation as the checker reports it: the rule broken, and its line as printed.
type Found = (Rule, String);

/// Rewrites machine `id`'s log lines with `f` and returns the violations found.
fn plant(id: u16, f: impl FnOnce(&mut Vec<String>)) -> Vec<Found> {
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

fn violations(dir: &Path) -> Vec<Found> {
    check_run(dir)
        .unwrap()
        .violations
        .iter()
        .map(|v| (v.rule, v.to_string()))
        .collect()
}

/// Asserts that the checker names `rule`, in a line holding every one of `needles`: a plant
/// that only another rule catches fails the test.
fn assert_caught(v: &[Found], rule: Rule, needles: &[&str]) {
    assert!(
        v.iter()
            .any(|(r, s)| *r == rule && needles.iter().all(|n| s.contains(n))),
        "expected a violation of {rule:?} with {needles:?}: {v:#?}"
    );
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
    assert_caught(&v, Rule::Clock, &["internal clock", "machine-1.log"]);
}

#[test]
fn dropped_message() {
    let v = plant(2, |l| {
        let i = find(l, "recv", 2);
        l.remove(i);
    });
    assert_caught(&v, Rule::ExactlyOnceFifo, &["first difference"]);
}

#[test]
fn duplicated_message() {
    let v = plant(2, |l| {
        let i = find(l, "recv", 4);
        let row = l[i].clone();
        l.insert(i + 1, row);
    });
    assert_caught(&v, Rule::ExactlyOnceFifo, &["first difference"]);
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
    assert_caught(
        &v,
        Rule::ExactlyOnceFifo,
        &["messages from machine 2", "first difference"],
    );
}

#[test]
fn missing_end() {
    let v = plant(1, |l| {
        l.pop();
    });
    assert_caught(&v, Rule::MissingEnd, &["without an `end` row"]);
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
    assert_caught(&v, Rule::ExtraTick, &["deadlines"]);
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
    assert_caught(&v, Rule::Early, &["before its deadline", "machine-1.log"]);
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
    assert_caught(&v, Rule::InternalRoll, &["roll_max=3 leaves no roll"]);
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
fn a_header_naming_another_machine_is_caught() {
    // The logs of machines 1 and 2 swapped: each file holds the other machine's log.
    let dir = valid_run();
    let (one, two) = (lines_of(dir.path(), 1), lines_of(dir.path(), 2));
    write_lines(dir.path(), 1, &two);
    write_lines(dir.path(), 2, &one);
    let v = violations(dir.path());
    assert_caught(
        &v,
        Rule::Header,
        &["machine-1.log:2", "header says machine 2, file name says 1"],
    );
}

#[test]
fn headers_that_disagree_are_named_without_a_panic() {
    // A file that names a different number of machines: named (or, where its rows no
    // longer parse, an error naming the line), never a panic.
    for (id, to) in [(2, "machines=4"), (0, "machines=4")] {
        let dir = plant_header(id, |h| h.replacen("machines=3", to, 1));
        match check_run(dir.path()) {
            Ok(r) => {
                let v: Vec<Found> = r
                    .violations
                    .iter()
                    .map(|v| (v.rule, v.to_string()))
                    .collect();
                assert_caught(
                    &v,
                    Rule::SameParameters,
                    &["differ from machine 0's: machines"],
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
        assert_caught(
            &v,
            Rule::SameParameters,
            &[
                "machine-1.log:2",
                &format!("differ from machine 0's: {name}"),
            ],
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
        v.iter()
            .all(|(r, s)| *r == Rule::Replay && s.contains("the model (seed 8, machine ")),
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
    assert_caught(&v, Rule::Replay, &["machine-0.log", "would have written"]);
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
    assert_caught(&v, Rule::Late, &["machine 1", "ms late"]);
}

#[test]
fn a_pause_the_run_did_not_take_is_ticks_inside_it() {
    let dir = valid_run();
    reopen(dir.path(), with_faults("pause=1@5+5"));
    let v = violations(dir.path());
    assert_caught(&v, Rule::Early, &["machine 1", "before its deadline"]);
    assert!(v.iter().all(|(_, x)| x.contains("machine 1")), "{v:?}");
}

#[test]
fn a_message_received_sooner_than_the_delay_is_caught() {
    let dir = faulty_run(Some("50"), &[], &[]);
    reopen(dir.path(), with_faults("delay_ms=400"));
    let v = violations(dir.path());
    assert_caught(
        &v,
        Rule::Delay,
        &["could enter its queue only 400.000 ms after it was sent"],
    );
}

#[test]
fn a_message_received_across_a_partition_before_it_heals_is_caught() {
    let dir = valid_run();
    reopen(dir.path(), with_faults("partition=0/1,2@5+10"));
    let v = violations(dir.path());
    assert_caught(&v, Rule::Partition, &["before it healed"]);
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
    assert_caught(&v, Rule::SameFaults, &["machine 2", "faults differ"]);
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
        vec!["# lamport-lab log v4".into(), l[1].clone()]
    });
    let e = check_run(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with("machine-0.log:1: not a lamport-lab log v1, v2 or v3"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------
// Holes a hostile tester found (issue 21): each folder below passed `lab check` on 8eb9060.

/// The lines of machine `id`'s log in `dir`.
fn lines_of(dir: &Path, id: u16) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("machine-{id}.log")))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(dir: &Path, id: u16, lines: &[String]) {
    std::fs::write(
        dir.join(format!("machine-{id}.log")),
        lines.join("\n") + "\n",
    )
    .unwrap();
}

fn col(line: &str, c: usize) -> &str {
    line.split(',').nth(c).unwrap_or("")
}

fn time_of(line: &str) -> u64 {
    col(line, 0).parse().unwrap()
}

/// Index of the first data row (after the header lines and the columns line).
fn first_row(lines: &[String]) -> usize {
    lines
        .iter()
        .position(|l| l.starts_with("unix_ns,"))
        .unwrap()
        + 1
}

fn start_ns(lines: &[String]) -> u64 {
    time_of(&lines[first_row(lines)])
}

/// Shifts the time of every row from `from` on by `by` nanoseconds.
fn shift(lines: &mut [String], from: usize, by: i64) {
    for l in lines.iter_mut().skip(from) {
        let t = (time_of(l) as i64 + by).to_string();
        *l = set_col(l, 0, &t);
    }
}

#[test]
fn a_message_received_before_it_was_sent_is_caught() {
    // Machine 0's send to both peers moved 0.4 s later, with every row after it (inside
    // the lateness bound): its receivers logged it before it was sent.
    let dir = valid_run();
    let mut l = lines_of(dir.path(), 0);
    let i = (first_row(&l)..l.len())
        .find(|&i| col(&l[i], 2) == "send" && col(&l[i], 5) == "1+2")
        .unwrap();
    shift(&mut l, i, 400_000_000);
    write_lines(dir.path(), 0, &l);
    let v = violations(dir.path());
    assert_caught(
        &v,
        Rule::SentFirst,
        &["from machine 0", "before it was sent"],
    );
}

#[test]
fn a_queue_longer_than_its_cap_is_caught() {
    // Every header says queue_cap=2; machine 0 (rate 2 against 5 and 6) logged longer
    // queues.
    let dir = valid_run();
    let l = lines_of(dir.path(), 0);
    assert!(
        l.iter()
            .any(|x| col(x, 2) == "recv" && col(x, 4).parse::<u32>().unwrap() >= 2)
    );
    for id in 0..3 {
        let mut l = lines_of(dir.path(), id);
        l[1] = l[1].replacen("queue_cap=1024", "queue_cap=2", 1);
        write_lines(dir.path(), id, &l);
    }
    let v = violations(dir.path());
    assert_caught(&v, Rule::QueueCap, &["machine-0.log", "queue_cap=2"]);
}

#[test]
fn messages_a_queue_held_that_vanish_at_the_end_are_caught() {
    // Machine 0's last receive says 100 messages wait; only its leftovers follow.
    let dir = valid_run();
    let mut l = lines_of(dir.path(), 0);
    let last = (0..l.len())
        .rev()
        .find(|&i| col(&l[i], 2) == "recv")
        .unwrap();
    let left: usize = l.iter().filter(|x| col(x, 2) == "unprocessed").count();
    assert!(left < 100);
    l[last] = set_col(&l[last], 4, "100");
    write_lines(dir.path(), 0, &l);
    let v = violations(dir.path());
    assert_caught(
        &v,
        Rule::QueueLeftovers,
        &["machine-0.log", "100 messages waited"],
    );
}

/// `valid_run` with machine `id`'s end note replaced by `note`.
fn end_note(id: u16, note: &str) -> Vec<Found> {
    plant(id, |l| {
        let i = l.len() - 1;
        l[i] = set_col(&l[i], 7, note);
    })
}

#[test]
fn end_notes_the_logs_do_not_support_are_caught() {
    let v = end_note(0, "queue full (cap 1024)");
    assert_caught(
        &v,
        Rule::QueueFull,
        &["machine-0.log", "queue full (cap 1024)", "leftovers"],
    );
    let v = end_note(0, "queue full (cap 7)");
    assert_caught(&v, Rule::QueueFull, &["machine-0.log", "queue_cap=1024"]);
    let v = end_note(
        1,
        "could not keep up at rate 5 × speedup 1 (999 ticks left)",
    );
    assert_caught(&v, Rule::FellBehind, &["machine-1.log", "999 ticks left"]);
    let v = end_note(1, "could not keep up at rate 4 × speedup 1 (0 ticks left)");
    assert_caught(&v, Rule::FellBehind, &["machine-1.log", "rate 4"]);
    let v = end_note(2, "banana");
    assert_caught(&v, Rule::Note, &["machine-2.log", "`banana`"]);
    let v = end_note(2, "time up; time up");
    assert_caught(&v, Rule::Note, &["machine-2.log", "two reasons"]);
    let v = end_note(2, "peer 2 lost");
    assert_caught(&v, Rule::Note, &["machine-2.log", "`peer 2 lost`"]);
    // Machine 0 sent machine 2 two messages, both logged there.
    let v = end_note(2, "time up; bye count mismatch: peer 0 sent 2 received 1");
    assert_caught(
        &v,
        Rule::ByeCount,
        &["machine-2.log", "bye count mismatch", "but 2 were logged"],
    );
    let v = end_note(2, "time up; bye count mismatch: peer 0 sent 3 received 2");
    assert_caught(
        &v,
        Rule::ByeCount,
        &["machine-2.log", "but its log has 2 sends"],
    );
}

#[test]
fn a_machine_that_stopped_ticking_long_before_its_end_owes_its_deadlines() {
    // Every machine ends `interrupted` at 20 s; machine 1's ticks stop at 2 s.
    let dir = valid_run();
    for id in 0..3 {
        let l = lines_of(dir.path(), id);
        let start = start_ns(&l);
        let until = start + if id == 1 { 2 } else { 20 } * 1_000_000_000;
        let cut = (first_row(&l)..l.len())
            .find(|&i| time_of(&l[i]) >= until || col(&l[i], 2) == "unprocessed")
            .unwrap();
        let mut kept: Vec<String> = l[..cut].to_vec();
        let end = l.len() - 1;
        let e = set_col(&set_col(&l[end], 3, col(&l[cut - 1], 3)), 4, "0");
        let e = set_col(
            &set_col(&e, 7, "interrupted"),
            0,
            &(start + 20_000_000_000).to_string(),
        );
        kept.push(e);
        write_lines(dir.path(), id, &kept);
    }
    let v = violations(dir.path());
    assert_caught(&v, Rule::OwedTicks, &["machine-1.log", "owed"]);
}

#[test]
fn a_lost_peer_claim_the_peer_s_log_contradicts_is_caught() {
    // Machine 0 drops the messages of machine 2 its queue held at the end and names 2 lost
    // beside `time up` (a loss after the stop), while machine 2's log shows the oldest of
    // them sent seconds before: it had arrived.
    let dir = valid_run();
    let mut l = lines_of(dir.path(), 0);
    let first = first_row(&l);
    let dropped: Vec<usize> = (first..l.len())
        .filter(|&i| col(&l[i], 2) == "unprocessed" && col(&l[i], 5) == "2")
        .collect();
    assert!(dropped.len() >= 2, "the test needs queued leftovers");
    for &i in dropped.iter().rev() {
        l.remove(i);
    }
    let mut n = 0;
    for x in l.iter_mut().filter(|x| col(x, 2) == "unprocessed") {
        n += 1;
        *x = set_col(x, 4, &n.to_string());
    }
    let end = l.len() - 1;
    l[end] = set_col(
        &set_col(&l[end], 4, &n.to_string()),
        7,
        "peer 2 lost; time up",
    );
    write_lines(dir.path(), 0, &l);
    let v = violations(dir.path());
    assert_caught(
        &v,
        Rule::LostAfterStop,
        &[
            "machine-0.log",
            "names peer 2 lost after it stopped",
            "had arrived",
        ],
    );
}

#[test]
fn a_message_that_would_enter_its_queue_inside_a_partition_is_caught() {
    // A run with a 500 ms delay; a partition 1/2 opened 70 ms after a message of machine 2
    // to machine 1 was sent, closed just after machine 1 logged it.
    let dir = faulty_run(Some("500"), &[], &[]);
    let l2 = lines_of(dir.path(), 2);
    let l1 = lines_of(dir.path(), 1);
    let start = start_ns(&l2);
    let sends: Vec<u64> = l2
        .iter()
        .skip(first_row(&l2))
        .filter(|x| col(x, 2) == "send" && col(x, 5).split('+').any(|p| p == "1"))
        .map(|x| time_of(x))
        .collect();
    let recvs: Vec<u64> = l1
        .iter()
        .skip(first_row(&l1))
        .filter(|x| col(x, 2) == "recv" && col(x, 5) == "2")
        .map(|x| time_of(x))
        .collect();
    let (t, r) = (sends[3], recvs[3]);
    let ms = |ns: u64| (ns - start).div_ceil(1_000_000);
    let from = ms(t) + 70;
    let len = ms(r) + 1 - from;
    let faults = format!(
        "delay_ms=500 partition=1/2@{}.{:03}+{}.{:03}",
        from / 1000,
        from % 1000,
        len / 1000,
        len % 1000
    );
    let faults: &'static str = Box::leak(faults.into_boxed_str());
    reopen(dir.path(), with_faults(faults));
    let v = violations(dir.path());
    assert_caught(&v, Rule::Partition, &["machine-1.log", "partition"]);
}

#[test]
fn a_phase_the_seed_did_not_draw_is_caught() {
    let dir = plant_header(1, |h| format!("{h} phase_ns=100000000"));
    let v = violations(dir.path());
    assert_caught(&v, Rule::Phase, &["machine-1.log", "phase_ns=100000000"]);
}

#[test]
fn a_start_row_off_the_start_instant_is_caught() {
    let v = plant(2, |l| {
        let i = first_row(l);
        let t = (time_of(&l[i]) + 1_000).to_string();
        l[i] = set_col(&l[i], 0, &t);
    });
    assert_caught(&v, Rule::Start, &["machine-2.log", "start row"]);
}

#[test]
fn a_time_up_end_before_the_end_of_the_run_is_caught() {
    // Machine 2's leftovers and `end` moved back to its last tick.
    let dir = valid_run();
    let mut l = lines_of(dir.path(), 2);
    let end = l.len() - 1;
    let cut = (first_row(&l)..end)
        .rev()
        .find(|&i| col(&l[i], 2) != "unprocessed")
        .unwrap();
    let t = time_of(&l[cut]);
    for x in l.iter_mut().skip(cut + 1) {
        *x = set_col(x, 0, &t.to_string());
    }
    write_lines(dir.path(), 2, &l);
    let v = violations(dir.path());
    assert_caught(
        &v,
        Rule::EarlyTimeUp,
        &["machine-2.log", "time up", "before the run's end"],
    );
}

#[test]
fn a_run_with_a_million_faults_keeps_the_first_thousand_and_counts_the_rest() {
    let params = RunParams {
        secs: 5,
        ..RunParams::new(7, 0)
    };
    let m = Model {
        params,
        pinned: vec![Some(1000), Some(1000), Some(1000)],
        faults: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    simulate_to(&m, 0, dir.path()).unwrap();
    // Every row of machine 1 at the start instant: each tick but the first is early.
    let mut l = lines_of(dir.path(), 1);
    let (start, first) = (start_ns(&l).to_string(), first_row(&l));
    for x in l.iter_mut().skip(first + 1) {
        *x = set_col(x, 0, &start);
    }
    write_lines(dir.path(), 1, &l);
    let r = check_run(dir.path()).unwrap();
    assert_eq!(r.violations.len(), lamport_host::check::MAX_KEPT);
    assert!(r.count() > 4_000, "{}", r.count());
    assert!(!r.holds());
}

/// Index of the `nth` row of kind `event` after row `from`.
fn next_of(l: &[String], from: usize, event: &str) -> usize {
    (from + 1..l.len())
        .find(|&i| col(&l[i], 2) == event)
        .unwrap()
}

/// Every rule of one machine's rows, each planted once in a valid run (machine 0, rate 2
/// against 5 and 6, ends with leftovers): the checker names it.
#[test]
fn every_rule_of_one_log_is_judged() {
    type Plant = fn(&mut Vec<String>);
    let cases: &[(Rule, &str, Plant)] = &[
        (Rule::TimeOrder, "time goes back", |l| {
            let i = next_of(l, first_row(l) + 5, "internal");
            let t = (time_of(&l[i - 1]) - 1).to_string();
            l[i] = set_col(&l[i], 0, &t);
        }),
        (Rule::Start, "second `start` row", |l| {
            let i = first_row(l);
            l.insert(i + 1, l[i].clone());
        }),
        (Rule::Start, "no `start` row", |l| {
            l.remove(first_row(l));
        }),
        (Rule::Start, "`send` tick before `start`", |l| {
            let i = first_row(l);
            let s = l.remove(i);
            l.insert(i + 1, s);
        }),
        (Rule::Leftovers, "after ticking stopped", |l| {
            let u = next_of(l, 0, "unprocessed");
            let t = l.remove(u - 1);
            l.insert(u, t);
        }),
        (
            Rule::QueuedFirst,
            "while the queue held a message: expected `recv`",
            |l| {
                let i = (first_row(l)..l.len())
                    .find(|&i| col(&l[i], 2) == "recv" && col(&l[i], 4) != "0")
                    .unwrap();
                let clock: u64 = col(&l[i], 3).parse().unwrap();
                let row = format!("{},0,internal,{},0,,,", col(&l[i + 1], 0), clock + 1);
                l[i + 1] = row;
            },
        ),
        (Rule::TickTakesOne, "a tick takes one message", |l| {
            let i = (first_row(l)..l.len() - 1)
                .find(|&i| col(&l[i], 2) == "recv" && col(&l[i + 1], 2) == "recv")
                .unwrap();
            let q: u32 = col(&l[i + 1], 4).parse().unwrap();
            l[i] = set_col(&l[i], 4, &(q + 3).to_string());
        }),
        (Rule::End, "`end` row after `end`", |l| {
            let e = l[l.len() - 1].clone();
            l.push(e);
        }),
    ];
    // The first row of a kind with one column changed: (rule, its words, kind, column,
    // value).
    let edits: &[(Rule, &str, &str, usize, &str)] = &[
        (Rule::Peer, "message from itself", "recv", 5, "0"),
        (Rule::Peer, "recv without one sender", "recv", 6, ""),
        (Rule::Peer, "internal event with a peer", "internal", 5, "1"),
        (Rule::Send, "send carries", "send", 6, "0"),
        (Rule::Send, "send to `0`", "send", 5, "0"),
        (
            Rule::Leftovers,
            "unprocessed row changes the clock",
            "unprocessed",
            3,
            "1",
        ),
        (
            Rule::Leftovers,
            "unprocessed row numbered 5, expected 1",
            "unprocessed",
            4,
            "5",
        ),
        (
            Rule::Peer,
            "unprocessed row without one sender",
            "unprocessed",
            5,
            "",
        ),
        (Rule::End, "end clock", "end", 3, "1"),
        (Rule::End, "end counts 999 leftovers", "end", 4, "999"),
    ];
    for &(rule, needle, f) in cases {
        let v = plant(0, f);
        assert_caught(&v, rule, &["machine-0.log", needle]);
    }
    for &(rule, needle, kind, c, value) in edits {
        let v = plant(0, |l| {
            let i = next_of(l, 0, kind);
            l[i] = set_col(&l[i], c, value);
        });
        assert_caught(&v, rule, &["machine-0.log", needle]);
    }
}

#[test]
fn a_peer_that_stopped_early_by_its_own_log_is_caught() {
    // Machine 0 says machine 1 stopped early; machine 1's log ends `time up`.
    let v = end_note(0, "peer 1 stopped early");
    assert_caught(
        &v,
        Rule::PeerStoppedEarly,
        &["machine-0.log", "peer 1 stopped early", "had not stopped"],
    );
}

#[test]
fn machines_of_one_run_with_two_phase_modes_are_caught() {
    // Machine 1 spread by the phase its seed draws, the others aligned.
    let dir = valid_run();
    let mut l = lines_of(dir.path(), 1);
    let h = lamport_core::Header::parse_params(&l[1]).unwrap();
    let phase = lamport_core::Schedule::new(h.start_unix_ns, h.rate, h.speedup_milli, h.secs)
        .spread_phase(h.seed, 1);
    assert_ne!(phase, 0);
    l[1] = format!("{} phase_ns={phase}", l[1]);
    write_lines(dir.path(), 1, &l);
    let v = violations(dir.path());
    assert_caught(&v, Rule::OnePhaseMode, &["machine-1.log", "one phase mode"]);
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
    let v = violations(dir.path());
    assert_caught(
        &v,
        Rule::Cut,
        &[
            &format!("machine-0.log:{lines}"),
            "the log ends inside this line",
        ],
    );
}

#[test]
fn a_machine_that_died_after_its_bye_is_excused_only_by_its_supervisor_s_word() {
    // Machine 1 killed while draining (after its `Bye`, before its `end`): no peer names it
    // lost. Without its supervisor's `# died:` line the missing end is a violation.
    let dir = valid_run();
    let mut l = lines_of(dir.path(), 1);
    l.pop();
    write_lines(dir.path(), 1, &l);
    let v = violations(dir.path());
    assert_caught(
        &v,
        Rule::MissingEnd,
        &["machine-1.log", "no supervisor saw it die"],
    );
    lamport_host::folder::note_death(dir.path(), 1, "killed by SIGKILL").unwrap();
    let v = violations(dir.path());
    assert!(v.is_empty(), "{v:?}");
    let last = lines_of(dir.path(), 1).pop().unwrap();
    assert_eq!(last, "# died: killed by SIGKILL (seen by its supervisor)");
    // A log cut inside a line is left as it is.
    let path = dir.path().join("machine-2.log");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 2]).unwrap();
    lamport_host::folder::note_death(dir.path(), 2, "killed by SIGKILL").unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text[..text.len() - 2]
    );
}

// ---------------------------------------------------------------------------------------
// Forgeries that passed the first version of these rules (issue 21, second round), each
// planted the way a hostile tester did it.

/// The rows of kind `event` (and from `peer`, if given) in `l`.
fn rows_of(l: &[String], event: &str, peer: Option<&str>) -> Vec<usize> {
    (first_row(l)..l.len())
        .filter(|&i| col(&l[i], 2) == event && peer.is_none_or(|p| col(&l[i], 5) == p))
        .collect()
}

/// Numbers the `unprocessed` rows 1, 2, ... and makes `end` count them.
fn renumber(l: &mut [String]) {
    let mut n = 0;
    for x in l.iter_mut() {
        if col(x, 2) == "unprocessed" {
            n += 1;
            *x = set_col(x, 4, &n.to_string());
        } else if col(x, 2) == "end" {
            *x = set_col(x, 4, &n.to_string());
        }
    }
}

/// The order-sensitive 64-bit digest the checker once compared pairs by.
fn old_digest(clocks: &[u64]) -> u64 {
    clocks.iter().fold(0, |h: u64, &c| {
        lamport_core::rng::splitmix64(h.rotate_left(5) ^ c)
    })
}

/// The inverse of `splitmix64`, to pick a clock that gives any digest.
fn unsplitmix(mut z: u64) -> u64 {
    let unxorshift = |y: u64, s: u32| (0..64 / s + 1).fold(y, |x, _| y ^ (x >> s));
    let inv = |a: u64| {
        (0..6).fold(a, |x: u64, _| {
            x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)))
        })
    };
    z = unxorshift(z, 31);
    z = z.wrapping_mul(inv(0x94D0_49BB_1331_11EB));
    z = unxorshift(z, 27);
    z = z.wrapping_mul(inv(0xBF58_476D_1CE4_E5B9));
    z = unxorshift(z, 30);
    z.wrapping_sub(0x9E37_79B9_7F4A_7C15)
}

#[test]
fn a_message_swapped_for_one_whose_digest_collides_is_caught() {
    let dir = valid_run();
    let sent: Vec<u64> = {
        let l = lines_of(dir.path(), 2);
        rows_of(&l, "send", None)
            .into_iter()
            .filter(|&i| col(&l[i], 5).split('+').any(|p| p == "0"))
            .map(|i| col(&l[i], 3).parse().unwrap())
            .collect()
    };
    let mut l = lines_of(dir.path(), 0);
    let from2 = rows_of(&l, "unprocessed", Some("2"));
    assert!(from2.len() >= 2, "the test needs leftovers from machine 2");
    let mut row = l.remove(from2[0]);
    let got: Vec<u64> = (first_row(&l)..l.len())
        .filter(|&i| matches!(col(&l[i], 2), "recv" | "unprocessed") && col(&l[i], 5) == "2")
        .map(|i| col(&l[i], 6).parse().unwrap())
        .collect();
    let forged = old_digest(&got).rotate_left(5) ^ unsplitmix(old_digest(&sent));
    let mut with = got.clone();
    with.push(forged);
    assert_eq!(old_digest(&with), old_digest(&sent), "the inverse is right");
    row = set_col(&row, 6, &forged.to_string());
    let end = l.len() - 1;
    l.insert(end, row);
    renumber(&mut l);
    write_lines(dir.path(), 0, &l);
    let v = violations(dir.path());
    assert_caught(
        &v,
        Rule::ExactlyOnceFifo,
        &[
            "machine-0.log",
            "messages from machine 2",
            "first difference",
        ],
    );
}

#[test]
fn messages_dropped_by_a_receiver_that_names_no_one_lost_are_caught() {
    // Machine 2 names 0 lost; machine 0 ends `time up` naming no one, so it had 2's `Bye`
    // and every message before it, but drops its leftovers from 2.
    let dir = valid_run();
    let mut l2 = lines_of(dir.path(), 2);
    let e = l2.len() - 1;
    l2[e] = set_col(&l2[e], 7, "peer 0 lost");
    write_lines(dir.path(), 2, &l2);
    let mut l = lines_of(dir.path(), 0);
    let from2 = rows_of(&l, "unprocessed", Some("2"));
    assert!(!from2.is_empty());
    for &i in from2.iter().rev() {
        l.remove(i);
    }
    renumber(&mut l);
    let mut i = (first_row(&l)..l.len())
        .rev()
        .find(|&i| col(&l[i], 2) != "unprocessed" && col(&l[i], 2) != "end")
        .unwrap();
    while col(&l[i], 2) == "recv" {
        l[i] = set_col(&l[i], 4, "0");
        i -= 1;
    }
    write_lines(dir.path(), 0, &l);
    let v = violations(dir.path());
    assert_caught(
        &v,
        Rule::ExactlyOnceFifo,
        &[
            "machine-0.log",
            "messages from machine 2",
            "all were expected",
        ],
    );
}

#[test]
fn a_queue_longer_than_what_had_been_sent_is_caught() {
    let v = plant(0, |l| {
        let i = rows_of(l, "recv", None)[0];
        *l.get_mut(i).unwrap() = set_col(&l[i], 4, "29");
    });
    assert_caught(
        &v,
        Rule::QueueSent,
        &["machine-0.log", "had been sent to it by then"],
    );
}

#[test]
fn a_bye_count_below_a_whole_log_s_sends_is_caught() {
    // Machine 0 (its log whole, naming no one) sent machine 2 two messages.
    let v = end_note(2, "time up; bye count mismatch: peer 0 sent 1 received 2");
    assert_caught(
        &v,
        Rule::ByeCount,
        &["machine-2.log", "but its log has 2 sends"],
    );
}

#[test]
fn due_ticks_spread_over_later_instants_are_caught() {
    // Machine 0's last stretch of receives, each a period (0.5 s) later: each was due when
    // the one before it ran.
    let v = plant(0, |l| {
        let ticks: Vec<usize> = (first_row(l)..l.len())
            .filter(|&i| matches!(col(&l[i], 2), "recv" | "send" | "internal"))
            .collect();
        let mut k = ticks.len();
        while k > 0 && col(&l[ticks[k - 1]], 2) == "recv" {
            k -= 1;
        }
        assert!(ticks.len() - k >= 2);
        for &i in &ticks[k..] {
            let t = (time_of(&l[i]) + 500_000_000).to_string();
            l[i] = set_col(&l[i], 0, &t);
        }
    });
    assert_caught(
        &v,
        Rule::DueAtOnce,
        &["machine-0.log", "a machine does every due tick at once"],
    );
}

/// Moves machine `id`'s rows of the kinds in `kinds` to `at_ms` after the start.
fn move_rows(dir: &Path, id: u16, kinds: &[&str], at_ms: u64) {
    let mut l = lines_of(dir, id);
    let t = (start_ns(&l) + at_ms * 1_000_000).to_string();
    for x in l.iter_mut() {
        if kinds.contains(&col(x, 2)) {
            *x = set_col(x, 0, &t);
        }
    }
    write_lines(dir, id, &l);
}

#[test]
fn an_early_stop_excused_by_a_machine_still_ticking_is_caught() {
    // Machine 0's leftovers at 29.67 s (it stopped then), `time up` at 30 s: no peer had
    // stopped to end it early.
    let dir = valid_run();
    move_rows(dir.path(), 0, &["unprocessed"], 29_670);
    assert_caught(
        &violations(dir.path()),
        Rule::EarlyTimeUp,
        &["machine-0.log", "no other machine had stopped by then"],
    );
    // Nor does machine 2 ending `interrupted` excuse it while it still ticks at 29.833 s.
    let dir = valid_run();
    move_rows(dir.path(), 0, &["unprocessed", "end"], 29_700);
    let mut l2 = lines_of(dir.path(), 2);
    let e = l2.len() - 1;
    l2[e] = set_col(&l2[e], 7, "interrupted");
    write_lines(dir.path(), 2, &l2);
    assert_caught(
        &violations(dir.path()),
        Rule::EarlyTimeUp,
        &["machine-0.log", "no other machine had stopped by then"],
    );
    // Machine 1 says 0 stopped early at 29.81 s, excused by machine 2 still ticking.
    let dir = valid_run();
    move_rows(dir.path(), 1, &["unprocessed", "end"], 29_810);
    let mut l1 = lines_of(dir.path(), 1);
    let e = l1.len() - 1;
    l1[e] = set_col(&l1[e], 7, "peer 0 stopped early");
    write_lines(dir.path(), 1, &l1);
    let mut l2 = lines_of(dir.path(), 2);
    let e = l2.len() - 1;
    l2[e] = set_col(&l2[e], 7, "interrupted");
    write_lines(dir.path(), 2, &l2);
    assert_caught(
        &violations(dir.path()),
        Rule::PeerStoppedEarly,
        &["machine-1.log", "peer 0 stopped early", "had not stopped"],
    );
}

#[test]
fn an_end_later_than_any_stop_allows_is_caught() {
    let dir = valid_run();
    move_rows(dir.path(), 0, &["unprocessed", "end"], 3_630_000);
    assert_caught(
        &violations(dir.path()),
        Rule::StopTooLate,
        &["machine-0.log", "after any stop allows"],
    );
}

#[test]
fn columns_the_model_leaves_empty_are_judged() {
    let v = plant(1, |l| {
        let i = first_row(l);
        l[i] = set_col(&l[i], 7, "forged");
    });
    assert_caught(
        &v,
        Rule::EmptyColumns,
        &[
            "machine-1.log",
            "`start` row with a queue, peer, msg_clock or note",
        ],
    );
    let v = plant(1, |l| {
        let i = rows_of(l, "internal", None)[0];
        l[i] = set_col(&l[i], 7, "forged");
    });
    assert_caught(
        &v,
        Rule::EmptyColumns,
        &["machine-1.log", "`internal` row with a note"],
    );
    let v = plant(1, |l| {
        let i = l.len() - 1;
        l[i] = set_col(&l[i], 5, "2");
    });
    assert_caught(
        &v,
        Rule::EmptyColumns,
        &["machine-1.log", "`end` row with a peer or msg_clock"],
    );
    let v = end_note(0, "peers 0-2+7+1 lost; time up");
    assert_caught(
        &v,
        Rule::Note,
        &["machine-0.log", "is not how the model names those peers"],
    );
}

#[test]
fn a_peer_named_lost_that_ended_normally_is_judged_over_reliable_links() {
    // Machine 1 says it lost machine 0 while it ticked; machine 0 ended `time up`
    // naming no one, so it closed its connection only after its `Bye`.
    let dir = valid_run();
    move_rows(dir.path(), 1, &["unprocessed", "end"], 29_850);
    let mut l = lines_of(dir.path(), 1);
    let e = l.len() - 1;
    l[e] = set_col(&l[e], 7, "peer 0 lost");
    write_lines(dir.path(), 1, &l);
    assert_caught(
        &violations(dir.path()),
        Rule::LostButEndedNormally,
        &["machine-1.log", "names peer 0 lost while it ticked"],
    );
    // Over links that may break by themselves (machines on several computers), that is
    // possible: a garbled connection.
    let opts = lamport_host::check::CheckOptions {
        trusted_links: false,
        ..Default::default()
    };
    let r = lamport_host::check::check_run_with(dir.path(), &opts).unwrap();
    assert!(r.holds(), "{:?}", r.violations);
    // Every machine names the others lost beside `time up`, at the run's end: none waited
    // the drain timeout for a `Bye` every one of them had sent.
    let v = {
        let dir = valid_run();
        for id in 0..3 {
            let mut l = lines_of(dir.path(), id);
            let e = l.len() - 1;
            l[e] = set_col(&l[e], 7, "every peer lost; time up");
            write_lines(dir.path(), id, &l);
        }
        violations(dir.path())
    };
    assert_caught(
        &v,
        Rule::LostEachOther,
        &["name each other lost, but neither ended the drain timeout"],
    );
}

// ---------------------------------------------------------------------------------------
// Second round of forgeries (a hostile tester, after the rules above).

/// `valid_run` with machine 0's rows cut at `at_ms` after the start (its queue and clock
/// as they were), then `tail` appended.
fn cut_machine_0(at_ms: u64, tail: impl FnOnce(&mut Vec<String>, u64)) -> Vec<Found> {
    let dir = valid_run();
    let l = lines_of(dir.path(), 0);
    let start = start_ns(&l);
    let cut = (first_row(&l)..l.len())
        .find(|&i| time_of(&l[i]) >= start + at_ms * 1_000_000)
        .unwrap();
    let mut kept = l[..cut].to_vec();
    tail(&mut kept, start);
    write_lines(dir.path(), 0, &kept);
    violations(dir.path())
}

#[test]
fn a_machine_that_stopped_early_unnoticed_by_its_peers_is_caught() {
    // Died at 4 s (its supervisor's word), yet its peers tick on to 30 s naming no one.
    let v = cut_machine_0(4_000, |l, _| {
        l.push("# died: killed by SIGKILL (seen by its supervisor)".into())
    });
    assert_caught(
        &v,
        Rule::ByeStopsPeers,
        &["machine 0 had stopped by", "still ticked"],
    );
    // Ended `interrupted` at 20 s, its peers ticking on as if its `Bye` never came.
    let v = cut_machine_0(20_000, |l, start| {
        let clock = col(&l[l.len() - 1], 3).to_string();
        l.push(format!(
            "{},0,end,{clock},0,,,interrupted",
            start + 20_000_000_000
        ));
    });
    assert_caught(
        &v,
        Rule::ByeStopsPeers,
        &["machine 0 had stopped by", "still ticked"],
    );
    // Stalled every peer at 4.5 s: neither peer noticed its connection close.
    let v = cut_machine_0(4_500, |l, start| {
        let clock = col(&l[l.len() - 1], 3).to_string();
        l.push(format!(
            "{},0,end,{clock},0,,,every peer stalled",
            start + 4_502_000_000
        ));
    });
    assert_caught(
        &v,
        Rule::LostUnnoticed,
        &["while it ticked, yet every one of them ended without naming machine 0"],
    );
}

#[test]
fn time_up_beside_a_lost_peer_still_owes_every_deadline() {
    // Machine 2's ticks from 29 s on gone; its note names a peer lost beside `time up`.
    let v = plant(2, |l| {
        let start = start_ns(l);
        l.retain(|x| {
            !(matches!(col(x, 2), "recv" | "send" | "internal")
                && time_of(x) >= start + 29_000_000_000)
        });
        let e = l.len() - 1;
        l[e] = set_col(&l[e], 7, "peer 1 lost; time up");
    });
    assert_caught(
        &v,
        Rule::TimeUpTicks,
        &["machine-2.log", "ticks, expected one per deadline"],
    );
}

#[test]
fn a_queue_counting_messages_still_held_by_the_delay_is_caught() {
    // With a 500 ms delay a message enters the queue no sooner than 500 ms after its send.
    let dir = faulty_run(Some("500"), &[], &[]);
    let sends: Vec<u64> = (1..3)
        .flat_map(|i| {
            let l = lines_of(dir.path(), i);
            rows_of(&l, "send", None)
                .into_iter()
                .filter(|&k| col(&l[k], 5).split('+').any(|p| p == "0"))
                .map(|k| time_of(&l[k]))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut l = lines_of(dir.path(), 0);
    let recvs = rows_of(&l, "recv", None);
    // A receive where more messages had been sent than had passed the delay.
    let (n, i, room) = recvs
        .iter()
        .enumerate()
        .find_map(|(n, &i)| {
            let t = time_of(&l[i]);
            let sent = sends.iter().filter(|&&s| s <= t).count();
            let passed = sends.iter().filter(|&&s| s + 500_000_000 <= t).count();
            (sent > passed && sent > n + 1).then_some((n, i, sent - (n + 1)))
        })
        .unwrap();
    let _ = n;
    l[i] = set_col(&l[i], 4, &room.to_string());
    write_lines(dir.path(), 0, &l);
    assert_caught(
        &violations(dir.path()),
        Rule::QueueSent,
        &["machine-0.log", "had been sent to it by then"],
    );
}

#[test]
fn a_bye_count_mismatch_over_reliable_links_is_caught() {
    // Both numbers true to the logs, yet over reliable links the counts cannot differ.
    let v = end_note(2, "time up; bye count mismatch: peer 0 sent 2 received 2");
    assert_caught(&v, Rule::Note, &["end note"]);
    let v = end_note(2, "time up; bye count mismatch: peer 1 sent 999 received 1");
    assert_caught(
        &v,
        Rule::MismatchOverReliableLinks,
        &[
            "machine-2.log",
            "over reliable links every message sent before a `Bye`",
        ],
    );
}

// Live faults: a run whose machines took faults while it ran (`fault` rows, log v3).

/// Seconds after the start of a simulated run, as an instant.
fn at_s(ms: u64) -> lamport_core::UnixNanos {
    lamport_core::UnixNanos(lamport_host::sim::DEFAULT_START_UNIX_NS + ms * 1_000_000)
}

/// One live fault: at `ms` after the start, `machine` takes `live` (its note's text).
fn live_at(ms: u64, machine: u16, live: &str) -> lamport_core::sim::LiveAt {
    lamport_core::sim::LiveAt {
        at: at_s(ms),
        machine,
        live: lamport_core::live::Live::parse(live).unwrap(),
    }
}

/// The live faults of [`live_run`]: machine 1 paused from 5 s to 9 s, machines 0 and 2
/// cut from each other from 12 s to 18 s, a delay at machine 2 from 20 s to 24 s, and,
/// with `kill`, machine 1 killed at 27 s.
fn live_faults(kill: bool) -> Vec<lamport_core::sim::LiveAt> {
    let mut v = vec![
        live_at(5_000, 1, "pause"),
        live_at(9_000, 1, "resume"),
        live_at(12_000, 0, "partition 0/2"),
        live_at(12_000, 2, "partition 0/2"),
        live_at(18_000, 0, "heal"),
        live_at(18_000, 2, "heal"),
        live_at(20_000, 2, "delay 300:100"),
        live_at(24_000, 2, "delay 0"),
    ];
    if kill {
        v.push(live_at(27_000, 1, "kill"));
    }
    v
}

/// A 3-machine, 30 s run with the live faults of [`live_faults`], checked clean.
fn live_run(kill: bool) -> tempfile::TempDir {
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
    lamport_host::sim::simulate_live_to(&m, 0, &live_faults(kill), dir.path()).unwrap();
    let r = check_run(dir.path()).unwrap();
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    dir
}

/// Rewrites machine `id`'s log lines of a [`live_run`] with `f` and returns the
/// violations found.
fn plant_live(kill: bool, id: u16, f: impl FnOnce(&mut Vec<String>)) -> Vec<Found> {
    let dir = live_run(kill);
    let mut lines = lines_of(dir.path(), id);
    f(&mut lines);
    write_lines(dir.path(), id, &lines);
    violations(dir.path())
}

#[test]
fn a_clean_run_with_live_faults_passes() {
    for kill in [false, true] {
        let dir = live_run(kill);
        let l1 = lines_of(dir.path(), 1);
        assert_eq!(l1[0], "# lamport-lab log v3");
        assert!(
            l1.iter()
                .any(|l| l.contains(",fault,") && l.ends_with(",pause"))
        );
        assert_eq!(lines_of(dir.path(), 0)[0], "# lamport-lab log v3");
        if kill {
            assert!(l1.last().unwrap().ends_with(",killed"), "{l1:#?}");
        }
    }
}

/// The index of machine `id`'s `fault` row whose note is `note` (the `nth` such).
fn fault_row(l: &[String], note: &str, nth: usize) -> usize {
    l.iter()
        .enumerate()
        .filter(|(_, x)| col(x, 2) == "fault" && col(x, 7) == note)
        .nth(nth)
        .map(|(i, _)| i)
        .expect("fault row")
}

/// The `fault` row of machine `id` at `t` with `clock` and `note`.
fn a_fault_row(t: u64, id: u16, clock: &str, note: &str) -> String {
    format!("{t},{id},fault,{clock},0,,,{note}")
}

#[test]
fn a_v3_log_with_a_faults_line_is_read() {
    // Faults from the flags (a `# faults=` line) and live ones: v3 with four header lines.
    let params = RunParams {
        secs: 30,
        ..RunParams::new(7, 0)
    };
    let faults = lamport_host::args::fault_plan(
        Some("40:20"),
        &["2@3+2".into()],
        &["1/2@14+3".into()],
        &params,
    )
    .unwrap();
    let m = Model {
        params,
        pinned: vec![Some(2), Some(5), Some(6)],
        faults,
    };
    let dir = tempfile::tempdir().unwrap();
    lamport_host::sim::simulate_live_to(&m, 0, &live_faults(false), dir.path()).unwrap();
    let l = lines_of(dir.path(), 2);
    assert_eq!(l[0], "# lamport-lab log v3");
    assert!(l[2].starts_with("# faults=delay_ms=40:20"), "{}", l[2]);
    let r = check_run(dir.path()).unwrap();
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    assert!(r.clean_end());
}

#[test]
fn a_fault_row_in_a_v1_or_v2_log_or_a_v3_log_without_one_is_caught() {
    let v = plant_live(false, 1, |l| l[0] = "# lamport-lab log v1".into());
    assert_caught(
        &v,
        Rule::Version,
        &["machine-1.log:", "`fault` row in a v1 log"],
    );
    let v = plant(0, |l| l[0] = "# lamport-lab log v3".into());
    assert_caught(
        &v,
        Rule::Version,
        &["machine-0.log:1:", "without any `fault` row"],
    );
    // A v2 log (its faults line kept) with a fault row.
    let dir = faulty_run(Some("40"), &[], &[]);
    let mut l = lines_of(dir.path(), 0);
    let i = find(&l, "send", 1);
    let row = a_fault_row(time_of(&l[i]), 0, col(&l[i], 3), "delay 40");
    l.insert(i + 1, row);
    write_lines(dir.path(), 0, &l);
    assert_caught(
        &violations(dir.path()),
        Rule::Version,
        &["`fault` row in a v2 log"],
    );
}

#[test]
fn fault_rows_are_judged_as_the_node_writes_them() {
    // A note that is no live fault, or not as the node writes it.
    let v = plant_live(false, 1, |l| {
        let i = fault_row(l, "pause", 0);
        l[i] = set_col(&l[i], 7, "paws");
    });
    assert_caught(&v, Rule::FaultNote, &["fault note `paws`"]);
    let v = plant_live(false, 2, |l| {
        let i = fault_row(l, "delay 300:100", 0);
        l[i] = set_col(&l[i], 7, "delay 300.0:100");
    });
    assert_caught(&v, Rule::FaultNote, &["the node writes `delay 300:100`"]);
    // The clock is unchanged; no peer or msg_clock.
    let v = plant_live(false, 1, |l| {
        let i = fault_row(l, "pause", 0);
        let c: u64 = col(&l[i], 3).parse().unwrap();
        l[i] = set_col(&l[i], 3, &(c + 1).to_string());
    });
    assert_caught(&v, Rule::Clock, &["a fault does not change the clock"]);
    let v = plant_live(false, 1, |l| {
        let i = fault_row(l, "pause", 0);
        l[i] = set_col(&l[i], 5, "0");
    });
    assert_caught(&v, Rule::EmptyColumns, &["`fault` row with a peer"]);
}

#[test]
fn a_live_fault_the_machine_could_not_take_is_caught() {
    // Pause while paused (the `resume` made a second `pause`).
    let v = plant_live(false, 1, |l| {
        let i = fault_row(l, "resume", 0);
        l[i] = set_col(&l[i], 7, "pause");
    });
    assert_caught(&v, Rule::FaultState, &["`pause`", "paused already"]);
    // Resume while not paused.
    let v = plant_live(false, 1, |l| {
        let i = fault_row(l, "pause", 0);
        l[i] = set_col(&l[i], 7, "resume");
    });
    assert_caught(&v, Rule::FaultState, &["`resume`", "not paused"]);
    // A partition the machine is on neither side of.
    let v = plant_live(false, 1, |l| {
        let i = fault_row(l, "resume", 0);
        let row = set_col(&l[i], 7, "partition 0/2");
        l.insert(i + 1, row);
    });
    assert_caught(&v, Rule::FaultState, &["`partition 0/2`", "neither side"]);
    // A heal with no partition open.
    let v = plant_live(false, 0, |l| {
        let i = fault_row(l, "partition 0/2", 0);
        l[i] = set_col(&l[i], 7, "heal");
    });
    assert_caught(&v, Rule::FaultState, &["`heal`", "no partition is open"]);
    // A delay longer than the run.
    let v = plant_live(false, 2, |l| {
        let i = fault_row(l, "delay 300:100", 0);
        l[i] = set_col(&l[i], 7, "delay 31000");
    });
    assert_caught(&v, Rule::FaultState, &["longer than the run"]);
}

#[test]
fn a_fault_row_before_start_or_after_the_machine_stopped_is_caught() {
    // A fault row once the run's time is up (before the `end` row): the node refuses it,
    // its machine stopping at that instant.
    let v = plant_live(false, 1, |l| {
        let k = l
            .iter()
            .position(|r| matches!(r.split(',').nth(2), Some("unprocessed" | "end")))
            .unwrap();
        let row = a_fault_row(time_of(&l[k]), 1, col(&l[k], 3), "delay 10");
        l.insert(k, row);
    });
    assert_caught(&v, Rule::FaultWhen, &["at or after the run's end"]);
    let v = plant_live(false, 1, |l| {
        let i = first_row(l);
        let row = a_fault_row(time_of(&l[i]), 1, "0", "delay 10");
        l.insert(i, row);
    });
    assert_caught(&v, Rule::FaultWhen, &["`fault` row before `start`"]);
    let v = plant_live(true, 0, |l| {
        let i = find(l, "unprocessed", 0);
        let row = a_fault_row(time_of(&l[i]), 0, col(&l[i], 3), "delay 10");
        l.insert(i + 1, row);
    });
    assert_caught(&v, Rule::FaultWhen, &["after the machine stopped ticking"]);
}

#[test]
fn the_queue_of_a_fault_row_is_judged() {
    // More than the cap.
    let v = plant_live(false, 0, |l| {
        let i = fault_row(l, "partition 0/2", 0);
        l[i] = set_col(&l[i], 4, "1025");
    });
    assert_caught(
        &v,
        Rule::QueueCap,
        &["`fault` row with 1025 messages waiting"],
    );
    // More than had been sent to it, less those it took.
    let v = plant_live(false, 0, |l| {
        let i = fault_row(l, "heal", 0);
        l[i] = set_col(&l[i], 4, "200");
    });
    assert_caught(
        &v,
        Rule::QueueSent,
        &["a `fault` row at", "had been sent to it by then"],
    );
    // Shorter than the last receive left it: only a tick takes a message.
    let v = plant_live(false, 0, |l| {
        let i = fault_row(l, "heal", 0);
        let r = (0..i)
            .rev()
            .find(|&k| col(&l[k], 2) == "recv" || col(&l[k], 2) == "send")
            .unwrap();
        l[r] = set_col(&set_col(&l[r], 2, "recv"), 4, "7");
        l[r] = set_col(&l[r], 4, "7");
    });
    assert_caught(
        &v,
        Rule::TickTakesOne,
        &["at a `fault` row", "only a tick takes"],
    );
}

#[test]
fn ticks_are_owed_by_the_plan_the_fault_rows_make() {
    // The resume written a second later: machine 1 ticked from 9 s to 10 s while paused.
    let v = plant_live(false, 1, |l| {
        let i = fault_row(l, "resume", 0);
        let t = time_of(&l[i]) + 1_000_000_000;
        let row = set_col(&l[i], 0, &t.to_string());
        l.remove(i);
        let k = (i..l.len()).find(|&k| time_of(&l[k]) > t).unwrap();
        l.insert(k, row);
    });
    assert_caught(
        &v,
        Rule::ExtraTick,
        &["machine-1.log:", "it is paused since 5.000 s"],
    );
    // The resume written two seconds sooner: the ticks from 7 s to 9 s were owed.
    let v = plant_live(false, 1, |l| {
        let i = fault_row(l, "resume", 0);
        let t = time_of(&l[i]) - 2_000_000_000;
        l[i] = set_col(&l[i], 0, &t.to_string());
    });
    assert_caught(
        &v,
        Rule::TimeUpTicks,
        &["machine-1.log", "expected one per deadline"],
    );
    // No resume: the pause lasts to the end, and every later tick is one too many.
    let v = plant_live(false, 1, |l| {
        let i = fault_row(l, "resume", 0);
        l.remove(i);
    });
    assert_caught(
        &v,
        Rule::ExtraTick,
        &[
            "machine-1.log",
            "outside its pauses: it is paused since 5.000 s",
        ],
    );
}

#[test]
fn a_message_received_inside_a_live_partition_is_caught() {
    // Machine 2 never healed: what machine 0 sent it after 12 s was held to the end, yet
    // it was received.
    let v = plant_live(false, 2, |l| {
        let i = fault_row(l, "heal", 0);
        l.remove(i);
    });
    assert_caught(
        &v,
        Rule::Partition,
        &["machine-2.log", "from machine 0", "the end (never healed)"],
    );
    // Machine 0 healed later than it says, just after it took a message machine 2 sent
    // inside the partition: that message entered its queue inside it.
    let dir = live_run(false);
    let mut l = lines_of(dir.path(), 0);
    let i = fault_row(&l, "heal", 0);
    let row = l.remove(i);
    let k = (i..l.len())
        .find(|&k| col(&l[k], 2) == "recv" && col(&l[k], 5) == "2")
        .expect("a receive from machine 2 after the heal");
    let healed = time_of(&l[k]) + 1;
    l.insert(k + 1, set_col(&row, 0, &healed.to_string()));
    write_lines(dir.path(), 0, &l);
    assert_caught(
        &violations(dir.path()),
        Rule::Partition,
        &["machine-0.log", "from machine 2", "before it healed"],
    );
}

#[test]
fn a_message_received_sooner_than_a_live_delay_is_caught() {
    // Machine 2 says the delay it set at 20 s was 2 s: its receives within 2 s of their
    // sends came too soon.
    let v = plant_live(false, 2, |l| {
        let i = fault_row(l, "delay 300:100", 0);
        l[i] = set_col(&l[i], 7, "delay 2000");
    });
    assert_caught(
        &v,
        Rule::Delay,
        &[
            "machine-2.log",
            "at machine 2 it could enter its queue only 2000.000 ms after",
        ],
    );
}

#[test]
fn a_queue_counting_messages_still_held_by_a_live_delay_is_caught() {
    // From 20 s machine 2's messages wait 300 ms: a receive then leaves at most those sent
    // 300 ms before it waiting.
    let dir = live_run(false);
    let (from, to) = (20_000_000_000u64, 24_000_000_000u64);
    let sends: Vec<u64> = [0u16, 1]
        .into_iter()
        .flat_map(|i| {
            let l = lines_of(dir.path(), i);
            rows_of(&l, "send", None)
                .into_iter()
                .filter(|&k| col(&l[k], 5).split('+').any(|p| p == "2"))
                .map(|k| time_of(&l[k]))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut l = lines_of(dir.path(), 2);
    let start = start_ns(&l);
    let recvs = rows_of(&l, "recv", None);
    let (i, room) = recvs
        .iter()
        .enumerate()
        .find_map(|(n, &i)| {
            let t = time_of(&l[i]);
            let inside = (start + from + 300_000_000..start + to).contains(&t);
            let sent = sends.iter().filter(|&&s| s <= t).count();
            let passed = sends
                .iter()
                .filter(|&&s| s + if s >= start + from { 300_000_000 } else { 0 } <= t)
                .count();
            (inside && sent > passed && sent > n + 1).then_some((i, sent - (n + 1)))
        })
        .expect("a receive with a message still held by the delay");
    l[i] = set_col(&l[i], 4, &room.to_string());
    write_lines(dir.path(), 2, &l);
    assert_caught(
        &violations(dir.path()),
        Rule::QueueSent,
        &["machine-2.log", "had been sent to it by then"],
    );
}

#[test]
fn a_kill_is_judged() {
    // A tick after the kill.
    let v = plant_live(true, 1, |l| {
        let i = fault_row(l, "kill", 0);
        let c: u64 = col(&l[i], 3).parse().unwrap();
        let row = format!("{},1,internal,{},0,,,", time_of(&l[i]), c + 1);
        l.insert(i + 1, row);
    });
    assert_caught(
        &v,
        Rule::Kill,
        &["machine-1.log", "`internal` tick after `kill`"],
    );
    // A fault row after the kill.
    let v = plant_live(true, 1, |l| {
        let i = fault_row(l, "kill", 0);
        let row = set_col(&l[i], 7, "delay 10");
        l.insert(i + 1, row);
    });
    assert_caught(&v, Rule::Kill, &["`fault` row after `kill`"]);
    // The end a millisecond after the kill.
    let v = plant_live(true, 1, |l| {
        let i = l.len() - 1;
        l[i] = set_col(&l[i], 0, &(time_of(&l[i]) + 1_000_000).to_string());
    });
    assert_caught(&v, Rule::Kill, &["`end` row at", "was killed at"]);
    // A killed machine names no one.
    let v = plant_live(true, 1, |l| {
        let i = l.len() - 1;
        l[i] = set_col(&l[i], 7, "peer 0 lost; killed");
    });
    assert_caught(
        &v,
        Rule::Kill,
        &["`end` note `peer 0 lost; killed` after `kill`"],
    );
    // `killed` without a kill row.
    let v = plant_live(true, 1, |l| {
        let i = fault_row(l, "kill", 0);
        l.remove(i);
    });
    assert_caught(&v, Rule::Kill, &["no `kill` row came before it"]);
    // A kill without its leftovers and its `end` (the peers naming it lost would excuse a
    // crash, not a kill: a kill logs them at once).
    let v = plant_live(true, 1, |l| {
        let i = fault_row(l, "kill", 0);
        l.truncate(i + 1);
    });
    assert_caught(&v, Rule::Kill, &["a `kill` row without its `end` row"]);
    // What was sent to a killed machine is judged as a prefix: its last leftover gone is
    // no violation (sent less than the lateness bound before the kill, it may have been
    // in flight; see a_killed_machine_losing_what_it_held_is_caught), one gone in the
    // middle of its receives is.
    let v = plant_live(true, 1, |l| {
        let n = l.len();
        let gone = l.remove(n - 2);
        assert_eq!(col(&gone, 2), "unprocessed");
        let k = l.len() - 1;
        l[k] = set_col(&l[k], 4, "0");
        l[k - 1] = set_col(&l[k - 1], 4, "0");
    });
    assert!(v.is_empty(), "{v:#?}");
    let v = plant_live(true, 1, |l| {
        let i = find(l, "recv", 5);
        l.remove(i);
    });
    assert_caught(&v, Rule::ExactlyOnceFifo, &["a prefix was expected"]);
}

#[test]
fn a_peer_named_lost_before_it_was_killed_is_caught() {
    // Machine 1 killed a second later than machine 0 says it lost it.
    let dir = live_run(true);
    let mut l = lines_of(dir.path(), 1);
    let i = fault_row(&l, "kill", 0);
    shift(&mut l, i, 1_000_000_000);
    write_lines(dir.path(), 1, &l);
    assert_caught(
        &violations(dir.path()),
        Rule::KilledPeer,
        &["machine-0.log", "names peer 1 lost by", "killed only at"],
    );
}

#[test]
fn a_run_in_progress_may_hold_a_fault_row_before_its_v3_line() {
    // A host writes the row, then rewrites the first line: in between, a reader sees a v1
    // log with a fault row. While the run is being written that is no violation; once it
    // is done, it is.
    let dir = live_run(false);
    let mut l = lines_of(dir.path(), 1);
    l[0] = "# lamport-lab log v1".into();
    let i = fault_row(&l, "resume", 0);
    l.truncate(i + 1);
    write_lines(dir.path(), 1, &l);
    let opts = lamport_host::check::CheckOptions::default();
    {
        let _mark = lamport_host::folder::Writing::mark(dir.path(), "host-unix").unwrap();
        let f = lamport_host::check::check_folder(dir.path(), &opts).unwrap();
        assert!(f.in_progress);
        let v: Vec<_> = f.report.violations.iter().map(|v| v.rule).collect();
        assert!(!v.contains(&Rule::Version), "{:#?}", f.report.violations);
    }
    let f = lamport_host::check::check_folder(dir.path(), &opts).unwrap();
    assert!(!f.in_progress);
    let v: Vec<Found> = f
        .report
        .violations
        .iter()
        .map(|v| (v.rule, v.to_string()))
        .collect();
    assert_caught(&v, Rule::Version, &["`fault` row in a v1 log"]);
}

/// A 3-machine run of `secs` seconds (rates 2, 5 and 6) with the live faults `live`,
/// checked clean.
fn live_run_with(secs: u64, live: &[lamport_core::sim::LiveAt]) -> tempfile::TempDir {
    let params = RunParams {
        secs,
        ..RunParams::new(7, 0)
    };
    let m = Model {
        params,
        pinned: vec![Some(2), Some(5), Some(6)],
        faults: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    lamport_host::sim::simulate_live_to(&m, 0, live, dir.path()).unwrap();
    let r = check_run(dir.path()).unwrap();
    assert!(r.violations.is_empty(), "{:#?}", r.violations);
    dir
}

#[test]
fn peers_that_never_notice_a_kill_are_caught() {
    // A valid run in which machine 2 is paused from 4.5 s to the end of a 12 s run: it
    // does nothing more, as if it had died then. Forged: machine 2 killed at 4.5 s (its
    // `pause` row a `kill`, its queue then `unprocessed`, `end` noting `killed`), while
    // machines 0 and 1 tick on to 12 s and end `time up`, never seeing its connection
    // close.
    let dir = live_run_with(12, &[live_at(4_500, 2, "pause")]);
    let mut l = lines_of(dir.path(), 2);
    let i = fault_row(&l, "pause", 0);
    let (t, clock) = (time_of(&l[i]), col(&l[i], 3).to_string());
    let q: usize = col(&l[i], 4).parse().unwrap();
    let u = find(&l, "unprocessed", 0);
    let queued: Vec<String> = l[u..u + q]
        .iter()
        .map(|r| set_col(r, 0, &t.to_string()))
        .collect();
    l[i] = set_col(&l[i], 7, "kill");
    l.truncate(i + 1);
    l.extend(queued);
    l.push(format!("{t},2,end,{clock},{q},,,killed"));
    write_lines(dir.path(), 2, &l);
    let v = violations(dir.path());
    for m in ["machine-0.log", "machine-1.log"] {
        assert_caught(
            &v,
            Rule::KillUnnoticed,
            &[m, "without naming machine 2 lost", "killed at 4.500 s"],
        );
        assert_caught(
            &v,
            Rule::KillStopsPeers,
            &[m, "still ticked", "machine 2 was killed at 4.500 s"],
        );
    }
    // Naming it lost at 12 s, beside `time up` or alone, still ticking until then.
    for note in ["peer 2 lost; time up", "peer 2 lost"] {
        let mut l = lines_of(dir.path(), 0);
        let e = l.len() - 1;
        l[e] = set_col(&l[e], 7, note);
        write_lines(dir.path(), 0, &l);
        let v = violations(dir.path());
        assert!(
            !v.iter()
                .any(|(r, s)| *r == Rule::KillUnnoticed && s.contains("machine-0.log")),
            "{v:#?}"
        );
        assert_caught(
            &v,
            Rule::KillStopsPeers,
            &["machine-0.log", "still ticked", "at 11."],
        );
    }
}

#[test]
fn a_killed_machine_losing_what_it_held_is_caught() {
    // Machine 1 paused from 1 s and killed at 8 s; machines 0 and 2 send nothing after
    // 6 s (paused too): all that machine 1 holds at its kill was sent more than the
    // lateness bound before it, and is `unprocessed` there.
    let live = [
        live_at(1_000, 1, "pause"),
        live_at(6_000, 0, "pause"),
        live_at(6_000, 2, "pause"),
        live_at(8_000, 1, "kill"),
    ];
    let dir = live_run_with(30, &live);
    let base = lines_of(dir.path(), 1);
    let n = base.len();
    assert!(
        col(&base[n - 3], 2) == "unprocessed" && col(&base[n - 2], 2) == "unprocessed",
        "{base:#?}"
    );
    // Its last two leftovers gone, the counts made to agree (the kill's queue 0, as if
    // they had been held): the messages were sent long before the kill.
    let mut l = base.clone();
    l.drain(n - 3..n - 1);
    let e = l.len() - 1;
    let left = col(&l[e - 1], 4).to_string();
    l[e] = set_col(&l[e], 4, &left);
    let k = fault_row(&l, "kill", 0);
    l[k] = set_col(&l[k], 4, "0");
    write_lines(dir.path(), 1, &l);
    assert_caught(
        &violations(dir.path()),
        Rule::KillKeepsMessages,
        &[
            "machine-1.log",
            "killed at",
            "more than the lateness bound before then",
        ],
    );
    // The kill's queue kept: fewer leftovers than it held.
    let mut l = base;
    l.drain(n - 3..n - 1);
    let e = l.len() - 1;
    let left = col(&l[e - 1], 4).to_string();
    l[e] = set_col(&l[e], 4, &left);
    write_lines(dir.path(), 1, &l);
    assert_caught(
        &violations(dir.path()),
        Rule::QueueLeftovers,
        &[
            "machine-1.log",
            "every queued message is an `unprocessed` row",
        ],
    );
}

/// An `internal` tick of machine 1 at least `after_ms` into [`live_run`] (without the
/// kill) and its time, such that `f(t)` is `Some`.
fn internal_tick_of_1<T>(after_ms: u64, mut f: impl FnMut(u64) -> Option<T>) -> T {
    let dir = live_run(false);
    let l = lines_of(dir.path(), 1);
    rows_of(&l, "internal", None)
        .into_iter()
        .map(|i| time_of(&l[i]))
        .filter(|&t| t >= at_s(after_ms).0)
        .find_map(&mut f)
        .expect("an internal tick that fits")
}

#[test]
fn ticks_due_before_a_fault_are_caught() {
    // A kill 100 ms after an internal tick of machine 1 (rate 5: its next deadline comes
    // 200 ms after); that tick deleted, so the kill came with a deadline before it
    // unticked.
    let (dir, t) = internal_tick_of_1(10_000, |t| {
        let mut live = live_faults(false);
        let ms = (t - at_s(0).0) / 1_000_000 + 100;
        live.push(live_at(ms, 1, "kill"));
        live.sort_by_key(|l| l.at);
        Some((live_run_with(30, &live), t))
    });
    let mut l = lines_of(dir.path(), 1);
    let i = (first_row(&l)..l.len())
        .find(|&i| time_of(&l[i]) == t && col(&l[i], 2) == "internal")
        .unwrap();
    let clock = col(&l[i - 1], 3).to_string();
    assert_eq!(col(&l[i + 1], 7), "kill");
    l.remove(i);
    for r in l.iter_mut().skip(i) {
        *r = set_col(r, 3, &clock);
    }
    write_lines(dir.path(), 1, &l);
    assert_caught(
        &violations(dir.path()),
        Rule::DueBeforeFault,
        &[
            "machine-1.log",
            "`kill` at",
            "deadlines before it were owed",
        ],
    );
    // A pause 100 ms after an internal tick with nothing queued; the tick written after
    // the `pause` row, at its instant: due before the pause, it came after it.
    let (dir, t) = internal_tick_of_1(10_000, |t| {
        let mut live = live_faults(false);
        let ms = (t - at_s(0).0) / 1_000_000 + 100;
        live.push(live_at(ms, 1, "pause"));
        live.push(live_at(ms + 1_000, 1, "resume"));
        live.sort_by_key(|l| l.at);
        let dir = live_run_with(30, &live);
        let l = lines_of(dir.path(), 1);
        let p = fault_row(&l, "pause", 1);
        (col(&l[p], 4) == "0" && time_of(&l[p - 1]) == t).then_some((dir, t))
    });
    let mut l = lines_of(dir.path(), 1);
    let p = fault_row(&l, "pause", 1);
    let tick = l.remove(p - 1);
    let pause = p - 1;
    let paused_at = time_of(&l[pause]);
    l[pause] = set_col(&l[pause], 3, col(&l[pause - 1], 3));
    l.insert(pause + 1, set_col(&tick, 0, &paused_at.to_string()));
    assert!(t < paused_at);
    write_lines(dir.path(), 1, &l);
    assert_caught(
        &violations(dir.path()),
        Rule::DueBeforeFault,
        &["machine-1.log", "comes after a `fault` row at"],
    );
}

#[test]
fn a_partition_naming_a_machine_the_run_lacks_is_caught() {
    let v = plant_live(false, 0, |l| {
        let i = fault_row(l, "partition 0/2", 0);
        l[i] = set_col(&l[i], 7, "partition 0/1+2+7");
    });
    assert_caught(
        &v,
        Rule::FaultNote,
        &["machine-0.log", "names machine 7", "3 machines"],
    );
}

#[test]
fn a_faults_line_that_states_no_fault_is_caught() {
    let dir = faulty_run(Some("40"), &[], &[]);
    reopen(dir.path(), with_faults(""));
    assert_caught(
        &violations(dir.path()),
        Rule::Version,
        &["machine-0.log:3:", "states no fault"],
    );
}

/// What a killed machine sent long before its kill reached its peers: a peer that held it
/// (a partition) logs it `unprocessed` when it stops. Forged: machine 0's leftovers from the
/// killed machine 1, held by a partition since 6 s, deleted (its other leftovers and its
/// `end` renumbered), which the prefix of a lost peer's messages alone would let pass.
#[test]
fn messages_a_killed_machine_sent_long_before_its_kill_are_judged_at_its_peers() {
    let dir = live_run_with(
        12,
        &[
            live_at(6_000, 0, "partition 0/1"),
            live_at(6_000, 1, "partition 0/1"),
            live_at(9_000, 1, "kill"),
        ],
    );
    let mut l = lines_of(dir.path(), 0);
    let held = l
        .iter()
        .filter(|r| col(r, 2) == "unprocessed" && col(r, 5) == "1")
        .count();
    assert!(
        held >= 2,
        "the partition held messages from machine 1: {l:#?}"
    );
    l.retain(|r| !(col(r, 2) == "unprocessed" && col(r, 5) == "1"));
    let mut n = 0;
    for r in l.iter_mut() {
        if col(r, 2) == "unprocessed" {
            n += 1;
            *r = set_col(r, 4, &n.to_string());
        }
    }
    let e = l.len() - 1;
    l[e] = set_col(&l[e], 4, &n.to_string());
    write_lines(dir.path(), 0, &l);
    let v = violations(dir.path());
    assert_caught(
        &v,
        Rule::KillKeepsMessages,
        &["machine-0.log", "messages from machine 1 logged"],
    );
}

/// The `# clock=` lines of a three-machine host-tcp run whose clocks are 3 s apart each
/// (machine 1 at +3 s from machine 0, machine 2 at +5 s), measured within 20-40 µs.
fn clocks() -> [String; 3] {
    [
        "# clock=to_common:0 1:3000000100/20000 2:5000000000/30000".into(),
        "# clock=to_common:-3000000050 0:-3000000050/20000 2:2000000010/25000".into(),
        "# clock=to_common:-5000000020 0:-5000000020/30000 1:-2000000000/25000".into(),
    ]
}

/// Puts `lines[id]` (none: no clock line) in each log's header, before the columns.
fn with_clocks(dir: &Path, lines: [Option<String>; 3]) {
    for (id, line) in lines.into_iter().enumerate() {
        let path = dir.join(format!("machine-{id}.log"));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out: Vec<String> = text.lines().map(String::from).collect();
        let cols = out.iter().position(|l| l.starts_with("unix_ns,")).unwrap();
        if let Some(l) = line {
            out.insert(cols, l);
        }
        std::fs::write(&path, out.join("\n") + "\n").unwrap();
    }
}

#[test]
fn offsets_that_agree_pass() {
    let dir = valid_run();
    with_clocks(dir.path(), clocks().map(Some));
    let v = violations(dir.path());
    assert!(v.is_empty(), "{v:#?}");
}

#[test]
fn offsets_two_machines_disagree_on_are_caught() {
    let dir = valid_run();
    let mut c = clocks().map(Some);
    // Machine 2 says machine 1 is 2.01 s behind it; machine 1 measured 2.00 s.
    c[2] = Some("# clock=to_common:-5000000020 0:-5000000020/30000 1:-2010000000/25000".into());
    with_clocks(dir.path(), c);
    assert_caught(
        &violations(dir.path()),
        Rule::Offsets,
        &["machine 1 measured machine 2's clock", "9999990 ns apart"],
    );
}

#[test]
fn a_timeline_that_is_not_the_offset_to_machine_0_is_caught() {
    let dir = valid_run();
    let mut c = clocks().map(Some);
    c[1] = Some("# clock=to_common:0 0:-3000000050/20000 2:2000000010/25000".into());
    with_clocks(dir.path(), c);
    assert_caught(
        &violations(dir.path()),
        Rule::Offsets,
        &["to_common:0 is not the offset measured to machine 0 (-3000000050)"],
    );
}

#[test]
fn a_log_without_its_clock_line_among_logs_with_one_is_caught() {
    let dir = valid_run();
    let [a, _, c] = clocks().map(Some);
    with_clocks(dir.path(), [a, None, c]);
    assert_caught(
        &violations(dir.path()),
        Rule::Offsets,
        &["machine 1", "no `# clock=` line"],
    );
}

#[test]
fn a_bad_clock_line_is_an_error_naming_file_and_line() {
    let dir = valid_run();
    let [a, _, c] = clocks().map(Some);
    with_clocks(dir.path(), [a, Some("# clock=to_common:0 1:5/x".into()), c]);
    let e = check_run(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("machine-1.log:3") && e.contains("`1:5/x`"),
        "{e}"
    );
}

#[test]
fn a_clock_line_that_leaves_a_machine_out_is_caught() {
    // Machines 1 and 2 both leave their pair out: no one-sided omission to catch.
    let dir = valid_run();
    let [a, _, _] = clocks().map(Some);
    with_clocks(
        dir.path(),
        [
            a,
            Some("# clock=to_common:-3000000050 0:-3000000050/20000".into()),
            Some("# clock=to_common:-5000000020 0:-5000000020/30000".into()),
        ],
    );
    assert_caught(
        &violations(dir.path()),
        Rule::Offsets,
        &["machine 1", "names 1 of the 2 other machines"],
    );
}

#[test]
fn an_error_bound_the_handshake_would_not_keep_is_caught() {
    let dir = valid_run();
    let mut c = clocks().map(Some);
    c[2] = Some(
        "# clock=to_common:-5000000020 0:-5000000020/99999999999999 1:-2000000000/25000".into(),
    );
    c[0] = Some("# clock=to_common:0 1:3000000100/20000 2:5000000000/99999999999999".into());
    with_clocks(dir.path(), c);
    assert_caught(
        &violations(dir.path()),
        Rule::Offsets,
        &[
            "machine 2",
            "within 99999999999999 ns: more than the 1000000000 ns",
        ],
    );
}

#[test]
fn clock_lines_removed_from_every_log_of_a_measured_run_are_caught() {
    // A one-process-per-machine run whose run file states machine 1's offset: removing
    // every `# clock=` line (all or none would pass) is caught.
    let dir = valid_run();
    std::fs::write(
        dir.path().join("run-1.json"),
        r#"{"clock": {"to_common_ns": -3000000050, "start_mono_ns": 1}}"#,
    )
    .unwrap();
    assert_caught(
        &violations(dir.path()),
        Rule::Offsets,
        &["machine 1", "its run file states its offset"],
    );
}

#[test]
fn offsets_that_do_not_add_up_through_machine_0_are_caught() {
    // Each pair opposite, but 1.5 s out of line around the triangle (an outside tester's
    // forgery).
    let dir = valid_run();
    with_clocks(
        dir.path(),
        [
            Some("# clock=to_common:0 1:500000000/1000 2:-500000000/1000".into()),
            Some("# clock=to_common:-500000000 0:-500000000/1000 2:500000000/1000".into()),
            Some("# clock=to_common:500000000 0:500000000/1000 1:-500000000/1000".into()),
        ],
    );
    assert_caught(
        &violations(dir.path()),
        Rule::Offsets,
        &[
            "machine 1 measured machine 2's clock at +500000000 ns, but their offsets to machine 0 put it at -1000000000 ns",
        ],
    );
}

#[test]
fn a_clock_line_that_contradicts_its_run_file_is_caught() {
    let dir = valid_run();
    with_clocks(dir.path(), clocks().map(Some));
    std::fs::write(
        dir.path().join("run-1.json"),
        r#"{"clock": {"to_common_ns": 123456789, "start_mono_ns": 1}}"#,
    )
    .unwrap();
    assert_caught(
        &violations(dir.path()),
        Rule::Offsets,
        &["to_common:-3000000050 is not the offset its run-1.json states (123456789)"],
    );
}

/// Machine `id`'s header in `dir` with its seed set to `seed`.
fn with_seed(dir: &Path, id: u16, seed: u64) {
    let path = dir.join(format!("machine-{id}.log"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out: Vec<String> = text.lines().map(String::from).collect();
    out[1] = out[1]
        .split(' ')
        .map(|w| match w.strip_prefix("seed=") {
            Some(_) => format!("seed={seed}"),
            None => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    assert!(out[1].contains(&format!("seed={seed}")), "{}", out[1]);
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
}

#[test]
fn a_measured_run_with_a_seed_per_machine_is_caught() {
    // The handshake agrees on machine 0's seed: a one-process-per-machine run's headers
    // (they carry `# clock=` lines) state one seed.
    let dir = valid_run();
    with_clocks(dir.path(), clocks().map(Some));
    with_seed(dir.path(), 2, 8);
    assert_caught(
        &violations(dir.path()),
        Rule::SameParameters,
        &[
            "machine-2.log",
            "run parameters differ from machine 0's: seed",
        ],
    );
}

#[test]
fn a_run_of_one_host_with_a_seed_per_machine_is_caught() {
    let dir = valid_run();
    with_seed(dir.path(), 1, 9);
    assert_caught(
        &violations(dir.path()),
        Rule::SameParameters,
        &["machine-1.log", "seed"],
    );
}

#[test]
fn a_one_process_run_from_before_the_seed_was_agreed_keeps_a_seed_per_process() {
    // No `# clock=` lines, and a run-0.json that knows only machine 0's rate: each process
    // drew its own seed.
    let dir = valid_run();
    std::fs::write(
        dir.path().join("run-0.json"),
        r#"{"rates": [2, null, null]}"#,
    )
    .unwrap();
    with_seed(dir.path(), 2, 8);
    let v = violations(dir.path());
    assert!(!v.iter().any(|(r, _)| *r == Rule::SameParameters), "{v:#?}");
}

#[test]
fn a_run_file_that_only_claims_to_be_a_process_s_does_not_excuse_two_seeds() {
    // A run-0.json beside the logs is not enough: only one that knows machine 0's rate
    // alone is from a run whose processes drew their own seeds.
    let dir = valid_run();
    std::fs::write(dir.path().join("run-0.json"), r#"{"rates": [2, 5, 6]}"#).unwrap();
    with_seed(dir.path(), 2, 8);
    assert_caught(
        &violations(dir.path()),
        Rule::SameParameters,
        &["machine-2.log", "seed"],
    );
}
