//! Signals for every host, set up once: SIGINT, SIGTERM and SIGHUP (and SIGCHLD for a
//! supervisor) are blocked and read from a signalfd, so a wait loop sees them as one more
//! descriptor. Each stops a run the same way, with complete logs; only the `end` note
//! (`interrupted`, `terminated`, `hung up`) and the exit status (130, 143, 129) differ.

use crate::{
    EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM,
    drive::Stop,
    error::{Error, Result},
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

/// The signals that stop a run: Ctrl-C, `kill`, and the terminal closing (a hang-up
/// would otherwise kill a host without its `end` rows).
pub const STOPPING: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

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

/// The stop a signal stands for: SIGINT interrupts, SIGHUP hangs up, anything else
/// terminates.
pub fn stop_of(s: Signal) -> Stop {
    match s {
        Signal::SIGINT => Stop::Interrupted,
        Signal::SIGHUP => Stop::HungUp,
        _ => Stop::Terminated,
    }
}

/// True for a signal that stops a run ([`STOPPING`]).
pub fn is_stopping(s: Signal) -> bool {
    STOPPING.contains(&s)
}

/// The exit status of a run stopped by `s`: 130 SIGINT, 129 SIGHUP, 143 anything else.
pub fn exit_code(s: Signal) -> u8 {
    match s {
        Signal::SIGINT => EXIT_SIGINT,
        Signal::SIGHUP => EXIT_SIGHUP,
        _ => EXIT_SIGTERM,
    }
}
