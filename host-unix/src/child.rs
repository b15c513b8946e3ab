//! One machine's process: a single thread, one `ppoll` loop.
//!
//! The loop takes every arriving message into the core's queue at once (the network queue
//! is not limited by the clock rate), ticks at absolute deadlines computed from the shared
//! start, and waits with `ppoll`'s nanosecond timeout. At the end (time up, a signal, a
//! peer that stopped or vanished, a full queue) it logs what is queued as `unprocessed`,
//! sends `Bye` with its counts, drains until every peer said `Bye` or is gone, checks the
//! counts and logs `end`.

use crate::uds::{Input, Link, Links};
use anyhow::{Context, Result};
use lamport_core::{
    Machine, MachineId, RunParams,
    machine::TickError,
    record::{Log, Record},
    wire::{Bye, Frame, Msg},
};
use lamport_host::{
    EXIT_FAILED,
    args::HOST_QUEUE_CAP,
    logfile::LogFile,
    peers::{PeerBook, Stop},
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

/// How long a stopped machine waits for its peers' `Bye` before calling them lost.
const DRAIN_TIMEOUT_NS: u64 = 800_000_000;

/// Everything one machine process owns.
pub(crate) struct Child {
    machine: Box<Machine<HOST_QUEUE_CAP>>,
    log: LogFile,
    links: Vec<Option<Link>>,
    book: PeerBook,
    base: TimeBase,
    stop: Option<Stop>,
    stopped_at: u64,
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
    match run_inner(id, params, pinned, dir, links, control) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("host-unix: machine {id}: {e:#}");
            EXIT_FAILED
        }
    }
}

fn run_inner(
    id: MachineId,
    mut params: RunParams,
    pinned: Option<u32>,
    dir: &Path,
    links: Vec<Option<Link>>,
    control: OwnedFd,
) -> Result<u8> {
    let mut control = File::from(control);
    let mut start = [0u8; 16];
    control
        .read_exact(&mut start)
        .context("supervisor went away before the start")?;
    let base = TimeBase::from_bytes(start);
    params.start_unix_ns = base.start_unix;
    let machine = Box::new(Machine::new(&params, id, pinned).context("machine parameters")?);
    let mut log = LogFile::create(&lamport_host::folder::log_path(dir, id), &machine.header())?;
    log.write(&machine.start_record(base.start_unix))?;
    // Wake-ups as close to the deadline as the kernel allows (default slack is 50 us).
    nix::sys::prctl::set_timerslack(1).ok();
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
    let mut child = Child {
        book: PeerBook::new(id, params.machines),
        machine,
        log,
        links,
        base,
        stop: None,
        stopped_at: 0,
    };
    child.event_loop(&signals, &control)
}

