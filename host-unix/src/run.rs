//! The supervisor: validates the flags, creates the sockets, forks one process per
//! machine, hands them a shared start instant, shows the run, and reports how it ended.

use crate::proc;
use anyhow::{Context, Result};
use lamport_core::{MachineId, live::Live};
use lamport_host::{
    args::{Model, ModelArgs},
    control, display,
    drive::Timing,
    folder, keys,
    link::{self, Link},
    live,
    outcome::{self, Ended},
    signals,
    time::{Mono, TimeBase},
};
use nix::{
    sys::{
        signal::{Signal, kill, killpg},
        signalfd::SignalFd,
        socket::{AddressFamily, SockFlag, SockType, socketpair},
        wait::{WaitPidFlag, WaitStatus, waitpid},
    },
    unistd::{Pid, pipe2, setpgid},
};
use std::{
    collections::HashMap,
    fs::File,
    io::Write,
    os::{fd::OwnedFd, unix::net::UnixStream},
    path::Path,
};

/// How long after the end (or after a machine died, or a signal) the supervisor waits for
/// the machines before killing what is left: from the machines' own timing constants.
const GRACE_NS: u64 = Timing::HOST.supervisor_grace_ns();

/// Runs the model; returns the exit status. `Err` is bad usage (nothing was started).
pub(crate) fn run(args: &ModelArgs) -> Result<u8> {
    // What this process and its reaped children spent before the run (under `cargo run`,
    // cargo's and its compilers') is not the machines'.
    let cpu_start = outcome::CpuUsage::now();
    let model = args.model()?;
    let n = model.params.machines;
    // The view's address first: a busy one leaves no folder behind.
    let bound = live::Bound::open(args.view)?;
    let dir = folder::create(args.out.as_deref(), model.params.seed)?;
    let _writing = folder::Writing::mark(&dir, "host-unix")?;
    outcome::raise_fd_limit(u64::from(n) * u64::from(n) + 64)?;
    // Blocked here, so the machines inherit the mask; each reads its own signalfd.
    let mut caught = signals::STOPPING.to_vec();
    caught.push(Signal::SIGCHLD);
    let signals = signals::signal_fd(&caught)?;
    let ends = mesh(n, args.send_buffer)?;
    let seed = model.params.seed;
    let full = format!("{n} machines for {} s", model.params.secs);
    display::announce("host-unix", args.quiet, &full, seed, &dir, &model.faults);
    let mut machines = spawn_all(&model, &dir, ends, args)?;
    for line in machines.pid_lines() {
        eprintln!("{line}");
    }
    // The server's threads start after the fork: a child must not inherit a thread's lock.
    let live = bound.map(|b| b.serve(&dir, "host-unix")).transpose()?;
    let mut model = model;
    let base = announce_start(&mut model, &dir, &mut machines)?;
    // Faults at the teacher's hand: `lab ctl`, the live page, the keys.
    let start = base.start_unix;
    let board = control::Board::new(&model, |_| true, &dir, Box::new(move || Some(start)));
    let control = machines.control(board)?;
    let served = control::serve(&dir, &control::socket_name(None), control.clone())?;
    let keys = (!args.quiet)
        .then(|| keys::Keys::start(control, n, 1))
        .flatten();
    let (ended, signalled) = supervise(&model, &dir, base, &signals, machines, args.show());
    // The machines have ended: no more commands, the terminal as it was.
    drop((served, keys));
    let cpu = outcome::Cpu {
        ns: outcome::CpuUsage::now().since(&cpu_start, true),
        machines: model.params.machines,
        ran_ns: Mono::now().since(base.start_mono),
        pacing: args.pacing.name(),
    };
    Ok(outcome::conclude(
        "host-unix",
        &dir,
        args.quiet,
        &ended,
        signalled,
        cpu,
        live.as_ref(),
    ))
}

/// One socket pair per pair of machines, made before any machine starts: `ends[i][j]` is
/// machine i's end of the pair it shares with j.
fn mesh(n: u16, buffer: Option<usize>) -> Result<Vec<Vec<Option<OwnedFd>>>> {
    let n = usize::from(n);
    let mut ends: Vec<Vec<Option<OwnedFd>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let pairs = (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j)));
    for (i, j) in pairs {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        )
        .context("cannot create socket pair")?;
        if let Some(bytes) = buffer {
            link::set_socket_buffers(&a, bytes).context("cannot size socket buffers")?;
            link::set_socket_buffers(&b, bytes).context("cannot size socket buffers")?;
        }
        ends[i][j] = Some(a);
        ends[j][i] = Some(b);
    }
    Ok(ends)
}

/// The forked machines: pid to id, their start pipes, their process group.
struct Machines {
    pids: HashMap<Pid, MachineId>,
    controls: Vec<File>,
    group: Option<Pid>,
}

impl Machines {
    /// The run's control: a live fault goes to its machine's pipe, as a line.
    fn control(&self, board: control::Board) -> Result<control::Control> {
        let pipes = self
            .controls
            .iter()
            .map(File::try_clone)
            .collect::<std::io::Result<Vec<File>>>()
            .context("cannot share the machines' pipes")?;
        let deliver = move |m: MachineId, live: &Live| -> std::io::Result<()> {
            let mut p = pipes
                .get(usize::from(m))
                .ok_or(std::io::ErrorKind::NotFound)?;
            p.write_all(format!("{live}\n").as_bytes())
        };
        Ok(control::Control::new(board, Box::new(deliver)))
    }

