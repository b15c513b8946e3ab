//! Faults at the teacher's hand, end to end: a real run of each host, driven by `lab ctl`
//! while it runs (pause, resume, partition, heal, delay, kill); each fault is a `fault` row
//! where it happened, the logs pass the checker, and the simulator replays the run row for
//! row (all but `unix_ns`).

use lamport_core::{
    RunParams,
    record::{Kind, Record},
};
use lamport_host::{args::Model, check, sim};
use lamport_tests::{assert_clean, bin, wait_exit};
use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

const SECS: u64 = 8;

/// The closest two machines' deadlines come in a run of `n` machines with this seed
/// (phases spread): a replay is exact when no tick of one machine is a race with
/// another's send, which needs the two far apart in time.
fn closest_deadlines_ns(n: u16, seed: u64) -> u64 {
    let m = Model {
        params: RunParams {
            machines: n,
            secs: SECS,
            spread_phase: true,
            ..RunParams::new(seed, 1)
        },
        pinned: vec![None; usize::from(n)],
        faults: Default::default(),
    };
    let (rates, phases) = (m.rates(), m.phases());
    let mut all: Vec<u64> = Vec::new();
    for (r, p) in rates.iter().zip(&phases) {
        let period = 1_000_000_000 / u64::from(*r);
        all.extend((0..SECS * u64::from(*r)).map(|k| p + k * period));
    }
    all.sort_unstable();
    all.windows(2)
        .map(|w| w[1] - w[0])
        .min()
        .unwrap_or(u64::MAX)
}

/// The first seed from 1 whose machines' deadlines are all at least 20 ms apart.
fn calm_seed(n: u16) -> u64 {
    (1..)
        .find(|&s| closest_deadlines_ns(n, s) >= 20_000_000)
        .unwrap()
}

/// Starts `program` (with `extra` flags first) on a run of 3 machines for [`SECS`] s.
fn start(program: &str, extra: &[&str], dir: &Path) -> Child {
    start_for(program, extra, dir, SECS)
}

