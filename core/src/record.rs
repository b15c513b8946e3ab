//! The event record and the one log-line format: `docs/model.md` "Log format v1".
//!
//! ```text
//! # lamport-lab log v1
//! # machine=0 machines=3 rate=4 speedup=1 secs=60 seed=42 roll_max=10 queue_cap=1024 start_unix_ns=1764070000000000000
//! unix_ns,machine,event,clock,queue,peer,msg_clock,note
//! 1764070000000000000,0,start,0,0,,,
//! 1764070000250398000,0,send,2,0,1,2,
//! ```
//!
//! Records are formatted through [`core::fmt::Write`] ([`Record`] implements `Display`), so
//! a host, the simulator and a microcontroller print the same bytes; [`Record::parse`] and
//! [`Header::parse_params`] read them back for the checker and the analyzer.

use crate::{Error, MachineId, UnixNanos, params::write_milli};
use core::fmt;

/// The first line of every log file.
pub const VERSION_LINE: &str = "# lamport-lab log v1";
/// The column names line.
pub const COLUMNS_LINE: &str = "unix_ns,machine,event,clock,queue,peer,msg_clock,note";

/// The longest line a reader of logs takes (1 MiB, newline included). The longest the core
/// writes, for a run of [`crate::params::MAX_MACHINES`] machines, is an `end` row whose note
/// names a count mismatch for every peer (about 90 KB; a `send` to every peer is about
/// 4 KB): a longer line is not a log line, and a reader refuses it without holding it.
pub const MAX_LINE: usize = 1 << 20;

/// Free text on a record (the reason on `end`); never contains a comma or a newline.
///
/// With the feature `alloc` (the hosts, `lab`) a note is as long as it needs to be: an
/// `end` note names every lost peer of a run of up to [`crate::params::MAX_MACHINES`]
/// machines (kilobytes, for half of 1,024 lost), and [`Record::parse`] reads back a note of
/// any length. Without it (a microcontroller) a record keeps its fixed size and a note holds
/// at most [`NOTE_CAP`] bytes; [`core::fmt::Write`] into a full note fails and writes
/// nothing more, and the node then leaves out a whole part of its `end` note rather than
/// cut one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Note(NoteText);

/// A note's bytes without `alloc`: a record's fixed size.
pub const NOTE_CAP: usize = 96;

#[cfg(feature = "alloc")]
type NoteText = alloc::string::String;
#[cfg(not(feature = "alloc"))]
type NoteText = heapless::String<NOTE_CAP>;

impl Note {
    /// An empty note.
    pub const fn new() -> Self {
        Self(NoteText::new())
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Bytes that still fit (`usize::MAX` with `alloc`).
    pub fn room(&self) -> usize {
        #[cfg(feature = "alloc")]
        return usize::MAX;
        #[cfg(not(feature = "alloc"))]
        return NOTE_CAP - self.0.len();
    }

    /// Appends `c`; `Err` when it does not fit (nothing is written then).
    #[allow(clippy::result_unit_err)]
    pub fn push(&mut self, c: char) -> Result<(), ()> {
        fmt::Write::write_char(self, c).map_err(|_| ())
    }
}

impl core::ops::Deref for Note {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Note {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Write for Note {
    /// All of `s`, or nothing and `Err` when it does not fit.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() > self.room() {
            return Err(fmt::Error);
        }
        self.0.write_str(s)
    }
}

impl TryFrom<&str> for Note {
    type Error = Error;
    /// `Err(Error::Field("note"))` when `s` does not fit (never with `alloc`).
    fn try_from(s: &str) -> Result<Self, Error> {
        let mut n = Self::new();
        fmt::Write::write_str(&mut n, s).map_err(|_| Error::Field("note"))?;
        Ok(n)
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The machine is ready; the run's tick 0 follows.
    Start,
    /// One message taken off the queue.
    Recv,
    /// One send event (to one peer, or to every peer).
    Send,
    /// An internal event.
    Internal,
    /// At the end, a message that was never taken off the queue.
    Unprocessed,
    /// The machine stopped; the note says why.
    End,
    /// A fault set while the run ran ([`crate::live::Live`]; log v3): the note says which.
    Fault,
}

impl Kind {
    /// The name in the `event` column.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Recv => "recv",
            Self::Send => "send",
            Self::Internal => "internal",
            Self::Unprocessed => "unprocessed",
            Self::End => "end",
            Self::Fault => "fault",
        }
    }

