//! Faults at the teacher's hand while the run runs: the commands (`pause 1`, `resume 1`,
//! `partition 0/1,2`, `heal`, `delay 300:100`, `delay off`, `kill 2`), the [`Board`] that
//! routes each to the machines it concerns, and the control socket through which
//! `lab ctl`, the live page and the display's keys reach a running host.
//!
//! A host serves `control.sock` in its run folder (`control-<id>.sock` for one machine of
//! host-tcp's one process per machine, so that processes sharing a folder each have their
//! own). A client connects, writes one command line, and reads one reply line: `ok 1,2`
//! (the machines here that were sent it; `ok -` when none here is concerned) or
//! `refused: <why>`. A machine carries a command out through the core
//! ([`lamport_core::node::Node::control`]), which writes its `fault` row: that row, not the
//! reply, is the proof that it took effect, and [`send`] waits for it.

use crate::args::Model;
use crate::error::{Error, Result};
use lamport_core::{
    MachineId,
    faults::{Plan, Side},
    live::Live,
};
use std::{
    fmt,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    os::unix::net::{UnixListener, UnixStream},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

/// A command as typed: what and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Pause machine M.
    Pause(MachineId),
    /// Resume machine M.
    Resume(MachineId),
    /// Hold messages between two sides.
    Partition(Side, Side),
    /// Close every open partition.
    Heal,
    /// Set (or, with 0, clear) the delay of every machine.
    Delay {
        /// The delay.
        delay_ns: u64,
        /// Its jitter's bound.
        jitter_ns: u64,
    },
    /// Kill machine M.
    Kill(MachineId),
}

/// What a command looks like, for errors.
pub const USAGE: &str = "a command is pause M, resume M, partition A/B (like 0/1,2), heal, \
                         delay D[:J] (milliseconds), delay off, or kill M";

impl std::str::FromStr for Command {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let (word, arg) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        let arg = arg.trim();
        let id = |a: &str| -> std::result::Result<MachineId, String> {
            a.parse()
                .map_err(|_| format!("`{s}`: {word} needs a machine id, like {word} 1"))
        };
        let live = |t: &str| Live::parse(t).map_err(|e| format!("`{s}`: {e}"));
        match (word, arg.is_empty()) {
            ("pause", false) => Ok(Self::Pause(id(arg)?)),
            ("resume", false) => Ok(Self::Resume(id(arg)?)),
            ("kill", false) => Ok(Self::Kill(id(arg)?)),
            ("heal", true) => Ok(Self::Heal),
            ("delay", false) if arg == "off" => Ok(Self::Delay {
                delay_ns: 0,
                jitter_ns: 0,
            }),
            ("partition" | "delay", false) => match live(s)? {
                Live::Partition(a, b) => Ok(Self::Partition(a, b)),
                Live::Delay {
                    delay_ns,
                    jitter_ns,
                } => Ok(Self::Delay {
                    delay_ns,
                    jitter_ns,
                }),
                _ => Err(format!("`{s}`: {USAGE}")),
            },
            _ => Err(format!("`{s}`: {USAGE}")),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pause(m) => write!(f, "pause {m}"),
            Self::Resume(m) => write!(f, "resume {m}"),
            Self::Kill(m) => write!(f, "kill {m}"),
            Self::Heal => f.write_str("heal"),
            Self::Partition(a, b) => write!(f, "partition {a}/{b}"),
            Self::Delay {
                delay_ns: 0,
                jitter_ns: 0,
            } => f.write_str("delay off"),
            Self::Delay { .. } => write!(f, "{}", self.live()),
        }
    }
}

/// What a host knows of the live faults it has sent, to refuse what a machine would not
/// take (pausing a paused machine, healing when nothing is cut, anything before the start
/// or to a machine that has ended) and to route each command to the machines it concerns
/// among those it runs. It keeps each machine's plan as the machine does (the run's planned
/// faults, then each live fault it was sent, by the core's own [`Plan::take_live`]) and
/// refuses by the node's own rule ([`Plan::refuse_live`]), so that what it sends is taken.
pub struct Board {
    machines: u16,
    /// The machines this host runs (all, or one for a machine per process).
    here: Vec<bool>,
    plans: Vec<Plan>,
    killed: Vec<bool>,
    run_ns: u64,
    /// The run folder, where a machine's `end` row says it has ended.
    dir: PathBuf,
    /// The run's start instant, once agreed.
    start: Box<dyn Fn() -> Option<u64> + Send>,
}

