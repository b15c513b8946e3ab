//! One folder per run across computers: at the end every machine hands its files (its log
//! and its `run-<id>.json`) to machine 0, and to any machine started with `--collect`,
//! over a connection to the listening address it already reached for the run; the keeper
//! writes them beside its own. Who may hand files over is proven as in the handshake: the
//! sender echoes the nonce the keeper's `Hello` carried to it ([`crate::meet`]).
//!
//! Nothing is lost when collection fails: every machine keeps its own files; a machine
//! whose files did not arrive is named, and a `machine-<id>.log.missing` file says why.

use crate::{
    folder,
    meet::{Purpose, Reader, Say, Terms},
};
use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    sync::{Condvar, Mutex},
    time::{Duration, Instant},
};

/// Bytes of a file per `File` message.
const CHUNK: usize = 128 * 1024;

/// How long one connection may take to hand its files over.
const SERVE_TIMEOUT: Duration = Duration::from_secs(30);

/// The files of machine `id` that go to the keepers: its log and its run file.
pub fn files_of(dir: &Path, id: u16) -> Vec<(String, PathBuf)> {
    let log = folder::log_path(dir, id);
    let run = dir.join(format!("run-{id}.json"));
    [log, run]
        .into_iter()
        .filter(|p| p.exists())
        .filter_map(|p| Some((p.file_name()?.to_string_lossy().into_owned(), p)))
        .collect()
}

/// The names machine `id` may hand over.
fn allowed(name: &str, id: u16) -> bool {
    name == format!("machine-{id}.log") || name == format!("run-{id}.json")
}

/// Hands the files of machine `me` to the keeper at `addr`, proving it with `proof`;
/// tries again until `deadline`.
pub fn hand_over(
    addr: SocketAddr,
    me: u16,
    terms: &Terms,
    proof: u64,
    files: &[(String, PathBuf)],
    deadline: Instant,
) -> Result<(), String> {
    let mut wait = Duration::from_millis(50);
    let mut first: Option<String> = None;
    for tries in 1.. {
        match hand_once(addr, me, terms, proof, files, deadline) {
            Ok(()) => return Ok(()),
            Err((why, again)) => {
                if !again || Instant::now() + wait >= deadline {
                    return Err(match first {
                        Some(f) if f != why => format!("{why} ({tries} tries; the first: {f})"),
                        _ => format!("{why} ({tries} tries)"),
                    });
                }
                first.get_or_insert(why);
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(1));
            }
        }
    }
    Err("no try".into())
}

fn hand_once(
    addr: SocketAddr,
    me: u16,
    terms: &Terms,
    proof: u64,
    files: &[(String, PathBuf)],
    deadline: Instant,
) -> Result<(), (String, bool)> {
    let io = |e: std::io::Error| (e.to_string(), true);
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(10));
    let mut s = TcpStream::connect_timeout(&addr, left.min(Duration::from_secs(2))).map_err(io)?;
    let _ = s.set_read_timeout(Some(left));
    let _ = s.set_write_timeout(Some(left));
    let mut say = |m: &Say| s.write_all(&m.encode());
    say(&Say::Hello {
        protocol: crate::meet::PROTOCOL,
        sender: me,
        purpose: Purpose::Logs,
        terms: terms.clone(),
        nonce: 0,
    })
    .map_err(io)?;
    say(&Say::Proof { nonce: proof }).map_err(io)?;
    for (name, path) in files {
        let bytes = std::fs::read(path)
            .map_err(|e| (format!("cannot read {}: {e}", path.display()), false))?;
        let mut offset = 0;
        for chunk in bytes
            .chunks(CHUNK)
            .chain((bytes.is_empty()).then_some(&[][..]))
        {
            say(&Say::File {
                name: name.clone(),
                offset,
                bytes: chunk.to_vec(),
            })
            .map_err(io)?;
            offset += chunk.len() as u64;
        }
    }
    say(&Say::Done).map_err(io)?;
    match read_one(&mut s).map_err(io)? {
        Some(Say::Kept) => Ok(()),
        Some(Say::Refused { why, again }) => Err((format!("refused: {why}"), again)),
        _ => Err(("closed without an answer".into(), true)),
    }
}

/// Reads one message (blocking, with the stream's timeout).
fn read_one(s: &mut TcpStream) -> std::io::Result<Option<Say>> {
    let mut r = Reader::default();
    let mut b = [0u8; 4096];
    loop {
        let n = s.read(&mut b)?;
        if n == 0 {
            return Ok(None);
        }
        let (said, _) = r.push(&b[..n], |_| false);
        if let Some(first) = said.into_iter().next() {
            return Ok(first.ok());
        }
    }
}

/// Keeps the files the machines of a run hand over, in its run folder.
#[derive(Debug)]
pub struct Keeper {
    dir: PathBuf,
    me: u16,
    terms: Terms,
    /// The nonce this machine's `Hello` carried to each machine: its proof.
    nonces: Vec<u64>,
    arrived: Mutex<Vec<bool>>,
    changed: Condvar,
}

