//! The lab subcommands.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lamport_core::{
    node::FixedLedger,
    sim::{Outcome, SimNode},
};
use lamport_host::{EXIT_FAILED, EXIT_OK, args::ModelArgs, check, folder, out, outln, sim};
use std::path::{Path, PathBuf};

/// Study lamport-lab runs: check them against the model's rules, or simulate them.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Examples:\n  lab sim --seed 42 --out runs/sim42\n  lab check runs/sim42"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Verify a run folder: every machine replayed through the model (rolls included), clock rules, exactly-once FIFO per pair, tick timing, headers, complete files.
    Check {
        /// The run folder (holding machine-<id>.log files).
        run: PathBuf,
        /// A tick later than its deadline by more than this many milliseconds is a
        /// violation. The default (1000) is generous for a loaded laptop; a run with a
        /// paused machine needs more.
        #[arg(long, default_value_t = 1000.0)]
        max_late_ms: f64,
        /// Check the rules only: do not replay each machine through the model (for logs
        /// made by hand or by another program).
        #[arg(long)]
        rules_only: bool,
        /// The run's connections could break or carry garbage by themselves (machines on
        /// several computers): a peer may then be named lost at any moment. By default a
        /// lost peer that ended normally must have been waited for the whole drain timeout.
        #[arg(long)]
        untrusted_links: bool,
    },
    /// Set a fault while a run runs: pause M, resume M, partition A/B, heal, delay D[:J], delay off, kill M.
    #[command(
        after_help = "Examples:\n  lab ctl runs/demo pause 1\n  lab ctl runs/demo resume 1\n  lab ctl runs/demo partition 0/1,2\n  lab ctl runs/demo heal\n  lab ctl runs/demo delay 300:100\n  lab ctl runs/demo delay off\n  lab ctl runs/demo kill 2"
    )]
    Ctl {
        /// The running run's folder (the host serves control.sock in it).
        run: PathBuf,
        /// The command, e.g. `pause 1`.
        #[arg(required = true, num_args = 1..)]
        command: Vec<String>,
    },
    /// Simulate a run in virtual time with the core's deterministic simulator.
    Sim {
        #[command(flatten)]
        model: ModelArgs,
        /// Replay the run in this folder instead (its run.json and the faults set while it
        /// ran, from its logs) into --out, and compare every row but unix_ns.
        #[arg(long, value_name = "RUN")]
        replay: Option<PathBuf>,
        /// Delay of every message, milliseconds.
        #[arg(long, default_value_t = 0.0)]
        latency_ms: f64,
        /// Instant of tick 0, ns since the Unix epoch (default: a fixed instant, for repeatability).
        #[arg(long)]
        start_unix_ns: Option<u64>,
    },
    /// Markdown tables (or JSON) of a run: jumps, lag behind the highest clock, queues, lateness; optionally SVG plots.
    Report {
        /// The run folder.
        run: PathBuf,
        /// Print JSON instead of Markdown.
        #[arg(long)]
        json: bool,
        /// Write SVG plots into this folder.
        #[arg(long)]
        plots: Option<PathBuf>,
        /// Length of the space-time diagram's window, seconds from the start.
        #[arg(long, default_value_t = 10.0)]
        window: f64,
    },
    /// Rebuild happens-before from the logs: vector clocks, the clock condition, concurrency.
    Hb {
        /// The run folder.
        run: PathBuf,
        /// Print JSON instead of Markdown.
        #[arg(long)]
        json: bool,
    },
    /// Write one HTML page of the run (space-time diagram, causality, clock and queue charts,
    /// summary) that opens from disk in a browser.
    View {
        /// The run folder.
        run: PathBuf,
        /// Where to write the page (default: RUN/view.html).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Show the run from this second on (with --to; default: the whole run, or its
        /// first part when it has more than a million rows).
        #[arg(long, requires = "to")]
        from: Option<f64>,
        /// Show the run up to this second.
        #[arg(long, requires = "from")]
        to: Option<f64>,
        /// Serve the page live instead of writing it, for a run a host is writing: each new
        /// row is drawn as it is written, and the checker's verdict once the run is over.
        /// `--live` serves on 127.0.0.1 and a port the system picks, `--live=ADDR` on ADDR;
        /// it serves until Ctrl-C.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true,
              default_missing_value = "127.0.0.1:0", conflicts_with_all = ["out", "from"])]
        live: Option<std::net::SocketAddr>,
    },
    /// Write the run for ShiViz (default parsing rule) to standard output.
    Shiviz {
        /// The run folder.
        run: PathBuf,
    },
    /// Run the simulator over many seeds per parameter set; print distributions across seeds.
    Sweep(SweepArgs),
    /// One Markdown row per run: rates, final clocks, jumps, queues, lag, lateness, concurrency.
    Table {
        /// Run folders.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
    },
    /// Print an FNV-1a digest and the line count of each machine's log, and machine 0's first
    /// and last rows: what the microcontroller firmware prints for the same run.
    Digest {
        /// The run folder.
        run: PathBuf,
    },
    /// Print the memory the core's types take for a 3-machine model with 32-slot queues.
    Sizes,
}

