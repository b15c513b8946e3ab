//! The log checker: the one place that decides whether a run's logs obey the model.
//!
//! Rules, per machine: the file opens with the v1 header; `start` at clock 0 comes first;
//! each tick follows the clock rules (internal and send `+1`, receive `max + 1`), a send
//! goes to `(id+1) mod N`, `(id+2) mod N` or every peer and carries its own clock, a tick
//! after a receive that left messages queued is a receive; `unprocessed` rows keep the
//! clock and count 1, 2, ...; `end` comes last, keeps the clock and counts the leftovers;
//! times never go back; the number of ticks equals the number of deadlines (at most, for a
//! run that ended early). Per ordered pair (i, j): the clocks of i's messages to j appear at
//! j, as `recv` then `unprocessed` rows, in the same order, exactly once; when one of the
//! two has no `end` row (it crashed), or one names the other lost or stalled, what j logged
//! is a prefix of what i sent. A file without `end` is a violation unless another machine's
//! `end` names it as lost (or stalled).
//!
//! Two parts: [`rules::MachineRules`], the per-machine rules as a state machine over rows
//! (no paths, no I/O), and [`check_run`], which streams a run folder's files into it and
//! then judges the pairs.
//!
//! Bad input (a missing folder, no logs, an unreadable line, another log version) is a
//! [`CheckError`] naming the file and line, not a violation.

mod read;
pub mod rules;

pub use read::{Head, for_each_record, log_files, read_head, read_header, records};
use rules::MachineRules;

use lamport_core::record::{Header, Kind, Peers};
use std::{
    fmt, io,
    path::{Path, PathBuf},
};

/// What the checker may allow beyond the model's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// A tick later than its deadline by more than this is a violation (`None`: no bound).
    pub max_late_ns: Option<u64>,
    /// Replay every machine through the core's own model and require each row it would
    /// write (rolls included). Off for logs not written by the model (made by hand, or by
    /// another program): the rules alone are checked then.
    pub replay: bool,
}

impl Default for CheckOptions {
    /// Ticks at most one second late: generous for a loaded laptop, far above what the
    /// hosts measure (BENCHMARKS.md), and below a frozen or overloaded machine.
    fn default() -> Self {
        Self {
            max_late_ns: Some(DEFAULT_MAX_LATE_NS),
            replay: true,
        }
    }
}

/// The default bound on a tick's lateness: one second.
pub const DEFAULT_MAX_LATE_NS: u64 = 1_000_000_000;

/// Input the checker cannot judge: no run folder, no logs, a file it cannot read, or a
/// line that is not a v1 log line.
#[derive(Debug)]
#[non_exhaustive]
pub enum CheckError {
    /// Nothing at the path.
    NoFolder(PathBuf),
    /// The path is a file (a log, most likely), not its run folder.
    NotAFolder(PathBuf),
    /// The folder holds no `machine-0.log`.
    NoLogs(PathBuf),
    /// A machine's log is missing.
    Missing {
        /// The missing file.
        path: PathBuf,
        /// Machines the first header names.
        machines: u16,
    },
    /// A file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// 1-based line (0: opening the file).
        line: usize,
        /// Why.
        source: io::Error,
    },
    /// A line is not what the log format says.
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        what: String,
    },
}

impl CheckError {
    fn io(path: &Path, line: usize, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            line,
            source,
        }
    }
    fn parse(path: &Path, line: usize, what: impl fmt::Display) -> Self {
        Self::Parse {
            path: path.to_path_buf(),
            line,
            what: what.to_string(),
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoFolder(d) => write!(f, "{}: no such run folder", d.display()),
            Self::NotAFolder(p) => write!(
                f,
                "{}: a file, not a run folder (give the folder that holds machine-<id>.log)",
                p.display()
            ),
            Self::NoLogs(d) => write!(
                f,
                "{}: no machine logs (expected machine-0.log)",
                d.display()
            ),
            Self::Missing { path, machines } => write!(
                f,
                "{}: missing (the header says {machines} machines)",
                path.display()
            ),
            Self::Io {
                path,
                line: 0,
                source,
            } => write!(f, "{}: cannot open: {source}", path.display()),
            Self::Io { path, line, source } => {
                write!(f, "{}:{line}: unreadable: {source}", path.display())
            }
            Self::Parse { path, line, what } => write!(f, "{}:{line}: {what}", path.display()),
        }
    }
}