impl fmt::Debug for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Board")
            .field("machines", &self.machines)
            .finish()
    }
}

/// True when machine `m`'s log in `dir` ends with its `end` row (its last 4 KiB read).
fn has_ended(dir: &Path, m: MachineId) -> bool {
    use std::io::{Seek as _, SeekFrom};
    let Ok(mut f) = std::fs::File::open(crate::folder::log_path(dir, m)) else {
        return false;
    };
    let len = f.metadata().map_or(0, |md| md.len());
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(4096)));
    let mut tail = String::new();
    let _ = f.read_to_string(&mut tail);
    tail.trim_end()
        .rsplit('\n')
        .next()
        .is_some_and(|l| l.split(',').nth(2) == Some("end"))
}

impl Board {
    /// A host running the machines `here` picks of `model`'s run, writing into `dir`;
    /// `start` says the run's start instant once it is agreed.
    pub fn new(
        model: &Model,
        here: impl Fn(MachineId) -> bool,
        dir: &Path,
        start: Box<dyn Fn() -> Option<u64> + Send>,
    ) -> Self {
        let n = model.params.machines;
        Self {
            machines: n,
            here: (0..n).map(here).collect(),
            plans: vec![model.faults.clone(); usize::from(n)],
            killed: vec![false; usize::from(n)],
            run_ns: model.params.secs.saturating_mul(1_000_000_000),
            dir: dir.to_path_buf(),
            start,
        }
    }

    /// The machines here `cmd` concerns, each with the fault it takes. An empty list: no
    /// machine here is concerned (another process runs it). The board's plans follow only
    /// once the faults are delivered ([`Board::sent`]).
    pub fn route(&self, cmd: &Command) -> std::result::Result<Vec<(MachineId, Live)>, String> {
        let n = self.machines;
        let now = crate::folder::now_unix_ns();
        if (self.start)().is_none_or(|s| now < s) {
            return Err("the run has not started yet".into());
        }
        if let Some(m) = cmd.machines().into_iter().find(|&m| m >= n) {
            return Err(format!("machine {m}: the run has machines 0 to {}", n - 1));
        }
        let gone = |m: MachineId| -> Option<String> {
            let i = usize::from(m);
            if self.killed[i] {
                Some(format!("machine {m} was killed"))
            } else if has_ended(&self.dir, m) {
                Some(format!("machine {m} has ended"))
            } else {
                None
            }
        };
        let refused = |m: MachineId, live: &Live| {
            self.plans[usize::from(m)]
                .refuse_live(m, live, self.run_ns)
                .map(|r| format!("machine {m}: {r}"))
        };
        let here: Vec<MachineId> = (0..n).filter(|&m| self.here[usize::from(m)]).collect();
        let live = cmd.live();
        let targets: Vec<MachineId> = match cmd {
            Command::Pause(m) | Command::Resume(m) | Command::Kill(m) => {
                if !self.here[usize::from(*m)] {
                    return Ok(Vec::new());
                }
                if let Some(why) = gone(*m).or_else(|| refused(*m, &live)) {
                    return Err(why);
                }
                return Ok(vec![(*m, live)]);
            }
            Command::Partition(a, b) => {
                here.into_iter().filter(|&m| a.has(m) || b.has(m)).collect()
            }
            Command::Heal => here
                .into_iter()
                .filter(|&m| refused(m, &Live::Heal).is_none())
                .collect(),
            Command::Delay { .. } => here,
        };
        if live == Live::Heal && targets.is_empty() && self.here.iter().all(|&h| h) {
            return Err("no partition is open".into());
        }
        let alive: Vec<MachineId> = targets.into_iter().filter(|&m| gone(m).is_none()).collect();
        if let Some(why) = alive.iter().find_map(|&m| refused(m, &live)) {
            return Err(why);
        }
        Ok(alive.into_iter().map(|m| (m, live.clone())).collect())
    }