    /// True for the three kinds a tick produces.
    pub const fn is_tick(self) -> bool {
        matches!(self, Self::Recv | Self::Send | Self::Internal)
    }

    fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "start" => Self::Start,
            "recv" => Self::Recv,
            "send" => Self::Send,
            "internal" => Self::Internal,
            "unprocessed" => Self::Unprocessed,
            "end" => Self::End,
            "fault" => Self::Fault,
            _ => return Err(Error::Field("event")),
        })
    }
}

/// The `peer` column: nobody, one machine, or every machine but one (a send to every peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peers {
    /// Empty column.
    None,
    /// One machine.
    One(MachineId),
    /// Every machine of `0..machines` except `me`, written `a+b+...` in increasing order.
    AllBut {
        /// The sender, left out.
        me: MachineId,
        /// Machines in the run.
        machines: u16,
    },
}

impl Peers {
    /// Iterates over the machines named, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = MachineId> {
        let (range, skip, single) = match self {
            Self::None => (0..0, None, None),
            Self::One(p) => (0..0, None, Some(p)),
            Self::AllBut { me, machines } => (0..machines, Some(me), None),
        };
        single
            .into_iter()
            .chain(range.filter(move |&i| Some(i) != skip))
    }

    /// Number of machines named.
    pub fn count(self) -> usize {
        match self {
            Self::None => 0,
            Self::One(_) => 1,
            Self::AllBut { machines, .. } => usize::from(machines) - 1,
        }
    }
}

impl fmt::Display for Peers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// One event of one machine: one line of its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// System time of the event.
    pub unix_ns: u64,
    /// The machine it happened on.
    pub machine: MachineId,
    /// What happened.
    pub kind: Kind,
    /// The logical clock after the event.
    pub clock: u64,
    /// Queue length at the event: after taking the message for `recv`; the running count of
    /// leftover messages for `unprocessed` (1, 2, ...); the number left for `end`.
    pub queue: u32,
    /// Sender (`recv`, `unprocessed`) or receivers (`send`).
    pub peer: Peers,
    /// The clock value the message carries.
    pub msg_clock: Option<u64>,
    /// Free text: the reason on `end`.
    pub note: Note,
}

impl Record {
    /// A record with empty `peer`, `msg_clock` and `note`.
    pub fn new(at: UnixNanos, machine: MachineId, kind: Kind, clock: u64, queue: u32) -> Self {
        Self {
            unix_ns: at.ns(),
            machine,
            kind,
            clock,
            queue,
            peer: Peers::None,
            msg_clock: None,
            note: Note::new(),
        }
    }

    /// Parses one data line of a log of a run of `machines` machines. Columns after `note`
    /// are ignored (the format may grow to the right).
    pub fn parse(line: &str, machines: u16) -> Result<Self, Error> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        // Split on the first 8 columns in one pass over the bytes (columns after the 8th
        // are ignored; the format may grow to the right).
        let mut cols = [""; 8];
        let (mut k, mut start) = (0, 0);
        for (i, &b) in line.as_bytes().iter().enumerate() {
            if b == b',' {
                cols[k] = &line[start..i];
                k += 1;
                start = i + 1;
                if k == 8 {
                    break;
                }
            }
        }
        if k == 7 {
            cols[7] = &line[start..];
            k = 8;
        }
        if k < 8 {
            return Err(Error::Columns);
        }
        let mut cols = cols.into_iter();
        let mut next = || cols.next().ok_or(Error::Columns);
        let unix_ns = num(next()?, "unix_ns")?;
        let machine: MachineId = num(next()?, "machine")?;
        if machine >= machines {
            return Err(Error::Field("machine"));
        }
        let kind = Kind::parse(next()?)?;
        let clock = num(next()?, "clock")?;
        let queue = num(next()?, "queue")?;
        let peer = parse_peers(next()?, machine, machines)?;
        let msg_clock = match next()? {
            "" => None,
            s => Some(num(s, "msg_clock")?),
        };
        let note = Note::try_from(next()?).map_err(|_| Error::Field("note"))?;
        Ok(Self {
            unix_ns,
            machine,
            kind,
            clock,
            queue,
            peer,
            msg_clock,
            note,
        })
    }
}