impl std::error::Error for CheckError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// One broken rule, at one line of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The log file.
    pub file: PathBuf,
    /// 1-based line number (0: the file as a whole).
    pub line: usize,
    /// The machine.
    pub machine: u16,
    /// What the rule expected.
    pub what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: machine {}: {}",
            self.file.display(),
            self.line,
            self.machine,
            self.what
        )
    }
}

/// What the checker learned about one machine, for summaries.
#[derive(Debug, Clone, Default)]
pub struct MachineStats {
    /// The machine.
    pub id: u16,
    /// Its clock rate.
    pub rate: u32,
    /// Ticks done.
    pub ticks: u64,
    /// Deadlines in the run.
    pub ticks_due: u64,
    /// Deadlines up to this machine's `end` row (all of them for a run that ended `time
    /// up`; fewer for one that stopped early).
    pub ticks_due_by_end: u64,
    /// Ticks per kind: recv, send, internal.
    pub recvs: u64,
    /// Send events.
    pub sends: u64,
    /// Internal events.
    pub internals: u64,
    /// Messages left unprocessed.
    pub unprocessed: u64,
    /// Final logical clock.
    pub final_clock: u64,
    /// Largest clock advance of one receive.
    pub max_jump: u64,
    /// Longest queue: the largest `queue` a `recv` row logged (messages still waiting
    /// after the receive took one). The one definition of "longest queue" everywhere.
    pub max_queue: u64,
    /// The `end` row's note, if the file has one.
    pub end_note: Option<String>,
    /// Tick lateness (event time minus deadline), microseconds.
    pub lateness_us: crate::hist::Hist,
}

/// The checker's verdict on a run.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Every broken rule.
    pub violations: Vec<Violation>,
    /// Per machine, in id order.
    pub machines: Vec<MachineStats>,
}

impl CheckReport {
    /// True when every machine ended with `time up`.
    pub fn clean_end(&self) -> bool {
        self.machines
            .iter()
            .all(|m| m.end_note.as_deref() == Some("time up"))
    }
}

/// Checks a run folder against every rule. `Err` only for unreadable input.
pub fn check_run(dir: &Path) -> Result<CheckReport, CheckError> {
    check_run_with(dir, &CheckOptions::default())
}

/// [`check_run`] with options.
pub fn check_run_with(dir: &Path, opts: &CheckOptions) -> Result<CheckReport, CheckError> {
    let files = log_files(dir)?;
    let mut report = CheckReport::default();
    let (all, same_size, head) = check_machines(&files, opts, &mut report.violations)?;
    judge_ends(&files, &all, &mut report.violations);
    if same_size {
        judge_pairs(&files, &all, &mut report.violations)?;
        if let Some(head) = &head {
            judge_faults(&files, &all, head, &mut report.violations);
        }
    }
    report.machines = all.into_iter().map(|m| m.stats).collect();
    Ok(report)
}

