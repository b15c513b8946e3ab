//! The handshake of machines spread over computers ([`lamport_host::meet`]) in virtual
//! time: N [`Meet`]s over in-memory connections, driven the way a host drives them (dials,
//! accepts, partial reads, closes, ticks at [`Meet::wake_at`]), plus "attackers": raw
//! connections the test opens to a machine, which send scripted bytes at scripted times and
//! keep what they get back.
//!
//! Virtual time `t` starts at 0. Machine `i` reads its monotonic clock as
//! `mono_base_i + t` (a different base per machine) and its system clock as
//! `UNIX0 + t + skew_i` (a skew that may be seconds either way). A machine may start
//! (be created and listen) late, or never. A machine whose handshake failed exits: its
//! connections close and it stops listening; one that started keeps its connections and
//! only keeps what arrives on them (its host would read it).
//!
//! The network: a latency per direction of each pair of machines (plus a seeded jitter);
//! every write arrives after it, in order, and is handed to the reader coalesced with what
//! else arrived by then and cut at seeded places (partial reads). A dial reaches a machine
//! that listens after one latency (it accepts), and the dialer learns it after the way
//! back; a dial to a machine that does not listen fails after the round trip. A close
//! reaches the other side after the bytes written before it.

use lamport_host::meet::{Action, Meet, Now, Outcome, Reader, Say, Start, Terms, Token};
use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque},
};

/// Nanoseconds in a second.
pub const SEC: u64 = 1_000_000_000;
/// Nanoseconds in a millisecond.
pub const MS: u64 = 1_000_000;
/// Nanoseconds in a microsecond.
pub const US: u64 = 1_000;

/// The system time every machine's clock would read at virtual time 0 without its skew.
pub const UNIX0: u64 = 1_750_000_000 * SEC;

/// The address of machine `i` in the harness's [`terms`].
pub fn addr(i: usize) -> String {
    format!("10.0.{}.{}:7000", i / 250, i % 250 + 1)
}

/// Terms every machine of a run of `n` agrees on (change a copy for one that disagrees).
pub fn terms(n: usize) -> Terms {
    Terms {
        peers: (0..n).map(addr).collect(),
        secs: 6,
        rate_min: 1,
        rate_max: 10,
        rates: Vec::new(),
        roll_max: 6,
        speedup_milli: 5000,
        queue_cap: 256,
        spread_phase: false,
        faults: String::new(),
        seed: None,
    }
}

/// The seed machine 0 states in [`Meeting::machines`] (a host's machine 0 always states
/// the run's).
pub const RUN_SEED: u64 = 42;

/// The messages in `bytes` (whole ones; garbage as `None`).
pub fn said(bytes: &[u8]) -> Vec<Option<Say>> {
    Reader::default()
        .push(bytes, |_| false)
        .0
        .into_iter()
        .map(Result::ok)
        .collect()
}

/// A small seeded generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// The next number.
    pub fn draw(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// In `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.draw() % (hi - lo + 1)
        }
    }
}

/// The network's shape.
#[derive(Debug, Clone)]
pub struct Net {
    /// `latency[i][j]`: from machine `i` to machine `j`, nanoseconds.
    pub latency: Vec<Vec<u64>>,
    /// Each write is late by up to this much more (seeded), nanoseconds.
    pub jitter_ns: u64,
    /// Between an attacker and a machine, each way, nanoseconds.
    pub attacker_ns: u64,
}

impl Net {
    /// The same latency every way.
    pub fn uniform(n: usize, latency_ns: u64) -> Self {
        Self {
            latency: vec![vec![latency_ns; n]; n],
            jitter_ns: 0,
            attacker_ns: 100 * US,
        }
    }

