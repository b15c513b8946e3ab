//! The supervisor: validates the flags, creates the sockets, forks one process per
//! machine, hands them a shared start instant, shows the run, and reports how it ended.

use crate::{proc, uds::Link};
use anyhow::{Context, Result};
use lamport_core::MachineId;
use lamport_host::{
    args::ModelArgs,
    display, folder,
    outcome::{self, Ended},
    time::{TimeBase, mono_ns},
};
use nix::{
    poll::{PollFd, PollFlags, ppoll},
    sys::{
        signal::{SigSet, SigmaskHow, Signal, kill, killpg, sigprocmask},
        signalfd::{SfdFlags, SignalFd},
        socket::{AddressFamily, SockFlag, SockType, socketpair},
        time::TimeSpec,
        wait::{WaitPidFlag, WaitStatus, waitpid},
    },
    unistd::{Pid, pipe2, setpgid},
};
use std::{
    collections::HashMap,
    fs::File,
    io::Write,
    os::fd::{AsFd, OwnedFd},
};

/// How long after the end (or after a machine died, or a signal) the supervisor waits for
/// the machines before killing what is left.
const GRACE_NS: u64 = 3_000_000_000;

/// Runs the model; returns the exit status. `Err` is bad usage (nothing was started).
pub(crate) fn run(args: &ModelArgs) -> Result<u8> {
    let model = args.model()?;
    let n = model.params.machines;
    let dir = folder::create(args.out.as_deref(), model.params.seed)?;
    let fds_needed = u64::from(n) * u64::from(n) + 64;
    outcome::raise_fd_limit(fds_needed)?;

    // Signals arrive through a signalfd, in the supervisor and (inherited mask) in the machines.
    let mut mask = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGCHLD] {
        mask.add(s);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None).context("cannot block signals")?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;

    // One socket pair per pair of machines, made before any machine starts.
    let mut ends: Vec<Vec<Option<OwnedFd>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let pairs = (0..usize::from(n)).flat_map(|i| (i + 1..usize::from(n)).map(move |j| (i, j)));
    for (i, j) in pairs {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        )
        .context("cannot create socket pair")?;
        ends[i][j] = Some(a);
        ends[j][i] = Some(b);
    }
    let mut controls = Vec::new();
    let mut pids: HashMap<Pid, MachineId> = HashMap::new();
    let mut group: Option<Pid> = None;
    let seed = model.params.seed;
    if !args.quiet {
        eprintln!(
            "host-unix: {n} machines for {} s, seed {seed} (repeat with --seed {seed}), logs in {}",
            model.params.secs,
            dir.display()
        );
    }
    for id in 0..n {
        let (read, write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("cannot create pipe")?;
        // Take this machine's socket ends; the child drops every other descriptor it inherited.
        let mine: Vec<Option<Link>> = ends[usize::from(id)]
            .iter_mut()
            .enumerate()
            .map(|(p, fd)| fd.take().map(|fd| Link::new(p as MachineId, fd)))
            .collect();
        let (params, pinned, d) = (model.params, model.pinned[usize::from(id)], dir.clone());
        controls.push(File::from(write));
        let pid = {
            let ends_ref = &mut ends;
            let controls_ref = &mut controls;
            proc::spawn(move || {
                // All machines in one process group of their own: the supervisor signals
                // them all at once, and a terminal's Ctrl-C reaches only the supervisor.
                let _ = setpgid(Pid::from_raw(0), group.unwrap_or(Pid::from_raw(0)));
                ends_ref.clear();
                controls_ref.clear();
                crate::child::run(id, params, pinned, &d, mine, read)
            })
            .context("cannot fork")?
        };
        let _ = setpgid(pid, group.unwrap_or(pid));
        group.get_or_insert(pid);
        pids.insert(pid, id);
    }
    drop(ends);

    // Every machine exists: agree on one start instant, a little ahead.
    let base = TimeBase::starting_in(50_000_000 + u64::from(n) * 1_000_000);
    let mut model = model;
    model.params.start_unix_ns = base.start_unix;
    folder::write_run_json(
        &dir,
        &model,
        "host-unix",
        lamport_host::serde_json::json!({ "transport": "unix socketpair, one process per machine" }),
    )?;
    for c in &mut controls {
        // A machine that already died is noticed below, by SIGCHLD.
        let _ = c.write_all(&base.to_bytes());
    }

    let rates = model.rates();
    let mut live = display::Live::new(&dir, &rates, model.params.secs, args.quiet);
    let end_mono = base.to_mono(model.params.end_unix_ns());
    let mut deadline = end_mono + GRACE_NS;
    let mut signalled: Option<Signal> = None;
    let mut died: Vec<(MachineId, String)> = Vec::new();
    let mut codes: HashMap<MachineId, i32> = HashMap::new();
    while !pids.is_empty() {
        let now = mono_ns();
        if now >= deadline {
            for pid in pids.keys() {
                let _ = kill(*pid, Signal::SIGKILL);
            }
        }
        let wait = display::REFRESH.as_nanos() as u64;
        let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        let _ = ppoll(
            &mut fds,
            Some(TimeSpec::from_duration(std::time::Duration::from_nanos(
                wait,
            ))),
            None,
        );
        while let Ok(Some(info)) = signals.read_signal() {
            let sig = Signal::try_from(info.ssi_signo as i32).ok();
            if let Some(s @ (Signal::SIGINT | Signal::SIGTERM)) = sig {
                if signalled.is_none()
                    && let Some(g) = group
                {
                    let _ = killpg(g, s);
                }
                signalled.get_or_insert(s);
                deadline = deadline.min(mono_ns() + GRACE_NS);
            }
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    if let Some(id) = pids.remove(&pid) {
                        codes.insert(id, code);
                    }
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    if let Some(id) = pids.remove(&pid) {
                        died.push((id, format!("killed by {sig}")));
                        deadline = deadline.min(mono_ns() + GRACE_NS);
                    }
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Some(l) = live.as_mut() {
            l.update_since(base.start_mono, model.params.secs);
        }
    }
    if let Some(l) = live {
        l.finish();
    }

    let ended: Vec<(MachineId, Ended)> = codes
        .into_iter()
        .map(|(id, c)| (id, Ended::Exited(c)))
        .chain(died.into_iter().map(|(id, how)| (id, Ended::Died(how))))
        .collect();
    Ok(outcome::conclude(
        "host-unix",
        &dir,
        args.quiet,
        &ended,
        signalled,
    ))
}
