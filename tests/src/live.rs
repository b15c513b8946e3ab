//! Live faults for the property tests: a teacher's random script of faults that the
//! machines can take ([`script`]), and the live faults' rules stated directly on a run's
//! rows ([`rules_hold`]), apart from the checker, for the simulator and the mesh alike.

use lamport_core::{
    MachineId, Record,
    live::Live,
    record::{Kind, Peers},
};

/// One pick of a random script: at `ms` after the start, fault kind `kind % 4` (pause or
/// resume, partition, heal, delay) at machine `who % n`; `mask` splits the machines for a
/// partition, `delay_ms` is a delay's length.
pub type Pick = (u64, u8, u16, u16, u64);

/// Up to 10 random [`Pick`]s in a run of `secs` seconds, for [`script`].
pub fn arb_picks(secs: u64) -> impl proptest::strategy::Strategy<Value = Vec<Pick>> {
    use proptest::prelude::*;
    proptest::collection::vec(
        (
            0..secs * 1000,
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            0u64..600,
        ),
        0..10,
    )
}

/// A teacher's live faults for a run of `n` machines: each pick in time order, turned into
/// the faults the machines concerned take then (a partition goes to every machine on
/// either side, a heal to every machine with one open), dropping those none could take;
/// then, with `kill`, machine `kill.1` killed at `kill.0` ms (later picks dropped). Each
/// item: nanoseconds after the start, the machine, the fault.
pub fn script(n: u16, picks: &[Pick], kill: Option<(u64, u16)>) -> Vec<(u64, MachineId, Live)> {
    let mut picks = picks.to_vec();
    picks.sort_by_key(|p| p.0);
    let n_ = usize::from(n);
    let (mut paused, mut cut) = (vec![false; n_], vec![false; n_]);
    let mut out = Vec::new();
    let until = kill.map_or(u64::MAX, |k| k.0);
    for &(ms, kind, who, mask, delay_ms) in picks.iter().filter(|p| p.0 < until) {
        let at = ms * 1_000_000;
        let who = who % n;
        match kind % 4 {
            0 => {
                let w = usize::from(who);
                paused[w] = !paused[w];
                let live = if paused[w] { Live::Pause } else { Live::Resume };
                out.push((at, who, live));
            }
            1 => {
                let a: Vec<MachineId> = (0..n).filter(|m| mask & (1 << m) != 0).collect();
                let b: Vec<MachineId> = (0..n).filter(|m| mask & (1 << m) == 0).collect();
                if a.is_empty() || b.is_empty() {
                    continue;
                }
                let join = |v: &[MachineId]| {
                    v.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("+")
                };
                let live = Live::parse(&format!("partition {}/{}", join(&a), join(&b)))
                    .expect("a partition");
                for m in 0..n {
                    cut[usize::from(m)] = true;
                    out.push((at, m, live.clone()));
                }
            }
            2 => {
                for m in 0..n {
                    if std::mem::take(&mut cut[usize::from(m)]) {
                        out.push((at, m, Live::Heal));
                    }
                }
            }
            _ => out.push((
                at,
                who,
                Live::Delay {
                    delay_ns: delay_ms * 1_000_000,
                    jitter_ns: 0,
                },
            )),
        }
    }
    if let Some((ms, m)) = kill {
        out.push((ms * 1_000_000, m % n, Live::Kill));
    }
    out
}

/// A window a machine's fault rows opened: `[from, to)` (`to` the end of time while open).
struct Open {
    from: u64,
    to: u64,
}

/// The live faults' rules on the rows of one run (by machine), each machine's faults read
/// from its own `fault` rows: no tick inside a pause; no message from the other side of a
/// partition, sent inside it, received inside it; each message received at least the
/// delay in force at its receiver after its send (while that delay lasted); each message
/// sent logged exactly once at its receiver, in order (a prefix at a killed one); a killed
/// machine ends `killed` at its kill with no tick after it, and every other machine that
/// was still running names it lost. `Err` says the first rule broken.
pub fn rules_hold(rows: &[Vec<Record>]) -> Result<(), String> {
    let n = rows.len();
    let mut killed = vec![None; n];
    for (j, rs) in rows.iter().enumerate() {
        let faults: Vec<(u64, Live)> = rs
            .iter()
            .filter(|r| r.kind == Kind::Fault)
            .map(|r| (r.unix_ns, Live::parse(&r.note).expect("a fault note")))
            .collect();
        let ticks = || rs.iter().filter(|r| r.kind.is_tick());
        for w in windows(&faults, |l| *l == Live::Pause, |l| *l == Live::Resume) {
            if let Some(t) = ticks().find(|r| (w.from..w.to).contains(&r.unix_ns)) {
                return Err(format!(
                    "machine {j} ticked at {} inside its pause",
                    t.unix_ns
                ));
            }
        }
        for (k, (at, live)) in faults.iter().enumerate() {
            let Live::Partition(a, b) = live else {
                continue;
            };
            let to = faults[k..]
                .iter()
                .find(|f| f.1 == Live::Heal)
                .map_or(u64::MAX, |f| f.0);
            let me = j as MachineId;
            let other = if a.has(me) { b } else { a };
            for i in other.ids() {
                for (s, r) in crate::trips(rows, i, me) {
                    if s >= *at && (*at..to).contains(&r) {
                        return Err(format!(
                            "machine {j} received at {r} a message machine {i} sent at {s}, inside the partition from {at}"
                        ));
                    }
                }
            }
        }
        delays_hold(rows, j, &faults)?;
        if let Some((at, _)) = faults.iter().find(|f| f.1 == Live::Kill) {
            killed[j] = Some(*at);
            let end = rs
                .last()
                .filter(|r| r.kind == Kind::End && r.note.as_str() == "killed");
            if end.is_none_or(|e| e.unix_ns != *at) || ticks().any(|r| r.unix_ns > *at) {
                return Err(format!(
                    "machine {j} killed at {at} does not end `killed` then"
                ));
            }
        }
    }
    nothing_lost(rows, &killed)
}

