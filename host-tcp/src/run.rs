//! The two ways to run: every machine as a thread of this process, or this process as one
//! machine of a run spread over terminals or computers.

use crate::{
    Cli,
    machine::{self, Agreed, Config},
    net::{self, Event, Tx},
};
use anyhow::{Context, Result, bail};
use lamport_core::MachineId;
use lamport_host::{
    EXIT_FAILED, EXIT_KILLED, EXIT_OK, EXIT_PEER, EXIT_SIGHUP, EXIT_SIGINT, EXIT_SIGTERM,
    args::Model,
    check,
    collect::{self, Keeper},
    control, display, folder, live,
    outcome::{self, Ended},
    signals,
    time::{Mono, TimeBase},
};
use nix::sys::signal::Signal;
use std::{
    net::{SocketAddr, TcpListener},
    os::fd::AsFd,
    path::{Path, PathBuf},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

pub(crate) fn run(cli: &Cli) -> Result<u8> {
    match (&cli.peers, cli.id) {
        (Some(peers), Some(id)) => one_machine(cli, peers, id),
        _ => threads(cli),
    }
}

/// Raises the shared flag first, then tells every machine.
fn broadcast(flag: &AtomicU8, s: Signal, txs: &[Tx]) {
    let code = match s {
        Signal::SIGINT => 1,
        Signal::SIGHUP => 3,
        _ => 2,
    };
    let _ = flag.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    for tx in txs {
        let _ = tx.send(Event::Signal(signals::stop_of(s)));
    }
}

fn peers_json(peers: &[SocketAddr]) -> lamport_host::serde_json::Value {
    peers
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .into()
}

/// All machines as threads of this process, on loopback ports the OS picks.
fn threads(cli: &Cli) -> Result<u8> {
    // What this process spent before the run (under `cargo run`, cargo's own time) is not
    // the machines'.
    let cpu_start = outcome::CpuUsage::now();
    let model = cli.model.model()?;
    let n = model.params.machines;
    // The view's address first: a busy one leaves no folder behind.
    let bound = live::Bound::open(cli.model.view)?;
    let dir = folder::create(cli.model.out.as_deref(), model.params.seed)?;
    let writing = folder::Writing::mark(&dir, "host-tcp")?;
    let _view = view_apart(bound, &dir)?;
    outcome::raise_fd_limit(u64::from(n) * u64::from(n) * 2 + 64)?;
    let signals = signals::signal_fd(&signals::STOPPING)?;
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("cannot listen on 127.0.0.1"))
        .collect::<Result<Vec<_>>>()?;
    let peers: Vec<SocketAddr> = listeners
        .iter()
        .map(TcpListener::local_addr)
        .collect::<std::io::Result<_>>()?;
    let seed = model.params.seed;
    let full = format!(
        "{n} machines for {} s, threads of process {}",
        model.params.secs,
        std::process::id()
    );
    display::announce(
        "host-tcp",
        cli.model.quiet,
        &full,
        seed,
        &dir,
        &model.faults,
    );
    let threads = spawn_threads(cli, &model, &dir, &peers, listeners)?;
    eprintln!(
        "host-tcp: machines 0 to {} are threads of pid {}",
        n - 1,
        std::process::id()
    );
    let started = Arc::clone(&threads.started);
    let start = Box::new(move || started.get().map(|b| b.start_unix));
    let board = control::Board::new(&model, |_| true, &dir, start);
    let control = control_of(board, threads.txs.clone());
    let served = control::serve(&dir, &control::socket_name(None), control.clone())?;
    let keys = (!cli.model.quiet)
        .then(|| lamport_host::keys::Keys::start(control, n, 1))
        .flatten();
    let (ended, signalled, started) = watch_threads(cli, &model, &dir, &peers, &signals, threads)?;
    // The machines have ended: no more commands (and no socket left in the folder), the
    // terminal as it was.
    drop((served, keys));
    let cpu = outcome::Cpu {
        ns: outcome::CpuUsage::now().since(&cpu_start, false),
        machines: model.params.machines,
        ran_ns: started.map_or(0, |b| Mono::now().since(b.start_mono)),
        pacing: cli.model.pacing.name(),
    };
    if let (None, Some(s)) = (started, signalled) {
        writing.remove_empty_folder(&dir);
        eprintln!("host-tcp: stopped by {s} before the start");
        return Ok(signals::exit_code(s));
    }
    Ok(outcome::conclude(
        "host-tcp",
        &dir,
        cli.model.quiet,
        &ended,
        signalled,
        cpu,
        None,
    ))
}

