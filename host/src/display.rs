//! What the user sees: a live display while the run goes (on a terminal, unless `--quiet`)
//! and a summary table at the end. Both read the machines' log files, so they work the
//! same for forked processes, threads, and runs started in other terminals.

use crate::{check::CheckReport, follow::Follow};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use lamport_core::record::{Kind, Record};
use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    time::Duration,
};

/// Follows a growing log file and remembers its last complete record.
#[derive(Debug)]
pub struct Tail {
    follow: Follow,
    machines: u16,
    /// The last record read.
    pub last: Option<Record>,
}

impl Tail {
    /// Follows `path` (which may not exist yet) of a run of `machines`.
    pub fn new(path: PathBuf, machines: u16) -> Self {
        Self {
            follow: Follow::new(path),
            machines,
            last: None,
        }
    }

    /// Reads what was appended since the last call.
    pub fn poll(&mut self) {
        let (complete, _) = self.follow.whole_lines(u64::MAX);
        let text = String::from_utf8_lossy(&complete);
        if let Some(rec) = text
            .lines()
            .rev()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| Record::parse(l, self.machines).ok())
        {
            self.last = Some(rec);
        }
    }
}

/// The live display: elapsed and remaining time, and per machine its rate, clock and queue.
pub struct Live {
    bars: Vec<ProgressBar>,
    time: ProgressBar,
    tails: Vec<Tail>,
    shown: Vec<(u16, u32)>,
    _multi: MultiProgress,
    _quiet_ctrl: Option<QuietControlEcho>,
}

/// While the display is up, the terminal does not echo `^C`: the echo after a full-width
/// line moved the cursor down one line, and clearing the display then left its first line
/// on screen. Restored when dropped.
struct QuietControlEcho(nix::sys::termios::Termios);

impl QuietControlEcho {
    fn new() -> Option<Self> {
        use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
        let fd = std::io::stderr();
        let before = tcgetattr(&fd).ok()?;
        let mut t = before.clone();
        t.local_flags.remove(LocalFlags::ECHOCTL);
        tcsetattr(&fd, SetArg::TCSANOW, &t).ok()?;
        Some(Self(before))
    }
}

impl Drop for QuietControlEcho {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stderr(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.0,
        );
    }
}

impl Live {
    /// A display for a run in `dir` of the machines `rates` (one per machine), or `None`
    /// when stderr is not a terminal or `quiet`.
    pub fn new(dir: &Path, rates: &[u32], secs: u64, quiet: bool) -> Option<Self> {
        let all: Vec<(u16, u32)> = rates
            .iter()
            .enumerate()
            .map(|(i, &r)| (i as u16, r))
            .collect();
        Self::for_machines(dir, &all, rates.len() as u16, secs, quiet)
    }