/// The run parameters every file of a run must agree on, by name. Not the seed: in
/// host-tcp's one-process-per-machine mode each process draws its own (a machine's rolls
/// come from its own seed and id either way).
fn shared(h: &Header) -> [(&'static str, u64); 6] {
    [
        ("machines", h.machines.into()),
        ("secs", h.secs),
        ("roll_max", h.roll_max.into()),
        ("speedup", h.speedup_milli.into()),
        ("queue_cap", h.queue_cap.into()),
        ("start_unix_ns", h.start_unix_ns),
    ]
}

/// Streams every file through its machine's rules; checks each header is a valid run and
/// agrees with machine 0's (its faults too). Returns what each said, whether every header
/// names the same number of machines (the pairs can be judged only then), and machine 0's
/// header lines.
fn check_machines(
    files: &[PathBuf],
    opts: &CheckOptions,
    violations: &mut Vec<Violation>,
) -> Result<(Vec<rules::Machine>, bool, Option<Head>), CheckError> {
    let mut all = Vec::new();
    let mut first: Option<Head> = None;
    let mut same_size = true;
    for (id, path) in files.iter().enumerate() {
        let (m, head) = check_machine(path, id as u16, opts, violations)?;
        if let Some(h0) = first.as_ref().filter(|h0| h0.faults != head.faults) {
            violations.push(Violation {
                file: path.clone(),
                line: 3,
                machine: id as u16,
                what: format!(
                    "faults differ from machine 0's: `{}` here, `{}` there",
                    head.faults, h0.faults
                ),
            });
        }
        let header = head.header;
        match first.as_ref().map(|h| h.header) {
            None => first = Some(head),
            Some(h0) => {
                let differ: Vec<&str> = shared(&h0)
                    .iter()
                    .zip(shared(&header))
                    .filter(|(a, b)| a.1 != b.1)
                    .map(|(a, _)| a.0)
                    .collect();
                if !differ.is_empty() {
                    same_size &= h0.machines == header.machines;
                    violations.push(Violation {
                        file: path.clone(),
                        line: 2,
                        machine: id as u16,
                        what: format!(
                            "run parameters differ from machine 0's: {}",
                            differ.join(", ")
                        ),
                    });
                }
            }
        }
        all.push(m);
    }
    Ok((all, same_size, first))
}

/// The rules of delays and partitions, per ordered pair (i, j), over the k-th message i
/// sent to j and the k-th `recv` row at j from i (the pairs rule has made sure they are the
/// same message, or reported that they are not): it is received at least the delay after
/// it was sent; and a message sent across a partition inside its window is not received
/// inside it (one sent before the window may be: it was queued already). One violation per
/// pair and rule, at the first message that breaks it.
fn judge_faults(
    files: &[PathBuf],
    all: &[rules::Machine],
    head: &Head,
    violations: &mut Vec<Violation>,
) {
    let (faults, start) = (&head.faults, head.header.start_unix_ns);
    if !faults.holds() {
        return;
    }
    let ms = |ns: u64| ns as f64 / 1e6;
    let s = |ns: u64| ns.saturating_sub(start) as f64 / 1e9;
    for (i, j) in (0..all.len()).flat_map(|i| (0..all.len()).map(move |j| (i, j))) {
        if i == j {
            continue;
        }
        let (Some(sent), Some(got)) = (all[i].sent_at.get(j), all[j].got_at.get(i)) else {
            continue;
        };
        let pairs = || sent.iter().zip(got).enumerate();
        let mut report = |what: String| {
            violations.push(Violation {
                file: files[j].clone(),
                line: 0,
                machine: j as u16,
                what,
            })
        };
        if let Some((k, (&t, &r))) =
            pairs().find(|(_, (t, r))| **r < t.saturating_add(faults.delay_ns))
        {
            report(format!(
                "message {} from machine {i} received {:.3} ms after it was sent (at {:.3} s); the delay is {:.3} ms",
                k + 1,
                ms(r - t.min(r)),
                s(t),
                ms(faults.delay_ns)
            ));
        }
        for w in faults.cuts(i as u16, j as u16) {
            let (a, b) = (
                start.saturating_add(w.from_ns),
                start.saturating_add(w.to_ns()),
            );
            if let Some((k, (&t, &r))) = pairs().find(|(_, (t, r))| **t >= a && (a..b).contains(*r))
            {
                report(format!(
                    "message {} from machine {i}, sent at {:.3} s inside the partition from {:.3} s to {:.3} s, received at {:.3} s before it healed",
                    k + 1,
                    s(t),
                    s(a),
                    s(b),
                    s(r)
                ));
            }
        }
    }
}

/// Files without `end`: fine only if another machine names them lost (or stalled).
fn judge_ends(files: &[PathBuf], all: &[rules::Machine], violations: &mut Vec<Violation>) {
    let named: Vec<u16> = all
        .iter()
        .flat_map(|m| m.lost_named.iter().copied())
        .collect();
    for (id, m) in all.iter().enumerate() {
        if !m.ended && !named.contains(&(id as u16)) {
            violations.push(Violation {
                file: files[id].clone(),
                line: 0,
                machine: id as u16,
                what: "file ends without an `end` row, and no other machine reports it lost".into(),
            });
        }
    }
}

/// Exactly-once FIFO per ordered pair: compares digests of the two sequences; only a pair
/// that differs is read again, to say where.
fn judge_pairs(
    files: &[PathBuf],
    all: &[rules::Machine],
    violations: &mut Vec<Violation>,
) -> Result<(), CheckError> {
    let pairs = (0..all.len()).flat_map(|i| (0..all.len()).map(move |j| (i, j)));
    for (i, j) in pairs.filter(|(i, j)| i != j) {
        let (sent, got) = (all[i].sent[j], all[j].got[i]);
        // A message to or from a lost (or stalled) peer may be lost in flight: then what
        // the receiver logged is a prefix of what was sent.
        let exact = all[i].ended
            && all[j].ended
            && !all[i].lost_named.contains(&(j as u16))
            && !all[j].lost_named.contains(&(i as u16));
        let ok = if exact {
            sent == got
        } else {
            got.count <= sent.count && sent_digest(&files[i], j as u16, got.count)? == got
        };
        if !ok {
            let (sent, got) = pair_lists(&files[i], &files[j], i as u16, j as u16)?;
            let k = sent
                .iter()
                .zip(&got)
                .position(|(a, b)| a != b)
                .unwrap_or(sent.len().min(got.len()));
            let what = format!(
                "messages from machine {i}: machine {i} sent {} (clocks {}), machine {j} logged {} (clocks {}); first difference at message {}{}",
                sent.len(),
                preview(&sent, k),
                got.len(),
                preview(&got, k),
                k + 1,
                if exact {
                    ""
                } else {
                    " (a prefix was expected: one of them crashed or lost the other)"
                }
            );
            violations.push(Violation {
                file: files[j].clone(),
                line: 0,
                machine: j as u16,
                what,
            });
        }
    }
    Ok(())
}

fn preview(v: &[u64], k: usize) -> String {
    let from = k.saturating_sub(2);
    let to = (k + 3).min(v.len());
    let items: Vec<String> = v[from..to].iter().map(u64::to_string).collect();
    format!(
        "{}{}{}",
        if from > 0 { "... " } else { "" },
        items.join(" "),
        if to < v.len() { " ..." } else { "" }
    )
}

/// An order-sensitive digest of a sequence of clocks: equal sequences, equal digests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Digest {
    count: u64,
    hash: u64,
}

