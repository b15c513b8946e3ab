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
//! two has no `end` row (it crashed), what j logged is a prefix of what i sent. A file
//! without `end` is a violation unless another machine's `end` names it as lost.
//!
//! Bad input (a missing folder, no logs, an unreadable line, another log version) is an
//! error naming the file and line, not a violation.

use anyhow::{Context, Result, anyhow, bail};
use lamport_core::{
    Schedule,
    record::{COLUMNS_LINE, Header, Kind, Peers, Record},
};
use std::{
    fmt,
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
};

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
    /// Longest queue seen (before a receive took a message, or left at the end).
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

/// The logs of a run folder: `machine-<id>.log` for ids `0..N`, N from the first header.
pub fn log_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        bail!("{}: no such run folder", dir.display());
    }
    let first = crate::folder::log_path(dir, 0);
    if !first.exists() {
        bail!(
            "{}: no machine logs (expected machine-0.log)",
            dir.display()
        );
    }
    let (header, _) = read_header(&first)?;
    let files: Vec<PathBuf> = (0..header.machines)
        .map(|i| crate::folder::log_path(dir, i))
        .collect();
    if let Some(missing) = files.iter().find(|f| !f.exists()) {
        bail!(
            "{}: missing (the header says {} machines)",
            missing.display(),
            header.machines
        );
    }
    Ok(files)
}

/// Reads a log's three header lines; returns the header and the reader positioned after them.
pub fn read_header(path: &Path) -> Result<(Header, BufReader<File>)> {
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut line = String::new();
    let mut next = |n: usize, line: &mut String| -> Result<()> {
        line.clear();
        if r.read_line(line)
            .with_context(|| format!("{}:{n}: unreadable", path.display()))?
            == 0
        {
            bail!("{}:{n}: file ends inside the header", path.display());
        }
        Ok(())
    };
    next(1, &mut line)?;
    Header::check_version(&line).map_err(|e| anyhow!("{}:1: {e}", path.display()))?;
    next(2, &mut line)?;
    let header = Header::parse_params(&line).map_err(|e| anyhow!("{}:2: {e}", path.display()))?;
    next(3, &mut line)?;
    if !line.trim_end().starts_with(COLUMNS_LINE) {
        bail!(
            "{}:3: expected the column line `{COLUMNS_LINE}`",
            path.display()
        );
    }
    Ok((header, r))
}

/// Calls `f(line_number, record)` for every data line of a log, after its header.
pub fn for_each_record(path: &Path, f: impl FnMut(usize, &Header, Record)) -> Result<Header> {
    let (header, r) = read_header(path)?;
    records(path, &header, r, f)?;
    Ok(header)
}

/// Calls `f(line_number, record)` for every data line left in `r`, a reader of `path` that
/// [`read_header`] positioned after the header `header`.
pub fn records(
    path: &Path,
    header: &Header,
    mut r: BufReader<File>,
    mut f: impl FnMut(usize, &Header, Record),
) -> Result<()> {
    let mut line = String::new();
    let mut n = 3;
    loop {
        line.clear();
        n += 1;
        let got = r
            .read_line(&mut line)
            .with_context(|| format!("{}:{n}: unreadable", path.display()))?;
        if got == 0 {
            return Ok(());
        }
        if !line.ends_with('\n') {
            bail!("{}:{n}: truncated line (no newline)", path.display());
        }
        let text = line.trim_end();
        if text.starts_with('#') || text.is_empty() {
            continue;
        }
        let rec = Record::parse(text, header.machines)
            .map_err(|e| anyhow!("{}:{n}: {e}", path.display()))?;
        if rec.machine != header.machine {
            bail!(
                "{}:{n}: row of machine {} in the log of machine {}",
                path.display(),
                rec.machine,
                header.machine
            );
        }
        f(n, header, rec);
    }
}

#[derive(Default)]
struct PerMachine {
    stats: MachineStats,
    /// Digest of the clocks of messages sent to each peer, in order.
    sent: Vec<Digest>,
    /// Digest of the clocks of messages from each peer, as logged (recv then unprocessed).
    got: Vec<Digest>,
    ended: bool,
    lost_named: Vec<u16>,
}

