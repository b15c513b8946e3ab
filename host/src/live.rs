//! The live view: a run's view page ([`crate::page`]) served over HTTP while the run runs,
//! each new log row streamed to every open page (Server-Sent Events) in the page's own
//! column form: a `machine` event with each machine's header, `rows` events with the rows
//! that followed, `ended` with the checker's verdict once the run is over, `behind` when a
//! page is catching up.
//!
//! The server only reads the run's folder: one reader follows the machines' log files
//! ([`Tail`]) and encodes each new row once into the run's stream, which every page is
//! written from its own place in; a machine never waits for a page, a slow page only
//! falls behind (it is told how far, and catches up), and a page that connects late gets
//! the whole run so far. It serves two paths: `/` (the page) and `/stream` (the rows);
//! anything else is refused.

use crate::{
    check::{self, Head},
    error::{Error, Result},
    follow::Follow,
    page::{self, Builder, Page},
};
use lamport_core::record::Record;
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

/// How often a stream looks for new rows.
pub const POLL: Duration = Duration::from_millis(20);

/// Most pages streaming at once; more are refused (each holds a thread).
pub const MAX_STREAMS: usize = 64;

/// Most bytes of one log the reader takes in one look: a long run's folder is read in
/// steps.
const CATCH_UP_BYTES: u64 = 1 << 20;

/// The new whole lines of a run folder's logs since the last look.
#[derive(Debug)]
pub struct Tail {
    dir: PathBuf,
    /// Each machine's log, by id.
    files: Vec<(u16, Follow)>,
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
        for (id, f) in &mut self.files {
            let (whole, behind) = f.whole_lines(CATCH_UP_BYTES);
            found.behind += behind;
            for line in whole.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                found
                    .lines
                    .push((*id, String::from_utf8_lossy(line).into_owned()));
            }
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
            if self.files.iter().all(|f| f.0 != id) {
                self.files.push((id, Follow::new(e.path())));
                self.files.sort_by_key(|f| f.0);
            }
        }
    }
}