    /// Machine `m` was handed `live`: its plan follows, as the machine's does.
    pub fn sent(&mut self, m: MachineId, live: &Live) {
        let at = (self.start)().map_or(0, |s| crate::folder::now_unix_ns().saturating_sub(s));
        let i = usize::from(m);
        self.plans[i].take_live(m, at, live);
        self.killed[i] |= *live == Live::Kill;
    }
}

impl Command {
    /// The fault each machine it concerns takes (and writes as its `fault` row's note).
    pub fn live(&self) -> Live {
        match self {
            Self::Pause(_) => Live::Pause,
            Self::Resume(_) => Live::Resume,
            Self::Kill(_) => Live::Kill,
            Self::Heal => Live::Heal,
            Self::Partition(a, b) => Live::Partition(a.clone(), b.clone()),
            Self::Delay {
                delay_ns,
                jitter_ns,
            } => Live::Delay {
                delay_ns: *delay_ns,
                jitter_ns: *jitter_ns,
            },
        }
    }

    /// The machines the command names (for a partition, both sides).
    fn machines(&self) -> Vec<MachineId> {
        match self {
            Self::Pause(m) | Self::Resume(m) | Self::Kill(m) => vec![*m],
            Self::Partition(a, b) => a.ids().chain(b.ids()).collect(),
            Self::Heal | Self::Delay { .. } => Vec::new(),
        }
    }
}

/// How a host hands a machine its fault: to its process's pipe, to its thread's channel.
pub type Deliver = Box<dyn FnMut(MachineId, &Live) -> std::io::Result<()> + Send>;

/// A host's control: its [`Board`] and how it delivers, shared by the control socket's
/// thread and the display's keys.
#[derive(Clone)]
pub struct Control(Arc<Mutex<(Board, Deliver)>>);

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Control")
    }
}

impl Control {
    /// A control over `board` delivering through `deliver`.
    pub fn new(board: Board, deliver: Deliver) -> Self {
        Self(Arc::new(Mutex::new((board, deliver))))
    }

    /// Carries out one command line; returns the reply line (`ok 1,2`, `ok -`,
    /// `refused: ...`).
    pub fn apply(&self, line: &str) -> String {
        let cmd: Command = match line.parse() {
            Ok(c) => c,
            Err(e) => return format!("refused: {e}"),
        };
        let mut guard = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (board, deliver) = &mut *guard;
        let sent = match board.route(&cmd) {
            Ok(s) => s,
            Err(why) => return format!("refused: {cmd}: {why}"),
        };
        let mut ids = Vec::new();
        for (m, live) in &sent {
            if deliver(*m, live).is_ok() {
                board.sent(*m, live);
                ids.push(m.to_string());
            }
        }
        if ids.is_empty() {
            "ok -".into()
        } else {
            format!("ok {}", ids.join(","))
        }
    }
}

/// The control socket's file name in the run folder: `control.sock` for a host that runs
/// every machine, `control-<id>.sock` for one machine of a run.
pub fn socket_name(one: Option<MachineId>) -> String {
    match one {
        Some(id) => format!("control-{id}.sock"),
        None => "control.sock".into(),
    }
}

/// The address of `file` in `dir` as a socket can be given it: the path itself, or, when
/// it is longer than a socket address holds (108 bytes), the same file through
/// `/proc/self/fd` and an open descriptor of the folder (kept alive by the caller).
fn address(dir: &Path, file: &str) -> Result<(PathBuf, Option<std::fs::File>)> {
    let path = dir.join(file);
    if path.as_os_str().len() < 100 {
        return Ok((path, None));
    }
    let d = std::fs::File::open(dir).map_err(|e| Error::file("open", dir, e))?;
    use std::os::fd::AsRawFd as _;
    let short = PathBuf::from(format!("/proc/self/fd/{}/{file}", d.as_raw_fd()));
    Ok((short, Some(d)))
}

