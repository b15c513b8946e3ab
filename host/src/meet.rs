//! How the machines of a run spread over computers meet: the handshake as a state machine
//! without I/O (time and bytes in; bytes, dials and typed outcomes out), which host-tcp
//! drives over sockets and the tests drive in virtual time (`tests/src/meet.rs`).
//!
//! Every machine dials every other machine's listening address and accepts a connection
//! from each. On a connection it dialed a machine says:
//!
//! 1. `Hello`: the protocol, its id, every parameter that must agree ([`Terms`]) and a
//!    nonce. The other side refuses a `Hello` whose terms differ, naming the flag and both
//!    values, or answers `Welcome`.
//! 2. `Ping`s ([`ROUNDS`] of them), answered by `Pong`s: four timestamps per round, as NTP
//!    takes them. The round with the shortest round trip gives the offset of the other's
//!    system clock and its error bound (half that round trip).
//! 3. `Proof`: the nonce the other machine's own `Hello` carried to this machine's listening
//!    address. Only the process listening at a machine's address in `--peers` learns it, so
//!    a connection that claims an id is taken only once it proves it: a stranger who claims
//!    an id first cannot take it (several claims wait side by side; the first proven wins).
//! 4. `Ready`, once every connection both ways is up and measured: the instant it became
//!    ready, on the run's common timeline (machine 0's system clock, through the offset this
//!    machine measured to machine 0). A ready time outside a sane window is refused.
//!
//! Every machine hears every other's ready time and takes the latest plus a margin as the
//! start, on the common timeline: machines whose system clocks differ by seconds start
//! together in real time, within the offsets' error. The run's seed is machine 0's: its
//! `Hello` always states it, another machine's only when given one (`--seed`), and two
//! stated seeds must agree; so every process draws the rates, rolls and phases of one run,
//! which the simulator can replay. The rows of each log are written on
//! that timeline; the header records the offsets measured (`# clock=`).
//!
//! Connections that have not proven an id never keep a peer out: past a bound, the oldest
//! of them is closed for a newcomer; one that says nothing is closed after
//! [`SILENCE_NS`]. A dial that fails, or a connection closed before the start, is dialed
//! again until the connect timeout.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// The handshake protocol this build speaks (the first field of every `Hello`).
pub const PROTOCOL: u16 = 3;

/// Rounds of `Ping`/`Pong` on each connection.
pub const ROUNDS: usize = 8;

/// A connection that has not said a whole `Hello` within this is closed, nanoseconds.
pub const SILENCE_NS: u64 = 5_000_000_000;

/// Connections that have not proven an id, beyond two per machine, before the oldest is
/// closed for a newcomer.
pub const EXTRA_PENDING: usize = 16;

/// Largest handshake message, bytes (a `Hello` holds the peer list).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// A ready time later than this ahead of this machine's own clock (on the common timeline)
/// is refused, nanoseconds.
pub const READY_AHEAD_NS: u64 = 2_000_000_000;

/// The start is this long after the latest ready time, plus [`MARGIN_PER_MACHINE_NS`] per
/// machine: every machine hears every ready time before it.
pub const MARGIN_NS: u64 = 300_000_000;

/// See [`MARGIN_NS`].
pub const MARGIN_PER_MACHINE_NS: u64 = 2_000_000;

/// Everything the machines of a run must agree on, as each states it in its `Hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// Every machine's address, in id order (`--peers`).
    pub peers: Vec<String>,
    /// `--secs`.
    pub secs: u64,
    /// `--rate-min`.
    pub rate_min: u32,
    /// `--rate-max`.
    pub rate_max: u32,
    /// `--rates` (empty: drawn).
    pub rates: Vec<u32>,
    /// `--roll-max`.
    pub roll_max: u32,
    /// `--speedup`, thousandths.
    pub speedup_milli: u32,
    /// `--queue-cap`.
    pub queue_cap: u32,
    /// `--phase spread`.
    pub spread_phase: bool,
    /// The fault flags, as the log header writes them (empty: none).
    pub faults: String,
    /// `--seed` as stated: machine 0 always states the run's (given or drawn), another
    /// machine only one it was given; the run takes machine 0's.
    pub seed: Option<u64>,
}

fn milli(m: u32) -> String {
    let (w, f) = (m / 1000, m % 1000);
    if f == 0 {
        w.to_string()
    } else {
        format!("{w}.{f:03}").trim_end_matches('0').to_string()
    }
}

impl Terms {
    /// The terms of `model` over `peers`; `seed`: the seed to state ([`Terms::seed`]).
    pub fn of(
        model: &crate::args::Model,
        peers: &[std::net::SocketAddr],
        seed: Option<u64>,
    ) -> Self {
        let p = &model.params;
        Self {
            peers: peers.iter().map(ToString::to_string).collect(),
            secs: p.secs,
            rate_min: p.rate_min,
            rate_max: p.rate_max,
            rates: model.pinned.iter().flatten().copied().collect(),
            roll_max: p.roll_max,
            speedup_milli: p.speedup_milli,
            queue_cap: p.queue_cap,
            spread_phase: p.spread_phase,
            faults: model.faults.to_string(),
            seed,
        }
    }

