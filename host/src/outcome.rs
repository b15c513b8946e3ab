//! How a whole run ended, decided the same way by every host: check the logs, print the
//! summary, name the failure in one line, choose the exit status.

use crate::error::{Error, Result};
use crate::{EXIT_FAILED, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, check, display};
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
pub fn conclude(
    host: &str,
    dir: &Path,
    quiet: bool,
    ended: &[(u16, Ended)],
    signalled: Option<Signal>,
    cpu: Cpu,
) -> u8 {
    let report = check::check_run(dir);
    if !quiet {
        if let Ok(r) = &report {
            print!("{}", display::summary_table(r));
        }
        println!("{}", cpu.line());
        println!("logs: {}", dir.display());
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
    if let Some(s) = signalled {
        eprintln!("{host}: stopped by {s}; logs are complete");
        return if s == Signal::SIGINT {
            EXIT_SIGINT
        } else {
            EXIT_SIGTERM
        };
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
    if ended
        .iter()
        .any(|(_, e)| !matches!(e, Ended::Exited(c) if *c == i32::from(EXIT_OK)))
    {
        eprintln!("{host}: run failed: a machine stopped early");
        return EXIT_FAILED;
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

/// CPU time (user + system) so far of this process's waited-for children
/// (`children = true`: host-unix's machines) or of this process (host-tcp), nanoseconds.
pub fn cpu_ns(children: bool) -> u64 {
    use nix::sys::resource::{UsageWho, getrusage};
    let who = if children {
        UsageWho::RUSAGE_CHILDREN
    } else {
        UsageWho::RUSAGE_SELF
    };
    getrusage(who).map_or(0, |u| {
        let ns = |t: nix::sys::time::TimeVal| {
            t.tv_sec() as u64 * 1_000_000_000 + t.tv_usec() as u64 * 1_000
        };
        ns(u.user_time()) + ns(u.system_time())
    })
}

/// What a host measured of its machines' CPU, for the summary.
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    /// CPU time (user + system) of the run's machines, nanoseconds ([`cpu_ns`]:
    /// host-unix its machine processes, host-tcp the whole process, reader threads included).
    pub ns: u64,
    /// How many machines that time was spent on.
    pub machines: u16,
    /// The run's length, seconds.
    pub secs: u64,
    /// `sleep` or `hybrid`.
    pub pacing: &'static str,
}

impl Cpu {
    /// The summary's line: CPU per machine per second of the run, and the pacing.
    pub fn line(&self) -> String {
        format!(
            "cpu: {:.2} ms per machine per second (pacing {})",
            self.ns as f64 / 1e6 / f64::from(self.machines.max(1)) / self.secs.max(1) as f64,
            self.pacing
        )
    }
}