    /// Each machine's process id, in id order: which process to pause or kill by hand
    /// (`host-unix: machine 0 pid 4242, machine 1 pid 4243, ...` in lines of 80 columns).
    fn pid_lines(&self) -> Vec<String> {
        let mut by_id: Vec<(MachineId, Pid)> = self.pids.iter().map(|(p, m)| (*m, *p)).collect();
        by_id.sort_unstable();
        let list: Vec<String> = by_id
            .iter()
            .map(|(m, p)| format!("machine {m} pid {p}"))
            .collect();
        display::list_lines("host-unix: ", &list)
    }
}

/// Forks one process per machine, each with its own socket ends and a pipe on which it
/// waits for the start.
fn spawn_all(
    model: &Model,
    dir: &Path,
    mut ends: Vec<Vec<Option<OwnedFd>>>,
    args: &ModelArgs,
) -> Result<Machines> {
    let (buffer, pacing) = (args.send_buffer, args.pacing);
    let mut m = Machines {
        pids: HashMap::new(),
        controls: Vec::new(),
        group: None,
    };
    for id in 0..model.params.machines {
        let (read, write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("cannot create pipe")?;
        // Take this machine's socket ends; the child drops every other descriptor it inherited.
        let mine: Vec<Option<Link<UnixStream>>> = ends[usize::from(id)]
            .iter_mut()
            .enumerate()
            .map(|(p, fd)| {
                fd.take().map(|fd| {
                    let l = Link::new(p as MachineId, UnixStream::from(fd));
                    match buffer {
                        Some(b) => l.with_bound(b),
                        None => l,
                    }
                })
            })
            .collect();
        let d = dir.to_path_buf();
        m.controls.push(File::from(write));
        let group = m.group;
        let pid = {
            let ends_ref = &mut ends;
            let controls_ref = &mut m.controls;
            proc::spawn(move || {
                // All machines in one process group of their own: the supervisor signals
                // them all at once, and a terminal's Ctrl-C reaches only the supervisor.
                let _ = setpgid(Pid::from_raw(0), group.unwrap_or(Pid::from_raw(0)));
                ends_ref.clear();
                controls_ref.clear();
                crate::machine::run(id, model, &d, mine, File::from(read), pacing)
            })
            .context("cannot fork")?
        };
        let _ = setpgid(pid, m.group.unwrap_or(pid));
        m.group.get_or_insert(pid);
        m.pids.insert(pid, id);
    }
    Ok(m)
}

/// Every machine exists: agrees on one start instant a little ahead (written into
/// `model`), writes `run.json`, and tells the machines.
fn announce_start(model: &mut Model, dir: &Path, machines: &mut Machines) -> Result<TimeBase> {
    let n = model.params.machines;
    let base = TimeBase::starting_in(50_000_000 + u64::from(n) * 1_000_000);
    model.params.start_unix_ns = base.start_unix;
    folder::write_run_json(
        dir,
        model,
        "host-unix",
        lamport_host::serde_json::json!({ "transport": "unix socketpair, one process per machine" }),
    )?;
    for c in &mut machines.controls {
        // A machine that already died is noticed by SIGCHLD.
        let _ = c.write_all(&base.to_bytes());
    }
    Ok(base)
}

/// Shows the run until every machine has exited: passes a signal on to the machines,
/// notes how each ended, and kills what is left a grace period after the end, a death or
/// a signal.
fn supervise(
    model: &Model,
    dir: &Path,
    base: TimeBase,
    signals: &SignalFd,
    mut machines: Machines,
    show: display::Show,
) -> (Vec<(MachineId, Ended)>, Option<Signal>) {
    let mut live = display::Live::new(dir, model, show);
    let mut deadline = base.to_mono(model.params.end()) + GRACE_NS;
    let mut signalled: Option<Signal> = None;
    let mut ended: Vec<(MachineId, Ended)> = Vec::new();
    while !machines.pids.is_empty() {
        if Mono::now() >= deadline {
            for pid in machines.pids.keys() {
                let _ = kill(*pid, Signal::SIGKILL);
            }
        }
        let first = signals::wait(signals, display::REFRESH);
        for s in first
            .into_iter()
            .chain(std::iter::from_fn(|| signals::take(signals)))
        {
            if signals::is_stopping(s) {
                if signalled.is_none()
                    && let Some(g) = machines.group
                {
                    let _ = killpg(g, s);
                }
                signalled.get_or_insert(s);
                deadline = deadline.min(Mono::now() + GRACE_NS);
            }
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    if let Some(id) = machines.pids.remove(&pid) {
                        ended.push((id, Ended::Exited(code)));
                    }
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    if let Some(id) = machines.pids.remove(&pid) {
                        let how = format!("killed by {sig}");
                        if let Some(l) = live.as_mut() {
                            l.died(id, &how);
                        }
                        ended.push((id, Ended::Died(how)));
                        deadline = deadline.min(Mono::now() + GRACE_NS);
                    }
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Some(l) = live.as_mut() {
            l.update_since(base.start_mono);
        }
    }
    if let Some(l) = live {
        l.finish();
    }
    (ended, signalled)
}