    /// A latency per pair drawn in `lo..=hi`, each direction differing from it by up to
    /// `asym_pct` percent either way; a jitter of up to `jitter_ns`.
    pub fn random(n: usize, seed: u64, lo: u64, hi: u64, asym_pct: u64, jitter_ns: u64) -> Self {
        let mut r = Rng::new(seed);
        let mut latency = vec![vec![0; n]; n];
        for (i, j) in (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j))) {
            let base = r.range(lo, hi);
            let d = base * asym_pct / 100;
            latency[i][j] = (base + r.range(0, 2 * d)).saturating_sub(d).max(1);
            latency[j][i] = (base + r.range(0, 2 * d)).saturating_sub(d).max(1);
        }
        Self {
            latency,
            jitter_ns,
            attacker_ns: 100 * US,
        }
    }

    /// The largest latency between machines, nanoseconds (without the jitter).
    pub fn max(&self) -> u64 {
        self.latency.iter().flatten().copied().max().unwrap_or(0)
    }
}

/// One machine of a meeting.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Its system clock minus virtual time (plus [`UNIX0`]), nanoseconds.
    pub skew_ns: i64,
    /// When it starts (is created and listens), virtual time; `None`: never.
    pub start_at: Option<u64>,
    /// What it states as the run's terms.
    pub terms: Terms,
    /// Its connect timeout, nanoseconds.
    pub connect_timeout_ns: u64,
    /// A step of its system clock: from this virtual instant on, the clock reads this much
    /// more (NTP or a person setting it, during the handshake).
    pub step: Option<(u64, i64)>,
}

/// What an attacker does at an instant after it connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Writes these bytes.
    Send(Vec<u8>),
    /// Closes its end.
    Close,
}

/// A raw connection the test opens to a machine.
#[derive(Debug, Clone)]
pub struct Attacker {
    /// The machine it connects to.
    pub target: u16,
    /// When it connects, virtual time.
    pub open_at: u64,
    /// What it does, nanoseconds after `open_at`.
    pub script: Vec<(u64, Step)>,
    /// Every byte it got back.
    pub received: Vec<u8>,
    /// When its connection was closed by the machine (it read the end of the stream).
    pub closed_at: Option<u64>,
    /// Its connection was refused (the machine did not listen).
    pub refused: bool,
    conn: Option<usize>,
}

impl Attacker {
    /// A connection to `target` at `open_at` that does `script`.
    pub fn new(target: u16, open_at: u64, script: Vec<(u64, Step)>) -> Self {
        Self {
            target,
            open_at,
            script,
            received: Vec::new(),
            closed_at: None,
            refused: false,
            conn: None,
        }
    }

    /// A connection that says nothing.
    pub fn idle(target: u16, open_at: u64) -> Self {
        Self::new(target, open_at, Vec::new())
    }

    /// A connection that sends `bytes` one byte every `every_ns`.
    pub fn trickle(target: u16, open_at: u64, bytes: &[u8], every_ns: u64) -> Self {
        let script = bytes
            .iter()
            .enumerate()
            .map(|(k, &b)| (k as u64 * every_ns, Step::Send(vec![b])))
            .collect();
        Self::new(target, open_at, script)
    }

    /// What it was told, message by message (garbage as `None`).
    pub fn said(&self) -> Vec<Option<Say>> {
        said(&self.received)
    }

    /// The reasons of the `Refused` it was told.
    pub fn refusals(&self) -> Vec<String> {
        self.said()
            .into_iter()
            .filter_map(|s| match s {
                Some(Say::Refused { why, .. }) => Some(why),
                _ => None,
            })
            .collect()
    }

    /// Whether it was told `Welcome`.
    pub fn welcomed(&self) -> bool {
        self.said().contains(&Some(Say::Welcome))
    }
}

/// Who holds one end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Who {
    /// A machine.
    Machine(u16),
    /// An attacker (its index).
    Attacker(usize),
}

#[derive(Debug, Default)]
struct Pipe {
    chunks: VecDeque<(u64, Vec<u8>)>,
    last_at: u64,
    /// The writer closed: the end of the stream arrives then.
    fin_at: Option<u64>,
    fin_done: bool,
}

