//! The lab subcommands.

use anyhow::Result;
use clap::{Parser, Subcommand};
use lamport_core::sim::{Outcome, Slot};
use lamport_host::{EXIT_FAILED, EXIT_OK, args::ModelArgs, check, folder, sim};
use std::path::PathBuf;

/// Study lamport-lab runs: check them against the model's rules, or simulate them.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:\n  lab sim --seed 42 --out runs/sim42\n  lab check runs/sim42"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Verify a run folder: clock rules, exactly-once FIFO per pair, tick counts, complete files.
    Check {
        /// The run folder (holding machine-<id>.log files).
        run: PathBuf,
    },
    /// Simulate a run in virtual time with the core's deterministic simulator.
    Sim {
        #[command(flatten)]
        model: ModelArgs,
        /// Delay of every message, milliseconds.
        #[arg(long, default_value_t = 0.0)]
        latency_ms: f64,
        /// Instant of tick 0, ns since the Unix epoch (default: a fixed instant, for repeatability).
        #[arg(long)]
        start_unix_ns: Option<u64>,
    },
    /// Print the memory the core's types take for a 3-machine model with 32-slot queues.
    Sizes,
}

pub(crate) fn run(cli: Cli) -> Result<u8> {
    match cli.cmd {
        Cmd::Check { run } => {
            let report = check::check_run(&run)?;
            for v in &report.violations {
                println!("{v}");
            }
            if report.violations.is_empty() {
                let ticks: u64 = report.machines.iter().map(|m| m.ticks).sum();
                println!(
                    "ok: {} machines, {ticks} ticks, every rule holds",
                    report.machines.len()
                );
                Ok(EXIT_OK)
            } else {
                eprintln!("lab: {} violations", report.violations.len());
                Ok(EXIT_FAILED)
            }
        }
        Cmd::Sim {
            model,
            latency_ms,
            start_unix_ns,
        } => {
            if !(latency_ms.is_finite() && latency_ms >= 0.0) {
                anyhow::bail!("--latency-ms must be a number of milliseconds, 0 or more");
            }
            let mut m = model.model()?;
            m.params.start_unix_ns = start_unix_ns.unwrap_or(0);
            let dir = folder::create(model.out.as_deref(), m.params.seed)?;
            let outcome = sim::simulate_to(&m, (latency_ms * 1e6).round() as u64, &dir)?;
            if !model.quiet {
                let report = check::check_run(&dir)?;
                print!("{}", lamport_host::display::summary_table(&report));
                println!(
                    "seed {} (repeat with --seed {}); logs: {}",
                    m.params.seed,
                    m.params.seed,
                    dir.display()
                );
            }
            match outcome {
                Outcome::TimeUp => Ok(EXIT_OK),
                Outcome::QueueFull { machine, .. } => {
                    eprintln!(
                        "lab: run failed: machine {machine}: queue full (cap {})",
                        m.params.queue_cap
                    );
                    Ok(EXIT_FAILED)
                }
            }
        }
        Cmd::Sizes => {
            println!(
                "Machine (32-slot queue): {} bytes",
                size_of::<lamport_core::Machine<32>>()
            );
            println!(
                "simulator state, 3 machines x 32 slots: {} bytes",
                size_of::<[Slot<32>; 3]>()
            );
            Ok(EXIT_OK)
        }
    }
}