impl Child {
    fn event_loop(&mut self, signals: &SignalFd, control: &File) -> Result<u8> {
        let end_mono = self.base.to_mono(self.machine.params().end_unix_ns());
        let mut control_open = true;
        loop {
            let now = mono_ns();
            if self.stop.is_none() {
                self.tick_due(now)?;
                if self.machine.next_deadline().is_none() && now >= end_mono {
                    self.begin_stop(Stop::TimeUp)?;
                }
            }
            if self.stop.is_some() {
                let flushed = self
                    .links
                    .iter()
                    .flatten()
                    .all(|l| l.out.is_empty() || l.closed);
                if self.book.settled() && flushed {
                    break;
                }
                if now >= self.stopped_at + DRAIN_TIMEOUT_NS {
                    let silent: Vec<MachineId> = self
                        .book
                        .peers()
                        .filter(|&p| !self.book.has_bye(p))
                        .collect();
                    for p in silent {
                        self.book.mark_lost(p);
                    }
                    break;
                }
            }
            let wake = match self.stop {
                None => self
                    .machine
                    .next_deadline()
                    .map(|d| self.base.to_mono(d))
                    .unwrap_or(end_mono)
                    .min(end_mono),
                Some(_) => self.stopped_at + DRAIN_TIMEOUT_NS,
            };
            let timeout =
                TimeSpec::from_duration(Duration::from_nanos(wake.saturating_sub(mono_ns())));
            // Poll set: the links, then the signal fd, then the supervisor's pipe.
            let mut ready: Vec<(usize, PollFlags)> = Vec::new();
            {
                let mut fds: Vec<PollFd> = Vec::with_capacity(self.links.len() + 2);
                let mut who: Vec<usize> = Vec::with_capacity(self.links.len() + 2);
                for (i, l) in self.links.iter().enumerate() {
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
                who.push(usize::MAX);
                if control_open {
                    fds.push(PollFd::new(control.as_fd(), PollFlags::POLLIN));
                    who.push(usize::MAX - 1);
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
            ready.sort_by_key(|(w, _)| std::cmp::Reverse(*w == usize::MAX));
            for (w, flags) in ready {
                if w == usize::MAX {
                    if let Ok(Some(info)) = signals.read_signal() {
                        let stop = if info.ssi_signo == Signal::SIGINT as u32 {
                            Stop::Interrupted
                        } else {
                            Stop::Terminated
                        };
                        if self.stop.is_none() {
                            self.begin_stop(stop)?;
                        }
                    }
                } else if w == usize::MAX - 1 {
                    // The supervisor writes nothing after the start: readable means it is gone.
                    control_open = false;
                    if self.stop.is_none() {
                        self.begin_stop(Stop::SupervisorLost)?;
                    }
                } else {
                    if flags.contains(PollFlags::POLLOUT)
                        && let Some(l) = self.links[w].as_mut()
                    {
                        l.flush();
                    }
                    if flags.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
                    {
                        self.read_link(w)?;
                    }
                }
            }
        }
        let stop = self.stop.unwrap_or(Stop::TimeUp);
        let (note, code) = self.book.verdict(stop);
        let now = self.base.now_unix();
        self.log.write(&self.machine.end_record(now, &note))?;
        Ok(code)
    }

    /// Runs every tick whose deadline has passed (catching up if late; none is skipped).
    fn tick_due(&mut self, now_mono: u64) -> Result<()> {
        while let Some(d) = self.machine.next_deadline() {
            if self.base.to_mono(d) > now_mono {
                break;
            }
            let t = self.base.now_unix();
            let mut transport = Links {
                links: &mut self.links,
                book: &mut self.book,
            };
            match self.machine.tick(t, &mut self.log, &mut transport) {
                Ok(_) => {}
                Err(TickError::Log(e)) => return Err(e).context("cannot write the log"),
                Err(TickError::Send(e)) => match e {},
            }
        }
        Ok(())
    }

    fn read_link(&mut self, w: usize) -> Result<()> {
        let mut inputs = Vec::new();
        if let Some(l) = self.links[w].as_mut() {
            l.read(|peer, input| inputs.push((peer, input)));
        }
        for (peer, input) in inputs {
            self.handle(peer, input)?;
        }
        Ok(())
    }

    fn handle(&mut self, peer: MachineId, input: Input) -> Result<()> {
        match input {
            Input::Frame(Frame::Msg(msg)) if msg.sender == peer => {
                self.book.received_from(peer);
                if self.stop.is_some() {
                    let rec = self.machine.unprocessed_record(self.base.now_unix(), msg);
                    self.log.write(&rec)?;
                } else if let Err(msg) = self.machine.deliver(msg) {
                    let cap = self.machine.params().queue_cap;
                    self.begin_stop_with(Stop::QueueFull(cap), Some(msg))?;
                }
            }
            Input::Frame(Frame::Bye(bye)) if bye.sender == peer => {
                self.book.bye(peer, bye.sent);
                if self.stop.is_none() {
                    // Every machine stops at the same instant of the shared monotonic clock:
                    // a Bye at or after it (or after our last tick) is the normal end.
                    let end = self.base.to_mono(self.machine.params().end_unix_ns());
                    let normal = self.machine.next_deadline().is_none() || mono_ns() >= end;
                    self.begin_stop(if normal {
                        Stop::TimeUp
                    } else {
                        Stop::PeerStopped(peer)
                    })?;
                }
            }
            Input::Frame(_) | Input::Bad(_) => {
                // A peer that speaks nonsense cannot be trusted with the accounting.
                let what = match input {
                    Input::Bad(e) => e.to_string(),
                    _ => "unexpected frame".into(),
                };
                eprintln!(
                    "host-unix: machine {}: {what} from peer {peer}; treating it as lost",
                    self.machine.id()
                );
                self.book.mark_lost(peer);
                if let Some(l) = self.links[usize::from(peer)].as_mut() {
                    l.closed = true;
                }
                if self.stop.is_none() {
                    self.begin_stop(Stop::PeerLost(peer))?;
                }
            }
            Input::Closed => {
                if self.book.closed(peer) && self.stop.is_none() {
                    self.begin_stop(Stop::PeerLost(peer))?;
                }
            }
        }
        Ok(())
    }

    fn begin_stop(&mut self, stop: Stop) -> Result<()> {
        self.begin_stop_with(stop, None)
    }

    /// Stops ticking: logs the queue (and a message that did not fit) as `unprocessed`,
    /// then says `Bye` to every peer still there.
    fn begin_stop_with(&mut self, stop: Stop, overflow: Option<Msg>) -> Result<()> {
        self.stop = Some(stop);
        self.stopped_at = mono_ns();
        let now = self.base.now_unix();
        let mut rows: Vec<Record> = Vec::new();
        while let Some(rec) = self.machine.pop_unprocessed(now) {
            rows.push(rec);
        }
        if let Some(msg) = overflow {
            rows.push(self.machine.unprocessed_record(now, msg));
        }
        for rec in &rows {
            self.log.write(rec)?;
        }
        let me = self.machine.id();
        for p in self.book.peers().collect::<Vec<_>>() {
            let sent = self.book.sent(p);
            if let Some(l) = self.links[usize::from(p)].as_mut() {
                l.send(&Frame::Bye(Bye { sender: me, sent }));
            }
        }
        Ok(())
    }
}