#[derive(Debug)]
struct End {
    who: Who,
    /// The machine's token for it (none for an attacker).
    token: Token,
    /// Its holder closed it (or exited).
    closed: bool,
}

#[derive(Debug)]
struct Conn {
    /// `[dialer, acceptor]`.
    ends: [End; 2],
    /// `pipes[d]`: from `ends[d]` to the other.
    pipes: [Pipe; 2],
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Start(u16),
    /// A dial from `from` reaches `to`.
    DialArrive {
        from: u16,
        to: u16,
    },
    /// The dialer learns: connected (the connection) or refused.
    DialAnswer {
        from: u16,
        to: u16,
        conn: Option<usize>,
    },
    Deliver {
        conn: usize,
        dir: usize,
    },
    Tick(u16),
    /// Every open connection machine `from` dialed to machine `to` breaks (both ends
    /// learn it at once, what is in flight is lost).
    Cut {
        from: u16,
        to: u16,
    },
    AttackOpen(usize),
    AttackStep(usize, usize),
    /// Machine `i`'s start instant: it writes [`Meeting::run_frames`].
    RunStart(u16),
    /// Machine `i`'s process exits (it failed, and lingered): its connections close and it
    /// stops listening.
    Exit(u16),
}

struct Node {
    spec: Machine,
    mono_base: u64,
    meet: Option<Meet>,
    listening: bool,
    next_token: Token,
    tokens: BTreeMap<Token, (usize, usize)>,
    ticks: BTreeSet<u64>,
    notes: Vec<(u64, String)>,
    outcome_at: Option<u64>,
    /// After it started: what arrived per token, and whether the stream ended.
    after: BTreeMap<Token, (Vec<u8>, bool)>,
}

/// Rewrites the bytes of one write from machine `from` to machine `to` in flight.
pub type Rewrite = Box<dyn FnMut(u16, u16, Vec<u8>) -> Vec<u8>>;

/// N machines meeting in virtual time.
pub struct Meeting {
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    nodes: Vec<Node>,
    conns: Vec<Conn>,
    attackers: Vec<Attacker>,
    net: Net,
    rng: Rng,
    rewrite: Option<Rewrite>,
    /// Ticks whose `wake_at` was already past after the tick.
    pub stuck_wakes: usize,
    /// Connections broken by [`Meeting::cut`].
    pub cuts: usize,
    /// What each machine writes on every connection it dialed at its start instant (the
    /// run's first frames, which may reach a peer still waiting for a `Ready`).
    pub run_frames: Option<Vec<u8>>,
}

impl Meeting {
    /// `machines` over `net`; `seed` draws the jitter, the cuts of reads, the clocks' bases
    /// and the machines' nonces.
    pub fn new(machines: Vec<Machine>, net: Net, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let nodes: Vec<Node> = machines
            .into_iter()
            .enumerate()
            .map(|(i, spec)| Node {
                spec,
                mono_base: (i as u64 + 1) * 3_600 * SEC + rng.range(0, SEC),
                meet: None,
                listening: false,
                next_token: 1000 * (i as u64 + 1),
                tokens: BTreeMap::new(),
                ticks: BTreeSet::new(),
                notes: Vec::new(),
                outcome_at: None,
                after: BTreeMap::new(),
            })
            .collect();
        let mut m = Self {
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            conns: Vec::new(),
            attackers: Vec::new(),
            net,
            rng,
            rewrite: None,
            stuck_wakes: 0,
            cuts: 0,
            run_frames: None,
        };
        for i in 0..m.nodes.len() {
            if let Some(at) = m.nodes[i].spec.start_at {
                m.at(at, Ev::Start(i as u16));
            }
        }
        m
    }