/// Checks a run folder against every rule. `Err` only for unreadable input.
pub fn check_run(dir: &Path) -> Result<CheckReport> {
    let files = log_files(dir)?;
    let mut report = CheckReport::default();
    let mut all = Vec::new();
    let mut first: Option<Header> = None;
    for (id, path) in files.iter().enumerate() {
        let (pm, header) = check_machine(path, id as u16, &mut report.violations)?;
        if let Some(h0) = &first {
            let same = (
                h0.machines,
                h0.secs,
                h0.speedup_milli,
                h0.roll_max,
                h0.start_unix_ns,
            ) == (
                header.machines,
                header.secs,
                header.speedup_milli,
                header.roll_max,
                header.start_unix_ns,
            );
            if !same {
                report.violations.push(Violation {
                    file: path.clone(),
                    line: 2,
                    machine: id as u16,
                    what: "run parameters (machines, secs, speedup, roll_max, start_unix_ns) differ from machine 0's".into(),
                });
            }
        } else {
            first = Some(header);
        }
        all.push(pm);
    }
    // Files without `end`: fine only if another machine names them lost.
    let named: Vec<u16> = all
        .iter()
        .flat_map(|m| m.lost_named.iter().copied())
        .collect();
    for (id, m) in all.iter().enumerate() {
        if !m.ended && !named.contains(&(id as u16)) {
            report.violations.push(Violation {
                file: files[id].clone(),
                line: 0,
                machine: id as u16,
                what: "file ends without an `end` row, and no other machine reports it lost".into(),
            });
        }
    }
    // Exactly-once FIFO per ordered pair: compare digests of the two sequences; only a
    // pair that differs is read again, to say where.
    for i in 0..all.len() {
        for j in 0..all.len() {
            if i == j {
                continue;
            }
            let (sent, got) = (all[i].sent[j], all[j].got[i]);
            let exact = all[i].ended && all[j].ended;
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
                        " (a prefix was expected: one of them crashed)"
                    }
                );
                report.violations.push(Violation {
                    file: files[j].clone(),
                    line: 0,
                    machine: j as u16,
                    what,
                });
            }
        }
    }
    report.machines = all.into_iter().map(|m| m.stats).collect();
    Ok(report)
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
struct Digest {
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
fn sent_digest(file: &Path, to: u16, count: u64) -> Result<Digest> {
    let mut d = Digest::default();
    for_each_record(file, |_, _, rec| {
        if rec.kind == Kind::Send && d.count < count && rec.peer.iter().any(|p| p == to) {
            d.push(rec.clock);
        }
    })?;
    Ok(d)
}

/// The clocks `i` sent to `j`, and those `j` logged from `i` (recv, then unprocessed).
fn pair_lists(fi: &Path, fj: &Path, i: u16, j: u16) -> Result<(Vec<u64>, Vec<u64>)> {
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

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Phase {
    BeforeStart,
    Ticking,
    Leftovers,
    Ended,
}

fn check_machine(
    path: &Path,
    id: u16,
    violations: &mut Vec<Violation>,
) -> Result<(PerMachine, Header)> {
    let (header, reader) = read_header(path)?;
    let machines = usize::from(header.machines);
    let schedule = Schedule::new(
        header.start_unix_ns,
        header.rate,
        header.speedup_milli,
        header.secs,
    );
    let mut pm = PerMachine {
        sent: vec![Digest::default(); machines],
        got: vec![Digest::default(); machines],
        ..PerMachine::default()
    };
    pm.stats.id = id;
    pm.stats.rate = header.rate;
    pm.stats.ticks_due = schedule.total();
    let mut phase = Phase::BeforeStart;
    let mut clock = 0u64;
    let mut last_time = 0u64;
    let mut must_recv = false;
    let mut bad = |line: usize, what: String| {
        violations.push(Violation {
            file: path.to_path_buf(),
            line,
            machine: id,
            what,
        });
    };
    // Once per file (it used to be reported again on every row).
    if header.machine != id {
        bad(
            2,
            format!(
                "header says machine {}, file name says {id}",
                header.machine
            ),
        );
    }
    records(path, &header, reader, |n, h, rec| {
        if rec.unix_ns < last_time {
            bad(
                n,
                format!("time goes back: {} after {}", rec.unix_ns, last_time),
            );
        }
        last_time = rec.unix_ns;
        if phase == Phase::Ended {
            bad(n, format!("`{}` row after `end`", rec.kind.name()));
            return;
        }
        let n_machines = h.machines;
        match rec.kind {
            Kind::Start => {
                if phase != Phase::BeforeStart {
                    bad(n, "second `start` row".into());
                }
                if rec.clock != 0 {
                    bad(n, format!("start clock {}, expected 0", rec.clock));
                }
                phase = Phase::Ticking;
            }
            k if k.is_tick() => {
                if phase != Phase::Ticking {
                    bad(
                        n,
                        format!(
                            "`{}` tick {}",
                            k.name(),
                            if phase == Phase::BeforeStart {
                                "before `start`"
                            } else {
                                "after ticking stopped"
                            }
                        ),
                    );
                }
                let tick = pm.stats.ticks;
                pm.stats.ticks += 1;
                match schedule.deadline(tick) {
                    Some(d) => pm
                        .stats
                        .lateness_us
                        .add((rec.unix_ns as i64 - d as i64) / 1000),
                    None => bad(
                        n,
                        format!(
                            "tick {} but the run has only {} deadlines",
                            tick + 1,
                            schedule.total()
                        ),
                    ),
                }
                if must_recv && k != Kind::Recv {
                    bad(
                        n,
                        format!(
                            "`{}` while the queue held a message: expected `recv`",
                            k.name()
                        ),
                    );
                }
                must_recv = false;
                // Internal and send events: clock + 1.
                if k != Kind::Recv && rec.clock != clock + 1 {
                    bad(
                        n,
                        format!(
                            "{} clock {}, expected {} + 1 = {}",
                            k.name(),
                            rec.clock,
                            clock,
                            clock + 1
                        ),
                    );
                }
                match k {
                    Kind::Internal => {
                        pm.stats.internals += 1;
                        if rec.peer != Peers::None || rec.msg_clock.is_some() {
                            bad(n, "internal event with a peer or msg_clock".into());
                        }
                    }
                    Kind::Send => {
                        pm.stats.sends += 1;
                        if rec.msg_clock != Some(rec.clock) {
                            bad(
                                n,
                                format!(
                                    "send carries {:?}, expected its own clock {}",
                                    rec.msg_clock, rec.clock
                                ),
                            );
                        }
                        let next = (id + 1) % n_machines;
                        let next2 = ((u32::from(id) + 2) % u32::from(n_machines)) as u16;
                        match rec.peer {
                            Peers::One(p) if p == next || p == next2 => {}
                            Peers::AllBut { .. } => {}
                            p => bad(
                                n,
                                format!("send to `{p}`: expected {next}, {next2} or every peer"),
                            ),
                        }
                        for p in rec.peer.iter() {
                            if let Some(v) = pm.sent.get_mut(usize::from(p)) {
                                v.push(rec.clock);
                            }
                        }
                    }
                    _ => {
                        pm.stats.recvs += 1;
                        let (Peers::One(p), Some(m)) = (rec.peer, rec.msg_clock) else {
                            bad(n, "recv without one sender and a msg_clock".into());
                            clock = rec.clock;
                            return;
                        };
                        let want = clock.max(m) + 1;
                        if rec.clock != want {
                            bad(
                                n,
                                format!(
                                    "recv clock {}, expected max({clock}, {m}) + 1 = {want}",
                                    rec.clock
                                ),
                            );
                        }
                        if p == id {
                            bad(n, "message from itself".into());
                        }
                        pm.stats.max_jump = pm.stats.max_jump.max(rec.clock.saturating_sub(clock));
                        pm.stats.max_queue = pm.stats.max_queue.max(u64::from(rec.queue) + 1);
                        must_recv = rec.queue > 0;
                        pm.got[usize::from(p)].push(m);
                    }
                }
                clock = rec.clock;
            }
            Kind::Unprocessed => {
                phase = Phase::Leftovers;
                pm.stats.unprocessed += 1;
                if rec.clock != clock {
                    bad(
                        n,
                        format!(
                            "unprocessed row changes the clock to {}, expected {clock}",
                            rec.clock
                        ),
                    );
                }
                if u64::from(rec.queue) != pm.stats.unprocessed {
                    bad(
                        n,
                        format!(
                            "unprocessed row numbered {}, expected {}",
                            rec.queue, pm.stats.unprocessed
                        ),
                    );
                }
                match (rec.peer, rec.msg_clock) {
                    (Peers::One(p), Some(m)) if p != id => pm.got[usize::from(p)].push(m),
                    _ => bad(
                        n,
                        "unprocessed row without one sender and a msg_clock".into(),
                    ),
                }
            }
            Kind::End => {
                phase = Phase::Ended;
                pm.ended = true;
                if rec.clock != clock {
                    bad(n, format!("end clock {}, expected {clock}", rec.clock));
                }
                if u64::from(rec.queue) != pm.stats.unprocessed {
                    bad(
                        n,
                        format!(
                            "end counts {} leftovers, {} were logged",
                            rec.queue, pm.stats.unprocessed
                        ),
                    );
                }
                for part in rec.note.split("; ") {
                    if let Some(Ok(p)) = part
                        .strip_prefix("peer ")
                        .and_then(|r| r.strip_suffix(" lost"))
                        .map(str::parse)
                    {
                        pm.lost_named.push(p);
                    }
                }
                pm.stats.end_note = Some(rec.note.to_string());
            }
            _ => unreachable!("every kind is handled"),
        }
    })?;
    if phase == Phase::BeforeStart {
        bad(4, "no `start` row".into());
    }
    pm.stats.final_clock = clock;
    pm.stats.max_queue = pm.stats.max_queue.max(pm.stats.unprocessed);
    let s = &pm.stats;
    if s.end_note.as_deref() == Some("time up") && s.ticks != s.ticks_due {
        bad(
            0,
            format!(
                "{} ticks, expected one per deadline: {}",
                s.ticks, s.ticks_due
            ),
        );
    }
    Ok((pm, header))
}