    /// Each term as its flag and its value as one would write it.
    fn shown(&self) -> [(&'static str, String); 10] {
        let list = |v: &[String]| v.join(",");
        [
            ("--peers", list(&self.peers)),
            ("--secs", self.secs.to_string()),
            ("--rate-min", self.rate_min.to_string()),
            ("--rate-max", self.rate_max.to_string()),
            (
                "--rates",
                if self.rates.is_empty() {
                    "(drawn)".into()
                } else {
                    list(
                        &self
                            .rates
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>(),
                    )
                },
            ),
            ("--roll-max", self.roll_max.to_string()),
            ("--speedup", milli(self.speedup_milli)),
            ("--queue-cap", self.queue_cap.to_string()),
            (
                "--phase",
                if self.spread_phase {
                    "spread".into()
                } else {
                    "aligned".into()
                },
            ),
            (
                "the fault plan",
                if self.faults.is_empty() {
                    "(none)".into()
                } else {
                    self.faults.clone()
                },
            ),
        ]
    }

    /// The first term `theirs` (machine `them`'s) differs on from these (machine `me`'s),
    /// named by its flag with both values; `None` when they agree.
    pub fn differs(&self, theirs: &Self, me: u16, them: u16) -> Option<String> {
        let seeds = match (self.seed, theirs.seed) {
            (Some(a), Some(b)) if a != b => Some(("--seed", a.to_string(), b.to_string())),
            _ => None,
        };
        self.shown()
            .into_iter()
            .zip(theirs.shown())
            .find(|((_, a), (_, b))| a != b)
            .map(|((flag, a), (_, b))| (flag, a, b))
            .or(seeds)
            .map(|(flag, a, b)| {
                format!("{flag} differs: {b} on machine {them}, {a} on machine {me}")
            })
    }
}

/// Why a connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    /// To be the sender's link to the receiver for the run.
    Link,
    /// To hand the sender's files to the receiver at the end ([`crate::collect`]).
    Logs,
}

/// A handshake message. On the wire: postcard, COBS-framed, ended by `0x00` (as the model's
/// frames are), at most [`MAX_MESSAGE`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Say {
    /// See the module's documentation.
    Hello {
        /// [`PROTOCOL`]: first, so that a later build can say it differs.
        protocol: u16,
        /// The sender's id.
        sender: u16,
        /// Why it connects.
        purpose: Purpose,
        /// The sender keeps the whole run at the end (`--collect`): every machine hands it
        /// its files too, as to machine 0.
        collects: bool,
        /// What it runs.
        terms: Terms,
        /// What the receiver echoes (`Proof`) on its own connection to the sender.
        nonce: u64,
    },
    /// The `Hello` is taken.
    Welcome,
    /// The `Hello` is not: why, and whether to try again (`again`: the receiver is busy, or
    /// not ready for it yet).
    Refused {
        /// Why.
        why: String,
        /// Worth another try.
        again: bool,
    },
    /// The sender's system time when it sent this.
    Ping {
        /// Nanoseconds since the epoch, the sender's clock.
        t1: u64,
    },
    /// The answer to a `Ping`: its `t1`, and the receiver's clock when the ping came and
    /// when this left.
    Pong {
        /// The ping's.
        t1: u64,
        /// When the ping arrived.
        t2: u64,
        /// When this left.
        t3: u64,
    },
    /// The nonce of the receiver's `Hello` to the sender's listening address.
    Proof {
        /// The nonce.
        nonce: u64,
    },
    /// The sender is connected both ways to every machine: the instant, on the common
    /// timeline.
    Ready {
        /// Nanoseconds since the epoch on machine 0's clock.
        at: u64,
    },
    /// A file for the receiver to keep ([`Purpose::Logs`]): a chunk at `offset`.
    File {
        /// Its name in the run folder.
        name: String,
        /// Where the chunk goes.
        offset: u64,
        /// The chunk.
        bytes: Vec<u8>,
    },
    /// Every file is sent.
    Done,
    /// The receiver kept the files.
    Kept,
}

impl Say {
    /// The message on the wire.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec_cobs(self).unwrap_or_default()
    }
}

/// Splits a byte stream into messages at each `0x00`.
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
}

/// What a stream said that is not a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Garbled {
    /// A message longer than [`MAX_MESSAGE`].
    TooLong,
    /// Bytes that do not decode; the text says what they look like.
    Bad(String),
}

impl std::fmt::Display for Garbled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLong => write!(f, "a message longer than {MAX_MESSAGE} bytes"),
            Self::Bad(what) => f.write_str(what),
        }
    }
}

/// Why a connection is closed that has not said a whole `Hello` within [`SILENCE_NS`]
/// (`got_any`: some of one came).
pub fn silence(got_any: bool) -> String {
    let secs = SILENCE_NS / 1_000_000_000;
    if got_any {
        format!("no whole Hello within {secs} s")
    } else {
        format!("sent nothing within {secs} s")
    }
}

/// Why machine `me` of a run with `terms` cannot take a `Hello` of `protocol` from
/// `sender` stating `theirs`: another protocol, an id outside the run or its own, other
/// terms (named with both values). The handshake and, after the start, the door judge
/// every `Hello` by it.
pub fn judge_hello(
    terms: &Terms,
    me: u16,
    protocol: u16,
    sender: u16,
    theirs: &Terms,
) -> Result<(), String> {
    if protocol != PROTOCOL {
        return Err(format!(
            "handshake protocol {protocol}; this build speaks {PROTOCOL}"
        ));
    }
    let n = terms.peers.len();
    if usize::from(sender) >= n || sender == me {
        return Err(format!(
            "machine id {sender} is not a peer of machine {me} in a run of {n}"
        ));
    }
    terms.differs(theirs, me, sender).map_or(Ok(()), Err)
}

