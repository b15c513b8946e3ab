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

use crate::error::{Error, Result};
use lamport_core::{MachineId, faults::Side, live::Live};
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
            Self::Delay {
                delay_ns,
                jitter_ns,
            } => write!(
                f,
                "{}",
                Live::Delay {
                    delay_ns: *delay_ns,
                    jitter_ns: *jitter_ns
                }
            ),
        }
    }
}

/// What a host knows of the live faults it has sent, to refuse what cannot be taken
/// (pausing a paused machine, healing when nothing is cut) and to route each command to
/// the machines it concerns among those it runs.
#[derive(Debug, Clone)]
pub struct Board {
    machines: u16,
    /// The machines this host runs (all, or one for a machine per process).
    here: Vec<bool>,
    paused: Vec<bool>,
    killed: Vec<bool>,
    /// Machines at which a partition is open.
    cut: Vec<bool>,
}

impl Board {
    /// A host running every machine of a run of `machines`.
    pub fn all(machines: u16) -> Self {
        Self::with(machines, |_| true)
    }
    /// A host running machine `id` alone.
    pub fn one(machines: u16, id: MachineId) -> Self {
        Self::with(machines, |m| m == id)
    }
    fn with(machines: u16, here: impl Fn(MachineId) -> bool) -> Self {
        let n = usize::from(machines);
        Self {
            machines,
            here: (0..machines).map(here).collect(),
            paused: vec![false; n],
            killed: vec![false; n],
            cut: vec![false; n],
        }
    }

    /// The machines here `cmd` concerns, each with the fault it takes; the board's state
    /// follows. An empty list: no machine here is concerned (another process runs it).
    pub fn route(&mut self, cmd: &Command) -> std::result::Result<Vec<(MachineId, Live)>, String> {
        let n = self.machines;
        let known = |m: MachineId| {
            if m < n {
                Ok(usize::from(m))
            } else {
                Err(format!("the run has machines 0 to {}", n - 1))
            }
        };
        let here: Vec<MachineId> = (0..n)
            .filter(|&m| self.here[usize::from(m)] && !self.killed[usize::from(m)])
            .collect();
        let one = |m: MachineId, l: Live| {
            if self.here[usize::from(m)] {
                vec![(m, l)]
            } else {
                vec![]
            }
        };
        let sent = match cmd {
            Command::Pause(m) | Command::Resume(m) | Command::Kill(m) => {
                let i = known(*m)?;
                if self.killed[i] {
                    return Err(format!("machine {m} was killed"));
                }
                match cmd {
                    Command::Pause(_) if self.paused[i] => {
                        return Err(format!("machine {m} is paused already"));
                    }
                    Command::Resume(_) if !self.paused[i] => {
                        return Err(format!("machine {m} is not paused"));
                    }
                    Command::Pause(_) => one(*m, Live::Pause),
                    Command::Resume(_) => one(*m, Live::Resume),
                    _ => one(*m, Live::Kill),
                }
            }
            Command::Partition(a, b) => {
                if let Some(m) = a.ids().chain(b.ids()).find(|&m| m >= n) {
                    known(m)?;
                }
                let live = Live::Partition(a.clone(), b.clone());
                here.iter()
                    .filter(|&&m| a.has(m) || b.has(m))
                    .map(|&m| (m, live.clone()))
                    .collect()
            }
            Command::Heal => {
                if !self.cut.iter().any(|&c| c) {
                    return Err("no partition is open".into());
                }
                here.iter()
                    .filter(|&&m| self.cut[usize::from(m)])
                    .map(|&m| (m, Live::Heal))
                    .collect()
            }
            Command::Delay {
                delay_ns,
                jitter_ns,
            } => {
                let live = Live::Delay {
                    delay_ns: *delay_ns,
                    jitter_ns: *jitter_ns,
                };
                here.iter().map(|&m| (m, live.clone())).collect()
            }
        };
        for (m, live) in &sent {
            let i = usize::from(*m);
            match live {
                Live::Pause => self.paused[i] = true,
                Live::Resume => self.paused[i] = false,
                Live::Kill => self.killed[i] = true,
                Live::Partition(..) => self.cut[i] = true,
                Live::Heal => self.cut[i] = false,
                Live::Delay { .. } => {}
            }
        }
        Ok(sent)
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

/// Serves `control` on the socket `file` in `dir` from a thread of its own, one command
/// per connection.
pub fn serve(dir: &Path, file: &str, control: Control) -> Result<Served> {
    let (addr, _keep) = address(dir, file)?;
    let listener =
        UnixListener::bind(&addr).map_err(|e| Error::file("listen on", &dir.join(file), e))?;
    let listener = Arc::new(listener);
    let l = Arc::clone(&listener);
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for conn in l.incoming() {
                match conn {
                    Ok(s) => answer(s, &control),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        })
        .map_err(|e| Error::io("cannot start the control thread".into(), e))?;
    Ok(Served {
        path: dir.join(file),
        listener,
    })
}

/// One connection: one line in, one line out.
fn answer(s: UnixStream, control: &Control) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    let read = BufReader::new((&s).take(512)).read_line(&mut line);
    let reply = match read {
        Ok(_) => control.apply(line.trim()),
        Err(_) => return,
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
    BufReader::new(&s)
        .read_line(&mut reply)
        .map_err(|e| Error::io("no reply from the run".into(), e))?;
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

    #[test]
    fn the_board_routes_to_the_machines_concerned_and_refuses_the_impossible() {
        let mut b = Board::all(4);
        assert_eq!(b.route(&cmd("pause 1")).unwrap(), vec![(1, Live::Pause)]);
        assert!(
            b.route(&cmd("pause 1"))
                .unwrap_err()
                .contains("paused already")
        );
        assert!(
            b.route(&cmd("resume 2"))
                .unwrap_err()
                .contains("not paused")
        );
        assert!(b.route(&cmd("pause 4")).unwrap_err().contains("0 to 3"));
        assert!(b.route(&cmd("heal")).unwrap_err().contains("no partition"));
        let cut = b.route(&cmd("partition 0/2")).unwrap();
        assert_eq!(cut.iter().map(|c| c.0).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(
            b.route(&cmd("heal"))
                .unwrap()
                .iter()
                .map(|c| c.0)
                .collect::<Vec<_>>(),
            [0, 2]
        );
        assert_eq!(b.route(&cmd("delay 5")).unwrap().len(), 4);
        assert_eq!(b.route(&cmd("kill 3")).unwrap(), vec![(3, Live::Kill)]);
        assert!(b.route(&cmd("kill 3")).unwrap_err().contains("killed"));
        assert_eq!(
            b.route(&cmd("delay 5")).unwrap().len(),
            3,
            "not to the dead"
        );
        // One machine per process: only its own.
        let mut one = Board::one(3, 0);
        assert!(one.route(&cmd("pause 1")).unwrap().is_empty());
        assert_eq!(one.route(&cmd("partition 0/1,2")).unwrap().len(), 1);
    }

    #[test]
    fn a_command_reaches_the_run_through_its_socket() {
        let dir = tempfile::tempdir().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        let control = Control::new(
            Board::all(3),
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
        drop(served);
        assert!(sockets(dir.path()).is_empty());
        assert!(send(dir.path(), "resume 1").is_err());
    }
}
