//! lab: check and simulate lamport-lab runs.
#![deny(unsafe_code)]

use clap::Parser;
use lab::cmd;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lab: {e:#}");
            ExitCode::from(lamport_host::EXIT_USAGE)
        }
    }
}
