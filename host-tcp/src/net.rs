//! TCP plumbing: the run id, who gets in (the `Hello` handshake), reader threads that turn
//! a connection's bytes into events on a channel until the peer's ready `Hello` and then
//! hand the connection to the machine's own thread, connecting with retry, and the outbox.

use crossbeam_channel::{Receiver, SendError, Sender};
use lamport_core::{
    FNV_OFFSET, MachineId, fnv1a,
    wire::{self, Deframer, Frame, Hello, MAX_FRAME, VERSION},
};
use lamport_host::drive::{Input, Stop};
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// How long a new connection may take to say `Hello`, in all (not per read).
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections that may be in their handshake at once, beyond two per machine of the run
/// (every peer connects at the same moment when a run starts); more are refused at once.
pub(crate) const EXTRA_PENDING: usize = 16;

/// What a machine's owner thread hears about.
#[derive(Debug)]
pub(crate) enum Event {
    /// Our connection to `peer` is up and has said `Hello`.
    Outbound(MachineId, TcpStream),
    /// `peer`'s connection to us after its ready `Hello`: from here on the machine's own
    /// thread reads it (with the deframer's state: a frame may have begun).
    Handover(MachineId, TcpStream, Deframer),
    /// `peer` connected to us and passed the handshake.
    Joined(MachineId),
    /// Something arrived from `peer`.
    Input(MachineId, Input),
    /// Stop (a signal).
    Signal(Stop),
    /// A fault set while the run runs ([`lamport_host::control`]).
    Control(lamport_core::live::Live),
    /// Set-up failed.
    Fatal(String),
}

/// The sending end of a machine's channel: every send also rings the machine's bell (an
/// eventfd in its epoll set), so that a machine waiting on its sockets and timer sees it.
#[derive(Clone)]
pub(crate) struct Tx {
    tx: Sender<Event>,
    bell: Arc<EventFd>,
}

impl Tx {
    pub(crate) fn send(&self, ev: Event) -> Result<(), SendError<Event>> {
        let r = self.tx.send(ev);
        let _ = self.bell.write(1);
        r
    }
}

/// The receiving end: the channel and the bell to watch.
pub(crate) struct Rx {
    pub(crate) rx: Receiver<Event>,
    pub(crate) bell: Arc<EventFd>,
}

/// A machine's channel.
pub(crate) fn channel() -> std::io::Result<(Tx, Rx)> {
    let bell = Arc::new(
        EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(std::io::Error::from)?,
    );
    let (tx, rx) = crossbeam_channel::unbounded();
    Ok((
        Tx {
            tx,
            bell: Arc::clone(&bell),
        },
        Rx { rx, bell },
    ))
}

/// The parameters every machine of a run must share, folded into a run id of four 16-bit
/// fields, so that a refusal can say which one differs.
#[derive(Debug, Clone)]
pub(crate) struct RunKey {
    pub(crate) peers: Vec<SocketAddr>,
    pub(crate) secs: u64,
    pub(crate) roll_max: u32,
    pub(crate) speedup_milli: u32,
    /// The fault flags, as the log header writes them (empty: none).
    pub(crate) faults: String,
}

fn fold16(x: u64) -> u64 {
    let h = fnv1a(FNV_OFFSET, &x.to_le_bytes());
    (h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48)) & 0xffff
}

impl RunKey {
    /// The key of a run of `params` with `faults` whose machines listen on `peers`.
    pub(crate) fn of(
        peers: &[SocketAddr],
        params: &lamport_core::RunParams,
        faults: &lamport_core::faults::Plan,
    ) -> Self {
        Self {
            peers: peers.to_vec(),
            secs: params.secs,
            roll_max: params.roll_max,
            speedup_milli: params.speedup_milli,
            faults: faults.to_string(),
        }
    }

    /// `--roll-max` and the faults share a field (a run without faults keeps the id it
    /// always had).
    fn rolls_and_faults(&self) -> u64 {
        if self.faults.is_empty() {
            return fold16(self.roll_max.into());
        }
        let h = fnv1a(FNV_OFFSET, &self.roll_max.to_le_bytes());
        fold16(fnv1a(h, self.faults.as_bytes()))
    }

