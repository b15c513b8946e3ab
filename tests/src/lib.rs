//! Helpers for the end-to-end tests: build and find the workspace's binaries, run them,
//! and check their run folders with the one checker (`lamport_host::check`).
#![deny(unsafe_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

/// The target directory of the running test profile (`target/debug` or `target/release`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_path_buf()
}

/// Path of a workspace binary (`host-unix`, `host-tcp`, `lab`), built on first use with
/// the same profile as the tests.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "-q",
            "-p",
            "host-unix",
            "-p",
            "host-tcp",
            "-p",
            "lab",
        ]);
        if profile_dir().ends_with("release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
    });
    let path = profile_dir().join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The logs' checker verdict, with every violation spelled out on failure.
pub fn assert_clean(dir: &Path) -> lamport_host::check::CheckReport {
    assert_clean_with(dir, &Default::default())
}

/// [`assert_clean`] with checker options.
pub fn assert_clean_with(
    dir: &Path,
    opts: &lamport_host::check::CheckOptions,
) -> lamport_host::check::CheckReport {
    let report = lamport_host::check::check_run_with(dir, opts).expect("readable run folder");
    let lines: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
    assert!(
        lines.is_empty(),
        "violations in {}:\n{}",
        dir.display(),
        lines.join("\n")
    );
    report
}

