//! The log checker: the one place that decides whether a run's logs obey the model.
//!
//! The rules it judges, each with the test that plants its violation, and what the logs
//! cannot show, are listed in docs/model.md ("What `lab check` judges"). In short: per
//! machine, the header, the schedule (a tick per deadline, none early, none too late), the
//! clock rules, the replay of the core's own model, the queue column, the leftovers, the
//! `end` row and the reason its note gives; between machines, the headers agree,
//! exactly-once FIFO per ordered pair, no message logged before it was sent, delays and
//! partitions, each claim a note makes about a peer against that peer's own log, and what
//! a kill implies for the killed machine's peers (they lose it, and stop) and for what it
//! held.
//!
//! Three parts: [`rules::MachineRules`], the per-machine rules as a state machine over rows
//! (no paths, no I/O); [`note`], an `end` note read back as its claims; and [`check_run`],
//! which streams a run folder's files into them and then judges the pairs.
//!
//! Bad input (a missing folder, no logs, an unreadable line, another log version) is a
//! [`CheckError`] naming the file and line, not a violation.

pub mod note;
mod read;
pub mod rules;

pub use read::{
    Clock, Cut, Head, Records, death_note, for_each_record, log_files, read_head, read_header,
    records,
};
use rules::MachineRules;

use lamport_core::{
    node::{Lost, Stop},
    record::Header,
};
use note::Reason;
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
    /// The connections were reliable streams that only their machines closed (socket
    /// pairs, TCP on one computer): a peer that ended normally, naming this machine
    /// neither lost nor stalled, closed its connection only after its `Bye`, so this
    /// machine named it lost only by waiting out the whole drain timeout. Off for a run
    /// whose links could break or carry garbage by themselves (across computers, the
    /// mesh's link faults).
    pub trusted_links: bool,
    /// The run is still being written ([`crate::folder::Writers`]): a log without its `end`
    /// row yet, or with a line being written, is not a violation, and what only the end of
    /// the run settles (its end notes' claims, the peers' reactions to a stop) is not
    /// judged; the rows so far are.
    pub in_progress: bool,
}