impl Reader {
    /// Takes `bytes`; returns each whole message in them and, after the first message that
    /// `last` says ends the handshake, the bytes left over (not read as messages).
    pub fn push(
        &mut self,
        bytes: &[u8],
        last: impl Fn(&Say) -> bool,
    ) -> (Vec<Result<Say, Garbled>>, Option<Vec<u8>>) {
        let mut out = Vec::new();
        for (i, &b) in bytes.iter().enumerate() {
            if b != 0 {
                if self.buf.len() >= MAX_MESSAGE {
                    out.push(Err(Garbled::TooLong));
                    return (out, None);
                }
                self.buf.push(b);
                continue;
            }
            let mut frame = std::mem::take(&mut self.buf);
            let said = postcard::from_bytes_cobs::<Say>(&mut frame)
                .map_err(|_| Garbled::Bad(describe(&frame)));
            let done = said.as_ref().is_ok_and(&last);
            out.push(said);
            if done {
                return (out, Some(bytes[i + 1..].to_vec()));
            }
        }
        // Text never holds the 0x00 that ends a message (an HTTP request, a terminal): no
        // message starts with four printable bytes (its first two hold the variant), so say
        // so now rather than wait for an end that never comes.
        if looks_like_text(&self.buf) {
            out.push(Err(Garbled::Bad(describe(&self.buf))));
            self.buf.clear();
        }
        (out, None)
    }

    /// Whether part of a message has arrived.
    pub fn has_part(&self) -> bool {
        !self.buf.is_empty()
    }
}

/// Whether the first bytes of a frame (at least four) are printable text.
fn looks_like_text(bytes: &[u8]) -> bool {
    bytes.len() >= 4
        && bytes
            .iter()
            .take(16)
            .all(|&c| c.is_ascii_graphic() || c.is_ascii_whitespace())
}

/// What bytes that are not a handshake message look like.
fn describe(bytes: &[u8]) -> String {
    if looks_like_text(bytes) {
        let shown: String = bytes[..bytes.len().min(24)]
            .iter()
            .map(|&c| {
                if c.is_ascii_graphic() || c == b' ' {
                    c as char
                } else {
                    '.'
                }
            })
            .collect();
        format!(
            "text where a handshake was expected (\"{shown}\"...: an HTTP request or a terminal?)"
        )
    } else {
        "bytes that are not a lamport-lab handshake (an older build, or another program)".into()
    }
}

/// An instant as both clocks read it: the monotonic clock (for timeouts) and the system
/// clock (for the offsets and the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic, nanoseconds.
    pub mono: u64,
    /// System time, nanoseconds since the epoch.
    pub wall: u64,
}

/// The measured offset of a peer's system clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset {
    /// The peer's clock minus this machine's, nanoseconds.
    pub ns: i64,
    /// The bound on its error: half the round trip of the round it came from.
    pub err_ns: u64,
}

impl Offset {
    /// From one round's four timestamps: sent (`t1`, ours), arrived and left (`t2`, `t3`,
    /// theirs), back (`t4`, ours).
    pub fn of(t1: u64, t2: u64, t3: u64, t4: u64) -> Self {
        let (t1, t2, t3, t4) = (
            i128::from(t1),
            i128::from(t2),
            i128::from(t3),
            i128::from(t4),
        );
        let rtt = ((t4 - t1) - (t3 - t2)).max(0);
        Self {
            ns: (((t2 - t1) + (t3 - t4)) / 2).clamp(i64::MIN.into(), i64::MAX.into()) as i64,
            err_ns: (rtt / 2 + rtt % 2) as u64,
        }
    }
}

/// The largest error bound of a measured offset: a peer whose best round trip is longer
/// than twice this is given up on (its clock cannot place it on the run's timeline).
pub const MAX_ERR_NS: u64 = 1_000_000_000;

/// A connection, named by the host.
pub type Token = u64;

/// What the host is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes on the connection.
    Write(Token, Vec<u8>),
    /// Close the connection (after writing what it was given).
    Close(Token),
    /// Connect to this machine's address (and say [`Meet::dialed`] or [`Meet::dial_failed`]).
    Dial(u16),
    /// Say this on the terminal (a refused connection).
    Note(String),
}

/// How the handshake ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every machine is connected both ways and the start is agreed.
    Started(Start),
    /// It cannot go on: why (naming the machine and the peer).
    Failed(String),
}

/// The agreed start and the connections to run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The start on the common timeline (machine 0's clock), nanoseconds since the epoch.
    pub start_unix: u64,
    /// The same instant on this machine's monotonic clock.
    pub start_mono: u64,
    /// This machine's clock to the common timeline: add it to this machine's system time.
    pub to_common_ns: i64,
    /// The offset measured to each peer (none for this machine).
    pub offsets: Vec<Option<Offset>>,
    /// Per peer: the connection this machine dialed (it writes on it).
    pub outbound: Vec<Option<Token>>,
    /// Per peer: the connection the peer dialed (this machine reads it), and the bytes that
    /// came after its `Ready` (the peer's first frames).
    pub inbound: Vec<Option<(Token, Vec<u8>)>>,
    /// The nonce this machine sent each peer (what proves the peer to it later).
    pub nonces: Vec<u64>,
    /// The nonce each peer sent this machine (what proves this machine to it later).
    pub proofs: Vec<u64>,
    /// The peers that asked for the run's files at the end (`--collect`).
    pub collectors: Vec<bool>,
    /// The run's seed: the one machine 0 stated ([`Terms::seed`]).
    pub seed: Option<u64>,
}