/// Flags of `lab sweep`. `--rates` and `--roll-max` may repeat: every combination is a set.
#[derive(Debug, clap::Args)]
struct SweepArgs {
    /// Seeds per parameter set.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// First seed (seeds are consecutive).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Pinned rates of one set, comma-separated; repeat for more sets (default: drawn).
    #[arg(long, value_parser = parse_rates)]
    rates: Vec<Vec<u32>>,
    /// Roll range of one set; repeat for more sets.
    #[arg(long, default_values_t = [10])]
    roll_max: Vec<u32>,
    /// Machines when rates are drawn.
    #[arg(long, short = 'n', default_value_t = 3)]
    machines: u16,
    /// Length of each run, seconds.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// Lowest rate when drawn.
    #[arg(long, default_value_t = 1)]
    rate_min: u32,
    /// Highest rate when drawn.
    #[arg(long, default_value_t = 6)]
    rate_max: u32,
    /// Queue limit.
    #[arg(long, default_value_t = 1024)]
    queue_cap: u32,
    /// Delay of every message, milliseconds.
    #[arg(long, default_value_t = 0.0)]
    latency_ms: f64,
    /// Print JSON instead of Markdown.
    #[arg(long)]
    json: bool,
    /// Also write every seed's own numbers to this file (JSON, one line per set, each
    /// column one entry per seed in seed order): for intervals, or to pair two sweeps of
    /// the same seeds.
    #[arg(long, value_name = "FILE")]
    per_seed: Option<PathBuf>,
    /// Tick schedule, as the hosts' `--phase`: aligned, or each machine's ticks shifted by a
    /// phase drawn from the seed.
    #[arg(long, value_enum, default_value_t = lamport_host::args::Phase::Aligned)]
    phase: lamport_host::args::Phase,
    /// Message delay of one set, as the hosts' `--delay-ms D[:J]`; repeat for more sets.
    #[arg(long, value_name = "D[:J]")]
    delay_ms: Vec<String>,
    /// A pause in every set, as the hosts' `--pause M@T+D`. Repeatable.
    #[arg(long, value_name = "M@T+D")]
    pause: Vec<String>,
    /// A partition in every set, as the hosts' `--partition A,B/C@T+D`. Repeatable.
    #[arg(long, value_name = "A,B/C@T+D")]
    partition: Vec<String>,
}

fn parse_rates(s: &str) -> Result<Vec<u32>, String> {
    let v: Result<Vec<u32>, _> = s.split(',').map(str::parse).collect();
    match v {
        Ok(v) if v.len() >= 3 && !v.contains(&0) => Ok(v),
        _ => Err("expected at least 3 rates of 1 or more, like 1,6,6".into()),
    }
}

/// `--latency-ms` in nanoseconds, or the one-line refusal.
fn latency_ns(ms: f64) -> Result<u64> {
    if !(ms.is_finite() && ms >= 0.0) {
        anyhow::bail!("--latency-ms must be a number of milliseconds, 0 or more");
    }
    Ok((ms * 1e6).round() as u64)
}

