//! Runs the core's deterministic simulator and writes a run folder like the hosts do.

use crate::error::{Error, Result};
use crate::{
    args::{HOST_QUEUE_CAP, Model},
    folder,
};
use lamport_core::{
    MachineId, UnixNanos,
    faults::HostFaults,
    live::Live,
    node::PeerState,
    record::{Kind, Record, VERSION_LINE_V3},
    sim::{LiveAt, Outcome, Sim, SimNode},
};
use std::{
    fmt::Write as _,
    fs::File,
    io::{BufWriter, Write},
    path::Path,
};

/// A simulated machine as the hosts size it: their queue, in-flight storage of the same
/// size, a `Vec` ledger.
pub type HostSimNode = SimNode<HOST_QUEUE_CAP, HOST_QUEUE_CAP, Vec<PeerState>, HostFaults>;

/// The machines of a simulated run of `model`.
///
/// A slot is large (its queue and in-flight storage are inline), and an unoptimised build
/// copies it several times on the way into the `Vec`: the slots are built on a thread
/// with a stack to match, so that any caller's thread (a test's, rayon's) can simulate.
pub fn sim_nodes(model: &Model) -> Result<Vec<HostSimNode>, lamport_core::Error> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, || {
                (0..model.params.machines)
                    .map(|id| SimNode::new(model.spec(id)))
                    .collect()
            })
            .map_err(|_| lamport_core::Error::SimSlots)?
            .join()
            .unwrap_or(Err(lamport_core::Error::SimSlots))
    })
}

/// Refuses a latency the simulator cannot hold: longer than the run, or one that could put
/// more messages in flight to a machine than its in-flight storage (each peer sends a
/// machine at most one message a tick, so at most its ticks within one latency, plus one).
pub fn check_latency(slots: &[HostSimNode], latency_ns: u64) -> Result<()> {
    let Some(first) = slots.first() else {
        return Ok(());
    };
    let p = *first.machine().params();
    if latency_ns > p.secs.saturating_mul(1_000_000_000) {
        return Err(Error::Usage(format!(
            "--latency-ms: longer than the run ({} s)",
            p.secs
        )));
    }
    for (i, _) in slots.iter().enumerate() {
        let most: u128 = slots
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, s)| {
                let per_kilosec = u128::from(s.machine().rate()) * u128::from(p.speedup_milli);
                u128::from(latency_ns) * per_kilosec / 1_000_000_000_000 + 1
            })
            .sum();
        if most > HOST_QUEUE_CAP as u128 {
            return Err(Error::Usage(format!(
                "--latency-ms {}: up to {most} messages could be in flight to machine {i}; the simulator holds {HOST_QUEUE_CAP}",
                latency_ns as f64 / 1e6
            )));
        }
    }
    Ok(())
}

/// The start instant of simulated runs unless one is given: 2025-11-25T11:26:40Z, fixed so
/// that the same flags give byte-identical folders.
pub const DEFAULT_START_UNIX_NS: u64 = 1_764_070_000_000_000_000;

/// Simulates `model` (its `start_unix_ns`, or [`DEFAULT_START_UNIX_NS`] if 0) with message
/// latency `latency_ns`, writing `machine-<id>.log` files and `run.json` into `dir`.
pub fn simulate_to(model: &Model, latency_ns: u64, dir: &Path) -> Result<Outcome> {
    simulate_live_to(model, latency_ns, &[], dir)
}

