//! One machine's run, the same for every host: ticks at absolute deadlines, every arriving
//! frame into the core, the end of the run (`Bye` counts, draining, `unprocessed` rows, the
//! `end` row and its reason). A host only moves bytes ([`Outbox`], [`Runner::input`]) and
//! waits until [`Runner::wake_at`].

use crate::{
    EXIT_FAILED,
    args::HOST_QUEUE_CAP,
    logfile::LogFile,
    peers::{PeerBook, Stop},
    time::{TimeBase, mono_ns},
};
use anyhow::{Context, Result};
use lamport_core::{
    Machine, MachineId, RunParams, Transport,
    machine::TickError,
    record::{Log, Record},
    wire::{Bye, Frame, Msg},
};
use std::path::Path;

/// How long a stopped machine waits for its peers' `Bye` before calling them lost.
pub const DRAIN_TIMEOUT_NS: u64 = 800_000_000;

/// What arrived on a peer's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A whole frame.
    Frame(Frame),
    /// Bytes that are not a frame: the peer is treated as lost.
    Bad(lamport_core::Error),
    /// End of stream (or a read error).
    Closed,
}

/// How a host sends frames to its peers. Must not block for long.
pub trait Outbox {
    /// Sends (or queues) `frame` to `to`; a dead connection is silently skipped.
    fn send(&mut self, to: MachineId, frame: &Frame);
    /// Stops reading from and writing to `peer` (it spoke nonsense).
    fn drop_peer(&mut self, peer: MachineId);
    /// True when nothing queued is waiting to be written.
    fn flushed(&self) -> bool {
        true
    }
}

struct Sending<'a, O> {
    out: &'a mut O,
    book: &'a mut PeerBook,
}

impl<O: Outbox> Transport for Sending<'_, O> {
    type Error = std::convert::Infallible;
    fn send(&mut self, to: MachineId, msg: Msg) -> Result<(), Self::Error> {
        self.book.sent_to(to);
        self.out.send(to, &Frame::Msg(msg));
        Ok(())
    }
}

/// A machine being run by a host.
pub struct Runner<O: Outbox> {
    machine: Box<Machine<HOST_QUEUE_CAP>>,
    log: LogFile,
    book: PeerBook,
    base: TimeBase,
    stop: Option<Stop>,
    stopped_at: u64,
    end_mono: u64,
    end_tolerance_ns: u64,
    host: &'static str,
    out: O,
}

