//! Streaming statistics of one machine's records. Memory does not grow with the number of
//! records: distributions are histograms of integer values, time series are sampled on a
//! fixed grid of at most [`MAX_SAMPLES`] points.

use lamport_core::{
    faults::{Fault, Plan},
    record::{Header, Kind, Peers, Record},
};
use lamport_host::live_faults::{LiveFault, Ticking};
use serde::Serialize;

/// Most grid samples kept per machine for drift and plots.
pub const MAX_SAMPLES: usize = 10_000;

pub use lamport_host::hist::Hist;

/// Min, mean, p50, p99, max of a distribution.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Number of values.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Summary {
    /// The summary of `h`, each value multiplied by `scale`.
    pub fn of(h: &Hist, scale: f64) -> Self {
        Self {
            count: h.count(),
            min: h.min() as f64 * scale,
            mean: h.mean() * scale,
            p50: h.quantile(0.5) as f64 * scale,
            p99: h.quantile(0.99) as f64 * scale,
            max: h.max() as f64 * scale,
        }
    }
}

/// Least-squares slope of y on x, accumulated online.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trend {
    n: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    sxy: f64,
}

impl Trend {
    /// Adds a point.
    pub fn add(&mut self, x: f64, y: f64) {
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        self.sxx += x * x;
        self.sxy += x * y;
    }
    /// The slope dy/dx (0 with fewer than two distinct x).
    pub fn slope(&self) -> f64 {
        let d = self.n * self.sxx - self.sx * self.sx;
        if self.n < 2.0 || d.abs() < 1e-12 {
            0.0
        } else {
            (self.n * self.sxy - self.sx * self.sy) / d
        }
    }
}

/// The sampling grid of a run: `samples` points `step_ns` apart from the start.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    /// Run start (ns since the epoch).
    pub start: u64,
    /// Distance between samples.
    pub step_ns: u64,
    /// Number of samples.
    pub samples: usize,
}

impl Grid {
    /// 100 ms steps, or coarser so that at most [`MAX_SAMPLES`] cover `secs`.
    pub fn for_run(start: u64, secs: u64) -> Self {
        let span = secs.max(1) * 1_000_000_000;
        let step_ns = (span / MAX_SAMPLES as u64).max(100_000_000);
        Self {
            start,
            step_ns,
            samples: (span / step_ns) as usize + 1,
        }
    }
    /// Time of sample `i`, seconds from the start.
    pub fn secs(&self, i: usize) -> f64 {
        (i as u64 * self.step_ns) as f64 / 1e9
    }
}

/// What one machine did around one fault window (pause or partition) of its run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowProbe {
    /// Its clock when the window opened (after its last row before).
    pub clock_at_from: u64,
    /// Its clock just before the window closed.
    pub clock_at_to: u64,
    /// Messages waiting in its queue at its first tick from the window's end on (the
    /// queue after that tick, plus the one a receive took).
    pub waiting_at_to: Option<u64>,
    /// Seconds from the window's end to its first tick that left the queue empty.
    pub drained_after_s: Option<f64>,
    /// Each receive of a message from the other side of the partition after it healed:
    /// (time, jump, sender, the message's clock).
    pub after_heal: Vec<(u64, u64, u16, u64)>,
    /// Receives of messages from the other side inside the window (sent before it).
    pub cross_recv_inside: u64,
}

/// A pause or a partition of the run whose effect the report measures: planned (the log
/// header's) or set while the run ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    /// The window (an open live one to the end of the run).
    pub fault: Fault,
    /// How the report names it: `pause=1@10+5` (planned, as the header writes it), `pause
    /// of 1`, `partition 0/1+2` (live).
    pub label: String,
    /// A live one: the machines that took it (empty: planned).
    pub taken_by: Vec<u16>,
    /// A live one still open at the end (its window lasts to the end of the run).
    pub open: bool,
}

