//! host-tcp: the model over TCP: threads in one process, or one machine per process.
#![deny(unsafe_code)]

mod machine;
mod net;
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
    /// Every machine's address, in id order (one machine per process): `HOST:PORT`, the
    /// host a name (`localhost`) or a numeric address.
    #[arg(long, value_delimiter = ',', requires = "id", value_parser = parse_peer)]
    peers: Option<Vec<SocketAddr>>,
    /// Give up on a peer that has not answered after this many seconds.
    #[arg(long, default_value_t = 30)]
    connect_timeout: u64,
    /// With --peers: keep the whole run in this machine's --out too. At the end every
    /// machine hands its log to machine 0, and to each machine started with this flag;
    /// machine 0 (and each such machine) checks the whole run and says one verdict.
    #[arg(long, requires = "peers")]
    collect: bool,
    /// Internal: serve the live view of the run folder DIR on the listening socket given as
    /// standard input, until no process writes the folder (the `--view` of a run starts
    /// this, so that the machines' process does not carry the server).
    #[arg(long, hide = true, value_name = "DIR")]
    serve_view_of: Option<std::path::PathBuf>,
}

/// `HOST:PORT` to one address: a numeric address as it is, a host name resolved (its first
/// IPv4 address, else its first address), so every process of a run agrees on it.
fn parse_peer(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = s.parse() {
        return Ok(a);
    }
    if !s.contains(':') {
        return Err(format!(
            "`{s}`: expected HOST:PORT, like 127.0.0.1:7000 or localhost:7000"
        ));
    }
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("`{s}`: cannot resolve the host ({e})"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("`{s}`: the host has no address"))
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches, parser::ValueSource};
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    // With --peers the list fixes the number of machines: a --machines that says otherwise
    // is refused rather than ignored.
    if let Some(peers) = &cli.peers
        && matches.value_source("machines") == Some(ValueSource::CommandLine)
        && usize::from(cli.model.machines) != peers.len()
    {
        eprintln!(
            "host-tcp: --machines {} contradicts --peers, which lists {} addresses (the list fixes the number of machines; leave --machines out)",
            cli.model.machines,
            peers.len()
        );
        return ExitCode::from(lamport_host::EXIT_USAGE);
    }
    if let Some(dir) = &cli.serve_view_of {
        return ExitCode::from(run::serve_view(dir));
    }
    match run::run(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("host-tcp: {e:#}");
            ExitCode::from(lamport_host::EXIT_USAGE)
        }
    }
}
