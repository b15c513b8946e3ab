//! The model flags, shared by every program that runs the model (hosts and simulator).

use crate::error::{Error, Result};
use clap::Args;
use lamport_core::{
    MachineId, RunParams, Spec,
    faults::{HostFaults, Plan},
    params::parse_milli,
};
use std::path::PathBuf;

/// Queue capacity compiled into the hosts and the simulator (`--queue-cap` may lower it).
pub const HOST_QUEUE_CAP: usize = 4096;

/// The flags that define a run of the model.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Number of machines (at least 3).
    #[arg(long, short = 'n', default_value_t = 3)]
    pub machines: u16,
    /// Length of the run in seconds.
    #[arg(long, default_value_t = 60)]
    pub secs: u64,
    /// Run seed (default: random, printed so the run can be repeated).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Lowest clock rate a machine may draw, ticks per second.
    #[arg(long, default_value_t = 1)]
    pub rate_min: u32,
    /// Highest clock rate a machine may draw, ticks per second.
    #[arg(long, default_value_t = 6)]
    pub rate_max: u32,
    /// Pin each machine's rate instead of drawing it: one per machine, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub rates: Option<Vec<u32>>,
    /// Rolls are uniform in 1..=K; 1-3 send, 4..=K are internal events (K >= 3).
    #[arg(long, default_value_t = 10)]
    pub roll_max: u32,
    /// Network queue limit per machine; a full queue stops the run (never drops a message).
    #[arg(long, default_value_t = 1024)]
    pub queue_cap: u32,
    /// Multiply every clock rate (e.g. 20 or 0.5); logs keep real time.
    #[arg(long, default_value = "1", value_parser = parse_speedup)]
    pub speedup: u32,
    /// Run folder (default: runs/<UTC time>-seed<seed>/). Must be empty or absent.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No live display (hosts) and no summary table; the seed is still said, on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Hosts: print one line per event on stdout as the logs grow (`m0 recv from m2 (msg
    /// 39): 38 → 40 (+2), queue 3`), a receive's jump above 1 highlighted on a terminal.
    /// With `--quiet` too, the feed without the display.
    #[arg(long)]
    pub events: bool,
    /// Tick schedule: `aligned` puts tick k at start + k / (rate × speedup) for every
    /// machine; `spread` adds a per-machine phase drawn from the seed (below one period), so
    /// that machines of equal rates do not all wake at one instant. Rolls are the same.
    #[arg(long, value_enum, default_value_t = Phase::Aligned)]
    pub phase: Phase,
    /// How to wait for a deadline: `hybrid` sleeps to a measured guard before it and waits
    /// the rest without sleeping (ticks within microseconds, a little CPU); `sleep` sleeps
    /// to the deadline (the OS wakes a fraction of a millisecond late).
    #[arg(long, value_enum, default_value_t = crate::pace::Mode::Hybrid)]
    pub pacing: crate::pace::Mode,
    /// Every message enters its receiver's queue D ms after it arrives, plus a uniform
    /// jitter up to J ms drawn from the seed (`40` or `40:20`); per sender, order is kept.
    #[arg(long, value_name = "D[:J]", help_heading = "Faults")]
    pub delay_ms: Option<String>,
    /// Machine M does no tick from T s to T+D s after the start (those ticks are skipped);
    /// its queue keeps filling. Repeatable. Example: `1@10+5`.
    #[arg(long, value_name = "M@T+D", help_heading = "Faults")]
    pub pause: Vec<String>,
    /// Messages between machines A,B and machines C are held from T s to T+D s and enter
    /// their queues, in order, when it heals (nothing is dropped). Sides take ids and
    /// ranges (`0-3,7`). Repeatable. Example: `0,1/2@20+10`.
    #[arg(long, value_name = "A,B/C@T+D", help_heading = "Faults")]
    pub partition: Vec<String>,
    /// Serve the run's page live while it runs: its space-time diagram, clocks and queues
    /// grow as the logs do. `--view` serves on 127.0.0.1 and a port the system picks;
    /// `--view=ADDR` on ADDR (e.g. `0.0.0.0:8080` for a classroom's network). The address is
    /// printed first.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true,
          default_missing_value = "127.0.0.1:0")]
    pub view: Option<std::net::SocketAddr>,
    /// Tests only: the kernel's socket buffers and each peer's send buffer, in bytes (small
    /// values make a frozen peer's buffers fill at once).
    #[arg(long, hide = true)]
    pub send_buffer: Option<usize>,
}

fn parse_speedup(s: &str) -> Result<u32, String> {
    match parse_milli(s) {
        Some(0) => Err("must be above 0".into()),
        Some(m) => Ok(m),
        None => Err("expected a decimal number with at most 3 decimals, like 20 or 0.5".into()),
    }
}

/// The tick schedule's phase (`--phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// Every machine's tick 0 at the start.
    Aligned,
    /// Each machine's tick 0 at a phase drawn from the seed.
    Spread,
}