#[derive(Debug)]
enum Side {
    /// Dialed by us to `peer`.
    Out {
        peer: u16,
        welcomed: bool,
        rounds: usize,
        best: Option<Offset>,
        /// The nonces proven on it (one per claim of the peer's id: only the real one
        /// counts at the peer).
        proved: Vec<u64>,
        readied: bool,
    },
    /// Dialed by someone to us: nothing said yet, an id claimed, or proven.
    In {
        from: String,
        claim: Option<u16>,
        /// The nonce its `Hello` carried.
        nonce: u64,
        /// Its `Hello` asked for the run's files at the end.
        collects: bool,
        /// The seed its `Hello` stated.
        seed: Option<u64>,
        proven: bool,
        ready: bool,
    },
}

#[derive(Debug)]
struct Conn {
    side: Side,
    reader: Reader,
    since: u64,
    leftover: Vec<u8>,
}

/// One machine's handshake.
#[derive(Debug)]
pub struct Meet {
    me: u16,
    n: usize,
    terms: Terms,
    connect_timeout_ns: u64,
    began: u64,
    conns: BTreeMap<Token, Conn>,
    /// Per peer: our dialed connection, if up.
    out: Vec<Option<Token>>,
    /// Per peer: the connection proven to be theirs.
    joined: Vec<Option<Token>>,
    /// Per peer: when to dial again, and the backoff.
    redial: Vec<Option<(u64, u64)>>,
    /// Per peer: why the last dial failed.
    last_error: Vec<Option<String>>,
    nonces: Vec<u64>,
    offsets: Vec<Option<Offset>>,
    ready: Vec<Option<u64>>,
    /// Per peer: its ready time came before the offset to machine 0, so it is not checked
    /// yet.
    unchecked: Vec<bool>,
    mine: Option<u64>,
    actions: VecDeque<Action>,
    /// This machine keeps the run's files at the end (`--collect`).
    collects: bool,
    /// The system clock at the start of the handshake: every timestamp the handshake
    /// takes is this plus the monotonic time since ([`Meet::clock`]), so that a step of
    /// the system clock during the handshake cannot move the start.
    anchor_wall: u64,
    outcome: Option<Outcome>,
}

impl Meet {
    /// Machine `me` of a run with `terms`, starting at `now`; it gives up after
    /// `connect_timeout_ns`. `seed` makes its nonces for tests: one of them gives away the
    /// others, so a host draws each from the system's randomness ([`Meet::with_nonces`]).
    pub fn new(me: u16, terms: Terms, connect_timeout_ns: u64, seed: u64, now: Now) -> Self {
        let n = terms.peers.len();
        let mut x = seed | 1;
        let nonces = (0..n)
            .map(|_| {
                // xorshift64*: distinct nonces from one seed.
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                x.wrapping_mul(0x2545_F491_4F6C_DD1D)
            })
            .collect();
        let mut m = Self {
            me,
            n,
            terms,
            connect_timeout_ns,
            began: now.mono,
            conns: BTreeMap::new(),
            out: vec![None; n],
            joined: vec![None; n],
            redial: vec![None; n],
            last_error: vec![None; n],
            nonces,
            offsets: vec![None; n],
            ready: vec![None; n],
            unchecked: vec![false; n],
            mine: None,
            actions: VecDeque::new(),
            collects: false,
            outcome: None,
            anchor_wall: now.wall,
        };
        for p in m.peers() {
            m.actions.push_back(Action::Dial(p));
        }
        m
    }

    fn peers(&self) -> impl Iterator<Item = u16> + use<> {
        let me = self.me;
        (0..self.n as u16).filter(move |&p| p != me)
    }

    /// The nonces this machine sends its peers (one per machine of the run, its own slot
    /// unused), each drawn on its own from the system's randomness: a nonce proves to this
    /// machine that a connection comes from the process listening at a peer's address, so
    /// none may be guessed from another (a peer, or anyone on the network, sees the one
    /// sent to it). A list of another length is ignored.
    #[must_use]
    pub fn with_nonces(mut self, nonces: Vec<u64>) -> Self {
        if nonces.len() == self.n {
            self.nonces = nonces;
        }
        self
    }

    /// This machine asks for the run's files at the end (`--collect`), as machine 0 keeps
    /// them.
    #[must_use]
    pub fn collecting(mut self, yes: bool) -> Self {
        self.collects = yes;
        self
    }

    /// The next thing to do, if any.
    pub fn next_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// How it ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// The monotonic instant by which [`Meet::tick`] must be called.
    pub fn wake_at(&self) -> u64 {
        let give_up = self.give_up();
        let silence = self
            .conns
            .values()
            .filter(|c| matches!(c.side, Side::In { claim: None, .. }))
            .map(|c| c.since + SILENCE_NS);
        let dials = self.redial.iter().flatten().map(|&(at, _)| at);
        silence.chain(dials).fold(give_up, u64::min)
    }

    fn give_up(&self) -> u64 {
        self.began + self.connect_timeout_ns
    }

    fn say(&mut self, t: Token, s: &Say) {
        self.actions.push_back(Action::Write(t, s.encode()));
    }

    fn close(&mut self, t: Token) {
        if let Some(Conn {
            side:
                Side::In {
                    claim: Some(p),
                    proven: true,
                    ..
                },
            ..
        }) = self.conns.remove(&t)
        {
            self.forget(p);
        }
        self.actions.push_back(Action::Close(t));
    }

