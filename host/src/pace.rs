//! Pacing: how a host waits for its next deadline, shared by both hosts.
//!
//! `sleep`: sleep (epoll with a timerfd, [`crate::waiter`], in both hosts) until the
//! deadline itself; the OS wakes the thread a little late (a fraction of
//! a millisecond on an idle virtual CPU).
//! `hybrid` (the default): sleep until a guard interval before the deadline, then wait the
//! rest without sleeping (polling the connections without a timeout and yielding), so the
//! tick starts within microseconds of its deadline. The guard comes from measurement: each
//! sleep's overshoot (how late it woke) is recorded and the guard follows the largest
//! recent one, bounded to 50 µs .. 2 ms. When the deadline is closer than the guard (high
//! speedups), the host does not sleep at all.
//!
//! The guard never falls below a small share of the period between deadlines
//! ([`Pacer::for_run`]: 0.5%, less when many machines share few cores): a virtual CPU now and
//! then wakes a thread a millisecond late with no warning in the wake-ups before, and at the
//! default rates (periods of 167 ms to 1 s) waiting out 0.8 ms before each tick costs under
//! 0.5% of a core.

use crate::time::Mono;
use clap::ValueEnum;

/// How a host waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Mode {
    /// Sleep to the deadline.
    Sleep,
    /// Sleep to a measured guard before the deadline, then wait without sleeping.
    #[default]
    Hybrid,
}

impl Mode {
    /// The flag's word for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sleep => "sleep",
            Self::Hybrid => "hybrid",
        }
    }
}

/// Smallest and largest guard, nanoseconds.
pub const GUARD_MIN_NS: u64 = 50_000;
/// See [`GUARD_MIN_NS`].
pub const GUARD_MAX_NS: u64 = 2_000_000;

/// The wait before one deadline: sleep this long (or not at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Sleep for this many nanoseconds (then wake and look again).
    Sleep(u64),
    /// Too close to sleep: look at the connections without waiting, yield, look again.
    Spin,
}

/// Largest share of the period a machine waits without sleeping, when it has a core to itself.
pub const SPIN_SHARE: f64 = 0.005;
/// Share of all the cores that the machines of a run may spend waiting without sleeping.
pub const SPIN_SHARE_OF_CORES: f64 = 0.1;

/// One host thread's pacing state.
#[derive(Debug, Clone)]
pub struct Pacer {
    mode: Mode,
    guard_ns: u64,
    /// The instant the current sleep was meant to end, to measure its overshoot.
    sleeping_until: Option<u64>,
    /// Share of the period the guard is at least.
    share: f64,
    /// The last deadline seen and the period before it.
    last_deadline: u64,
    period_ns: u64,
}

impl Pacer {
    /// A pacer whose guard starts at 500 µs and follows only what is measured.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            guard_ns: 500_000,
            sleeping_until: None,
            share: 0.0,
            last_deadline: 0,
            period_ns: 0,
        }
    }

    /// A pacer for one of `machines` machines on this computer: its guard is also at least
    /// [`SPIN_SHARE`] of the period, or less when the machines would together spend more
    /// than [`SPIN_SHARE_OF_CORES`] of the cores.
    pub fn for_run(mode: Mode, machines: u16) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            share: spin_share(machines, cores),
            ..Self::new(mode)
        }
    }

    /// The current guard, nanoseconds.
    pub fn guard_ns(&self) -> u64 {
        let floor = (self.period_ns as f64 * self.share) as u64;
        self.guard_ns.max(floor.min(GUARD_MAX_NS))
    }

    /// How to wait from `now` until `deadline`.
    pub fn wait(&mut self, now: Mono, deadline: Mono) -> Wait {
        let (now, deadline) = (now.ns(), deadline.ns());
        if deadline > self.last_deadline {
            if self.last_deadline > 0 {
                self.period_ns = deadline - self.last_deadline;
            }
            self.last_deadline = deadline;
        }
        let left = deadline.saturating_sub(now);
        let guard = self.guard_ns();
        match self.mode {
            Mode::Sleep => {
                self.sleeping_until = None;
                Wait::Sleep(left)
            }
            Mode::Hybrid if left > guard => {
                let sleep = left - guard;
                self.sleeping_until = Some(now + sleep);
                Wait::Sleep(sleep)
            }
            Mode::Hybrid => {
                self.sleeping_until = None;
                Wait::Spin
            }
        }
    }

    /// Called on waking (from a sleep or an event) at `now`: a sleep that ran to its end
    /// tells how late the OS woke the thread; the guard follows (twice the overshoot, decaying
    /// slowly toward smaller ones), within its bounds.
    pub fn woke(&mut self, now: Mono) {
        let now = now.ns();
        let Some(target) = self.sleeping_until.take() else {
            return;
        };
        if now < target {
            return; // an event woke it early: no measurement
        }
        let want = (2 * (now - target)).clamp(GUARD_MIN_NS, GUARD_MAX_NS);
        self.guard_ns = if want > self.guard_ns {
            want
        } else {
            // Down by 1/16 of the difference (at least 1 µs) per wake-up: a few late wake-ups
            // keep the guard up; a quiet machine lets it shrink over seconds.
            let step = ((self.guard_ns - want) / 16).max(1_000);
            self.guard_ns.saturating_sub(step).max(want)
        };
    }
}

