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
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// Bytes of a file per `File` message.
const CHUNK: usize = 128 * 1024;

/// A hand-over that received nothing for this long no longer holds its keeper (and a
/// sender whose write or read waits this long gives up on that try).
const STALL: Duration = Duration::from_secs(10);

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
    // Once connected, each write and read may wait up to `STALL`: a slow link goes on as
    // long as it moves (the keeper waits for it too).
    let _ = s.set_read_timeout(Some(STALL));
    let _ = s.set_write_timeout(Some(STALL));
    let mut say = |m: &Say| s.write_all(&m.encode());
    say(&Say::Hello {
        protocol: crate::meet::PROTOCOL,
        sender: me,
        purpose: Purpose::Logs,
        collects: false,
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
    /// The nonce this machine's `Hello` carried to each machine: its proof.
    nonces: Vec<u64>,
    arrived: Mutex<Vec<bool>>,
    changed: Condvar,
    /// Proven hand-overs under way, and when one last received bytes: the keeper waits
    /// past its deadline while they make progress (a slow link).
    busy: AtomicUsize,
    progress_at: Mutex<Instant>,
}

/// Counts a proven hand-over under way while it lives.
struct Busy<'a>(&'a Keeper);

impl<'a> Busy<'a> {
    fn new(k: &'a Keeper) -> Self {
        k.busy.fetch_add(1, Ordering::SeqCst);
        k.progress();
        Self(k)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_all();
    }
}

impl Keeper {
    /// Machine `me`'s keeper in `dir`; `nonces` prove the machines that hand files over.
    pub fn new(dir: &Path, me: u16, nonces: Vec<u64>) -> Self {
        let n = nonces.len();
        let mut arrived = vec![false; n];
        arrived[usize::from(me)] = true;
        Self {
            dir: dir.to_path_buf(),
            nonces,
            arrived: Mutex::new(arrived),
            changed: Condvar::new(),
            busy: AtomicUsize::new(0),
            progress_at: Mutex::new(Instant::now()),
        }
    }