    /// Machine `p`'s proven connection to this machine is gone: it has not joined.
    fn forget(&mut self, p: u16) {
        let p = usize::from(p);
        self.joined[p] = None;
        self.ready[p] = None;
        self.unchecked[p] = false;
    }

    fn refuse(&mut self, t: Token, why: &str, again: bool) {
        let from = match self.conns.get(&t).map(|c| &c.side) {
            Some(Side::In { from, .. }) => from.clone(),
            _ => "?".into(),
        };
        self.say(
            t,
            &Say::Refused {
                why: why.into(),
                again,
            },
        );
        self.actions.push_back(Action::Note(format!(
            "machine {}: refused connection from {from}: {why}",
            self.me
        )));
        self.close(t);
    }

    fn fail(&mut self, why: String) {
        if self.outcome.is_some() {
            return;
        }
        let why = format!("machine {}: {why}", self.me);
        // Every machine connected to this one hears why at once: those it accepted by a
        // refusal (a machine that dialed it fails naming the reason), those it dialed by
        // the close (their own connection to it carries the refusal).
        let conns: Vec<(Token, bool)> = self
            .conns
            .iter()
            .map(|(&t, c)| (t, matches!(c.side, Side::In { .. })))
            .collect();
        for (t, is_in) in conns {
            if is_in {
                let told = format!("it gave up: {why}");
                self.say(
                    t,
                    &Say::Refused {
                        why: told,
                        again: false,
                    },
                );
            }
            self.close(t);
        }
        self.outcome = Some(Outcome::Failed(why));
    }

    /// Once it failed: how long to go on answering `Hello`s with why, so that every
    /// machine of the run hears it (a mismatched flag is named on every screen) before
    /// this one's listener closes.
    pub const LINGER_NS: u64 = 2_000_000_000;

    /// Our connection to `peer` is up: say `Hello`.
    pub fn dialed(&mut self, now: Now, t: Token, peer: u16) {
        if self.outcome.is_some() || self.out[usize::from(peer)].is_some() {
            self.actions.push_back(Action::Close(t));
            return;
        }
        self.conns.insert(
            t,
            Conn {
                side: Side::Out {
                    peer,
                    welcomed: false,
                    rounds: 0,
                    best: None,
                    proved: Vec::new(),
                    readied: false,
                },
                reader: Reader::default(),
                since: now.mono,
                leftover: Vec::new(),
            },
        );
        self.out[usize::from(peer)] = Some(t);
        let hello = Say::Hello {
            protocol: PROTOCOL,
            sender: self.me,
            purpose: Purpose::Link,
            collects: self.collects,
            terms: self.terms.clone(),
            nonce: self.nonces[usize::from(peer)],
        };
        self.say(t, &hello);
    }

    /// Connecting to `peer` failed: try again later, until the connect timeout.
    pub fn dial_failed(&mut self, now: Now, peer: u16, why: &str) {
        self.last_error[usize::from(peer)] = Some(why.to_string());
        self.again(now, peer);
    }

    fn again(&mut self, now: Now, peer: u16) {
        let p = usize::from(peer);
        let wait = self.redial[p].map_or(20_000_000, |(_, w)| (w * 2).min(500_000_000));
        self.redial[p] = Some((now.mono + wait, wait));
    }

    /// Someone connected to us from `from`.
    pub fn accepted(&mut self, now: Now, t: Token, from: &str) {
        if matches!(self.outcome, Some(Outcome::Started(_))) {
            self.actions.push_back(Action::Close(t));
            return;
        }
        let cap = 2 * self.n + EXTRA_PENDING;
        let unproven = || {
            self.conns
                .iter()
                .filter(|(_, c)| matches!(c.side, Side::In { proven: false, .. }))
        };
        if unproven().count() >= cap {
            // The oldest that said nothing goes first, then the oldest that claimed an id
            // without proving it: none of them keeps a real peer out.
            let oldest = unproven()
                .min_by_key(|(_, c)| (matches!(c.side, Side::In { claim: Some(_), .. }), c.since))
                .map(|(&t, _)| t);
            if let Some(o) = oldest {
                self.refuse(
                    o,
                    &format!(
                        "{cap} connections were waiting to prove a machine id; the oldest gives way"
                    ),
                    true,
                );
            }
        }
        self.conns.insert(
            t,
            Conn {
                side: Side::In {
                    from: from.to_string(),
                    claim: None,
                    nonce: 0,
                    collects: false,
                    seed: None,
                    proven: false,
                    ready: false,
                },
                reader: Reader::default(),
                since: now.mono,
                leftover: Vec::new(),
            },
        );
    }

    /// The connection ended (or failed).
    pub fn closed(&mut self, now: Now, t: Token) {
        let Some(c) = self.conns.remove(&t) else {
            return;
        };
        match c.side {
            Side::Out { peer, welcomed, .. } => {
                let p = usize::from(peer);
                self.out[p] = None;
                if !welcomed && self.last_error[p].is_none() {
                    self.last_error[p] = Some("closed before it welcomed us".into());
                }
                self.again(now, peer);
            }
            Side::In {
                claim: Some(p),
                proven: true,
                ..
            } => self.forget(p),
            Side::In {
                from, claim: None, ..
            } => self.actions.push_back(Action::Note(format!(
                "machine {}: refused connection from {from}: closed before saying Hello",
                self.me
            ))),
            Side::In { .. } => {}
        }
    }