/// The run's control: a live fault goes to its machine's channel.
fn control_of(board: control::Board, txs: Vec<Tx>) -> control::Control {
    let deliver = move |m: MachineId, live: &lamport_core::live::Live| -> std::io::Result<()> {
        txs.get(usize::from(m))
            .ok_or(std::io::ErrorKind::NotFound)?
            .send(Event::Control(live.clone()))
            .map_err(|_| std::io::ErrorKind::BrokenPipe.into())
    };
    control::Control::new(board, Box::new(deliver))
}

/// The machines' threads: their handles, their channels, the shared signal flag and the
/// agreed start once there is one.
struct Threads {
    handles: Vec<(MachineId, std::thread::JoinHandle<u8>)>,
    txs: Vec<Tx>,
    flag: Arc<AtomicU8>,
    started: Arc<OnceLock<TimeBase>>,
}

/// One thread per machine, each listening on its own loopback port.
fn spawn_threads(
    cli: &Cli,
    model: &Model,
    dir: &Path,
    peers: &[SocketAddr],
    listeners: Vec<TcpListener>,
) -> Result<Threads> {
    let mut t = Threads {
        handles: Vec::new(),
        txs: Vec::new(),
        flag: Arc::new(AtomicU8::new(0)),
        started: Arc::new(OnceLock::new()),
    };
    for (id, listener) in (0..model.params.machines).zip(listeners) {
        let (tx, rx) = net::channel()?;
        t.txs.push(tx.clone());
        let cfg = Config::new(cli, model, id, peers, Arc::clone(&t.flag));
        let started = Arc::clone(&t.started);
        let dir = dir.to_path_buf();
        let h = std::thread::Builder::new()
            .name(format!("machine-{id}"))
            .spawn(move || {
                lamport_host::drive::exit_status("host-tcp", id, || {
                    machine::run(cfg, listener, tx, rx, |agreed| {
                        let _ = started.set(agreed.base);
                        Ok((dir, None))
                    })
                })
            })?;
        t.handles.push((id, h));
    }
    Ok(t)
}

/// How each machine ended, the first signal, and the run's time base if it started.
type Watched = (Vec<(MachineId, Ended)>, Option<Signal>, Option<TimeBase>);

/// Shows the run until every thread has ended: passes signals on, writes `run.json` once
/// the start is agreed. Returns how each machine ended, the first signal, and the run's
/// time base if it started.
fn watch_threads(
    cli: &Cli,
    model: &Model,
    dir: &Path,
    peers: &[SocketAddr],
    signals: &nix::sys::signalfd::SignalFd,
    mut t: Threads,
) -> Result<Watched> {
    let mut live = display::Live::new(dir, model, cli.model.show());
    let mut signalled = None;
    let mut ended: Vec<(MachineId, Ended)> = Vec::new();
    let mut json_written = false;
    while !t.handles.is_empty() {
        if let Some(s) = signals::wait(signals, display::REFRESH) {
            signalled.get_or_insert(s);
            broadcast(&t.flag, s, &t.txs);
        }
        if let Some(base) = t.started.get() {
            if !json_written {
                let mut m = model.clone();
                m.params.start_unix_ns = base.start_unix;
                folder::write_run_json(
                    dir,
                    &m,
                    "host-tcp",
                    lamport_host::serde_json::json!({ "transport": "tcp loopback, one thread per machine", "peers": peers_json(peers) }),
                )?;
                json_written = true;
            }
            if let Some(l) = live.as_mut() {
                l.update_since(base.start_mono);
            }
        }
        let (done, running): (Vec<_>, Vec<_>) =
            t.handles.into_iter().partition(|(_, h)| h.is_finished());
        t.handles = running;
        for (id, h) in done {
            ended.push((
                id,
                match h.join() {
                    Ok(code) => Ended::Exited(i32::from(code)),
                    Err(_) => Ended::Died("thread panicked".into()),
                },
            ));
        }
    }
    if let Some(l) = live {
        l.finish();
    }
    Ok((ended, signalled, t.started.get().copied()))
}

