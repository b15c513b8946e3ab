//! Causality from the logs alone: match each receive to its send (by sender, receiver and
//! clock; a sender's clocks strictly increase, so the match is unique), compute a vector
//! clock for every tick event, and check Lamport's clock condition on every edge.
//!
//! A run folder is read as a stream, one cursor per log: memory holds a vector clock per
//! machine, the sends the walk has passed whose receive it has not reached yet, the Lamport
//! values some machine may still reach (for the ties) and counters, never the run.

use anyhow::Result;
use lamport_core::record::{Kind, Peers, Record};
use lamport_host::check::{CheckError, Records, log_files, read_head};
use serde::Serialize;
use std::{
    collections::{BTreeMap, HashMap},
    convert::Infallible,
    fmt::Write as _,
    io::Write,
    path::{Path, PathBuf},
    rc::Rc,
};

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

/// One machine's tick events in log order, taken one at a time: what the walk reads, from
/// records already in memory ([`Held`]) or from a log file ([`LogTicks`]).
trait Ticks {
    /// Why the next event could not be read.
    type Error;
    /// The next tick event, left in place; `None` once there is none.
    fn peek(&mut self) -> Result<Option<&Record>, Self::Error>;
    /// Moves past the event [`Ticks::peek`] showed.
    fn advance(&mut self);
}

/// Tick events already in memory.
struct Held<'a>(&'a [Record]);

impl Ticks for Held<'_> {
    type Error = Infallible;
    fn peek(&mut self) -> Result<Option<&Record>, Infallible> {
        Ok(self.0.first())
    }
    fn advance(&mut self) {
        self.0 = self.0.get(1..).unwrap_or_default();
    }
}

fn held(logs: &[Vec<Record>]) -> Vec<Held<'_>> {
    logs.iter().map(|l| Held(l)).collect()
}

/// One machine's log read as a stream of its tick events ([`Records`]: a line at a time,
/// up to [`lamport_core::record::MAX_LINE`], nothing but a regular file). Opened at the
/// first look, so that the files' errors are met in the order [`resolve`] needs; closed at
/// its end or at its first error.
struct LogTicks {
    path: PathBuf,
    opened: bool,
    records: Option<Records>,
    /// The event [`Ticks::peek`] showed, with its line number.
    next: Option<(usize, Record)>,
}

impl LogTicks {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            opened: false,
            records: None,
            next: None,
        }
    }

    fn read(&mut self) -> Result<Option<(usize, Record)>, CheckError> {
        if !self.opened {
            self.opened = true;
            let (head, r) = read_head(&self.path)?;
            self.records = Some(Records::new(&self.path, &head, r));
        }
        let Some(records) = self.records.as_mut() else {
            return Ok(None);
        };
        match records.find(|got| !matches!(got, Ok((_, rec)) if !rec.kind.is_tick())) {
            Some(Ok(event)) => Ok(Some(event)),
            Some(Err(e)) => {
                self.records = None;
                Err(e)
            }
            None => {
                self.records = None;
                Ok(None)
            }
        }
    }

    /// The line of the event [`Ticks::peek`] showed (0 if none).
    fn line(&self) -> usize {
        self.next.as_ref().map_or(0, |(n, _)| *n)
    }

    /// Reads the rest of the log, for its first error.
    fn drain(&mut self) -> Result<(), CheckError> {
        while self.peek()?.is_some() {
            self.advance();
        }
        Ok(())
    }
}

impl Ticks for LogTicks {
    type Error = CheckError;
    fn peek(&mut self) -> Result<Option<&Record>, CheckError> {
        if self.next.is_none() {
            self.next = self.read()?;
        }
        Ok(self.next.as_ref().map(|(_, rec)| rec))
    }
    fn advance(&mut self) {
        self.next = None;
    }
}

