//! One machine's process: a single thread, one `ppoll` loop around the shared
//! [`Drive`]. The loop takes every arriving frame in at once (the network queue is not
//! limited by the clock rate), writes what the peers' sockets take, and wakes at the
//! node's next deadline with `ppoll`'s nanosecond timeout.

use anyhow::{Context, Result};
use lamport_core::{MachineId, RunParams};
use lamport_host::{
    drive::{Drive, exit_status},
    link::{Link, Links},
    pace::{self, Pacer, Wait},
    runner::{Input, Stop, Timing},
    signals,
    time::{TimeBase, mono_ns},
};
use nix::{
    poll::{PollFd, PollFlags, ppoll},
    sys::{signalfd::SignalFd, time::TimeSpec},
};
use std::{
    fs::File,
    io::Read,
    os::{fd::AsFd, unix::net::UnixStream},
    path::Path,
    time::Duration,
};

/// Runs machine `id` to its end; returns its exit status.
pub(crate) fn run(
    id: MachineId,
    params: RunParams,
    pinned: Option<u32>,
    dir: &Path,
    links: Vec<Option<Link<UnixStream>>>,
    control: File,
    pacing: pace::Mode,
) -> u8 {
    exit_status("host-unix", id, || -> Result<u8> {
        let base = wait_for_start(&control)?;
        let signals = signals::signal_fd(&signals::STOPPING)?;
        let drive = Drive::new(
            "host-unix",
            id,
            params,
            pinned,
            dir,
            base,
            Timing::HOST,
            Links(links),
        )?;
        // Wake-ups as close to the deadline as the kernel allows (default slack is 50 us).
        nix::sys::prctl::set_timerslack(1).ok();
        event_loop(drive, &signals, &control, Pacer::new(pacing))
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

/// What woke the loop.
#[derive(Debug, Clone, Copy)]
enum Ready {
    Peer(usize, PollFlags),
    Signal,
    Control,
}

fn event_loop(
    mut drive: Drive<UnixStream>,
    signals: &SignalFd,
    control: &File,
    mut pacer: Pacer,
) -> Result<u8> {
    let mut control_open = true;
    loop {
        if let Some(code) = drive.timeout(mono_ns())? {
            return Ok(code);
        }
        let how = pacer.wait(mono_ns(), drive.wake_at());
        let timeout = match how {
            Wait::Sleep(ns) => ns,
            Wait::Spin => 0,
        };
        let ready = wait(
            &mut drive,
            signals,
            control_open.then_some(control),
            timeout,
        )?;
        let now = mono_ns();
        pacer.woke(now);
        if how == Wait::Spin && ready.is_empty() {
            std::thread::yield_now();
        }
        for r in ready {
            match r {
                Ready::Signal => {
                    if let Some(s) = signals::take(signals) {
                        drive.interrupt(now, signals::stop_of(s))?;
                    }
                }
                Ready::Control => {
                    // The supervisor writes nothing after the start: readable means it is gone.
                    control_open = false;
                    drive.interrupt(now, Stop::SupervisorLost)?;
                }
                Ready::Peer(i, flags) => {
                    let mut inputs: Vec<(MachineId, Input)> = Vec::new();
                    if let Some(l) = drive.links().0[i].as_mut() {
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
                        drive.input(now, peer, input)?;
                    }
                }
            }
        }
    }
}

/// Waits up to `timeout_ns` until a link is readable (or writable, when it has bytes
/// waiting), a signal or the supervisor's pipe. Signals come first: a peer's `Bye` caused by
/// the same signal must not hide it.
fn wait(
    drive: &mut Drive<UnixStream>,
    signals: &SignalFd,
    control: Option<&File>,
    timeout_ns: u64,
) -> Result<Vec<Ready>> {
    let timeout = TimeSpec::from_duration(Duration::from_nanos(timeout_ns));
    let links = &drive.links().0;
    let mut fds: Vec<PollFd> = Vec::with_capacity(links.len() + 2);
    let mut who: Vec<Ready> = Vec::with_capacity(links.len() + 2);
    fds.push(PollFd::new(signals.as_fd(), PollFlags::POLLIN));
    who.push(Ready::Signal);
    for (i, l) in links.iter().enumerate() {
        let Some(l) = l else { continue };
        let mut ev = PollFlags::empty();
        if l.wants_read() {
            ev |= PollFlags::POLLIN;
        }
        if l.wants_write() {
            ev |= PollFlags::POLLOUT;
        }
        if !ev.is_empty() {
            fds.push(PollFd::new(l.stream().as_fd(), ev));
            who.push(Ready::Peer(i, PollFlags::empty()));
        }
    }
    if let Some(c) = control {
        fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
        who.push(Ready::Control);
    }
    match ppoll(&mut fds, Some(timeout), None) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(e).context("ppoll"),
    }
    Ok(fds
        .iter()
        .zip(who)
        .filter_map(|(fd, w)| {
            let r = fd.revents().filter(|r| !r.is_empty())?;
            Some(match w {
                Ready::Peer(i, _) => Ready::Peer(i, r),
                w => w,
            })
        })
        .collect())
}
