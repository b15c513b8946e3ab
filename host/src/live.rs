//! The live view: a run's view page ([`crate::page`]) served over HTTP while the run runs,
//! each new log row streamed to every open page (Server-Sent Events) in the page's own
//! column form: a `machine` event with each machine's header, `rows` events with the rows
//! that followed, `ended` with the checker's verdict once the run is over, `behind` when a
//! page is catching up.
//!
//! The server only reads the run's folder: each page's stream follows the machines' log
//! files from its own offsets ([`Tail`]), so a machine never waits for a page, a slow page
//! only falls behind (and catches up from the files), and a page that connects late gets
//! the whole run so far. It serves two paths: `/` (the page) and `/stream` (the rows);
//! anything else is refused.

use crate::{
    check::{self, Head},
    error::{Error, Result},
    page::{self, Builder, Page},
};
use lamport_core::record::{Header, Record};
use std::{
    fs::File,
    io::{Read, Seek, SeekFrom, Write},
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

/// How often a stream looks for new rows.
pub const POLL: Duration = Duration::from_millis(20);

/// Most pages streaming at once; more are refused (each holds a thread).
pub const MAX_STREAMS: usize = 64;

/// Most bytes of one log a stream sends in one turn: a page far behind catches up in steps
/// and is told how far behind it is.
const CATCH_UP_BYTES: usize = 1 << 20;

/// One machine's log file as a stream follows it.
#[derive(Debug)]
struct Followed {
    id: u16,
    file: File,
    offset: u64,
    partial: Vec<u8>,
}

/// The new whole lines of a run folder's logs since the last look.
#[derive(Debug)]
pub struct Tail {
    dir: PathBuf,
    files: Vec<Followed>,
    looks: u32,
}

/// What a look at the folder found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// New whole lines, each with its machine, in file order per machine.
    pub lines: Vec<(u16, String)>,
    /// Bytes still unread after this look (a page this far behind catches up).
    pub behind: u64,
}

impl Tail {
    /// Follows the logs of `dir` from their beginning.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            files: Vec::new(),
            looks: 0,
        }
    }

    /// The new whole lines of every log (a log that appeared since is followed from its
    /// start). A line still being written waits for its end.
    pub fn look(&mut self) -> Found {
        // The folder is listed at every look for the first 50 (about a second), then every
        // 25th (a run's logs appear together at its start); each log stays open.
        if self.looks < 50 || self.looks.is_multiple_of(25) {
            self.discover();
        }
        self.looks = self.looks.wrapping_add(1);
        let mut found = Found::default();
        for f in &mut self.files {
            let file = &mut f.file;
            let len = file.metadata().map_or(0, |m| m.len());
            if len <= f.offset || file.seek(SeekFrom::Start(f.offset)).is_err() {
                continue;
            }
            let take = (len - f.offset).min(CATCH_UP_BYTES as u64);
            let mut buf = vec![0u8; take as usize];
            let Ok(()) = file.read_exact(&mut buf) else {
                continue;
            };
            f.offset += take;
            found.behind += len - f.offset;
            f.partial.extend_from_slice(&buf);
            let Some(last) = f.partial.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            let rest = f.partial.split_off(last + 1);
            for line in f.partial.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                found
                    .lines
                    .push((f.id, String::from_utf8_lossy(line).into_owned()));
            }
            f.partial = rest;
        }
        found
    }

    /// Starts following every `machine-<id>.log` not followed yet.
    fn discover(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_prefix("machine-")?.strip_suffix(".log"))
                .and_then(|n| n.parse::<u16>().ok())
            else {
                continue;
            };
            if self.files.iter().all(|f| f.id != id)
                && let Ok(file) = File::open(e.path())
            {
                self.files.push(Followed {
                    id,
                    file,
                    offset: 0,
                    partial: Vec::new(),
                });
                self.files.sort_by_key(|f| f.id);
            }
        }
    }
}

/// One page's view of one machine's log: its header lines so far, then its rows.
#[derive(Debug)]
enum Feed {
    /// Header lines seen (the first says how many there are).
    Header { seen: usize, needed: usize },
    /// Rows, into the page's columns.
    Rows {
        builder: Box<Builder>,
        machines: u16,
    },
    /// A log this server cannot read (the checker will say why).
    Broken,
}

/// Turns the lines a [`Tail`] finds into the page's events.
#[derive(Debug)]
struct Encoder {
    dir: PathBuf,
    feeds: std::collections::BTreeMap<u16, Feed>,
}