    /// A display of some machines (id, rate) of a run of `machines`.
    pub fn for_machines(
        dir: &Path,
        list: &[(u16, u32)],
        machines: u16,
        secs: u64,
        quiet: bool,
    ) -> Option<Self> {
        let rates = list;
        if quiet || !std::io::stderr().is_terminal() {
            return None;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
        let time = multi.add(ProgressBar::new(secs.max(1) * 1000));
        time.set_style(
            ProgressStyle::with_template("{bar:40.cyan/blue} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let shown = rates.len().min(16);
        let bars = (0..shown)
            .map(|_| {
                let b = multi.add(ProgressBar::new_spinner());
                b.set_style(
                    ProgressStyle::with_template("  {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                b
            })
            .collect();
        if rates.len() > shown {
            let more = multi.add(ProgressBar::new_spinner());
            more.set_style(
                ProgressStyle::with_template("  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            more.set_message(format!("... and {} more machines", rates.len() - shown));
        }
        let tails = rates[..shown]
            .iter()
            .map(|&(i, _)| Tail::new(crate::folder::log_path(dir, i), machines))
            .collect();
        Some(Self {
            bars,
            time,
            tails,
            shown: rates[..shown].to_vec(),
            _multi: multi,
            _quiet_ctrl: QuietControlEcho::new(),
        })
    }

    /// Refreshes from the logs; `elapsed` since the start (may be negative before it).
    pub fn update(&mut self, elapsed_ms: i64, secs: u64) {
        let e = elapsed_ms.clamp(0, secs as i64 * 1000) as u64;
        self.time.set_position(e);
        self.time.set_message(format!(
            "{:>5.1} s elapsed, {:>5.1} s to go",
            e as f64 / 1000.0,
            (secs * 1000 - e) as f64 / 1000.0
        ));
        for ((tail, bar), &(i, rate)) in self.tails.iter_mut().zip(&self.bars).zip(&self.shown) {
            tail.poll();
            let (clock, queue, state) = match &tail.last {
                Some(r) => (
                    r.clock,
                    r.queue,
                    if r.kind == Kind::End { " ended" } else { "" },
                ),
                None => (0, 0, " starting"),
            };
            bar.set_message(format!(
                "machine {i:>3}  rate {rate:>2}/s  clock {clock:>7}  queue {queue:>5}{state}"
            ));
        }
    }

    /// Refreshes, with the elapsed time counted from the run's start on the monotonic clock.
    pub fn update_since(&mut self, start_mono: crate::time::Mono, secs: u64) {
        let now = crate::time::Mono::now();
        self.update((now.ns() as i64 - start_mono.ns() as i64) / 1_000_000, secs);
    }

    /// Removes the display from the terminal.
    pub fn finish(self) {
        for b in &self.bars {
            b.finish_and_clear();
        }
        self.time.finish_and_clear();
    }
}

/// Tick refresh period of the live display.
pub const REFRESH: Duration = Duration::from_millis(200);

/// The end-of-run table: per machine rate, ticks done (and due up to its end), final
/// clock, largest jump, longest queue (the largest `queue` a receive logged: messages still
/// waiting after it took one), messages left at the end, lateness, and how it ended.
pub fn summary_table(report: &CheckReport) -> String {
    let mut out = String::from(
        "machine  rate  ticks (due)      final clock  largest jump  longest queue  left  late p50/p99/max (ms)  end\n",
    );
    for m in &report.machines {
        let late = &m.lateness_us;
        let ms = |q: f64| {
            if late.count() == 0 {
                "-".to_string()
            } else {
                format!("{:.2}", late.quantile(q) as f64 / 1e3)
            }
        };
        out += &format!(
            "{:>7}  {:>4}  {:>6} ({:>6})  {:>11}  {:>12}  {:>13}  {:>4}  {:>21}  {}\n",
            m.id,
            m.rate,
            m.ticks,
            m.ticks_due_by_end,
            m.final_clock,
            m.max_jump,
            m.max_queue,
            m.unprocessed,
            format!("{}/{}/{}", ms(0.5), ms(0.99), ms(1.0)),
            m.end_note.as_deref().unwrap_or("(no end row)")
        );
    }
    out
}

/// A `lab` command line that runs as written from here: the `lab` built beside this
/// program when there is one, else through cargo (from the project's folder).
pub fn lab_command(args: &str) -> String {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.join("lab")))
        .filter(|l| l.is_file());
    match beside {
        Some(lab) => format!("{} {args}", lab.display()),
        None => format!("cargo run --release -p lab -- {args}"),
    }
}

/// Says on stderr how to repeat a run: the full line, or with `--quiet` only the seed and
/// the logs (a run is repeatable only with its seed, so even a quiet run says it), and the
/// faults, if any.
pub fn announce(
    host: &str,
    quiet: bool,
    full: &str,
    seed: u64,
    dir: &Path,
    faults: &lamport_core::faults::Plan,
) {
    let faults = if faults.is_empty() {
        String::new()
    } else {
        format!("; faults {faults}")
    };
    if quiet {
        eprintln!(
            "{host}: seed {seed} (repeat with --seed {seed}); logs in {}{faults}",
            dir.display()
        );
    } else {
        eprintln!("{host}: {full}{faults}");
    }
}
