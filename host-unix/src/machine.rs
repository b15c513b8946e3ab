//! One machine's process: a single thread driving the shared [`Drive`] by [`drive::run`],
//! with one epoll set ([`Waiter`]) for its peers' sockets, the signals and the
//! supervisor's pipe. Every arriving frame is taken in at once (the network queue is not
//! limited by the clock rate), and a nanosecond timer wakes it at the node's next deadline.

use anyhow::{Context, Result};
use lamport_core::{MachineId, live::Live};
use lamport_host::args::Model;
use lamport_host::error::Error;
use lamport_host::waiter::Waiter;
use lamport_host::{
    drive::{self, Drive, Events, Happened, Stop, exit_status},
    link::{Link, Links},
    pace::{self, Pacer, Wait},
    signals,
    time::{Mono, TimeBase},
};
use nix::sys::{epoll::EpollFlags, signalfd::SignalFd};
use std::{fs::File, io::Read, os::unix::net::UnixStream, path::Path};

/// Runs machine `id` to its end; returns its exit status.
pub(crate) fn run(
    id: MachineId,
    model: &Model,
    dir: &Path,
    links: Vec<Option<Link<UnixStream>>>,
    control: File,
    pacing: pace::Mode,
) -> u8 {
    exit_status("host-unix", id, || -> Result<u8> {
        let base = wait_for_start(&control)?;
        let signals = signals::signal_fd(&signals::STOPPING)?;
        let drive = Drive::new("host-unix", model.spec(id), dir, base, Links(links))?;
        // Wake-ups as close to the deadline as the kernel allows (default slack is 50 us).
        nix::sys::prctl::set_timerslack(1).ok();
        let mut events = Process::new(signals, control, model.params.machines)?;
        let pacer = Pacer::for_run(pacing, model.params.machines);
        Ok(drive::run(drive, &mut events, pacer)?)
    })
}

/// The supervisor writes the run's time base once every machine exists.
fn wait_for_start(mut control: &File) -> Result<TimeBase> {
    let mut start = [0u8; 16];
    control
        .read_exact(&mut start)
        .context("supervisor went away before the start")?;
    Ok(TimeBase::from_bytes(start))
}

/// The epoll tokens of the signal and the supervisor's pipe; peer `i` is token `i`.
const SIGNAL: u64 = u64::MAX - 1;
const CONTROL: u64 = u64::MAX - 2;

/// What a machine's process waits for: its peers' sockets, the signals, the supervisor.
struct Process {
    waiter: Waiter,
    signals: SignalFd,
    control: File,
    /// Bytes of a line of the supervisor's not yet whole.
    pending: Vec<u8>,
    /// What each link is watched for, kept in step with what it wants.
    watched: Vec<EpollFlags>,
}

/// The whole lines at the front of `pending`, each a live fault (a line that is not one is
/// skipped: the supervisor writes only what it parsed).
fn take_lines(pending: &mut Vec<u8>) -> Vec<Live> {
    let mut out = Vec::new();
    while let Some(i) = pending.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = pending.drain(..=i).collect();
        if let Ok(live) = std::str::from_utf8(&line)
            .map_err(|_| ())
            .and_then(|s| Live::parse(s).map_err(|_| ()))
        {
            out.push(live);
        }
    }
    out
}

impl Process {
    fn new(signals: SignalFd, control: File, machines: u16) -> Result<Self> {
        let waiter = Waiter::new()?;
        waiter.watch(&signals, SIGNAL, EpollFlags::empty(), EpollFlags::EPOLLIN)?;
        waiter.watch(&control, CONTROL, EpollFlags::empty(), EpollFlags::EPOLLIN)?;
        Ok(Self {
            waiter,
            signals,
            control,
            pending: Vec::new(),
            watched: vec![EpollFlags::empty(); usize::from(machines)],
        })
    }
}

impl Events<Links<UnixStream>> for Process {
    fn wait(
        &mut self,
        links: &mut Links<UnixStream>,
        _wake: Mono,
        how: Wait,
        into: &mut Vec<(Mono, Happened)>,
    ) -> lamport_host::error::Result<()> {
        let fail = |e| Error::sys("wait for the peers", e);
        self.waiter
            .watch_links(&links.0, &mut self.watched)
            .map_err(fail)?;
        let mut ready = self.waiter.wait(Mono::now(), how).map_err(fail)?;
        // Signals first: a peer's `Bye` caused by the same signal must not hide it.
        ready.sort_by_key(|&(token, _)| token != SIGNAL);
        for (token, flags) in ready {
            match token {
                SIGNAL => {
                    if let Some(s) = signals::take(&self.signals) {
                        into.push((Mono::now(), Happened::Stop(signals::stop_of(s))));
                    }
                }
                CONTROL => {
                    // After the start the supervisor writes only live faults, one per line;
                    // the end of the pipe means it is gone.
                    let mut buf = [0u8; 512];
                    let n = self.control.read(&mut buf).unwrap_or(0);
                    if n > 0 {
                        self.pending.extend_from_slice(&buf[..n]);
                        for live in take_lines(&mut self.pending) {
                            into.push((Mono::now(), Happened::Control(live)));
                        }
                        continue;
                    }
                    self.waiter
                        .watch(
                            &self.control,
                            CONTROL,
                            EpollFlags::EPOLLIN,
                            EpollFlags::empty(),
                        )
                        .map_err(fail)?;
                    into.push((Mono::now(), Happened::Stop(Stop::SupervisorLost)));
                }
                i => {
                    let Some(l) = usize::try_from(i)
                        .ok()
                        .and_then(|i| links.0.get_mut(i)?.as_mut())
                    else {
                        continue;
                    };
                    if flags.contains(EpollFlags::EPOLLOUT) {
                        l.flush();
                    }
                    if flags.intersects(
                        EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR,
                    ) {
                        // Stamped when read, not when this turn woke: a frame that arrived
                        // after the wake-up must not be stamped before its sender wrote it.
                        l.read(|peer, input| {
                            into.push((Mono::now(), Happened::Input(peer, input)))
                        });
                    }
                }
            }
        }
        Ok(())
    }
}
