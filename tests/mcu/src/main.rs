//! The lamport-lab simulator as firmware: runs a fixed 3-machine, 60-second model with the
//! core's deterministic simulator, formats every log line with the core's own formatter into
//! a running FNV-1a digest per machine (the exact bytes `lab sim` writes to
//! `machine-<id>.log`), checks the clock rules as it goes, prints the digests and machine 0's
//! first and last lines over semihosting, and exits 0 when its checks pass.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::fmt::{self, Write};
use lamport_core::{
    node::FixedLedger,
    FNV_OFFSET, RunParams, Spec, fnv1a,
    record::{Kind, Record},
    sim::{Outcome, Sim, SimNode},
};
use semihosting::println;

/// The model: the same as `lab sim --seed 42 --rates 2,4,6 --queue-cap 32 --secs 60`.
const SEED: u64 = 42;
const RATES: [u32; 3] = [2, 4, 6];
const SECS: u64 = 60;
/// lab sim's default start instant.
const START_UNIX_NS: u64 = 1_764_070_000_000_000_000;
/// Queue slots per machine.
const CAP: usize = 32;

/// A `fmt::Write` that only digests what is written, and counts lines. It also notes the
/// lowest stack address it ran at: formatting a record is the deepest the firmware goes.
struct Digest {
    hash: u64,
    lines: u32,
    low: usize,
}

impl Write for Digest {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let here = 0u8;
        self.low = self.low.min(core::ptr::addr_of!(here) as usize);
        self.hash = fnv1a(self.hash, s.as_bytes());
        self.lines += s.bytes().filter(|&b| b == b'\n').count() as u32;
        Ok(())
    }
}

/// `top`: a stack address in the caller's frame, above everything `run` puts on the stack.
#[inline(never)]
fn run(top: usize) -> Result<(), &'static str> {
    let params = RunParams { secs: SECS, queue_cap: CAP as u32, ..RunParams::new(SEED, START_UNIX_NS) };
    // Latency 0: at most one message from each of the two peers is in flight (1 ns) at once.
    let a = SimNode::<CAP, 2, FixedLedger<3>>::new(Spec::new(params, 0).pinned(Some(RATES[0]))).map_err(|_| "bad parameters")?;
    let b = SimNode::<CAP, 2, FixedLedger<3>>::new(Spec::new(params, 1).pinned(Some(RATES[1]))).map_err(|_| "bad parameters")?;
    let c = SimNode::<CAP, 2, FixedLedger<3>>::new(Spec::new(params, 2).pinned(Some(RATES[2]))).map_err(|_| "bad parameters")?;
    let mut slots = [a, b, c];
    let state_bytes = core::mem::size_of_val(&slots);
    let new = || Digest { hash: FNV_OFFSET, lines: 0, low: usize::MAX };
    let mut digests = [new(), new(), new()];
    let mut due = [0u64; 3];
    for (i, s) in slots.iter().enumerate() {
        write!(digests[i], "{}", s.machine().header()).map_err(|_| "format")?;
        due[i] = s.machine().schedule().total();
    }
    let mut first: heapless::String<128> = heapless::String::new();
    let mut last: heapless::String<128> = heapless::String::new();
    let mut ticks = [0u64; 3];
    let mut clock = [0u64; 3];
    let mut broken = 0u32;
    let outcome = Sim::new(&mut slots, 0).map_err(|_| "simulator")?.run(|id, rec: &Record| {
        let i = usize::from(id);
        let _ = writeln!(digests[i], "{rec}");
        if rec.kind.is_tick() {
            ticks[i] += 1;
            let want = match (rec.kind, rec.msg_clock) {
                (Kind::Recv, Some(m)) => clock[i].max(m) + 1,
                _ => clock[i] + 1,
            };
            if rec.clock != want {
                broken += 1;
            }
            clock[i] = rec.clock;
        }
        if id == 0 {
            if first.is_empty() {
                let _ = write!(first, "{rec}");
            }
            last.clear();
            let _ = write!(last, "{rec}");
        }
    });
    for (i, d) in digests.iter().enumerate() {
        println!("machine-{}.log fnv1a={:016x} lines={}", i, d.hash, d.lines);
    }
    println!("first: {}", first);
    println!("last: {}", last);
    println!("simulator state: {} bytes ({} machines x {} queue slots)", state_bytes, RATES.len(), CAP);
    let low = digests.iter().map(|d| d.low).min().unwrap_or(top);
    println!("stack used: about {} bytes (simulator state included)", top.saturating_sub(low));
    if outcome != Outcome::TimeUp {
        return Err("the run did not end with time up");
    }
    if broken != 0 {
        return Err("a clock rule was broken");
    }
    if ticks != due {
        return Err("tick counts differ from the deadlines");
    }
    Ok(())
}

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    let top = 0u8;
    let code = match run(core::ptr::addr_of!(top) as usize) {
        Ok(()) => {
            println!("mcu: checks passed");
            0
        }
        Err(why) => {
            println!("mcu: FAILED: {}", why);
            1
        }
    };
    semihosting::process::exit(code)
}