/// The control socket being served; removed from the folder when dropped.
#[derive(Debug)]
pub struct Served {
    path: PathBuf,
    listener: Arc<UnixListener>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        // Wakes the thread blocked in accept, which then ends.
        let _ = nix::sys::socket::shutdown(
            std::os::fd::AsRawFd::as_raw_fd(&*self.listener),
            nix::sys::socket::Shutdown::Both,
        );
    }
}

/// Most connections answered at once; one more is closed unanswered.
const MAX_CLIENTS: usize = 16;

/// The longest command line taken.
const MAX_LINE: usize = 256;

/// Serves `control` on the socket `file` in `dir`: each connection on a thread of its own
/// (at most [`MAX_CLIENTS`] at once), one command each, so that a client that writes
/// slowly or not at all holds only itself, and only for [`REQUEST_TIMEOUT`].
pub fn serve(dir: &Path, file: &str, control: Control) -> Result<Served> {
    let (addr, _keep) = address(dir, file)?;
    let listener =
        UnixListener::bind(&addr).map_err(|e| Error::file("listen on", &dir.join(file), e))?;
    let listener = Arc::new(listener);
    let l = Arc::clone(&listener);
    let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            use std::sync::atomic::Ordering::SeqCst;
            for conn in l.incoming() {
                let s = match conn {
                    Ok(s) => s,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                if busy.fetch_add(1, SeqCst) >= MAX_CLIENTS {
                    busy.fetch_sub(1, SeqCst);
                    continue; // dropped: closed unanswered
                }
                let (control, count) = (control.clone(), Arc::clone(&busy));
                let spawned = std::thread::Builder::new()
                    .name("control-answer".into())
                    .spawn(move || {
                        answer(s, &control);
                        count.fetch_sub(1, SeqCst);
                    });
                if spawned.is_err() {
                    busy.fetch_sub(1, SeqCst);
                }
            }
        })
        .map_err(|e| Error::io("cannot start the control thread".into(), e))?;
    Ok(Served {
        path: dir.join(file),
        listener,
    })
}

/// How long a client has to send its whole command.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// One connection: one line in (within [`REQUEST_TIMEOUT`] in all, at most [`MAX_LINE`]
/// bytes), one line out.
fn answer(s: UnixStream, control: &Control) {
    let _ = s.set_write_timeout(Some(REQUEST_TIMEOUT));
    let until = std::time::Instant::now() + REQUEST_TIMEOUT;
    let mut line = Vec::new();
    let mut buf = [0u8; 64];
    let reply = loop {
        let left = until.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            break "refused: no whole command line within 2 s".to_string();
        }
        let eof = match (&s).read(&mut buf) {
            Ok(0) if line.is_empty() => return,
            Ok(0) => true,
            Ok(n) => {
                line.extend_from_slice(&buf[..n]);
                false
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break "refused: no whole command line within 2 s".to_string(),
        };
        let whole = line.iter().position(|&b| b == b'\n');
        if whole.is_none() && !eof && line.len() <= MAX_LINE {
            continue;
        }
        let end = whole.unwrap_or(line.len());
        break if end > MAX_LINE {
            format!("refused: a command is one line of at most {MAX_LINE} bytes")
        } else {
            match std::str::from_utf8(&line[..end]) {
                Ok(text) => control.apply(text.trim()),
                Err(_) => "refused: a command is text (UTF-8)".to_string(),
            }
        };
    };
    let _ = (&s).write_all(format!("{reply}\n").as_bytes());
}

/// The control sockets in `dir`: `control.sock`, or one `control-<id>.sock` per process.
pub fn sockets(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("control") && n.ends_with(".sock"))
        .collect();
    v.sort();
    v
}

