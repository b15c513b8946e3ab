//! A virtual-time mesh: N [`Node`]s over in-memory byte streams, driven like the hosts
//! drive them (the same [`Link`] with its bounded buffer, the same wire format), with a
//! fault layer on the streams and the nodes. Each run writes real log files, so the one
//! checker judges them.
//!
//! The nodes may also have the model's own faults (a [`Plan`]: delay, pauses, partitions,
//! held at the receiver as on the hosts: [`Mesh::with_plan`]), so those meet the mesh's
//! crashes and broken links; and faults set while the run runs ([`Live`]: pause, resume,
//! partition, heal, delay, kill, [`Mesh::with_live`]), each taken by its node at its instant
//! before anything else happens then (a kill closes the killed machine's streams, as a
//! host's process does when it exits). At one instant the machines act in id order, or in a seeded
//! random order ([`Mesh::random_order`], as turmoil's `enable_random_order`): on the hosts
//! which process runs first at one instant is a race.
//!
//! A stream is a pair of pipes, one per direction. A pipe carries chunks of bytes that
//! arrive `latency` after they are written (in order), holds at most `capacity` bytes that
//! the reader has not taken (a write past it would block), and closes the way a socket
//! does: the reader sees the bytes already written, then the end of the stream.

use lamport_core::{
    MachineId, RunParams, Spec, UnixNanos,
    faults::{HostFaults, Plan},
    live::Live,
    node::{Input, Node, PeerState, Timing},
    record::{Kind, Record, VERSION_LINE_V3},
    wire::{self, Frame, MAX_FRAME, Msg},
};
use lamport_host::{
    drive::Transport,
    link::{Link, Links, Stream},
};
use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    fmt::Write as _,
    io::{self, ErrorKind, Read, Write},
    path::Path,
    rc::Rc,
};

/// The queue capacity of the mesh's machines (the run's `queue_cap` must not exceed it).
pub const CAP: usize = 256;

/// A node of the mesh: the hosts' node (its faults held as theirs are), with the mesh's
/// queue.
pub type MeshNode = Node<CAP, Vec<PeerState>, HostFaults>;

/// Something that goes wrong, at an instant of the run (nanoseconds after the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Machine `m` dies at `at` without a word (kill -9): its streams close, its log has no
    /// `end` row.
    Crash {
        /// The machine.
        m: MachineId,
        /// When.
        at: u64,
    },
    /// Machine `m` does nothing (no tick, no read) from `at` for `for_ns` (SIGSTOP, then
    /// SIGCONT); `u64::MAX` for ever.
    Freeze {
        /// The machine.
        m: MachineId,
        /// When.
        at: u64,
        /// How long.
        for_ns: u64,
    },
    /// Writing from `from` to `to` fails from `at` on (the reader still gets what was
    /// written before, then the end of the stream).
    CloseLink {
        /// Writer.
        from: MachineId,
        /// Reader.
        to: MachineId,
        /// When.
        at: u64,
    },
    /// Bytes that are not a frame appear on the stream from `from` to `to` at `at`.
    Garble {
        /// Writer.
        from: MachineId,
        /// Reader.
        to: MachineId,
        /// When.
        at: u64,
    },
    /// The stream from `from` to `to` ends at `at` in the middle of a frame.
    Truncate {
        /// Writer.
        from: MachineId,
        /// Reader.
        to: MachineId,
        /// When.
        at: u64,
    },
}

/// The shape of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    /// Delay of every chunk, nanoseconds.
    pub latency_ns: u64,
    /// Bytes a pipe holds before writes block.
    pub capacity: usize,
}

#[derive(Debug, Default)]
struct Pipe {
    chunks: VecDeque<(u64, Vec<u8>)>,
    held: usize,
    last_at: u64,
    /// The writer is gone (closed, crashed, or truncated): the reader gets the end of the
    /// stream after the bytes already written.
    writer_gone: bool,
    /// When the end of the stream reaches the reader: the close's instant plus the
    /// latency (as a FIN travels), never before the last bytes.
    gone_at: u64,
    /// Writes fail from now on (the reader closed, or the link was cut).
    broken: bool,
    /// The reader closed its end.
    reader_gone: bool,
}

type Shared<T> = Rc<RefCell<T>>;

