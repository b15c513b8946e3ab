//! Causality from the logs alone: match each receive to its send (by sender, receiver and
//! clock; a sender's clocks strictly increase, so the match is unique), compute a vector
//! clock for every tick event, and check Lamport's clock condition on every edge.

use anyhow::Result;
use lamport_core::record::{Kind, Peers, Record};
use lamport_host::check::{for_each_record, log_files};
use serde::Serialize;
use std::{collections::HashMap, fmt::Write as _, io::Write, path::Path};

/// What `lab hb` reports.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct HbReport {
    /// Tick events (send, receive, internal) in the run.
    pub events: u64,
    /// Happens-before edges checked: program order plus one per delivered message.
    pub edges: u64,
    /// Of those, message edges.
    pub message_edges: u64,
    /// Edges where the clock condition a -> b => L(a) < L(b) fails (should be 0).
    pub clock_condition_violations: u64,
    /// Pairs of events, E(E-1)/2.
    pub pairs: u128,
    /// Pairs ordered by happens-before.
    pub ordered_pairs: u128,
    /// Pairs that are concurrent.
    pub concurrent_pairs: u128,
    /// Concurrent pairs that Lamport's clocks nevertheless order (different values).
    pub concurrent_lamport_ordered: u128,
    /// Concurrent pairs with equal Lamport values (the only pairs Lamport leaves unordered).
    pub lamport_ties: u128,
    /// Events on the longest causal chain.
    pub longest_chain: u64,
}

/// One event in causal order, with its vector clock.
#[derive(Debug, Clone)]
pub struct VcEvent<'a> {
    /// Its machine.
    pub machine: u16,
    /// Its record.
    pub record: &'a Record,
    /// Its vector clock (one entry per machine).
    pub vc: &'a [u64],
}

/// A run's tick events per machine, with the file and line each came from.
struct Loaded {
    logs: Vec<Vec<Record>>,
    lines: Vec<Vec<usize>>,
    files: Vec<std::path::PathBuf>,
}

impl Loaded {
    /// An error of [`walk`] at the file and line of the event where it stopped.
    fn locate(&self, s: Stuck) -> anyhow::Error {
        let line = self.lines[s.machine].get(s.index).copied().unwrap_or(0);
        anyhow::anyhow!("{}:{line}: {s}", self.files[s.machine].display())
    }
}

fn load(dir: &Path) -> Result<Loaded> {
    let files = log_files(dir)?;
    let mut logs = Vec::new();
    let mut lines = Vec::new();
    for f in &files {
        let (mut v, mut l) = (Vec::new(), Vec::new());
        for_each_record(f, |n, _, rec| {
            if rec.kind.is_tick() {
                v.push(rec);
                l.push(n);
            }
        })?;
        logs.push(v);
        lines.push(l);
    }
    Ok(Loaded { logs, lines, files })
}

/// Where [`walk`] could not go on: machine `machine`'s tick event number `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stuck {
    /// The machine.
    pub machine: usize,
    /// Its tick event, counted from 0.
    pub index: usize,
    /// The event's clock.
    pub clock: u64,
    /// A receive without one sender (else: a receive with no matching send).
    pub no_sender: bool,
}

impl std::fmt::Display for Stuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.no_sender {
            write!(f, "machine {}: receive without a sender", self.machine)
        } else {
            write!(
                f,
                "machine {}: receive at clock {} has no matching send",
                self.machine, self.clock
            )
        }
    }
}

impl std::error::Error for Stuck {}

