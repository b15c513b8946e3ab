//! The raw limit, for the benchmarks: the same number of processes doing only what a tick
//! must do to the OS (one log-line write per event, one frame write per message sent, the
//! reads), with no model logic and no pacing. `host-unix --raw-limit SECS` prints events and
//! messages per second.

use crate::proc;
use anyhow::{Context, Result};
use nix::{
    sys::{
        socket::{AddressFamily, SockFlag, SockType, socketpair},
        wait::waitpid,
    },
    unistd::pipe,
};
use std::{
    fs::File,
    io::{Read, Write},
    os::{fd::OwnedFd, unix::net::UnixStream},
    path::Path,
    time::{Duration, Instant},
};

/// `host-unix --raw-limit SECS`: prints the raw limit for `--machines` processes.
pub(crate) fn main(args: &lamport_host::args::ModelArgs, secs: f64) -> u8 {
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("lamport-raw"));
    let n = args.machines;
    match run(usize::from(n), secs, &dir) {
        Ok((events, msgs)) => {
            lamport_host::out::print_or_drop(format_args!(
                "raw: {n} processes, {secs} s: {:.0} events/s, {:.0} messages/s\n",
                events as f64 / secs,
                msgs as f64 / secs
            ));
            0
        }
        Err(e) => {
            eprintln!("host-unix: {e:#}");
            lamport_host::EXIT_FAILED
        }
    }
}

/// Runs `n` processes for `secs` seconds writing logs into `dir`; returns (events, messages).
pub(crate) fn run(n: usize, secs: f64, dir: &Path) -> Result<(u64, u64)> {
    std::fs::create_dir_all(dir)?;
    let mut ends: Vec<Vec<Option<OwnedFd>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let pairs = (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j)));
    for (i, j) in pairs {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_NONBLOCK,
        )?;
        ends[i][j] = Some(a);
        ends[j][i] = Some(b);
    }
    let mut results = Vec::new();
    let mut pids = Vec::new();
    for (id, row) in ends.iter_mut().enumerate() {
        let (r, w) = pipe()?;
        let mine: Vec<UnixStream> = row
            .iter_mut()
            .filter_map(Option::take)
            .map(UnixStream::from)
            .collect();
        let path = dir.join(format!("raw-{id}.log"));
        // The closure takes the write end (the parent's copy closes when spawn returns).
        let pid = proc::spawn(move || {
            let (events, msgs) = worker(mine, &path, secs).unwrap_or((0, 0));
            let mut w = File::from(w);
            let _ = w.write_all(&[events.to_le_bytes(), msgs.to_le_bytes()].concat());
            0
        })
        .context("cannot fork")?;
        pids.push(pid);
        results.push(File::from(r));
    }
    drop(ends);
    let (mut events, mut msgs) = (0, 0);
    for mut r in results {
        let mut b = [0u8; 16];
        r.read_exact(&mut b)?;
        events += u64::from_le_bytes(b[..8].try_into()?);
        msgs += u64::from_le_bytes(b[8..].try_into()?);
    }
    for p in pids {
        let _ = waitpid(p, None);
    }
    Ok((events, msgs))
}

fn worker(mut peers: Vec<UnixStream>, log: &Path, secs: f64) -> Result<(u64, u64)> {
    let mut file = File::create(log)?;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let line = b"1764070000000412000,0,internal,123456,0,,,\n";
    let frame = [0x04u8, 0x01, 0x01, 0x05, 0x00];
    let mut buf = [0u8; 4096];
    let (mut events, mut msgs, mut x) = (0u64, 0u64, 0x2545_f491_4f6c_dd1du64);
    while Instant::now() < until {
        // The model's mix: about 3 in 10 ticks send (one or two frames).
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        file.write_all(line)?;
        if x % 10 < 3 {
            let k = (x >> 8) as usize % peers.len();
            if peers[k].write(&frame).is_ok() {
                msgs += 1;
            }
        }
        for p in &mut peers {
            while let Ok(got) = p.read(&mut buf) {
                if got == 0 {
                    break;
                }
            }
        }
        events += 1;
    }
    Ok((events, msgs))
}
