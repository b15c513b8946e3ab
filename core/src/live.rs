//! Faults set while the run runs, at the teacher's hand: a machine paused and resumed, a
//! partition opened and healed, a delay set or cleared, a machine killed.
//!
//! Each is a [`Live`] fault as one machine takes it ([`crate::node::Node::control`]): the
//! node writes a `fault` row (its note is the fault's text below), then changes its own
//! [`crate::faults::Plan`] at that instant, so that the one fault code of
//! [`crate::faults`] carries it out exactly as it carries out a planned fault:
//!
//! - `pause` opens a pause of this machine at `now` ([`crate::faults::Window::open`]): it
//!   does no tick whose deadline lies at or after `now` until `resume` closes the window
//!   at the instant it comes. Skipped ticks are not caught up; the queue keeps filling.
//! - `partition A/B` (this machine on one side) holds every message from the other side
//!   that would enter its queue from `now` on, until `heal` closes every partition open at
//!   this machine; held messages then enter in order. Nothing is dropped.
//! - `delay D:J` sets the delay (milliseconds, jitter `J` drawn as for `--delay-ms`) of every
//!   message that arrives from `now` on; `delay 0` clears it.
//! - `kill` stops this machine at once, as a crash would: its queue and held messages are
//!   `unprocessed` rows, it says `Bye` to no one, closes every connection, and its `end` row
//!   says `killed`. Its peers see their connections close and end it as lost.
//!
//! Rows are the replay's input: a machine fed the same faults at the same instants writes
//! the same rows ([`crate::sim`] replays a run this way).

use crate::{Error, faults::Side, params::parse_milli_u64, params::write_milli};
use core::fmt;

/// A fault set during the run, as one machine takes it. Its `Display` is the note of the
/// `fault` row (without commas: sides are written `0-1+4`), which [`Live::parse`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Live {
    /// This machine stops ticking until `Resume`.
    Pause,
    /// This machine ticks again.
    Resume,
    /// Messages between the two sides are held (this machine is on one of them).
    Partition(Side, Side),
    /// Every partition open at this machine closes.
    Heal,
    /// Messages arriving from now on wait this long (and a jitter up to `jitter_ns`).
    Delay {
        /// The delay.
        delay_ns: u64,
        /// The jitter's bound.
        jitter_ns: u64,
    },
    /// This machine stops at once, as if it crashed.
    Kill,
}

/// Why a machine did not take a live fault (it writes no row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The run has not started yet.
    NotStarted,
    /// The machine has stopped ticking.
    Stopped,
    /// The machine is paused already.
    Paused,
    /// The machine is not paused.
    NotPaused,
    /// The machine is on neither side of the partition.
    NotOnASide,
    /// No partition is open at the machine.
    NoPartition,
    /// The machine's plan has no room for another window.
    Full,
    /// The machine holds no faults (the plain model of a microcontroller).
    NoFaults,
    /// The delay is longer than the run.
    TooLong,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotStarted => "the run has not started yet",
            Self::Stopped => "it has stopped",
            Self::Paused => "it is paused already",
            Self::NotPaused => "it is not paused",
            Self::NotOnASide => "it is on neither side",
            Self::NoPartition => "no partition is open",
            Self::Full => "it has had 64 pauses and partitions already",
            Self::NoFaults => "it holds no faults",
            Self::TooLong => "the delay is longer than the run",
        })
    }
}

impl Live {
    /// Parses a `fault` row's note (or the same words typed by hand; sides may use `,`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        const BAD: &str = "a live fault is pause, resume, partition A/B, heal, delay D[:J] or kill";
        let s = s.trim();
        let (word, arg) = s.split_once(' ').unwrap_or((s, ""));
        let arg = arg.trim();
        let bare = |l: Self| {
            if arg.is_empty() {
                Ok(l)
            } else {
                Err(Error::Fault(BAD))
            }
        };
        match word {
            "pause" => bare(Self::Pause),
            "resume" => bare(Self::Resume),
            "heal" => bare(Self::Heal),
            "kill" => bare(Self::Kill),
            "partition" => {
                let (a, b) = arg.split_once('/').ok_or(Error::Fault(BAD))?;
                let (a, b) = Side::parse_pair(a, b)?;
                Ok(Self::Partition(a, b))
            }
            "delay" => {
                const DELAY: &str = "a delay is D or D:J in milliseconds, like 300 or 300:100";
                let (d, j) = arg.split_once(':').unwrap_or((arg, "0"));
                let us = |t: &str| parse_milli_u64(t).and_then(|m| m.checked_mul(1_000));
                let (delay_ns, jitter_ns) = us(d).zip(us(j)).ok_or(Error::Fault(DELAY))?;
                Ok(Self::Delay {
                    delay_ns,
                    jitter_ns,
                })
            }
            _ => Err(Error::Fault(BAD)),
        }
    }

    /// True for the faults that end a pause or a partition, or clear a delay.
    pub fn ends_a_fault(&self) -> bool {
        matches!(
            self,
            Self::Resume
                | Self::Heal
                | Self::Delay {
                    delay_ns: 0,
                    jitter_ns: 0
                }
        )
    }
}

impl fmt::Display for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pause => f.write_str("pause"),
            Self::Resume => f.write_str("resume"),
            Self::Heal => f.write_str("heal"),
            Self::Kill => f.write_str("kill"),
            Self::Partition(a, b) => {
                f.write_str("partition ")?;
                a.write_with(f, "+")?;
                f.write_str("/")?;
                b.write_with(f, "+")
            }
            Self::Delay {
                delay_ns,
                jitter_ns,
            } => {
                f.write_str("delay ")?;
                write_milli(f, delay_ns / 1_000)?;
                if *jitter_ns != 0 {
                    f.write_str(":")?;
                    write_milli(f, jitter_ns / 1_000)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn a_fault_row_note_round_trips() {
        for note in [
            "pause",
            "resume",
            "heal",
            "kill",
            "partition 0/1-2",
            "partition 0-1+4/2+3",
            "delay 300:100",
            "delay 0",
            "delay 2.5",
        ] {
            let live = Live::parse(note).unwrap();
            assert_eq!(live.to_string(), note);
        }
        assert_eq!(
            Live::parse("partition 0/1,2").unwrap().to_string(),
            "partition 0/1+2"
        );
    }

    #[test]
    fn bad_faults_say_what_is_expected() {
        for bad in [
            "",
            "paws",
            "pause 1",
            "partition 0",
            "partition 0/0",
            "partition /1",
            "delay",
            "delay x",
            "delay 1:2:3",
            "kill now",
        ] {
            assert!(Live::parse(bad).is_err(), "{bad}");
        }
    }
}