    /// Bytes arrived on the connection.
    pub fn received(&mut self, now: Now, t: Token, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        // After its `Ready`, a peer's bytes are the run's frames (it may have started while
        // this machine still waits for another's `Ready`): kept for the run, never read as
        // handshake messages.
        if matches!(c.side, Side::In { ready: true, .. }) {
            c.leftover.extend_from_slice(bytes);
            return;
        }
        let is_in = matches!(c.side, Side::In { .. });
        let (said, rest) = c
            .reader
            .push(bytes, |s| is_in && matches!(s, Say::Ready { .. }));
        if let Some(rest) = rest {
            c.leftover = rest;
        }
        for s in said {
            if !self.conns.contains_key(&t) {
                return;
            }
            if let Some(Outcome::Failed(why)) = &self.outcome {
                // While it lingers, a failed machine tells whoever says `Hello` why.
                if let (true, Ok(Say::Hello { terms, sender, .. })) = (is_in, &s) {
                    let why = self
                        .terms
                        .differs(terms, self.me, *sender)
                        .unwrap_or_else(|| format!("it gave up: {why}"));
                    self.refuse(t, &why, false);
                }
                continue;
            }
            if self.outcome.is_some() {
                return;
            }
            match s {
                Ok(s) => self.take(now, t, s),
                Err(g) => self.refuse(t, &g.to_string(), false),
            }
        }
        self.progress(now);
    }