/// What machine `id`'s thread hands its process at the start: what was agreed, the run
/// folder, and the keeper of the peers' files (machine 0).
struct Begun {
    agreed: Agreed,
    dir: PathBuf,
    keeper: Option<Arc<Keeper>>,
    writing: Option<folder::Writing>,
}

/// Where a machine's thread puts what it began with, for its process.
type Slot = Arc<std::sync::Mutex<Option<Begun>>>;

/// What the process takes from [`Begun`] to show and steer the run.
struct Started {
    agreed: Agreed,
    dir: PathBuf,
    writing: Option<folder::Writing>,
}

/// This process is machine `id` of a run whose machines listen on `peers`.
fn one_machine(cli: &Cli, peers: &[SocketAddr], id: MachineId) -> Result<u8> {
    let cpu_start = outcome::CpuUsage::now();
    let model = one_model(cli, peers, id)?;
    let n = peers.len();
    if let Some(dir) = &cli.model.out {
        // A folder that holds this machine's log already is refused before the handshake.
        refuse_taken(dir, id)?;
    }
    let listener = TcpListener::bind(peers[usize::from(id)])
        .map_err(|e| listen_error(e, peers[usize::from(id)], id))?;
    let bound = live::Bound::open(cli.model.view)?;
    if let Some(b) = cli.model.send_buffer {
        // Accepted connections inherit the listener's buffers.
        lamport_host::link::set_socket_buffers(&listener, b)?;
    }
    let (tx, rx) = net::channel()?;
    let flag = Arc::new(AtomicU8::new(0));
    forward_signals(tx.clone(), Arc::clone(&flag))?;
    let quiet = cli.model.quiet;
    if !quiet {
        eprintln!(
            "host-tcp: machine {id} of {n} on {}, pid {}: waiting for the peers (up to {} s)",
            peers[usize::from(id)],
            std::process::id(),
            cli.connect_timeout
        );
    }
    let cfg = Config::new(cli, &model, id, peers, flag);
    let tx_control = tx.clone();
    let (machine, begun) = spawn_machine(cli, cfg, listener, (tx, rx), peers)?;
    let setup = wait_start(&begun, &machine);
    let mut writing = None;
    let mut steering = None;
    if let Some(b) = setup {
        writing = b.writing;
        steering = Some(steer(cli, id, peers, &b.agreed, &b.dir, tx_control, bound)?);
        // The run as agreed: its seed is machine 0's.
        show_one(
            &b.dir,
            &b.agreed.model,
            id,
            cli.model.show(),
            b.agreed.base,
            &machine,
        );
    }
    let joined = machine.join();
    // The machine has ended: no more commands (and no socket left in the folder).
    drop(steering);
    // A machine that failed after the start (its log could not be written, say) still
    // hands over what it has, and a keeper still keeps and judges the whole run.
    let mut said = false;
    let code = match joined {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("host-tcp: {e:#}");
            said = true;
            EXIT_FAILED
        }
        Err(_) => {
            eprintln!("host-tcp: machine {id} panicked");
            return Ok(EXIT_FAILED);
        }
    };
    let Some((agreed, dir, keeper)) = begun.lock().ok().and_then(|b| {
        b.as_ref()
            .map(|b| (b.agreed.clone(), b.dir.clone(), b.keeper.clone()))
    }) else {
        if !said {
            eprintln!("host-tcp: machine {id}: stopped before the start");
        }
        return Ok(code);
    };
    let cpu = outcome::Cpu {
        ns: outcome::CpuUsage::now().since(&cpu_start, false),
        machines: 1,
        ran_ns: Mono::now().since(agreed.base.start_mono),
        pacing: cli.model.pacing.name(),
    };
    let report = own_check(&dir, id, writing);
    let verdict = |code: u8| {
        if said {
            // Its one line (why it failed) is said.
            return code;
        }
        own_verdict(&dir, id, code, report, (!quiet).then_some(cpu))
    };
    Ok(collect_run(
        &dir,
        id,
        peers,
        &agreed,
        keeper.as_deref(),
        code,
        verdict,
    ))
}

/// What steers a run of one machine per process once it started: its control socket,
/// its keys, its live view's server.
type Steering = (
    control::Served,
    Option<lamport_host::keys::Keys>,
    Option<std::process::Child>,
);

