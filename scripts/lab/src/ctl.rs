//! `lab ctl RUN COMMAND`: a fault set while the run runs, sent to its control socket
//! ([`lamport_host::control`]), then confirmed by the `fault` row each machine concerned
//! writes into its log.

use anyhow::Result;
use lamport_core::{
    MachineId,
    record::{Header, Kind, Record},
};
use lamport_host::{EXIT_FAILED, EXIT_OK, control, folder, outln};
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// How long a machine has to write the row of a fault it was sent: a machine reads its
/// control at once, whatever its rate; this allows for a loaded computer.
const CONFIRM: Duration = Duration::from_secs(3);

/// The `fault` rows of machine `m`'s log so far, and its header.
fn fault_rows(run: &Path, m: MachineId) -> (Vec<Record>, Option<Header>) {
    let text = std::fs::read_to_string(folder::log_path(run, m)).unwrap_or_default();
    let header = text
        .lines()
        .nth(1)
        .and_then(|l| Header::parse_params(l).ok());
    let rows = header
        .map(|h| {
            text.lines()
                .filter(|l| l.contains(",fault,") && !l.starts_with('#'))
                .filter_map(|l| Record::parse(l, h.machines).ok())
                .filter(|r| r.kind == Kind::Fault)
                .collect()
        })
        .unwrap_or_default();
    (rows, header)
}

/// `lab ctl`.
pub fn ctl_cmd(run: &Path, words: &[String]) -> Result<u8> {
    let line = words.join(" ");
    let cmd: control::Command = line.parse().map_err(anyhow::Error::msg)?;
    let sockets = control::sockets(run);
    let machines = (0..1024u16)
        .take_while(|&m| folder::log_path(run, m).is_file())
        .count() as u16;
    let before: Vec<usize> = (0..machines).map(|m| fault_rows(run, m).0.len()).collect();
    if sockets.is_empty() {
        anyhow::bail!(
            "{}: no control socket: the run has ended, or this is not a run folder",
            run.display()
        );
    }
    let sent = match control::send(run, &cmd.to_string())? {
        Ok(ids) => ids,
        Err(why) => {
            eprintln!("lab: refused: {why}");
            return Ok(EXIT_FAILED);
        }
    };
    let since = Instant::now();
    let mut code = EXIT_OK;
    for m in sent {
        let had = before.get(usize::from(m)).copied().unwrap_or(0);
        let row = loop {
            let (rows, header) = fault_rows(run, m);
            if rows.len() > had {
                break rows.last().cloned().zip(header);
            }
            if since.elapsed() > CONFIRM {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        match row {
            Some((r, h)) => outln!(
                "machine {m}: {} at {:.3} s (clock {}, queue {})",
                r.note,
                r.unix_ns.saturating_sub(h.start_unix_ns) as f64 / 1e9,
                r.clock,
                r.queue
            )?,
            None => {
                eprintln!(
                    "lab: machine {m} wrote no `fault` row for `{cmd}` within {} s: it has stopped, or the run has not started",
                    CONFIRM.as_secs()
                );
                code = EXIT_FAILED;
            }
        }
    }
    Ok(code)
}