/// The share of the period one of `machines` machines may wait without sleeping on `cores`
/// cores.
pub fn spin_share(machines: u16, cores: usize) -> f64 {
    SPIN_SHARE.min(SPIN_SHARE_OF_CORES * cores as f64 / f64::from(machines.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_mode_sleeps_to_the_deadline() {
        let mut p = Pacer::new(Mode::Sleep);
        assert_eq!(p.wait(Mono(1_000), Mono(3_001_000)), Wait::Sleep(3_000_000));
    }

    #[test]
    fn hybrid_sleeps_to_the_guard_then_spins() {
        let mut p = Pacer::new(Mode::Hybrid);
        assert_eq!(
            p.wait(Mono(0), Mono(10_000_000)),
            Wait::Sleep(10_000_000 - 500_000)
        );
        assert_eq!(p.wait(Mono(9_600_000), Mono(10_000_000)), Wait::Spin);
        assert_eq!(p.wait(Mono(10_000_001), Mono(10_000_000)), Wait::Spin);
    }

    #[test]
    fn the_guard_follows_measured_overshoot_within_bounds() {
        let mut p = Pacer::new(Mode::Hybrid);
        // Woke 1.5 ms late: the guard doubles it, up to the bound.
        let Wait::Sleep(s) = p.wait(Mono(0), Mono(100_000_000)) else {
            panic!()
        };
        p.woke(Mono(s + 1_500_000));
        assert_eq!(p.guard_ns(), GUARD_MAX_NS);
        // Punctual wake-ups: it shrinks, slowly, down to the floor.
        for _ in 0..500 {
            let now = 0;
            let Wait::Sleep(s) = p.wait(Mono(now), Mono(100_000_000)) else {
                panic!()
            };
            p.woke(Mono(now + s + 10_000));
        }
        assert_eq!(p.guard_ns(), GUARD_MIN_NS);
        // An event that wakes it early measures nothing.
        let Wait::Sleep(s) = p.wait(Mono(0), Mono(100_000_000)) else {
            panic!()
        };
        p.woke(Mono(s / 2));
        assert_eq!(p.guard_ns(), GUARD_MIN_NS);
    }

    #[test]
    fn the_guard_is_at_least_a_share_of_the_period() {
        let period = 166_666_666;
        let mut p = Pacer {
            share: spin_share(3, 2),
            ..Pacer::new(Mode::Hybrid)
        };
        for k in 1..50u64 {
            let deadline = k * period;
            let Wait::Sleep(s) = p.wait(Mono(deadline - period), Mono(deadline)) else {
                panic!()
            };
            p.woke(Mono(deadline - period + s + 1_000)); // punctual wake-ups
        }
        // 0.5% of 166.7 ms, though the measured wake-ups alone would allow 50 µs.
        assert_eq!(p.guard_ns(), 833_333);
        // A one-second period reaches the bound.
        p.wait(Mono(0), Mono(49 * period + 1_000_000_000));
        assert_eq!(p.guard_ns(), GUARD_MAX_NS);
    }

    #[test]
    fn many_machines_on_few_cores_spin_less() {
        assert_eq!(spin_share(3, 2), SPIN_SHARE);
        assert!((spin_share(128, 2) - 0.1 * 2.0 / 128.0).abs() < 1e-12);
        assert!(spin_share(128, 2) < spin_share(32, 2));
        assert_eq!(spin_share(0, 2), SPIN_SHARE);
    }
}
