//! Time for the hosts: a monotonic clock mapped onto system time at the run's start.
//!
//! Deadlines come from the monotonic clock (`CLOCK_MONOTONIC`, shared by every process on
//! the computer), so a step of the system clock during a run cannot shift a tick. The time
//! logged for an event is the start's system time plus the monotonic time elapsed since
//! the start.

use lamport_core::UnixNanos;
use nix::time::{ClockId, clock_gettime};

/// An instant of `CLOCK_MONOTONIC`, in nanoseconds: what a host waits by and stamps what it
/// reads with. It never goes back, and it is never the run's time ([`UnixNanos`]): a
/// [`TimeBase`] maps one onto the other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mono(pub u64);

impl Mono {
    /// Now.
    pub fn now() -> Self {
        let t =
            clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always available");
        Self(t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
    }

    /// Nanoseconds since the clock's origin.
    pub const fn ns(self) -> u64 {
        self.0
    }

    /// `ns` nanoseconds later.
    #[must_use]
    pub const fn saturating_add(self, ns: u64) -> Self {
        Self(self.0.saturating_add(ns))
    }

    /// Nanoseconds from `earlier` to this instant, 0 if `earlier` is later.
    pub const fn since(self, earlier: Self) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::ops::Add<u64> for Mono {
    type Output = Self;
    fn add(self, ns: u64) -> Self {
        Self(self.0 + ns)
    }
}

/// The run's time base: one instant known on both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBase {
    /// The start on the monotonic clock.
    pub start_mono: Mono,
    /// The same instant on the run's timeline (system time).
    pub start_unix: u64,
}

impl TimeBase {
    /// A start `lead_ns` from now.
    pub fn starting_in(lead_ns: u64) -> Self {
        let (mono, unix) = (Mono::now(), crate::folder::now_unix_ns());
        Self {
            start_mono: mono.saturating_add(lead_ns),
            start_unix: unix + lead_ns,
        }
    }

    /// A start at system time `start_unix`, placed on the monotonic clock by reading both
    /// clocks now.
    pub fn at_unix(start_unix: u64) -> Self {
        let (mono, unix) = (Mono::now(), crate::folder::now_unix_ns());
        let t = mono.0 as i128 + start_unix as i128 - unix as i128;
        Self {
            start_mono: Mono(t.max(0) as u64),
            start_unix,
        }
    }

    /// Now, on the run's timeline.
    pub fn now_unix(&self) -> UnixNanos {
        self.to_unix(Mono::now())
    }

    /// A monotonic instant on the run's timeline.
    pub fn to_unix(&self, mono: Mono) -> UnixNanos {
        let t = self.start_unix as i128 + mono.0 as i128 - self.start_mono.0 as i128;
        UnixNanos(t.max(0) as u64)
    }

    /// An instant of the run's timeline (a deadline) as a monotonic instant.
    pub fn to_mono(&self, unix: UnixNanos) -> Mono {
        let t = self.start_mono.0 as i128 + unix.0 as i128 - self.start_unix as i128;
        Mono(t.max(0) as u64)
    }

    /// Serialised as 16 bytes, to pass to a child or a peer.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&self.start_mono.0.to_le_bytes());
        b[8..].copy_from_slice(&self.start_unix.to_le_bytes());
        b
    }

    /// The inverse of [`TimeBase::to_bytes`].
    pub fn from_bytes(b: [u8; 16]) -> Self {
        let mut m = [0; 8];
        let mut u = [0; 8];
        m.copy_from_slice(&b[..8]);
        u.copy_from_slice(&b[8..]);
        Self {
            start_mono: Mono(u64::from_le_bytes(m)),
            start_unix: u64::from_le_bytes(u),
        }
    }
}