impl Keeper {
    /// Machine `me`'s keeper for the run of `terms` in `dir`.
    pub fn new(dir: &Path, me: u16, terms: Terms, nonces: Vec<u64>) -> Self {
        let n = nonces.len();
        let mut arrived = vec![false; n];
        arrived[usize::from(me)] = true;
        Self {
            dir: dir.to_path_buf(),
            me,
            terms,
            nonces,
            arrived: Mutex::new(arrived),
            changed: Condvar::new(),
        }
    }

    /// Serves one connection: files in, `Kept` or `Refused` out.
    pub fn serve(&self, mut s: TcpStream) {
        let _ = s.set_read_timeout(Some(SERVE_TIMEOUT));
        let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
        let answer = match self.take(&mut s) {
            Ok(id) => {
                if let Ok(mut a) = self.arrived.lock() {
                    a[usize::from(id)] = true;
                }
                self.changed.notify_all();
                Say::Kept
            }
            Err(why) => {
                eprintln!(
                    "host-tcp: machine {}: refused files from {}: {why}",
                    self.me,
                    s.peer_addr().map_or_else(|_| "?".into(), |a| a.to_string())
                );
                Say::Refused { why, again: false }
            }
        };
        let _ = s.write_all(&answer.encode());
    }

    fn take(&self, s: &mut TcpStream) -> Result<u16, String> {
        let mut r = Reader::default();
        let mut b = vec![0u8; 64 * 1024];
        let mut sender: Option<u16> = None;
        let mut proven = false;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        loop {
            let n = match s.read(&mut b) {
                Ok(0) => return Err("closed before Done".into()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("reading: {e}")),
            };
            let (said, _) = r.push(&b[..n], |_| false);
            for m in said {
                let m = m.map_err(|e| format!("{e:?}"))?;
                match (sender, proven, m) {
                    (
                        None,
                        _,
                        Say::Hello {
                            protocol,
                            sender: id,
                            purpose,
                            terms,
                            ..
                        },
                    ) => {
                        if protocol != crate::meet::PROTOCOL {
                            return Err(format!("handshake protocol {protocol}"));
                        }
                        if purpose != Purpose::Logs {
                            return Err(format!("machine {}: the run has started", self.me));
                        }
                        if usize::from(id) >= self.nonces.len() || id == self.me {
                            return Err(format!("machine id {id} is not a peer"));
                        }
                        if let Some(why) = self.terms.differs(&terms, self.me, id) {
                            return Err(why);
                        }
                        sender = Some(id);
                    }
                    (Some(id), false, Say::Proof { nonce }) => {
                        if nonce != self.nonces[usize::from(id)] {
                            return Err(format!("wrong proof for machine {id}"));
                        }
                        proven = true;
                    }
                    (
                        Some(id),
                        true,
                        Say::File {
                            name,
                            offset,
                            bytes,
                        },
                    ) => {
                        if !allowed(&name, id) {
                            return Err(format!("machine {id} may not hand over {name:?}"));
                        }
                        let f = match files.iter_mut().find(|(n, _)| *n == name) {
                            Some(f) => f,
                            None => {
                                files.push((name, Vec::new()));
                                files.last_mut().ok_or("no file")?
                            }
                        };
                        if offset != f.1.len() as u64 {
                            return Err(format!(
                                "{}: a chunk at {offset}, expected {}",
                                f.0,
                                f.1.len()
                            ));
                        }
                        f.1.extend_from_slice(&bytes);
                    }
                    (Some(id), true, Say::Done) => {
                        for (name, bytes) in &files {
                            self.keep(name, bytes)?;
                        }
                        return Ok(id);
                    }
                    (_, _, other) => {
                        return Err(format!("{other:?} out of turn").chars().take(80).collect());
                    }
                }
            }
        }
    }

    /// Writes `bytes` as `name` in the folder, unless the same bytes are there (machines of
    /// one computer share a folder).
    fn keep(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        let path = self.dir.join(name);
        if let Ok(old) = std::fs::read(&path) {
            if old == bytes {
                return Ok(());
            }
            return Err(format!("{} exists with other content", path.display()));
        }
        let tmp = self.dir.join(format!(".{name}.part"));
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Waits until every machine's files are in, or `deadline`; returns the machines whose
    /// files did not arrive (each marked with a `machine-<id>.log.missing` file that says
    /// `why` for it).
    pub fn wait(&self, deadline: Instant, why: impl Fn(u16) -> String) -> Vec<u16> {
        let Ok(mut a) = self.arrived.lock() else {
            return Vec::new();
        };
        while a.iter().any(|x| !x) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.changed.wait_timeout(a, left) {
                Ok((g, _)) => a = g,
                Err(_) => return Vec::new(),
            }
        }
        let missing: Vec<u16> = (0..a.len() as u16)
            .filter(|&i| !a[usize::from(i)])
            .collect();
        drop(a);
        for &m in &missing {
            let log = folder::log_path(&self.dir, m);
            if !log.exists() {
                let _ = std::fs::write(
                    self.dir.join(format!("machine-{m}.log.missing")),
                    format!("{}\n", why(m)),
                );
            }
        }
        missing
    }
}
