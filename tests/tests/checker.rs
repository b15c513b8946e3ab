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
    // Truncated last line.
    let path0 = dir.path().join("machine-0.log");
    let t0 = std::fs::read_to_string(&path0).unwrap();
    std::fs::write(&path0, &t0[..t0.len() - 3]).unwrap();
    let err = format!("{:#}", check_run(dir.path()).unwrap_err());
    assert!(
        err.contains("machine-0.log:") && err.contains("truncated"),
        "{err}"
    );
    // Unknown version.
    std::fs::write(&path0, t0.replacen("log v1", "log v9", 1)).unwrap();
    let err = format!("{:#}", check_run(dir.path()).unwrap_err());
    assert!(err.contains("machine-0.log:1"), "{err}");
    // Missing folder; folder without logs.
    assert!(check_run(&dir.path().join("nope")).is_err());
    let empty = tempfile::tempdir().unwrap();
    assert!(format!("{:#}", check_run(empty.path()).unwrap_err()).contains("no machine logs"));
}