/// Each pause (or partition) of one machine's faults, from the fault that opens it to the
/// next that closes it.
fn windows(
    faults: &[(u64, Live)],
    opens: impl Fn(&Live) -> bool,
    closes: impl Fn(&Live) -> bool,
) -> Vec<Open> {
    let mut v = Vec::new();
    for (k, (at, live)) in faults.iter().enumerate() {
        if opens(live) {
            let to = faults[k..]
                .iter()
                .find(|f| closes(&f.1))
                .map_or(u64::MAX, |f| f.0);
            v.push(Open { from: *at, to });
        }
    }
    v
}

/// A message sent while a delay D was in force at its receiver `j`, and received before
/// the delay changed, came at least D after its send.
fn delays_hold(rows: &[Vec<Record>], j: usize, faults: &[(u64, Live)]) -> Result<(), String> {
    let delays: Vec<(u64, u64)> = faults
        .iter()
        .filter_map(|(at, l)| match l {
            Live::Delay { delay_ns, .. } => Some((*at, *delay_ns)),
            _ => None,
        })
        .collect();
    for (k, &(from, d)) in delays.iter().enumerate() {
        let to = delays.get(k + 1).map_or(u64::MAX, |x| x.0);
        for i in (0..rows.len()).filter(|&i| i != j) {
            for (s, r) in crate::trips(rows, i as MachineId, j as MachineId) {
                if s >= from && r < to && r < s + d {
                    return Err(format!(
                        "machine {j} received at {r} a message machine {i} sent at {s}, sooner than its delay of {d} ns"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Every message sent is logged once at its receiver (`recv` or `unprocessed`), in order:
/// all of them, or a prefix at a machine killed. A machine killed is named lost by every
/// peer that had not ended by its kill.
fn nothing_lost(rows: &[Vec<Record>], killed: &[Option<u64>]) -> Result<(), String> {
    let n = rows.len();
    for i in 0..n {
        for j in (0..n).filter(|&j| j != i) {
            let sent: Vec<u64> = rows[i]
                .iter()
                .filter(|r| r.kind == Kind::Send && r.peer.iter().any(|p| usize::from(p) == j))
                .map(|r| r.clock)
                .collect();
            let got: Vec<u64> = rows[j]
                .iter()
                .filter(|r| matches!(r.kind, Kind::Recv | Kind::Unprocessed))
                .filter(|r| r.peer == Peers::One(i as MachineId))
                .filter_map(|r| r.msg_clock)
                .collect();
            let ok = if killed[j].is_some() {
                sent.starts_with(&got)
            } else {
                sent == got
            };
            if !ok {
                return Err(format!(
                    "machine {i} sent machine {j} {} messages, {} logged them ({} were expected)",
                    sent.len(),
                    got.len(),
                    if killed[j].is_some() {
                        "a prefix"
                    } else {
                        "all"
                    }
                ));
            }
        }
        if let Some(at) = killed[i] {
            for (j, rs) in rows.iter().enumerate().filter(|(j, _)| *j != i) {
                let Some(end) = rs.last().filter(|r| r.kind == Kind::End) else {
                    continue;
                };
                let named = lamport_host::check::note::parse(&end.note, n as u16, j as u16)
                    .is_ok_and(|c| c.names(i as MachineId).is_some());
                let stopped_before = rs
                    .iter()
                    .find(|r| matches!(r.kind, Kind::Unprocessed | Kind::End))
                    .is_some_and(|r| r.unix_ns < at);
                if !named && !stopped_before && killed[j].is_none() {
                    return Err(format!(
                        "machine {j} ends `{}` without naming machine {i}, killed at {at}",
                        end.note
                    ));
                }
            }
        }
    }
    Ok(())
}
