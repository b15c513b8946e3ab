//! End-of-run accounting, the same for every host.
//!
//! A machine counts the `Msg` frames it sends to and receives from each peer. At the end it
//! sends each peer `Bye` with the count it sent, drains until every peer has said `Bye` (or
//! is gone), and checks each peer's count against what arrived. A connection that closes
//! without `Bye` is a lost peer: a crash.

use crate::{EXIT_FAILED, EXIT_OK, EXIT_PEER, EXIT_SIGINT, EXIT_SIGTERM};
use lamport_core::MachineId;

/// Why a machine stopped ticking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The run's time is up.
    TimeUp,
    /// This machine's queue was full (limit given).
    QueueFull(u32),
    /// A peer said `Bye` before the end: it stopped early.
    PeerStopped(MachineId),
    /// A peer's connection closed without `Bye`, or it sent bytes that are not a frame.
    PeerLost(MachineId),
    /// SIGINT.
    Interrupted,
    /// SIGTERM.
    Terminated,
    /// The supervisor (parent process, or the process that owns this thread) went away.
    SupervisorLost,
}

/// What one machine knows about its peers.
#[derive(Debug, Clone)]
pub struct PeerBook {
    me: MachineId,
    sent: Vec<u64>,
    received: Vec<u64>,
    bye: Vec<Option<u64>>,
    lost: Vec<bool>,
}

impl PeerBook {
    /// The book of machine `me` in a run of `machines`.
    pub fn new(me: MachineId, machines: u16) -> Self {
        let n = usize::from(machines);
        Self {
            me,
            sent: vec![0; n],
            received: vec![0; n],
            bye: vec![None; n],
            lost: vec![false; n],
        }
    }

    /// A `Msg` was sent to `to`.
    pub fn sent_to(&mut self, to: MachineId) {
        self.sent[usize::from(to)] += 1;
    }
    /// How many `Msg` frames were sent to `to` (the count its `Bye` carries).
    pub fn sent(&self, to: MachineId) -> u64 {
        self.sent[usize::from(to)]
    }
    /// A `Msg` arrived from `from`.
    pub fn received_from(&mut self, from: MachineId) {
        self.received[usize::from(from)] += 1;
    }
    /// `from` said `Bye` with `count`.
    pub fn bye(&mut self, from: MachineId, count: u64) {
        self.bye[usize::from(from)] = Some(count);
    }
    /// True once `from` has said `Bye`.
    pub fn has_bye(&self, from: MachineId) -> bool {
        self.bye[usize::from(from)].is_some()
    }
    /// `from`'s connection closed. Returns true if that is a loss (no `Bye` before it).
    pub fn closed(&mut self, from: MachineId) -> bool {
        let i = usize::from(from);
        if self.bye[i].is_none() {
            self.lost[i] = true;
        }
        self.lost[i]
    }
    /// Marks `from` lost (garbage on its connection, or no answer in time).
    pub fn mark_lost(&mut self, from: MachineId) {
        self.lost[usize::from(from)] = true;
    }
    /// The peers, without this machine.
    pub fn peers(&self) -> impl Iterator<Item = MachineId> + '_ {
        (0..self.sent.len() as MachineId).filter(move |&p| p != self.me)
    }
    /// True when every peer has said `Bye` or is lost: draining is over.
    pub fn settled(&self) -> bool {
        self.peers()
            .all(|p| self.bye[usize::from(p)].is_some() || self.lost[usize::from(p)])
    }
    /// Peers whose `Bye` count differs from what arrived: (peer, said, received).
    pub fn mismatches(&self) -> Vec<(MachineId, u64, u64)> {
        self.peers()
            .filter_map(|p| {
                let i = usize::from(p);
                self.bye[i]
                    .filter(|&said| said != self.received[i])
                    .map(|said| (p, said, self.received[i]))
            })
            .collect()
    }

    /// The note of the `end` row and the machine's exit status, from why it stopped and
    /// what draining found.
    pub fn verdict(&self, stop: Stop) -> (String, u8) {
        let lost: Vec<MachineId> = self
            .peers()
            .filter(|&p| self.lost[usize::from(p)])
            .collect();
        let mut parts: Vec<String> = lost.iter().map(|p| format!("peer {p} lost")).collect();
        match stop {
            Stop::PeerLost(p) if lost.contains(&p) => {}
            Stop::PeerStopped(_) if !lost.is_empty() => {}
            _ => parts.push(stop_text(stop)),
        }
        let mismatches = self.mismatches();
        for (p, said, got) in &mismatches {
            parts.push(format!(
                "bye count mismatch: peer {p} sent {said} received {got}"
            ));
        }
        let code = if !mismatches.is_empty()
            || matches!(stop, Stop::QueueFull(_) | Stop::SupervisorLost)
        {
            EXIT_FAILED
        } else if stop == Stop::Interrupted {
            EXIT_SIGINT
        } else if stop == Stop::Terminated {
            EXIT_SIGTERM
        } else if !lost.is_empty() || matches!(stop, Stop::PeerStopped(_) | Stop::PeerLost(_)) {
            EXIT_PEER
        } else {
            EXIT_OK
        };
        (parts.join("; "), code)
    }
}

/// The text of a stop reason, as the `end` row's note says it.
pub fn stop_text(stop: Stop) -> String {
    match stop {
        Stop::TimeUp => "time up".into(),
        Stop::QueueFull(cap) => format!("queue full (cap {cap})"),
        Stop::PeerStopped(p) => format!("peer {p} stopped early"),
        Stop::PeerLost(p) => format!("peer {p} lost"),
        Stop::Interrupted => "interrupted".into(),
        Stop::Terminated => "terminated".into(),
        Stop::SupervisorLost => "supervisor lost".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_end() {
        let mut b = PeerBook::new(0, 3);
        b.sent_to(1);
        b.received_from(2);
        assert!(!b.settled());
        b.bye(1, 0);
        b.bye(2, 1);
        assert!(b.settled());
        assert_eq!(b.verdict(Stop::TimeUp), ("time up".into(), EXIT_OK));
    }

    #[test]
    fn closed_without_bye_is_lost_and_named_first() {
        let mut b = PeerBook::new(0, 3);
        b.bye(1, 0);
        assert!(!b.closed(1), "closing after Bye is normal");
        assert!(b.closed(2));
        assert!(b.settled());
        assert_eq!(
            b.verdict(Stop::PeerStopped(1)),
            ("peer 2 lost".into(), EXIT_PEER)
        );
        assert_eq!(
            b.verdict(Stop::Interrupted),
            ("peer 2 lost; interrupted".into(), EXIT_SIGINT)
        );
    }

    #[test]
    fn count_mismatch_fails() {
        let mut b = PeerBook::new(1, 3);
        b.received_from(0);
        b.bye(0, 2);
        b.bye(2, 0);
        let (note, code) = b.verdict(Stop::TimeUp);
        assert_eq!(code, EXIT_FAILED);
        assert_eq!(
            note,
            "time up; bye count mismatch: peer 0 sent 2 received 1"
        );
    }
}