impl<O: Outbox> Runner<O> {
    /// Machine `id` of a run starting at `base`: creates its log and writes the header and
    /// the `start` row. `end_tolerance_ns`: a peer's `Bye` this close before the end (clock
    /// skew between computers) still counts as the normal end.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: MachineId,
        mut params: RunParams,
        pinned: Option<u32>,
        dir: &Path,
        base: TimeBase,
        end_tolerance_ns: u64,
        host: &'static str,
        out: O,
    ) -> Result<Self> {
        params.start_unix_ns = base.start_unix;
        let machine = Box::new(Machine::new(&params, id, pinned).context("machine parameters")?);
        let mut log = LogFile::create(&crate::folder::log_path(dir, id), &machine.header())?;
        log.write(&machine.start_record(base.start_unix))?;
        Ok(Self {
            book: PeerBook::new(id, params.machines),
            end_mono: base.to_mono(params.end_unix_ns()),
            machine,
            log,
            base,
            stop: None,
            stopped_at: 0,
            end_tolerance_ns,
            host,
            out,
        })
    }

    /// The host's outbox.
    pub fn out(&mut self) -> &mut O {
        &mut self.out
    }

    /// Does what is due at monotonic time `now`: ticks (catching up, none skipped), the end
    /// of the run, the end of draining. Returns the exit status once the `end` row is written.
    pub fn step(&mut self, now: u64) -> Result<Option<u8>> {
        if self.stop.is_none() {
            self.tick_due(now)?;
            if self.machine.next_deadline().is_none() && now >= self.end_mono {
                self.begin_stop(Stop::TimeUp, None)?;
            }
        }
        if self.stop.is_some() {
            let settled = self.book.settled() && self.out.flushed();
            let timed_out = now >= self.stopped_at + DRAIN_TIMEOUT_NS;
            if settled || timed_out {
                if timed_out {
                    let silent: Vec<MachineId> = self
                        .book
                        .peers()
                        .filter(|&p| !self.book.has_bye(p))
                        .collect();
                    for p in silent {
                        self.book.mark_lost(p);
                    }
                }
                let (note, code) = self.book.verdict(self.stop.unwrap_or(Stop::TimeUp));
                let rec = self.machine.end_record(self.base.now_unix(), &note);
                self.log.write(&rec)?;
                return Ok(Some(code));
            }
        }
        Ok(None)
    }

    /// The monotonic instant the host should wake at (at the latest) to call [`Runner::step`].
    pub fn wake_at(&self) -> u64 {
        match self.stop {
            None => self
                .machine
                .next_deadline()
                .map(|d| self.base.to_mono(d))
                .unwrap_or(self.end_mono)
                .min(self.end_mono),
            Some(_) => self.stopped_at + DRAIN_TIMEOUT_NS,
        }
    }

    fn tick_due(&mut self, now: u64) -> Result<()> {
        while let Some(d) = self.machine.next_deadline() {
            if self.base.to_mono(d) > now {
                break;
            }
            let t = self.base.now_unix();
            let mut transport = Sending {
                out: &mut self.out,
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

    /// Stops the run for a reason from outside (a signal, the supervisor gone).
    pub fn interrupt(&mut self, stop: Stop) -> Result<()> {
        if self.stop.is_none() {
            self.begin_stop(stop, None)?;
        }
        Ok(())
    }

    /// Takes what arrived from `peer`.
    pub fn input(&mut self, peer: MachineId, input: Input) -> Result<()> {
        match input {
            Input::Frame(Frame::Msg(msg)) if msg.sender == peer => {
                self.book.received_from(peer);
                if self.stop.is_some() {
                    let rec = self.machine.unprocessed_record(self.base.now_unix(), msg);
                    self.log.write(&rec)?;
                } else if let Err(msg) = self.machine.deliver(msg) {
                    let cap = self.machine.params().queue_cap;
                    self.begin_stop(Stop::QueueFull(cap), Some(msg))?;
                }
            }
            Input::Frame(Frame::Bye(bye)) if bye.sender == peer => {
                self.book.bye(peer, bye.sent);
                if self.stop.is_none() {
                    // Every machine stops at the same instant. A Bye at or after it is the
                    // normal end: first catch up on any tick still due (a late machine must
                    // not lose ticks), then stop. A Bye just before it (within the
                    // tolerance: clock skew between computers) is noted, and this machine
                    // ticks on to its own end. Earlier, the peer stopped early.
                    let now = mono_ns();
                    if self.machine.next_deadline().is_none() || now >= self.end_mono {
                        self.tick_due(now)?;
                        self.begin_stop(Stop::TimeUp, None)?;
                    } else if now + self.end_tolerance_ns < self.end_mono {
                        self.begin_stop(Stop::PeerStopped(peer), None)?;
                    }
                }
            }
            Input::Frame(_) | Input::Bad(_) => {
                let what = match input {
                    Input::Bad(e) => e.to_string(),
                    _ => "unexpected frame".into(),
                };
                eprintln!(
                    "{}: machine {}: {what} from peer {peer}; treating it as lost",
                    self.host,
                    self.machine.id()
                );
                self.book.mark_lost(peer);
                self.out.drop_peer(peer);
                if self.stop.is_none() {
                    self.begin_stop(Stop::PeerLost(peer), None)?;
                }
            }
            Input::Closed => {
                if self.book.closed(peer) && self.stop.is_none() {
                    self.begin_stop(Stop::PeerLost(peer), None)?;
                }
            }
        }
        Ok(())
    }

    /// Stops ticking: logs the queue (and a message that did not fit) as `unprocessed`,
    /// then says `Bye` to every peer.
    fn begin_stop(&mut self, stop: Stop, overflow: Option<Msg>) -> Result<()> {
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
            self.out.send(p, &Frame::Bye(Bye { sender: me, sent }));
        }
        Ok(())
    }
}

/// Runs `f` and maps an error to [`EXIT_FAILED`] with one line on stderr.
pub fn exit_status(host: &str, id: MachineId, f: impl FnOnce() -> Result<u8>) -> u8 {
    match f() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{host}: machine {id}: {e:#}");
            EXIT_FAILED
        }
    }
}
