//! The display, the feed and the table, on hand-made rows and on simulated runs (one with
//! every live fault): states, waiting counts, event lines, and 80 columns everywhere.

use super::*;
use crate::{args::Model, check, sim};
use lamport_core::{
    RunParams, UnixNanos,
    live::Live as Fault,
    record::{Kind, Note, Peers, Record},
    sim::LiveAt,
};
use std::path::Path;

const START: u64 = sim::DEFAULT_START_UNIX_NS;
const S: u64 = 1_000_000_000;

fn model(machines: u16, secs: u64, seed: u64, speedup_milli: u32) -> Model {
    Model {
        params: RunParams {
            machines,
            secs,
            speedup_milli,
            start_unix_ns: START,
            ..RunParams::new(seed, START)
        },
        pinned: vec![None; usize::from(machines)],
        faults: Default::default(),
    }
}

fn row(machine: u16, kind: Kind, clock: u64, queue: u32, note: &str) -> Record {
    let mut r = Record::new(UnixNanos(START), machine, kind, clock, queue);
    r.note = Note::try_from(note).unwrap();
    r
}

fn fault(machine: u16, clock: u64, note: &str) -> Record {
    row(machine, Kind::Fault, clock, 0, note)
}

/// Every live fault of the core, at machine 1 of a 5-machine run.
#[test]
fn a_machines_state_follows_its_rows() {
    let mut s = Seen::default();
    assert_eq!(s.state(), "starting");
    s.apply(&row(1, Kind::Start, 0, 0, ""));
    assert_eq!(s.state(), "running");
    s.apply(&fault(1, 0, "pause"));
    assert_eq!(s.state(), "paused");
    s.apply(&fault(1, 0, "resume"));
    assert_eq!(s.state(), "running");
    s.apply(&fault(1, 0, "partition 0-1+4/2"));
    assert_eq!(s.state(), "cut from 2");
    s.apply(&fault(1, 0, "partition 3/1"));
    assert_eq!(s.state(), "cut from 2,3");
    s.apply(&fault(1, 0, "delay 300"));
    assert_eq!(s.state(), "cut from 2,3, delayed 300 ms");
    s.apply(&fault(1, 0, "pause"));
    s.apply(&fault(1, 0, "delay 300:100"));
    assert_eq!(s.state(), "paused, cut from 2,3, delayed 300-400 ms");
    s.apply(&fault(1, 0, "heal"));
    s.apply(&fault(1, 0, "delay 0"));
    assert_eq!(s.state(), "paused");
    s.apply(&fault(1, 0, "kill"));
    assert_eq!(s.state(), "killed");
    s.apply(&row(1, Kind::End, 0, 4, "killed"));
    assert_eq!(s.state(), "killed");

    let mut e = Seen::default();
    e.apply(&row(0, Kind::Start, 0, 0, ""));
    e.apply(&row(0, Kind::End, 9, 0, "time up"));
    assert_eq!(e.state(), "ended");
    e.apply(&row(0, Kind::End, 9, 33, "time up"));
    assert_eq!(e.state(), "ended, 33 left");
    e.apply(&row(0, Kind::End, 9, 0, "peer 2 lost"));
    assert_eq!(e.state(), "ended: peer 2 lost");
    let mut d = Seen::default();
    d.apply(&row(0, Kind::Start, 0, 0, ""));
    d.died = Some("killed by SIGKILL".into());
    assert_eq!(d.state(), "died: killed by SIGKILL");
    assert_eq!(
        ranges(&[0, 1, 2, 3, 5, 7, 8].into_iter().collect()),
        "0-3,5,7,8"
    );
}

#[test]
fn rates_show_their_speedup() {
    assert_eq!(rate_text(1, 1000), "1/s");
    assert_eq!(rate_text(1, 5000), "1/s ×5");
    assert_eq!(rate_text(6, 500), "6/s ×0.5");
}

#[test]
fn event_lines_name_the_event_and_highlight_a_jump() {
    let mut recv = row(0, Kind::Recv, 40, 3, "");
    recv.peer = Peers::One(2);
    recv.msg_clock = Some(39);
    assert_eq!(
        event_line(&recv, 38, Style::Plain),
        "m0 recv from m2 (msg 39): 38 → 40 (+2), queue 3"
    );
    assert_eq!(
        event_line(&recv, 38, Style::Ansi),
        "m0 recv from m2 (msg 39): \x1b[1;33m38 → 40 (+2)\x1b[0m, queue 3"
    );
    // A jump of 1 is an ordinary tick: not highlighted.
    assert_eq!(
        event_line(&recv, 39, Style::Ansi),
        "m0 recv from m2 (msg 39): 39 → 40 (+1), queue 3"
    );
    let mut send = row(1, Kind::Send, 12, 0, "");
    send.peer = Peers::One(2);
    send.msg_clock = Some(12);
    assert_eq!(event_line(&send, 11, Style::Ansi), "m1 send to m2 (msg 12)");
    send.peer = Peers::AllBut { me: 1, machines: 3 };
    assert_eq!(
        event_line(&send, 11, Style::Plain),
        "m1 send to every peer (msg 12)"
    );
    assert_eq!(
        event_line(&row(1, Kind::Internal, 12, 0, ""), 11, Style::Plain),
        "m1 internal: 12"
    );
    assert_eq!(
        event_line(&fault(1, 12, "pause"), 12, Style::Plain),
        "m1 fault: pause"
    );
    assert_eq!(
        event_line(&row(1, Kind::Start, 0, 0, ""), 0, Style::Plain),
        "m1 start"
    );
    let long = "peer 1 lost; ".repeat(10) + "time up";
    let end = event_line(&row(0, Kind::End, 9, 0, &long), 9, Style::Plain);
    assert_eq!(cols(&end), WIDTH, "{end}");
    assert!(end.ends_with('…'), "{end}");
}

