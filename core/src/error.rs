//! The crate's one error type.

use core::fmt;

/// Everything that can go wrong in the core: bad parameters, bad bytes, bad log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Fewer than 3 machines, or more than [`crate::params::MAX_MACHINES`].
    Machines(u32),
    /// A clock rate of 0 or above [`crate::params::MAX_RATE`], or `rate_min` above `rate_max`.
    Rate,
    /// A pinned-rate list whose length is not the number of machines.
    RatesLength {
        /// Rates given.
        given: usize,
        /// Machines in the run.
        machines: u16,
    },
    /// `roll_max` below 3.
    RollMax(u32),
    /// A speedup of 0, or above [`crate::params::MAX_SPEEDUP_MILLI`].
    Speedup,
    /// A run length of 0, or longer than [`crate::params::MAX_SECS`] (or one whose end
    /// does not fit a `u64` of nanoseconds).
    Secs(u64),
    /// A queue limit of 0 or above the queue's compile-time capacity.
    QueueCap {
        /// Limit asked for.
        asked: u32,
        /// Compile-time capacity.
        capacity: usize,
    },
    /// A machine id outside `0..machines`.
    MachineId(u16),
    /// The simulator was given storage for a different number of machines, or room for
    /// fewer than one message in flight from each peer.
    SimSlots,
    /// A frame or a log line did not fit the buffer given.
    BufferFull,
    /// Wire: the bytes ended in the middle of a frame.
    Truncated,
    /// Wire: a frame longer than [`crate::wire::MAX_FRAME`].
    Oversized,
    /// Wire: a `Hello` of a protocol version this build does not speak.
    UnknownVersion(u16),
    /// Wire: bytes that are not a frame (bad COBS, unknown kind, trailing bytes).
    Garbage,
    /// Log: the first line is not `# lamport-lab log v1` or `v2`.
    LogVersion,
    /// A fault flag or the `# faults=` line: what is wrong.
    Fault(&'static str),
    /// Log: a field that cannot be parsed; names the column.
    Field(&'static str),
    /// Log: a line with too few columns.
    Columns,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Machines(n) => write!(
                f,
                "need between 3 and {} machines, got {n}",
                crate::params::MAX_MACHINES
            ),
            Self::Rate => write!(
                f,
                "clock rates must be between 1 and {}, and rate-min at most rate-max",
                crate::params::MAX_RATE
            ),
            Self::RatesLength { given, machines } => {
                write!(f, "--rates gives {given} rates for {machines} machines")
            }
            Self::RollMax(k) => write!(f, "roll-max must be at least 3, got {k}"),
            Self::Speedup => f.write_str("speedup must be above 0 and at most 1000000"),
            Self::Secs(s) => write!(
                f,
                "secs must be between 1 and {}, got {s}",
                crate::params::MAX_SECS
            ),
            Self::QueueCap { asked, capacity } => {
                write!(f, "queue-cap must be between 1 and {capacity}, got {asked}")
            }
            Self::MachineId(id) => write!(f, "machine id {id} is outside the run"),
            Self::SimSlots => {
                f.write_str("simulator storage does not match the number of machines (or holds fewer than N - 1 messages in flight)")
            }
            Self::BufferFull => f.write_str("buffer too small"),
            Self::Truncated => f.write_str("truncated frame"),
            Self::Oversized => f.write_str("oversized frame"),
            Self::UnknownVersion(v) => write!(f, "unknown protocol version {v}"),
            Self::Garbage => f.write_str("not a frame"),
            Self::LogVersion => f.write_str("not a lamport-lab log v1, v2 or v3"),
            Self::Fault(what) => f.write_str(what),
            Self::Field(name) => write!(f, "bad value in column `{name}`"),
            Self::Columns => f.write_str("too few columns"),
        }
    }
}

impl core::error::Error for Error {}