/// Runs one command line; returns the exit status. `Err` is bad input or usage: the
/// binary prints it on one line and exits 2.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.cmd {
        Cmd::Check {
            run,
            max_late_ms,
            rules_only,
            untrusted_links,
        } => check_cmd(&run, max_late_ms, rules_only, untrusted_links),
        Cmd::View {
            run,
            live: Some(addr),
            ..
        } => live_cmd(&run, addr),
        Cmd::View {
            run, out, from, to, ..
        } => view_cmd(&run, out, from.zip(to)),
        Cmd::Ctl { run, command } => crate::ctl::ctl_cmd(&run, &command),
        Cmd::Sim {
            model,
            replay: Some(run),
            ..
        } => replay_cmd(&run, model.out.as_deref()),
        Cmd::Sim {
            model,
            latency_ms,
            start_unix_ns,
            ..
        } => sim_cmd(&model, latency_ms, start_unix_ns),
        Cmd::Report {
            run,
            json,
            plots,
            window,
        } => report_cmd(&run, json, plots.as_deref(), window),
        Cmd::Hb { run, json } => hb_cmd(&run, json),
        Cmd::Shiviz { run } => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            crate::hb::shiviz(&run, &mut out)?;
            std::io::Write::flush(&mut out)?;
            Ok(EXIT_OK)
        }
        Cmd::Sweep(a) => sweep_cmd(&a),
        Cmd::Table { runs } => {
            out!("{}", crate::report::table_header())?;
            for run in &runs {
                let (r, _) = crate::report::analyze(run)?;
                let h = crate::hb::analyze(run)?;
                out!("{}", crate::report::table_row(&r, &h))?;
            }
            Ok(EXIT_OK)
        }
        Cmd::Digest { run } => digest_cmd(&run),
        Cmd::Sizes => sizes_cmd(),
    }
}

/// `lab check`.
fn check_cmd(run: &Path, max_late_ms: f64, rules_only: bool, untrusted_links: bool) -> Result<u8> {
    if !(max_late_ms.is_finite() && max_late_ms >= 0.0) {
        anyhow::bail!("--max-late-ms must be a number of milliseconds, 0 or more");
    }
    let opts = check::CheckOptions {
        max_late_ns: Some((max_late_ms * 1e6).min(u64::MAX as f64) as u64),
        replay: !rules_only,
        trusted_links: !untrusted_links,
        in_progress: false,
    };
    let folder = check::check_folder(run, &opts)?;
    if let Some(w) = &folder.writing {
        outln!("{w}")?;
    }
    let report = folder.report;
    for v in &report.violations {
        outln!("{v}")?;
    }
    if report.more > 0 {
        outln!("... and {} more violations", report.more)?;
    }
    if report.holds() {
        let ticks: u64 = report.machines.iter().map(|m| m.ticks).sum();
        outln!(
            "ok{}: {} machines, {ticks} ticks, every rule holds",
            if folder.in_progress { " so far" } else { "" },
            report.machines.len()
        )?;
        Ok(EXIT_OK)
    } else {
        eprintln!("lab: {} violations", report.count());
        Ok(EXIT_FAILED)
    }
}

/// `lab view --live`: serves the run's page while its host writes it; once no process is
/// writing the folder, every page is told the checker's verdict; serves until Ctrl-C.
fn live_cmd(run: &Path, addr: std::net::SocketAddr) -> Result<u8> {
    if !run.is_dir() {
        anyhow::bail!("{}: no such run folder", run.display());
    }
    let bound = lamport_host::live::Bound::open(Some(addr))?.expect("an address was given");
    eprintln!(
        "lab: serving {} live; once the run is over, until Ctrl-C",
        run.display()
    );
    bound.serve_while_written(run, &lamport_host::page::program(run), true)?;
    Ok(EXIT_OK)
}

/// `lab view`.
fn view_cmd(run: &Path, out: Option<PathBuf>, span: Option<(f64, f64)>) -> Result<u8> {
    let out = out.unwrap_or_else(|| run.join("view.html"));
    let span = span.map(|(from, to)| crate::view::Span { from, to });
    let w = crate::view::write(run, &out, span)?;
    outln!(
        "wrote {} ({} rows, {:.1} MB){}",
        out.display(),
        w.rows,
        w.bytes as f64 / 1e6,
        if w.rows < w.rows_in_run {
            format!(
                "; the run has {} rows: the page shows a part",
                w.rows_in_run
            )
        } else {
            String::new()
        }
    )?;
    Ok(EXIT_OK)
}

