//! `lab ctl RUN COMMAND`: a fault set while the run runs, sent to its control socket
//! ([`lamport_host::control`]), then confirmed by the `fault` row each machine concerned
//! writes into its log.

use anyhow::Result;
use lamport_core::{
    MachineId,
    record::{Header, Record},
};
use lamport_host::{EXIT_FAILED, EXIT_OK, check, control, folder, outln};
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// How long a machine has to write the row of a fault it was sent: a machine reads its
/// control at once, whatever its rate; this allows for a loaded computer.
const CONFIRM: Duration = Duration::from_secs(3);

/// The `fault` rows of machine `m`'s log so far (its whole lines), and its header.
fn fault_rows(run: &Path, m: MachineId) -> (Vec<Record>, Option<Header>) {
    let path = folder::log_path(run, m);
    let Ok((head, r)) = check::read_head(&path) else {
        return (Vec::new(), None);
    };
    let rows = lamport_host::live_faults::fault_rows(&path, &head, r).unwrap_or_default();
    (rows, Some(head.header))
}

/// The machines whose logs are in `run` (one process's folder may hold only its own).
fn logged_machines(run: &Path) -> Vec<MachineId> {
    let mut ids: Vec<MachineId> = std::fs::read_dir(run)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("machine-")?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .collect();
    ids.sort_unstable();
    ids
}

/// `lab ctl`.
pub fn ctl_cmd(run: &Path, words: &[String]) -> Result<u8> {
    let line = words.join(" ");
    let cmd: control::Command = line.parse().map_err(anyhow::Error::msg)?;
    let note = cmd.live().to_string();
    let sockets = control::sockets(run);
    // The rows of this fault each machine has written so far: the one it writes now is
    // the next (another client's command writes other notes).
    let count = |m: MachineId| {
        fault_rows(run, m)
            .0
            .iter()
            .filter(|r| r.note.as_str() == note)
            .count()
    };
    let before: Vec<(MachineId, usize)> = logged_machines(run)
        .into_iter()
        .map(|m| (m, count(m)))
        .collect();
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
        let had = before.iter().find(|b| b.0 == m).map_or(0, |b| b.1);
        let row = loop {
            let (rows, header) = fault_rows(run, m);
            let mine: Vec<&Record> = rows.iter().filter(|r| r.note.as_str() == note).collect();
            if mine.len() > had {
                break mine.last().map(|r| (*r).clone()).zip(header);
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