    /// Time passed: silent connections close, failed dials are tried again, the connect
    /// timeout ends it.
    pub fn tick(&mut self, now: Now) {
        if self.outcome.is_some() {
            return;
        }
        let silent: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                matches!(c.side, Side::In { claim: None, .. }) && now.mono >= c.since + SILENCE_NS
            })
            .map(|(&t, _)| t)
            .collect();
        for t in silent {
            let why = silence(self.conns[&t].reader.has_part());
            self.refuse(t, &why, false);
        }
        for p in self.peers() {
            if let Some((at, _)) = self.redial[usize::from(p)]
                && now.mono >= at
                && self.out[usize::from(p)].is_none()
            {
                self.redial[usize::from(p)] =
                    Some((u64::MAX, self.redial[usize::from(p)].map_or(0, |r| r.1)));
                self.actions.push_back(Action::Dial(p));
            }
        }
        if now.mono >= self.give_up() {
            let why = self.missing();
            self.fail(format!(
                "peers did not all connect within {} s: {why}",
                self.connect_timeout_ns / 1_000_000_000
            ));
        }
    }

    /// What the handshake still waits for, per peer (to say while it waits).
    pub fn missing(&self) -> String {
        let mut parts = Vec::new();
        for p in self.peers() {
            let i = usize::from(p);
            let addr = &self.terms.peers[i];
            let what = match (self.out[i], self.joined[i], self.ready[i]) {
                (None, _, _) => format!(
                    "no connection to {addr}{}",
                    self.last_error[i]
                        .as_ref()
                        .map_or(String::new(), |e| format!(" ({e})"))
                ),
                (_, None, _) => "it has not connected to us and proven its id".into(),
                (_, _, None) => "it is not ready (still waiting for another machine)".into(),
                _ => continue,
            };
            parts.push(format!("machine {p} at {addr}: {what}"));
        }
        if parts.is_empty() {
            "this machine is not ready".into()
        } else {
            parts.join("; ")
        }
    }

    fn take(&mut self, now: Now, t: Token, s: Say) {
        let Some(c) = self.conns.get_mut(&t) else {
            return;
        };
        match &mut c.side {
            Side::Out { .. } => self.take_out(now, t, s),
            Side::In { .. } => self.take_in(now, t, s),
        }
    }

    fn take_out(&mut self, now: Now, t: Token, s: Say) {
        let clock = self.clock(now);
        let Some(Conn {
            side:
                Side::Out {
                    peer,
                    welcomed,
                    rounds,
                    best,
                    ..
                },
            ..
        }) = self.conns.get_mut(&t)
        else {
            return;
        };
        let peer = *peer;
        let addr = self.terms.peers[usize::from(peer)].clone();
        match s {
            Say::Welcome if !*welcomed => {
                *welcomed = true;
                self.say(t, &Say::Ping { t1: clock });
            }
            Say::Pong { t1, t2, t3 } if *welcomed && *rounds < ROUNDS => {
                let o = Offset::of(t1, t2, t3, clock);
                if best.is_none_or(|b| o.err_ns < b.err_ns) {
                    *best = Some(o);
                }
                *rounds += 1;
                if *rounds < ROUNDS {
                    self.say(t, &Say::Ping { t1: clock });
                } else if let Some(b) = best.filter(|b| b.err_ns > MAX_ERR_NS) {
                    let ms = 2 * b.err_ns / 1_000_000;
                    self.fail(format!(
                        "machine {peer} at {addr}: its clock cannot be measured: the best of {ROUNDS} round trips took {ms} ms (at most {} ms)",
                        2 * MAX_ERR_NS / 1_000_000
                    ));
                } else {
                    self.offsets[usize::from(peer)] = *best;
                }
            }
            Say::Refused { why, again: true } => {
                self.last_error[usize::from(peer)] = Some(format!("refused: {why}"));
                self.closed(now, t);
                self.actions.push_back(Action::Close(t));
            }
            Say::Refused { why, again: false } => {
                self.fail(format!("machine {peer} at {addr} refused us: {why}"));
            }
            other => self.fail(format!(
                "machine {peer} at {addr} broke the handshake: {}",
                name(&other)
            )),
        }
    }

    /// A first `Hello` on a connection someone dialed: a claim of an id, welcomed unless
    /// it is refused with why.
    fn take_hello(&mut self, t: Token, hello: Say) {
        let Say::Hello {
            protocol,
            sender,
            purpose,
            collects,
            terms,
            nonce,
        } = hello
        else {
            return;
        };
        let judged = judge_hello(&self.terms, self.me, protocol, sender, &terms);
        // Another protocol first, then the purpose, then the rest.
        if protocol == PROTOCOL && purpose != Purpose::Link {
            return self.refuse(t, "logs before the run has ended", false);
        }
        if let Err(why) = judged {
            return self.refuse(t, &why, false);
        }
        if self.joined[usize::from(sender)].is_some() {
            let why = format!("machine {sender} has joined already");
            return self.refuse(t, &why, false);
        }
        if let Some(Conn {
            side:
                Side::In {
                    claim,
                    nonce: n,
                    collects: c,
                    seed,
                    ..
                },
            ..
        }) = self.conns.get_mut(&t)
        {
            *claim = Some(sender);
            *n = nonce;
            *c = collects;
            *seed = terms.seed;
        }
        self.say(t, &Say::Welcome);
    }

    fn take_in(&mut self, now: Now, t: Token, s: Say) {
        let Some(Conn {
            side: Side::In { claim, proven, .. },
            ..
        }) = self.conns.get(&t)
        else {
            return;
        };
        let (claim, proven) = (*claim, *proven);
        match (claim, s) {
            (None, hello @ Say::Hello { .. }) => self.take_hello(t, hello),
            (Some(_), Say::Ping { t1 }) => {
                // Arrived and answered at one instant (the host reads its clock once per
                // event).
                let at = self.clock(now);
                self.say(t, &Say::Pong { t1, t2: at, t3: at });
            }
            (Some(_), Say::Proof { .. }) if proven => {}
            (Some(p), Say::Proof { nonce }) => {
                if nonce != self.nonces[usize::from(p)] || self.joined[usize::from(p)].is_some() {
                    // One proof per claim of the id comes: only one can be right.
                    return;
                }
                self.joined[usize::from(p)] = Some(t);
                if let Some(Conn {
                    side: Side::In { proven, .. },
                    ..
                }) = self.conns.get_mut(&t)
                {
                    *proven = true;
                }
                // Other claims of the same id give way.
                let others: Vec<Token> = self
                    .conns
                    .iter()
                    .filter(|(o, c)| **o != t && matches!(c.side, Side::In { claim: Some(q), proven: false, .. } if q == p))
                    .map(|(&o, _)| o)
                    .collect();
                for o in others {
                    self.refuse(
                        o,
                        &format!("machine {p} has joined already (its id proven)"),
                        false,
                    );
                }
            }
            (Some(p), Say::Ready { at }) if proven => self.take_ready(now, t, p, at),
            (_, other) => {
                let why = format!("{} out of turn", name(&other));
                self.refuse(t, &why, false);
            }
        }
    }

    fn take_ready(&mut self, now: Now, t: Token, p: u16, at: u64) {
        // Until this machine has measured machine 0's clock it cannot place a ready time on
        // the common timeline: the check waits for the offset (`progress`).
        if self.to_common().is_some() {
            if !self.sane_ready(now, p, at) {
                return;
            }
        } else {
            self.unchecked[usize::from(p)] = true;
        }
        self.ready[usize::from(p)] = Some(at);
        if let Some(Conn {
            side: Side::In { ready, .. },
            ..
        }) = self.conns.get_mut(&t)
        {
            *ready = true;
        }
    }

    /// Whether `at`, machine `p`'s ready time, is within the sane window around now on the
    /// common timeline; fails the handshake otherwise.
    fn sane_ready(&mut self, now: Now, p: u16, at: u64) -> bool {
        let common = self.common(now);
        let earliest = common.saturating_sub(self.connect_timeout_ns + MARGIN_NS);
        if at > common.saturating_add(READY_AHEAD_NS) || at < earliest {
            let secs = (i128::from(at) - i128::from(common)) as f64 / 1e9;
            self.fail(format!(
                "machine {p} at {} says it was ready {secs:+.3} s from now on the run's timeline, outside [-{} s, +{} s]: refused (not a lamport-lab peer, or a clock stepped during the handshake)",
                self.terms.peers[usize::from(p)],
                (self.connect_timeout_ns + MARGIN_NS) / 1_000_000_000,
                READY_AHEAD_NS / 1_000_000_000,
            ));
            return false;
        }
        true
    }

    /// This machine's clock to the common timeline (machine 0's clock), once measured.
    fn to_common(&self) -> Option<i64> {
        if self.me == 0 {
            Some(0)
        } else {
            self.offsets[0].map(|o| o.ns)
        }
    }

    /// This machine's clock now: the system clock read at the start of the handshake,
    /// carried on by the monotonic clock.
    fn clock(&self, now: Now) -> u64 {
        self.anchor_wall
            .saturating_add(now.mono.saturating_sub(self.began))
    }

    fn common(&self, now: Now) -> u64 {
        let off = self.to_common().unwrap_or(0);
        (i128::from(self.clock(now)) + i128::from(off)).max(0) as u64
    }

    /// Sends proofs and `Ready` when due; agrees on the start when every ready time is in.
    fn progress(&mut self, now: Now) {
        if self.outcome.is_some() {
            return;
        }
        // Ready times that came before the offset to machine 0 was measured are checked now.
        if self.to_common().is_some() {
            for p in self.peers() {
                let i = usize::from(p);
                if let Some(at) = self.ready[i]
                    && self.unchecked[i]
                {
                    if !self.sane_ready(now, p, at) {
                        return;
                    }
                    self.unchecked[i] = false;
                }
            }
        }
        // A proof goes out for each claim of the peer's id once it welcomed us.
        let claims: Vec<(u16, u64)> = self
            .conns
            .values()
            .filter_map(|c| match c.side {
                Side::In {
                    claim: Some(p),
                    nonce,
                    ..
                } => Some((p, nonce)),
                _ => None,
            })
            .collect();
        let mut to_say = Vec::new();
        for (&t, c) in &mut self.conns {
            if let Side::Out {
                peer,
                welcomed: true,
                proved,
                ..
            } = &mut c.side
            {
                for &(p, nonce) in &claims {
                    if p == *peer && !proved.contains(&nonce) {
                        proved.push(nonce);
                        to_say.push((t, Say::Proof { nonce }));
                    }
                }
            }
        }
        for (t, s) in to_say {
            self.say(t, &s);
        }
        let all_up = self.peers().all(|p| {
            let i = usize::from(p);
            self.offsets[i].is_some() && self.joined[i].is_some() && self.out[i].is_some()
        });
        if all_up && self.mine.is_none() {
            self.mine = Some(self.common(now));
        }
        if let Some(at) = self.mine {
            let due: Vec<Token> = self
                .conns
                .iter_mut()
                .filter_map(|(&t, c)| match &mut c.side {
                    // Once its pings are done: nothing of the handshake follows a `Ready`
                    // (a connection dialed again after `mine` was set still measures).
                    Side::Out {
                        proved,
                        readied,
                        rounds,
                        ..
                    } if !proved.is_empty() && !*readied && *rounds >= ROUNDS => {
                        *readied = true;
                        Some(t)
                    }
                    _ => None,
                })
                .collect();
            for t in due {
                self.say(t, &Say::Ready { at });
            }
        }
        // Every peer must have our ready time on the connection we dialed it now (one
        // dialed again after a break has not said it yet).
        let told = self.peers().all(|p| {
            self.out[usize::from(p)]
                .and_then(|t| self.conns.get(&t))
                .is_some_and(|c| matches!(c.side, Side::Out { readied: true, .. }))
        });
        if let Some(mine) = self.mine
            && all_up
            && told
            && self.peers().all(|p| self.ready[usize::from(p)].is_some())
        {
            self.start(now, mine);
        }
    }

    fn start(&mut self, now: Now, mine: u64) {
        let latest = self.ready.iter().flatten().copied().fold(mine, u64::max);
        let start_unix = latest + MARGIN_NS + self.n as u64 * MARGIN_PER_MACHINE_NS;
        let common = self.common(now);
        let start_mono =
            (i128::from(now.mono) + i128::from(start_unix) - i128::from(common)).max(0) as u64;
        let inbound = (0..self.n)
            .map(|p| {
                self.joined[p].map(|t| {
                    (
                        t,
                        self.conns
                            .get(&t)
                            .map_or_else(Vec::new, |c| c.leftover.clone()),
                    )
                })
            })
            .collect();
        // The run's seed: machine 0's, as it stated it (on the connection it proved).
        let seed = if self.me == 0 {
            self.terms.seed
        } else {
            self.proven_hello(0).and_then(|h| h.seed)
        };
        // Connections that never proved an id are closed.
        let strays: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.side, Side::In { proven: false, .. }))
            .map(|(&t, _)| t)
            .collect();
        for t in strays {
            self.refuse(t, "the run has started", false);
        }
        self.outcome = Some(Outcome::Started(Start {
            start_unix,
            start_mono,
            to_common_ns: self.to_common().unwrap_or(0),
            offsets: self.offsets.clone(),
            outbound: self.out.clone(),
            inbound,
            nonces: self.nonces.clone(),
            proofs: (0..self.n)
                .map(|p| self.proven_hello(p).map_or(0, |h| h.nonce))
                .collect(),
            collectors: (0..self.n)
                .map(|p| self.proven_hello(p).is_some_and(|h| h.collects))
                .collect(),
            seed,
        }));
    }

    /// What machine `p`'s `Hello` said on the connection it proved to be its own.
    fn proven_hello(&self, p: usize) -> Option<Stated> {
        match self.joined[p].and_then(|t| self.conns.get(&t)) {
            Some(Conn {
                side:
                    Side::In {
                        nonce,
                        collects,
                        seed,
                        ..
                    },
                ..
            }) => Some(Stated {
                nonce: *nonce,
                collects: *collects,
                seed: *seed,
            }),
            _ => None,
        }
    }
}

/// What a peer's `Hello` stated that the start passes on.
#[derive(Debug, Clone, Copy)]
struct Stated {
    nonce: u64,
    collects: bool,
    seed: Option<u64>,
}

/// A message's name, for errors.
pub fn name(s: &Say) -> &'static str {
    match s {
        Say::Hello { .. } => "Hello",
        Say::Welcome => "Welcome",
        Say::Refused { .. } => "Refused",
        Say::Ping { .. } => "Ping",
        Say::Pong { .. } => "Pong",
        Say::Proof { .. } => "Proof",
        Say::Ready { .. } => "Ready",
        Say::File { .. } => "File",
        Say::Done => "Done",
        Say::Kept => "Kept",
    }
}