impl Default for CheckOptions {
    /// Ticks at most one second late: generous for a loaded laptop, far above what the
    /// hosts measure (BENCHMARKS.md), and below a frozen or overloaded machine.
    fn default() -> Self {
        Self {
            max_late_ns: Some(DEFAULT_MAX_LATE_NS),
            replay: true,
            trusted_links: true,
            in_progress: false,
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
            Self::NoLogs(d) => {
                let others: Vec<String> = (1..1024u16)
                    .map(|i| crate::folder::log_path(d, i))
                    .filter(|p| p.exists())
                    .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
                    .take(4)
                    .collect();
                if others.is_empty() {
                    write!(
                        f,
                        "{}: no machine logs (expected machine-0.log)",
                        d.display()
                    )
                } else {
                    write!(
                        f,
                        "{}: no machine-0.log, only {}: a part of a run (host-tcp's machine 0 keeps the whole run, in its folder on its computer)",
                        d.display(),
                        others.join(", ")
                    )
                }
            }
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

/// Each rule the checker judges (docs/model.md, "What `lab check` judges"): what a
/// [`Violation`] broke, for tools and tests to match on. The message in
/// [`Violation::what`] says the same in words, with the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    // Per log.
    /// The parameters line names the file's machine.
    Header,
    /// `phase_ns` is 0 (aligned) or the phase the seed draws for the machine (spread).
    Phase,
    /// One `start` row, first, clock 0, at `start_unix_ns`; no tick before it.
    Start,
    /// Times never go back.
    TimeOrder,
    /// The columns the model leaves empty are empty (no queue, peer, msg_clock or note on
    /// `start`, no note on a tick or leftover, no peer or msg_clock on `end`, queue 0 on a
    /// send or internal event).
    EmptyColumns,
    /// No tick before its deadline.
    Early,
    /// No tick later than the lateness bound after its deadline.
    Late,
    /// No more ticks than the schedule's deadlines outside its pauses.
    ExtraTick,
    /// A machine does every tick already due in one go, at the instant it wakes.
    DueAtOnce,
    /// A machine takes every tick due by a fault's instant before the fault (unless it was
    /// a whole batch behind): no tick after a `fault` row has a deadline before it, and a
    /// `kill` comes after every tick due before it.
    DueBeforeFault,
    /// Internal and send `+1`, receive `max(clock, msg_clock) + 1`.
    Clock,
    /// A send goes to `(id+1) mod N`, `(id+2) mod N` or every peer, and carries its own
    /// clock.
    Send,
    /// No peer on an internal event; one sender, not itself, on a receive or a leftover.
    Peer,
    /// An internal event needs `roll_max >= 4`.
    InternalRoll,
    /// The core's own model, replayed from the header's seed, writes every logged row.
    Replay,
    /// A tick after a receive that left messages waiting is a receive.
    QueuedFirst,
    /// A tick takes one message: the queue shrinks by at most one per tick.
    TickTakesOne,
    /// A receive leaves at most `queue_cap - 1` messages waiting.
    QueueCap,
    /// What waited after the last tick is logged as `unprocessed` rows.
    QueueLeftovers,
    /// `unprocessed` rows come after the ticks, keep the clock and are numbered 1, 2, ...
    Leftovers,
    /// One `end` row, last, keeping the clock and counting the leftovers.
    End,
    /// No `unprocessed` or `end` row later than the run's end plus the lag limit, the
    /// drain timeout and twice the lateness bound.
    StopTooLate,
    /// The `end` note is one the model writes.
    Note,
    /// `time up` only after every deadline was ticked.
    TimeUpTicks,
    /// `queue full (cap C)` only with C = `queue_cap` and at least C + 1 leftovers.
    QueueFull,
    /// `could not keep up`: the header's rate and speedup, exactly the ticks left, and no
    /// sooner than the lag limit after the run's end.
    FellBehind,
    /// A machine that stopped for another reason ticked every deadline up to its stop.
    OwedTicks,
    /// A log cut inside its last line is named at that line.
    Cut,
    /// A log with `fault` rows says v3 on its first line, and a v3 log has one.
    Version,
    /// A `fault` row's note is a live fault as the node writes it.
    FaultNote,
    /// A live fault the machine could take: `pause` only when not paused, `resume` only
    /// when paused, `partition` only with the machine on a side, `heal` only with a
    /// partition open at it, a delay no longer than the run, room for another window.
    FaultState,
    /// No `fault` row before `start` or after the machine stopped ticking.
    FaultWhen,
    /// After `kill`, only `unprocessed` rows and an `end` row noting `killed`, at the same
    /// instant; `killed` only after `kill`, naming no one.
    Kill,
    // Between logs.
    /// Every header agrees on the run's parameters.
    SameParameters,
    /// The `# clock=` lines (host-tcp) are in every log of the run or in none; a machine's
    /// `to_common` is its offset measured to machine 0 (0 on machine 0), and two machines'
    /// offsets to each other agree within their error bounds (plus [`CLOCK_SLACK_NS`]).
    Offsets,
    /// Every header states the same faults.
    SameFaults,
    /// One phase mode for the run.
    OnePhaseMode,
    /// Exactly once, in order, per ordered pair: all of them when the receiver ended
    /// without losing the sender, a prefix otherwise.
    ExactlyOnceFifo,
    /// A message is logged at its receiver no earlier than its `send` row.
    SentFirst,
    /// With a delay D, a message is received at least D after its send.
    Delay,
    /// A message whose send plus the delay lies inside a partition is not received inside
    /// it.
    Partition,
    /// A receive leaves waiting at most the messages sent to it by then (plus the delay)
    /// less those it has taken.
    QueueSent,
    /// A log without `end` is named lost by another machine or ends with its supervisor's
    /// `# died:` line.
    MissingEnd,
    /// `time up` before the run's end needs a peer that had stopped by then.
    EarlyTimeUp,
    /// `peer P stopped early` needs P to have stopped by this machine's stop.
    PeerStoppedEarly,
    /// A peer lost beside another reason was lost after the stop: what it sent more than
    /// the lateness bound before the stop was logged.
    LostAfterStop,
    /// Over reliable links, a peer that ended without naming this machine is named lost
    /// only after the stop and the whole drain timeout.
    LostButEndedNormally,
    /// Over reliable links, of two machines that name each other lost one waited the drain
    /// timeout.
    LostEachOther,
    /// Over reliable links, a peer's `Bye` stops a running machine: no peer that ends
    /// without naming it ticks later than the lateness bound after its stop.
    ByeStopsPeers,
    /// Over reliable links, a machine that lost peers while it ticked lost one that saw its
    /// connection close without a `Bye` and names it.
    LostUnnoticed,
    /// Over reliable links, no `bye count mismatch`.
    MismatchOverReliableLinks,
    /// A peer named lost because it was killed is named so only once it was killed.
    KilledPeer,
    /// A killed machine said `Bye` to no one: every peer that ends (not killed itself)
    /// names it lost or stalled.
    KillUnnoticed,
    /// Over reliable links, every peer still running at a kill sees the killed machine's
    /// connection close and stops: none ticks (or takes a fault) later than the kill plus
    /// the lateness bound.
    KillStopsPeers,
    /// Over reliable links, a killed machine logs every message sent to it more than the
    /// lateness bound before its kill (`recv` or `unprocessed`: held ones too).
    KillKeepsMessages,
    /// `bye count mismatch: peer P sent S received R`: R messages from P were logged and P's
    /// log has S sends to it (at least S if P lost this machine).
    ByeCount,
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
    /// The rule broken.
    pub rule: Rule,
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
    /// Rows of its log, every kind (what [`for_each_record`] yields).
    pub rows: u64,
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
    /// The broken rules, the first [`MAX_KEPT`] of them.
    pub violations: Vec<Violation>,
    /// Broken rules found past the first [`MAX_KEPT`], counted only (memory stays bounded
    /// however broken a run is).
    pub more: u64,
    /// Per machine, in id order.
    pub machines: Vec<MachineStats>,
}

/// How many violations a report keeps; the rest are counted.
pub const MAX_KEPT: usize = 1000;

/// Where the checker puts what it finds: the first [`MAX_KEPT`] violations, and a count.
#[derive(Debug, Default)]
struct Found {
    kept: Vec<Violation>,
    more: u64,
}

impl Found {
    fn push(&mut self, v: Violation) {
        if self.kept.len() < MAX_KEPT {
            self.kept.push(v);
        } else {
            self.more += 1;
        }
    }
}

impl CheckReport {
    /// How many rules are broken, counted ones included.
    pub fn count(&self) -> u64 {
        self.violations.len() as u64 + self.more
    }
    /// True when every rule holds.
    pub fn holds(&self) -> bool {
        self.count() == 0
    }

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

/// Checks the run in `dir` as [`check_run_with`], as a run in progress while a live process
/// is still writing it. Returns the report and one line about a run still being written
/// (which machines have no `end` row yet) or whose host died while writing it.
pub fn check_folder(dir: &Path, opts: &CheckOptions) -> Result<FolderReport, CheckError> {
    let writers = crate::folder::Writers::of(dir);
    let opts = CheckOptions {
        in_progress: !writers.running.is_empty(),
        ..*opts
    };
    let report = check_run_with(dir, &opts)?;
    let line = writers.line().map(|w| {
        let running: Vec<String> = report
            .machines
            .iter()
            .filter(|m| m.end_note.is_none())
            .map(|m| m.id.to_string())
            .collect();
        if opts.in_progress && !running.is_empty() {
            format!(
                "{}: {w}; machines {} have not ended yet: their rows so far are checked",
                dir.display(),
                running.join(", ")
            )
        } else {
            format!("{}: {w}", dir.display())
        }
    });
    Ok(FolderReport {
        report,
        writing: line,
        in_progress: opts.in_progress,
    })
}

/// A run folder's check ([`check_folder`]).
#[derive(Debug)]
pub struct FolderReport {
    /// The check.
    pub report: CheckReport,
    /// The folder is still being written, or its host died while writing it: one line.
    pub writing: Option<String>,
    /// It is still being written: the rows so far were checked.
    pub in_progress: bool,
}

/// [`check_run`] with options.
pub fn check_run_with(dir: &Path, opts: &CheckOptions) -> Result<CheckReport, CheckError> {
    let files = log_files(dir)?;
    let mut found = Found::default();
    let (all, same_size, head) = check_machines(&files, opts, &mut found)?;
    if !opts.in_progress {
        judge_ends(&files, &all, &mut found);
    }
    if same_size {
        judge_pairs(&files, &all, &mut found)?;
        judge_clocks(&files, &mut found)?;
        if let Some(head) = &head {
            judge_times(&files, &all, head, &mut found);
            judge_supply(&files, &all, &mut found);
            if opts.trusted_links
                && !opts.in_progress
                && let Some(max_late) = opts.max_late_ns
            {
                let run_end = head.header.params().end_unix_ns();
                judge_reactions(&files, &all, run_end, max_late, &mut found);
            }
            if !opts.in_progress {
                judge_claims(&files, &all, head, opts, &mut found);
                judge_kills(&files, &all, head, opts, &mut found);
            }
        }
    }
    Ok(CheckReport {
        violations: found.kept,
        more: found.more,
        machines: all.into_iter().map(|m| m.stats).collect(),
    })
}

/// What two measurements of one pair's offset may differ by beyond their error bounds:
/// the clocks' drift during the handshake and the time a timestamp takes to read.
pub const CLOCK_SLACK_NS: u64 = 1_000_000;

/// The largest error bound a `# clock=` line may state: the handshake gives up on a peer
/// it cannot measure within it ([`crate::meet::MAX_ERR_NS`]).
pub const MAX_CLOCK_ERR_NS: u64 = crate::meet::MAX_ERR_NS;

/// The [`Rule::Offsets`] between the logs' `# clock=` lines.
fn judge_clocks(files: &[PathBuf], found: &mut Found) -> Result<(), CheckError> {
    let clocks = files
        .iter()
        .map(|f| read_head(f).map(|(h, _)| h.clock))
        .collect::<Result<Vec<_>, _>>()?;
    let mut emit = |i: usize, what: String| {
        found.push(Violation {
            file: files[i].clone(),
            line: 3,
            machine: i as u16,
            rule: Rule::Offsets,
            what,
        });
    };
    // host-tcp's one process per machine states its offset in `run-<id>.json` too.
    let stated_offset = |i: usize| -> Option<i64> {
        let text =
            std::fs::read_to_string(files[i].parent()?.join(format!("run-{i}.json"))).ok()?;
        let j: serde_json::Value = serde_json::from_str(&text).ok()?;
        j["clock"]["to_common_ns"].as_i64()
    };
    let stated = |i: usize| stated_offset(i).is_some();
    let any = clocks.iter().any(Option::is_some);
    for (i, c) in clocks.iter().enumerate() {
        if c.is_none() && (any || stated(i)) {
            emit(i, "no `# clock=` line, but the run measured its clocks (another log has one, or its run file states its offset): every host-tcp machine records its offsets".into());
        }
    }
    for (i, c) in clocks.iter().enumerate() {
        let Some(c) = c else { continue };
        if c.offsets.len() + 1 != clocks.len() {
            emit(
                i,
                format!(
                    "the `# clock=` line names {} of the {} other machines: the handshake measures every one",
                    c.offsets.len(),
                    clocks.len() - 1
                ),
            );
        }
        if let Some(&(p, _, e)) = c.offsets.iter().find(|x| x.2 > MAX_CLOCK_ERR_NS) {
            emit(
                i,
                format!(
                    "the offset to machine {p} is within {e} ns: more than the {MAX_CLOCK_ERR_NS} ns the handshake keeps"
                ),
            );
        }
        if let Some(o) = stated_offset(i).filter(|&o| o != c.to_common_ns) {
            emit(
                i,
                format!(
                    "to_common:{} is not the offset its run-{i}.json states ({o})",
                    c.to_common_ns
                ),
            );
        }
        judge_via_machine_0(i, c, &clocks, &mut emit);
        let to0 = if i == 0 {
            Some(0)
        } else {
            c.to(0).map(|x| x.0)
        };
        if to0 != Some(c.to_common_ns) {
            emit(
                i,
                format!(
                    "to_common:{} is not the offset measured to machine 0 ({})",
                    c.to_common_ns,
                    to0.map_or_else(|| "none recorded".into(), |o| o.to_string())
                ),
            );
        }
        judge_opposite(i, c, &clocks, &mut emit);
    }
    Ok(())
}

/// [`Rule::Offsets`]: machine `i`'s offsets to its peers agree with the peers' offsets to
/// machine 0 (j's clock minus i's is i's offset to the timeline minus j's).
fn judge_via_machine_0(
    i: usize,
    c: &Clock,
    clocks: &[Option<Clock>],
    emit: &mut impl FnMut(usize, String),
) {
    let err0 = |k: usize, c: &Clock| {
        if k == 0 {
            Some(0)
        } else {
            c.to(0).map(|x| x.1)
        }
    };
    for &(j, o_ij, e_ij) in &c.offsets {
        let Some(Some(cj)) = clocks.get(usize::from(j)) else {
            continue;
        };
        let (Some(e_i0), Some(e_j0)) = (err0(i, c), err0(usize::from(j), cj)) else {
            continue;
        };
        let via0 = i128::from(c.to_common_ns) - i128::from(cj.to_common_ns);
        let gap = (i128::from(o_ij) - via0).unsigned_abs();
        let bound =
            u128::from(e_ij) + u128::from(e_i0) + u128::from(e_j0) + u128::from(CLOCK_SLACK_NS);
        if gap > bound {
            emit(
                i,
                format!(
                    "machine {i} measured machine {j}'s clock at {o_ij:+} ns, but their offsets to machine 0 put it at {via0:+} ns: {gap} ns apart, more than the bounds allow ({bound} ns)"
                ),
            );
        }
    }
}

/// [`Rule::Offsets`]: machine `i`'s offset to each peer and the peer's to it are opposite,
/// within their error bounds.
fn judge_opposite(
    i: usize,
    c: &Clock,
    clocks: &[Option<Clock>],
    emit: &mut impl FnMut(usize, String),
) {
    for &(j, o_ij, e_ij) in &c.offsets {
        let Some(Some(other)) = clocks.get(usize::from(j)) else {
            continue;
        };
        let Some((o_ji, e_ji)) = other.to(i as u16) else {
            emit(
                i,
                format!(
                    "machine {j}'s `# clock=` line has no offset to machine {i}, which measured one to it"
                ),
            );
            continue;
        };
        let gap = (i128::from(o_ij) + i128::from(o_ji)).unsigned_abs();
        let bound = u128::from(e_ij) + u128::from(e_ji) + u128::from(CLOCK_SLACK_NS);
        if j > i as u16 && gap > bound {
            emit(
                i,
                format!(
                    "machine {i} measured machine {j}'s clock at {o_ij:+} ns ±{e_ij}, machine {j} measured machine {i}'s at {o_ji:+} ns ±{e_ji}: {gap} ns apart, more than the bounds allow ({bound} ns)"
                ),
            );
        }
    }
}

/// The run parameters every file of a run must agree on, by name; the seed too, but for
/// [`own_seeds`].
fn shared(h: &Header) -> [(&'static str, u64); 7] {
    [
        ("seed", h.seed),
        ("machines", h.machines.into()),
        ("secs", h.secs),
        ("roll_max", h.roll_max.into()),
        ("speedup", h.speedup_milli.into()),
        ("queue_cap", h.queue_cap.into()),
        ("start_unix_ns", h.start_unix_ns),
    ]
}

/// Whether the logs of `dir` are of a run of host-tcp's one process per machine from before
/// its handshake agreed on machine 0's seed (protocol 3): each process drew its own seed,
/// and its log says so. Such a run has no `# clock=` line (it came with the handshake that
/// measures the clocks), and its `run-0.json` knows only machine 0's rate (the others are
/// null); any other run has one seed.
fn own_seeds(dir: &Path, h0: &Head, head: &Head) -> bool {
    let only_its_own_rate = || {
        std::fs::read_to_string(dir.join("run-0.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|j| j["rates"].as_array().map(|r| r.iter().any(|x| x.is_null())))
            .unwrap_or(false)
    };
    h0.clock.is_none() && head.clock.is_none() && only_its_own_rate()
}

/// Streams every file through its machine's rules; checks each header is a valid run and
/// agrees with machine 0's (its faults too). Returns what each said, whether every header
/// names the same number of machines (the pairs can be judged only then), and machine 0's
/// header lines.
fn check_machines(
    files: &[PathBuf],
    opts: &CheckOptions,
    violations: &mut Found,
) -> Result<(Vec<rules::Testimony>, bool, Option<Head>), CheckError> {
    let mut all = Vec::new();
    let mut first: Option<Head> = None;
    let mut same_size = true;
    // The phase mode of the first machine whose phase tells (spread: not 0).
    let mut mode: Option<(usize, bool)> = None;
    for (id, path) in files.iter().enumerate() {
        let (m, head) = check_machine(path, id as u16, opts, violations)?;
        if let Some(spread) = judge_phase(path, id as u16, &head.header, violations) {
            match mode {
                None => mode = Some((id, spread)),
                Some((other, was)) if was != spread => violations.push(Violation {
                    file: path.clone(),
                    line: 2,
                    machine: id as u16,
                    rule: Rule::OnePhaseMode,
                    what: format!(
                        "its ticks are {}, machine {other}'s {}: one run has one phase mode",
                        if spread { "spread" } else { "aligned" },
                        if was { "spread" } else { "aligned" }
                    ),
                }),
                Some(_) => {}
            }
        }
        if let Some(h0) = first.as_ref().filter(|h0| h0.faults != head.faults) {
            violations.push(Violation {
                file: path.clone(),
                line: 3,
                machine: id as u16,
                rule: Rule::SameFaults,
                what: format!(
                    "faults differ from machine 0's: `{}` here, `{}` there",
                    head.faults, h0.faults
                ),
            });
        }
        match first.as_ref() {
            None => first = Some(head),
            Some(h0) => {
                let dir = path.parent().unwrap_or(Path::new("."));
                // The run file is read only for a seed that differs.
                let differ: Vec<&str> = shared(&h0.header)
                    .iter()
                    .zip(shared(&head.header))
                    .filter(|(a, b)| a.1 != b.1 && !(a.0 == "seed" && own_seeds(dir, h0, &head)))
                    .map(|(a, _)| a.0)
                    .collect();
                if !differ.is_empty() {
                    same_size &= h0.header.machines == head.header.machines;
                    violations.push(Violation {
                        file: path.clone(),
                        line: 2,
                        machine: id as u16,
                        rule: Rule::SameParameters,
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

/// The instant by which machine `m` had stopped ticking, as its rows show: its first
/// `unprocessed` row (logged at the stop) or its `end` row.
fn stop_bound(m: &rules::Testimony) -> Option<u64> {
    match (m.first_unprocessed_at, m.end_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The earliest instant machine `m` can have stopped, as its rows show: its last tick, and
/// the run's end if its note says `time up` (the other bound is [`stop_bound`]).
fn stopped_from(m: &rules::Testimony, run_end: u64) -> u64 {
    if m.claims.as_ref().is_some_and(note::Claims::time_up) {
        m.last_tick_at.max(run_end)
    } else {
        m.last_tick_at
    }
}

/// How far the time bases of two machines of one run may differ: each process or thread
/// maps its monotonic clock to the run's time with two clock reads, and a host reads `now`
/// once per turn of its loop, before the bytes that turn reads. Every comparison of times
/// between two logs allows this much (a tick's own lateness bound is far larger).
pub const SKEW_NS: u64 = 5_000_000;

/// When machine `m` ended `time up` before the run's end (by more than [`SKEW_NS`]): the
/// instant its rows show it had stopped by.
fn early_time_up(m: &rules::Testimony, run_end: u64) -> Option<u64> {
    stop_bound(m).filter(|&at| {
        at.saturating_add(SKEW_NS) < run_end && m.claims.as_ref().is_some_and(|c| c.time_up())
    })
}

/// Machine `o` could have said `Bye` by `at`: it ticked for the last time by then, and it
/// did not end `time up` at the run's end (it crashed, stopped for another reason, or
/// ended `time up` early itself).
fn stopped_by(o: &rules::Testimony, at: u64, run_end: u64) -> bool {
    o.last_tick_at <= at.saturating_add(SKEW_NS)
        && (o.claims.as_ref().is_none_or(|c| !c.time_up()) || early_time_up(o, run_end).is_some())
}

/// Over reliable links a machine that stopped said `Bye` to every peer it had not lost, and
/// a peer still ticking when that `Bye` arrived stopped at once: so no peer that ended
/// without naming machine `j` lost or stalled ticks later than the lateness bound after
/// `j` had stopped, unless `j` stopped at the run's end. `j` had stopped by its first
/// `unprocessed` row or its `end` row; one without `end` that no peer names lost (it died
/// after its `Bye`) by its next deadline after its last tick, late by the bound.
fn judge_reactions(
    files: &[PathBuf],
    all: &[rules::Testimony],
    run_end: u64,
    max_late: u64,
    violations: &mut Found,
) {
    for (j, m) in all.iter().enumerate() {
        if m.killed_at.is_some() {
            // A killed machine says `Bye` to no one: its peers lose it.
            continue;
        }
        let stopped = match (m.ended, stop_bound(m)) {
            (true, Some(at)) => at,
            (false, _) => match m.next_deadline {
                Some(next) => next.saturating_add(max_late),
                None => continue,
            },
            _ => continue,
        };
        if stopped.saturating_add(max_late) >= run_end {
            continue;
        }
        for (k, o) in all.iter().enumerate() {
            let Some(kc) = &o.claims else { continue };
            if k == j
                || kc.names(j as u16).is_some()
                || m.claims
                    .as_ref()
                    .is_some_and(|c| c.names(k as u16).is_some())
            {
                continue;
            }
            if o.last_tick_at > stopped.saturating_add(max_late) {
                violations.push(Violation {
                    file: files[k].clone(),
                    line: o.end_line,
                    machine: k as u16,
                    rule: Rule::ByeStopsPeers,
                    what: format!(
                        "machine {j} had stopped by {stopped} (its rows show), so its `Bye` reached this machine, which still ticked at {} and ends without naming it: a peer's `Bye` stops a running machine",
                        o.last_tick_at
                    ),
                });
                break;
            }
        }
    }
}

/// A kill against the other logs. The killed machine said `Bye` to no one and closed
/// every connection at its kill: a peer that ends (not killed itself) ends only once it has
/// lost it, so it names it lost or stalled, whenever it ended; over reliable links a peer
/// still running sees the connection close and stops at once (no tick or `fault` row later
/// than the kill plus the lateness bound). And until its kill it read every connection:
/// over reliable links what a peer sent it more than the lateness bound before the kill
/// had arrived, and is logged (`recv`, or `unprocessed` from its queue or held).
fn judge_kills(
    files: &[PathBuf],
    all: &[rules::Testimony],
    head: &Head,
    opts: &CheckOptions,
    violations: &mut Found,
) {
    let start = head.header.start_unix_ns;
    let s = |ns: u64| ns.saturating_sub(start) as f64 / 1e9;
    let reliable = opts.max_late_ns.filter(|_| opts.trusted_links);
    for (k, m) in all.iter().enumerate() {
        let Some(killed) = m.killed_at else { continue };
        for (p, o) in all.iter().enumerate().filter(|&(p, _)| p != k) {
            let mut report = |rule: Rule, what: String| {
                violations.push(Violation {
                    file: files[p].clone(),
                    line: o.end_line,
                    machine: p as u16,
                    rule,
                    what,
                })
            };
            if o.killed_at.is_none()
                && let Some(c) = &o.claims
                && c.names(k as u16).is_none()
            {
                report(
                    Rule::KillUnnoticed,
                    format!(
                        "ends without naming machine {k} lost or stalled, but machine {k} was killed at {:.3} s: it said `Bye` to no one, so a peer ends only once it has lost it",
                        s(killed)
                    ),
                );
            }
            let Some(max_late) = reliable else { continue };
            let bound = killed.saturating_add(max_late).saturating_add(SKEW_NS);
            let last = o
                .fault_rows
                .last()
                .map_or(o.last_tick_at, |f| f.0.max(o.last_tick_at));
            if last > bound {
                report(
                    Rule::KillStopsPeers,
                    format!(
                        "still ticked (or took a fault) at {:.3} s, but machine {k} was killed at {:.3} s: over reliable links a running peer sees its connection close and stops at once (late by at most {:.3} s, the lateness bound)",
                        s(last),
                        s(killed),
                        max_late as f64 / 1e9
                    ),
                );
            }
        }
        if let Some(max_late) = reliable {
            judge_killed_receiver(files, all, (k, killed), (start, max_late), violations);
            judge_killed_sender(files, all, (k, killed), (start, max_late), violations);
        }
    }
}

/// The messages machine `from` sent machine `to` more than the lateness bound (and
/// [`SKEW_NS`]) before `until` had arrived and are logged at `to` (`recv` or `unprocessed`):
/// returns how many were owed and how many are logged, when fewer are.
fn short_of(
    all: &[rules::Testimony],
    from: usize,
    to: usize,
    until: u64,
    max_late: u64,
) -> Option<(usize, usize)> {
    let sent = all[from].sent_at.get(to)?;
    let by = until.saturating_sub(max_late.saturating_add(SKEW_NS));
    let owed = sent.partition_point(|&t| t < by);
    let logged = all[to].got_at.get(from).map_or(0, Vec::len);
    (logged < owed).then_some((owed, logged))
}

/// Over reliable links, machine `k` killed at `killed` logged every message sent to it
/// more than the lateness bound before then: it had arrived (and a message held by a
/// delay or a partition is logged `unprocessed` at the kill). Only senders whose every
/// send left them are judged: one that ended, or was killed itself (up to its own kill).
fn judge_killed_receiver(
    files: &[PathBuf],
    all: &[rules::Testimony],
    (k, killed): (usize, u64),
    (start, max_late): (u64, u64),
    violations: &mut Found,
) {
    let s = |ns: u64| ns.saturating_sub(start) as f64 / 1e9;
    for (i, o) in all.iter().enumerate().filter(|&(i, o)| i != k && o.ended) {
        let until = o.killed_at.map_or(killed, |x| x.min(killed));
        if let Some((owed, logged)) = short_of(all, i, k, until, max_late) {
            violations.push(Violation {
                file: files[k].clone(),
                line: all[k].end_line,
                machine: k as u16,
                rule: Rule::KillKeepsMessages,
                what: format!(
                    "killed at {:.3} s with {logged} messages from machine {i} logged, but machine {i} sent it {owed} more than the lateness bound before then: a killed machine logs what it held (`recv` or `unprocessed`)",
                    s(killed)
                ),
            });
        }
    }
}

/// Over reliable links, what machine `k`, killed at `killed`, sent each peer more than the
/// lateness bound before its kill (or before the peer's own end or kill) had arrived and is
/// logged there (`recv`, or `unprocessed`: a message a partition or a delay still held when
/// the peer stopped is logged so). A peer naming it lost takes a prefix of its messages, but
/// not a shorter one than that.
fn judge_killed_sender(
    files: &[PathBuf],
    all: &[rules::Testimony],
    (k, killed): (usize, u64),
    (start, max_late): (u64, u64),
    violations: &mut Found,
) {
    let s = |ns: u64| ns.saturating_sub(start) as f64 / 1e9;
    for (j, o) in all.iter().enumerate().filter(|&(j, _)| j != k) {
        let Some(end) = o.end_at else { continue };
        let until = o.killed_at.map_or(end, |x| x.min(end)).min(killed);
        if let Some((owed, logged)) = short_of(all, k, j, until, max_late) {
            violations.push(Violation {
                file: files[j].clone(),
                line: o.end_line,
                machine: j as u16,
                rule: Rule::KillKeepsMessages,
                what: format!(
                    "{logged} messages from machine {k} logged, but machine {k}, killed at {:.3} s, sent it {owed} more than the lateness bound before then (or before this machine's end): they had arrived, and a held one is logged `unprocessed`",
                    s(killed)
                ),
            });
        }
    }
}

/// The queue column against the supply: a `recv` row's queue is at most the messages sent
/// to the machine by then (each counted from the earliest instant it can have entered the
/// queue, its send plus the delay in force at the machine when it arrived) less those it
/// has taken (this one included); a `fault` row's,
/// the same less those taken before it.
fn judge_supply(files: &[PathBuf], all: &[rules::Testimony], violations: &mut Found) {
    for (j, m) in all.iter().enumerate() {
        // A message enters the queue no sooner than the delay after its send.
        let mut sends: Vec<u64> = all
            .iter()
            .filter_map(|o| o.sent_at.get(j))
            .flatten()
            .map(|&t| m.earliest_entry(t, u64::MAX))
            .collect();
        sends.sort_unstable();
        let sent_by = |t: u64| sends.partition_point(|&x| x <= t.saturating_add(SKEW_NS));
        let recvs = m
            .recv_rows
            .iter()
            .enumerate()
            .map(|(taken, &(t, q))| (t, q, taken + 1, format!("receive {}", taken + 1)));
        let faults = m
            .fault_rows
            .iter()
            .map(|&(t, q, taken)| (t, q, taken, "a `fault` row".to_string()));
        for (t, q, taken, what) in recvs.chain(faults) {
            let sent = sent_by(t);
            let most = sent.saturating_sub(taken);
            if q as usize > most {
                violations.push(Violation {
                    file: files[j].clone(),
                    line: 0,
                    machine: j as u16,
                    rule: Rule::QueueSent,
                    what: format!(
                        "{what} at {t} left {q} messages waiting, but {sent} had been sent to it by then and it had taken {taken}: at most {most} could wait"
                    ),
                });
                break;
            }
        }
    }
}

/// A header's `phase_ns` is 0 (`--phase aligned`) or the phase the seed draws for the
/// machine (`--phase spread`); anything else would move its deadlines, and so excuse
/// lateness. Returns whether it is spread (`None` when the drawn phase is 0 too).
fn judge_phase(path: &Path, id: u16, h: &Header, violations: &mut Found) -> Option<bool> {
    let drawn = lamport_core::Schedule::new(h.start_unix_ns, h.rate, h.speedup_milli, h.secs)
        .spread_phase(h.seed, id);
    if h.phase_ns != 0 && h.phase_ns != drawn {
        violations.push(Violation {
            file: path.to_path_buf(),
            line: 2,
            machine: id,
            rule: Rule::Phase,
            what: format!(
                "phase_ns={} is neither 0 (aligned) nor the phase seed {} draws for machine {id} ({drawn} ns, spread)",
                h.phase_ns, h.seed
            ),
        });
        return None;
    }
    (drawn != 0).then_some(h.phase_ns != 0)
}

/// The rules of time between machines, per ordered pair (i, j), over the k-th message i
/// sent to j and the k-th row at j from i (`recv` rows, then `unprocessed` rows; the pairs
/// rule has made sure they are the same message, or reported that they are not): it is
/// logged at j no earlier than it was sent; a `recv` comes at least the delay after its
/// send; and a message that would enter j's queue inside a partition between them (its
/// send plus the delay lies inside the window) is not received inside it (one that entered
/// before the window may be: it was queued already). One violation per pair and rule, at
/// the first message that breaks it.
fn judge_times(files: &[PathBuf], all: &[rules::Testimony], head: &Head, violations: &mut Found) {
    let start = head.header.start_unix_ns;
    let ms = |ns: u64| ns as f64 / 1e6;
    let s = |ns: u64| ns.saturating_sub(start) as f64 / 1e9;
    for (i, j) in (0..all.len()).flat_map(|i| (0..all.len()).map(move |j| (i, j))) {
        if i == j {
            continue;
        }
        let (Some(sent), Some(got)) = (all[i].sent_at.get(j), all[j].got_at.get(i)) else {
            continue;
        };
        // The receiver's own faults: the header's and those its `fault` rows set.
        let at_j = &all[j];
        let recvs = at_j.recvs_from.get(i).copied().unwrap_or(0);
        let pairs = || sent.iter().zip(got).enumerate();
        let received = || pairs().take(recvs);
        let mut report = |rule: Rule, what: String| {
            violations.push(Violation {
                file: files[j].clone(),
                line: 0,
                machine: j as u16,
                rule,
                what,
            })
        };
        if let Some((k, (&t, &r))) = pairs().find(|(_, (t, r))| r.saturating_add(SKEW_NS) < **t) {
            report(
                Rule::SentFirst,
                format!(
                    "message {} from machine {i} logged at {:.6} s, {:.3} ms before it was sent (at {:.6} s)",
                    k + 1,
                    s(r),
                    ms(t - r),
                    s(t)
                ),
            );
        }
        if !at_j.plan.holds() && at_j.delays.iter().all(|d| d.1 == 0) {
            continue;
        }
        // Sent at t, received at r: it arrived in [t, r] and waited the delay in force then.
        let entry = |t: u64, r: u64| at_j.earliest_entry(t, r.max(t));
        if let Some((k, (&t, &r))) =
            received().find(|(_, (t, r))| r.saturating_add(SKEW_NS) < entry(**t, **r))
        {
            report(
                Rule::Delay,
                format!(
                    "message {} from machine {i} received {:.3} ms after it was sent (at {:.3} s); with the delay in force at machine {j} it could enter its queue only {:.3} ms after it was sent",
                    k + 1,
                    ms(r - t.min(r)),
                    s(t),
                    ms(entry(t, r) - t)
                ),
            );
        }
        for w in at_j.plan.cuts(i as u16, j as u16) {
            let (a, b) = (
                start.saturating_add(w.from_ns),
                start.saturating_add(w.to_ns()),
            );
            if let Some((k, (&t, &r))) = received().find(|(_, (t, r))| {
                entry(**t, **r) >= a.saturating_add(SKEW_NS) && (a..b).contains(*r)
            }) {
                report(
                    Rule::Partition,
                    format!(
                        "message {} from machine {i}, sent at {:.3} s, would enter the queue at {:.3} s or later, inside the partition from {:.3} s to {}, but was received at {:.3} s before it healed",
                        k + 1,
                        s(t),
                        s(entry(t, r)),
                        s(a),
                        if w.is_open() {
                            "the end (never healed)".to_string()
                        } else {
                            format!("{:.3} s", s(b))
                        },
                        s(r)
                    ),
                );
            }
        }
    }
}

/// The claims of each `end` note that another machine's log can confirm or refute:
/// - `peer P stopped early`: P's own log does not end `time up` (a machine says `Bye` at
///   its end only after the run's end).
/// - `peer P lost` (or stalled) beside another reason: the loss came after the stop, so
///   every message P sent more than the lateness bound before the stop is logged.
/// - `bye count mismatch: peer P sent S received R`: R is the number of rows it logged from
///   P, and P's log has at least S sends to it.
fn judge_claims(
    files: &[PathBuf],
    all: &[rules::Testimony],
    head: &Head,
    opts: &CheckOptions,
    violations: &mut Found,
) {
    let start = head.header.start_unix_ns;
    let run_end = head.header.params().end_unix_ns();
    for (j, m) in all.iter().enumerate() {
        let Some(c) = &m.claims else { continue };
        let mut report = |rule: Rule, what: String| {
            violations.push(Violation {
                file: files[j].clone(),
                line: m.end_line,
                machine: j as u16,
                rule,
                what,
            })
        };
        let cx = Claim {
            all,
            j,
            me: j as u16,
            m,
            c,
            run_end,
            start,
            opts,
        };
        judge_stop_claims(&cx, &mut report);
        judge_losses_over_reliable_links(&cx, &mut report);
        judge_losses_after_the_stop(&cx, &mut report);
        judge_link_claims(&cx, &mut report);
    }
}

/// One machine's `end` claims, with what judging them needs.
#[derive(Clone, Copy)]
struct Claim<'a> {
    all: &'a [rules::Testimony],
    j: usize,
    me: u16,
    m: &'a rules::Testimony,
    c: &'a note::Claims,
    run_end: u64,
    start: u64,
    opts: &'a CheckOptions,
}

impl Claim<'_> {
    /// Seconds after the run's start.
    fn secs(&self, ns: u64) -> f64 {
        ns.saturating_sub(self.start) as f64 / 1e9
    }
}

/// A stop before the run's end (`time up` early, `peer P stopped early`) needs a peer that
/// had stopped by then.
fn judge_stop_claims(cx: &Claim<'_>, report: &mut impl FnMut(Rule, String)) {
    let Claim {
        all,
        j,
        m,
        c,
        run_end,
        ..
    } = *cx;
    let s = |ns: u64| cx.secs(ns);
    if let Some(at) = early_time_up(m, run_end) {
        // Only a peer's `Bye` ends a machine before the run's end with `time up` (its
        // deadlines all done): a peer that had stopped by then.
        if !(0..all.len()).any(|k| k != j && stopped_by(&all[k], at, run_end)) {
            report(
                Rule::EarlyTimeUp,
                format!(
                    "`time up` at {:.3} s, before the run's end at {:.3} s, yet no other machine had stopped by then (only a peer's `Bye` ends a machine before the end)",
                    s(at),
                    s(run_end)
                ),
            );
        }
    }
    if let Some(Reason::Stop(Stop::PeerStopped(p))) = c.reason
        && let Some(at) = stop_bound(m)
        && all
            .get(usize::from(p))
            .is_some_and(|o| !stopped_by(o, at, run_end))
    {
        report(
            Rule::PeerStoppedEarly,
            format!(
                "says peer {p} stopped early, but machine {p}'s log shows it had not stopped by {:.3} s (still ticking, or ending `time up` at the run's end)",
                s(at)
            ),
        );
    }
}

/// Over reliable links, a peer named lost that ended without naming this machine was
/// waited for the whole drain timeout after the stop.
fn judge_losses_over_reliable_links(cx: &Claim<'_>, report: &mut impl FnMut(Rule, String)) {
    let Claim {
        all,
        me,
        m,
        c,
        run_end,
        opts,
        ..
    } = *cx;
    let drain = lamport_core::node::Timing::HOST.drain_timeout_ns;
    let s = |ns: u64| cx.secs(ns);
    // Over trusted links, a peer that ended without naming this machine closed its
    // connection only after its `Bye`: this machine lost it only by the drain timeout,
    // after its stop (so the note gives another reason) and the whole timeout later.
    if opts.trusted_links
        && let Some(at) = m.end_at
    {
        let stopped = stopped_from(m, run_end);
        for &(p, _) in c.lost.iter().filter(|(_, how)| *how == Lost::Vanished) {
            let Some(pc) = all.get(usize::from(p)).and_then(|o| o.claims.as_ref()) else {
                continue;
            };
            if let Some(killed) = all[usize::from(p)].killed_at {
                judge_killed_peer(cx, p, killed, report);
                continue;
            }
            if pc.names(me) == Some(Lost::Vanished) {
                // Each lost the other: one of them first, and over reliable links only by
                // waiting out the drain timeout (the other then closed on it).
                let waited = |o: &rules::Testimony| {
                    o.end_at
                        .is_some_and(|e| e >= stopped_from(o, run_end).saturating_add(drain))
                };
                if usize::from(me) < usize::from(p) && !waited(m) && !waited(&all[usize::from(p)]) {
                    report(
                        Rule::LostEachOther,
                        format!(
                            "machines {me} and {p} name each other lost, but neither ended the drain timeout ({:.3} s) after it stopped ticking: over reliable links one of them must have waited for the other's `Bye` that long",
                            drain as f64 / 1e9
                        ),
                    );
                }
                continue;
            }
            if pc.names(me).is_some() {
                continue;
            }
            if c.reason.is_none() {
                report(
                    Rule::LostButEndedNormally,
                    format!(
                        "names peer {p} lost while it ticked, but machine {p}'s log ends without losing machine {me}: over reliable links it closed its connection only after its `Bye`"
                    ),
                );
            } else if at < stopped.saturating_add(drain) {
                report(
                    Rule::LostButEndedNormally,
                    format!(
                        "names peer {p} lost, but machine {p}'s log ends without losing machine {me} (it said `Bye`), and this `end` at {:.3} s comes before the drain timeout ({:.3} s) after it stopped ticking (at {:.3} s or later)",
                        s(at),
                        drain as f64 / 1e9,
                        s(stopped)
                    ),
                );
            }
        }
    }
}

/// A peer killed at `killed` is lost to this machine when it sees its connection close:
/// at its kill or later, never before. A loss is logged by the machine's stop when it was
/// the stop (the note gives no other reason), by its `end` otherwise.
fn judge_killed_peer(cx: &Claim<'_>, p: u16, killed: u64, report: &mut impl FnMut(Rule, String)) {
    let m = cx.m;
    let by = if cx.c.reason.is_none() {
        stop_bound(m)
    } else {
        m.end_at
    };
    if let Some(by) = by.filter(|&by| by.saturating_add(SKEW_NS) < killed) {
        report(
            Rule::KilledPeer,
            format!(
                "names peer {p} lost by {:.3} s, but machine {p} was killed only at {:.3} s: its connection closed then",
                cx.secs(by),
                cx.secs(killed)
            ),
        );
    }
}

/// A peer lost after the stop: what it sent more than the lateness bound before the stop
/// was logged.
fn judge_losses_after_the_stop(cx: &Claim<'_>, report: &mut impl FnMut(Rule, String)) {
    let Claim {
        all,
        j,
        m,
        c,
        run_end,
        opts,
        ..
    } = *cx;
    let max_late_ns = opts.max_late_ns;
    let s = |ns: u64| cx.secs(ns);
    // A loss named beside another reason came at or after the stop (a loss while
    // ticking is the stop itself, and then the note gives no other reason): until the
    // stop this machine was reading that peer, so what the peer sent more than the
    // lateness bound before it had arrived, and is logged.
    if let (Some(reason), Some(max_late)) = (c.reason, max_late_ns) {
        let stopped = stopped_from(m, run_end);
        let by = stopped.saturating_sub(max_late);
        for &(p, how) in &c.lost {
            let p_ = usize::from(p);
            let logged = m.got_at.get(p_).map_or(0, Vec::len);
            let Some(&t) = all
                .get(p_)
                .and_then(|o| o.sent_at.get(j))
                .and_then(|v| v.get(logged))
            else {
                continue;
            };
            if t < by {
                report(
                    Rule::LostAfterStop,
                    format!(
                        "names peer {p} {} after it stopped (its note gives `{}`), but message {} of peer {p}, sent at {:.3} s, more than the lateness bound before it stopped (at {:.3} s or later), is not logged: it had arrived",
                        if how == Lost::Vanished {
                            "lost"
                        } else {
                            "stalled"
                        },
                        match reason {
                            Reason::Stop(s) => s.to_string(),
                            Reason::FellBehind { .. } => "could not keep up".into(),
                        },
                        logged + 1,
                        s(t),
                        s(stopped)
                    ),
                );
            }
        }
    }
}

/// Losses while ticking and `Bye` count mismatches, against the peers' logs.
fn judge_link_claims(cx: &Claim<'_>, report: &mut impl FnMut(Rule, String)) {
    let Claim {
        all,
        j,
        me,
        m,
        c,
        opts,
        ..
    } = *cx;
    // Lost while ticking (no other reason): the first peer lost never got this
    // machine's `Bye`, and over reliable links saw its connection close without one.
    if opts.trusted_links
        && c.reason.is_none()
        && !c.lost.is_empty()
        && c.lost.iter().all(|&(p, _)| {
            all.get(usize::from(p)).is_some_and(|o| {
                o.killed_at.is_none() && o.claims.as_ref().is_some_and(|pc| pc.names(me).is_none())
            })
        })
    {
        report(
            Rule::LostUnnoticed,
            format!(
                "names {} peer(s) lost or stalled while it ticked, yet every one of them ended without naming machine {me}: the first one lost got no `Bye` and saw its connection close",
                c.lost.len()
            ),
        );
    }
    if opts.trusted_links
        && let Some(x) = c.mismatches.first()
    {
        report(
            Rule::MismatchOverReliableLinks,
            format!(
                "bye count mismatch with peer {}: over reliable links every message sent before a `Bye` arrives before it, so the counts cannot differ",
                x.peer
            ),
        );
    }
    for x in &c.mismatches {
        let p = usize::from(x.peer);
        let logged = m.got_at.get(p).map_or(0, Vec::len) as u64;
        let sent = all
            .get(p)
            .and_then(|o| o.sent_at.get(j))
            .map_or(0, Vec::len) as u64;
        if x.received != logged {
            report(
                Rule::ByeCount,
                format!(
                    "bye count mismatch says {} messages arrived from peer {}, but {logged} were logged",
                    x.received, x.peer
                ),
            );
        }
        // A peer that ended without losing this machine said its `Bye` after its last
        // send and counted every one; one that lost it may have logged sends it could
        // not make.
        let whole = all
            .get(p)
            .and_then(|o| o.claims.as_ref())
            .is_some_and(|pc| pc.names(me).is_none());
        if x.said > sent || (whole && x.said != sent) {
            report(
                Rule::ByeCount,
                format!(
                    "bye count mismatch says peer {} sent {}, but its log has {sent} sends to machine {me}",
                    x.peer, x.said
                ),
            );
        }
    }
}

/// Files without `end`: fine only if another machine names them lost (or stalled), or the
/// file ends with its supervisor's `# died: ...` line (it may have died after its `Bye`).
fn judge_ends(files: &[PathBuf], all: &[rules::Testimony], violations: &mut Found) {
    let named: Vec<u16> = all
        .iter()
        .flat_map(|m| m.lost_named.iter().copied())
        .collect();
    for (id, m) in all.iter().enumerate() {
        if !m.ended && !named.contains(&(id as u16)) && death_note(&files[id]).is_none() {
            violations.push(Violation {
                file: files[id].clone(),
                line: 0,
                machine: id as u16,
                rule: Rule::MissingEnd,
                what: "file ends without an `end` row, no other machine reports it lost, and no supervisor saw it die".into(),
            });
        }
    }
}

/// Exactly-once FIFO per ordered pair (i, j): the clocks j logged from i (`recv`, then
/// `unprocessed`) are the clocks i sent j, in order. Exactly those when j wrote its `end`
/// without naming i lost or stalled and without a `Bye` count mismatch for i: j then had
/// i's `Bye`, which i says only after its last send, and its count matched (whatever i
/// says of j, and even if i died after it). Otherwise (j crashed, or lost i) a prefix: the
/// rest may have been lost in flight.
fn judge_pairs(
    files: &[PathBuf],
    all: &[rules::Testimony],
    violations: &mut Found,
) -> Result<(), CheckError> {
    let pairs = (0..all.len()).flat_map(|i| (0..all.len()).map(move |j| (i, j)));
    for (i, j) in pairs.filter(|(i, j)| i != j) {
        let (sent, got) = (&all[i].sent[j], &all[j].got[i]);
        let me = i as u16;
        // A killed receiver logs nothing sent to it after its death: a prefix, as a crash.
        let exact = all[j].killed_at.is_none()
            && all[j].claims.as_ref().is_some_and(|c| {
                c.names(me).is_none() && !c.mismatches.iter().any(|m| m.peer == me)
            });
        let ok = if exact {
            sent == got
        } else {
            sent.starts_with(got)
        };
        if !ok {
            let k = sent
                .iter()
                .zip(got)
                .position(|(a, b)| a != b)
                .unwrap_or(sent.len().min(got.len()));
            let what = format!(
                "messages from machine {i}: machine {i} sent {} (clocks {}), machine {j} logged {} (clocks {}); first difference at message {}{}",
                sent.len(),
                preview(sent, k),
                got.len(),
                preview(got, k),
                k + 1,
                if exact {
                    " (all were expected: it ended without naming machine {i} lost)"
                } else {
                    " (a prefix was expected: it crashed or lost machine {i})"
                }
                .replace("{i}", &i.to_string())
            );
            violations.push(Violation {
                file: files[j].clone(),
                line: 0,
                machine: j as u16,
                rule: Rule::ExactlyOnceFifo,
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

/// The rules of one machine's log alone (no pair is judged): for a process that holds
/// only its own machine's log (host-tcp, one machine per process).
pub fn check_machine_file(path: &Path, id: u16) -> Result<CheckReport, CheckError> {
    let mut found = Found::default();
    let (m, _) = check_machine(path, id, &CheckOptions::default(), &mut found)?;
    Ok(CheckReport {
        violations: found.kept,
        more: found.more,
        machines: vec![m.stats],
    })
}

/// Streams one machine's log through its rules.
fn check_machine(
    path: &Path,
    id: u16,
    opts: &CheckOptions,
    violations: &mut Found,
) -> Result<(rules::Testimony, Head), CheckError> {
    let (head, reader) = read_head(path)?;
    let header = head.header;
    let mut emit = |line: usize, rule: Rule, what: String| {
        violations.push(Violation {
            file: path.to_path_buf(),
            line,
            machine: id,
            rule,
            what,
        })
    };
    if head.lines - usize::from(head.clock.is_some()) == 4 && head.faults.is_empty() {
        emit(
            3,
            Rule::Version,
            "a `# faults=` line that states no fault: a run without faults from the flags writes no such line (v1, or v3 without it)".into(),
        );
    }
    let mut rules = MachineRules::new(&header, &head.faults, head.version, id, opts, &mut emit);
    let cut = records(path, &head, reader, |n, _, rec| {
        rules.row(n, &rec, &mut emit)
    })?;
    if let Some(cut) = cut.filter(|_| !opts.in_progress) {
        emit(
            cut.line,
            Rule::Cut,
            format!(
                "the log ends inside this line ({} bytes, no newline): cut while it was written (a full disk, a file-size limit?); the whole lines before it are judged",
                cut.bytes
            ),
        );
    }
    Ok((rules.finish(&mut emit), head))
}
