//! Criterion benchmarks of the core: one tick, frame encode/decode, the simulator.

use core::fmt::Write as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lamport_core::{
    Machine, MachineId, Outbox, RunParams, Sent, Spec, UnixNanos,
    node::FixedLedger,
    record::Record,
    sim::{Sim, SimNode},
    wire::{self, Deframer, Frame, MAX_FRAME, Msg},
};
use std::hint::black_box;

struct Null;
impl Outbox for Null {
    fn send(&mut self, _: MachineId, frame: &Frame) -> Sent {
        black_box(frame);
        Sent::Taken
    }
    fn close(&mut self, _: MachineId) {}
}

fn tick(c: &mut Criterion) {
    let params = RunParams {
        secs: 1_000_000,
        ..RunParams::new(1, 0)
    };
    let mut m = Machine::<1024>::new(&Spec::new(params, 0).pinned(Some(6))).unwrap();
    let mut line = String::with_capacity(128);
    let mut log = |r: &Record| {
        line.clear();
        let _ = writeln!(line, "{r}");
        black_box(line.len());
    };
    let mut g = c.benchmark_group("tick");
    g.throughput(Throughput::Elements(1));
    let mut k = 0u64;
    g.bench_function("roll, record and format the log line", |b| {
        b.iter(|| {
            k += 1;
            if k.is_multiple_of(4) {
                let _ = m.deliver(Msg {
                    sender: 1,
                    clock: k,
                });
            }
            black_box(m.tick(UnixNanos(k), &mut log, &mut Null).unwrap());
        })
    });
    g.finish();
}

/// The log line through `core::fmt`'s own integer formatting (how `Display for Record`
/// worked before it formatted by hand), beside the current `Display`.
fn line(c: &mut Criterion) {
    let mut r = Record::new(
        UnixNanos(1_764_070_000_250_398_000),
        1,
        lamport_core::Kind::Recv,
        12_345,
        2,
    );
    r.peer = lamport_core::Peers::One(2);
    r.msg_clock = Some(12_340);
    let mut out = String::with_capacity(256);
    let mut g = c.benchmark_group("log line");
    g.throughput(Throughput::Elements(1));
    g.bench_function("Display for Record (itoa digits)", |b| {
        b.iter(|| {
            out.clear();
            let _ = writeln!(out, "{}", black_box(&r));
            black_box(out.len())
        })
    });
    g.bench_function("the same line through core::fmt (before)", |b| {
        b.iter(|| {
            out.clear();
            let r = black_box(&r);
            let _ = write!(
                out,
                "{},{},{},{},{},{},",
                r.unix_ns,
                r.machine,
                r.kind.name(),
                r.clock,
                r.queue,
                r.peer
            );
            if let Some(c) = r.msg_clock {
                let _ = write!(out, "{c}");
            }
            let _ = writeln!(out, ",{}", r.note);
            black_box(out.len())
        })
    });
    g.finish();
}

fn frames(c: &mut Criterion) {
    let f = Frame::Msg(Msg {
        sender: 2,
        clock: 123_456,
    });
    let mut buf = [0u8; MAX_FRAME];
    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encode Msg", |b| {
        b.iter(|| black_box(wire::encode(black_box(&f), &mut buf).unwrap().len()))
    });
    let bytes = wire::encode(&f, &mut buf).unwrap().to_vec();
    g.bench_function("decode Msg from a stream", |b| {
        let mut d = Deframer::new();
        b.iter(|| {
            let mut out = None;
            for &x in black_box(&bytes) {
                out = d.push(x).or(out);
            }
            black_box(out)
        })
    });
    g.finish();
}

/// Events of a run (ticks, plus start, unprocessed and end rows).
fn sim_run(secs: u64, lines: &mut String) -> u64 {
    let params = RunParams {
        secs,
        ..RunParams::new(7, 0)
    };
    let mut slots: Vec<SimNode<1024, 2, FixedLedger<3>>> = (0..3)
        .map(|i| SimNode::new(Spec::new(params, i).pinned(Some(6))).unwrap())
        .collect();
    let mut events = 0u64;
    Sim::new(&mut slots, 0).unwrap().run(|_, r| {
        events += 1;
        let _ = writeln!(lines, "{r}");
    });
    events
}

fn simulator(c: &mut Criterion) {
    let mut lines = String::with_capacity(8 << 20);
    let events = sim_run(3600, &mut lines);
    let mut g = c.benchmark_group("simulator");
    g.sample_size(20);
    g.throughput(Throughput::Elements(events));
    g.bench_function(
        "3 machines at rate 6, one virtual hour, log lines formatted into memory",
        |b| {
            b.iter(|| {
                lines.clear();
                black_box(sim_run(3600, &mut lines))
            })
        },
    );
    g.bench_function(
        "3 machines at rate 6, one virtual hour, records counted, not formatted",
        |b| {
            b.iter(|| {
                let params = RunParams {
                    secs: 3600,
                    ..RunParams::new(7, 0)
                };
                let mut slots: Vec<SimNode<1024, 2, FixedLedger<3>>> = (0..3)
                    .map(|i| SimNode::new(Spec::new(params, i).pinned(Some(6))).unwrap())
                    .collect();
                let mut n = 0u64;
                Sim::new(&mut slots, 0)
                    .unwrap()
                    .run(|_, r| n += r.clock & 1);
                black_box(n)
            })
        },
    );
    g.finish();
}

criterion_group!(benches, tick, line, frames, simulator);
criterion_main!(benches);