/// Sends one command line to the socket `file` in `dir`; returns the reply line.
pub fn ask(dir: &Path, file: &str, line: &str) -> Result<String> {
    let (addr, _keep) = address(dir, file)?;
    let s = UnixStream::connect(&addr).map_err(|e| {
        Error::Usage(format!(
            "{}: no run is listening ({e}); is the run still going?",
            dir.join(file).display()
        ))
    })?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    (&s).write_all(format!("{line}\n").as_bytes())
        .map_err(|e| Error::io("cannot send the command".into(), e))?;
    let mut reply = String::new();
    let read = BufReader::new(&s).read_line(&mut reply);
    if read.is_err() || reply.is_empty() {
        return Err(Error::Usage(format!(
            "{}: the run did not answer: it is busy with {MAX_CLIENTS} other clients, or it has just ended; try again",
            dir.join(file).display()
        )));
    }
    Ok(reply.trim().to_string())
}

/// Sends `line` to every control socket of the run in `dir`; returns the machines that
/// were sent it, or why nobody took it.
pub fn send(dir: &Path, line: &str) -> Result<std::result::Result<Vec<MachineId>, String>> {
    let cmd: Command = line.parse().map_err(Error::Usage)?;
    let files = sockets(dir);
    if files.is_empty() {
        return Err(Error::Usage(format!(
            "{}: no control socket: the run has ended, or it is not a run folder",
            dir.display()
        )));
    }
    let mut ids = Vec::new();
    let mut refused = Vec::new();
    for f in &files {
        let reply = ask(dir, f, &cmd.to_string())?;
        if let Some(list) = reply.strip_prefix("ok ") {
            ids.extend(list.split(',').filter_map(|m| m.parse::<MachineId>().ok()));
        } else {
            refused.push(
                reply
                    .strip_prefix("refused: ")
                    .unwrap_or(&reply)
                    .to_string(),
            );
        }
    }
    if !ids.is_empty() {
        return Ok(Ok(ids));
    }
    Ok(Err(refused.into_iter().next().unwrap_or_else(|| {
        format!("{cmd}: no machine of this folder's processes is concerned (it runs elsewhere)")
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(s: &str) -> Command {
        s.parse().unwrap()
    }

    #[test]
    fn commands_read_as_typed_and_print_back() {
        for s in [
            "pause 1",
            "resume 1",
            "kill 2",
            "heal",
            "partition 0/1,2",
            "delay 300:100",
            "delay off",
        ] {
            assert_eq!(cmd(s).to_string(), s);
        }
        assert_eq!(cmd("delay 0"), cmd("delay off"));
        for bad in [
            "",
            "pause",
            "pause x",
            "heal 1",
            "partition 0",
            "delay",
            "stop 1",
            "kill 1 2",
        ] {
            assert!(bad.parse::<Command>().is_err(), "{bad}");
        }
    }

    fn model(n: u16) -> Model {
        Model {
            params: lamport_core::RunParams {
                machines: n,
                secs: 60,
                ..lamport_core::RunParams::new(1, 0)
            },
            pinned: vec![None; usize::from(n)],
            faults: Plan::default(),
        }
    }

    fn board(n: u16, dir: &Path, here: impl Fn(MachineId) -> bool) -> Board {
        Board::new(&model(n), here, dir, Box::new(|| Some(0)))
    }

    /// Routes and, as a host does once delivered, notes what was sent.
    fn send_to(b: &mut Board, c: &str) -> std::result::Result<Vec<(MachineId, Live)>, String> {
        let sent = b.route(&cmd(c))?;
        for (m, l) in &sent {
            b.sent(*m, l);
        }
        Ok(sent)
    }

    #[test]
    fn the_board_routes_to_the_machines_concerned_and_refuses_the_impossible() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = board(4, dir.path(), |_| true);
        let b = &mut b;
        assert_eq!(send_to(b, "pause 1").unwrap(), vec![(1, Live::Pause)]);
        assert!(
            send_to(b, "pause 1")
                .unwrap_err()
                .contains("paused already")
        );
        assert!(send_to(b, "resume 2").unwrap_err().contains("not paused"));
        assert!(send_to(b, "pause 4").unwrap_err().contains("0 to 3"));
        assert!(send_to(b, "heal").unwrap_err().contains("no partition"));
        assert!(
            send_to(b, "delay 61000")
                .unwrap_err()
                .contains("longer than the run")
        );
        let cut = send_to(b, "partition 0/2").unwrap();
        assert_eq!(cut.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 2]);
        let healed = send_to(b, "heal").unwrap();
        assert_eq!(healed.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(send_to(b, "delay 5").unwrap().len(), 4);
        assert_eq!(send_to(b, "kill 3").unwrap(), vec![(3, Live::Kill)]);
        assert!(send_to(b, "kill 3").unwrap_err().contains("killed"));
        assert_eq!(send_to(b, "delay 5").unwrap().len(), 3, "not to the dead");
        // What a route refuses, or what was not delivered, does not change the board.
        assert!(b.route(&cmd("resume 1")).is_ok());
        assert!(b.route(&cmd("resume 1")).is_ok(), "not sent: still paused");
        // 64 windows at most, as the node holds (machine 1 has had one pause).
        for _ in 0..63 {
            send_to(b, "resume 1").unwrap();
            send_to(b, "pause 1").unwrap();
        }
        send_to(b, "resume 1").unwrap();
        assert!(send_to(b, "pause 1").unwrap_err().contains("64"));
        // One machine per process: only its own.
        let mut one = board(3, dir.path(), |m| m == 0);
        assert!(send_to(&mut one, "pause 1").unwrap().is_empty());
        assert_eq!(send_to(&mut one, "partition 0/1,2").unwrap().len(), 1);
    }

    #[test]
    fn the_board_refuses_before_the_start_and_after_a_machine_ended() {
        let dir = tempfile::tempdir().unwrap();
        let later = Board::new(&model(3), |_| true, dir.path(), Box::new(|| None));
        assert!(
            later
                .route(&cmd("pause 1"))
                .unwrap_err()
                .contains("not started")
        );
        std::fs::write(
            dir.path().join("machine-1.log"),
            "# lamport-lab log v1\n...\n1,1,end,5,0,,,time up\n",
        )
        .unwrap();
        let b = board(3, dir.path(), |_| true);
        assert!(b.route(&cmd("pause 1")).unwrap_err().contains("has ended"));
        assert_eq!(b.route(&cmd("delay 5")).unwrap().len(), 2, "the others");
    }

    #[test]
    fn a_command_reaches_the_run_through_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        let control = Control::new(
            board(3, dir.path(), |_| true),
            Box::new(move |m, l| {
                g.lock().unwrap().push((m, l.clone()));
                Ok(())
            }),
        );
        let served = serve(dir.path(), "control.sock", control).unwrap();
        assert_eq!(send(dir.path(), "pause 1").unwrap(), Ok(vec![1]));
        assert!(
            send(dir.path(), "pause 1")
                .unwrap()
                .unwrap_err()
                .contains("paused already")
        );
        assert!(send(dir.path(), "banana").is_err());
        assert_eq!(*got.lock().unwrap(), vec![(1, Live::Pause)]);
        // A client that writes slowly holds only itself; odd lines get one line back.
        let sock = dir.path().join("control.sock");
        let mut slow = UnixStream::connect(&sock).unwrap();
        slow.write_all(b"res").unwrap();
        let t0 = std::time::Instant::now();
        assert_eq!(send(dir.path(), "resume 1").unwrap(), Ok(vec![1]));
        assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
        let ask_raw = |bytes: &[u8]| {
            let mut c = UnixStream::connect(&sock).unwrap();
            c.write_all(bytes).unwrap();
            c.shutdown(std::net::Shutdown::Write).unwrap();
            let mut reply = String::new();
            let _ = BufReader::new(c).read_line(&mut reply);
            reply
        };
        let long = [b"pause 1".as_slice(), &[b' '; 600], b"x\n"].concat();
        assert!(ask_raw(&long).starts_with("refused: a command is one line"));
        assert!(ask_raw(b"\xff\xfe\n").starts_with("refused: a command is text"));
        assert_eq!(
            ask_raw(b"pause 2"),
            "ok 2\n",
            "a line may end with the connection"
        );
        drop(slow);
        drop(served);
        assert!(sockets(dir.path()).is_empty());
        assert!(send(dir.path(), "resume 1").is_err());
    }
}