fn start_for(program: &str, extra: &[&str], dir: &Path, secs: u64) -> Child {
    let seed = calm_seed(3).to_string();
    Command::new(bin(program))
        .args(extra)
        .args([
            "--machines",
            "3",
            "--secs",
            &secs.to_string(),
            "--phase",
            "spread",
        ])
        .args(["--seed", &seed, "--quiet", "--out"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `lab ctl DIR words...`, once the run's control socket is there.
fn ctl(dir: &Path, words: &str) -> Output {
    let until = Instant::now() + Duration::from_secs(10);
    while lamport_host::control::sockets(dir).is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = Command::new(bin("lab"))
        .arg("ctl")
        .arg(dir)
        .args(words.split(' '))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lab ctl {words}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Each command of `script` by `lab ctl`, at its time (seconds after the run's start).
fn play(dir: &Path, script: &[(f64, &str)]) {
    for (secs, words) in script {
        at(dir, *secs);
        ctl(dir, words);
    }
}

/// Waits until `secs` seconds after the run's start (from machine 0's header).
fn at(dir: &Path, secs: f64) {
    let start = loop {
        let head = std::fs::read_to_string(dir.join("machine-0.log")).unwrap_or_default();
        if let Some(h) = head
            .lines()
            .nth(1)
            .and_then(|l| lamport_core::Header::parse_params(l).ok())
        {
            break h.start_unix_ns;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let target = start + (secs * 1e9) as u64;
    let now = lamport_host::folder::now_unix_ns();
    if target > now {
        std::thread::sleep(Duration::from_nanos(target - now));
    }
}

fn rows(dir: &Path, m: u16) -> Vec<Record> {
    let mut v = Vec::new();
    check::for_each_record(&dir.join(format!("machine-{m}.log")), |_, _, r| v.push(r)).unwrap();
    v
}

/// The `fault` rows of machine `m`, as notes.
fn faults(dir: &Path, m: u16) -> Vec<String> {
    rows(dir, m)
        .iter()
        .filter(|r| r.kind == Kind::Fault)
        .map(|r| r.note.to_string())
        .collect()
}

/// The run ended with status 0; its logs pass the checker; the simulator replays every
/// row of every log (all but `unix_ns`) from its run.json and its fault rows.
fn ended_clean_and_replays(child: Child, dir: &Path) -> String {
    let (code, err, _) = wait_exit(child, Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    assert_clean(dir);
    for m in 0..3 {
        let head = std::fs::read_to_string(dir.join(format!("machine-{m}.log"))).unwrap();
        let v3 = head.starts_with("# lamport-lab log v3\n");
        assert_eq!(
            v3,
            !faults(dir, m).is_empty(),
            "machine {m}: v3 iff fault rows"
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        json["log_format"], "lamport-lab log v3",
        "run.json follows its logs"
    );
    let out = tempfile::tempdir().unwrap();
    let r = sim::replay(dir, out.path()).unwrap();
    assert!(r.live > 0);
    assert!(r.differences.is_empty(), "{:#?}", r.differences);
    err
}

/// A pause of machine 1, a partition of 0 from 1 and 2 that outlasts it, a delay set and
/// cleared: each where it concerns, each judged and replayed.
fn pause_partition_and_delay(program: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let child = start(program, extra, &run);
    play(
        &run,
        &[
            (1.0, "pause 1"),
            (2.0, "partition 0/1,2"),
            (3.5, "resume 1"),
            (3.5, "delay 300:100"),
            (5.0, "heal"),
            (6.0, "delay off"),
        ],
    );
    ended_clean_and_replays(child, &run);
    let all = ["partition 0/1+2", "delay 300:100", "heal", "delay 0"];
    assert_eq!(faults(&run, 0), all);
    assert_eq!(
        faults(&run, 1),
        [
            "pause",
            "partition 0/1+2",
            "resume",
            "delay 300:100",
            "heal",
            "delay 0"
        ]
    );
    assert_eq!(faults(&run, 2), all);
    // No tick of machine 1 while it was paused; messages kept coming to its queue.
    let one = rows(&run, 1);
    let (p, r) = (
        one.iter().position(|x| x.note.as_str() == "pause").unwrap(),
        one.iter()
            .position(|x| x.note.as_str() == "resume")
            .unwrap(),
    );
    assert!(one[p + 1..r].iter().all(|x| !x.kind.is_tick()));
    assert!(one[r].queue > one[p].queue, "its queue filled while paused");
}

/// Machine 2 killed: it ends `killed` at once, its peers end it as lost, the run is ok.
fn kill(program: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let child = start(program, extra, &run);
    at(&run, 2.0);
    ctl(&run, "kill 2");
    let err = ended_clean_and_replays(child, &run);
    assert!(err.contains("machine 2 killed on command"), "{err}");
    let two = rows(&run, 2);
    let k = two.iter().position(|r| r.note.as_str() == "kill").unwrap();
    let (last, between) = two[k + 1..].split_last().unwrap();
    assert_eq!((last.kind, last.note.as_str()), (Kind::End, "killed"));
    assert!(between.iter().all(|r| r.kind == Kind::Unprocessed));
    assert!(two[k..].iter().all(|r| r.unix_ns == two[k].unix_ns));
    for m in [0, 1] {
        let last = rows(&run, m).pop().unwrap();
        assert_eq!(last.note.as_str(), "peer 2 lost");
        assert!(last.unix_ns < two.last().unwrap().unix_ns + 1_000_000_000);
    }
}

#[test]
fn host_unix_takes_a_live_pause_partition_and_delay() {
    pause_partition_and_delay("host-unix", &[]);
}

#[test]
fn host_unix_takes_a_live_kill() {
    kill("host-unix", &[]);
}

#[test]
fn host_tcp_takes_a_live_pause_partition_and_delay() {
    pause_partition_and_delay("host-tcp", &[]);
}

#[test]
fn host_tcp_takes_a_live_kill() {
    kill("host-tcp", &[]);
}

/// host-tcp's one process per machine, a seed given to machine 0 alone: every process
/// draws from it (the handshake agrees on machine 0's), so the run kept in one folder
/// replays in the simulator row for row, live faults and all.
#[test]
fn host_tcp_processes_take_machine_0_s_seed_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let peers = crate::tcp::free_ports(3);
    let seed = calm_seed(3);
    let (secs, seed_s) = (SECS.to_string(), seed.to_string());
    let flags = ["--secs", &secs, "--phase", "spread"];
    let kids: Vec<Child> = (0..3)
        .map(|id| {
            let mut args = flags.to_vec();
            if id == 0 {
                args.extend(["--seed", &seed_s]);
            }
            crate::tcp::machine(id, &peers, &run, &args)
        })
        .collect();
    play(
        &run,
        &[
            (1.0, "pause 1"),
            (2.0, "partition 0/1,2"),
            (3.5, "resume 1"),
            (5.0, "heal"),
        ],
    );
    for k in kids {
        let (code, err, _) = wait_exit(k, Duration::from_secs(40));
        assert_eq!(code, 0, "{err}");
    }
    assert_clean(&run);
    let json = |id: u16| -> serde_json::Value {
        let path = run.join(format!("run-{id}.json"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    for m in 0..3 {
        let head = std::fs::read_to_string(run.join(format!("machine-{m}.log"))).unwrap();
        let params = head.lines().nth(1).unwrap();
        assert!(params.contains(&format!(" seed={seed} ")), "{params}");
        assert_eq!(json(m)["seed"], seed);
        assert_eq!(json(m)["rates"], json(0)["rates"], "machine {m}'s run file");
        assert!(
            json(m)["rates"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r.is_u64())
        );
    }
    assert_eq!(
        faults(&run, 1),
        ["pause", "partition 0/1+2", "resume", "heal"]
    );
    let out = tempfile::tempdir().unwrap();
    let r = sim::replay(&run, out.path()).unwrap();
    assert_eq!(r.live, 8, "each machine's fault rows");
    assert!(r.differences.is_empty(), "{:#?}", r.differences);
}

#[test]
fn a_refused_command_changes_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let child = start("host-unix", &[], &run);
    at(&run, 0.5);
    for (words, why) in [
        ("resume 1", "not paused"),
        ("heal", "no partition"),
        ("pause 3", "machines 0 to 2"),
        ("pause", "a command is pause M"),
        ("pause x", "needs a machine id"),
        ("partition 0/0", "both sides"),
    ] {
        let out = Command::new(bin("lab"))
            .arg("ctl")
            .arg(&run)
            .args(words.split(' '))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{words}");
        assert!(err.contains(why), "{words}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // Nothing was taken: the logs stay v1 and the run is clean.
    let (code, err, _) = wait_exit(child, Duration::from_secs(30));
    assert_eq!(code, 0, "{err}");
    assert_clean(&run);
    assert!((0..3).all(|m| faults(&run, m).is_empty()));
}

/// The "done when": machine 1 paused for 8 s in front of the class, and the run
/// ends ok, its pause a gap in machine 1's ticks.
#[test]
fn a_teacher_pauses_machine_1_for_8_s_and_the_run_ends_ok() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let child = start_for("host-unix", &[], &run, 12);
    at(&run, 2.0);
    ctl(&run, "pause 1");
    at(&run, 10.0);
    ctl(&run, "resume 1");
    ended_clean_and_replays(child, &run);
    let one = rows(&run, 1);
    let t = |note: &str| {
        one.iter()
            .find(|r| r.note.as_str() == note)
            .unwrap()
            .unix_ns
    };
    let paused = t("resume") - t("pause");
    assert!((7_500_000_000..8_500_000_000).contains(&paused), "{paused}");
    let ticks = one
        .iter()
        .filter(|r| r.kind.is_tick() && r.unix_ns > t("pause") && r.unix_ns < t("resume"))
        .count();
    assert_eq!(ticks, 0);
}

/// One process per machine (three terminals): each takes the commands for itself and its
/// own links from its own control socket in the shared folder.
#[test]
fn host_tcp_one_process_per_machine_takes_commands_for_itself() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let peers = crate::tcp::free_ports(3);
    let seed = calm_seed(3).to_string();
    let kids: Vec<Child> = (0..3)
        .map(|id: usize| {
            Command::new(bin("host-tcp"))
                .args(["--id", &id.to_string(), "--peers", &peers.join(",")])
                .args([
                    "--secs", "8", "--phase", "spread", "--seed", &seed, "--quiet",
                ])
                .arg("--out")
                .arg(&run)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(20);
    while lamport_host::control::sockets(&run).len() < 3 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    at(&run, 1.0);
    let out = ctl(&run, "pause 1");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("machine 1: pause at "));
    ctl(&run, "partition 0/1,2");
    at(&run, 3.0);
    ctl(&run, "resume 1");
    ctl(&run, "heal");
    for (id, k) in kids.into_iter().enumerate() {
        let (code, err, _) = wait_exit(k, Duration::from_secs(40));
        assert_eq!(code, 0, "machine {id}: {err}");
    }
    assert_clean(&run);
    assert_eq!(faults(&run, 0), ["partition 0/1+2", "heal"]);
    assert_eq!(
        faults(&run, 1),
        ["pause", "partition 0/1+2", "resume", "heal"]
    );
    assert_eq!(faults(&run, 2), ["partition 0/1+2", "heal"]);
}