/// Walks the run's tick events in a causal order, calling `f` with each event's vector
/// clock. Fails if a receive has no matching send.
pub fn walk(
    logs: &[Vec<Record>],
    mut f: impl FnMut(VcEvent<'_>, u64),
) -> std::result::Result<(), Stuck> {
    let n = logs.len();
    let mut idx = vec![0usize; n];
    let mut vc: Vec<Vec<u64>> = vec![vec![0; n]; n];
    let mut chain = vec![0u64; n];
    // (from, to, clock) -> (vector clock, chain length) of the send.
    let mut sends: HashMap<(u16, u16, u64), (Vec<u64>, u64)> = HashMap::new();
    loop {
        let mut progress = false;
        for m in 0..n {
            while let Some(rec) = logs[m].get(idx[m]) {
                let mut len = chain[m] + 1;
                if rec.kind == Kind::Recv {
                    let (Peers::One(from), Some(c)) = (rec.peer, rec.msg_clock) else {
                        return Err(Stuck {
                            machine: m,
                            index: idx[m],
                            clock: rec.clock,
                            no_sender: true,
                        });
                    };
                    let Some((svc, slen)) = sends.remove(&(from, m as u16, c)) else {
                        break;
                    };
                    for (a, b) in vc[m].iter_mut().zip(&svc) {
                        *a = (*a).max(*b);
                    }
                    len = len.max(slen + 1);
                }
                vc[m][m] += 1;
                chain[m] = len;
                if rec.kind == Kind::Send {
                    for p in rec.peer.iter() {
                        sends.insert((m as u16, p, rec.clock), (vc[m].clone(), len));
                    }
                }
                f(
                    VcEvent {
                        machine: m as u16,
                        record: rec,
                        vc: &vc[m],
                    },
                    len,
                );
                idx[m] += 1;
                progress = true;
            }
        }
        if idx.iter().zip(logs).all(|(i, l)| *i == l.len()) {
            return Ok(());
        }
        if !progress {
            let m = (0..n).find(|&m| idx[m] < logs[m].len()).unwrap_or(0);
            return Err(Stuck {
                machine: m,
                index: idx[m],
                clock: logs[m][idx[m]].clock,
                no_sender: false,
            });
        }
    }
}

/// Rebuilds happens-before for a run folder and reports on it.
pub fn analyze(dir: &Path) -> Result<HbReport> {
    let l = load(dir)?;
    analyze_logs(&l.logs).map_err(|e| match e.downcast::<Stuck>() {
        Ok(s) => l.locate(s),
        Err(e) => e,
    })
}

/// [`analyze`] on records already loaded (tick events only, per machine in log order).
pub fn analyze_logs(logs: &[Vec<Record>]) -> Result<HbReport> {
    let mut r = HbReport::default();
    let mut last_clock: Vec<Option<u64>> = vec![None; logs.len()];
    let mut by_lamport: HashMap<u64, u64> = HashMap::new();
    // Lamport value of each send, to check message edges.
    let mut send_clock: HashMap<(u16, u16, u64), u64> = HashMap::new();
    walk(logs, |e, chain| {
        r.events += 1;
        let m = usize::from(e.machine);
        let l = e.record.clock;
        if let Some(prev) = last_clock[m] {
            r.edges += 1;
            if prev >= l {
                r.clock_condition_violations += 1;
            }
        }
        last_clock[m] = Some(l);
        if e.record.kind == Kind::Send {
            for p in e.record.peer.iter() {
                send_clock.insert((e.machine, p, l), l);
            }
        }
        if let (Kind::Recv, Peers::One(from), Some(c)) =
            (e.record.kind, e.record.peer, e.record.msg_clock)
        {
            r.edges += 1;
            r.message_edges += 1;
            if send_clock
                .remove(&(from, e.machine, c))
                .is_none_or(|ls| ls >= l)
            {
                r.clock_condition_violations += 1;
            }
        }
        r.ordered_pairs += u128::from(e.vc.iter().sum::<u64>() - 1);
        *by_lamport.entry(l).or_default() += 1;
        r.longest_chain = r.longest_chain.max(chain);
    })?;
    let e = u128::from(r.events);
    r.pairs = e * e.saturating_sub(1) / 2;
    r.concurrent_pairs = r.pairs - r.ordered_pairs;
    r.lamport_ties = by_lamport
        .values()
        .map(|&c| u128::from(c) * u128::from(c.saturating_sub(1)) / 2)
        .sum();
    r.concurrent_lamport_ordered = r.concurrent_pairs.saturating_sub(r.lamport_ties);
    Ok(r)
}

/// The report as Markdown.
pub fn markdown(r: &HbReport) -> String {
    let pct = |a: u128, b: u128| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let mut s = String::new();
    let _ = writeln!(s, "| quantity | value |");
    let _ = writeln!(s, "|---|---:|");
    let _ = writeln!(s, "| tick events | {} |", r.events);
    let _ = writeln!(
        s,
        "| happens-before edges checked (program order + messages) | {} ({} messages) |",
        r.edges, r.message_edges
    );
    let _ = writeln!(
        s,
        "| edges breaking the clock condition a -> b => L(a) < L(b) | {} |",
        r.clock_condition_violations
    );
    let _ = writeln!(s, "| pairs of events | {} |", r.pairs);
    let _ = writeln!(
        s,
        "| causally ordered pairs | {} ({:.1}%) |",
        r.ordered_pairs,
        pct(r.ordered_pairs, r.pairs)
    );
    let _ = writeln!(
        s,
        "| concurrent pairs | {} ({:.1}%) |",
        r.concurrent_pairs,
        pct(r.concurrent_pairs, r.pairs)
    );
    let _ = writeln!(
        s,
        "| concurrent pairs that Lamport clocks nevertheless order | {} ({:.1}% of concurrent) |",
        r.concurrent_lamport_ordered,
        pct(r.concurrent_lamport_ordered, r.concurrent_pairs)
    );
    let _ = writeln!(
        s,
        "| concurrent pairs with equal Lamport clocks | {} |",
        r.lamport_ties
    );
    let _ = writeln!(s, "| longest causal chain (events) | {} |", r.longest_chain);
    s
}

/// ShiViz's default parsing rule, the first line of [`shiviz`]'s file.
pub const SHIVIZ_RULE: &str = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})";

