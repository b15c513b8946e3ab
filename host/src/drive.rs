//! One machine as a host runs it, the same for every host: the core's sans-IO node
//! ([`HostNode`]), the [`Drive`] around it (its log file, its [`Transport`] and the run's
//! time base) and [`run`], the loop that drives it to its end.
//!
//! A host provides two things: a [`Transport`] (how frames leave: the core's [`Outbox`]
//! plus writing out what is buffered; [`crate::link::Links`] for byte streams) and
//! [`Events`] (how it waits for its deadline, its connections, signals and whatever else it
//! listens to, and what it read). [`run`] does the rest: the ticks at their deadlines, the
//! pacing, the order in which what happened reaches the node, the end. A new host (a
//! WebSocket, QUIC or in-browser transport) is those two and a call to [`run`].
//!
//! The node reads no clock and touches no file, socket or process: it takes `now` and hands
//! out records (through a [`lamport_core::record::Log`]) and frames (through the
//! transport). Its call order is in [`lamport_core::node`].

use crate::{
    EXIT_FAILED, EXIT_KILLED, EXIT_OK, EXIT_PEER, EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM,
    args::HOST_QUEUE_CAP,
    error::{Error, Result},
    folder,
    logfile::LogFile,
    pace::{Pacer, Wait},
    time::{Mono, TimeBase},
};
pub use lamport_core::node::{End, Input, Node, PeerState, Status, Stop, Timing};
pub use lamport_core::transport::{Outbox, Sent};
use lamport_core::{MachineId, Spec, faults::HostFaults, live::Live, record::Log};
use std::path::Path;

/// The core's node as the hosts run it: a queue of [`HOST_QUEUE_CAP`] messages, a `Vec`
/// ledger of peers, faults from a plan.
pub type HostNode = Node<HOST_QUEUE_CAP, Vec<PeerState>, HostFaults>;

/// How a machine's frames leave, as a host provides it: the core's [`Outbox`] (the node
/// sends through it and never waits) and the writing of what it buffered.
pub trait Transport: Outbox {
    /// Writes what can be written now.
    fn flush(&mut self);
    /// True while frames wait to be written.
    fn wants_write(&self) -> bool;
    /// The run is over: writes what is left and tells every peer no more frames come.
    fn finish(&mut self);
}

/// What happened while a host waited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    /// Something arrived on a peer's connection.
    Input(MachineId, Input),
    /// The run must stop (a signal, the supervisor gone).
    Stop(Stop),
    /// A fault set while the run runs ([`crate::control`]).
    Control(Live),
}

/// How a host waits for one machine, and what it read meanwhile.
pub trait Events<T: Transport> {
    /// Waits as `how` says, at most until `wake`, for anything the
    /// host listens to, and pushes what happened onto `into`: in the order the node must
    /// see it (a signal before the frames a peer sent because of it), each with the
    /// monotonic time it was read at. May return with nothing (a timeout, a wake-up of its
    /// own).
    fn wait(
        &mut self,
        transport: &mut T,
        wake: Mono,
        how: Wait,
        into: &mut Vec<(Mono, Happened)>,
    ) -> Result<()>;

    /// The monotonic instant to wake at, given the node's next deadline `deadline` (a host
    /// that retries writes by time wakes earlier while bytes wait).
    fn wake_at(&self, _transport: &T, _now: Mono, deadline: Mono) -> Mono {
        deadline
    }
}

/// Runs `drive` to its end, waiting through `events` and pacing by `pacer`; returns the
/// machine's exit status once its `end` row is written and its transport finished.
pub fn run<T: Transport, E: Events<T>>(
    mut drive: Drive<T>,
    events: &mut E,
    mut pacer: Pacer,
) -> Result<u8> {
    let mut happened = Vec::new();
    loop {
        if let Some(code) = drive.timeout(Mono::now())? {
            drive.transport.finish();
            return Ok(code);
        }
        let now = Mono::now();
        let wake = events.wake_at(&drive.transport, now, drive.wake_at());
        let how = pacer.wait(now, wake);
        events.wait(&mut drive.transport, wake, how, &mut happened)?;
        pacer.woke(Mono::now());
        if how == Wait::Spin && happened.is_empty() {
            std::thread::yield_now();
        }
        for (at, h) in happened.drain(..) {
            match h {
                Happened::Input(peer, input) => drive.input(at, peer, input)?,
                Happened::Stop(stop) => drive.interrupt(at, stop)?,
                Happened::Control(live) => drive.control(at, &live)?,
            }
        }
    }
}