/// One machine's end of the stream to one peer.
#[derive(Debug)]
pub struct MemStream {
    out: Shared<Pipe>,
    inp: Shared<Pipe>,
    now: Rc<Cell<u64>>,
    net: Net,
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut p = self.out.borrow_mut();
        if p.broken || p.writer_gone || p.reader_gone {
            return Err(ErrorKind::BrokenPipe.into());
        }
        let room = self.net.capacity.saturating_sub(p.held);
        if room == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = room.min(buf.len());
        let at = (self.now.get() + self.net.latency_ns).max(p.last_at);
        p.last_at = at;
        p.held += n;
        p.chunks.push_back((at, buf[..n].to_vec()));
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut p = self.inp.borrow_mut();
        let now = self.now.get();
        let gone = p.writer_gone && now >= p.gone_at;
        let (n, emptied) = match p.chunks.front_mut() {
            Some((at, bytes)) if *at <= now => {
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                bytes.drain(..n);
                (n, bytes.is_empty())
            }
            None if gone => return Ok(0),
            _ => return Err(ErrorKind::WouldBlock.into()),
        };
        if emptied {
            p.chunks.pop_front();
        }
        p.held -= n;
        Ok(n)
    }
}

impl Pipe {
    /// The writer is gone at `t`: the reader sees the end of the stream a latency later.
    fn close_at(&mut self, t: u64, latency_ns: u64) {
        if !self.writer_gone {
            self.writer_gone = true;
            self.gone_at = (t + latency_ns).max(self.last_at);
        }
    }
}

impl Stream for MemStream {
    fn shut(&self) {
        self.out
            .borrow_mut()
            .close_at(self.now.get(), self.net.latency_ns);
        self.inp.borrow_mut().reader_gone = true;
    }
}

/// One machine of the mesh.
struct Member {
    node: Box<MeshNode>,
    links: Links<MemStream>,
    lines: String,
    crashed: bool,
    frozen_until: u64,
}

/// How one machine's run ended in the mesh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// It wrote its `end` row with this note.
    Ended(String),
    /// It crashed (no `end` row).
    Crashed,
    /// It was frozen when the others were done (no `end` row).
    Frozen,
}

/// A mesh run.
pub struct Mesh {
    machines: Vec<Member>,
    /// `pipes[i][j]` carries i's bytes to j.
    pipes: Vec<Vec<Shared<Pipe>>>,
    now: Rc<Cell<u64>>,
    start: u64,
    faults: Vec<Failure>,
    /// Instants the run has stepped through so far.
    steps: u64,
    /// The state of the order's RNG (SplitMix64) when the machines act in a random order
    /// at each instant; `None`: in id order.
    order: Option<u64>,
    /// Faults set while the run runs: nanoseconds after the start, the machine, the fault.
    live: Vec<(u64, MachineId, Live)>,
    /// The network's shape.
    net: Net,
}

/// The instant every mesh run starts at.
pub const START: u64 = 1_764_070_000_000_000_000;

impl Mesh {
    /// A run of `params` (its start is set to [`START`]; rates drawn, or `pinned[id]`) over
    /// `net`, with `faults`.
    pub fn new(
        params: RunParams,
        pinned: &[Option<u32>],
        timing: Timing,
        net: Net,
        faults: Vec<Failure>,
    ) -> Self {
        Self::with_plan(params, pinned, timing, net, &Plan::default(), faults)
    }

    /// [`Mesh::new`] whose nodes also have the model's faults `plan` (each log states it in
    /// its header, as on the hosts). Panics on a plan the run cannot have.
    pub fn with_plan(
        mut params: RunParams,
        pinned: &[Option<u32>],
        timing: Timing,
        net: Net,
        plan: &Plan,
        faults: Vec<Failure>,
    ) -> Self {
        params.start_unix_ns = START;
        let n = usize::from(params.machines);
        let now = Rc::new(Cell::new(START));
        // pipes[i][j]: the pipe that carries i's bytes to j.
        let pipes: Vec<Vec<Shared<Pipe>>> = (0..n)
            .map(|_| (0..n).map(|_| Rc::default()).collect())
            .collect();
        let machines = (0..params.machines)
            .map(|id| {
                let pin = pinned.get(usize::from(id)).copied().flatten();
                let spec = Spec::new(params, id).pinned(pin).timing(timing);
                let node = Box::new(Node::new(spec.with_plan(plan.clone())).expect("valid params"));
                let links = (0..n)
                    .map(|p| {
                        (p != usize::from(id)).then(|| {
                            Link::new(
                                p as MachineId,
                                MemStream {
                                    out: Rc::clone(&pipes[usize::from(id)][p]),
                                    inp: Rc::clone(&pipes[p][usize::from(id)]),
                                    now: Rc::clone(&now),
                                    net,
                                },
                            )
                        })
                    })
                    .collect();
                let mut lines = node.opening().to_string();
                let _ = writeln!(lines, "{}", node.start_record());
                Member {
                    node,
                    links: Links(links),
                    lines,
                    crashed: false,
                    frozen_until: 0,
                }
            })
            .collect();
        Self {
            machines,
            pipes,
            now,
            start: START,
            faults,
            steps: 0,
            order: None,
            live: Vec::new(),
            net,
        }
    }

