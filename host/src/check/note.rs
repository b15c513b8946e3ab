//! An `end` row's note, read back as the claims it makes: the peers it names lost or
//! stalled, why the machine stopped, and every `Bye` count that did not match. The checker
//! then judges each claim against the rows (`rules.rs`: the machine's own; `mod.rs`: the
//! named peers' logs).
//!
//! The grammar is what [`lamport_core::node::Node`] writes: parts joined by `; `, the lost
//! and stalled lists first, then at most one reason (none when the stop was a named peer's
//! loss), then the mismatches. Anything else is a claim the model never makes.

use lamport_core::{
    MachineId,
    end_note::{lost_part, named_lost},
    node::{Lost, Stop},
    params::parse_milli,
};

/// Why a machine stopped, as its note says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A reason without figures: `time up`, `interrupted`, `peer 2 stopped early`, ...
    Stop(Stop),
    /// `could not keep up at rate R × speedup S (N ticks left)`.
    FellBehind {
        /// The rate it names.
        rate: u32,
        /// The speedup it names, in thousandths.
        speedup_milli: u32,
        /// The ticks it says were left.
        left: u64,
    },
}

/// A `bye count mismatch: peer P sent S received R` part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// The peer.
    pub peer: MachineId,
    /// The count its `Bye` said.
    pub said: u64,
    /// The messages this machine says arrived from it.
    pub received: u64,
}

/// What an `end` note claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// Peers named lost or stalled.
    pub lost: Vec<(MachineId, Lost)>,
    /// Why it stopped (`None`: the loss of a peer it names, which the note then does not
    /// repeat).
    pub reason: Option<Reason>,
    /// `Bye` counts that did not match.
    pub mismatches: Vec<Mismatch>,
}

impl Claims {
    /// True when the note says `time up`.
    pub fn time_up(&self) -> bool {
        self.reason == Some(Reason::Stop(Stop::TimeUp))
    }
    /// How the note says `peer` was lost, if it does.
    pub fn names(&self, peer: MachineId) -> Option<Lost> {
        self.lost
            .iter()
            .find(|(p, _)| *p == peer)
            .map(|&(_, how)| how)
    }
}

/// The reasons without figures, as [`Stop`]'s `Display` writes them.
const PLAIN: [Stop; 6] = [
    Stop::TimeUp,
    Stop::Killed,
    Stop::Interrupted,
    Stop::Terminated,
    Stop::HungUp,
    Stop::SupervisorLost,
];

/// Reads `note`, the `end` note of machine `me` of a run of `machines`. `Err` says the
/// first part the model would never write.
pub fn parse(note: &str, machines: u16, me: MachineId) -> Result<Claims, String> {
    let mut c = Claims::default();
    if note.is_empty() {
        return Err("an empty `end` note: the model always says why a machine stopped".into());
    }
    for part in note.split("; ") {
        let reason = reason(part, machines, me);
        if let Some(r) = reason {
            if !c.mismatches.is_empty() {
                return Err(format!("`{part}` after a bye count mismatch"));
            }
            if c.reason.is_some() {
                return Err(format!("two reasons for one stop (`{part}`)"));
            }
            c.reason = Some(r);
        } else if let Some(m) = mismatch(part, machines, me) {
            c.mismatches.push(m);
        } else if part.ends_with(" lost") || part.ends_with(" stalled") {
            let mut ids = Vec::new();
            let mut kind = None;
            named_lost(part, machines, me, |p, how| {
                ids.push(p);
                kind = Some(how);
            });
            let Some(how) = kind else {
                return Err(format!("`{part}` names no peer of this machine"));
            };
            let canonical = lost_part(machines, me, &ids, how).to_string();
            if canonical != part {
                return Err(format!(
                    "`{part}` is not how the model names those peers (`{canonical}`)"
                ));
            }
            if c.reason.is_some() || !c.mismatches.is_empty() {
                return Err(format!("`{part}` after the reason: lost peers come first"));
            }
            // The node writes the lost, then the stalled, each once; a peer is one or the
            // other.
            if c.lost
                .iter()
                .any(|&(p, h)| h == how || h == Lost::Stalled || ids.contains(&p))
            {
                return Err(format!(
                    "`{part}` after another list of the same peers or kind"
                ));
            }
            c.lost.extend(ids.into_iter().map(|p| (p, how)));
        } else {
            return Err(format!("`{part}` is no reason the model gives"));
        }
    }
    if c.reason.is_none() && c.lost.is_empty() {
        return Err(format!("`{note}` gives no reason"));
    }
    Ok(c)
}