/// `lab sim`.
fn sim_cmd(model: &ModelArgs, latency_ms: f64, start_unix_ns: Option<u64>) -> Result<u8> {
    let latency_ns = latency_ns(latency_ms)?;
    let mut m = model.model()?;
    m.params.start_unix_ns = start_unix_ns.unwrap_or(0);
    let dir = folder::create(model.out.as_deref(), m.params.seed)?;
    let outcome = sim::simulate_to(&m, latency_ns, &dir)?;
    if model.quiet {
        lamport_host::display::announce("lab", true, "", m.params.seed, &dir, &m.faults);
    } else {
        let report = check::check_run(&dir)?;
        out!("{}", lamport_host::display::summary_table(&report))?;
        outln!(
            "seed {} (repeat with --seed {}); logs: {}",
            m.params.seed,
            m.params.seed,
            dir.display()
        )?;
    }
    match outcome {
        Outcome::TimeUp => Ok(EXIT_OK),
        Outcome::QueueFull { machine, .. } => {
            eprintln!(
                "lab: run failed: machine {machine}: queue full (cap {})",
                m.params.queue_cap
            );
            Ok(EXIT_FAILED)
        }
        Outcome::Killed { machine, .. } => {
            eprintln!("lab: run ended: machine {machine} killed on command");
            Ok(EXIT_OK)
        }
    }
}

/// `lab sim --replay RUN`.
fn replay_cmd(run: &Path, out: Option<&Path>) -> Result<u8> {
    let model = folder::read_model(run)?;
    let dir = folder::create(out, model.params.seed)?;
    let r = sim::replay(run, &dir)?;
    outln!(
        "replayed {} in the simulator with {} live faults: {}",
        run.display(),
        r.live,
        dir.display()
    )?;
    if r.differences.is_empty() {
        outln!(
            "every line of the {} logs ({} lines) is the same but unix_ns",
            model.params.machines,
            r.rows
        )?;
        return Ok(EXIT_OK);
    }
    for (m, line, real, sim) in &r.differences {
        outln!("machine {m}, line {line}:\n  real: {real}\n  sim:  {sim}")?;
    }
    eprintln!(
        "lab: the replay differs in {} of {} logs (first differences above): a real-time race the simulator resolves one way, or a run the model does not explain",
        r.differences.len(),
        model.params.machines
    );
    Ok(EXIT_FAILED)
}

/// `lab report`.
fn report_cmd(run: &Path, json: bool, plots: Option<&Path>, window: f64) -> Result<u8> {
    let (report, accs) = crate::report::analyze(run)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", crate::report::markdown(&report))?;
    }
    if let Some(dir) = plots {
        if !(window.is_finite() && window > 0.0) {
            anyhow::bail!("--window must be a positive number of seconds");
        }
        let files = crate::plots::write_all(run, &accs, dir, window)?;
        eprintln!("lab: wrote {} in {}", files.join(", "), dir.display());
    }
    Ok(EXIT_OK)
}