    /// The run with faults set while it runs: at `at` nanoseconds after the start, machine
    /// `m` takes `live` ([`Node::control`]), before anything else happens at that instant.
    /// A fault the machine refuses (it is paused already, it has stopped, ...) changes
    /// nothing and writes no row, as on a host. A crashed or frozen machine takes none.
    pub fn with_live(mut self, live: Vec<(u64, MachineId, Live)>) -> Self {
        self.live = live;
        self
    }

    /// The machines act in a random order at each instant, drawn from `seed`, instead of in
    /// id order: a message one sends at an instant reaches another (with no latency) before
    /// or after that one acts, as the races of real processes go.
    pub fn random_order(mut self, seed: u64) -> Self {
        self.order = Some(seed);
        self
    }

    /// The order the machines act in at this instant: id order, or a fresh shuffle
    /// (Fisher-Yates over SplitMix64).
    fn shuffle(&mut self, order: &mut [usize]) {
        let Some(state) = self.order.as_mut() else {
            return;
        };
        for k in (1..order.len()).rev() {
            *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let j = lamport_core::rng::splitmix64(*state) % (k as u64 + 1);
            order.swap(k, j as usize);
        }
    }

    fn pipe(&self, from: MachineId, to: MachineId) -> Option<Shared<Pipe>> {
        (from != to).then(|| Rc::clone(&self.pipes[usize::from(from)][usize::from(to)]))
    }

    /// Applies the faults due at `t`.
    fn apply_faults(&mut self, t: u64) {
        let due: Vec<Failure> = self
            .faults
            .iter()
            .copied()
            .filter(|f| self.start + fault_at(f) == t)
            .collect();
        for f in due {
            match f {
                Failure::Crash { m, .. } => {
                    let me = &mut self.machines[usize::from(m)];
                    me.crashed = true;
                    for l in me.links.0.iter().flatten() {
                        l.stream().shut();
                    }
                }
                Failure::Freeze { m, at, for_ns } => {
                    self.machines[usize::from(m)].frozen_until =
                        (self.start + at).saturating_add(for_ns);
                }
                Failure::CloseLink { from, to, .. } => {
                    if let Some(p) = self.pipe(from, to) {
                        let mut p = p.borrow_mut();
                        p.broken = true;
                        p.close_at(t, self.net.latency_ns);
                    }
                }
                Failure::Garble { from, to, .. } => {
                    if let Some(p) = self.pipe(from, to) {
                        let mut p = p.borrow_mut();
                        if !(p.broken || p.writer_gone) {
                            // COBS of [0xff, 0xff, 0xff]: not a frame postcard can read.
                            let junk = vec![0x04, 0xff, 0xff, 0xff, 0x00];
                            let at = t.max(p.last_at);
                            p.held += junk.len();
                            p.chunks.push_back((at, junk));
                        }
                    }
                }
                Failure::Truncate { from, to, .. } => {
                    if let Some(p) = self.pipe(from, to) {
                        let mut p = p.borrow_mut();
                        if !(p.broken || p.writer_gone) {
                            let mut buf = [0u8; MAX_FRAME];
                            let msg = Frame::Msg(Msg {
                                sender: from,
                                clock: 1 << 40,
                            });
                            let bytes = wire::encode(&msg, &mut buf).expect("fits");
                            let half = bytes[..bytes.len() / 2].to_vec();
                            let at = t.max(p.last_at);
                            p.held += half.len();
                            p.chunks.push_back((at, half));
                            p.last_at = at;
                            p.broken = true;
                            p.close_at(t, self.net.latency_ns);
                        }
                    }
                }
            }
        }
    }

    /// Each machine takes the live faults due at `t`. Its log's first line says v3 from its
    /// first `fault` row on (rewritten in place, as a host does); a machine killed has
    /// closed every stream (the node closed its links; the mesh shuts them as the exiting
    /// process would).
    fn apply_live(&mut self, t: u64) {
        let due: Vec<(MachineId, Live)> = self
            .live
            .iter()
            .filter(|(at, ..)| self.start + at == t)
            .map(|(_, m, l)| (*m, l.clone()))
            .collect();
        for (m, live) in due {
            let i = usize::from(m);
            if !self.active(i, t) {
                continue;
            }
            let me = &mut self.machines[i];
            let lines = &mut me.lines;
            let mut faulted = false;
            let mut log = |rec: &Record| {
                faulted |= rec.kind == Kind::Fault;
                let _ = writeln!(lines, "{rec}");
            };
            let taken = match me
                .node
                .control(UnixNanos(t), &live, &mut log, &mut me.links)
            {
                Ok(r) => r.is_ok(),
                Err(e) => match e {},
            };
            if faulted && !me.lines.starts_with(VERSION_LINE_V3) {
                me.lines
                    .replace_range(..VERSION_LINE_V3.len(), VERSION_LINE_V3);
            }
            if taken && live == Live::Kill {
                for l in me.links.0.iter().flatten() {
                    l.stream().shut();
                }
            }
        }
    }

