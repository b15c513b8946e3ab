//! Signals for every host, set up once: SIGINT and SIGTERM (and SIGCHLD for a supervisor)
//! are blocked and read from a signalfd, so a wait loop sees them as one more descriptor.

use crate::{
    error::{Error, Result},
    runner::Stop,
};
use nix::{
    poll::{PollFd, PollFlags, ppoll},
    sys::{
        signal::{SigSet, SigmaskHow, Signal, sigprocmask},
        signalfd::{SfdFlags, SignalFd},
        time::TimeSpec,
    },
};
use std::{os::fd::AsFd, time::Duration};

/// The signals that stop a run.
pub const STOPPING: [Signal; 2] = [Signal::SIGINT, Signal::SIGTERM];

/// Blocks `signals` in this thread (threads and children started later inherit the mask)
/// and returns a non-blocking signalfd that receives them.
pub fn signal_fd(signals: &[Signal]) -> Result<SignalFd> {
    let mut mask = SigSet::empty();
    for &s in signals {
        mask.add(s);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| Error::sys("block signals", e))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| Error::sys("create a signalfd", e))
}

/// The next pending signal on `fd`, if any (does not wait).
pub fn take(fd: &SignalFd) -> Option<Signal> {
    let info = fd.read_signal().ok().flatten()?;
    Signal::try_from(info.ssi_signo as i32).ok()
}

/// Waits up to `wait` for a signal on `fd`.
pub fn wait(fd: &SignalFd, wait: Duration) -> Option<Signal> {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    let _ = ppoll(&mut fds, Some(TimeSpec::from_duration(wait)), None);
    take(fd)
}

/// The stop a signal stands for: SIGINT interrupts, anything else terminates.
pub fn stop_of(s: Signal) -> Stop {
    if s == Signal::SIGINT {
        Stop::Interrupted
    } else {
        Stop::Terminated
    }
}
