//! No input makes lab panic: thousands of mutated run folders (flipped bytes, cut,
//! duplicated, deleted and swapped lines, edited headers, missing, empty and non-UTF-8
//! files) go to check, report, hb, shiviz, digest, table and view. Each must end cleanly: a
//! status (0 or 1) or one line of error naming the file (and the line, for a bad line);
//! and every mutation that changes a row's order, count or clock is caught by check.

use clap::Parser;
use lab::cmd::{Cli, run};
use lamport_core::RunParams;
use lamport_host::{args::Model, sim::simulate_to};
use proptest::prelude::*;
use std::{
    collections::BTreeMap,
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
    sync::OnceLock,
};

const SUBCOMMANDS: [&str; 7] = ["check", "report", "hb", "shiviz", "digest", "table", "view"];

/// The valid run a case starts from: three files' bytes; `faulty`, a run with a delay, a
/// pause and a partition (log format v2).
fn base(faulty: bool) -> &'static Vec<Vec<u8>> {
    static BASE: [OnceLock<Vec<Vec<u8>>>; 2] = [OnceLock::new(), OnceLock::new()];
    BASE[usize::from(faulty)].get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let faults = if faulty {
            lamport_core::faults::Plan::parse_line(
                "# faults=delay_ms=50:30 pause=1@2+1.5 partition=0/1,2@4+2",
            )
            .unwrap()
        } else {
            Default::default()
        };
        let m = Model {
            params: RunParams {
                secs: 8,
                ..RunParams::new(21, 0)
            },
            pinned: vec![Some(2), Some(4), Some(6)],
            faults,
        };
        simulate_to(&m, 0, dir.path()).unwrap();
        (0..3)
            .map(|i| std::fs::read(dir.path().join(format!("machine-{i}.log"))).unwrap())
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte { file: usize, at: usize, bit: u8 },
    Cut { file: usize, at: usize },
    DuplicateLine { file: usize, line: usize },
    DeleteLine { file: usize, line: usize },
    SwapLines { file: usize, line: usize },
    ClockDigit { file: usize, line: usize },
    EditHeader { file: usize, key: usize, value: u64 },
    RemoveFile { file: usize },
    EmptyFile { file: usize },
    NotUtf8 { file: usize, at: usize },
}

impl Mutation {
    /// True when the mutation changes the rows a machine logged (their count, order or
    /// clocks): check must not say "ok".
    fn breaks_a_rule(&self) -> bool {
        // (A clock edit on a line an earlier mutation garbled is skipped, but then that
        // line no longer parses: check still cannot say ok.)
        //
        // Swapped lines are left out: two rows of one instant may swap without breaking
        // a rule (two leftovers from two senders).
        matches!(
            self,
            Self::DuplicateLine { .. }
                | Self::DeleteLine { .. }
                | Self::ClockDigit { .. }
                | Self::RemoveFile { .. }
                | Self::EmptyFile { .. }
        )
    }
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    let file = 0usize..3;
    prop_oneof![
        (file.clone(), any::<usize>(), 0u8..8).prop_map(|(file, at, bit)| Mutation::FlipByte {
            file,
            at,
            bit
        }),
        (file.clone(), any::<usize>()).prop_map(|(file, at)| Mutation::Cut { file, at }),
        (file.clone(), any::<usize>())
            .prop_map(|(file, line)| Mutation::DuplicateLine { file, line }),
        (file.clone(), any::<usize>()).prop_map(|(file, line)| Mutation::DeleteLine { file, line }),
        (file.clone(), any::<usize>()).prop_map(|(file, line)| Mutation::SwapLines { file, line }),
        (file.clone(), any::<usize>()).prop_map(|(file, line)| Mutation::ClockDigit { file, line }),
        (
            file.clone(),
            0usize..9,
            prop_oneof![Just(0u64), Just(1), Just(2), Just(u64::MAX), any::<u64>()]
        )
            .prop_map(|(file, key, value)| Mutation::EditHeader { file, key, value }),
        file.clone().prop_map(|file| Mutation::RemoveFile { file }),
        file.clone().prop_map(|file| Mutation::EmptyFile { file }),
        (file, any::<usize>()).prop_map(|(file, at)| Mutation::NotUtf8 { file, at }),
    ]
}