/// Writes the run for ShiViz: the parsing rule [`SHIVIZ_RULE`], an empty line (no
/// delimiter between executions), then per event a description line and `host {"host": n,
/// ...}` with its vector clock. ShiViz's "Choose File" reads the first line as the rule and
/// the second as the delimiter (`js/shiviz.js`, the `#file` change handler); pasted whole
/// into its log box, the two lines match no event and are skipped, with the rule typed in
/// the rule box.
pub fn shiviz(dir: &Path, out: &mut impl Write) -> Result<()> {
    let loaded = load(dir)?;
    writeln!(out, "{SHIVIZ_RULE}\n")?;
    let logs = &loaded.logs;
    let mut err = None;
    walk(logs, |e, _| {
        let r = e.record;
        let what = match r.kind {
            Kind::Send => format!("send clock={} to {}", r.clock, r.peer),
            Kind::Recv => format!(
                "recv clock={} from {} msg_clock={} queue={}",
                r.clock,
                r.peer,
                r.msg_clock.unwrap_or(0),
                r.queue
            ),
            _ => format!("internal clock={}", r.clock),
        };
        let entries: Vec<String> =
            e.vc.iter()
                .enumerate()
                .filter(|(_, v)| **v > 0)
                .map(|(i, v)| format!("\"m{i}\": {v}"))
                .collect();
        if let Err(x) = writeln!(out, "{what}\nm{} {{{}}}", e.machine, entries.join(", ")) {
            err.get_or_insert(x);
        }
    })
    .map_err(|s| loaded.locate(s))?;
    if let Some(e) = err {
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(line: &str) -> Record {
        Record::parse(line, 3).unwrap()
    }

    /// m0 sends to m1 (L=1); m1 internal (1) then receives (2); m2 internal twice (1, 2).
    #[test]
    fn known_small_run() {
        let logs = vec![
            vec![rec("1,0,send,1,0,1,1,")],
            vec![rec("1,1,internal,1,0,,,"), rec("2,1,recv,2,0,0,1,")],
            vec![rec("1,2,internal,1,0,,,"), rec("2,2,internal,2,0,,,")],
        ];
        let r = analyze_logs(&logs).unwrap();
        assert_eq!(r.events, 5);
        assert_eq!(r.pairs, 10);
        // Ordered: m1.int -> m1.recv, m0.send -> m1.recv, m2.a -> m2.b.
        assert_eq!(r.ordered_pairs, 3);
        assert_eq!(r.concurrent_pairs, 7);
        // Lamport ties: L=1 {send, m1.int, m2.a} = 3 pairs; L=2 {m1.recv, m2.b} = 1 pair.
        assert_eq!(r.lamport_ties, 4);
        assert_eq!(r.concurrent_lamport_ordered, 3);
        assert_eq!(r.longest_chain, 2);
        assert_eq!(r.clock_condition_violations, 0);
        assert_eq!(r.message_edges, 1);
    }

    #[test]
    fn receive_without_send_is_an_error() {
        let logs = vec![
            vec![rec("1,0,internal,1,0,,,")],
            vec![rec("2,1,recv,5,0,0,4,")],
            vec![],
        ];
        assert!(
            analyze_logs(&logs)
                .unwrap_err()
                .to_string()
                .contains("no matching send")
        );
    }
}
