//! The I/O side of a machine, the same for both hosts: the [`Runner`], its log file, its
//! [`Links`] and the run's time base. A host's loop only waits (for its sockets, signals
//! and [`Drive::wake_at`]) and passes what happened in with the monotonic time it read.

use crate::{
    error::{Error, Result},
    folder,
    link::{Links, Stream},
    logfile::LogFile,
    runner::{self, Input, Runner, Stop},
    time::TimeBase,
};
use lamport_core::{MachineId, Spec, faults::Faulty, record::Log};
use std::path::Path;

/// One machine being run by a host.
#[derive(Debug)]
pub struct Drive<S> {
    node: Box<Runner>,
    links: Links<S>,
    log: LogFile,
    base: TimeBase,
    host: &'static str,
}

impl<S: Stream> Drive<S> {
    /// The machine `spec` describes, in a run starting at `base`: creates its log in `dir`
    /// and writes the header and the `start` row.
    pub fn new(
        host: &'static str,
        mut spec: Spec<Faulty>,
        dir: &Path,
        base: TimeBase,
        links: Links<S>,
    ) -> Result<Self> {
        spec.params.start_unix_ns = base.start_unix;
        let path = folder::log_path(dir, spec.id);
        let node = Box::new(Runner::new(spec)?);
        let mut log = LogFile::create(&path, &node.opening())?;
        log.write(&node.start_record())
            .map_err(|e| Error::file("write", &path, e))?;
        Ok(Self {
            node,
            links,
            log,
            base,
            host,
        })
    }

    /// The links.
    pub fn links(&mut self) -> &mut Links<S> {
        &mut self.links
    }

    /// Writes what the links take, then does what is due at monotonic time `mono`.
    /// Returns the exit status once the `end` row is written.
    pub fn timeout(&mut self, mono: u64) -> Result<Option<u8>> {
        self.links.flush_all();
        let now = self.base.to_unix(mono);
        self.node
            .handle_timeout(now, &mut self.log, &mut self.links)
            .map_err(|e| self.log_error(e))?;
        Ok(self.node.ended().map(|e| runner::exit_code(e.status)))
    }

    /// Takes what arrived from `peer`; says on stderr when it makes the peer lost.
    pub fn input(&mut self, mono: u64, peer: MachineId, input: Input) -> Result<()> {
        let now = self.base.to_unix(mono);
        let refused = self
            .node
            .handle_input(now, peer, input, &mut self.log, &mut self.links)
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

    /// Stops the run for a reason from outside (a signal, the supervisor gone).
    pub fn interrupt(&mut self, mono: u64, stop: Stop) -> Result<()> {
        let now = self.base.to_unix(mono);
        self.node
            .interrupt(now, stop, &mut self.log)
            .map_err(|e| self.log_error(e))
    }

    /// The monotonic instant by which [`Drive::timeout`] must be called.
    pub fn wake_at(&self) -> u64 {
        self.node.poll_timeout().map_or(0, |t| self.base.to_mono(t))
    }

    fn log_error(&self, e: std::io::Error) -> Error {
        Error::file("write the log", self.log.path(), e)
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
            crate::EXIT_FAILED
        }
    }
}
