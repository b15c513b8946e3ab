//! One machine's process: a single thread, one epoll loop around the shared [`Drive`]. The
//! loop takes every arriving frame in at once (the network queue is not limited by the
//! clock rate), writes what the peers' sockets take, and wakes at the node's next deadline
//! by a nanosecond timer ([`Waiter`]).

use anyhow::{Context, Result};
use lamport_core::MachineId;
use lamport_host::args::Model;
use lamport_host::waiter::Waiter;
use lamport_host::{
    drive::{Drive, exit_status},
    link::{Link, Links},
    pace::{self, Pacer, Wait},
    runner::{Input, Stop},
    signals,
    time::{TimeBase, mono_ns},
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
        event_loop(
            drive,
            &signals,
            &control,
            Pacer::for_run(pacing, model.params.machines),
        )
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

fn event_loop(
    mut drive: Drive<UnixStream>,
    signals: &SignalFd,
    control: &File,
    mut pacer: Pacer,
) -> Result<u8> {
    let mut waiter = Waiter::new()?;
    waiter.watch(signals, SIGNAL, EpollFlags::empty(), EpollFlags::EPOLLIN)?;
    waiter.watch(control, CONTROL, EpollFlags::empty(), EpollFlags::EPOLLIN)?;
    // What each link is watched for, kept in step with what it wants.
    let mut watched = vec![EpollFlags::empty(); drive.links().0.len()];
    loop {
        if let Some(code) = drive.timeout(mono_ns())? {
            return Ok(code);
        }
        waiter.watch_links(&drive.links().0, &mut watched)?;
        let how = pacer.wait(mono_ns(), drive.wake_at());
        let mut ready = waiter.wait(mono_ns(), how)?;
        // Signals first: a peer's `Bye` caused by the same signal must not hide it.
        ready.sort_by_key(|&(token, _)| token != SIGNAL);
        let now = mono_ns();
        pacer.woke(now);
        if how == Wait::Spin && ready.is_empty() {
            std::thread::yield_now();
        }
        for (token, flags) in ready {
            match token {
                SIGNAL => {
                    if let Some(s) = signals::take(signals) {
                        drive.interrupt(mono_ns(), signals::stop_of(s))?;
                    }
                }
                CONTROL => {
                    // The supervisor writes nothing after the start: readable means it is gone.
                    waiter.watch(control, CONTROL, EpollFlags::EPOLLIN, EpollFlags::empty())?;
                    drive.interrupt(mono_ns(), Stop::SupervisorLost)?;
                }
                i => {
                    let mut inputs: Vec<(MachineId, Input)> = Vec::new();
                    if let Some(l) = usize::try_from(i)
                        .ok()
                        .and_then(|i| drive.links().0.get_mut(i)?.as_mut())
                    {
                        if flags.contains(EpollFlags::EPOLLOUT) {
                            l.flush();
                        }
                        if flags.intersects(
                            EpollFlags::EPOLLIN | EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR,
                        ) {
                            l.read(|peer, input| inputs.push((peer, input)));
                        }
                    }
                    // Stamped when read, not when this turn woke: a frame that arrived after
                    // the wake-up must not be stamped before its sender wrote it.
                    for (peer, input) in inputs {
                        drive.input(mono_ns(), peer, input)?;
                    }
                }
            }
        }
    }
}
