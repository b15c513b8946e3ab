//! The parameters of a run, shared by every machine of it.

use crate::{Error, MachineId, UnixNanos};

/// Most machines a run may have (ids fit a `u16`; the hosts are tested up to 128).
pub const MAX_MACHINES: u16 = 1024;

/// Highest clock rate, ticks per second (before speedup).
pub const MAX_RATE: u32 = 1_000;

/// Highest speedup, in thousandths (a million times).
pub const MAX_SPEEDUP_MILLI: u32 = 1_000_000_000;

/// Longest run, in seconds (about 31 years): its end in nanoseconds fits a `u64` after any
/// start before the year 2500.
pub const MAX_SECS: u64 = 1_000_000_000;

/// One run's parameters. Every machine of a run holds the same copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunParams {
    /// Number of machines, at least 3.
    pub machines: u16,
    /// Length of the run in seconds of real (or virtual) time.
    pub secs: u64,
    /// The run seed; each machine's RNG is seeded from (seed, id).
    pub seed: u64,
    /// Lowest clock rate a machine may draw (ticks per second).
    pub rate_min: u32,
    /// Highest clock rate a machine may draw.
    pub rate_max: u32,
    /// Rolls are uniform in `1..=roll_max`; 1 to 3 send, the rest are internal events.
    pub roll_max: u32,
    /// Every rate is multiplied by `speedup_milli / 1000`; logs keep real time.
    pub speedup_milli: u32,
    /// Run-time limit of the network queue, at most its compile-time capacity.
    pub queue_cap: u32,
    /// The instant of tick 0, shared by every machine of the run.
    pub start_unix_ns: u64,
    /// Spread each machine's ticks: tick `k` at `start + phase + k / (rate × speedup)`, the
    /// phase drawn from the seed and the id in `0..period` (so that machines with equal or
    /// multiple rates do not all wake at one instant). `false`: every phase is 0 (aligned).
    pub spread_phase: bool,
}

impl RunParams {
    /// The defaults of the assignment: 3 machines, 60 s, rates 1..=6, rolls 1..=10.
    pub const fn new(seed: u64, start_unix_ns: u64) -> Self {
        Self {
            machines: 3,
            secs: 60,
            seed,
            rate_min: 1,
            rate_max: 6,
            roll_max: 10,
            speedup_milli: 1000,
            queue_cap: 1024,
            start_unix_ns,
            spread_phase: false,
        }
    }

    /// Checks every rule a run must satisfy against a queue of compile-time `capacity`.
    pub fn validate(&self, capacity: usize) -> Result<(), Error> {
        if self.machines < 3 || self.machines > MAX_MACHINES {
            return Err(Error::Machines(self.machines.into()));
        }
        if self.rate_min == 0 || self.rate_min > self.rate_max || self.rate_max > MAX_RATE {
            return Err(Error::Rate);
        }
        if self.roll_max < 3 {
            return Err(Error::RollMax(self.roll_max));
        }
        if self.speedup_milli == 0 || self.speedup_milli > MAX_SPEEDUP_MILLI {
            return Err(Error::Speedup);
        }
        if self.secs == 0
            || self.secs > MAX_SECS
            || self
                .start_unix_ns
                .checked_add(self.secs * 1_000_000_000)
                .is_none()
        {
            return Err(Error::Secs(self.secs));
        }
        if self.queue_cap == 0 || self.queue_cap as usize > capacity {
            return Err(Error::QueueCap {
                asked: self.queue_cap,
                capacity,
            });
        }
        Ok(())
    }

    /// Checks a machine id against the run.
    pub fn check_id(&self, id: MachineId) -> Result<(), Error> {
        if id < self.machines {
            Ok(())
        } else {
            Err(Error::MachineId(id))
        }
    }

    /// The instant the run ends: `start + secs`, nanoseconds since the epoch.
    pub const fn end_unix_ns(&self) -> u64 {
        self.start_unix_ns + self.secs * 1_000_000_000
    }

    /// The instant of tick 0.
    pub const fn start(&self) -> UnixNanos {
        UnixNanos(self.start_unix_ns)
    }

    /// The instant the run ends ([`RunParams::end_unix_ns`]).
    pub const fn end(&self) -> UnixNanos {
        UnixNanos(self.end_unix_ns())
    }
}