    pub(crate) fn run_id(&self) -> u64 {
        let list: Vec<String> = self.peers.iter().map(ToString::to_string).collect();
        let peers = fnv1a(FNV_OFFSET, list.join(",").as_bytes());
        fold16(peers) << 48
            | fold16(self.secs) << 32
            | self.rolls_and_faults() << 16
            | fold16(self.speedup_milli.into())
    }
}

/// Which parameter two run ids disagree on.
pub(crate) fn differs(ours: u64, theirs: u64) -> &'static str {
    const FIELDS: [&str; 4] = [
        "the peer list",
        "--secs",
        "--roll-max or a fault flag",
        "--speedup",
    ];
    (0..4)
        .find(|i| (ours >> (48 - 16 * i)) & 0xffff != (theirs >> (48 - 16 * i)) & 0xffff)
        .map_or("the run id", |i| FIELDS[i])
}

/// Sends one frame on a blocking stream.
pub(crate) fn write_frame(stream: &mut TcpStream, frame: &Frame) -> std::io::Result<()> {
    let mut buf = [0u8; MAX_FRAME];
    let bytes =
        wire::encode(frame, &mut buf).map_err(|_| std::io::Error::other("frame too large"))?;
    stream.write_all(bytes)
}

/// Who this machine is, for checking newcomers.
#[derive(Debug, Clone)]
pub(crate) struct Gate {
    pub(crate) me: MachineId,
    pub(crate) machines: u16,
    pub(crate) run_id: u64,
    /// Peers connected to us: a second `Hello` with the same id is refused while the first
    /// holder's connection lasts (and, once the run has started, for good).
    pub(crate) claimed: Arc<Mutex<Vec<bool>>>,
    /// Connections still in their handshake.
    pub(crate) pending: Arc<AtomicUsize>,
    /// Set when the run starts: from then on no id is given again.
    pub(crate) started: Arc<AtomicBool>,
}

impl Gate {
    fn admit(&self, h: &Hello) -> Result<MachineId, String> {
        if h.run_id != self.run_id {
            return Err(format!(
                "wrong run id: {} differs from this machine's",
                differs(self.run_id, h.run_id)
            ));
        }
        if h.machines != self.machines {
            return Err(format!(
                "a run of {} machines, this one has {}",
                h.machines, self.machines
            ));
        }
        if h.sender >= self.machines || h.sender == self.me {
            return Err(format!("unknown machine id {}", h.sender));
        }
        let mut claimed = self
            .claimed
            .lock()
            .map_err(|_| "internal lock poisoned".to_string())?;
        if std::mem::replace(&mut claimed[usize::from(h.sender)], true) {
            return Err(format!(
                "duplicate machine id {}: already connected",
                h.sender
            ));
        }
        Ok(h.sender)
    }

    /// The holder of `id` is gone before the start: another `Hello` may claim it.
    fn release(&self, id: MachineId) {
        if !self.started.load(Ordering::SeqCst)
            && let Ok(mut claimed) = self.claimed.lock()
        {
            claimed[usize::from(id)] = false;
        }
    }
}