/// Once the run started in `dir`: takes live faults for this machine (socket and keys),
/// serves its live view (`bound`), and says where the logs go and the run's seed.
fn steer(
    cli: &Cli,
    id: MachineId,
    peers: &[SocketAddr],
    agreed: &Agreed,
    dir: &Path,
    tx: Tx,
    bound: Option<live::Bound>,
) -> Result<Steering> {
    let (n, model) = (peers.len(), &agreed.model);
    let local = agreed.local_start();
    let start = Box::new(move || Some(local));
    let board = control::Board::new(model, |m| m == id, dir, start);
    let control = control_of(board, vec![tx; n]);
    let served = control::serve(dir, &control::socket_name(Some(id)), control.clone())?;
    let keys = (!cli.model.quiet)
        .then(|| lamport_host::keys::Keys::start(control, n as u16, id))
        .flatten();
    let view = view_apart(bound, dir)?;
    let full = format!(
        "machine {id} of {n} on {}, pid {}",
        peers[usize::from(id)],
        std::process::id()
    );
    display::announce(
        "host-tcp",
        cli.model.quiet,
        &full,
        model.params.seed,
        dir,
        &model.faults,
    );
    Ok((served, keys, view))
}

/// Machine `cfg`'s thread: the handshake, then the run; at the start it makes the run
/// folder and says what was agreed in the returned slot.
fn spawn_machine(
    cli: &Cli,
    cfg: Config,
    listener: TcpListener,
    (tx, rx): (Tx, net::Rx),
    peers: &[SocketAddr],
) -> Result<(std::thread::JoinHandle<Result<u8>>, Slot)> {
    let id = cfg.spec.id;
    let begun: Slot = Arc::default();
    let b2 = Arc::clone(&begun);
    let (out, peers2) = (cli.model.out.clone(), peers.to_vec());
    let collect = cli.collect;
    let machine = std::thread::Builder::new()
        .name(format!("machine-{id}"))
        .spawn(move || {
            machine::run(cfg, listener, tx, rx, |agreed| {
                let dir = out.unwrap_or_else(|| default_folder(agreed));
                claim_folder(&dir, id)?;
                let writing = folder::Writing::mark(&dir, "host-tcp")?;
                write_own_run_info(&dir, id, &peers2, agreed);
                let keeper = (id == 0 || collect)
                    .then(|| Arc::new(Keeper::new(&dir, id, agreed.start.nonces.clone())));
                let mut b = b2.lock().map_err(|_| anyhow::anyhow!("lock poisoned"))?;
                *b = Some(Begun {
                    agreed: agreed.clone(),
                    dir: dir.clone(),
                    keeper: keeper.clone(),
                    writing: Some(writing),
                });
                Ok((dir, keeper))
            })
        })?;
    Ok((machine, begun))
}

/// The end of machine `id`'s process: its files to every keeper (machine 0 and every
/// machine started with `--collect`); a keeper itself also waits for the others' and says
/// the whole run's verdict, which is its exit status (else `own`).
fn collect_run(
    dir: &Path,
    id: MachineId,
    peers: &[SocketAddr],
    agreed: &Agreed,
    keeper: Option<&Keeper>,
    code: u8,
    verdict: impl FnOnce(u8) -> u8,
) -> u8 {
    let n = peers.len();
    let keepers: Vec<MachineId> = (0..n as MachineId)
        .filter(|&k| k != id && (k == 0 || agreed.start.collectors[usize::from(k)]))
        .collect();
    // A keeper this machine lost (its connection closed without a word) is likely gone:
    // one short try, not the whole wait.
    let note = last_note(&folder::log_path(dir, id));
    let gone =
        |k: MachineId| note.contains(&format!("peer {k} lost")) || note.contains("every peer");
    std::thread::scope(|s| {
        let h = s.spawn(|| hand_over(dir, id, peers, agreed, &keepers, gone));
        if keeper.is_none() {
            // What could not be handed over is said before this machine's verdict, which
            // stays its last line.
            let _ = h.join();
        }
        let own = verdict(code);
        keeper.map_or(own, |k| whole_run(dir, n, k, own))
    })
}

/// Why machine `id` cannot listen on `addr`, with the likely mistake.
fn listen_error(e: std::io::Error, addr: SocketAddr, id: MachineId) -> anyhow::Error {
    let hint = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            ": another process listens there (is machine {id} started twice, in another terminal?)"
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            ": {} is not an address of this computer (check --id {id}: machine {id} listens on address number {id} of --peers, counting from 0)",
            addr.ip()
        ),
        _ => String::new(),
    };
    anyhow::anyhow!("cannot listen on {addr}: {e}{hint}")
}

