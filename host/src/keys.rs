//! The display's keys: faults at the teacher's hand from the terminal the run was started
//! in, through the run's [`Control`] (the same board `lab ctl` and the live page use).
//!
//! `0`-`9` choose a machine (machine 1 at first), `p` pauses it or resumes it, `c` cuts it
//! from the others (a partition) and `h` heals, `d` sets a delay of 300 ms plus a jitter up
//! to 100 ms or clears it, `k` kills it. The terminal stays in its usual mode but for line editing and
//! echo (Ctrl-C still interrupts the run), and is put back as it was when the keys are
//! dropped.

use crate::control::Control;
use lamport_core::MachineId;
use nix::sys::termios::{LocalFlags, SetArg, Termios, tcgetattr, tcsetattr};
use std::{
    io::{IsTerminal as _, Read as _},
    sync::Mutex,
};

/// The line the display shows at first under the machines: the keys.
pub const HELP: &str = "keys: 0-9 machine, p pause/resume, c cut, h heal, d delay, k kill";

/// What the keys say now, for the display (one terminal, one set of keys per process):
/// `None` while no keys are read.
static STATUS: Mutex<Option<String>> = Mutex::new(None);

/// The keys' line for the display (their help and what the last key did), while keys are
/// read.
pub fn status() -> Option<String> {
    STATUS.lock().ok().and_then(|s| s.clone())
}

fn say(line: String) {
    if let Ok(mut s) = STATUS.lock() {
        *s = Some(line);
    }
}

/// Keys being read; the terminal is restored when dropped.
#[derive(Debug)]
pub struct Keys {
    saved: Option<Termios>,
}

impl Keys {
    /// Starts reading keys when standard input is a terminal; `None` otherwise. `first`
    /// is the machine chosen at first; `machines` bounds the choice.
    pub fn start(control: Control, machines: u16, first: MachineId) -> Option<Self> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.local_flags
            .remove(LocalFlags::ICANON | LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        say(format!("{HELP} (machine {first})"));
        let started = std::thread::Builder::new()
            .name("keys".into())
            .spawn(move || read_keys(&control, machines, first));
        if started.is_err() {
            let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
            return None;
        }
        Some(Self { saved: Some(saved) })
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        if let Ok(mut s) = STATUS.lock() {
            *s = None;
        }
        if let Some(t) = self.saved.take() {
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, &t);
        }
    }
}

/// The command a key stands for, with machine `m` chosen and the board's answers so far:
/// `None` for a key that is not a command.
pub fn command_of(key: u8, m: MachineId, machines: u16) -> Option<Vec<String>> {
    // Every other machine as at most two ranges (`0-3,5-9`): a side holds 8 at most.
    let others: Vec<String> = [(0, m), (m + 1, machines)]
        .into_iter()
        .filter(|(a, b)| a < b)
        .map(|(a, b)| {
            if b - a == 1 {
                a.to_string()
            } else {
                format!("{a}-{}", b - 1)
            }
        })
        .collect();
    Some(match key {
        // Try to pause; a paused machine refuses, then resume.
        b'p' => vec![format!("pause {m}"), format!("resume {m}")],
        b'k' => vec![format!("kill {m}")],
        b'c' => vec![format!("partition {m}/{}", others.join(","))],
        b'h' => vec!["heal".into()],
        b'd' => vec!["delay 300:100".into(), "delay off".into()],
        _ => return None,
    })
}

/// What the keys' line says of the board's `answer` to command `t`. `ok -`: no machine
/// of this process took it (with one process per machine, the chosen one runs elsewhere).
fn reply_of(t: &str, answer: &str) -> String {
    match answer.strip_prefix("ok ") {
        Some("-") => format!("{t}: no machine of this process took it"),
        Some(ids) => format!("{t} sent to {ids}"),
        None => answer.replacen(&format!("refused: {t}: "), "refused: ", 1),
    }
}

fn read_keys(control: &Control, machines: u16, first: MachineId) {
    let mut chosen = first;
    let mut delayed = false;
    let mut byte = [0u8; 1];
    let mut stdin = std::io::stdin();
    while let Ok(1) = stdin.read(&mut byte) {
        let key = byte[0];
        let said = if key.is_ascii_digit() && MachineId::from(key - b'0') < machines {
            chosen = MachineId::from(key - b'0');
            "chosen".to_string()
        } else if let Some(mut tries) = command_of(key, chosen, machines) {
            if key == b'd' && delayed {
                tries.remove(0);
            }
            let mut reply = String::new();
            for t in &tries {
                reply = reply_of(t, &control.apply(t));
                if !reply.contains("refused") {
                    break;
                }
            }
            if key == b'd' && !reply.contains("refused") {
                delayed = !delayed;
            }
            reply
        } else {
            continue;
        };
        say(format!("keys 0-9 p c h d k; machine {chosen}: {said}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_stands_for_a_command_the_board_reads() {
        for key in [b'p', b'k', b'c', b'h', b'd'] {
            for c in command_of(key, 1, 4).unwrap() {
                assert!(c.parse::<crate::control::Command>().is_ok(), "{c}");
            }
        }
        assert_eq!(command_of(b'c', 1, 4).unwrap(), ["partition 1/0,2-3"]);
        assert_eq!(command_of(b'c', 0, 3).unwrap(), ["partition 0/1-2"]);
        assert_eq!(command_of(b'c', 9, 10).unwrap(), ["partition 9/0-8"]);
        assert_eq!(command_of(b'c', 4, 64).unwrap(), ["partition 4/0-3,5-63"]);
        assert!(command_of(b'x', 1, 4).is_none());
    }

    #[test]
    fn the_keys_line_says_what_the_board_answered() {
        assert_eq!(reply_of("pause 1", "ok 1"), "pause 1 sent to 1");
        assert_eq!(
            reply_of("pause 1", "refused: pause 1: machine 1: paused already"),
            "refused: machine 1: paused already"
        );
        // A machine of another process: nothing was sent, and the line says so.
        assert_eq!(
            reply_of("pause 2", "ok -"),
            "pause 2: no machine of this process took it"
        );
    }
}