    /// Takes the files of one connection whose (proven) `Hello` came from `id`.
    /// `first`: the bytes that came after the `Hello`.
    fn take_files(
        &self,
        id: u16,
        s: &mut TcpStream,
        first: Vec<u8>,
        proven_flag: &AtomicBool,
    ) -> Result<(), String> {
        let mut r = Reader::default();
        let _busy = Busy::new(self);
        let mut b = vec![0u8; 64 * 1024];
        let mut proven = false;
        // Each file goes to disk as it comes (a part file), never whole into memory.
        let mut files: Vec<Part> = Vec::new();
        let mut pending = Some(first);
        loop {
            let bytes = match pending.take() {
                Some(first) => first,
                None => match s.read(&mut b) {
                    Ok(0) => return Err("closed before Done".into()),
                    Ok(n) => {
                        if proven {
                            self.progress();
                        }
                        b[..n].to_vec()
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(format!("reading: {e}")),
                },
            };
            let (said, _) = r.push(&bytes, |_| false);
            for m in said {
                match (proven, m.map_err(|g| g.to_string())?) {
                    (false, Say::Proof { nonce }) => {
                        if nonce != self.nonces[usize::from(id)] {
                            return Err(format!("wrong proof for machine {id}"));
                        }
                        proven = true;
                        proven_flag.store(true, Ordering::SeqCst);
                    }
                    (
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
                        let at = match files.iter().position(|f| f.name == name) {
                            Some(i) => i,
                            None => {
                                files.push(Part::open(&self.dir, name)?);
                                files.len() - 1
                            }
                        };
                        files[at].append(offset, &bytes)?;
                    }
                    (true, Say::Done) => {
                        for f in files.drain(..) {
                            f.keep(&self.dir)?;
                        }
                        return Ok(());
                    }
                    (_, other) => return Err(format!("{} out of turn", crate::meet::name(&other))),
                }
            }
        }
    }

    /// Bytes of a proven hand-over came.
    fn progress(&self) {
        if let Ok(mut p) = self.progress_at.lock() {
            *p = Instant::now();
        }
    }

    /// A hand-over is under way and received bytes within [`STALL`].
    fn moving(&self) -> bool {
        self.busy.load(Ordering::SeqCst) > 0
            && self.progress_at.lock().is_ok_and(|p| p.elapsed() < STALL)
    }

    /// Machine `id`'s files are in (and it was told so: the process may end now).
    fn arrived(&self, id: u16) {
        if let Ok(mut a) = self.arrived.lock() {
            a[usize::from(id)] = true;
        }
        self.changed.notify_all();
    }

    /// Waits until every machine's files are in, or `deadline` (later while a hand-over
    /// still receives bytes); removes what hand-overs left unfinished; returns the machines whose
    /// files did not arrive (each marked with a `machine-<id>.log.missing` file that says
    /// `why` for it).
    pub fn wait(&self, deadline: Instant, why: impl Fn(u16) -> String) -> Vec<u16> {
        let Ok(mut a) = self.arrived.lock() else {
            return Vec::new();
        };
        while a.iter().any(|x| !x) {
            // Past the deadline only while a hand-over still moves (a slow link).
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() && !self.moving() {
                break;
            }
            let step = if left.is_zero() {
                Duration::from_millis(200)
            } else {
                left
            };
            match self.changed.wait_timeout(a, step) {
                Ok((g, _)) => a = g,
                Err(_) => return Vec::new(),
            }
        }
        // A hand-over still under way at the end leaves no part file behind.
        let mine = format!(".part-{}-", std::process::id());
        for e in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            if e.file_name().to_string_lossy().contains(&mine) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        // A machine of this computer that shares the folder wrote its log here itself.
        let missing: Vec<u16> = (0..a.len() as u16)
            .filter(|&i| !a[usize::from(i)] && !folder::log_path(&self.dir, i).exists())
            .collect();
        drop(a);
        for &m in &missing {
            let _ = std::fs::write(
                self.dir.join(format!("machine-{m}.log.missing")),
                format!("{}\n", why(m)),
            );
        }
        missing
    }
}

/// Who answers a machine's listening address once its run has started: the keeper of the
/// peers' files (machine 0), or no one; everyone else is refused, each with why. At most
/// [`Door::cap`] connections are answered at once: past it the oldest is closed for a
/// newcomer, so that connections that say nothing cannot keep a machine's files out.
#[derive(Debug)]
pub struct Door {
    me: u16,
    terms: Terms,
    keeper: Option<Arc<Keeper>>,
    /// The connections being answered: their number, a clone to close one, and whether
    /// it proved it is a machine of the run (such a one never gives way).
    open: Mutex<Vec<(u64, TcpStream, Arc<AtomicBool>)>>,
    next: std::sync::atomic::AtomicU64,
}

impl Door {
    /// Machine `me`'s door for the run of `terms`, with its keeper if it keeps files.
    pub fn new(me: u16, terms: Terms, keeper: Option<Arc<Keeper>>) -> Self {
        Self {
            me,
            terms,
            keeper,
            open: Mutex::new(Vec::new()),
            next: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Connections answered at once: two per machine and [`crate::meet::EXTRA_PENDING`].
    pub fn cap(&self) -> usize {
        2 * self.terms.peers.len() + crate::meet::EXTRA_PENDING
    }

    /// Answers one connection (on the caller's thread).
    pub fn serve(&self, mut s: TcpStream) {
        let from = s.peer_addr().map_or_else(|_| "?".into(), |a| a.to_string());
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let proven = Arc::new(AtomicBool::new(false));
        if let Ok(mut open) = self.open.lock() {
            let unproven = |o: &Vec<(u64, TcpStream, Arc<AtomicBool>)>| {
                o.iter()
                    .filter(|(_, _, p)| !p.load(Ordering::SeqCst))
                    .count()
            };
            if unproven(&open) >= self.cap()
                && let Some(at) = open.iter().position(|(_, _, p)| !p.load(Ordering::SeqCst))
            {
                let (_, oldest, _) = open.remove(at);
                let _ = oldest.shutdown(std::net::Shutdown::Both);
                self.note(
                    &oldest
                        .peer_addr()
                        .map_or_else(|_| "?".into(), |a| a.to_string()),
                    &format!("{} connections were open; the oldest gives way", self.cap()),
                );
            }
            if let Ok(c) = s.try_clone() {
                open.push((id, c, Arc::clone(&proven)));
            }
        }
        let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
        let (answer, kept) = match self.answer(&mut s, &proven) {
            Ok(id) => (Say::Kept, Some(id)),
            Err(why) => {
                // One that gave way was named when it did.
                let evicted = self
                    .open
                    .lock()
                    .is_ok_and(|open| !open.iter().any(|(i, _, _)| *i == id));
                if !evicted {
                    self.note(&from, &why);
                }
                (Say::Refused { why, again: false }, None)
            }
        };
        let told = s.write_all(&answer.encode()).is_ok();
        // Only once the sender is told: the keeper's process may end as soon as the last
        // machine's files are in.
        if let (Some(id), Some(k), true) = (kept, &self.keeper, told) {
            k.arrived(id);
        }
        if let Ok(mut open) = self.open.lock() {
            open.retain(|(i, _, _)| *i != id);
        }
    }

    fn note(&self, from: &str, why: &str) {
        eprintln!(
            "host-tcp: machine {}: refused connection from {from}: {why}",
            self.me
        );
    }

    /// The first message within [`crate::meet::SILENCE_NS`], then the files if it is a
    /// keeper's business.
    fn answer(&self, s: &mut TcpStream, proven: &AtomicBool) -> Result<u16, String> {
        let silence = Duration::from_nanos(crate::meet::SILENCE_NS);
        let until = Instant::now() + silence;
        let mut r = Reader::default();
        let mut b = [0u8; 4096];
        let mut got_any = false;
        let rest;
        let hello = loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(crate::meet::silence(got_any));
            }
            let _ = s.set_read_timeout(Some(left));
            let n = match s.read(&mut b) {
                Ok(0) => return Err("closed before saying Hello".into()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(crate::meet::silence(got_any));
                }
                Err(e) => return Err(format!("reading: {e}")),
            };
            got_any = true;
            let (said, after) = r.push(&b[..n], |_| true);
            if let Some(first) = said.into_iter().next() {
                rest = after.unwrap_or_default();
                break first.map_err(|g| g.to_string())?;
            }
        };
        let Say::Hello {
            protocol,
            sender,
            purpose,
            terms,
            ..
        } = hello
        else {
            return Err(format!("{} before Hello", crate::meet::name(&hello)));
        };
        crate::meet::judge_hello(&self.terms, self.me, protocol, sender, &terms)?;
        match (purpose, &self.keeper) {
            (Purpose::Logs, Some(k)) => {
                let _ = s.set_read_timeout(Some(SERVE_TIMEOUT));
                k.take_files(sender, s, rest, proven).map(|()| sender)
            }
            (Purpose::Logs, None) => Err(format!(
                "machine {} keeps no files (machine 0 does)",
                self.me
            )),
            (Purpose::Link, _) => Err(format!("machine {}: the run has started", self.me)),
        }
    }
}

/// A file being handed over: written to `.<name>.part-<pid>-<n>` as its chunks come, then
/// renamed to `name` (or, when the same bytes are there already, dropped). A part left
/// behind (the connection broke) is removed when the part is dropped.
#[derive(Debug)]
struct Part {
    name: String,
    tmp: PathBuf,
    file: std::fs::File,
    len: u64,
}

impl Part {
    fn open(dir: &Path, name: String) -> Result<Self, String> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        let tmp = dir.join(format!(".{name}.part-{}-{k}", std::process::id()));
        let file = std::fs::File::create(&tmp)
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        Ok(Self {
            name,
            tmp,
            file,
            len: 0,
        })
    }

    fn append(&mut self, offset: u64, bytes: &[u8]) -> Result<(), String> {
        if offset != self.len {
            return Err(format!(
                "{}: a chunk at {offset}, expected {}",
                self.name, self.len
            ));
        }
        self.file
            .write_all(bytes)
            .map_err(|e| format!("cannot write {}: {e}", self.tmp.display()))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Puts the file in place, unless the same bytes are there (machines of one computer
    /// share a folder); other bytes there are refused.
    fn keep(self, dir: &Path) -> Result<(), String> {
        let path = dir.join(&self.name);
        if path.exists() {
            let same = std::fs::read(&path)
                .ok()
                .zip(std::fs::read(&self.tmp).ok())
                .is_some_and(|(a, b)| a == b);
            return if same {
                Ok(())
            } else {
                Err(format!("{} exists with other content", path.display()))
            };
        }
        std::fs::rename(&self.tmp, &path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}