/// A simulated run with every live fault: machine 1 paused from 2 s to 5 s, machines 0,1
/// cut from 2 from 3 s to 6 s, machine 3 delayed from 1 s, machine 4 killed at 7 s.
fn faulted_run(dir: &Path) -> Model {
    let m = model(6, 10, 7, 1000);
    let at = |secs_milli: u64, machine: u16, note: &str| LiveAt {
        at: UnixNanos(START + secs_milli * 1_000_000),
        machine,
        live: Fault::parse(note).unwrap(),
    };
    let mut live = vec![
        at(1_000, 3, "delay 300:100"),
        at(2_000, 1, "pause"),
        at(5_000, 1, "resume"),
        at(7_000, 4, "kill"),
    ];
    for id in [0, 1, 2] {
        live.push(at(3_000, id, "partition 0-1/2"));
        live.push(at(6_000, id, "heal"));
    }
    live.sort_by_key(|l| l.at);
    sim::simulate_live_to(&m, 0, &live, dir).unwrap();
    m
}

/// The rows of the run in `from` up to `t` ns after its start, as the display would have
/// found them then, written into `to`.
fn as_of(from: &Path, to: &Path, machines: u16, t: u64) {
    for i in 0..machines {
        let text = std::fs::read_to_string(crate::folder::log_path(from, i)).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| match Record::parse(l, machines) {
                Ok(r) => r.unix_ns <= START + t,
                Err(_) => true,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(crate::folder::log_path(to, i), kept).unwrap();
    }
}

/// The display's state and waiting count as the run goes: a paused machine's count grows
/// while it is paused, and is what its peers sent it less what it took.
#[test]
fn states_and_waiting_counts_follow_a_faulted_run() {
    let dir = tempfile::tempdir().unwrap();
    let m = faulted_run(dir.path());
    let at = |t: u64| {
        let d = tempfile::tempdir().unwrap();
        as_of(dir.path(), d.path(), m.params.machines, t);
        let mut w = Watch::new(d.path(), m.params.machines);
        let (read, behind) = w.poll(u64::MAX, true);
        assert!(!behind);
        (w, read)
    };
    let (w, _) = at(1_500 * 1_000_000);
    assert_eq!(w.seen[1].state(), "running");
    assert_eq!(w.seen[3].state(), "delayed 300-400 ms");
    let (early, _) = at(2_500 * 1_000_000);
    assert_eq!(early.seen[1].state(), "paused");
    let (late, _) = at(4_900 * 1_000_000);
    assert_eq!(late.seen[1].state(), "paused, cut from 2");
    assert_eq!(late.seen[0].state(), "cut from 2");
    assert_eq!(late.seen[2].state(), "cut from 0,1");
    let (a, b) = (early.waiting(1).unwrap(), late.waiting(1).unwrap());
    assert!(
        b > a + 3,
        "paused machine 1: {a} waiting at 2.5 s, {b} at 4.9 s"
    );
    // Paused, its clock stands still: no tick, no row.
    assert_eq!(early.seen[1].clock, late.seen[1].clock);
    let (healed, _) = at(6_500 * 1_000_000);
    assert_eq!(healed.seen[0].state(), "running");
    assert_eq!(healed.seen[1].state(), "running");
    let (end, read) = at(20 * S);
    assert_eq!(end.seen[4].state(), "killed");
    for (i, s) in end.seen.iter().enumerate() {
        assert_eq!(end.waiting(i as u16), Some(0), "machine {i}");
        if i != 4 {
            assert!(s.state().starts_with("ended"), "{}", s.state());
        }
    }
    assert!(
        read.iter()
            .any(|r| r.rec.kind == Kind::Fault && r.rec.note.as_str() == "kill")
    );
}

/// Every line the display, the feed, the announcement and the table print for runs of 3 to
/// 10 machines, one of them faulted, fits 80 columns.
#[test]
fn everything_fits_80_columns() {
    let mut lines: Vec<String> = Vec::new();
    let mut runs = Vec::new();
    for n in [3u16, 5, 10] {
        for speedup in [1000, 20_000] {
            let dir = tempfile::tempdir().unwrap();
            let m = model(n, 60, u64::from(n) * 31 + u64::from(speedup), speedup);
            sim::simulate_to(&m, 0, dir.path()).unwrap();
            runs.push((dir, m, false));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let m = faulted_run(dir.path());
    runs.push((dir, m, true));
    for (dir, m, faulted) in &runs {
        // The checker does not read `fault` rows yet: the faulted run has no table here.
        if !faulted {
            let report = check::check_run(dir.path()).unwrap();
            lines.extend(summary_table(&report).lines().map(String::from));
        }
        let rates = m.rates();
        let shown: Vec<(u16, String)> = (0..m.params.machines)
            .map(|i| (i, rate_text(rates[usize::from(i)], m.params.speedup_milli)))
            .collect();
        let fastest =
            u64::from(*rates.iter().max().unwrap()) * u64::from(m.params.speedup_milli) / 1000;
        let widths = Widths::new(&shown, m.params.secs, fastest);
        let mut w = Watch::new(dir.path(), m.params.machines);
        let (read, _) = w.poll(u64::MAX, true);
        for r in &read {
            lines.push(event_line(&r.rec, r.before, Style::Plain));
        }
        for (id, rate) in &shown {
            let seen = &w.seen[usize::from(*id)];
            let planned = Planned::at(&m.faults, m.params.machines, *id, 5 * S);
            lines.push(machine_line(
                *id,
                rate,
                (seen, &planned),
                w.waiting(*id),
                &widths,
            ));
            lines.push(machine_line(*id, rate, (seen, &planned), None, &widths));
        }
        let time = time_message(m.params.secs * 1000 - 1, m.params.secs);
        lines.push(format!("{} {time}", "█".repeat(TIME_BAR)));
    }
    let pids: Vec<String> = (0..10)
        .map(|i| format!("machine {i} pid 4194304"))
        .collect();
    lines.extend(list_lines("host-unix: ", &pids));
    for l in &lines {
        assert!(cols(l) <= WIDTH, "{} columns: {l}", cols(l));
    }
    assert!(lines.len() > 1000);
}

#[test]
fn a_long_end_note_goes_on_its_own_line() {
    let mut report = check::CheckReport::default();
    for id in 0..3 {
        report.machines.push(check::MachineStats {
            id,
            rate: 6,
            end_note: Some(if id == 1 {
                "peers 0+2 lost; every peer but 0+4 stalled; time up".into()
            } else {
                "time up".into()
            }),
            ..Default::default()
        });
    }
    let table = summary_table(&report);
    for l in table.lines() {
        assert!(cols(l) <= WIDTH, "{l}");
    }
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[2].trim_start().starts_with('0') && lines[2].ends_with("time up"));
    assert!(lines[3].trim_start().starts_with('1') && lines[3].ends_with("-"));
    assert!(
        lines[4].trim_start().starts_with("end: peers 0+2 lost;"),
        "{table}"
    );
    assert_eq!(lines.len(), 6, "{table}");
}

/// A run's planned faults (its flags) show as its live ones do, while their windows last;
/// a live `delay` row replaces the planned delay.
#[test]
fn planned_faults_show_in_their_windows() {
    let m = model(4, 20, 1, 1000);
    let plan = crate::args::fault_plan(
        Some("40:20"),
        &["1@2+3".into()],
        &["0,1/2-3@3+3".into()],
        &m.params,
    )
    .unwrap();
    let mut s = Seen::default();
    s.apply(&row(1, Kind::Start, 0, 0, ""));
    let state = |s: &Seen, id: u16, t: u64| s.state_with(&Planned::at(&plan, 4, id, t));
    assert_eq!(state(&s, 1, S), "delayed 40-60 ms");
    assert_eq!(state(&s, 1, 2 * S), "paused, delayed 40-60 ms");
    assert_eq!(
        state(&s, 1, 4 * S),
        "paused, cut from 2,3, delayed 40-60 ms"
    );
    assert_eq!(state(&s, 2, 4 * S), "cut from 0,1, delayed 40-60 ms");
    assert_eq!(state(&s, 1, 5 * S), "cut from 2,3, delayed 40-60 ms");
    assert_eq!(state(&s, 1, 6 * S), "delayed 40-60 ms");
    s.apply(&fault(1, 0, "delay 0"));
    assert_eq!(state(&s, 1, 6 * S), "running");
    s.apply(&fault(1, 0, "delay 300"));
    assert_eq!(state(&s, 1, 6 * S), "delayed 300 ms");
}

/// A machine whose peers log elsewhere (host-tcp, one machine per computer) cannot count
/// what waits for it: the display falls back to its own logged queue.
#[test]
fn waiting_is_unknown_without_every_peers_log() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(3, 5, 11, 1000);
    sim::simulate_to(&m, 0, dir.path()).unwrap();
    std::fs::remove_file(crate::folder::log_path(dir.path(), 2)).unwrap();
    let mut w = Watch::new(dir.path(), 3);
    w.poll(u64::MAX, false);
    assert_eq!(w.waiting(0), None);
    let widths = Widths::new(&[(0, "6/s".into())], 5, 6);
    let line = machine_line(0, "6/s", (&w.seen[0], &Planned::default()), None, &widths);
    assert!(line.contains("  queue      "), "{line}");
    assert!(
        line.ends_with("ended") || line.contains("ended, "),
        "{line}"
    );
}