/// The windows of a run whose header states `faults` and whose logs hold `live`: the
/// planned ones, then the live pauses and partitions.
pub fn probed(faults: &Plan, live: &[LiveFault]) -> Vec<Probed> {
    let planned = faults.windows.iter().map(|f| Probed {
        fault: f.clone(),
        label: f.to_string(),
        taken_by: Vec::new(),
        open: false,
    });
    let live = live.iter().filter_map(|l| {
        Some(Probed {
            fault: l.window.clone()?,
            label: l.what.clone(),
            taken_by: l.machines.clone(),
            open: l.to_ns.is_none(),
        })
    });
    planned.chain(live).collect()
}

/// Everything `lab report` and `lab sweep` need about one machine, fed one record at a time.
#[derive(Debug, Clone)]
pub struct MachineAcc {
    /// The machine's header.
    pub header: Header,
    /// The run's faults, as the log header states them.
    pub faults: Plan,
    /// The faults set while the run ran (every machine's), in time order.
    pub live: Vec<LiveFault>,
    /// The run's pauses and partitions, planned and live ([`probed`]).
    pub windows: Vec<Probed>,
    /// Per window of `windows`, in order: what this machine did around it.
    pub probes: Vec<WindowProbe>,
    grid: Grid,
    /// Its plan and the deadlines it ticks at, as its rows so far show them (those in its
    /// pauses, planned or live, are skipped).
    ticking: Ticking,
    /// Ticks by kind.
    pub recv: u64,
    /// Send events.
    pub send: u64,
    /// Internal events.
    pub internal: u64,
    /// Leftover messages at the end.
    pub unprocessed: u64,
    /// Messages sent (a send to every peer counts each).
    pub messages_sent: u64,
    /// Clock after the last event.
    pub clock: u64,
    /// Receive jumps (clock after minus clock before).
    pub jumps: Hist,
    /// Queue length at each tick (after taking the message, for a receive).
    pub queue: Hist,
    /// Tick lateness in microseconds.
    pub late_us: Hist,
    queue_trend_late: Trend,
    clock_trend: Trend,
    /// Clock at each grid sample (`None` before the first record).
    pub clock_at: Vec<Option<u64>>,
    /// Queue at each grid sample.
    pub queue_at: Vec<Option<u32>>,
    next_sample: usize,
    last_time: u64,
    last_queue: u32,
    /// The `end` row's note.
    pub end_note: Option<String>,
    /// Time of the last record.
    pub end_time: u64,
}

impl MachineAcc {
    /// An accumulator for the machine whose log opens with `header`, of a run with
    /// `faults` and no live faults.
    pub fn new(header: Header, faults: &Plan) -> Self {
        Self::with_live(header, faults, &[])
    }

    /// An accumulator for the machine whose log opens with `header`, of a run with
    /// `faults` and the live faults `live` (every machine's, [`lamport_host::live_faults`]):
    /// its own `fault` rows change its deadlines as it reads them.
    pub fn with_live(header: Header, faults: &Plan, live: &[LiveFault]) -> Self {
        let grid = Grid::for_run(header.start_unix_ns, header.secs);
        let windows = probed(faults, live);
        Self {
            header,
            faults: faults.clone(),
            live: live.to_vec(),
            probes: vec![WindowProbe::default(); windows.len()],
            windows,
            ticking: Ticking::new(&header, faults),
            grid,
            recv: 0,
            send: 0,
            internal: 0,
            unprocessed: 0,
            messages_sent: 0,
            clock: 0,
            jumps: Hist::default(),
            queue: Hist::default(),
            late_us: Hist::default(),
            queue_trend_late: Trend::default(),
            clock_trend: Trend::default(),
            clock_at: vec![None; grid.samples],
            queue_at: vec![None; grid.samples],
            next_sample: 0,
            last_time: header.start_unix_ns,
            last_queue: 0,
            end_note: None,
            end_time: header.start_unix_ns,
        }
    }

    /// The sampling grid.
    pub fn grid(&self) -> Grid {
        self.grid
    }

    fn fill_samples_until(&mut self, t: u64) {
        while self.next_sample < self.grid.samples
            && self.grid.start + self.next_sample as u64 * self.grid.step_ns < t
        {
            if self.last_time >= self.grid.start {
                self.clock_at[self.next_sample] = Some(self.clock);
                self.queue_at[self.next_sample] = Some(self.last_queue);
            }
            self.next_sample += 1;
        }
    }