    /// `n` machines with these skews (nanoseconds) starting at 0 with the harness's
    /// [`terms`] and `timeout_ns`.
    pub fn machines(skews: &[i64], timeout_ns: u64) -> Vec<Machine> {
        let n = skews.len();
        skews
            .iter()
            .enumerate()
            .map(|(i, &skew_ns)| Machine {
                step: None,
                skew_ns,
                start_at: Some(0),
                terms: Terms {
                    seed: (i == 0).then_some(RUN_SEED),
                    ..terms(n)
                },
                connect_timeout_ns: timeout_ns,
            })
            .collect()
    }

    /// Adds an attacker; returns its index.
    pub fn attack(&mut self, a: Attacker) -> usize {
        let k = self.attackers.len();
        let at = a.open_at;
        self.attackers.push(a);
        self.at(at, Ev::AttackOpen(k));
        k
    }

    /// Breaks, at `at`, every connection machine `from` dialed to machine `to` that is
    /// open then, unless either machine has its outcome already (a link of the run is then
    /// the host's business).
    pub fn cut(&mut self, at: u64, from: u16, to: u16) {
        self.at(at, Ev::Cut { from, to });
    }

    /// Rewrites every write between machines in flight.
    pub fn rewrite(&mut self, f: Rewrite) {
        self.rewrite = Some(f);
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((t.max(self.now), self.seq, ev)));
    }

    fn now_of(&self, i: usize) -> Now {
        let n = &self.nodes[i];
        Now {
            mono: n.mono_base + self.now,
            wall: (i128::from(UNIX0)
                + i128::from(self.now)
                + i128::from(n.spec.skew_ns)
                + n.spec
                    .step
                    .filter(|&(at, _)| self.now >= at)
                    .map_or(0, |(_, d)| i128::from(d))) as u64,
        }
    }

    fn latency(&self, a: Who, b: Who) -> u64 {
        match (a, b) {
            (Who::Machine(i), Who::Machine(j)) => self.net.latency[usize::from(i)][usize::from(j)],
            _ => self.net.attacker_ns,
        }
    }

    fn all_done(&self) -> bool {
        self.nodes.iter().all(|n| {
            n.spec.start_at.is_none() || n.meet.as_ref().is_some_and(|m| m.outcome().is_some())
        })
    }

    /// Runs until every machine that starts has an outcome and then `settle_ns` more (what
    /// is in flight arrives), or until `deadline` (virtual time).
    pub fn run(&mut self, deadline: u64, settle_ns: u64) {
        let mut until = deadline;
        while let Some(Reverse((t, _, _))) = self.queue.peek() {
            if *t > until {
                break;
            }
            let Some(Reverse((t, _, ev))) = self.queue.pop() else {
                break;
            };
            self.now = t;
            self.handle(ev);
            if until == deadline && self.all_done() {
                until = self.now.saturating_add(settle_ns).min(deadline);
            }
        }
        self.now = self.now.max(until.min(deadline));
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Start(i) => self.boot(i),
            Ev::DialArrive { from, to } => self.dial_arrive(from, to),
            Ev::DialAnswer { from, to, conn } => self.dial_answer(from, to, conn),
            Ev::Deliver { conn, dir } => self.deliver(conn, dir),
            Ev::Tick(i) => self.tick(i),
            Ev::Cut { from, to } => self.cut_now(from, to),
            Ev::AttackOpen(k) => self.attack_open(k),
            Ev::AttackStep(k, s) => self.attack_step(k, s),
            Ev::RunStart(i) => {
                let frames = self.run_frames.clone().unwrap_or_default();
                let outbound = self.start(usize::from(i)).outbound.clone();
                for t in outbound.into_iter().flatten() {
                    if let Some(&(c, side)) = self.nodes[usize::from(i)].tokens.get(&t) {
                        self.write(c, side, frames.clone());
                    }
                }
            }
            Ev::Exit(i) => {
                let u = usize::from(i);
                self.nodes[u].listening = false;
                let ends: Vec<(usize, usize)> = self.nodes[u].tokens.values().copied().collect();
                for (c, side) in ends {
                    self.close_end(c, side);
                }
            }
        }
    }

    fn boot(&mut self, i: u16) {
        let u = usize::from(i);
        let now = self.now_of(u);
        let s = &self.nodes[u].spec;
        let seed = 0x5EED ^ (u as u64) << 32 ^ self.rng.draw();
        self.nodes[u].meet = Some(Meet::new(
            i,
            s.terms.clone(),
            s.connect_timeout_ns,
            seed,
            now,
        ));
        self.nodes[u].listening = true;
        self.drain(i);
    }

    fn dial_arrive(&mut self, from: u16, to: u16) {
        let t = usize::from(to);
        let back = self.latency(Who::Machine(to), Who::Machine(from));
        if self.nodes[t].listening {
            let c = self.conns.len();
            let token = self.token(to, c, 1);
            self.conns.push(Conn {
                ends: [
                    End {
                        who: Who::Machine(from),
                        token: 0,
                        closed: false,
                    },
                    End {
                        who: Who::Machine(to),
                        token,
                        closed: false,
                    },
                ],
                pipes: Default::default(),
            });
            // The dialer learns it before anything the acceptor writes arrives.
            self.at(
                self.now + back,
                Ev::DialAnswer {
                    from,
                    to,
                    conn: Some(c),
                },
            );
            let now = self.now_of(t);
            let addr = format!("10.0.{}.{}:{}", from / 250, from % 250 + 1, 40000 + c);
            if let Some(m) = self.nodes[t].meet.as_mut() {
                m.accepted(now, token, &addr);
            }
            self.drain(to);
        } else {
            self.at(
                self.now + back,
                Ev::DialAnswer {
                    from,
                    to,
                    conn: None,
                },
            );
        }
    }

    fn dial_answer(&mut self, from: u16, to: u16, conn: Option<usize>) {
        let f = usize::from(from);
        let now = self.now_of(f);
        let alive = self.nodes[f].listening;
        match conn {
            // Broken (cut) before the dialer learned it was up: a reset.
            Some(c) if self.conns[c].ends[0].closed => {
                if alive
                    && let Some(m) = self.nodes[f].meet.as_mut()
                    && m.outcome().is_none()
                {
                    m.dial_failed(now, to, "connection reset");
                }
                self.drain(from);
            }
            Some(c) => {
                let token = self.token(from, c, 0);
                self.conns[c].ends[0].token = token;
                if alive {
                    if let Some(m) = self.nodes[f].meet.as_mut() {
                        m.dialed(now, token, to);
                    }
                    self.drain(from);
                } else {
                    self.close_end(c, 0);
                }
            }
            None if alive => {
                if let Some(m) = self.nodes[f].meet.as_mut()
                    && m.outcome().is_none()
                {
                    m.dial_failed(now, to, "connection refused");
                }
                self.drain(from);
            }
            None => {}
        }
    }

    fn tick(&mut self, i: u16) {
        let u = usize::from(i);
        self.nodes[u].ticks.remove(&self.now);
        let now = self.now_of(u);
        if let Some(m) = self.nodes[u].meet.as_mut()
            && m.outcome().is_none()
            && m.wake_at() <= now.mono
        {
            m.tick(now);
            if m.outcome().is_none() && m.wake_at() <= now.mono {
                self.stuck_wakes += 1;
                let again = self.now + MS;
                self.nodes[u].ticks.insert(again);
                self.at(again, Ev::Tick(i));
            }
            self.drain(i);
        }
    }

    fn cut_now(&mut self, from: u16, to: u16) {
        let done = |m: &Node| m.meet.as_ref().is_some_and(|m| m.outcome().is_some());
        if done(&self.nodes[usize::from(from)]) || done(&self.nodes[usize::from(to)]) {
            return;
        }
        for c in 0..self.conns.len() {
            let conn = &mut self.conns[c];
            if conn.ends[0].who != Who::Machine(from)
                || conn.ends[1].who != Who::Machine(to)
                || conn.ends.iter().any(|e| e.closed)
            {
                continue;
            }
            self.cuts += 1;
            let conn = &mut self.conns[c];
            for side in 0..2 {
                conn.ends[side].closed = true;
                conn.pipes[side] = Pipe::default();
            }
            for side in 0..2 {
                let (Who::Machine(i), token) =
                    (self.conns[c].ends[side].who, self.conns[c].ends[side].token)
                else {
                    continue;
                };
                let now = self.now_of(usize::from(i));
                if let Some(m) = self.nodes[usize::from(i)].meet.as_mut()
                    && m.outcome().is_none()
                {
                    m.closed(now, token);
                }
                self.drain(i);
            }
        }
    }

    fn attack_open(&mut self, k: usize) {
        let target = self.attackers[k].target;
        let t = usize::from(target);
        if !self.nodes[t].listening {
            self.attackers[k].refused = true;
            return;
        }
        let c = self.conns.len();
        let token = self.token(target, c, 1);
        self.conns.push(Conn {
            ends: [
                End {
                    who: Who::Attacker(k),
                    token: 0,
                    closed: false,
                },
                End {
                    who: Who::Machine(target),
                    token,
                    closed: false,
                },
            ],
            pipes: Default::default(),
        });
        self.attackers[k].conn = Some(c);
        let now = self.now_of(t);
        let addr = format!("203.0.113.{}:{}", k % 250 + 1, 50000 + k);
        if let Some(m) = self.nodes[t].meet.as_mut() {
            m.accepted(now, token, &addr);
        }
        self.drain(target);
        let lat = self.net.attacker_ns;
        let steps: Vec<u64> = self.attackers[k].script.iter().map(|s| s.0).collect();
        for (s, d) in steps.into_iter().enumerate() {
            // Its bytes leave once it knows it is connected (a round trip).
            self.at(self.now + lat + d, Ev::AttackStep(k, s));
        }
    }

    fn attack_step(&mut self, k: usize, s: usize) {
        let Some(c) = self.attackers[k].conn else {
            return;
        };
        match self.attackers[k].script[s].1.clone() {
            Step::Send(bytes) => self.write(c, 0, bytes),
            Step::Close => self.close_end(c, 0),
        }
    }

    fn token(&mut self, m: u16, conn: usize, side: usize) -> Token {
        let n = &mut self.nodes[usize::from(m)];
        n.next_token += 1 + self.rng.draw() % 3;
        let t = n.next_token;
        n.tokens.insert(t, (conn, side));
        t
    }

    /// Takes machine `i`'s actions; records its outcome (a failed machine exits); schedules
    /// its next tick.
    fn drain(&mut self, i: u16) {
        let u = usize::from(i);
        while let Some(a) = self.nodes[u].meet.as_mut().and_then(Meet::next_action) {
            match a {
                Action::Write(t, bytes) => {
                    if let Some(&(c, side)) = self.nodes[u].tokens.get(&t) {
                        let to = self.conns[c].ends[1 - side].who;
                        let bytes = match (to, self.rewrite.as_mut()) {
                            (Who::Machine(j), Some(f)) => f(i, j, bytes),
                            _ => bytes,
                        };
                        self.write(c, side, bytes);
                    } else {
                        panic!("machine {i} wrote on unknown token {t}");
                    }
                }
                Action::Close(t) => {
                    if let Some(&(c, side)) = self.nodes[u].tokens.get(&t) {
                        self.close_end(c, side);
                    } else {
                        panic!("machine {i} closed unknown token {t}");
                    }
                }
                Action::Dial(p) => {
                    assert!(
                        usize::from(p) < self.nodes.len() && p != i,
                        "machine {i} dials {p}"
                    );
                    let lat = self.latency(Who::Machine(i), Who::Machine(p));
                    self.at(self.now + lat, Ev::DialArrive { from: i, to: p });
                }
                Action::Note(s) => self.nodes[u].notes.push((self.now, s)),
            }
        }
        let Some(m) = self.nodes[u].meet.as_ref() else {
            return;
        };
        match m.outcome().map(|o| matches!(o, Outcome::Failed(_))) {
            Some(failed) => {
                if self.nodes[u].outcome_at.is_none() {
                    self.nodes[u].outcome_at = Some(self.now);
                    if failed {
                        // The process lingers, answering `Hello`s with why, then exits.
                        self.at(self.now + Meet::LINGER_NS, Ev::Exit(i));
                    } else if self.run_frames.is_some() {
                        let at = self.real_start(u).max(self.now);
                        self.at(at, Ev::RunStart(i));
                    }
                }
            }
            None => {
                let w = m.wake_at();
                let at = w.saturating_sub(self.nodes[u].mono_base).max(self.now);
                if self.nodes[u].ticks.insert(at) {
                    self.at(at, Ev::Tick(i));
                }
            }
        }
    }

    fn write(&mut self, c: usize, side: usize, bytes: Vec<u8>) {
        let conn = &self.conns[c];
        if conn.ends[side].closed || conn.ends[1 - side].closed || bytes.is_empty() {
            return;
        }
        let lat = self.latency(conn.ends[side].who, conn.ends[1 - side].who);
        let jitter = self.rng.range(0, self.net.jitter_ns);
        let p = &mut self.conns[c].pipes[side];
        let at = (self.now + lat + jitter).max(p.last_at);
        p.last_at = at;
        p.chunks.push_back((at, bytes));
        self.at(at, Ev::Deliver { conn: c, dir: side });
    }

    fn close_end(&mut self, c: usize, side: usize) {
        if self.conns[c].ends[side].closed {
            return;
        }
        self.conns[c].ends[side].closed = true;
        let lat = self.latency(
            self.conns[c].ends[side].who,
            self.conns[c].ends[1 - side].who,
        );
        let p = &mut self.conns[c].pipes[side];
        let at = (self.now + lat).max(p.last_at);
        p.last_at = at;
        p.fin_at = Some(at);
        self.at(at, Ev::Deliver { conn: c, dir: side });
    }

    fn deliver(&mut self, c: usize, dir: usize) {
        let now = self.now;
        let reader = 1 - dir;
        let p = &mut self.conns[c].pipes[dir];
        let mut bytes = Vec::new();
        while p.chunks.front().is_some_and(|(at, _)| *at <= now) {
            bytes.extend(p.chunks.pop_front().map(|c| c.1).unwrap_or_default());
        }
        let fin = !p.fin_done && p.chunks.is_empty() && p.fin_at.is_some_and(|f| f <= now);
        if fin {
            p.fin_done = true;
        }
        if self.conns[c].ends[reader].closed {
            return;
        }
        let who = self.conns[c].ends[reader].who;
        let token = self.conns[c].ends[reader].token;
        match who {
            Who::Attacker(k) => {
                self.attackers[k].received.extend(bytes);
                if fin {
                    self.attackers[k].closed_at = Some(now);
                }
            }
            Who::Machine(i) => {
                let u = usize::from(i);
                // Cut what arrived at up to two seeded places: partial reads.
                let mut pieces = Vec::new();
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let cut = if pieces.len() < 2 && rest.len() > 1 && self.rng.draw() & 1 == 0 {
                        self.rng.range(1, rest.len() as u64 - 1) as usize
                    } else {
                        rest.len()
                    };
                    pieces.push(rest[..cut].to_vec());
                    rest = &rest[cut..];
                }
                for piece in pieces {
                    let t = self.now_of(u);
                    match self.nodes[u].meet.as_mut() {
                        Some(m) if m.outcome().is_none() => {
                            m.received(t, token, &piece);
                            self.drain(i);
                        }
                        Some(m) if matches!(m.outcome(), Some(Outcome::Started(_))) => {
                            self.nodes[u]
                                .after
                                .entry(token)
                                .or_default()
                                .0
                                .extend(piece);
                        }
                        _ => {}
                    }
                }
                if fin {
                    let t = self.now_of(u);
                    match self.nodes[u].meet.as_mut() {
                        Some(m) if m.outcome().is_none() => {
                            m.closed(t, token);
                            self.drain(i);
                        }
                        Some(m) if matches!(m.outcome(), Some(Outcome::Started(_))) => {
                            self.nodes[u].after.entry(token).or_default().1 = true;
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    // ---- What happened ----

    /// Virtual time now.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The number of machines.
    pub fn n(&self) -> usize {
        self.nodes.len()
    }

    /// Machine `i`'s handshake (once it started).
    pub fn meet(&self, i: usize) -> Option<&Meet> {
        self.nodes[i].meet.as_ref()
    }

    /// Machine `i`'s outcome, if any.
    pub fn outcome(&self, i: usize) -> Option<&Outcome> {
        self.nodes[i].meet.as_ref().and_then(Meet::outcome)
    }

    /// When machine `i` reached its outcome, virtual time.
    pub fn outcome_at(&self, i: usize) -> Option<u64> {
        self.nodes[i].outcome_at
    }

    /// Machine `i`'s start; panics with what happened otherwise.
    pub fn start(&self, i: usize) -> &Start {
        match self.outcome(i) {
            Some(Outcome::Started(s)) => s,
            other => panic!(
                "machine {i} did not start: {other:?}\nnotes: {:?}\nall: {}",
                self.notes(i),
                self.summary()
            ),
        }
    }

    /// Machine `i`'s failure text; panics if it did not fail.
    pub fn failure(&self, i: usize) -> &str {
        match self.outcome(i) {
            Some(Outcome::Failed(s)) => s,
            other => panic!("machine {i} did not fail: {other:?}"),
        }
    }

    /// Every machine's outcome, one line each.
    pub fn summary(&self) -> String {
        (0..self.n())
            .map(|i| match self.outcome(i) {
                Some(Outcome::Started(s)) => format!(
                    "{i}: started at {} (unix {}) [at {:?}]",
                    self.real_start(i),
                    s.start_unix,
                    self.outcome_at(i)
                ),
                Some(Outcome::Failed(w)) => {
                    format!("{i}: failed [at {:?}]: {w}", self.outcome_at(i))
                }
                None => format!("{i}: no outcome"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The virtual instant machine `i` starts at (its `start_mono` on virtual time).
    pub fn real_start(&self, i: usize) -> u64 {
        let s = self.start(i);
        s.start_mono.wrapping_sub(self.nodes[i].mono_base)
    }

    /// The notes machine `i` wrote (virtual time, text).
    pub fn notes(&self, i: usize) -> &[(u64, String)] {
        &self.nodes[i].notes
    }

    /// Who holds the other end of machine `i`'s connection `token`, and whether `i`
    /// dialed it.
    pub fn other_end(&self, i: usize, token: Token) -> Option<(Who, bool)> {
        let &(c, side) = self.nodes[i].tokens.get(&token)?;
        Some((self.conns[c].ends[1 - side].who, side == 0))
    }

    /// Whether machine `i` closed its connection `token`.
    pub fn closed_by(&self, i: usize, token: Token) -> bool {
        self.nodes[i]
            .tokens
            .get(&token)
            .is_some_and(|&(c, side)| self.conns[c].ends[side].closed)
    }

    /// An attacker.
    pub fn attacker(&self, k: usize) -> &Attacker {
        &self.attackers[k]
    }

    /// Machine `i`'s skew.
    pub fn skew(&self, i: usize) -> i64 {
        self.nodes[i].spec.skew_ns
    }

    /// What arrived at machine `i` on `token` after it started, and whether it ended.
    pub fn after_start(&self, i: usize, token: Token) -> Option<&(Vec<u8>, bool)> {
        self.nodes[i].after.get(&token)
    }
}
