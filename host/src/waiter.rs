//! How a machine waits (host-unix's processes, host-tcp's machine threads): one epoll set that holds its connections for the whole
//! run, and a timerfd armed at the absolute instant to wake (nanoseconds, on the monotonic
//! clock). A wake-up costs the same whatever the number of peers: `ppoll` rebuilt and
//! scanned every connection at each wake-up, which at 128 machines was half of each
//! process's time. The timer floor (`--timer-floor`) waits through the same code.

use crate::{
    link::{Link, Stream},
    pace::Wait,
    time::Mono,
};
use nix::sys::{
    epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout},
    time::TimeSpec,
    timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags},
};
use std::{io::Result, os::fd::AsFd, time::Duration};

/// The timer's token; callers use the others.
const TIMER: u64 = u64::MAX;

/// An epoll set with a deadline timer.
#[derive(Debug)]
pub struct Waiter {
    epoll: Epoll,
    timer: TimerFd,
    events: Vec<EpollEvent>,
}

impl Waiter {
    /// An empty set and a disarmed timer.
    pub fn new() -> Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(std::io::Error::from)?;
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(std::io::Error::from)?;
        epoll
            .add(timer.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, TIMER))
            .map_err(std::io::Error::from)?;
        Ok(Self {
            epoll,
            timer,
            events: vec![EpollEvent::empty(); 64],
        })
    }

    /// Sets what `fd` (named `token`) is watched for: nothing removes it, `was` says what
    /// it was watched for before (the caller keeps it).
    pub fn watch(&self, fd: impl AsFd, token: u64, was: EpollFlags, now: EpollFlags) -> Result<()> {
        debug_assert_ne!(token, TIMER);
        let r = match (was.is_empty(), now.is_empty()) {
            (_, _) if was == now => Ok(()),
            (true, false) => self.epoll.add(fd, EpollEvent::new(now, token)),
            (false, true) => self.epoll.delete(fd),
            _ => self.epoll.modify(fd, &mut EpollEvent::new(now, token)),
        };
        r.map_err(std::io::Error::from)
    }

    /// Keeps each link's watch in step with it: for reading while it is open, for writing
    /// while it has bytes waiting; link `i` is token `i`. `watched` holds what each was
    /// watched for (the caller keeps it between calls). A link with neither leaves the set;
    /// a dropped link's socket is closed, which took it out already.
    pub fn watch_links<S: Stream + AsFd>(
        &self,
        links: &[Option<Link<S>>],
        watched: &mut [EpollFlags],
    ) -> Result<()> {
        for (i, (l, was)) in links.iter().zip(watched.iter_mut()).enumerate() {
            let Some(l) = l else {
                *was = EpollFlags::empty();
                continue;
            };
            let mut now = EpollFlags::empty();
            if l.wants_read() {
                now |= EpollFlags::EPOLLIN;
            }
            if l.wants_write() {
                now |= EpollFlags::EPOLLOUT;
            }
            self.watch(l.stream(), i as u64, *was, now)?;
            *was = now;
        }
        Ok(())
    }

    /// Waits as `how` says from `now`: sleeps until `now + ns` or an event (`Wait::Sleep`),
    /// or only looks (`Wait::Spin`). Returns the tokens that are ready and what for; the
    /// timer's own expiry is consumed here.
    pub fn wait(&mut self, now: Mono, how: Wait) -> Result<Vec<(u64, EpollFlags)>> {
        let timeout = match how {
            Wait::Sleep(ns) if ns > 0 => {
                let at = TimeSpec::from_duration(Duration::from_nanos(now.saturating_add(ns).ns()));
                self.timer
                    .set(
                        Expiration::OneShot(at),
                        TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                    )
                    .map_err(std::io::Error::from)?;
                EpollTimeout::NONE
            }
            _ => EpollTimeout::ZERO,
        };
        let n = match self.epoll.wait(&mut self.events, timeout) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        let mut ready = Vec::with_capacity(n);
        for e in &self.events[..n] {
            if e.data() == TIMER {
                let mut b = [0u8; 8];
                let _ = nix::unistd::read(self.timer.as_fd(), &mut b);
            } else {
                ready.push((e.data(), e.events()));
            }
        }
        Ok(ready)
    }
}