/// [`simulate_to`] with faults set while the run runs, each taken by its machine at its
/// instant ([`Sim::run_live`]): the replay of a run with live faults. A log with `fault`
/// rows opens with the v3 line, as a host's does once it rewrote its first line.
pub fn simulate_live_to(
    model: &Model,
    latency_ns: u64,
    live: &[LiveAt],
    dir: &Path,
) -> Result<Outcome> {
    let mut model = model.clone();
    if model.params.start_unix_ns == 0 {
        model.params.start_unix_ns = DEFAULT_START_UNIX_NS;
    }
    let mut slots = sim_nodes(&model)?;
    check_latency(&slots, latency_ns)?;
    let mut files = Vec::new();
    for s in &slots {
        let path = folder::log_path(dir, s.machine().id());
        let mut w = BufWriter::with_capacity(
            1 << 16,
            File::create(&path).map_err(|e| Error::file("create", &path, e))?,
        );
        w.write_all(s.node().opening().to_string().as_bytes())
            .map_err(|e| Error::file("write", &path, e))?;
        files.push(w);
    }
    let mut sim = Sim::new(&mut slots, latency_ns)?;
    let mut line = String::with_capacity(128);
    let mut err = None;
    let mut faulted = vec![false; files.len()];
    let outcome = sim.run_live(live, |id, rec: &Record| {
        faulted[usize::from(id)] |= rec.kind == Kind::Fault;
        line.clear();
        let _ = writeln!(line, "{rec}");
        if let Err(e) = files[usize::from(id)].write_all(line.as_bytes()) {
            err.get_or_insert(e);
        }
    });
    if let Some(e) = err {
        return Err(Error::io("cannot write a log".into(), e));
    }
    for (mut f, faulted) in files.into_iter().zip(faulted) {
        f.flush()
            .map_err(|e| Error::io("cannot write a log".into(), e))?;
        if faulted {
            // As a host does at its first `fault` row: the first line says v3, in place.
            std::os::unix::fs::FileExt::write_all_at(f.get_ref(), VERSION_LINE_V3.as_bytes(), 0)
                .map_err(|e| Error::io("cannot write a log".into(), e))?;
        }
    }
    folder::write_run_json(
        dir,
        &model,
        "lab sim",
        serde_json::json!({ "transport": "simulator (virtual time)", "latency_ns": latency_ns }),
    )?;
    folder::note_live_faults(dir);
    Ok(outcome)
}

/// The faults set while the run in `dir` ran: each `fault` row of each machine's log, as
/// the machine took it, in time order (ties in machine order).
pub fn live_faults(dir: &Path, machines: u16) -> Result<Vec<LiveAt>> {
    let mut live = Vec::new();
    for m in 0..machines {
        let path = folder::log_path(dir, m);
        let unreadable = |e: crate::check::CheckError| Error::Usage(e.to_string());
        let (head, r) = crate::check::read_head(&path).map_err(unreadable)?;
        let rows = crate::live_faults::fault_rows(&path, &head, r).map_err(unreadable)?;
        for rec in rows.into_iter().filter(|r| r.kind == Kind::Fault) {
            let fault = Live::parse(&rec.note).map_err(|e| {
                Error::Usage(format!(
                    "{}: `fault` row `{}`: {e}",
                    path.display(),
                    rec.note
                ))
            })?;
            live.push(LiveAt {
                at: UnixNanos(rec.unix_ns),
                machine: m,
                live: fault,
            });
        }
    }
    live.sort_by_key(|l| (l.at, l.machine));
    Ok(live)
}

/// A run replayed in the simulator ([`replay`]).
#[derive(Debug, Clone)]
pub struct Replay {
    /// How the simulated run ended.
    pub outcome: Outcome,
    /// The live faults it was given.
    pub live: usize,
    /// Rows compared, over every log.
    pub rows: usize,
    /// Each machine whose replayed log differs from the real one: its id, the line number
    /// and the two lines (the real one first), `unix_ns` left out.
    pub differences: Vec<(MachineId, usize, String, String)>,
}

/// The run in `run` simulated again into `out`, from its `run.json` (seed, rates,
/// planned faults) and the faults set while it ran, each at the instant its machine took
/// it; then every log compared line by line with the real one, all but `unix_ns` (and a
/// supervisor's `# died:` line, which no simulation writes).
pub fn replay(run: &Path, out: &Path) -> Result<Replay> {
    let model = folder::read_model(run)?;
    let n = model.params.machines;
    let live = live_faults(run, n)?;
    let outcome = simulate_live_to(&model, 0, &live, out)?;
    let mut r = Replay {
        outcome,
        live: live.len(),
        rows: 0,
        differences: Vec::new(),
    };
    let lines = |dir: &Path, m: MachineId| -> Result<Vec<String>> {
        let path = folder::log_path(dir, m);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::file("read", &path, e))?;
        Ok(text
            .lines()
            // What the real run measured (a death, its clock offsets), not what the model
            // says.
            .filter(|l| !l.starts_with("# died:") && !l.starts_with("# clock="))
            .map(|l| match l.split_once(',') {
                Some((_, rest)) if !l.starts_with('#') && !l.starts_with("unix_ns,") => {
                    rest.to_string()
                }
                _ => l.to_string(),
            })
            .collect())
    };
    for m in 0..n {
        let (real, sim) = (lines(run, m)?, lines(out, m)?);
        r.rows += real.len();
        let first = (0..real.len().max(sim.len())).find(|&i| real.get(i) != sim.get(i));
        if let Some(i) = first {
            let at = |v: &[String]| v.get(i).cloned().unwrap_or_else(|| "(no line)".into());
            r.differences.push((m, i + 1, at(&real), at(&sim)));
        }
    }
    Ok(r)
}
