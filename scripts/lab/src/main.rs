//! lab: check and simulate lamport-lab runs.
#![deny(unsafe_code)]

mod cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("lab: {e:#}");
            ExitCode::from(lamport_host::EXIT_USAGE)
        }
    }
}