/// A plain decimal (digits only: the format never writes a sign), in one pass.
fn num<T: TryFrom<u64>>(s: &str, name: &'static str) -> Result<T, Error> {
    if s.is_empty() || s.len() > 20 {
        return Err(Error::Field(name));
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(Error::Field(name));
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d)))
            .ok_or(Error::Field(name))?;
    }
    T::try_from(v).map_err(|_| Error::Field(name))
}

fn parse_peers(s: &str, me: MachineId, machines: u16) -> Result<Peers, Error> {
    const BAD: Error = Error::Field("peer");
    if s.is_empty() {
        return Ok(Peers::None);
    }
    if !s.contains('+') {
        let p: MachineId = num(s, "peer")?;
        return if p < machines {
            Ok(Peers::One(p))
        } else {
            Err(BAD)
        };
    }
    // Must be exactly every other machine, in increasing order.
    let mut expect = Peers::AllBut { me, machines }.iter();
    for part in s.split('+') {
        let p: MachineId = num(part, "peer")?;
        if Some(p) != expect.next() {
            return Err(BAD);
        }
    }
    if expect.next().is_some() {
        return Err(BAD);
    }
    Ok(Peers::AllBut { me, machines })
}

impl fmt::Display for Record {
    /// The log line, without the newline. Formatted by hand into a small buffer and handed
    /// to the writer in (usually) one piece: `core::fmt`'s integer formatting was most of
    /// the simulator's time.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = LineOut::new(f);
        out.u64(self.unix_ns)?;
        out.byte(b',')?;
        out.u64(self.machine.into())?;
        out.byte(b',')?;
        out.bytes(self.kind.name().as_bytes())?;
        out.byte(b',')?;
        out.u64(self.clock)?;
        out.byte(b',')?;
        out.u64(self.queue.into())?;
        out.byte(b',')?;
        for (i, p) in self.peer.iter().enumerate() {
            if i > 0 {
                out.byte(b'+')?;
            }
            out.u64(p.into())?;
        }
        out.byte(b',')?;
        if let Some(c) = self.msg_clock {
            out.u64(c)?;
        }
        out.byte(b',')?;
        out.bytes(self.note.as_bytes())?;
        out.flush()
    }
}

/// A small line buffer in front of a `fmt::Write`: flushes only when full, and at the end.
struct LineOut<'w, W: fmt::Write> {
    w: &'w mut W,
    buf: [u8; 128],
    len: usize,
}

impl<'w, W: fmt::Write> LineOut<'w, W> {
    fn new(w: &'w mut W) -> Self {
        Self {
            w,
            buf: [0; 128],
            len: 0,
        }
    }

    fn flush(&mut self) -> fmt::Result {
        if self.len > 0 {
            // Only whole UTF-8 sequences are ever pushed, so this cannot fail.
            let s = core::str::from_utf8(&self.buf[..self.len]).map_err(|_| fmt::Error)?;
            self.w.write_str(s)?;
            self.len = 0;
        }
        Ok(())
    }

    fn byte(&mut self, b: u8) -> fmt::Result {
        if self.len == self.buf.len() {
            self.flush()?;
        }
        self.buf[self.len] = b;
        self.len += 1;
        Ok(())
    }

    fn bytes(&mut self, b: &[u8]) -> fmt::Result {
        if self.len + b.len() > self.buf.len() {
            self.flush()?;
            if b.len() > self.buf.len() {
                let s = core::str::from_utf8(b).map_err(|_| fmt::Error)?;
                return self.w.write_str(s);
            }
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
        Ok(())
    }

    fn u64(&mut self, v: u64) -> fmt::Result {
        self.bytes(itoa::Buffer::new().format(v).as_bytes())
    }
}

/// The parameters line of a machine's log (its second line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// This machine.
    pub machine: MachineId,
    /// Machines in the run.
    pub machines: u16,
    /// This machine's clock rate (ticks per second, before speedup).
    pub rate: u32,
    /// Speedup in thousandths.
    pub speedup_milli: u32,
    /// Run length in seconds.
    pub secs: u64,
    /// The run seed.
    pub seed: u64,
    /// Rolls are uniform in `1..=roll_max`.
    pub roll_max: u32,
    /// Run-time queue limit.
    pub queue_cap: u32,
    /// The instant of the run's start.
    pub start_unix_ns: u64,
    /// Tick 0's offset from the start (the key `phase_ns=`, written only when not 0: a run
    /// with `--phase spread`; absent means 0).
    pub phase_ns: u64,
}

