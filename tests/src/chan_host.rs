//! A fourth host, to show what one takes: the machines of a run as threads of one process,
//! exchanging frames over crossbeam channels instead of byte streams. It is the shared
//! [`drive::run`] with a [`Transport`] (a channel to each peer) and an [`Events`] (waiting
//! on this machine's channel until its deadline); the ticks, the queue, the faults, the end
//! of the run, the log and the pacing are the shared code's.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};
use lamport_core::{MachineId, Outbox, Sent, wire::Frame};
use lamport_host::{
    args::Model,
    drive::{self, Drive, Events, Happened, Input, Transport},
    error::Result,
    folder,
    pace::{Pacer, Wait},
    time::{Mono, TimeBase},
};
use std::path::Path;

/// What travels on a channel: a frame, or the end of the sender's stream.
type Carried = (MachineId, Option<Frame>);

/// A channel to each peer (`None` for itself, or once closed).
struct Channels {
    me: MachineId,
    to: Vec<Option<Sender<Carried>>>,
}

impl Outbox for Channels {
    fn send(&mut self, to: MachineId, frame: &Frame) -> Sent {
        let Some(tx) = self.to.get(usize::from(to)).and_then(Option::as_ref) else {
            return Sent::Gone;
        };
        match tx.send((self.me, Some(*frame))) {
            Ok(()) => Sent::Taken,
            Err(_) => Sent::Gone,
        }
    }
    fn close(&mut self, peer: MachineId) {
        if let Some(tx) = self.to.get_mut(usize::from(peer)).and_then(Option::take) {
            let _ = tx.send((self.me, None));
        }
    }
    fn is_blocked(&self, _peer: MachineId) -> bool {
        false
    }
    fn is_flushed(&self) -> bool {
        true
    }
}

impl Transport for Channels {
    // A send is written at once: nothing waits.
    fn flush(&mut self) {}
    fn wants_write(&self) -> bool {
        false
    }
    fn finish(&mut self) {
        for p in 0..self.to.len() {
            self.close(p as MachineId);
        }
    }
}

/// What a machine waits on: its one channel, which every peer sends to.
struct Inbox(Receiver<Carried>);

impl Events<Channels> for Inbox {
    fn wait(
        &mut self,
        _out: &mut Channels,
        _wake: Mono,
        how: Wait,
        into: &mut Vec<(Mono, Happened)>,
    ) -> Result<()> {
        let first = match how {
            Wait::Sleep(ns) => {
                let ns = std::time::Duration::from_nanos(ns);
                match self.0.recv_timeout(ns) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    // Every peer is gone: nothing can arrive, wait for the deadline.
                    Err(RecvTimeoutError::Disconnected) => {
                        std::thread::sleep(ns);
                        None
                    }
                }
            }
            Wait::Spin => self.0.try_recv().ok(),
        };
        let mut take = |(peer, frame): Carried| {
            let input = frame.map_or(Input::Closed, Input::Frame);
            into.push((Mono::now(), Happened::Input(peer, input)));
        };
        if let Some(c) = first {
            take(c);
            while let Ok(c) = self.0.try_recv() {
                take(c);
            }
        }
        Ok(())
    }
}

/// Runs `model` with one thread per machine, writing the logs and `run.json` into `dir`;
/// returns each machine's exit status.
pub fn run(model: &Model, dir: &Path) -> Result<Vec<u8>> {
    let n = usize::from(model.params.machines);
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| unbounded::<Carried>()).unzip();
    let base = TimeBase::starting_in(100_000_000);
    let mut started = model.clone();
    started.params.start_unix_ns = base.start_unix;
    folder::write_run_json(
        dir,
        &started,
        "chan-host",
        lamport_host::serde_json::json!({}),
    )?;
    std::thread::scope(|s| {
        let threads: Vec<_> = rxs
            .into_iter()
            .enumerate()
            .map(|(i, rx)| {
                let id = i as MachineId;
                let to = (0..n).map(|p| (p != i).then(|| txs[p].clone())).collect();
                let spec = model.spec(id);
                s.spawn(move || -> Result<u8> {
                    let drive = Drive::new("chan-host", spec, dir, base, Channels { me: id, to })?;
                    let pacer = Pacer::for_run(lamport_host::pace::Mode::Sleep, n as u16);
                    drive::run(drive, &mut Inbox(rx), pacer)
                })
            })
            .collect();
        drop(txs);
        threads
            .into_iter()
            .map(|t| t.join().expect("a machine's thread panicked"))
            .collect()
    })
}