impl Digest {
    fn push(&mut self, clock: u64) {
        self.count += 1;
        self.hash = lamport_core::rng::splitmix64(self.hash.rotate_left(5) ^ clock);
    }
}

/// Digest of the first `count` messages machine `file` sent to `to`.
fn sent_digest(file: &Path, to: u16, count: u64) -> Result<Digest, CheckError> {
    let mut d = Digest::default();
    for_each_record(file, |_, _, rec| {
        if rec.kind == Kind::Send && d.count < count && rec.peer.iter().any(|p| p == to) {
            d.push(rec.clock);
        }
    })?;
    Ok(d)
}

/// The clocks `i` sent to `j`, and those `j` logged from `i` (recv, then unprocessed).
fn pair_lists(fi: &Path, fj: &Path, i: u16, j: u16) -> Result<(Vec<u64>, Vec<u64>), CheckError> {
    let mut sent = Vec::new();
    for_each_record(fi, |_, _, rec| {
        if rec.kind == Kind::Send && rec.peer.iter().any(|p| p == j) {
            sent.push(rec.clock);
        }
    })?;
    let mut got = Vec::new();
    for_each_record(fj, |_, _, rec| {
        if matches!(rec.kind, Kind::Recv | Kind::Unprocessed) && rec.peer == Peers::One(i) {
            got.push(rec.msg_clock.unwrap_or(0));
        }
    })?;
    Ok((sent, got))
}

/// The rules of one machine's log alone (no pair is judged): for a process that holds
/// only its own machine's log (host-tcp, one machine per process).
pub fn check_machine_file(path: &Path, id: u16) -> Result<CheckReport, CheckError> {
    let mut report = CheckReport::default();
    let (m, _) = check_machine(path, id, &CheckOptions::default(), &mut report.violations)?;
    report.machines.push(m.stats);
    Ok(report)
}

/// Streams one machine's log through its rules.
fn check_machine(
    path: &Path,
    id: u16,
    opts: &CheckOptions,
    violations: &mut Vec<Violation>,
) -> Result<(rules::Machine, Head), CheckError> {
    let (head, reader) = read_head(path)?;
    let header = head.header;
    let mut emit = |line: usize, what: String| {
        violations.push(Violation {
            file: path.to_path_buf(),
            line,
            machine: id,
            what,
        })
    };
    let mut rules = MachineRules::new(&header, &head.faults, id, opts, &mut emit);
    records(path, &head, reader, |n, _, rec| {
        rules.row(n, &rec, &mut emit)
    })?;
    Ok((rules.finish(&mut emit), head))
}
