//! The timer floor, for the benchmarks: the same processes, deadlines and waits as a run
//! (`--machines`, the rates and phases the seed draws, `--speedup`, `--pacing`), with no
//! model, no sockets and no log. `host-unix --timer-floor SECS` prints how late the
//! processes woke for their deadlines (p50, p99, max over all ticks, ms) and the CPU it
//! cost: what any host could at best do on this computer.

use crate::proc;
use anyhow::{Context, Result};
use lamport_core::Machine;
use lamport_host::waiter::Waiter;
use lamport_host::{
    args::ModelArgs,
    hist::Hist,
    outcome,
    pace::{Pacer, Wait},
    time::Mono,
};
use nix::{sys::wait::waitpid, unistd::pipe};
use std::{
    fs::File,
    io::{Read, Write},
};

/// `host-unix --timer-floor SECS`.
pub(crate) fn main(args: &ModelArgs, secs: f64) -> u8 {
    match run(args, secs) {
        Ok(line) => {
            lamport_host::out::print_or_drop(format_args!("{line}\n"));
            0
        }
        Err(e) => {
            eprintln!("host-unix: {e:#}");
            lamport_host::EXIT_FAILED
        }
    }
}

fn run(args: &ModelArgs, secs: f64) -> Result<String> {
    let cpu_start = outcome::CpuUsage::now();
    let mut model = args.model()?;
    model.params.secs = secs.ceil().max(1.0) as u64;
    let n = model.params.machines;
    // The floor's schedules run on the monotonic clock itself: no system time is involved.
    let start = Mono::now().saturating_add(50_000_000 + u64::from(n) * 1_000_000);
    model.params.start_unix_ns = start.ns();
    let mut results = Vec::new();
    let mut pids = Vec::new();
    for id in 0..n {
        let mut spec = model.spec(id);
        spec.params.queue_cap = 1;
        let m: Machine<1> = Machine::new(&spec)?;
        let (r, w) = pipe()?;
        let pacing = args.pacing;
        let pid = proc::spawn(move || {
            nix::sys::prctl::set_timerslack(1).ok();
            let Ok(lateness) = wake_at_deadlines(&m, Pacer::for_run(pacing, n)) else {
                return 1;
            };
            let mut out = Vec::new();
            for (v, c) in lateness.iter() {
                out.extend_from_slice(&v.to_le_bytes());
                out.extend_from_slice(&c.to_le_bytes());
            }
            let _ = File::from(w).write_all(&out);
            0
        })
        .context("cannot fork")?;
        pids.push(pid);
        results.push(File::from(r));
    }
    let mut all = Hist::default();
    for mut r in results {
        let mut bytes = Vec::new();
        r.read_to_end(&mut bytes)?;
        for pair in bytes.chunks_exact(16) {
            let v = i64::from_le_bytes(pair[..8].try_into()?);
            let c = u64::from_le_bytes(pair[8..].try_into()?);
            for _ in 0..c {
                all.add(v);
            }
        }
    }
    for p in pids {
        let _ = waitpid(p, None);
    }
    let cpu = outcome::CpuUsage::now().since(&cpu_start, true) as f64 / 1e6 / f64::from(n) / secs;
    Ok(format!(
        "timer floor: {n} processes, {secs} s, pacing {}: late p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms over {} ticks; cpu {cpu:.2} ms per process per second",
        args.pacing.name(),
        all.quantile(0.5) as f64 / 1e3,
        all.quantile(0.99) as f64 / 1e3,
        all.max() as f64 / 1e3,
        all.count()
    ))
}

/// Waits for each of the machine's deadlines as a host does and records how late it woke
/// (microseconds).
fn wake_at_deadlines(m: &Machine<1>, mut pacer: Pacer) -> Result<Hist> {
    let mut waiter = Waiter::new()?;
    let mut late = Hist::default();
    let schedule = m.schedule();
    for k in 0..schedule.total() {
        let Some(deadline) = schedule.deadline(k).map(Mono) else {
            break;
        };
        loop {
            let now = Mono::now();
            if now >= deadline {
                late.add((now.since(deadline) / 1_000) as i64);
                break;
            }
            let how = pacer.wait(now, deadline);
            waiter.wait(now, how)?;
            if how == Wait::Spin {
                std::thread::yield_now();
            }
            pacer.woke(Mono::now());
        }
    }
    Ok(late)
}