impl fmt::Display for Header {
    /// The three lines that open a log (version, parameters, column names), each ending in `\n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{VERSION_LINE}")?;
        self.params_line(f)?;
        writeln!(f, "{COLUMNS_LINE}")
    }
}

/// The version line of a log whose run had faults: v1 with the line `# faults=...` between
/// the parameters and the column names. A reader of v1 only refuses it by its first line.
pub const VERSION_LINE_V2: &str = "# lamport-lab log v2";

/// The version line of a log with `fault` rows (faults set while the run ran,
/// [`crate::live`]): v1, or v2 when a `# faults=` line follows the parameters, plus those
/// rows. A host writes v1 or v2 at the start and, at its first live fault, rewrites the
/// line in place: the three lines have the same length. A reader of v2 refuses it by its
/// first line rather than misjudge a paused machine's skipped ticks.
pub const VERSION_LINE_V3: &str = "# lamport-lab log v3";
const _: () = assert!(VERSION_LINE_V3.len() == VERSION_LINE.len());
const _: () = assert!(VERSION_LINE_V3.len() == VERSION_LINE_V2.len());

/// The lines that open a log: [`Header`]'s three (v1) for a run without faults; with
/// faults, v2: the version, the parameters, `# faults=...` ([`crate::faults::Plan`]), the
/// column names. A log that comes to hold `fault` rows has its first line rewritten as v3
/// ([`VERSION_LINE_V3`]) at the first of them.
#[derive(Debug, Clone, Copy)]
pub struct Opening<'a> {
    /// The parameters.
    pub header: Header,
    /// The faults.
    pub faults: &'a crate::faults::Plan,
}

impl fmt::Display for Opening<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.faults.is_empty() {
            return self.header.fmt(f);
        }
        writeln!(f, "{VERSION_LINE_V2}")?;
        self.header.params_line(f)?;
        writeln!(f, "# faults={}", self.faults)?;
        writeln!(f, "{COLUMNS_LINE}")
    }
}

impl Header {
    /// The parameters line, ending in `\n`.
    fn params_line(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "# machine={} machines={} rate={} speedup=",
            self.machine, self.machines, self.rate
        )?;
        write_milli(f, self.speedup_milli)?;
        write!(
            f,
            " secs={} seed={} roll_max={} queue_cap={} start_unix_ns={}",
            self.secs, self.seed, self.roll_max, self.queue_cap, self.start_unix_ns
        )?;
        if self.phase_ns != 0 {
            // Only then, so that aligned runs keep the header they always had.
            write!(f, " phase_ns={}", self.phase_ns)?;
        }
        writeln!(f)
    }
}

impl Header {
    /// The keys of the parameters line, in the order they are written (`phase_ns` only
    /// when not 0).
    pub const KEYS: [&'static str; 10] = [
        "machine",
        "machines",
        "rate",
        "speedup",
        "secs",
        "seed",
        "roll_max",
        "queue_cap",
        "start_unix_ns",
        "phase_ns",
    ];

    /// The run parameters the header states, its machine's rate as both bounds of the
    /// range (a machine draws its rate with one value of its RNG whatever the range, but
    /// for a chance below 2e-9, so these give the same rolls).
    pub fn params(&self) -> crate::RunParams {
        crate::RunParams {
            machines: self.machines,
            secs: self.secs,
            seed: self.seed,
            rate_min: self.rate,
            rate_max: self.rate,
            roll_max: self.roll_max,
            speedup_milli: self.speedup_milli,
            queue_cap: self.queue_cap,
            start_unix_ns: self.start_unix_ns,
            spread_phase: self.phase_ns != 0,
        }
    }

    /// The tick schedule the header describes (its phase included).
    pub fn schedule(&self) -> crate::Schedule {
        crate::Schedule::new(self.start_unix_ns, self.rate, self.speedup_milli, self.secs)
            .with_phase(self.phase_ns, self.secs)
    }

