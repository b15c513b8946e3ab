//! How a whole run ended, decided the same way by every host: check the logs, print the
//! summary, name the failure in one line, choose the exit status.

use crate::error::{Error, Result};
use crate::{EXIT_FAILED, EXIT_KILLED, EXIT_OK, EXIT_PEER, check, display, out, signals};
use nix::sys::{
    resource::{Resource, getrlimit, setrlimit},
    signal::Signal,
};
use std::path::Path;

/// How one machine ended, as its supervisor saw it.
#[derive(Debug, Clone)]
pub enum Ended {
    /// It returned this exit status.
    Exited(i32),
    /// It died (killed by a signal, or its thread panicked); how.
    Died(String),
}

/// Checks and summarises the run in `dir`, reports on stderr, and returns the exit status.
///
/// The logs are checked whatever ended the run, a signal too: a machine that died or
/// failed, or logs that break a rule, exit 1 (named in one line); otherwise a signal's
/// own status (130, 143, 129). The summary goes to stdout unless `quiet`; a closed stdout
/// loses only the summary, never the verdict. The pages of a `live` view are told the
/// verdict (each within 2 s) before it returns.
pub fn conclude(
    host: &str,
    dir: &Path,
    quiet: bool,
    ended: &[(u16, Ended)],
    signalled: Option<Signal>,
    cpu: Cpu,
    live: Option<&crate::live::Live>,
) -> u8 {
    for (id, e) in ended {
        if let Ended::Died(how) = e {
            // Best effort: without it, the checker asks another machine to name it lost.
            let _ = crate::folder::note_death(dir, *id, how);
        }
    }
    crate::folder::note_live_faults(dir);
    let report = check::check_run(dir);
    if let Some(l) = live {
        l.ended(&report, std::time::Duration::from_secs(2));
    }
    if !quiet {
        let table = report
            .as_ref()
            .map(display::summary_table)
            .unwrap_or_default();
        let view = display::lab_command(&["view", &dir.to_string_lossy()]);
        out::print_or_drop(format_args!(
            "{table}{}\nlogs: {}\n{}\n",
            cpu.line(),
            dir.display(),
            display::hint("see it", &view)
        ));
    }
    let died = ended.iter().find_map(|(id, e)| match e {
        Ended::Died(how) => Some(format!("machine {id} died ({how})")),
        Ended::Exited(_) => None,
    });
    let failed = ended
        .iter()
        .filter(|(_, e)| matches!(e, Ended::Exited(c) if *c == i32::from(EXIT_FAILED)))
        .map(|(id, _)| *id)
        .min()
        .map(|id| {
            let note = report
                .as_ref()
                .ok()
                .and_then(|r| r.machines.get(usize::from(id)))
                .and_then(|m| m.end_note.clone());
            format!("machine {id}: {}", note.unwrap_or_else(|| "failed".into()))
        });
    if let Some(f) = died.or(failed) {
        eprintln!("{host}: run failed: {f}");
        return EXIT_FAILED;
    }
    match &report {
        Err(e) => {
            eprintln!("{host}: cannot check the logs: {e:#}");
            return EXIT_FAILED;
        }
        Ok(r) if !r.holds() => {
            eprintln!(
                "{host}: log check found {} violations; first: {}",
                r.count(),
                r.violations[0]
            );
            return EXIT_FAILED;
        }
        Ok(_) => {}
    }
    if let Some(s) = signalled {
        eprintln!("{host}: stopped by {s}; logs are complete");
        return signals::exit_code(s);
    }
    let code = |c: u8| move |e: &Ended| matches!(e, Ended::Exited(x) if *x == i32::from(c));
    let killed: Vec<String> = ended
        .iter()
        .filter(|(_, e)| code(EXIT_KILLED)(e))
        .map(|(id, _)| id.to_string())
        .collect();
    // A machine killed on command stops its peers, which end it as lost: what was asked.
    let expected = |e: &Ended| {
        code(EXIT_OK)(e) || (!killed.is_empty() && (code(EXIT_KILLED)(e) || code(EXIT_PEER)(e)))
    };
    if ended.iter().any(|(_, e)| !expected(e)) {
        eprintln!("{host}: run failed: a machine stopped early");
        return EXIT_FAILED;
    }
    if !killed.is_empty() {
        eprintln!(
            "{host}: machine {} killed on command; its peers ended it as lost; logs ok",
            killed.join(", ")
        );
    }
    EXIT_OK
}