    /// Takes the next record of this machine.
    pub fn push(&mut self, rec: &Record) {
        self.fill_samples_until(rec.unix_ns);
        let t_s = rec.unix_ns.saturating_sub(self.header.start_unix_ns) as f64 / 1e9;
        self.probe(rec);
        self.ticking.take(rec);
        if rec.kind.is_tick() {
            if let Some((_, d)) = self.ticking.next_deadline() {
                self.late_us.add(diff(rec.unix_ns, d) / 1000);
            }
            let queue = if rec.kind == Kind::Recv { rec.queue } else { 0 };
            self.queue.add(i64::from(queue));
            self.last_queue = queue;
            if t_s >= self.header.secs as f64 / 2.0 {
                self.queue_trend_late.add(t_s, f64::from(queue));
            }
            self.clock_trend.add(t_s, rec.clock as f64);
        }
        match rec.kind {
            Kind::Recv => {
                self.recv += 1;
                self.jumps.add(diff(rec.clock, self.clock));
            }
            Kind::Send => {
                self.send += 1;
                self.messages_sent += rec.peer.count() as u64;
            }
            Kind::Internal => self.internal += 1,
            Kind::Unprocessed => self.unprocessed += 1,
            Kind::End => self.end_note = Some(rec.note.to_string()),
            Kind::Start | Kind::Fault => {}
        }
        self.clock = rec.clock;
        self.last_time = rec.unix_ns;
        self.end_time = rec.unix_ns;
    }

    /// Updates the window probes with `rec` (before it changes the clock).
    fn probe(&mut self, rec: &Record) {
        let (me, start) = (self.header.machine, self.header.start_unix_ns);
        for (w, p) in self.windows.iter().zip(self.probes.iter_mut()) {
            let f = &w.fault;
            let (from, to) = (
                start.saturating_add(f.window.from_ns),
                start.saturating_add(f.window.to_ns()),
            );
            if rec.unix_ns < from || rec.kind == Kind::Start {
                p.clock_at_from = rec.clock;
            }
            if rec.unix_ns < to || rec.kind == Kind::Start {
                p.clock_at_to = rec.clock;
            }
            if !rec.kind.is_tick() || rec.unix_ns < from {
                continue;
            }
            let took = u64::from(rec.kind == Kind::Recv);
            let queue = if rec.kind == Kind::Recv {
                u64::from(rec.queue)
            } else {
                0
            };
            if rec.unix_ns >= to {
                p.waiting_at_to.get_or_insert(queue + took);
                if queue == 0 && p.drained_after_s.is_none() {
                    p.drained_after_s = Some((rec.unix_ns - to) as f64 / 1e9);
                }
            }
            let from_cut = match (rec.kind, rec.peer) {
                (Kind::Recv, Peers::One(s)) => f.separates(s, me),
                _ => false,
            };
            if from_cut && rec.unix_ns < to {
                p.cross_recv_inside += 1;
            }
            if let (true, true, Peers::One(s), Some(c)) =
                (from_cut, rec.unix_ns >= to, rec.peer, rec.msg_clock)
            {
                p.after_heal
                    .push((rec.unix_ns, rec.clock.saturating_sub(self.clock), s, c));
            }
        }
    }

    /// Call after the last record: fills the remaining samples.
    pub fn finish(&mut self) {
        self.fill_samples_until(
            self.end_time
                .max(self.header.start_unix_ns + self.header.secs * 1_000_000_000)
                .saturating_add(1),
        );
    }

    /// Deadlines in the run outside its pauses (planned, and live as its rows showed
    /// them: one still open lasts to the end): the ticks it owes.
    pub fn ticks_due(&self) -> u64 {
        self.ticking.ticks_due()
    }
    /// Ticks done.
    pub fn ticks(&self) -> u64 {
        self.recv + self.send + self.internal
    }
    /// Least-squares slope of the clock against time (clock units per second).
    pub fn clock_slope(&self) -> f64 {
        self.clock_trend.slope()
    }
    /// Queue growth per second over the second half of the run (least squares).
    pub fn queue_growth(&self) -> f64 {
        self.queue_trend_late.slope()
    }
}