/// Counts a connection in its handshake while it lives.
struct Pending(Arc<AtomicUsize>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts connections forever, each on a reader thread of its own.
pub(crate) fn spawn_acceptor(listener: TcpListener, gate: Gate, tx: Tx) {
    let name = format!("accept-{}", gate.me);
    let _ = std::thread::Builder::new()
        .name(name)
        .stack_size(256 << 10)
        .spawn(move || {
            let mut backoff = Duration::from_millis(10);
            for conn in listener.incoming() {
                let stream = match conn {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of descriptors (EMFILE) or memory: wait, do not spin.
                        if e.kind() != ErrorKind::Interrupted {
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(1));
                        }
                        continue;
                    }
                };
                backoff = Duration::from_millis(10);
                let cap = 2 * usize::from(gate.machines) + EXTRA_PENDING;
                if gate.pending.fetch_add(1, Ordering::SeqCst) >= cap {
                    gate.pending.fetch_sub(1, Ordering::SeqCst);
                    refuse(
                        &gate,
                        stream.peer_addr().ok(),
                        &format!("{cap} connections are already saying Hello"),
                    );
                    continue;
                }
                let pending = Pending(Arc::clone(&gate.pending));
                let (gate, tx) = (gate.clone(), tx.clone());
                let _ = std::thread::Builder::new()
                    .name(format!("read-{}", gate.me))
                    .stack_size(256 << 10)
                    .spawn(move || read_connection(stream, &gate, &tx, pending));
            }
        });
}

fn refuse(gate: &Gate, from: Option<SocketAddr>, why: &str) {
    let from = from.map_or_else(|| "?".to_string(), |a| a.to_string());
    eprintln!(
        "host-tcp: machine {}: refused connection from {from}: {why}",
        gate.me
    );
}

/// Handshake (within [`HANDSHAKE_TIMEOUT`] in all), then every frame to the owner until
/// the stream ends.
/// Why a connection that has not said a whole `Hello` within [`HANDSHAKE_TIMEOUT`] is
/// refused (`got_any`: it sent some bytes).
fn silence(got_any: bool) -> String {
    let secs = HANDSHAKE_TIMEOUT.as_secs();
    if got_any {
        format!("no whole Hello within {secs} s")
    } else {
        format!("sent nothing within {secs} s")
    }
}

/// Why a connection whose first bytes are text is refused, showing them.
fn text_refusal(bytes: &[u8]) -> String {
    let shown: String = bytes[..bytes.len().min(24)]
        .iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                c as char
            } else {
                '.'
            }
        })
        .collect();
    format!("text where a frame was expected (\"{shown}\"...: an HTTP request or a terminal?)")
}

fn read_connection(mut stream: TcpStream, gate: &Gate, tx: &Tx, pending: Pending) {
    let from = stream.peer_addr().ok();
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut pending = Some(pending);
    let mut d = Deframer::new();
    let mut buf = [0u8; 4096];
    let mut peer: Option<MachineId> = None;
    let mut got_any = false;
    loop {
        if peer.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => {
                match peer {
                    Some(p) => {
                        gate.release(p);
                        let _ = tx.send(Event::Input(p, Input::Closed));
                    }
                    None => refuse(gate, from, "closed before saying Hello"),
                }
                return;
            }
            Ok(_) if peer.is_none() && Instant::now() >= deadline => {
                return refuse(gate, from, &silence(true));
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e)
                if peer.is_none()
                    && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                return refuse(gate, from, &silence(got_any));
            }
            Err(_) => {
                if let Some(p) = peer {
                    gate.release(p);
                    let _ = tx.send(Event::Input(p, Input::Closed));
                }
                return;
            }
        };
        if peer.is_none() && !got_any && looks_like_text(&buf[..n]) {
            return refuse(gate, from, &text_refusal(&buf[..n]));
        }
        got_any = true;
        let mut ready = false;
        for &b in &buf[..n] {
            let Some(result) = d.push(b) else { continue };
            match (peer, result) {
                (Some(p), Ok(frame)) => {
                    ready |= matches!(frame, Frame::Hello(_));
                    let _ = tx.send(Event::Input(p, Input::Frame(frame)));
                }
                (Some(p), Err(e)) => {
                    let _ = tx.send(Event::Input(p, Input::Bad(e)));
                    return;
                }
                (None, Ok(Frame::Hello(h))) => match gate.admit(&h) {
                    Ok(p) => {
                        let _ = stream.set_read_timeout(None);
                        drop(pending.take()); // no longer pending: it is a peer
                        peer = Some(p);
                        let _ = tx.send(Event::Joined(p));
                    }
                    Err(why) => return refuse(gate, from, &why),
                },
                (None, Ok(_)) => return refuse(gate, from, "the first frame is not Hello"),
                (None, Err(e)) => return refuse(gate, from, &e.to_string()),
            }
        }
        // The peer's ready Hello ends the set-up: the machine's thread reads on from here.
        if let (true, Some(p)) = (ready, peer) {
            let _ = tx.send(Event::Handover(p, stream, d));
            return;
        }
    }
}