/// Waits until the machine's thread says the run started (the folder is made), or ends.
fn wait_start(
    begun: &std::sync::Mutex<Option<Begun>>,
    machine: &std::thread::JoinHandle<Result<u8>>,
) -> Option<Started> {
    loop {
        if let Ok(mut b) = begun.lock()
            && let Some(b) = b.as_mut()
        {
            return Some(Started {
                agreed: b.agreed.clone(),
                dir: b.dir.clone(),
                writing: b.writing.take(),
            });
        }
        if machine.is_finished() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The default folder of a one-process-per-machine run: named by the agreed start (on the
/// run's timeline, the same on every computer), so that a run can be done again.
fn default_folder(agreed: &Agreed) -> PathBuf {
    let s = agreed.base.start_unix;
    Path::new("runs").join(format!(
        "tcp-{}-{:03}",
        folder::utc_stamp(s),
        s / 1_000_000 % 1000
    ))
}

/// Hands this machine's files to each of `keepers` (its own are kept whatever happens).
fn hand_over(
    dir: &Path,
    id: MachineId,
    peers: &[SocketAddr],
    agreed: &Agreed,
    keepers: &[MachineId],
    gone: impl Fn(MachineId) -> bool,
) {
    let files = collect::files_of(dir, id);
    // A keeper waits for the others up to the hosts' grace and a second after its own end.
    let wait = Duration::from_nanos(lamport_core::node::Timing::HOST.supervisor_grace_ns())
        + Duration::from_secs(2);
    for &k in keepers {
        let (addr, proof) = (peers[usize::from(k)], agreed.start.proofs[usize::from(k)]);
        let deadline = std::time::Instant::now()
            + if gone(k) {
                Duration::from_millis(300)
            } else {
                wait
            };
        if let Err(why) = collect::hand_over(addr, id, &agreed.terms, proof, &files, deadline) {
            eprintln!(
                "host-tcp: machine {id}: could not hand its log to machine {k} at {addr}: {why} (it is kept in {})",
                dir.display()
            );
        }
    }
}

/// A keeper at the end (machine 0, or a machine started with `--collect`): waits for
/// every machine's files, then checks the whole run and says one verdict for it.
fn whole_run(dir: &Path, n: usize, keeper: &Keeper, own: u8) -> u8 {
    // A peer still draining ends within the supervisor's grace; one this machine lost
    // is likely gone, and a run stopped by a signal is not kept waiting.
    let note = last_note(&folder::log_path(dir, 0));
    let stopped = note.contains(" lost") || [EXIT_SIGINT, EXIT_SIGTERM, EXIT_SIGHUP].contains(&own);
    let wait = if stopped {
        Duration::from_secs(1)
    } else {
        Duration::from_nanos(lamport_core::node::Timing::HOST.supervisor_grace_ns())
            + Duration::from_secs(1)
    };
    let missing = keeper.wait(std::time::Instant::now() + wait, |m| {
        format!(
            "machine {m}'s log did not reach machine 0 within {:.1} s of its end (see machine {m}'s own folder)",
            wait.as_secs_f64()
        )
    });
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|m| format!("machine {m}")).collect();
        eprintln!(
            "host-tcp: the whole run is not here: {} did not hand its log over (see machine-<id>.log.missing; each machine keeps its own): {}",
            names.join(", "),
            dir.display()
        );
        return EXIT_FAILED;
    }
    let report = check::check_run(dir);
    let verdict = match &report {
        Err(e) => format!("cannot check the whole run: {e:#}"),
        Ok(r) if !r.holds() => format!(
            "lab check found {} violations in the whole run; first: {}",
            r.violations.len() as u64 + r.more,
            r.violations
                .first()
                .map_or_else(String::new, ToString::to_string)
        ),
        Ok(r) => {
            // How it ended, when not everyone's time was up: who stopped it shows first.
            let early: Vec<String> = r
                .machines
                .iter()
                .filter(|m| m.end_note.as_deref() != Some("time up"))
                .map(|m| {
                    format!(
                        "machine {}: {}",
                        m.id,
                        m.end_note.as_deref().unwrap_or("no end row")
                    )
                })
                .collect();
            if early.is_empty() {
                format!("the whole run is here ({n} machines) and lab check is ok")
            } else {
                format!(
                    "the whole run is here ({n} machines) and its logs check ok, but it ended early ({})",
                    early.join("; ")
                )
            }
        }
    };
    let ok = report.as_ref().is_ok_and(check::CheckReport::holds);
    eprintln!("host-tcp: {verdict}: {}", dir.display());
    if ok { own } else { EXIT_FAILED }
}

/// With `--view` (`bound`, its address printed already): starts its server in a process of its own
/// (this program again, `--serve-view-of`, the listening socket as its standard input), so
/// that the machines' process carries no server; it serves until no process writes the
/// folder, tells the pages the verdict, and exits.
fn view_apart(bound: Option<live::Bound>, dir: &Path) -> Result<Option<std::process::Child>> {
    let Some(bound) = bound else {
        return Ok(None);
    };
    let exe = std::env::current_exe().context("cannot find this program to serve the view")?;
    let child = std::process::Command::new(exe)
        .arg("--serve-view-of")
        .arg(dir)
        .stdin(std::process::Stdio::from(bound.into_fd()))
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("cannot start the live view's server")?;
    Ok(Some(child))
}

/// `--serve-view-of DIR`: the live view's server process; its standard input is the
/// listening socket. Signals that stop a run are held, so that the pages still hear the
/// verdict of a run stopped by Ctrl-C.
pub(crate) fn serve_view(dir: &Path) -> u8 {
    let served = (|| -> Result<()> {
        let _held = signals::signal_fd(&signals::STOPPING)?;
        let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
        live::Bound::from_fd(fd)?.serve_while_written(dir, "host-tcp", false)?;
        Ok(())
    })();
    match served {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("host-tcp: live view: {e:#}");
            EXIT_FAILED
        }
    }
}