impl Encoder {
    fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            feeds: std::collections::BTreeMap::new(),
        }
    }

    /// The events of `lines` (one machine's, in file order): its header once it is whole,
    /// and the rows that follow as one chunk.
    fn events(&mut self, m: u16, lines: &[String]) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let feed = self.feeds.entry(m).or_insert(Feed::Header {
            seen: 0,
            needed: usize::MAX,
        });
        for line in lines {
            match feed {
                Feed::Header { seen, needed } => {
                    if *seen == 0 {
                        *needed = match Header::check_version(line) {
                            Ok(2) => 4,
                            Ok(_) => 3,
                            Err(_) => usize::MAX,
                        };
                    }
                    *seen += 1;
                    if *seen == *needed {
                        *feed = match check::read_head(&crate::folder::log_path(&self.dir, m)) {
                            Ok((head, _)) => {
                                out.push(("machine", machine_event(&head)));
                                let machines = head.header.machines;
                                let builder = Box::new(Builder::new(&head, &head.faults, None));
                                Feed::Rows { builder, machines }
                            }
                            Err(_) => Feed::Broken,
                        };
                    }
                }
                Feed::Rows { builder, machines } => {
                    if let Ok(rec) = Record::parse(line, *machines) {
                        builder.push(&rec);
                    }
                }
                Feed::Broken => {}
            }
        }
        if let Feed::Rows { builder, .. } = feed {
            let chunk = builder.take();
            if chunk.rows() > 0 {
                out.push(("rows", serde_json::to_string(&chunk).unwrap_or_default()));
            }
        }
        out
    }
}

/// The `machine` event of a log whose header is `head`: the run's fields from it, and the
/// machine with no rows yet.
fn machine_event(head: &Head) -> String {
    let mut run = Page::default();
    page::run_fields(&mut run, &head.header, &head.faults);
    let machine = Builder::new(head, &head.faults, None).header();
    serde_json::json!({ "run": run, "machine": machine }).to_string()
}

/// What the server and its streams share.
struct Shared {
    dir: PathBuf,
    page: String,
    /// The run's verdict once it is over (JSON), sent to every page.
    ended: Mutex<Option<String>>,
    streams: AtomicUsize,
    stop: AtomicBool,
    /// Bumped whenever a log grows or the run ends: the streams wait on it instead of
    /// each looking at the files every [`POLL`].
    changes: Mutex<u64>,
    changed: std::sync::Condvar,
}

impl Shared {
    /// Tells every waiting stream that something changed.
    fn bump(&self) {
        if let Ok(mut g) = self.changes.lock() {
            *g = g.wrapping_add(1);
        }
        self.changed.notify_all();
    }

    /// Waits until something changes after `seen`, at most `limit`; returns the new count.
    fn wait_change(&self, seen: u64, limit: Duration) -> u64 {
        let Ok(g) = self.changes.lock() else {
            return seen;
        };
        match self.changed.wait_timeout_while(g, limit, |g| *g == seen) {
            Ok((g, _)) => *g,
            Err(_) => seen,
        }
    }
}

/// Looks at the sizes of the folder's logs every [`POLL`] and bumps `shared` when they
/// change: one thread looks, however many pages stream.
fn watch(shared: &Shared) {
    let mut last = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        let size: u64 = std::fs::read_dir(&shared.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".log")))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        if size != last {
            last = size;
            shared.bump();
        }
        std::thread::sleep(POLL);
    }
}

/// A live view being served.
pub struct Live {
    url: String,
    server: Arc<tiny_http::Server>,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("url", &self.url).finish()
    }
}