/// True for bytes that read as a line of text (a first frame never does: it opens with a
/// COBS code byte, then a small version number).
fn looks_like_text(b: &[u8]) -> bool {
    b.len() >= 4
        && b.iter()
            .take(16)
            .all(|&c| c.is_ascii_graphic() || c == b' ' || c == b'\r' || c == b'\n' || c == b'\t')
}

/// Connects to every peer in turn, retrying with backoff until `timeout`, says `Hello`
/// (identity) on each, and hands the streams to the owner.
pub(crate) fn spawn_connector(
    me: MachineId,
    peers: Vec<SocketAddr>,
    hello: Hello,
    timeout: Duration,
    tx: Tx,
) {
    let _ = std::thread::Builder::new()
        .name(format!("connect-{me}"))
        .stack_size(256 << 10)
        .spawn(move || {
            let give_up = Instant::now() + timeout;
            for (p, addr) in peers.iter().enumerate() {
                if p == usize::from(me) {
                    continue;
                }
                let mut wait = Duration::from_millis(20);
                let stream = loop {
                    match TcpStream::connect_timeout(addr, Duration::from_secs(2)) {
                        Ok(s) => break s,
                        Err(_) if Instant::now() + wait < give_up => {
                            std::thread::sleep(wait);
                            wait = (wait * 2).min(Duration::from_millis(500));
                        }
                        Err(e) => {
                            let _ = tx.send(Event::Fatal(format!(
                                "peer {p} at {addr} never came ({e}; gave up after {} s)",
                                timeout.as_secs()
                            )));
                            return;
                        }
                    }
                };
                let mut stream = stream;
                let _ = stream.set_nodelay(true);
                if let Err(e) = write_frame(&mut stream, &Frame::Hello(hello)) {
                    let _ = tx.send(Event::Fatal(format!(
                        "peer {p} at {addr}: cannot say Hello: {e}"
                    )));
                    return;
                }
                if tx.send(Event::Outbound(p as MachineId, stream)).is_err() {
                    return;
                }
            }
        });
}

/// Hello with this build's version.
pub(crate) fn hello(run_id: u64, machines: u16, me: MachineId, time_unix_ns: u64) -> Hello {
    Hello {
        version: VERSION,
        run_id,
        machines,
        sender: me,
        time_unix_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_names_the_parameter_that_differs() {
        let key = RunKey {
            peers: vec!["127.0.0.1:7000".parse().unwrap(); 3],
            secs: 60,
            roll_max: 10,
            speedup_milli: 1000,
            faults: String::new(),
        };
        let id = key.run_id();
        assert_eq!(id, key.clone().run_id());
        assert_eq!(
            differs(
                id,
                RunKey {
                    secs: 61,
                    ..key.clone()
                }
                .run_id()
            ),
            "--secs"
        );
        assert_eq!(
            differs(
                id,
                RunKey {
                    roll_max: 5,
                    ..key.clone()
                }
                .run_id()
            ),
            "--roll-max or a fault flag"
        );
        assert_eq!(
            differs(
                id,
                RunKey {
                    faults: "delay_ms=10".into(),
                    ..key.clone()
                }
                .run_id()
            ),
            "--roll-max or a fault flag"
        );
        assert_eq!(
            differs(
                id,
                RunKey {
                    speedup_milli: 2000,
                    ..key.clone()
                }
                .run_id()
            ),
            "--speedup"
        );
        let mut other = key.clone();
        other.peers[2] = "127.0.0.1:7003".parse().unwrap();
        assert_eq!(differs(id, other.run_id()), "the peer list");
    }
}