/// A cursor on each log of a run folder. They are all open at once during a walk: the
/// open-file limit is raised to allow it.
fn open_run(dir: &Path) -> Result<Vec<LogTicks>> {
    let files = log_files(dir)?;
    lamport_host::outcome::raise_fd_limit(files.len() as u64 + 16)
        .map_err(|e| anyhow::anyhow!("{e}: the walk reads the {} logs at once", files.len()))?;
    Ok(files.into_iter().map(LogTicks::new).collect())
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

/// What the walk tells its caller.
enum Step<'a> {
    /// The next event in causal order, with the length of the longest causal chain ending
    /// at it.
    Event(VcEvent<'a>, u64),
    /// Machine `.0` has no more events.
    End(usize),
}

/// Why the walk stopped before the end.
enum Stop<E> {
    /// It could not go on.
    Stuck(Stuck),
    /// Machine `.0`'s next event could not be read.
    Read(usize, E),
}

impl Stop<Infallible> {
    fn stuck(self) -> Stuck {
        match self {
            Self::Stuck(s) => s,
            Self::Read(_, e) => match e {},
        }
    }
}

/// Walks the run's tick events in a causal order, calling `f` with each event's vector
/// clock. Fails if a receive has no matching send.
pub fn walk(
    logs: &[Vec<Record>],
    mut f: impl FnMut(VcEvent<'_>, u64),
) -> std::result::Result<(), Stuck> {
    walk_ticks(&mut held(logs), |s| {
        if let Step::Event(e, len) = s {
            f(e, len);
        }
    })
    .map_err(Stop::stuck)
}

/// The sends a walk has passed whose receive it has not reached: (from, to, clock) ->
/// (vector clock, chain length) of the send; a send to several peers shares one clock.
type InFlight = HashMap<(u16, u16, u64), (Rc<[u64]>, u64)>;

/// [`walk`] over cursors: each machine in turn goes as far as it can (to its end, or to a
/// receive whose send the walk has not passed), until all have ended or none can move.
/// Holds a vector clock and a chain length per machine, and each send passed until its
/// receive is reached.
fn walk_ticks<T: Ticks>(
    logs: &mut [T],
    mut f: impl FnMut(Step<'_>),
) -> std::result::Result<(), Stop<T::Error>> {
    let n = logs.len();
    let mut idx = vec![0usize; n];
    let mut ended = vec![false; n];
    let mut vc: Vec<Vec<u64>> = vec![vec![0; n]; n];
    let mut chain = vec![0u64; n];
    let mut sends: InFlight = HashMap::new();
    loop {
        let mut progress = false;
        for (m, log) in logs.iter_mut().enumerate() {
            loop {
                let rec = match log.peek() {
                    Ok(Some(rec)) => rec,
                    Ok(None) => {
                        if !ended[m] {
                            ended[m] = true;
                            f(Step::End(m));
                        }
                        break;
                    }
                    Err(e) => return Err(Stop::Read(m, e)),
                };
                let mut len = chain[m] + 1;
                if rec.kind == Kind::Recv {
                    let (Peers::One(from), Some(c)) = (rec.peer, rec.msg_clock) else {
                        return Err(Stop::Stuck(Stuck {
                            machine: m,
                            index: idx[m],
                            clock: rec.clock,
                            no_sender: true,
                        }));
                    };
                    let Some((svc, slen)) = sends.remove(&(from, m as u16, c)) else {
                        break;
                    };
                    for (a, b) in vc[m].iter_mut().zip(svc.iter()) {
                        *a = (*a).max(*b);
                    }
                    len = len.max(slen + 1);
                }
                vc[m][m] += 1;
                chain[m] = len;
                if rec.kind == Kind::Send {
                    let svc: Rc<[u64]> = Rc::from(vc[m].as_slice());
                    for p in rec.peer.iter() {
                        sends.insert((m as u16, p, rec.clock), (Rc::clone(&svc), len));
                    }
                }
                f(Step::Event(
                    VcEvent {
                        machine: m as u16,
                        record: rec,
                        vc: &vc[m],
                    },
                    len,
                ));
                log.advance();
                idx[m] += 1;
                progress = true;
            }
        }
        if ended.iter().all(|&e| e) {
            return Ok(());
        }
        if !progress {
            let m = ended.iter().position(|&e| !e).unwrap_or(0);
            let clock = logs[m].peek().ok().flatten().map_or(0, |r| r.clock);
            return Err(Stop::Stuck(Stuck {
                machine: m,
                index: idx[m],
                clock,
                no_sender: false,
            }));
        }
    }
}

/// [`walk_ticks`] over a run folder's logs, its stop turned into the error a reader of
/// the whole files, one after the other, would meet first ([`resolve`]).
fn walk_run(logs: &mut [LogTicks], f: impl FnMut(Step<'_>)) -> Result<()> {
    walk_ticks(logs, f).map_err(|stop| resolve(logs, stop))
}

/// The error for a walk of files that stopped: the first unreadable line in file order
/// (the files before the one that failed are read to their end), and only if every file
/// reads whole, where the walk got stuck, at its file and line.
fn resolve(logs: &mut [LogTicks], stop: Stop<CheckError>) -> anyhow::Error {
    let (upto, err) = match stop {
        Stop::Read(m, e) => (m, e.into()),
        Stop::Stuck(s) => {
            let log = &logs[s.machine];
            let e = anyhow::anyhow!("{}:{}: {s}", log.path.display(), log.line());
            (logs.len(), e)
        }
    };
    for log in &mut logs[..upto] {
        if let Err(e) = log.drain() {
            return e.into();
        }
    }
    err
}

/// Pairs among `k` events.
fn pairs(k: u64) -> u128 {
    u128::from(k) * u128::from(k.saturating_sub(1)) / 2
}

/// The Lamport ties, sum of `pairs(k)` over the events sharing each clock value, with only
/// the values that some machine may still reach held open. A machine's clocks rise (else
/// the clock condition fails), so its next event's clock is above its last one: a value
/// below every running machine's next is closed, its pairs added up. An event whose clock
/// falls back to a closed value (logs that break the clock condition) makes the count
/// [`Ties::lost`]: it is then counted again over the whole run.
struct Ties {
    /// Events so far per open value.
    open: BTreeMap<u64, u64>,
    /// Pairs of the closed values.
    closed: u128,
    /// Values below this one are closed.
    below: u64,
    /// The lowest clock each machine's next event may have (`u64::MAX` once it has ended).
    next: Vec<u64>,
    /// Events since the values were last closed.
    since: usize,
    lost: bool,
}

impl Ties {
    fn new(machines: usize) -> Self {
        Self {
            open: BTreeMap::new(),
            closed: 0,
            below: 0,
            next: vec![0; machines],
            since: 0,
            lost: false,
        }
    }

    fn event(&mut self, machine: usize, clock: u64) {
        if self.lost || clock < self.below {
            self.lost = true;
            self.open.clear();
            return;
        }
        *self.open.entry(clock).or_default() += 1;
        self.next[machine] = clock.saturating_add(1);
        // Closing costs a pass over the machines: once per as many events.
        self.since += 1;
        if self.since >= self.next.len().max(1024) {
            self.close();
        }
    }

    fn end(&mut self, machine: usize) {
        self.next[machine] = u64::MAX;
    }

    fn close(&mut self) {
        self.since = 0;
        let low = self.next.iter().copied().min().unwrap_or(u64::MAX);
        if low <= self.below {
            return;
        }
        let open = self.open.split_off(&low);
        let done = std::mem::replace(&mut self.open, open);
        self.closed += done.into_values().map(pairs).sum::<u128>();
        self.below = low;
    }

    /// The ties, unless they are lost.
    fn total(&self) -> Option<u128> {
        (!self.lost).then(|| self.closed + self.open.values().map(|&k| pairs(k)).sum::<u128>())
    }
}

/// The ties counted again, every value held: for logs whose clocks fell back ([`Ties`]).
fn recount<T: Ticks>(logs: &mut [T]) -> std::result::Result<u128, T::Error> {
    let mut by_lamport: HashMap<u64, u64> = HashMap::new();
    for log in logs {
        while let Some(rec) = log.peek()? {
            *by_lamport.entry(rec.clock).or_default() += 1;
            log.advance();
        }
    }
    Ok(by_lamport.into_values().map(pairs).sum())
}

/// The report built up along a walk.
struct Tally {
    r: HbReport,
    last_clock: Vec<Option<u64>>,
    ties: Ties,
}

impl Tally {
    fn new(machines: usize) -> Self {
        Self {
            r: HbReport::default(),
            last_clock: vec![None; machines],
            ties: Ties::new(machines),
        }
    }

    fn step(&mut self, step: Step<'_>) {
        let (e, chain) = match step {
            Step::Event(e, chain) => (e, chain),
            Step::End(m) => return self.ties.end(m),
        };
        let r = &mut self.r;
        r.events += 1;
        let m = usize::from(e.machine);
        let l = e.record.clock;
        if let Some(prev) = self.last_clock[m] {
            r.edges += 1;
            if prev >= l {
                r.clock_condition_violations += 1;
            }
        }
        self.last_clock[m] = Some(l);
        if let (Kind::Recv, Peers::One(_), Some(c)) =
            (e.record.kind, e.record.peer, e.record.msg_clock)
        {
            // The walk matched this receive to the send its sender logged at clock `c`.
            r.edges += 1;
            r.message_edges += 1;
            if c >= l {
                r.clock_condition_violations += 1;
            }
        }
        r.ordered_pairs += u128::from(e.vc.iter().sum::<u64>() - 1);
        self.ties.event(m, l);
        r.longest_chain = r.longest_chain.max(chain);
    }

    /// The report, with the ties counted again by `recount` if they were lost.
    fn finish<E>(
        self,
        recount: impl FnOnce() -> std::result::Result<u128, E>,
    ) -> std::result::Result<HbReport, E> {
        let mut r = self.r;
        let e = u128::from(r.events);
        r.pairs = e * e.saturating_sub(1) / 2;
        r.concurrent_pairs = r.pairs - r.ordered_pairs;
        r.lamport_ties = match self.ties.total() {
            Some(t) => t,
            None => recount()?,
        };
        r.concurrent_lamport_ordered = r.concurrent_pairs.saturating_sub(r.lamport_ties);
        Ok(r)
    }
}

/// Rebuilds happens-before for a run folder and reports on it, reading each log as a
/// stream.
pub fn analyze(dir: &Path) -> Result<HbReport> {
    let mut logs = open_run(dir)?;
    let mut t = Tally::new(logs.len());
    walk_run(&mut logs, |s| t.step(s))?;
    t.finish(|| Ok(recount(&mut open_run(dir)?)?))
}

/// [`analyze`] on records already loaded (tick events only, per machine in log order).
pub fn analyze_logs(logs: &[Vec<Record>]) -> Result<HbReport> {
    let mut t = Tally::new(logs.len());
    walk_ticks(&mut held(logs), |s| t.step(s)).map_err(Stop::stuck)?;
    t.finish(|| recount(&mut held(logs)))
        .map_err(|e| match e {})
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
///
/// The logs are read twice, a line at a time: first through, so that a bad line anywhere
/// is reported before anything is written; then walked, writing each event as it comes (a
/// receive without its send ends the export there, with an error).
pub fn shiviz(dir: &Path, out: &mut impl Write) -> Result<()> {
    let mut logs = open_run(dir)?;
    for log in &mut logs {
        log.drain()?;
    }
    let mut logs = open_run(dir)?;
    writeln!(out, "{SHIVIZ_RULE}\n")?;
    let mut err = None;
    walk_run(&mut logs, |s| {
        let Step::Event(e, _) = s else {
            return;
        };
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
    })?;
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

    /// The ties counted the plain way, every value held.
    fn ties_by_hand(logs: &[Vec<Record>]) -> u128 {
        let mut by: HashMap<u64, u64> = HashMap::new();
        for rec in logs.iter().flatten() {
            *by.entry(rec.clock).or_default() += 1;
        }
        by.into_values().map(pairs).sum()
    }

    fn internals(machine: u16, clocks: impl Iterator<Item = u64>) -> Vec<Record> {
        clocks
            .map(|c| rec(&format!("{c},{machine},internal,{c},0,,,")))
            .collect()
    }

    /// Values are closed as the walk passes them (one machine ends early, the others go
    /// on), and a clock that falls back to a closed value has the ties counted again.
    #[test]
    fn ties_closed_along_the_walk_match_a_count_by_hand() {
        let rising = vec![
            internals(0, 1..=5000),
            internals(1, (1..=1500).map(|c| c * 2)),
            internals(2, 3..=4000),
        ];
        let falling_back = {
            let mut logs = rising.clone();
            logs[2][3000] = rec("7,2,internal,7,0,,,");
            logs
        };
        for logs in [rising, falling_back] {
            let r = analyze_logs(&logs).unwrap();
            assert_eq!(r.lamport_ties, ties_by_hand(&logs));
            assert_eq!(r.events, 5000 + 1500 + 3998);
        }
        let mut t = Ties::new(2);
        t.event(0, 1);
        t.event(1, 1);
        t.end(0);
        t.close();
        assert_eq!((t.below, t.open.len()), (2, 0));
        t.event(1, 1);
        assert!(t.lost && t.total().is_none());
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