/// One machine being run by a host: its node, its log, its transport, the run's time base.
#[derive(Debug)]
pub struct Drive<T> {
    node: Box<HostNode>,
    transport: T,
    log: LogFile,
    base: TimeBase,
    host: &'static str,
}

impl<T: Transport> Drive<T> {
    /// The machine `spec` describes, in a run starting at `base`: creates its log in `dir`
    /// and writes the header and the `start` row.
    pub fn new(
        host: &'static str,
        spec: Spec<HostFaults>,
        dir: &Path,
        base: TimeBase,
        transport: T,
    ) -> Result<Self> {
        Self::with_clock(host, spec, dir, base, transport, None)
    }

    /// [`Drive::new`], the header recording the clock offsets measured by the handshake
    /// (`clock`: the `# clock=` line, [`crate::meet`]).
    pub fn with_clock(
        host: &'static str,
        mut spec: Spec<HostFaults>,
        dir: &Path,
        base: TimeBase,
        transport: T,
        clock: Option<&str>,
    ) -> Result<Self> {
        spec.params.start_unix_ns = base.start_unix;
        let path = folder::log_path(dir, spec.id);
        // Boxed: its queue is large.
        let node = Box::new(HostNode::new(spec)?);
        let mut log = LogFile::create(&path, &node.opening(), clock)?;
        log.write(&node.start_record())
            .map_err(|e| Error::file("write", &path, e))?;
        Ok(Self {
            node,
            transport,
            log,
            base,
            host,
        })
    }

    /// The transport.
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Writes what the transport takes, then does what is due at monotonic time `mono`.
    /// Returns the exit status once the `end` row is written.
    pub fn timeout(&mut self, mono: Mono) -> Result<Option<u8>> {
        self.transport.flush();
        let now = self.base.to_unix(mono);
        self.node
            .handle_timeout(now, &mut self.log, &mut self.transport)
            .map_err(|e| self.log_error(e))?;
        Ok(self.node.ended().map(|e| exit_code(e.status)))
    }

    /// Takes what arrived from `peer`; says on stderr when it makes the peer lost.
    pub fn input(&mut self, mono: Mono, peer: MachineId, input: Input) -> Result<()> {
        let now = self.base.to_unix(mono);
        let refused = self
            .node
            .handle_input(now, peer, input, &mut self.log, &mut self.transport)
            .map_err(|e| self.log_error(e))?;
        if let Some(why) = refused {
            eprintln!(
                "{}: machine {}: {why} from peer {peer}; treating it as lost",
                self.host,
                self.node.id()
            );
        }
        Ok(())
    }

    /// Takes a fault set while the run runs; one the machine cannot take (it has
    /// stopped, say) changes nothing and writes no row. The node does the ticks due before
    /// then first: a fault read at `mono` acts from that instant, not before.
    pub fn control(&mut self, mono: Mono, live: &Live) -> Result<()> {
        let now = self.base.to_unix(mono);
        self.node
            .control(now, live, &mut self.log, &mut self.transport)
            .map_err(|e| self.log_error(e))?
            .ok();
        Ok(())
    }

    /// Stops the run for a reason from outside (a signal, the supervisor gone).
    pub fn interrupt(&mut self, mono: Mono, stop: Stop) -> Result<()> {
        let now = self.base.to_unix(mono);
        self.node
            .interrupt(now, stop, &mut self.log)
            .map_err(|e| self.log_error(e))
    }

    /// The monotonic instant by which [`Drive::timeout`] must be called.
    pub fn wake_at(&self) -> Mono {
        self.node
            .poll_timeout()
            .map_or(Mono(0), |t| self.base.to_mono(t))
    }

    fn log_error(&self, e: std::io::Error) -> Error {
        Error::file("write the log", self.log.path(), e)
    }
}

/// The exit status of a machine that ended with `status`.
pub fn exit_code(status: Status) -> u8 {
    match status {
        Status::Clean => EXIT_OK,
        Status::PeerTrouble => EXIT_PEER,
        Status::Failed => EXIT_FAILED,
        Status::Interrupted => EXIT_SIGINT,
        Status::Terminated => EXIT_SIGTERM,
        Status::HungUp => EXIT_SIGHUP,
        Status::Killed => EXIT_KILLED,
    }
}

/// Runs `f` and maps an error to [`crate::EXIT_FAILED`] with one line on stderr.
pub fn exit_status<E: std::fmt::Display>(
    host: &str,
    id: MachineId,
    f: impl FnOnce() -> std::result::Result<u8, E>,
) -> u8 {
    match f() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{host}: machine {id}: {e:#}");
            EXIT_FAILED
        }
    }
}
