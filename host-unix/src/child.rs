//! One machine's process: a single thread, one `ppoll` loop around the shared
//! [`Runner`]. The loop takes every arriving frame into the runner at once (the network
//! queue is not limited by the clock rate) and wakes at the runner's next deadline with
//! `ppoll`'s nanosecond timeout.

use crate::uds::Link;
use anyhow::{Context, Result};
use lamport_core::{MachineId, RunParams, wire::Frame};
use lamport_host::{
    peers::Stop,
    runner::{Outbox, Runner, exit_status},
    time::{TimeBase, mono_ns},
};
use nix::{
    poll::{PollFd, PollFlags, ppoll},
    sys::{
        signal::{SigSet, Signal},
        signalfd::{SfdFlags, SignalFd},
        time::TimeSpec,
    },
};
use std::{
    fs::File,
    io::Read,
    os::fd::{AsFd, OwnedFd},
    path::Path,
    time::Duration,
};

/// The socket links to the peers, indexed by peer id.
pub(crate) struct Links(pub(crate) Vec<Option<Link>>);

impl Outbox for Links {
    fn send(&mut self, to: MachineId, frame: &Frame) {
        if let Some(l) = self.0[usize::from(to)].as_mut() {
            l.send(frame);
        }
    }
    fn drop_peer(&mut self, peer: MachineId) {
        if let Some(l) = self.0[usize::from(peer)].as_mut() {
            l.closed = true;
        }
    }
    fn flushed(&self) -> bool {
        self.0
            .iter()
            .flatten()
            .all(|l| l.out.is_empty() || l.closed)
    }
}

/// Runs machine `id` to its end; returns its exit status.
pub(crate) fn run(
    id: MachineId,
    params: RunParams,
    pinned: Option<u32>,
    dir: &Path,
    links: Vec<Option<Link>>,
    control: OwnedFd,
) -> u8 {
    exit_status("host-unix", id, || {
        let mut control = File::from(control);
        let mut start = [0u8; 16];
        control
            .read_exact(&mut start)
            .context("supervisor went away before the start")?;
        let base = TimeBase::from_bytes(start);
        let runner = Runner::new(id, params, pinned, dir, base, 0, "host-unix", Links(links))?;
        // Wake-ups as close to the deadline as the kernel allows (default slack is 50 us).
        nix::sys::prctl::set_timerslack(1).ok();
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGINT);
        mask.add(Signal::SIGTERM);
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        event_loop(runner, &signals, &control)
    })
}

const SIGNALS: usize = usize::MAX;
const CONTROL: usize = usize::MAX - 1;

fn event_loop(mut runner: Runner<Links>, signals: &SignalFd, control: &File) -> Result<u8> {
    let mut control_open = true;
    loop {
        if let Some(code) = runner.step(mono_ns())? {
            return Ok(code);
        }
        let timeout = TimeSpec::from_duration(Duration::from_nanos(
            runner.wake_at().saturating_sub(mono_ns()),
        ));
        // Poll set: the links, then the signal fd, then the supervisor's pipe.
        let mut ready: Vec<(usize, PollFlags)> = Vec::new();
        {
            let links = &runner.out().0;
            let mut fds: Vec<PollFd> = Vec::with_capacity(links.len() + 2);
            let mut who: Vec<usize> = Vec::with_capacity(links.len() + 2);
            for (i, l) in links.iter().enumerate() {
                if let Some(l) = l.as_ref().filter(|l| !l.closed) {
                    let mut ev = PollFlags::POLLIN;
                    if !l.out.is_empty() {
                        ev |= PollFlags::POLLOUT;
                    }
                    fds.push(PollFd::new(l.stream.as_fd(), ev));
                    who.push(i);
                }
            }
            fds.push(PollFd::new(signals.as_fd(), PollFlags::POLLIN));
            who.push(SIGNALS);
            if control_open {
                fds.push(PollFd::new(control.as_fd(), PollFlags::POLLIN));
                who.push(CONTROL);
            }
            match ppoll(&mut fds, Some(timeout), None) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e).context("ppoll"),
            }
            for (fd, &w) in fds.iter().zip(&who) {
                if let Some(r) = fd.revents().filter(|r| !r.is_empty()) {
                    ready.push((w, r));
                }
            }
        }
        // Signals first: a peer's Bye caused by the same signal must not hide it.
        ready.sort_by_key(|(w, _)| std::cmp::Reverse(*w == SIGNALS));
        for (w, flags) in ready {
            match w {
                SIGNALS => {
                    if let Ok(Some(info)) = signals.read_signal() {
                        let stop = if info.ssi_signo == Signal::SIGINT as u32 {
                            Stop::Interrupted
                        } else {
                            Stop::Terminated
                        };
                        runner.interrupt(stop)?;
                    }
                }
                CONTROL => {
                    // The supervisor writes nothing after the start: readable means it is gone.
                    control_open = false;
                    runner.interrupt(Stop::SupervisorLost)?;
                }
                _ => {
                    let mut inputs = Vec::new();
                    if let Some(l) = runner.out().0[w].as_mut() {
                        if flags.contains(PollFlags::POLLOUT) {
                            l.flush();
                        }
                        if flags
                            .intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                        {
                            l.read(|peer, input| inputs.push((peer, input)));
                        }
                    }
                    for (peer, input) in inputs {
                        runner.input(peer, input)?;
                    }
                }
            }
        }
    }
}