/// `lab hb`.
fn hb_cmd(run: &Path, json: bool) -> Result<u8> {
    let r = crate::hb::analyze(run)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&r)?)?;
    } else {
        out!("{}", crate::hb::markdown(&r))?;
    }
    Ok(if r.clock_condition_violations == 0 {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

/// `lab sweep`.
fn sweep_cmd(a: &SweepArgs) -> Result<u8> {
    let latency_ns = latency_ns(a.latency_ms)?;
    if a.seeds == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    let params = lamport_core::RunParams {
        machines: a.machines,
        secs: a.secs,
        seed: a.seed,
        rate_min: a.rate_min,
        rate_max: a.rate_max,
        roll_max: 10,
        speedup_milli: 1000,
        queue_cap: a.queue_cap,
        start_unix_ns: sim::DEFAULT_START_UNIX_NS,
        spread_phase: a.phase == lamport_host::args::Phase::Spread,
    };
    let sets = sweep_sets(a, &params)?;
    let progress = !a.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let results = crate::sweep::run(&params, &sets, a.seeds, latency_ns, progress)?;
    if let Some(path) = &a.per_seed {
        std::fs::write(path, crate::sweep::per_seed_json(&params, &results)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&results)?)?;
    } else {
        out!("{}", crate::sweep::markdown(&params, &results))?;
    }
    Ok(EXIT_OK)
}

/// The sets a sweep runs: every rate set by every roll_max by every delay, each checked.
fn sweep_sets(
    a: &SweepArgs,
    params: &lamport_core::RunParams,
) -> Result<Vec<crate::sweep::SweepSet>> {
    let rate_sets: Vec<Option<Vec<u32>>> = if a.rates.is_empty() {
        vec![None]
    } else {
        a.rates.iter().cloned().map(Some).collect()
    };
    let delays: Vec<Option<&String>> = if a.delay_ms.is_empty() {
        vec![None]
    } else {
        a.delay_ms.iter().map(Some).collect()
    };
    let mut sets = Vec::new();
    for r in &rate_sets {
        for &k in &a.roll_max {
            for d in &delays {
                let machines = r.as_ref().map_or(a.machines, |v| v.len() as u16);
                let p = lamport_core::RunParams {
                    machines,
                    roll_max: k,
                    ..*params
                };
                p.validate(lamport_host::args::HOST_QUEUE_CAP)
                    .map_err(|e| anyhow::anyhow!("invalid parameters: {e}"))?;
                let faults = lamport_host::args::fault_plan(
                    d.map(String::as_str),
                    &a.pause,
                    &a.partition,
                    &p,
                )?;
                sets.push(crate::sweep::SweepSet {
                    rates: r.clone(),
                    roll_max: k,
                    faults: faults.to_string(),
                    plan: faults,
                });
            }
        }
    }
    Ok(sets)
}

/// `lab digest`.
fn digest_cmd(run: &Path) -> Result<u8> {
    // log_files refuses what is not a regular file; each is read in chunks, so a huge file
    // costs time, not memory.
    let files = check::log_files(run)?;
    for (i, f) in files.iter().enumerate() {
        let (hash, lines) = digest(f).with_context(|| format!("{}: cannot read", f.display()))?;
        outln!("machine-{i}.log fnv1a={hash:016x} lines={lines}")?;
    }
    let (mut first, mut last) = (None, None);
    check::for_each_record(&files[0], |_, _, rec| {
        if first.is_none() {
            first = Some(rec.to_string());
        }
        last = Some(rec);
    })?;
    outln!("first: {}", first.unwrap_or_default())?;
    outln!("last: {}", last.map(|r| r.to_string()).unwrap_or_default())?;
    Ok(EXIT_OK)
}

/// `lab sizes`.
fn sizes_cmd() -> Result<u8> {
    outln!(
        "Machine (32-slot queue): {} bytes",
        size_of::<lamport_core::Machine<32>>()
    )?;
    outln!(
        "simulator state, 3 machines x 32 slots: {} bytes with 32 slots of in-flight storage each (what a latency needs), {} bytes with 2 (enough at latency 0, one message from each peer: the firmware's)",
        size_of::<[SimNode<32, 32, FixedLedger<3>>; 3]>(),
        size_of::<[SimNode<32, 2, FixedLedger<3>>; 3]>()
    )?;
    outln!(
        "(sizes on this {}-bit computer; a 32-bit microcontroller's are smaller, its usize being 4 bytes: scripts/mcu-check.sh prints the firmware's own)",
        usize::BITS
    )?;
    Ok(EXIT_OK)
}

/// The FNV-1a digest of a file and its number of newlines, read in chunks.
fn digest(path: &Path) -> std::io::Result<(u64, usize)> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0; 1 << 16];
    let (mut hash, mut lines) = (lamport_core::FNV_OFFSET, 0);
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => return Ok((hash, lines)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hash = lamport_core::fnv1a(hash, &buf[..n]);
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
}