fn reason(part: &str, machines: u16, me: MachineId) -> Option<Reason> {
    if let Some(stop) = PLAIN.iter().find(|s| s.to_string() == part) {
        return Some(Reason::Stop(*stop));
    }
    if let Some(cap) = part
        .strip_prefix("queue full (cap ")
        .and_then(|r| r.strip_suffix(')'))
    {
        return Some(Reason::Stop(Stop::QueueFull(cap.parse().ok()?)));
    }
    if let Some(p) = part
        .strip_prefix("peer ")
        .and_then(|r| r.strip_suffix(" stopped early"))
    {
        let p: MachineId = p.parse().ok()?;
        return (p < machines && p != me).then_some(Reason::Stop(Stop::PeerStopped(p)));
    }
    let rest = part.strip_prefix("could not keep up at rate ")?;
    let (rate, rest) = rest.split_once(" × speedup ")?;
    let (speedup, rest) = rest.split_once(" (")?;
    let left = rest.strip_suffix(" ticks left)")?;
    Some(Reason::FellBehind {
        rate: rate.parse().ok()?,
        speedup_milli: parse_milli(speedup)?,
        left: left.parse().ok()?,
    })
}

fn mismatch(part: &str, machines: u16, me: MachineId) -> Option<Mismatch> {
    let rest = part.strip_prefix("bye count mismatch: peer ")?;
    let (peer, rest) = rest.split_once(" sent ")?;
    let (said, received) = rest.split_once(" received ")?;
    let m = Mismatch {
        peer: peer.parse().ok()?,
        said: said.parse().ok()?,
        received: received.parse().ok()?,
    };
    (m.peer < machines && m.peer != me && m.said != m.received).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_note_the_node_writes_reads_back() {
        let c = parse("peers 1+3 lost; peer 4 stalled; time up", 5, 0).unwrap();
        assert_eq!(
            c.lost,
            vec![(1, Lost::Vanished), (3, Lost::Vanished), (4, Lost::Stalled)]
        );
        assert!(c.time_up());
        let c = parse("peer 2 lost", 3, 0).unwrap();
        assert_eq!(c.reason, None);
        let c = parse(
            "could not keep up at rate 6 × speedup 2.5 (12 ticks left)",
            3,
            0,
        )
        .unwrap();
        assert_eq!(
            c.reason,
            Some(Reason::FellBehind {
                rate: 6,
                speedup_milli: 2500,
                left: 12
            })
        );
        let c = parse(
            "interrupted; bye count mismatch: peer 2 sent 2 received 1",
            3,
            0,
        )
        .unwrap();
        assert_eq!(c.mismatches.len(), 1);
        assert_eq!(
            parse("queue full (cap 3)", 3, 1).unwrap().reason,
            Some(Reason::Stop(Stop::QueueFull(3)))
        );
        for plain in [
            "interrupted",
            "terminated",
            "hung up",
            "supervisor lost",
            "killed",
        ] {
            assert!(parse(plain, 3, 0).unwrap().reason.is_some(), "{plain}");
        }
        assert_eq!(
            parse("peer 1 stopped early", 3, 0).unwrap().reason,
            Some(Reason::Stop(Stop::PeerStopped(1)))
        );
    }

    #[test]
    fn notes_the_node_never_writes_are_refused() {
        for bad in [
            "",
            "banana",
            "time up; time up",
            "time up; peer 1 lost",
            "peer 0 lost",
            "peer 0 stopped early",
            "peer 9 stopped early",
            "bye count mismatch: peer 1 sent 2 received 2",
            "bye count mismatch: peer 1 sent 2 received 1; time up",
            "queue full (cap x)",
            "time up ",
            "peers 0-2+7+1 lost; peer 1 stalled; time up",
            "peers 1 lost",
            "peer 01 lost",
            "peers 1-1 lost",
            "every peer but 1 lost",
            "peers 1+2 lost",
            "peer 1 lost; peer 1 stalled",
            "peer 2 stalled; peer 1 lost",
        ] {
            assert!(parse(bad, 3, 0).is_err(), "{bad:?}");
        }
    }
}