    /// Checks the version line; returns the version (1; 2: a `# faults=` line follows the
    /// parameters; 3: `fault` rows may follow, and a `# faults=` line may).
    pub fn check_version(line: &str) -> Result<u32, Error> {
        match line.trim_end() {
            VERSION_LINE => Ok(1),
            VERSION_LINE_V2 => Ok(2),
            VERSION_LINE_V3 => Ok(3),
            _ => Err(Error::LogVersion),
        }
    }

    /// Parses the `# key=value ...` parameters line. Unknown keys are ignored; every key
    /// above is required.
    pub fn parse_params(line: &str) -> Result<Self, Error> {
        let body = line
            .trim_end()
            .strip_prefix('#')
            .ok_or(Error::Field("header"))?;
        let mut h = [None::<&str>; 10];
        for kv in body.split_ascii_whitespace() {
            let (k, v) = kv.split_once('=').ok_or(Error::Field("header"))?;
            if let Some(i) = Self::KEYS.iter().position(|&key| key == k) {
                h[i] = Some(v);
            }
        }
        let get = |i: usize| h[i].ok_or(Error::Field(Self::KEYS[i]));
        Ok(Self {
            machine: num(get(0)?, "machine")?,
            machines: num(get(1)?, "machines")?,
            rate: num(get(2)?, "rate")?,
            speedup_milli: crate::params::parse_milli(get(3)?).ok_or(Error::Field("speedup"))?,
            secs: num(get(4)?, "secs")?,
            seed: num(get(5)?, "seed")?,
            roll_max: num(get(6)?, "roll_max")?,
            queue_cap: num(get(7)?, "queue_cap")?,
            start_unix_ns: num(get(8)?, "start_unix_ns")?,
            phase_ns: h[9].map_or(Ok(0), |v| num(v, "phase_ns"))?,
        })
    }
}

/// Where a machine writes its records. A host writes a file; the simulator calls back.
pub trait Log {
    /// What can go wrong when writing.
    type Error;
    /// Writes one record. Must reach its destination (the OS, for a host) before returning.
    fn write(&mut self, rec: &Record) -> Result<(), Self::Error>;
}