/// What a fault window did to the run, from every machine's probe of it.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WindowEffect {
    /// `pause=M@T+D` or `partition=A/B@T+D`, as the log header writes it; a live one
    /// `pause of M` or `partition A/B` (as its `fault` rows write it).
    pub fault: String,
    /// Set while the run ran: the machines that took it (absent: planned).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub live_at: Vec<u16>,
    /// Set while the run ran and never ended: `to_s` is the end of the run, and what
    /// happened after its end (the resume, the heal) did not happen.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub open: bool,
    /// Start, seconds after the run's start.
    pub from_s: f64,
    /// End, seconds after the run's start.
    pub to_s: f64,
    /// A pause: the paused machine.
    pub machine: Option<u16>,
    /// A pause: messages waiting in its queue when it resumed.
    pub waiting_at_resume: Option<u64>,
    /// A pause: how far its clock was behind the run's highest clock when it resumed.
    pub lag_at_resume: Option<u64>,
    /// A pause: seconds from its resumption until a tick left its queue empty.
    pub drained_after_s: Option<f64>,
    /// Seconds from the window's end until the machines behind had caught up: a paused
    /// machine's clock, or every clock of the partition's side that was behind, at least
    /// the highest clock of the run (of the other side) at the window's end (sampled every
    /// 100 ms; `None`: not by the end of the run).
    pub caught_up_after_s: Option<f64>,
    /// A partition: the highest clock of each side when it opened.
    pub side_clocks_at_from: Option<[u64; 2]>,
    /// A partition: the highest clock of each side just before it healed.
    pub side_clocks_at_to: Option<[u64; 2]>,
    /// A partition: the largest jump of a receive across it from the heal until the side
    /// behind caught up (to the end of the run if it never did).
    pub heal_jump: Option<u64>,
    /// A partition: whether that largest jump came from a message sent after the heal
    /// (`false`: one the partition held).
    pub heal_jump_fresh: Option<bool>,
    /// A partition: receives across it inside the window (of messages sent before it).
    pub cross_recv_inside: Option<u64>,
}

/// Each fault window's effect, from finished accumulators (one per machine, in id order).
pub fn window_effects(accs: &[MachineAcc]) -> Vec<WindowEffect> {
    use lamport_core::faults::FaultKind;
    let Some(first) = accs.first() else {
        return Vec::new();
    };
    first
        .windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let f = &w.fault;
            let mut e = WindowEffect {
                fault: w.label.clone(),
                live_at: w.taken_by.clone(),
                from_s: f.window.from_ns as f64 / 1e9,
                to_s: f.window.to_ns() as f64 / 1e9,
                ..WindowEffect::default()
            };
            match &f.what {
                FaultKind::Pause(m) => pause_effect(accs, i, usize::from(*m), &mut e),
                FaultKind::Partition(a, b) => partition_effect(accs, i, [a, b], &mut e),
            }
            if w.open {
                // Nothing resumed or healed: no catching up to measure.
                e.open = true;
                e.lag_at_resume = None;
                e.caught_up_after_s = None;
                e.heal_jump = e.heal_jump.map(|_| 0);
                e.heal_jump_fresh = None;
            }
            e
        })
        .collect()
}

/// The first sample from `to_s` (seconds) on at which every machine of `behind` has a
/// clock of at least `target`: seconds after `to_s`.
fn caught_up(accs: &[MachineAcc], behind: &[usize], target: u64, to_s: f64) -> Option<f64> {
    let grid = accs[0].grid();
    let n = accs.iter().map(|a| a.clock_at.len()).min().unwrap_or(0);
    (0..n)
        .map(|s| (s, grid.secs(s)))
        .filter(|&(_, t)| t >= to_s)
        .find(|&(s, _)| {
            behind
                .iter()
                .all(|&m| accs[m].clock_at[s].is_some_and(|c| c >= target))
        })
        .map(|(_, t)| t - to_s)
}