/// The live view's address, taken before anything is served: a host prints it first, and
/// host-unix takes it before it forks (the server's threads start after).
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Bound {
    /// Takes `addr` (port 0: one the system picks).
    pub fn new(addr: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| Error::io(format!("cannot serve the live view on {addr}"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::sys("read the live view's address", e))?;
        Ok(Self { listener, addr })
    }

    /// Takes the address `--view` asked for, if any, and prints the page's address (first,
    /// so a terminal makes it clickable).
    pub fn open(view: Option<SocketAddr>) -> Result<Option<Self>> {
        let Some(addr) = view else {
            return Ok(None);
        };
        let b = Self::new(addr)?;
        crate::out::print_or_drop(format_args!("live view: {}\n", b.url()));
        Ok(Some(b))
    }

    /// The page's address.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Serves the live page of the run in `dir`, made by `program`.
    pub fn serve(self, dir: &Path, program: &str) -> Result<Live> {
        let page = page::html(
            &dir.display().to_string(),
            &page::live(dir, program, &format!("{program} {}", crate::VERSION)),
        )
        .map_err(Error::Usage)?;
        Live::serve(self, dir, page)
    }
}

impl Live {
    /// Serves `page` and the rows of the run in `dir` on `bound`.
    fn serve(bound: Bound, dir: &Path, page: String) -> Result<Self> {
        let url = bound.url();
        let server = tiny_http::Server::from_listener(bound.listener, None)
            .map_err(|e| Error::Usage(format!("cannot serve the live view on {url}: {e}")))?;
        let server = Arc::new(server);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            page,
            ended: Mutex::new(None),
            streams: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            changes: Mutex::new(0),
            changed: std::sync::Condvar::new(),
        });
        {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("live-watch".into())
                .spawn(move || watch(&shared))
                .map_err(|e| Error::sys("start the live view", e))?;
        }
        let acceptor = {
            let (server, shared) = (Arc::clone(&server), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("live-view".into())
                .spawn(move || accept(&server, &shared))
                .map_err(|e| Error::sys("start the live view", e))?
        };
        Ok(Self {
            url,
            server,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The page's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Pages streaming now.
    pub fn streams(&self) -> usize {
        self.shared.streams.load(Ordering::SeqCst)
    }

    /// The run is over and `report` is its check: every page is told once it has every
    /// row. Waits until each page streaming now has been told, at most `wait`.
    pub fn ended(
        &self,
        report: &std::result::Result<check::CheckReport, check::CheckError>,
        wait: Duration,
    ) {
        let (check, check_ok) = match report {
            Ok(r) => page::verdict(r),
            Err(e) => (format!("cannot check the logs: {e}"), false),
        };
        let v = serde_json::json!({ "check": check, "check_ok": check_ok });
        if let Ok(mut e) = self.shared.ended.lock() {
            *e = Some(v.to_string());
        }
        self.shared.bump();
        let until = std::time::Instant::now() + wait;
        while self.streams() > 0 && std::time::Instant::now() < until {
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

/// Answers requests until the server stops: the page, a stream (on its own thread), or
/// a refusal.
fn accept(server: &tiny_http::Server, shared: &Arc<Shared>) {
    for request in server.incoming_requests() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let path = request.url().split('?').next().unwrap_or("").to_string();
        let get = *request.method() == tiny_http::Method::Get;
        let _ = match (get, path.as_str()) {
            (true, "/") => request.respond(
                tiny_http::Response::from_string(shared.page.clone())
                    .with_header(header("Content-Type", "text/html; charset=utf-8")),
            ),
            (true, "/stream") if shared.streams.load(Ordering::SeqCst) < MAX_STREAMS => {
                shared.streams.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(shared);
                let spawned = std::thread::Builder::new()
                    .name("live-stream".into())
                    .spawn(move || {
                        let _ = stream(request.into_writer(), &shared);
                        shared.streams.fetch_sub(1, Ordering::SeqCst);
                    });
                spawned.map(|_| ())
            }
            (true, "/stream") => request.respond(
                tiny_http::Response::from_string("too many pages are streaming this run\n")
                    .with_status_code(503),
            ),
            _ => request
                .respond(tiny_http::Response::from_string("not found\n").with_status_code(404)),
        };
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .expect("a header made of ASCII")
}

/// One page's stream: every row of the run so far, then each new one as it is written,
/// then the verdict. Ends when the page goes away or the server stops.
fn stream(mut out: Box<dyn Write + Send>, shared: &Shared) -> std::io::Result<()> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
    )?;
    out.flush()?;
    let mut tail = Tail::new(&shared.dir);
    let mut encoder = Encoder::new(&shared.dir);
    let mut seen = 0u64;
    while !shared.stop.load(Ordering::SeqCst) {
        let found = tail.look();
        if found.lines.is_empty() {
            let ended = shared.ended.lock().ok().and_then(|e| e.clone());
            match ended {
                Some(v) => {
                    write!(out, "event: ended\ndata: {v}\n\n")?;
                    out.flush()?;
                    return Ok(());
                }
                _ => {
                    // Wait for a log to grow (or the end); a comment after a quiet second:
                    // a page that went away is noticed.
                    let now = shared.wait_change(seen, Duration::from_secs(1));
                    if now == seen {
                        out.write_all(b": idle\n\n")?;
                        out.flush()?;
                    }
                    seen = now;
                }
            }
            continue;
        }
        let mut lines = found.lines.into_iter().peekable();
        while let Some((m, first)) = lines.next() {
            let mut batch = vec![first];
            while let Some((_, l)) = lines.next_if(|(n, _)| *n == m) {
                batch.push(l);
            }
            for (event, data) in encoder.events(m, &batch) {
                write!(out, "event: {event}\ndata: {data}\n\n")?;
            }
        }
        if found.behind > 0 {
            write!(out, "event: behind\ndata: {}\n\n", found.behind)?;
        }
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_gives_whole_lines_once_and_follows_logs_that_appear_later() {
        let dir = tempfile_dir();
        let p0 = dir.join("machine-0.log");
        std::fs::write(&p0, "a\nb\npart").unwrap();
        let mut t = Tail::new(&dir);
        assert_eq!(
            t.look().lines,
            vec![(0, "a".to_string()), (0, "b".to_string())]
        );
        assert!(t.look().lines.is_empty());
        let mut f = std::fs::OpenOptions::new().append(true).open(&p0).unwrap();
        f.write_all(b"ial\nc\n").unwrap();
        std::fs::write(dir.join("machine-1.log"), "x\n").unwrap();
        std::fs::write(dir.join("run.json"), "{}\n").unwrap();
        assert_eq!(
            t.look().lines,
            vec![
                (0, "partial".to_string()),
                (0, "c".to_string()),
                (1, "x".to_string())
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "lamport-live-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
