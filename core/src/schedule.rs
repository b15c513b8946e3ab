//! Absolute tick deadlines.
//!
//! Tick `k` of a machine with rate `r` happens at `start + k / (r * speedup)`, for every `k`
//! whose instant lies before `start + secs`. Deadlines are computed from `k`, never by
//! adding a period to the previous tick, so pacing cannot drift. All arithmetic is integer
//! (nanoseconds, speedup in thousandths), so every platform computes the same instants.
//! Instants are `u64` nanoseconds since the epoch, the run's timeline of [`crate::UnixNanos`].

/// The tick deadlines of one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Tick 0's instant: the start plus the phase.
    first: u64,
    /// `rate * speedup_milli`: ticks per 1000 seconds.
    per_kilosec: u64,
    total: u64,
}

impl Schedule {
    /// The schedule of a machine ticking `rate` times a second, multiplied by
    /// `speedup_milli / 1000`, from `start` for `secs` seconds.
    pub fn new(start: u64, rate: u32, speedup_milli: u32, secs: u64) -> Self {
        let per_kilosec = u64::from(rate) * u64::from(speedup_milli);
        // k is a tick iff floor(k * 1e12 / per_kilosec) < secs * 1e9, iff k < secs * per_kilosec / 1000.
        let total = (u128::from(secs) * u128::from(per_kilosec)).div_ceil(1000) as u64;
        Self {
            first: start,
            per_kilosec,
            total,
        }
    }

    /// A schedule made by [`Schedule::new`] shifted by `phase` nanoseconds (below one period, see
    /// [`Schedule::period`]): tick `k` at `start + phase + k / (rate × speedup)`, for every
    /// `k` whose instant is before `start + secs`.
    pub fn with_phase(self, phase: u64, secs: u64) -> Self {
        let span = u128::from(secs) * 1_000_000_000;
        // phase + floor(k * 1e12 / pk) < span  iff  k < (span - phase) * pk / 1e12.
        let total = (span.saturating_sub(u128::from(phase)) * u128::from(self.per_kilosec))
            .div_ceil(1_000_000_000_000) as u64;
        Self {
            first: self.first + phase,
            total,
            ..self
        }
    }

    /// The phase `--phase spread` gives machine `id` of a run with seed `seed` on this
    /// schedule: drawn from the seed and the id, not from the machine's RNG (the rolls stay
    /// the same whichever schedule is chosen), below one period.
    pub fn spread_phase(&self, seed: u64, id: crate::MachineId) -> u64 {
        let h = crate::rng::splitmix64(seed ^ 0x7068_6173_6500_0000 ^ u64::from(id));
        h % self.period().max(1)
    }

    /// Nanoseconds between two ticks (rounded down).
    pub fn period(&self) -> u64 {
        (1_000_000_000_000 / u128::from(self.per_kilosec.max(1))) as u64
    }

    /// Tick 0's instant (the start plus the phase).
    pub fn first(&self) -> u64 {
        self.first
    }

    /// Number of ticks in the run: the number of deadlines before `start + secs`.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Nanoseconds from the start to tick `k`.
    pub fn offset(&self, k: u64) -> u64 {
        (u128::from(k) * 1_000_000_000_000 / u128::from(self.per_kilosec.max(1))) as u64
    }

    /// How many deadlines are at or before `t`.
    pub fn due_by(&self, t: u64) -> u64 {
        if t < self.first {
            return 0;
        }
        // deadline(k) <= t  iff  floor(k * 1e12 / pk) <= d  iff  k < (d + 1) * pk / 1e12.
        let d = u128::from(t - self.first);
        let n = ((d + 1) * u128::from(self.per_kilosec)).div_ceil(1_000_000_000_000);
        n.min(u128::from(self.total)) as u64
    }

    /// The deadline of tick `k`, or `None` when the run has fewer ticks.
    pub fn deadline(&self, k: u64) -> Option<u64> {
        (k < self.total).then(|| self.first + self.offset(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_shifts_every_deadline_and_keeps_only_those_before_the_end() {
        for (rate, speedup, phase) in [
            (4, 1000, 0),
            (4, 1000, 249_999_999),
            (3, 1000, 1),
            (6, 2500, 66_000_000),
        ] {
            let plain = Schedule::new(1_000, rate, speedup, 7);
            let s = plain.with_phase(phase, 7);
            assert!(phase < s.period());
            let end = 1_000 + 7_000_000_000;
            let want: u64 = (0..plain.total() + 2)
                .filter(|&k| 1_000 + phase + plain.offset(k) < end)
                .count() as u64;
            assert_eq!(s.total(), want, "rate {rate} phase {phase}");
            for k in 0..s.total() {
                assert_eq!(s.deadline(k), Some(1_000 + phase + plain.offset(k)));
            }
            for t in [
                0,
                1_000 + phase,
                1_000 + phase + 1,
                3_333_334_333,
                end,
                u64::MAX,
            ] {
                let want = (0..s.total())
                    .filter(|&k| s.deadline(k).unwrap() <= t)
                    .count() as u64;
                assert_eq!(s.due_by(t), want, "rate {rate} phase {phase} t {t}");
            }
        }
    }

    #[test]
    fn due_by_counts_the_deadlines_up_to_an_instant() {
        for (rate, speedup) in [(4, 1000), (3, 1000), (6, 2500), (1, 333)] {
            let s = Schedule::new(1_000, rate, speedup, 7);
            for t in [
                0,
                999,
                1_000,
                1_001,
                250_001_000,
                3_333_334_333,
                7_000_001_000,
                u64::MAX,
            ] {
                let want = (0..s.total())
                    .filter(|&k| s.deadline(k).unwrap() <= t)
                    .count() as u64;
                assert_eq!(s.due_by(t), want, "rate {rate} speedup {speedup} t {t}");
            }
        }
    }

    #[test]
    fn rate_four_for_a_minute_is_240_ticks_a_quarter_second_apart() {
        let s = Schedule::new(1_000, 4, 1000, 60);
        assert_eq!(s.total(), 240);
        assert_eq!(s.deadline(0), Some(1_000));
        assert_eq!(s.deadline(1), Some(1_000 + 250_000_000));
        assert_eq!(s.deadline(239), Some(1_000 + 59_750_000_000));
        assert_eq!(s.deadline(240), None);
    }

    #[test]
    fn non_dividing_rates_never_drift() {
        // rate 3 x speedup 7: period 1/21 s, not a whole number of ns.
        let s = Schedule::new(0, 3, 7000, 10);
        assert_eq!(s.total(), 210);
        assert_eq!(
            s.offset(21),
            1_000_000_000,
            "21 ticks later is exactly one second"
        );
        assert_eq!(s.offset(210), 10_000_000_000);
        assert!(s.deadline(209).unwrap() < 10_000_000_000);
    }

    #[test]
    fn fractional_speedup_counts_partial_periods() {
        // rate 1 x 0.3 for 10 s: deadlines at 0, 3.33, 6.67 s: 3 ticks.
        let s = Schedule::new(0, 1, 300, 10);
        assert_eq!(s.total(), 3);
    }
}