/// Fills in what window `i`, a pause of machine `m`, did: its queue and lag when it
/// resumed, and how long it took to drain and to catch up.
fn pause_effect(accs: &[MachineAcc], i: usize, m: usize, e: &mut WindowEffect) {
    let probe = |m: usize| &accs[m].probes[i];
    let top = (0..accs.len())
        .map(|k| probe(k).clock_at_to)
        .max()
        .unwrap_or(0);
    e.machine = Some(m as u16);
    e.waiting_at_resume = probe(m).waiting_at_to;
    e.lag_at_resume = Some(top - probe(m).clock_at_to);
    e.drained_after_s = probe(m).drained_after_s;
    e.caught_up_after_s = caught_up(accs, &[m], top, e.to_s);
}

/// Fills in what window `i`, a partition between `sides`, did: each side's highest clock
/// when it opened and healed, when the side behind caught up, the largest jump across it
/// after the heal, and the receives across it inside the window.
fn partition_effect(
    accs: &[MachineAcc],
    i: usize,
    sides: [&lamport_core::faults::Side; 2],
    e: &mut WindowEffect,
) {
    let probe = |m: usize| &accs[m].probes[i];
    let side = |s: &lamport_core::faults::Side, at: fn(&WindowProbe) -> u64| {
        s.ids()
            .filter(|&m| usize::from(m) < accs.len())
            .map(|m| at(probe(usize::from(m))))
            .max()
            .unwrap_or(0)
    };
    let [a, b] = sides;
    e.side_clocks_at_from = Some([side(a, |p| p.clock_at_from), side(b, |p| p.clock_at_from)]);
    let at_to = [side(a, |p| p.clock_at_to), side(b, |p| p.clock_at_to)];
    e.side_clocks_at_to = Some(at_to);
    let (behind, target) = if at_to[0] <= at_to[1] {
        (a, at_to[1])
    } else {
        (b, at_to[0])
    };
    let behind: Vec<usize> = behind
        .ids()
        .map(usize::from)
        .filter(|&m| m < accs.len())
        .collect();
    e.caught_up_after_s = caught_up(accs, &behind, target, e.to_s);
    let until = accs[0].header.start_unix_ns.saturating_add(
        ((e.to_s + e.caught_up_after_s.unwrap_or(f64::INFINITY)) * 1e9).min(u64::MAX as f64) as u64,
    );
    // The largest (the first of equals), and whether its message was sent after the heal:
    // its clock above its sender's clock at the heal (a sender's clocks only grow), not one
    // the partition held.
    let largest = (0..accs.len())
        .flat_map(|m| probe(m).after_heal.iter())
        .filter(|&&(t, ..)| t <= until)
        .fold(None::<(u64, u64, u16, u64)>, |best, &x| match best {
            Some(b) if b.1 > x.1 || (b.1 == x.1 && b.0 <= x.0) => Some(b),
            _ => Some(x),
        });
    e.heal_jump = Some(largest.map_or(0, |x| x.1));
    e.heal_jump_fresh = largest
        .map(|(_, _, s, c)| usize::from(s) < accs.len() && c > probe(usize::from(s)).clock_at_to);
    e.cross_recv_inside = Some((0..accs.len()).map(|m| probe(m).cross_recv_inside).sum());
}

/// `a - b` as an `i64`, clamped (a log's values may be anything).
fn diff(a: u64, b: u64) -> i64 {
    (i128::from(a) - i128::from(b)).clamp(i64::MIN.into(), i64::MAX.into()) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let mut h = Hist::default();
        for v in 1..=100 {
            h.add(v);
        }
        assert_eq!(
            (h.min(), h.max(), h.quantile(0.5), h.quantile(0.99)),
            (1, 100, 50, 99)
        );
        assert!((h.mean() - 50.5).abs() < 1e-9);
        assert_eq!(Hist::default().quantile(0.5), 0);
    }

    #[test]
    fn trend_of_a_line() {
        let mut t = Trend::default();
        for x in 0..10 {
            t.add(f64::from(x), 3.0 * f64::from(x) + 1.0);
        }
        assert!((t.slope() - 3.0).abs() < 1e-9);
    }
}