/// Applies `m` to the files (`None`: removed). Data lines are lines 4.. (after the header).
fn apply(files: &mut [Option<Vec<u8>>], m: &Mutation) {
    let lines = |b: &[u8]| -> Vec<Vec<u8>> {
        b.split_inclusive(|&c| c == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    };
    let data_line = |n: usize, line: usize| 3 + line % n.saturating_sub(3).max(1);
    match *m {
        Mutation::FlipByte { file, at, bit } => {
            if let Some(b) = files[file].as_mut().filter(|b| !b.is_empty()) {
                let i = at % b.len();
                b[i] ^= 1 << bit;
            }
        }
        Mutation::Cut { file, at } => {
            if let Some(b) = files[file].as_mut() {
                let len = b.len();
                b.truncate(at % (len + 1));
            }
        }
        Mutation::DuplicateLine { file, line }
        | Mutation::DeleteLine { file, line }
        | Mutation::SwapLines { file, line }
        | Mutation::ClockDigit { file, line } => {
            let Some(b) = files[file].as_mut() else {
                return;
            };
            let mut ls = lines(b);
            if ls.len() < 5 {
                return;
            }
            let i = data_line(ls.len(), line).min(ls.len() - 1);
            match m {
                Mutation::DuplicateLine { .. } => {
                    let l = ls[i].clone();
                    ls.insert(i, l);
                }
                Mutation::DeleteLine { .. } => {
                    ls.remove(i);
                }
                Mutation::SwapLines { .. } => {
                    let j = if i + 1 < ls.len() { i + 1 } else { i - 1 };
                    ls.swap(i, j.max(3));
                }
                _ => {
                    // A clock that is already garbage (an earlier mutation) is left alone.
                    let text = String::from_utf8_lossy(&ls[i]).into_owned();
                    let mut cols: Vec<String> =
                        text.trim_end().split(',').map(String::from).collect();
                    if let Some(clock) = cols.get(3).and_then(|c| c.parse::<u64>().ok()) {
                        cols[3] = clock.wrapping_add(1 + (line % 7) as u64).to_string();
                        ls[i] = (cols.join(",") + "\n").into_bytes();
                    }
                }
            }
            *b = ls.concat();
        }
        Mutation::EditHeader { file, key, value } => {
            let Some(b) = files[file].as_mut() else {
                return;
            };
            let mut ls = lines(b);
            if ls.len() < 2 {
                return;
            }
            let keys = lamport_core::Header::KEYS;
            let text = String::from_utf8_lossy(&ls[1]).into_owned();
            let edited: Vec<String> = text
                .trim_end()
                .split(' ')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k == keys[key] => format!("{k}={value}"),
                    _ => kv.to_string(),
                })
                .collect();
            ls[1] = (edited.join(" ") + "\n").into_bytes();
            *b = ls.concat();
        }
        Mutation::RemoveFile { file } => files[file] = None,
        Mutation::EmptyFile { file } => files[file] = Some(Vec::new()),
        Mutation::NotUtf8 { file, at } => {
            if let Some(b) = files[file].as_mut().filter(|b| !b.is_empty()) {
                let i = at % b.len();
                b[i] = 0xff;
            }
        }
    }
}

/// Runs `lab <sub> <dir>` in-process; returns the status, or the one-line error.
fn lab(sub: &str, dir: &Path) -> Result<Result<u8, String>, String> {
    let cli = Cli::try_parse_from(["lab", sub, dir.to_str().unwrap()]).unwrap();
    catch_unwind(AssertUnwindSafe(|| {
        if sub == "shiviz" {
            // `lab shiviz` writes straight to stdout, past the test's capture: the same
            // export into a sink.
            return lab::hb::shiviz(dir, &mut std::io::sink())
                .map(|()| 0)
                .map_err(|e| format!("{e:#}"));
        }
        run(cli).map_err(|e| format!("{e:#}"))
    }))
    .map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// 2,000 cases of one to three mutations each; prints how many cases each subcommand
/// rejected (status 1 or an error).
#[test]
fn no_mutated_run_makes_lab_panic() {
    // lab prints past the test's capture; 2,000 cases would print 50,000 lines.
    lamport_host::out::discard();
    let tally: std::cell::RefCell<BTreeMap<&str, (u64, u64)>> = Default::default();
    let config = ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let cases = (
        any::<bool>(),
        proptest::collection::vec(arb_mutation(), 1..4),
    );
    let result = runner.run(&cases, |(faulty, ms)| {
        let mut files: Vec<Option<Vec<u8>>> = base(faulty).iter().cloned().map(Some).collect();
        for m in &ms {
            apply(&mut files, m);
        }
        let dir = tempfile::tempdir().unwrap();
        for (i, f) in files.iter().enumerate() {
            if let Some(b) = f {
                std::fs::write(dir.path().join(format!("machine-{i}.log")), b).unwrap();
            }
        }
        for sub in SUBCOMMANDS {
            let out = lab(sub, dir.path()).map_err(|p| {
                TestCaseError::fail(format!("lab {sub} panicked: {p} after {ms:?}"))
            })?;
            if let Err(e) = &out {
                prop_assert!(!e.contains('\n'), "lab {}: more than one line: {}", sub, e);
                prop_assert!(
                    e.contains("machine-")
                        || e.contains("no such run folder")
                        || e.contains("no machine logs"),
                    "lab {}: the error names no file: {}",
                    sub,
                    e
                );
            }
            // Mutations can cancel out (a line duplicated, then the copy deleted): only a
            // changed run must be caught.
            let changed = files
                .iter()
                .zip(base(faulty))
                .any(|(f, b)| f.as_deref() != Some(b.as_slice()));
            if sub == "check" && changed && ms.iter().any(Mutation::breaks_a_rule) {
                prop_assert!(out != Ok(0), "check said ok after {:?}", ms);
            }
            let mut t = tally.borrow_mut();
            let e = t.entry(sub).or_default();
            e.0 += 1;
            e.1 += u64::from(out != Ok(0));
        }
        Ok(())
    });
    for (sub, (cases, rejected)) in tally.borrow().iter() {
        eprintln!("fuzz: lab {sub}: {cases} cases, {rejected} rejected");
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}
