//! host-tcp: the model over TCP: threads in one process, or one machine per process.
#![deny(unsafe_code)]

mod net;
mod node;
mod run;

use clap::Parser;
use lamport_host::args::ModelArgs;
use std::{net::SocketAddr, process::ExitCode};

/// Run the lamport-lab model over TCP: every machine listens on its address and connects
/// to every other; messages are Lamport-stamped postcard frames.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:\n  host-tcp --machines 3 --secs 60                 (threads in one process, loopback ports the OS picks)\n  host-tcp --id 0 --peers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 --secs 60\n  host-tcp --id 1 --peers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 --secs 60\n  host-tcp --id 2 --peers 127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002 --secs 60\n                                                  (one machine per terminal; the list fixes N)"
)]
pub(crate) struct Cli {
    #[command(flatten)]
    model: ModelArgs,
    /// This process's machine (with --peers): it listens on the id-th address.
    #[arg(long, requires = "peers")]
    id: Option<u16>,
    /// Every machine's address, in id order (one machine per process).
    #[arg(long, value_delimiter = ',', requires = "id")]
    peers: Option<Vec<SocketAddr>>,
    /// Give up on a peer that has not answered after this many seconds.
    #[arg(long, default_value_t = 30)]
    connect_timeout: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("host-tcp: {e:#}");
            ExitCode::from(lamport_host::EXIT_USAGE)
        }
    }
}
