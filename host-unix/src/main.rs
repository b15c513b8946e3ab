//! host-unix: the model as N forked processes over Unix-domain socket pairs.
#![deny(unsafe_code)]

mod floor;
mod machine;
mod proc;
mod raw;
mod run;

use clap::Parser;
use lamport_host::args::ModelArgs;
use std::process::ExitCode;

/// Run the lamport-lab model: N machines as processes, exchanging Lamport-stamped messages
/// over Unix-domain sockets, each logging every event.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:\n  host-unix --machines 3 --secs 60\n  host-unix --seed 42 --rates 1,6,6 --out runs/slow-one\n  host-unix --machines 8 --secs 5 --speedup 20 --quiet"
)]
struct Cli {
    #[command(flatten)]
    model: ModelArgs,
    /// Benchmark only: measure the raw OS limit for this many seconds (no model) and exit.
    #[arg(long, hide = true)]
    raw_limit: Option<f64>,
    /// Benchmark only: wait for the run's deadlines for this many seconds with the same
    /// processes and pacing, no model, and print how late they woke.
    #[arg(long, hide = true)]
    timer_floor: Option<f64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(secs) = cli.raw_limit {
        return ExitCode::from(raw::main(&cli.model, secs));
    }
    if let Some(secs) = cli.timer_floor {
        return ExitCode::from(floor::main(&cli.model, secs));
    }
    match run::run(&cli.model) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("host-unix: {e:#}");
            ExitCode::from(lamport_host::EXIT_USAGE)
        }
    }
}
