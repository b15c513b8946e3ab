//! What the user sees: a live display while the run goes (on a terminal, unless `--quiet`),
//! an optional feed of the events (`--events`, on stdout) and a summary table at the end.
//! All read the machines' log files, so they work the same for forked processes, threads,
//! and runs started in other terminals. Every line fits a projector's 80 columns.

mod feed;
mod table;
#[cfg(test)]
mod tests;
mod watch;

pub use feed::{Style, event_line};
pub use table::summary_table;
pub use watch::{Planned, Read, Seen, Watch, ranges};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use lamport_core::{MachineId, faults::Plan};
use std::{
    io::{IsTerminal, Write},
    path::Path,
    time::Duration,
};

/// The width every line of the display, the feed and the table keeps to.
pub const WIDTH: usize = 80;

/// Display columns of `s` (characters: `×` and `→` are one column each).
pub fn cols(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `width` columns, the cut marked `…`.
pub fn cut(s: &str, width: usize) -> String {
    if cols(s) <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A rate and its speedup as the display writes them: `6/s`, `6/s ×5`, `6/s ×0.5`.
pub fn rate_text(rate: u32, speedup_milli: u32) -> String {
    if speedup_milli == 1000 {
        return format!("{rate}/s");
    }
    let mut x = String::new();
    let _ = lamport_core::params::write_milli(&mut x, speedup_milli);
    format!("{rate}/s ×{x}")
}

/// One machine's line of the live display: `machine 0  rate 6/s ×5  clock 1234  waiting
/// 3  paused`, cut to [`WIDTH`]. `waiting` is `None` when the peers' logs are not there
/// to count from: the machine's own last `queue` is shown instead.
pub fn machine_line(
    id: MachineId,
    rate: &str,
    (seen, planned): (&Seen, &Planned),
    waiting: Option<u64>,
    w: &Widths,
) -> String {
    let (label, n) = match waiting {
        Some(n) => ("waiting", n),
        None => ("queue  ", u64::from(seen.queue)),
    };
    let line = format!(
        "machine {id:>iw$}  rate {rate:<rw$}  clock {clock:>cw$}  {label} {n:>4}  {state}",
        iw = w.id,
        rw = w.rate,
        cw = w.clock,
        clock = seen.clock,
        state = seen.state_with(planned),
    );
    cut(&line, WIDTH)
}

/// Column widths of the machines' lines, fixed for a run so that lines do not shift as
/// the numbers grow.
#[derive(Debug, Clone, Copy)]
pub struct Widths {
    id: usize,
    rate: usize,
    clock: usize,
}

impl Widths {
    /// For the machines `shown` (id, rate text) of a run of `secs` whose fastest machine
    /// ticks `fastest` times a second, speedup included.
    pub fn new(shown: &[(MachineId, String)], secs: u64, fastest: u64) -> Self {
        let digits = |n: u64| n.max(1).ilog10() as usize + 1;
        Self {
            id: shown
                .iter()
                .map(|(i, _)| digits(u64::from(*i)))
                .max()
                .unwrap_or(1),
            rate: shown.iter().map(|(_, r)| cols(r)).max().unwrap_or(1),
            // A clock runs about as fast as the fastest machine's ticks.
            clock: digits(secs.saturating_mul(fastest)).max(4),
        }
    }
}

/// What to show of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Show {
    /// No live display.
    pub quiet: bool,
    /// The event feed on stdout (`--events`).
    pub events: bool,
}

/// The live display (elapsed and remaining time, and per machine its rate, clock, the
/// messages waiting for it and its state) and the event feed. Either may be off.
pub struct Live {
    watch: Watch,
    screen: Option<Screen>,
    feed: Option<Style>,
    plan: Plan,
    secs: u64,
    elapsed_ms: u64,
}

/// The display's bars on stderr.
struct Screen {
    bars: Vec<ProgressBar>,
    time: ProgressBar,
    shown: Vec<(MachineId, String)>,
    widths: Widths,
    multi: MultiProgress,
    /// The keys' line ([`crate::keys`]), when keys are read.
    keys: Option<ProgressBar>,
    _quiet_ctrl: Option<QuietControlEcho>,
}

/// While the display is up, the terminal does not echo `^C`: the echo after a full-width
/// line moved the cursor down one line, and the display's next redraw then left its first
/// line on screen twice. Restored when dropped.
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

/// The width of the display's time bar (`{bar:40}` in its template; its message follows
/// after a space).
pub const TIME_BAR: usize = 40;

/// The message beside the time bar: `  3.2 s elapsed,  56.8 s to go`.
pub fn time_message(elapsed_ms: u64, secs: u64) -> String {
    format!(
        "{:>5.1} s elapsed, {:>5.1} s to go",
        elapsed_ms as f64 / 1000.0,
        (secs * 1000).saturating_sub(elapsed_ms) as f64 / 1000.0
    )
}

/// Tick refresh period of the live display.
pub const REFRESH: Duration = Duration::from_millis(200);

/// The most machines the display gives a line each.
const SHOWN: usize = 16;

impl Screen {
    /// The bars of the machines `shown` (id, rate text), or `None` when stderr is not a
    /// terminal.
    fn new(shown: Vec<(MachineId, String)>, more: usize, secs: u64, fastest: u64) -> Option<Self> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
        let time = multi.add(ProgressBar::new(secs.max(1) * 1000));
        time.set_style(
            ProgressStyle::with_template("{bar:40.cyan/blue} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let line = || {
            let b = multi.add(ProgressBar::new_spinner());
            b.set_style(
                ProgressStyle::with_template("  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b
        };
        let bars = shown.iter().map(|_| line()).collect();
        if more > 0 {
            line().set_message(format!("... and {more} more machines"));
        }
        let keys = crate::keys::status().map(|_| line());
        Some(Self {
            keys,
            bars,
            time,
            widths: Widths::new(&shown, secs, fastest),
            shown,
            multi,
            _quiet_ctrl: QuietControlEcho::new(),
        })
    }

    fn draw(&self, watch: &Watch, plan: &Plan, elapsed_ms: u64, secs: u64) {
        if let (Some(bar), Some(text)) = (&self.keys, crate::keys::status()) {
            bar.set_message(cut(&text, 78));
        }
        self.time.set_position(elapsed_ms);
        self.time.set_message(time_message(elapsed_ms, secs));
        for (bar, (id, rate)) in self.bars.iter().zip(&self.shown) {
            let seen = &watch.seen[usize::from(*id)];
            let planned = Planned::at(plan, watch.machines(), *id, elapsed_ms * 1_000_000);
            bar.set_message(machine_line(
                *id,
                rate,
                (seen, &planned),
                watch.waiting(*id),
                &self.widths,
            ));
        }
    }
}

impl Live {
    /// The display of every machine of `model`'s run in `dir` (the first 16 get a line),
    /// or `None` when there is nothing to show: no feed asked for, and no display
    /// (`quiet`, or stderr is not a terminal).
    pub fn new(dir: &Path, model: &crate::args::Model, show: Show) -> Option<Self> {
        let all: Vec<MachineId> = (0..model.params.machines).collect();
        Self::for_machines(dir, model, &all, show)
    }

    /// The display of some machines of `model`'s run (the feed shows every log in `dir`).
    pub fn for_machines(
        dir: &Path,
        model: &crate::args::Model,
        list: &[MachineId],
        show: Show,
    ) -> Option<Self> {
        let p = &model.params;
        let rates = model.rates();
        let rate = |i: MachineId| rates.get(usize::from(i)).copied().unwrap_or(0);
        let shown: Vec<(MachineId, String)> = list
            .iter()
            .take(SHOWN)
            .map(|&i| (i, rate_text(rate(i), p.speedup_milli)))
            .collect();
        let fastest = list.iter().map(|&i| u64::from(rate(i))).max().unwrap_or(1)
            * u64::from(p.speedup_milli)
            / 1000;
        let more = list.len().saturating_sub(SHOWN);
        let screen = if show.quiet {
            None
        } else {
            Screen::new(shown, more, p.secs, fastest.max(1))
        };
        let feed = show.events.then(Style::for_stdout);
        if screen.is_none() && feed.is_none() {
            return None;
        }
        Some(Self {
            watch: Watch::new(dir, p.machines),
            screen,
            feed,
            plan: model.faults.clone(),
            secs: p.secs,
            elapsed_ms: 0,
        })
    }

    /// Refreshes from the logs; `elapsed` since the start (may be negative before it).
    pub fn update(&mut self, elapsed_ms: i64) {
        self.elapsed_ms = elapsed_ms.clamp(0, self.secs as i64 * 1000) as u64;
        let (read, _) = self.watch.poll(watch::BUDGET, self.feed.is_some());
        self.show(read);
    }

    /// Refreshes, with the elapsed time counted from the run's start on the monotonic clock.
    pub fn update_since(&mut self, start_mono: crate::time::Mono) {
        let now = crate::time::Mono::now();
        self.update((now.ns() as i64 - start_mono.ns() as i64) / 1_000_000);
    }

    /// Notes that machine `id` died without an `end` row, as its supervisor saw it.
    pub fn died(&mut self, id: MachineId, how: &str) {
        self.watch.died(id, how);
    }

    /// Prints the feed's new lines, then redraws.
    fn show(&mut self, mut read: Vec<Read>) {
        if let Some(style) = self.feed
            && !read.is_empty()
        {
            read.sort_by_key(|r| r.rec.unix_ns);
            let mut text = String::new();
            for r in &read {
                text += &event_line(&r.rec, r.before, style);
                text.push('\n');
            }
            let print = || crate::out::print_or_drop(format_args!("{text}"));
            match &self.screen {
                Some(s) if std::io::stdout().is_terminal() => s.multi.suspend(print),
                _ => print(),
            }
        }
        if let Some(s) = &self.screen {
            s.draw(&self.watch, &self.plan, self.elapsed_ms, self.secs);
        }
    }

    /// Reads the logs to their end, shows the last events, and leaves the display's final
    /// state on the screen (the summary table follows it).
    pub fn finish(mut self) {
        loop {
            let (read, behind) = self.watch.poll(u64::MAX, self.feed.is_some());
            self.show(read);
            if !behind {
                break;
            }
        }
        if let Some(s) = &self.screen {
            for b in &s.bars {
                b.abandon();
            }
            s.time.abandon();
            let _ = std::io::stderr().flush();
        }
    }
}

/// A `lab` command line that runs as written from here: the `lab` built beside this
/// program when there is one, else through cargo (from the project's folder). `args` are
/// words, each quoted for the shell when it needs it (a folder with a space).
pub fn lab_command(args: &[&str]) -> String {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.join("lab")))
        .filter(|l| l.is_file());
    let args: Vec<String> = args.iter().map(|a| shell_word(a)).collect();
    let args = args.join(" ");
    match beside {
        Some(lab) => format!("{} {args}", shell_word(&lab.to_string_lossy())),
        None => format!("cargo run --release -p lab -- {args}"),
    }
}

/// `s` as one word of a shell command line: as it is when it is plain, else in single
/// quotes.
pub fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A hint naming a command: `label: command` on one line when it fits [`WIDTH`], else
/// the command alone on the next line, so that it can be copied whole.
pub fn hint(label: &str, command: &str) -> String {
    if cols(label) + 2 + cols(command) <= WIDTH {
        format!("{label}: {command}")
    } else {
        format!("{label}:\n  {command}")
    }
}

/// Says on stderr, in lines of at most [`WIDTH`] columns, what runs (`what`, left out
/// with `--quiet`), then how to repeat it: its seed, its folder, and its faults if any (a
/// run is repeatable only with its seed, so even a quiet run says it). The seed and the
/// folder have a line each, so that both can be copied whole.
pub fn announce(host: &str, quiet: bool, what: &str, seed: u64, dir: &Path, faults: &Plan) {
    let room = WIDTH.saturating_sub(cols(host) + 2);
    let mut lines = Vec::new();
    if !quiet && !what.is_empty() {
        lines.extend(table::wrap(what, room));
    }
    lines.push(format!("seed {seed} (repeat with --seed {seed})"));
    lines.push(format!("logs in {}", dir.display()));
    if !faults.is_empty() {
        lines.extend(table::wrap(&format!("faults {faults}"), room));
    }
    for l in lines {
        eprintln!("{host}: {l}");
    }
}

/// `items` joined by `, ` in lines that start with `prefix` and fit [`WIDTH`] columns
/// (an item is never split).
pub fn list_lines(prefix: &str, items: &[String]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for item in items {
        if !cur.is_empty() && cols(prefix) + cols(&cur) + 2 + cols(item) > WIDTH {
            lines.push(format!("{prefix}{cur}"));
            cur.clear();
        }
        if !cur.is_empty() {
            cur += ", ";
        }
        cur += item;
    }
    lines.push(format!("{prefix}{cur}"));
    lines
}
