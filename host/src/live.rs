//! The live view: a run's view page served over HTTP while the run runs, each new log row
//! streamed to every open page (Server-Sent Events).
//!
//! The server only reads the run's folder: each page's stream follows the machines' log
//! files from its own offsets ([`Tail`]), so a machine never waits for a page, a slow page
//! only falls behind (and catches up from the files), and a page that connects late gets
//! the whole run so far. It serves two paths: `/` (the page) and `/stream` (the rows);
//! anything else is refused.

use crate::error::{Error, Result};
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
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

/// The new whole lines of a run folder's logs since the last look.
#[derive(Debug)]
pub struct Tail {
    dir: PathBuf,
    files: Vec<Followed>,
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
        }
    }

    /// The new whole lines of every log (a log that appeared since is followed from its
    /// start). A line still being written waits for its end.
    pub fn look(&mut self) -> Found {
        self.discover();
        let mut found = Found::default();
        for f in &mut self.files {
            let Ok(mut file) = File::open(&f.path) else {
                continue;
            };
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
            if self.files.iter().all(|f| f.id != id) {
                self.files.push(Followed {
                    id,
                    path: e.path(),
                    offset: 0,
                    partial: Vec::new(),
                });
                self.files.sort_by_key(|f| f.id);
            }
        }
    }
}

/// What the server and its streams share.
struct Shared {
    dir: PathBuf,
    page: String,
    /// The run's verdict once it is over (JSON), sent to every page.
    ended: Mutex<Option<String>>,
    streams: AtomicUsize,
    stop: AtomicBool,
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

impl Live {
    /// Serves `page` and the rows of the run in `dir` on `addr` (port 0: one the system
    /// picks).
    pub fn serve(dir: &Path, addr: SocketAddr, page: String) -> Result<Self> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| Error::io(format!("cannot serve the live view on {addr}"), e))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::sys("read the live view's address", e))?;
        let server = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| Error::Usage(format!("cannot serve the live view on {bound}: {e}")))?;
        let server = Arc::new(server);
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            page,
            ended: Mutex::new(None),
            streams: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let acceptor = {
            let (server, shared) = (Arc::clone(&server), Arc::clone(&shared));
            std::thread::Builder::new()
                .name("live-view".into())
                .spawn(move || accept(&server, &shared))
                .map_err(|e| Error::sys("start the live view", e))?
        };
        Ok(Self {
            url: format!("http://{bound}/"),
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

    /// The run is over: every page is told `verdict` (JSON) once it has every row.
    pub fn ended(&self, verdict: &serde_json::Value) {
        if let Ok(mut e) = self.shared.ended.lock() {
            *e = Some(verdict.to_string());
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
                tiny_http::Response::from_string(shared.page.clone()).with_header(header(
                    "Content-Type",
                    "text/html; charset=utf-8",
                )),
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
    let mut told_end = false;
    let mut idle = 0u32;
    while !shared.stop.load(Ordering::SeqCst) {
        let found = tail.look();
        if found.lines.is_empty() {
            let ended = shared.ended.lock().ok().and_then(|e| e.clone());
            match ended {
                Some(v) if !told_end => {
                    write!(out, "event: ended\ndata: {v}\n\n")?;
                    out.flush()?;
                    told_end = true;
                }
                _ => {
                    // A comment now and then: a page that went away is noticed.
                    idle += 1;
                    if idle % 50 == 0 {
                        out.write_all(b": idle\n\n")?;
                        out.flush()?;
                    }
                }
            }
            std::thread::sleep(POLL);
            continue;
        }
        idle = 0;
        for (m, line) in &found.lines {
            let row = serde_json::json!({ "m": m, "line": line });
            write!(out, "event: row\ndata: {row}\n\n")?;
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