/// The reader's view of one machine's log: its header lines so far, then its rows.
#[derive(Debug)]
enum Feed {
    /// Header lines seen.
    Header { seen: usize },
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
        let feed = self.feeds.entry(m).or_insert(Feed::Header { seen: 0 });
        for line in lines {
            match feed {
                Feed::Header { seen } => {
                    // The header is whole once the checker's reader takes it, and it says
                    // how many lines it has (3 for v1, 4 for v2).
                    *seen += 1;
                    if *seen < 3 {
                        continue;
                    }
                    match check::read_head(&crate::folder::log_path(&self.dir, m)) {
                        Ok((head, _)) if head.lines == *seen => {
                            out.push(("machine", machine_event(&head)));
                            let machines = head.header.machines;
                            let builder = Box::new(Builder::new(&head, &head.faults, None));
                            *feed = Feed::Rows { builder, machines };
                        }
                        Ok(_) => {}
                        Err(_) if *seen < 4 => {}
                        Err(_) => *feed = Feed::Broken,
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
    /// The run's verdict once it is over (JSON), for the reader to send last.
    ended: Mutex<Option<String>>,
    /// Every event of the run so far, in the order the reader made them.
    history: Mutex<History>,
    /// Signalled when the history grows.
    grew: std::sync::Condvar,
    streams: AtomicUsize,
    stop: AtomicBool,
}

/// The run's stream as one reader made it: each event encoded once, then written to every
/// page from its own place in it.
#[derive(Default)]
struct History {
    /// Each event as its Server-Sent Events text.
    events: Vec<Arc<str>>,
    /// The last event is `ended`: nothing follows.
    done: bool,
}

/// Wakes the reader when the folder's files change (inotify), at most every [`POLL`]; or,
/// where inotify is missing, every [`POLL`].
struct Changes {
    inotify: Option<nix::sys::inotify::Inotify>,
    last: std::time::Instant,
}

impl Changes {
    fn new(dir: &Path) -> Self {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .ok()
            .filter(|i| {
                let what = AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE;
                i.add_watch(dir, what).is_ok()
            });
        Self {
            inotify,
            last: std::time::Instant::now(),
        }
    }

    /// Returns once a file changed (or after 200 ms: the run may have ended), no sooner
    /// than [`POLL`] after the last return: a burst of rows is read in one look.
    fn wait(&mut self) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let since = self.last.elapsed();
        if since < POLL {
            std::thread::sleep(POLL - since);
        }
        match &self.inotify {
            Some(i) => {
                let mut fds = [PollFd::new(i.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(200u16));
                let _ = i.read_events();
            }
            None => std::thread::sleep(POLL),
        }
        self.last = std::time::Instant::now();
    }
}

/// The one reader: follows the folder's logs as they change, encodes what they gained
/// once, and appends it to the history; once the run is over and every row is read, adds
/// `ended` and stops.
fn read_run(shared: &Shared) {
    let mut tail = Tail::new(&shared.dir);
    let mut encoder = Encoder::new(&shared.dir);
    let mut changes = Changes::new(&shared.dir);
    while !shared.stop.load(Ordering::SeqCst) {
        let found = tail.look();
        let mut new: Vec<Arc<str>> = Vec::new();
        let mut lines = found.lines.into_iter().peekable();
        while let Some((m, first)) = lines.next() {
            let mut batch = vec![first];
            while let Some((_, l)) = lines.next_if(|(n, _)| *n == m) {
                batch.push(l);
            }
            for (event, data) in encoder.events(m, &batch) {
                new.push(format!("event: {event}\ndata: {data}\n\n").into());
            }
        }
        let idle = new.is_empty() && found.behind == 0;
        let verdict = shared.ended.lock().ok().and_then(|e| e.clone());
        let last = match (idle, verdict) {
            (true, Some(v)) => {
                new.push(format!("event: ended\ndata: {v}\n\n").into());
                true
            }
            _ => false,
        };
        if !new.is_empty()
            && let Ok(mut h) = shared.history.lock()
        {
            h.events.extend(new);
            h.done = last;
            shared.grew.notify_all();
        }
        if last {
            return;
        }
        if idle {
            changes.wait();
        }
    }
}

/// A live view being served.
pub struct Live {
    url: String,
    shared: Arc<Shared>,
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

    /// The address another process took and handed over as `fd` (its listening socket).
    pub fn from_fd(fd: std::os::fd::OwnedFd) -> Result<Self> {
        let listener = TcpListener::from(fd);
        let addr = listener
            .local_addr()
            .map_err(|e| Error::sys("read the live view's address", e))?;
        Ok(Self { listener, addr })
    }

    /// The listening socket, to hand to another process.
    pub fn into_fd(self) -> std::os::fd::OwnedFd {
        self.listener.into()
    }

    /// Serves the run in `dir` made by `program` until no process writes it any more
    /// ([`crate::folder::Writers`]), then tells every page the checker's verdict; then
    /// serves on for pages that open later (`linger`: until the process is stopped) or
    /// returns.
    pub fn serve_while_written(self, dir: &Path, program: &str, linger: bool) -> Result<()> {
        let live = self.serve(dir, program)?;
        while !crate::folder::Writers::of(dir).running.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
        let report = check::check_folder(dir, &check::CheckOptions::default()).map(|f| f.report);
        live.ended(&report, Duration::from_secs(2));
        if linger {
            loop {
                std::thread::park();
            }
        }
        Ok(())
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
        let listener = bound.listener;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            page,
            ended: Mutex::new(None),
            history: Mutex::new(History::default()),
            grew: std::sync::Condvar::new(),
            streams: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("live-read".into())
                .spawn(move || read_run(&shared))
                .map_err(|e| Error::sys("start the live view", e))?;
        }
        {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("live-view".into())
                .spawn(move || accept(&listener, &shared))
                .map_err(|e| Error::sys("start the live view", e))?;
        }
        Ok(Self { url, shared })
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
        let until = std::time::Instant::now() + wait;
        while self.streams() > 0 && std::time::Instant::now() < until {
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // The threads see it and end; none is joined: a thread writing to a page that does
        // not read must not hold the process.
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// Most connections being answered at once besides the streams; one beyond is closed
/// unanswered.
const MAX_ANSWERS: usize = 64;

/// How long a client may take to send its request, and to take a page or a refusal.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A stream's page that takes nothing for this long is dropped (it may connect again and
/// catch up): its thread is not held for ever.
const STREAM_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Takes connections until the server stops and answers each on a thread of its own, one
/// request per connection (`Connection: close`): the page, a stream, or a refusal. A client
/// that does not read stalls only its own answer, and only until its timeout.
fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    let answering = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(conn) = conn else { continue };
        if answering.load(Ordering::SeqCst) >= MAX_ANSWERS + MAX_STREAMS {
            continue; // dropped: closed unanswered
        }
        answering.fetch_add(1, Ordering::SeqCst);
        let (count, shared) = (Arc::clone(&answering), Arc::clone(shared));
        let spawned = std::thread::Builder::new()
            .name("live-answer".into())
            .spawn(move || {
                let _ = answer(conn, &shared);
                count.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            answering.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads one request from `conn` and answers it.
fn answer(mut conn: std::net::TcpStream, shared: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    conn.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let Some((method, path, head)) = request_line(&mut conn)? else {
        return Ok(());
    };
    let (path, query) = path.split_once('?').unwrap_or((&path, ""));
    let reply = |conn: &mut std::net::TcpStream, status: &str, kind: &str, body: &str| {
        write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match (method.as_str(), path) {
        ("GET", "/") => reply(
            &mut conn,
            "200 OK",
            "text/html; charset=utf-8",
            &shared.page,
        ),
        ("GET", "/stream") => {
            if shared.streams.fetch_add(1, Ordering::SeqCst) >= MAX_STREAMS {
                shared.streams.fetch_sub(1, Ordering::SeqCst);
                let why = "too many pages are streaming this run\n";
                return reply(&mut conn, "503 Service Unavailable", "text/plain", why);
            }
            conn.set_write_timeout(Some(STREAM_WRITE_TIMEOUT))?;
            let told = stream(Box::new(conn), shared);
            shared.streams.fetch_sub(1, Ordering::SeqCst);
            told
        }
        ("POST", "/control") => {
            let marked = headers_say_control(&head) && host_is_loopback(&head);
            let (status, body) = control(&conn, marked, query, &shared.dir);
            reply(&mut conn, status, "text/plain; charset=utf-8", &body)
        }
        _ => reply(&mut conn, "404 Not Found", "text/plain", "not found\n"),
    }
}

/// True when the request carries `X-Lamport-Control: 1`: a header a page from another site
/// cannot send without asking first (which this server never allows), so a page elsewhere
/// cannot pause the run behind the teacher's back.
fn headers_say_control(head: &str) -> bool {
    head.lines()
        .any(|l| l.trim().eq_ignore_ascii_case("x-lamport-control: 1"))
}

/// True when the request's `Host` names this computer (`127.0.0.1`, `[::1]` or
/// `localhost`, any port): a page whose own name was made to point here (DNS rebinding)
/// still says its own name, and is refused.
fn host_is_loopback(head: &str) -> bool {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("host"))
        .is_some_and(|(_, v)| {
            let v = v.trim();
            let name = if v.starts_with('[') {
                v.split(']').next().map(|h| format!("{h}]"))
            } else {
                v.split(':').next().map(str::to_string)
            };
            name.is_some_and(|n| {
                let n = n.to_ascii_lowercase();
                matches!(n.as_str(), "127.0.0.1" | "[::1]" | "localhost")
            })
        })
}

/// `POST /control?cmd=pause%201`: the page's buttons. Only from this computer (a class
/// watching over the network sees the buttons but cannot use them), and only with the
/// header above; the command goes to the run's control socket as `lab ctl` sends it.
fn control(
    conn: &std::net::TcpStream,
    marked: bool,
    query: &str,
    dir: &Path,
) -> (&'static str, String) {
    let local = conn.peer_addr().is_ok_and(|a| a.ip().is_loopback());
    if !local || !marked {
        let why = "the controls work only in a browser on the computer that runs the model, at its own address\n";
        return ("403 Forbidden", why.into());
    }
    let cmd = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("cmd="))
        .map(decode)
        .unwrap_or_default();
    if cmd.len() > 256 {
        return (
            "409 Conflict",
            "refused: a command is at most 256 bytes\n".into(),
        );
    }
    match crate::control::send(dir, &cmd) {
        Ok(Ok(ids)) => {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            (
                "200 OK",
                format!("{cmd}: sent to machine {}\n", ids.join(", ")),
            )
        }
        Ok(Err(why)) => ("409 Conflict", format!("refused: {why}\n")),
        Err(e) => ("409 Conflict", format!("{e}\n")),
    }
}

/// A query value as a form encodes it: `%XX` bytes, `+` for a space.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let pair = (b[i] == b'%' && i + 2 < b.len())
            .then(|| hex(b[i + 1]).zip(hex(b[i + 2])))
            .flatten();
        match (b[i], pair) {
            (_, Some((h, l))) => {
                out.push(h * 16 + l);
                i += 2;
            }
            (b'+', None) => out.push(b' '),
            (c, None) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The method and path of the request on `conn` (its headers read and ignored), or `None`
/// for what is not an HTTP request. Reads at most 64 KiB.
fn request_line(
    conn: &mut std::net::TcpStream,
) -> std::io::Result<Option<(String, String, String)>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next().unwrap_or("").split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(m), Some(p), Some(v)) if v.starts_with("HTTP/") => {
            Ok(Some((m.into(), p.into(), text.to_string())))
        }
        _ => Ok(None),
    }
}

/// A page this many events behind the run is told so (it catches up from the history).
const BEHIND: usize = 1000;

/// One page's stream: every event of the run so far, then each new one as the reader adds
/// it, then the verdict. Ends when the page goes away, the run's stream is done, or the
/// server stops.
fn stream(mut raw: Box<dyn Write + Send>, shared: &Shared) -> std::io::Result<()> {
    raw.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
    )?;
    raw.flush()?;
    let mut out = Chunked(raw);
    let told = stream_events(&mut out, shared);
    // The last chunk: the reply is whole, and a client reading to its end stops here.
    out.0.write_all(b"0\r\n\r\n")?;
    out.0.flush()?;
    told
}

/// A writer that sends each write as one HTTP/1.1 chunk.
struct Chunked(Box<dyn Write + Send>);

impl Write for Chunked {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !buf.is_empty() {
            write!(self.0, "{:x}\r\n", buf.len())?;
            self.0.write_all(buf)?;
            self.0.write_all(b"\r\n")?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The events of one page's stream, from the start of the run to its end.
fn stream_events(out: &mut Chunked, shared: &Shared) -> std::io::Result<()> {
    let mut at = 0usize;
    while !shared.stop.load(Ordering::SeqCst) {
        let (new, done, behind) = {
            let Ok(h) = shared.history.lock() else {
                return Ok(());
            };
            let waited = shared
                .grew
                .wait_timeout_while(h, Duration::from_secs(1), |h| {
                    h.events.len() == at && !h.done
                });
            let Ok((h, _)) = waited else {
                return Ok(());
            };
            let end = h.events.len().min(at + BEHIND);
            let new: Vec<Arc<str>> = h.events[at..end].to_vec();
            (new, h.done && end == h.events.len(), h.events.len() - end)
        };
        if new.is_empty() {
            // A comment after a quiet second: a page that went away is noticed.
            out.write_all(b": idle\n\n")?;
        }
        for e in &new {
            out.write_all(e.as_bytes())?;
        }
        at += new.len();
        if behind > 0 {
            write!(out, "event: behind\ndata: {behind}\n\n")?;
        }
        out.flush()?;
        if done {
            return Ok(());
        }
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

    #[test]
    fn only_a_request_naming_this_computer_may_set_faults() {
        let head = |host: &str| {
            format!("POST /control HTTP/1.1\r\nHost: {host}\r\nX-Lamport-Control: 1\r\n\r\n")
        };
        for ok in ["127.0.0.1:8080", "localhost:1", "[::1]:9", "LOCALHOST"] {
            assert!(host_is_loopback(&head(ok)), "{ok}");
        }
        for bad in ["evil.com", "evil.com:8080", "127.0.0.1.evil.com", "[::2]:1"] {
            assert!(!host_is_loopback(&head(bad)), "{bad}");
        }
        assert!(!host_is_loopback("POST /control HTTP/1.1\r\n\r\n"));
    }

    #[test]
    fn a_query_decodes_as_a_form_encodes_it() {
        assert_eq!(decode("pause%201"), "pause 1");
        assert_eq!(decode("partition+0%2F1%2C2"), "partition 0/1,2");
        assert_eq!(decode("50%"), "50%");
        assert_eq!(decode("%zz%é"), "%zz%é");
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