    fn active(&self, i: usize, t: u64) -> bool {
        let m = &self.machines[i];
        !m.crashed && !m.node.has_ended() && m.frozen_until <= t
    }

    /// One machine acts at `t`: it reads what has arrived, then handles the time.
    fn act(&mut self, i: usize, t: u64) {
        let m = &mut self.machines[i];
        let mut inputs: Vec<(MachineId, Input)> = Vec::new();
        for l in m.links.0.iter_mut().flatten() {
            l.read(|p, input| inputs.push((p, input)));
        }
        let lines = &mut m.lines;
        let mut log = |rec: &Record| {
            let _ = writeln!(lines, "{rec}");
        };
        for (p, input) in inputs {
            match m
                .node
                .handle_input(UnixNanos(t), p, input, &mut log, &mut m.links)
            {
                Ok(_) => {}
                Err(e) => match e {},
            }
        }
        m.links.flush();
        match m.node.handle_timeout(UnixNanos(t), &mut log, &mut m.links) {
            Ok(()) => {}
            Err(e) => match e {},
        }
        if m.node.has_ended() {
            // The process exits: its streams close.
            for l in m.links.0.iter_mut().flatten() {
                l.finish();
                l.stream().shut();
            }
        }
    }

    /// The next instant anything can happen after `t`, if any.
    fn next_after(&self, t: u64) -> Option<u64> {
        let mut next: Option<u64> = None;
        let mut consider = |x: u64| {
            if x > t {
                next = Some(next.map_or(x, |n| n.min(x)));
            }
        };
        for f in &self.faults {
            consider(self.start + fault_at(f));
        }
        for (at, ..) in &self.live {
            consider(self.start + at);
        }
        for (i, m) in self.machines.iter().enumerate() {
            if m.crashed || m.node.has_ended() {
                continue;
            }
            if m.frozen_until > t {
                if m.frozen_until != u64::MAX {
                    consider(m.frozen_until);
                }
                continue;
            }
            if let Some(w) = m.node.poll_timeout() {
                consider(w.ns().max(t + 1));
            }
            if m.links.wants_write() {
                consider(t + 1_000_000);
            }
            for row in &self.pipes {
                // Bytes whose reader has closed its end are never read: they wake nobody.
                let p = row[i].borrow();
                if let Some((at, _)) = p.chunks.front().filter(|_| !p.reader_gone) {
                    consider((*at).max(t + 1));
                } else if p.writer_gone && !p.reader_gone && p.gone_at > t {
                    // The end of the stream is on its way.
                    consider(p.gone_at);
                }
            }
        }
        next
    }

    /// Runs until every machine has ended, crashed or is frozen for good; `limit_ns` after
    /// the start at most. Returns how each ended, or `Err` with the instant it gave up at.
    pub fn run(&mut self, limit_ns: u64) -> Result<Vec<Ending>, u64> {
        let mut t = self.start;
        let mut order: Vec<usize> = (0..self.machines.len()).collect();
        loop {
            self.steps += 1;
            self.now.set(t);
            self.apply_faults(t);
            self.apply_live(t);
            self.shuffle(&mut order);
            for &i in &order {
                if self.active(i, t) {
                    self.act(i, t);
                }
            }
            match self.next_after(t) {
                Some(n) if n <= self.start + limit_ns => t = n,
                Some(_) => return Err(t),
                None => break,
            }
        }
        Ok(self
            .machines
            .iter()
            .map(|m| match m.node.ended() {
                Some(e) => Ending::Ended(e.note.to_string()),
                None if m.crashed => Ending::Crashed,
                None => Ending::Frozen,
            })
            .collect())
    }

    /// Instants the run has stepped through so far (each one at which something could
    /// happen).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Writes the machines' logs into `dir` as `machine-<id>.log`.
    pub fn write_logs(&self, dir: &Path) -> io::Result<()> {
        for (i, m) in self.machines.iter().enumerate() {
            std::fs::write(dir.join(format!("machine-{i}.log")), &m.lines)?;
        }
        Ok(())
    }
}

fn fault_at(f: &Failure) -> u64 {
    match *f {
        Failure::Crash { at, .. }
        | Failure::Freeze { at, .. }
        | Failure::CloseLink { at, .. }
        | Failure::Garble { at, .. }
        | Failure::Truncate { at, .. } => at,
    }
}
