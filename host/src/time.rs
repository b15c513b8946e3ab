//! Time for the hosts: a monotonic clock mapped onto system time at the run's start.
//!
//! Deadlines come from the monotonic clock (`CLOCK_MONOTONIC`, shared by every process on
//! the computer), so a step of the system clock during a run cannot shift a tick. The time
//! logged for an event is the start's system time plus the monotonic time elapsed since
//! the start.

use nix::time::{ClockId, clock_gettime};

/// Nanoseconds of `CLOCK_MONOTONIC`.
pub fn mono_ns() -> u64 {
    let t = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always available");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// The run's time base: one instant known on both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBase {
    /// The start on the monotonic clock.
    pub start_mono: u64,
    /// The same instant as system time.
    pub start_unix: u64,
}

impl TimeBase {
    /// A start `lead_ns` from now.
    pub fn starting_in(lead_ns: u64) -> Self {
        let (mono, unix) = (mono_ns(), crate::folder::now_unix_ns());
        Self {
            start_mono: mono + lead_ns,
            start_unix: unix + lead_ns,
        }
    }

    /// System time now, on the run's time base.
    pub fn now_unix(&self) -> u64 {
        self.to_unix(mono_ns())
    }

    /// A monotonic instant as system time.
    pub fn to_unix(&self, mono: u64) -> u64 {
        (self.start_unix as i128 + mono as i128 - self.start_mono as i128).max(0) as u64
    }

    /// A system-time deadline as a monotonic instant.
    pub fn to_mono(&self, unix: u64) -> u64 {
        (self.start_mono as i128 + unix as i128 - self.start_unix as i128).max(0) as u64
    }

    /// Serialised as 16 bytes, to pass to a child or a peer.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&self.start_mono.to_le_bytes());
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
            start_mono: u64::from_le_bytes(m),
            start_unix: u64::from_le_bytes(u),
        }
    }
}