/// Writes thousandths as the shortest plain decimal: 1000 -> `1`, 2500 -> `2.5`, 250 ->
/// `0.25`. The one writer of speedups, fault times and delays.
pub fn write_milli(w: &mut impl core::fmt::Write, milli: impl Into<u64>) -> core::fmt::Result {
    let milli = milli.into();
    let (int, frac) = (milli / 1000, milli % 1000);
    if frac == 0 {
        write!(w, "{int}")
    } else if frac % 100 == 0 {
        write!(w, "{int}.{}", frac / 100)
    } else if frac % 10 == 0 {
        write!(w, "{int}.{:02}", frac / 10)
    } else {
        write!(w, "{int}.{frac:03}")
    }
}

/// Parses a plain decimal with at most three decimals into thousandths: `2.5` -> 2500,
/// `.5` -> 500, `5.` -> 5000. Returns `None` for anything else (signs, exponents, more
/// decimals, overflow). The one parser of speedups, fault times and delays.
pub fn parse_milli_u64(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || frac.len() > 3 || !digits(int) || !digits(frac) {
        return None;
    }
    let i: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut f: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..3 {
        f *= 10;
    }
    i.checked_mul(1000)?.checked_add(f)
}

/// [`parse_milli_u64`] for a value that must fit a `u32` (a speedup).
pub fn parse_milli(s: &str) -> Option<u32> {
    parse_milli_u64(s)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn milli_round_trips() {
        for (text, milli) in [("1", 1000), ("2.5", 2500), ("0.25", 250), ("10.125", 10125)] {
            assert_eq!(parse_milli(text), Some(milli), "{text}");
            let mut s = String::new();
            write_milli(&mut s, milli).unwrap();
            assert_eq!(s, text);
        }
        for bad in ["", ".", "-1", "1e3", "1.2345", "a", "99999999"] {
            assert_eq!(parse_milli(bad), None, "{bad}");
        }
    }

    #[test]
    fn validate_names_each_bad_parameter() {
        let ok = RunParams::new(1, 0);
        assert_eq!(ok.validate(1024), Ok(()));
        assert_eq!(
            RunParams { machines: 2, ..ok }.validate(1024),
            Err(Error::Machines(2))
        );
        assert_eq!(
            RunParams { rate_min: 0, ..ok }.validate(1024),
            Err(Error::Rate)
        );
        assert_eq!(
            RunParams { rate_min: 7, ..ok }.validate(1024),
            Err(Error::Rate)
        );
        assert_eq!(
            RunParams { roll_max: 2, ..ok }.validate(1024),
            Err(Error::RollMax(2))
        );
        assert_eq!(
            RunParams {
                speedup_milli: 0,
                ..ok
            }
            .validate(1024),
            Err(Error::Speedup)
        );
        assert!(
            RunParams {
                queue_cap: 2048,
                ..ok
            }
            .validate(1024)
            .is_err()
        );
        assert!(RunParams { queue_cap: 0, ..ok }.validate(1024).is_err());
    }

    #[test]
    fn every_number_a_user_can_type_is_bounded() {
        let ok = RunParams::new(1, 0);
        assert_eq!(ok.validate(1024), Ok(()));
        let cases = [
            (
                RunParams {
                    rate_max: MAX_RATE + 1,
                    ..ok
                },
                Error::Rate,
            ),
            (
                RunParams {
                    speedup_milli: MAX_SPEEDUP_MILLI + 1,
                    ..ok
                },
                Error::Speedup,
            ),
            (RunParams { secs: 0, ..ok }, Error::Secs(0)),
            (
                RunParams {
                    secs: MAX_SECS + 1,
                    ..ok
                },
                Error::Secs(MAX_SECS + 1),
            ),
            (
                RunParams {
                    start_unix_ns: u64::MAX - 5,
                    ..ok
                },
                Error::Secs(ok.secs),
            ),
            (
                RunParams {
                    machines: MAX_MACHINES + 1,
                    ..ok
                },
                Error::Machines(1025),
            ),
        ];
        for (p, e) in cases {
            assert_eq!(p.validate(1024), Err(e), "{p:?}");
        }
        // The largest values still fit the schedule's arithmetic.
        let big = RunParams {
            rate_min: MAX_RATE,
            rate_max: MAX_RATE,
            speedup_milli: MAX_SPEEDUP_MILLI,
            secs: MAX_SECS,
            ..ok
        };
        assert_eq!(big.validate(1024), Ok(()));
        let s = crate::Schedule::new(0, MAX_RATE, MAX_SPEEDUP_MILLI, MAX_SECS);
        assert_eq!(s.total(), 1_000_000_000_000_000_000);
    }
}