/// Creates `dir` unless it exists, and refuses it if it holds machine `id`'s log already.
fn claim_folder(dir: &Path, id: MachineId) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create run folder {}", dir.display()))?;
    refuse_taken(dir, id)
}

/// Refuses `dir` if it holds machine `id`'s log already.
fn refuse_taken(dir: &Path, id: MachineId) -> Result<()> {
    let log = folder::log_path(dir, id);
    if log.exists() {
        bail!(
            "{} exists: this folder already holds machine {id} of a run (use another --out)",
            log.display()
        );
    }
    Ok(())
}

/// Writes `run-<id>.json` once the start is agreed: the run as this machine agreed to it
/// (the run's seed is machine 0's, so every machine's rate and phase are the run's), and
/// its own clock's way to the run's timeline.
fn write_own_run_info(dir: &Path, id: MachineId, peers: &[SocketAddr], agreed: &Agreed) {
    let mut model = agreed.model.clone();
    model.params.start_unix_ns = agreed.base.start_unix;
    let info = lamport_host::serde_json::json!({
        "transport": "tcp, one process per machine",
        "machine": id,
        "peers": peers_json(peers),
        "clock": {
            "timeline": "machine 0's system clock, as this machine measured it",
            "to_common_ns": agreed.start.to_common_ns,
            "start_mono_ns": agreed.base.start_mono.ns(),
            "start_mono_note": "the start on this computer's CLOCK_MONOTONIC (the same for every process of one computer)",
        },
    });
    let path = dir.join(format!("run-{id}.json"));
    if let Err(e) = folder::write_run_info(&path, &model, "host-tcp", info) {
        eprintln!("host-tcp: {e:#}");
    }
}

/// Checks machine `id`'s own log (the whole run is checked where all logs are). No log: a
/// signal stopped the process before the start, and the folder goes if nothing else is in it.
fn own_check(
    dir: &Path,
    id: MachineId,
    writing: Option<folder::Writing>,
) -> Option<Result<check::CheckReport, check::CheckError>> {
    let log = folder::log_path(dir, id);
    let report = log.exists().then(|| check::check_machine_file(&log, id));
    if let (None, Some(w)) = (&report, writing) {
        w.remove_empty_folder(dir);
    }
    report
}