impl<F: FnMut(&Record)> Log for F {
    type Error = core::convert::Infallible;
    fn write(&mut self, rec: &Record) -> Result<(), Self::Error> {
        self(rec);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{format, string::ToString};

    const FORMAT_EXAMPLE: &str = "\
1764070000000000000,0,start,0,0,,,
1764070000000412000,0,internal,1,0,,,
1764070000250398000,0,send,2,0,1,2,
1764070000500377000,0,send,3,0,1+2,3,
1764070000750401000,0,recv,5,2,1,4,
1764070060000912000,0,unprocessed,57,1,2,44,
1764070060001004000,0,end,57,1,,,time up";

    #[test]
    fn design_example_round_trips_byte_for_byte() {
        for line in FORMAT_EXAMPLE.lines() {
            let rec = Record::parse(line, 3).unwrap();
            assert_eq!(rec.to_string(), line);
        }
        let send = Record::parse("1764070000500377000,0,send,3,0,1+2,3,", 3).unwrap();
        assert_eq!(send.peer, Peers::AllBut { me: 0, machines: 3 });
        assert_eq!(send.msg_clock, Some(3));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Lines written with `itoa` digits are byte for byte what `core::fmt` writes (the
        /// hand-rolled digits before were checked the same way).
        #[test]
        fn lines_format_like_core_fmt(
            t in proptest::prelude::any::<u64>(),
            clock in proptest::prelude::any::<u64>(),
            queue in proptest::prelude::any::<u32>(),
            m in proptest::prelude::any::<Option<u64>>(),
        ) {
            let mut r = Record::new(UnixNanos(t), 1, Kind::Recv, clock, queue);
            r.peer = Peers::One(2);
            r.msg_clock = m;
            let want = format!(
                "{t},1,recv,{clock},{queue},2,{},",
                m.map(|v| v.to_string()).unwrap_or_default()
            );
            proptest::prop_assert_eq!(r.to_string(), want);
        }
    }

    #[test]
    fn long_lines_format_like_core_fmt() {
        // A send to every peer of a 200-machine run is longer than the line buffer.
        let mut r = Record::new(UnixNanos(u64::MAX), 7, Kind::Send, u64::MAX, u32::MAX);
        r.peer = Peers::AllBut {
            me: 7,
            machines: 200,
        };
        r.msg_clock = Some(0);
        r.note = Note::try_from("é, naïve note").unwrap();
        let mut want = format!("{},7,send,{},{},", u64::MAX, u64::MAX, u32::MAX);
        let ids: std::vec::Vec<std::string::String> = (0..200u16)
            .filter(|&i| i != 7)
            .map(|i| i.to_string())
            .collect();
        want += &ids.join("+");
        want += ",0,é, naïve note";
        assert_eq!(r.to_string(), want);
    }

    #[test]
    fn extra_columns_are_ignored() {
        let rec = Record::parse("5,1,internal,1,0,,,,extra,more", 3).unwrap();
        assert_eq!(rec.kind, Kind::Internal);
    }

    #[test]
    fn bad_lines_name_the_column() {
        assert_eq!(Record::parse("5,1,internal", 3), Err(Error::Columns));
        assert_eq!(
            Record::parse("x,1,internal,1,0,,,", 3),
            Err(Error::Field("unix_ns"))
        );
        assert_eq!(
            Record::parse("5,3,internal,1,0,,,", 3),
            Err(Error::Field("machine"))
        );
        assert_eq!(
            Record::parse("5,1,jump,1,0,,,", 3),
            Err(Error::Field("event"))
        );
        assert_eq!(
            Record::parse("5,1,recv,-1,0,2,,", 3),
            Err(Error::Field("clock"))
        );
        assert_eq!(
            Record::parse("5,1,send,1,0,0+0,1,", 3),
            Err(Error::Field("peer"))
        );
        assert_eq!(
            Record::parse("5,1,send,1,0,0+2+3,1,", 3),
            Err(Error::Field("peer"))
        );
        assert_eq!(
            Record::parse("5,1,send,1,0,0,+1,", 3),
            Err(Error::Field("msg_clock"))
        );
    }

    #[test]
    fn header_round_trips() {
        let h = Header {
            machine: 0,
            machines: 3,
            rate: 4,
            speedup_milli: 1000,
            secs: 60,
            seed: 42,
            roll_max: 10,
            queue_cap: 1024,
            start_unix_ns: 1764070000000000000,
            phase_ns: 0,
        };
        let text = h.to_string();
        let lines: std::vec::Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "# lamport-lab log v1",
                "# machine=0 machines=3 rate=4 speedup=1 secs=60 seed=42 roll_max=10 queue_cap=1024 start_unix_ns=1764070000000000000",
                COLUMNS_LINE,
            ]
        );
        assert_eq!(Header::check_version(lines[0]), Ok(1));
        assert_eq!(Header::check_version("# lamport-lab log v2"), Ok(2));
        assert_eq!(Header::check_version("# lamport-lab log v3"), Ok(3));
        assert_eq!(
            Header::check_version("# lamport-lab log v4"),
            Err(Error::LogVersion)
        );
        // No faults: the opening is v1, byte for byte; with faults, v2 and one more line.
        let none = crate::faults::Plan::NONE;
        let plain = Opening {
            header: h,
            faults: &none,
        }
        .to_string();
        assert_eq!(plain, text);
        let mut plan = crate::faults::Plan::default();
        plan.add_pause("1@2+3").unwrap();
        let v2 = Opening {
            header: h,
            faults: &plan,
        }
        .to_string();
        let v2: std::vec::Vec<&str> = v2.lines().collect();
        assert_eq!(
            v2,
            [
                "# lamport-lab log v2",
                lines[1],
                "# faults=pause=1@2+3",
                COLUMNS_LINE
            ]
        );
        assert_eq!(crate::faults::Plan::parse_line(v2[2]), Ok(plan));
        assert_eq!(
            Header::parse_params(&format!("{} extra=1", lines[1])),
            Ok(h)
        );
        assert_eq!(
            Header::parse_params("# machine=0"),
            Err(Error::Field("machines"))
        );
        // A spread phase is one more key, read back; absent, it is 0.
        let spread = Header {
            phase_ns: 123_456,
            ..h
        };
        let text = spread.to_string();
        let line = text.lines().nth(1).unwrap();
        assert!(line.ends_with(" phase_ns=123456"), "{line}");
        assert_eq!(Header::parse_params(line), Ok(spread));
    }
}