/// Raises the open-file limit to at least `need` (up to the hard limit), or fails.
pub fn raise_fd_limit(need: u64) -> Result<()> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)
        .map_err(|e| Error::sys("read the open-file limit", e))?;
    if soft < need {
        let want = need.min(hard);
        setrlimit(Resource::RLIMIT_NOFILE, want, hard)
            .map_err(|e| Error::sys("raise the open-file limit", e))?;
        if want < need {
            return Err(Error::Usage(format!(
                "{need} open files needed, the hard limit is {hard}"
            )));
        }
    }
    Ok(())
}

/// CPU time (user + system) of this process and of its waited-for children at one
/// instant, nanoseconds. Both already hold what was spent before the run: a process that
/// `cargo run` execs keeps cargo's own time and its reaped compilers'. A run's CPU is the
/// difference of two of these ([`CpuUsage::since`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuUsage {
    /// This process (every thread).
    pub own_ns: u64,
    /// Its children that have been waited for.
    pub children_ns: u64,
}

impl CpuUsage {
    /// The usage now.
    pub fn now() -> Self {
        use nix::sys::resource::{UsageWho, getrusage};
        let ns = |who| {
            getrusage(who).map_or(0, |u| {
                let ns = |t: nix::sys::time::TimeVal| {
                    t.tv_sec() as u64 * 1_000_000_000 + t.tv_usec() as u64 * 1_000
                };
                ns(u.user_time()) + ns(u.system_time())
            })
        };
        Self {
            own_ns: ns(UsageWho::RUSAGE_SELF),
            children_ns: ns(UsageWho::RUSAGE_CHILDREN),
        }
    }

    /// What was spent from `start` to `self`: by the children (`children = true`:
    /// host-unix's machine processes) or by this process (host-tcp, reader threads
    /// included).
    pub fn since(&self, start: &Self, children: bool) -> u64 {
        if children {
            self.children_ns.saturating_sub(start.children_ns)
        } else {
            self.own_ns.saturating_sub(start.own_ns)
        }
    }
}

/// What a host measured of its machines' CPU, for the summary.
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    /// CPU time (user + system) of the run's machines since the program started,
    /// nanoseconds ([`CpuUsage::since`]).
    pub ns: u64,
    /// How many machines that time was spent on.
    pub machines: u16,
    /// How long the run ran: from its start instant to the end of its last machine
    /// (shorter than `--secs` after a signal; 0 if it stopped before its start), ns.
    pub ran_ns: u64,
    /// `sleep` or `hybrid`.
    pub pacing: &'static str,
}

impl Cpu {
    /// The summary's line: CPU per machine per second the run ran, and the pacing.
    pub fn line(&self) -> String {
        let ms = self.ns as f64 / 1e6 / f64::from(self.machines.max(1));
        if self.ran_ns == 0 {
            return format!(
                "cpu: {ms:.2} ms per machine; the run stopped before its start (pacing {})",
                self.pacing
            );
        }
        format!(
            "cpu: {:.2} ms per machine per second (pacing {})",
            ms / (self.ran_ns as f64 / 1e9),
            self.pacing
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_counts_from_the_start_snapshot_over_the_time_run() {
        // Under `cargo run`: 9 s of compilers before the start, 0.3 s of machines after.
        let start = CpuUsage {
            own_ns: 2_000_000_000,
            children_ns: 9_000_000_000,
        };
        let end = CpuUsage {
            own_ns: 2_300_000_000,
            children_ns: 9_300_000_000,
        };
        assert_eq!(end.since(&start, true), 300_000_000);
        assert_eq!(end.since(&start, false), 300_000_000);
        // 3 machines, stopped by Ctrl-C after 10 s of a 60 s run: 10 ms each per second.
        let cpu = Cpu {
            ns: end.since(&start, true),
            machines: 3,
            ran_ns: 10_000_000_000,
            pacing: "hybrid",
        };
        assert_eq!(
            cpu.line(),
            "cpu: 10.00 ms per machine per second (pacing hybrid)"
        );
        let before = Cpu { ran_ns: 0, ..cpu };
        assert_eq!(
            before.line(),
            "cpu: 100.00 ms per machine; the run stopped before its start (pacing hybrid)"
        );
    }
}