/// The last line of a log file.
pub fn last_line(path: &Path) -> String {
    std::fs::read_to_string(path)
        .expect("log")
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// Waits up to `limit` for `child` to exit; returns its exit status, its stderr and how long
/// it took. Kills it and fails the test past the limit.
pub fn wait_exit(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> (i32, String, std::time::Duration) {
    use std::io::Read;
    let t0 = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut err).expect("stderr");
            }
            return (status.code().unwrap_or(-1), err, t0.elapsed());
        }
        if t0.elapsed() > limit {
            child.kill().ok();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Asserts that a finished command exited 0, showing its stderr otherwise.
pub fn assert_exit_0(o: &std::process::Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Waits (up to 20 s) until machines `0..n` of the run in `dir` have created their logs,
/// that is, until the run has started; fails the test otherwise.
pub fn wait_for_logs(dir: &Path, n: usize) {
    let t0 = std::time::Instant::now();
    while !(0..n).all(|i| dir.join(format!("machine-{i}.log")).exists()) {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "machines never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
/// `n` loopback addresses free to listen on, for host-tcp's `--peers`. They are taken below
/// the kernel's ephemeral range (32768 and up on Linux): a port the OS picked for a listener
/// (port 0) and that was let go could be taken again, before the host binds it, as the local
/// port of any outgoing connection (this machine's tests dial hundreds), and then a machine
/// could not listen and its peers would wait for it to their connect timeout.
pub fn free_ports(n: usize) -> Vec<String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LO: u32 = 20_000;
    const SPAN: u32 = 12_000;
    // Where this process starts (test processes run one after another, or as parallel
    // runs of the suite), then on: each port is probed once per process.
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(2_654_435_761) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let mut held = Vec::new();
    while held.len() < n {
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(
            k < u32::MAX / 2,
            "no free loopback port in {LO}..{}",
            LO + SPAN
        );
        let port = LO + k % SPAN;
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port as u16)) {
            held.push(l);
        }
    }
    held.iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect()
}

pub mod browser;
pub mod chan_host;
pub mod live;
pub mod meet;
pub mod mesh;

/// For the ordered pair (i, j) of a run's rows (by machine): (send time, receive time) of
/// each message i sent to j that j took with a `recv` row, in order.
pub fn trips(rows: &[Vec<lamport_core::Record>], i: u16, j: u16) -> Vec<(u64, u64)> {
    use lamport_core::{Kind, Peers};
    let sends = rows[usize::from(i)]
        .iter()
        .filter(|r| r.kind == Kind::Send && r.peer.iter().any(|p| p == j));
    let recvs = rows[usize::from(j)]
        .iter()
        .filter(|r| r.kind == Kind::Recv && r.peer == Peers::One(i));
    sends
        .zip(recvs)
        .map(|(s, r)| (s.unix_ns, r.unix_ns))
        .collect()
}

/// Runs `program` (`host-unix`, or `host-tcp` in threads mode) once per fault kind of
/// [`FAULT_RUNS`] and checks each run with [`assert_fault_run`].
pub fn run_each_fault_kind(program: &str) {
    for (kind, flags) in FAULT_RUNS {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let o = Command::new(bin(program))
            .args(["--secs", "4", "--speedup", "10", "--seed", "3", "--quiet"])
            .args(flags)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_exit_0(&o);
        let text = std::fs::read_to_string(out.join("machine-1.log")).unwrap();
        assert!(
            text.starts_with("# lamport-lab log v2\n"),
            "{program} {kind}"
        );
        assert_fault_run(&out);
    }
}

/// The fault runs each host's end-to-end tests make, one per kind: the flags, added to a
/// 4-second run sped up 10 times (machine 1 paused, machine 0 cut from 1 and 2).
pub const FAULT_RUNS: [(&str, &[&str]); 3] = [
    ("delay", &["--delay-ms", "30:20"]),
    ("pause", &["--pause", "1@1+1.5"]),
    ("partition", &["--partition", "0/1,2@1+1.5"]),
];

/// Checks the run folder of a run with faults: its logs pass the checker (which reads the
/// faults from their headers), every machine ended `time up` with one tick per deadline
/// outside its pauses, and each fault's rule holds on the rows, stated here directly with
/// a margin for a host's late ticks: every receive comes at least the delay after its send;
/// a paused machine does no tick inside its pause (50 ms after its start on) and ticks
/// fewer times than its schedule; no message sent across a partition inside its window is
/// received inside it. Returns the checker's report.
pub fn assert_fault_run(dir: &Path) -> lamport_host::check::CheckReport {
    use lamport_core::record::Record;
    let report = assert_clean(dir);
    assert!(report.clean_end(), "{:?}", report.machines);
    let (head, _) = lamport_host::check::read_head(&dir.join("machine-0.log")).unwrap();
    let plan = head.faults;
    assert!(!plan.is_empty(), "the logs state no faults");
    let start = head.header.start_unix_ns;
    let rows: Vec<Vec<Record>> = report
        .machines
        .iter()
        .map(|m| {
            let mut v = Vec::new();
            let f = dir.join(format!("machine-{}.log", m.id));
            lamport_host::check::for_each_record(&f, |_, _, r| v.push(r)).unwrap();
            v
        })
        .collect();
    let n = rows.len() as u16;
    for (id, m) in report.machines.iter().enumerate() {
        assert_eq!(m.ticks, m.ticks_due, "machine {id}");
        let id = id as u16;
        for w in plan.pauses(id) {
            let (a, b) = (start + w.from_ns + 50_000_000, start + w.to_ns());
            let inside = rows[usize::from(id)]
                .iter()
                .filter(|r| r.kind.is_tick() && (a..b).contains(&r.unix_ns))
                .count();
            assert_eq!(inside, 0, "machine {id} ticked inside its pause");
            let h = lamport_host::check::read_header(&dir.join(format!("machine-{id}.log")))
                .unwrap()
                .0;
            assert!(
                m.ticks < h.schedule().total(),
                "machine {id} skipped no tick"
            );
        }
    }
    let mut count = 0;
    for i in 0..n {
        for j in (0..n).filter(|&j| j != i) {
            for (s, r) in trips(&rows, i, j) {
                count += 1;
                assert!(
                    r >= s + plan.delay_ns,
                    "{i}->{j} received sooner than the delay"
                );
                for w in plan.cuts(i, j) {
                    let (a, b) = (start + w.from_ns, start + w.to_ns());
                    assert!(
                        s < a || !(a..b).contains(&r),
                        "{i}->{j}: sent at {s} received at {r} inside the partition"
                    );
                }
            }
        }
    }
    let trips = count;
    assert!(trips > 0, "no message was received");
    report
}

/// `program args` started by a shell that first burns CPU itself and in a child it reaps,
/// then execs it: what `cargo run` does to a host (the process it execs already holds
/// cargo's time and its reaped compilers'). The shell prints `times` on stderr before the
/// exec ([`burned_secs`] reads it).
pub fn after_a_busy_parent(program: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(concat!(
            "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; ",
            "timeout 1 sh -c 'while :; do :; done'; ",
            "times >&2; exec \"$0\" \"$@\""
        ))
        .arg(program)
        .args(args);
    c
}

/// The CPU seconds (own, children's) that `times` printed on `stderr`: `0m0.41s 0m0.01s`
/// (user and system of the shell), then the same of its children.
pub fn burned_secs(stderr: &str) -> (f64, f64) {
    let secs = |line: &str| -> f64 {
        line.split_whitespace()
            .map(|t| {
                let (m, s) = t.trim_end_matches('s').split_once('m').expect("NmN.NNs");
                m.parse::<f64>().expect("minutes") * 60.0 + s.parse::<f64>().expect("seconds")
            })
            .sum()
    };
    let is_time = |t: &str| {
        t.strip_suffix('s')
            .and_then(|t| t.split_once('m'))
            .is_some_and(|(m, s)| m.parse::<u64>().is_ok() && s.parse::<f64>().is_ok())
    };
    let mut lines = stderr.lines().filter(|l| {
        let t: Vec<&str> = l.split_whitespace().collect();
        t.len() == 2 && t.iter().all(|t| is_time(t))
    });
    (
        secs(lines.next().expect("times: own")),
        secs(lines.next().expect("times: children")),
    )
}

/// The figure of a summary's `cpu: X ms per machine per second` line.
pub fn cpu_ms(stdout: &str) -> f64 {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("cpu: "))
        .and_then(|l| l.strip_suffix(")"))
        .and_then(|l| l.split_once(" ms per machine per second"))
        .map(|(x, _)| x.parse().expect("a number"))
        .unwrap_or_else(|| panic!("no cpu line in {stdout}"))
}

/// Runs `cmd` with its stdout a pipe whose reader is closed before it starts (`| head
/// -c0`); returns its exit status and stderr.
pub fn with_stdout_closed(mut cmd: Command) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let child = cmd
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let (code, err, _) = wait_exit(child, std::time::Duration::from_secs(60));
    (code, err)
}