/// Prints the summary of machine `id`'s `report`, the CPU line and the ending unless quiet
/// (`cpu` is `None`), and returns the process's exit status.
fn own_verdict(
    dir: &Path,
    id: MachineId,
    code: u8,
    report: Option<Result<check::CheckReport, check::CheckError>>,
    cpu: Option<outcome::Cpu>,
) -> u8 {
    let log = folder::log_path(dir, id);
    let note = last_note(&log);
    if let Some(cpu) = cpu {
        let table = match &report {
            Some(Ok(r)) => display::summary_table(r),
            _ => String::new(),
        };
        let check = display::lab_command(&["check", &dir.to_string_lossy()]);
        lamport_host::out::print_or_drop(format_args!(
            "{table}{}\nmachine {id}: {note}\nlogs: {}\n{}\n",
            cpu.line(),
            dir.display(),
            if folder::log_path(dir, 0).exists() {
                display::hint(
                    "check the whole run (machine 0 keeps every log here)",
                    &check,
                )
            } else {
                "machine 0 keeps the whole run, in its folder on its computer, and checks it"
                    .to_string()
            },
        ));
    }
    verdict(id, code, &note, report)
}

/// The one line and the exit status of a one-machine process, `--quiet` or not: its own
/// failure (queue full, could not keep up, a peer lost or stopped early) first, then its
/// log's first violation, then a signal's status.
fn verdict(
    id: MachineId,
    code: u8,
    note: &str,
    report: Option<Result<check::CheckReport, check::CheckError>>,
) -> u8 {
    if matches!(code, EXIT_FAILED | EXIT_PEER) {
        eprintln!("host-tcp: run failed: machine {id}: {note}");
        return EXIT_FAILED;
    }
    match report {
        None => {
            eprintln!("host-tcp: machine {id}: stopped before the start");
            return code;
        }
        Some(Err(e)) => {
            eprintln!("host-tcp: cannot check the log: {e:#}");
            return EXIT_FAILED;
        }
        Some(Ok(r)) if !r.violations.is_empty() => {
            eprintln!(
                "host-tcp: log check found {} violations; first: {}",
                r.violations.len(),
                r.violations[0]
            );
            return EXIT_FAILED;
        }
        Some(Ok(_)) => {}
    }
    if code == EXIT_KILLED {
        eprintln!("host-tcp: machine {id} killed on command; its log is complete");
        return EXIT_OK;
    }
    if code != EXIT_OK {
        eprintln!("host-tcp: machine {id}: {note}; its log is complete");
    }
    code
}

/// The model of a one-machine process: the flags checked against the peer list.
fn one_model(cli: &Cli, peers: &[SocketAddr], id: MachineId) -> Result<Model> {
    let n = peers.len();
    if n < 3 {
        bail!("--peers lists {n} addresses; a run needs at least 3 machines");
    }
    if usize::from(id) >= n {
        bail!(
            "--id {id} is not in --peers ({n} addresses: ids 0 to {})",
            n - 1
        );
    }
    if let Some(dup) = peers
        .iter()
        .enumerate()
        .find(|(i, a)| peers[..*i].contains(a))
    {
        bail!("--peers lists {} twice", dup.1);
    }
    let mut args = cli.model.clone();
    args.machines = n as u16;
    if let Some(r) = &args.rates
        && r.len() != n
    {
        bail!("--rates gives {} rates for {n} machines", r.len());
    }
    Ok(args.model()?)
}

/// A thread that turns SIGINT, SIGTERM and SIGHUP into events for the machine.
fn forward_signals(tx: Tx, flag: Arc<AtomicU8>) -> Result<()> {
    let fd = signals::signal_fd(&signals::STOPPING)?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            loop {
                if let Some(s) = signals::wait(&fd, Duration::from_secs(1)) {
                    broadcast(&flag, s, std::slice::from_ref(&tx));
                }
            }
        })?;
    Ok(())
}

/// The live display of this process's machine, until its thread ends.
fn show_one(
    dir: &Path,
    model: &Model,
    id: MachineId,
    show: display::Show,
    base: TimeBase,
    machine: &std::thread::JoinHandle<Result<u8>>,
) {
    let mut live: Option<display::Live> = None;
    while !machine.is_finished() {
        std::thread::sleep(display::REFRESH);
        if live.is_none() {
            live = display::Live::for_machines(dir, model, &[id], show);
        }
        if let Some(l) = live.as_mut() {
            l.update_since(base.start_mono);
        }
    }
    if let Some(l) = live {
        l.finish();
    }
}

/// The note of the last (`end`) row of a log.
fn last_note(log: &Path) -> String {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|t| {
            t.lines()
                .last()
                .map(|l| l.rsplit(',').next().unwrap_or("").to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "ended".into())
}