/// A validated run: parameters plus each machine's pinned rate, if any.
#[derive(Debug, Clone)]
pub struct Model {
    /// The run's parameters (`start_unix_ns` is set when the run starts).
    pub params: RunParams,
    /// Pinned rates, one per machine, or `None`s.
    pub pinned: Vec<Option<u32>>,
    /// The run's faults (none: the plain model).
    pub faults: Plan,
}

impl Model {
    /// Each machine's header as the run will write it (its rate and phase drawn from the
    /// seed, or pinned); `None` for parameters the core refuses.
    fn headers(&self) -> impl Iterator<Item = Option<lamport_core::Header>> + '_ {
        let params = RunParams {
            queue_cap: 1,
            ..self.params
        };
        (0..self.params.machines).map(move |id| {
            let spec = Spec {
                params,
                ..self.spec(id)
            };
            lamport_core::Machine::<1>::new(&spec)
                .ok()
                .map(|m| m.header())
        })
    }

    /// Machine `id` of this run as the hosts and the simulator make it: its pinned rate,
    /// the run's faults, [`lamport_core::node::Timing::HOST`].
    pub fn spec(&self, id: MachineId) -> Spec<HostFaults> {
        Spec::new(self.params, id)
            .pinned(self.pinned.get(usize::from(id)).copied().flatten())
            .with_plan(self.faults.clone())
    }

    /// Each machine's phase, nanoseconds (all 0 unless `--phase spread`).
    pub fn phases(&self) -> Vec<u64> {
        self.headers()
            .map(|h| h.map_or(0, |h| h.phase_ns))
            .collect()
    }

    /// The rate each machine will tick at (drawn from the seed, or pinned).
    pub fn rates(&self) -> Vec<u32> {
        self.headers().map(|h| h.map_or(0, |h| h.rate)).collect()
    }
}

impl ModelArgs {
    /// What the hosts show of a run (`--quiet`, `--events`).
    pub fn show(&self) -> crate::display::Show {
        crate::display::Show {
            quiet: self.quiet,
            events: self.events,
        }
    }

    /// Validates every flag against the model's rules; the error is one line.
    pub fn model(&self) -> Result<Model> {
        let seed = self.seed.unwrap_or_else(random_seed);
        let params = RunParams {
            machines: self.machines,
            secs: self.secs,
            seed,
            rate_min: self.rate_min,
            rate_max: self.rate_max,
            roll_max: self.roll_max,
            speedup_milli: self.speedup,
            queue_cap: self.queue_cap,
            start_unix_ns: 0,
            spread_phase: self.phase == Phase::Spread,
        };
        if self.secs == 0 {
            return Err(Error::Usage("--secs must be at least 1".into()));
        }
        params.validate(HOST_QUEUE_CAP)?;
        let pinned = match &self.rates {
            None => vec![None; usize::from(self.machines)],
            Some(r) if r.len() != usize::from(self.machines) => {
                return Err(Error::Usage(format!(
                    "--rates gives {} rates for {} machines",
                    r.len(),
                    self.machines
                )));
            }
            Some(r)
                if r.iter()
                    .any(|&x| x == 0 || x > lamport_core::params::MAX_RATE) =>
            {
                return Err(Error::Usage(format!(
                    "--rates: a clock rate must be between 1 and {}",
                    lamport_core::params::MAX_RATE
                )));
            }
            Some(r) => r.iter().map(|&x| Some(x)).collect(),
        };
        let faults = self.faults(&params)?;
        Ok(Model {
            params,
            pinned,
            faults,
        })
    }

    /// The fault flags as a plan, checked against the run; an error names the flag.
    fn faults(&self, params: &RunParams) -> Result<Plan> {
        fault_plan(
            self.delay_ms.as_deref(),
            &self.pause,
            &self.partition,
            params,
        )
    }
}

/// The plan of the fault flags (`--delay-ms`, each `--pause`, each `--partition`), checked
/// against the run; an error is one line that names the flag and its value.
pub fn fault_plan(
    delay_ms: Option<&str>,
    pauses: &[String],
    partitions: &[String],
    params: &RunParams,
) -> Result<Plan> {
    let mut plan = Plan::default();
    let bad = |flag: &str, value: &str, e: lamport_core::Error| {
        Error::Usage(format!("--{flag} {value}: {e}"))
    };
    let check = |plan: &Plan| plan.validate(params.machines, params.secs);
    if let Some(d) = delay_ms {
        plan.set_delay(d).map_err(|e| bad("delay-ms", d, e))?;
        check(&plan).map_err(|e| bad("delay-ms", d, e))?;
    }
    for p in pauses {
        plan.add_pause(p).map_err(|e| bad("pause", p, e))?;
        check(&plan).map_err(|e| bad("pause", p, e))?;
    }
    for p in partitions {
        plan.add_partition(p).map_err(|e| bad("partition", p, e))?;
        check(&plan).map_err(|e| bad("partition", p, e))?;
    }
    Ok(plan)
}

/// A seed from the OS's randomness (hashing a fresh `RandomState`), for runs without `--seed`.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    RandomState::new().hash_one((t, std::process::id()))
}
