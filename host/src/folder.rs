//! The run folder: `runs/<UTC time>-seed<seed>/` (or `--out DIR`), holding one log per
//! machine and `run.json`.

use crate::args::Model;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Path of machine `id`'s log in `dir`.
pub fn log_path(dir: &Path, id: u16) -> PathBuf {
    dir.join(format!("machine-{id}.log"))
}

/// The comment a supervisor writes after the last row of a machine that died (killed by a
/// signal, a thread that panicked): `# died: <how>`. Its `end` row may be missing then
/// without another machine naming it lost (it may have died after saying `Bye`).
pub const DIED: &str = "# died: ";

/// Appends [`DIED`] and `how` to machine `id`'s log, as its supervisor saw it die. A log
/// cut inside a line is left as it is (the checker names the cut).
pub fn note_death(dir: &Path, id: u16, how: &str) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let path = log_path(dir, id);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)?;
    let len = f.metadata()?.len();
    if len > 0 {
        let mut last = [0u8];
        f.seek(SeekFrom::Start(len - 1))?;
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            return Ok(());
        }
    }
    f.write_all(
        format!(
            "{DIED}{} (seen by its supervisor)\n",
            how.replace('\n', " ")
        )
        .as_bytes(),
    )
}

/// The prefix of the file a process writing a run folder keeps in it while it writes:
/// `.writing-<pid>`, holding the program's name. It is removed when the process is done; one
/// left behind by a process that no longer exists says the run's host died.
pub const WRITING: &str = ".writing-";

/// A run folder marked as being written by this process (see [`WRITING`]); the mark goes
/// when this is dropped.
#[derive(Debug)]
pub struct Writing(PathBuf);

impl Writing {
    /// Marks `dir` as being written by this process, `program`.
    pub fn mark(dir: &Path, program: &str) -> Result<Self> {
        let path = dir.join(format!("{WRITING}{}", std::process::id()));
        std::fs::write(&path, format!("{program}\n"))
            .map_err(|e| Error::file("write", &path, e))?;
        Ok(Self(path))
    }
}

impl Writing {
    /// A run that never started: the mark goes, then `dir` itself if nothing else is in it.
    pub fn remove_empty_folder(self, dir: &Path) {
        drop(self);
        let _ = std::fs::remove_dir(dir);
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Who is writing a run folder, as its [`WRITING`] marks say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Writers {
    /// Processes still writing it: (program, pid).
    pub running: Vec<(String, u32)>,
    /// Processes that marked it and no longer exist (they died while writing): (program,
    /// pid).
    pub died: Vec<(String, u32)>,
}

impl Writers {
    /// The marks in `dir` (none: the run is done, or was written before marks existed).
    pub fn of(dir: &Path) -> Self {
        let mut w = Self::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return w;
        };
        for e in entries.flatten() {
            let Some(pid) = e
                .file_name()
                .to_str()
                .and_then(|n| n.strip_prefix(WRITING)?.parse::<u32>().ok())
            else {
                continue;
            };
            let program = std::fs::read_to_string(e.path())
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            // Signal 0 only asks whether the process exists (a pid reused since by another
            // process reads as alive).
            let probe = i32::try_from(pid)
                .map(|p| nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None));
            let alive = matches!(probe, Ok(Ok(()) | Err(nix::errno::Errno::EPERM)));
            if alive {
                w.running.push((program, pid));
            } else {
                w.died.push((program, pid));
            }
        }
        w.running.sort_by_key(|x| x.1);
        w.died.sort_by_key(|x| x.1);
        w
    }

    /// One line about the writers: who is still writing, who died; `None` for neither.
    pub fn line(&self) -> Option<String> {
        let list = |v: &[(String, u32)]| {
            v.iter()
                .map(|(p, pid)| format!("{p} (pid {pid})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (self.running.is_empty(), self.died.is_empty()) {
            (true, true) => None,
            (false, true) => Some(format!("still being written by {}", list(&self.running))),
            (true, false) => Some(format!(
                "its host died while writing it: {} is gone",
                list(&self.died)
            )),
            (false, false) => Some(format!(
                "still being written by {}; {} died while writing it",
                list(&self.running),
                list(&self.died)
            )),
        }
    }
}

/// Chooses and creates the run folder. An existing folder must be empty; it must be writable.
pub fn create(out: Option<&Path>, seed: u64) -> Result<PathBuf> {
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("runs").join(format!("{}-seed{seed}", utc_stamp(now_unix_ns()))),
    };
    if dir.exists() {
        if !dir.is_dir() {
            return Err(Error::Usage(format!(
                "--out {}: exists and is not a folder",
                dir.display()
            )));
        }
        let mut entries = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(format!("--out {}", dir.display()), e))?;
        if entries.next().is_some() {
            return Err(Error::Usage(format!(
                "--out {}: folder exists and is not empty",
                dir.display()
            )));
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::file("create run folder", &dir, e))?;
    // Probe writability now, before anything starts.
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"")
        .map_err(|e| Error::io(format!("run folder {} is not writable", dir.display()), e))?;
    std::fs::remove_file(&probe).ok();
    Ok(dir)
}

/// System time now, nanoseconds since the Unix epoch.
pub fn now_unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time in nanoseconds (UTC).
pub fn utc_stamp(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil conversion (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Writes `run.json`: every parameter, the seed, each machine's rate, the program, its
/// version, the start time, and anything the host adds in `extra` (e.g. the peers).
pub fn write_run_json(
    dir: &Path,
    model: &Model,
    program: &str,
    extra: serde_json::Value,
) -> Result<()> {
    write_run_info(&dir.join("run.json"), model, program, extra)
}

/// The faults of a run as run.json states them: `line` (the log header's `# faults=`
/// items), the delay and jitter in ms, and each pause (`machine`) or partition (`sides`,
/// two lists of ids) with its window in seconds after the start (`from_s`, `to_s`).
pub fn faults_json(plan: &lamport_core::faults::Plan) -> serde_json::Value {
    use lamport_core::faults::FaultKind;
    let s = |ns: u64| ns as f64 / 1e9;
    let windows: Vec<serde_json::Value> = plan
        .windows
        .iter()
        .map(|f| {
            let mut w =
                serde_json::json!({ "from_s": s(f.window.from_ns), "to_s": s(f.window.to_ns()) });
            match &f.what {
                FaultKind::Pause(m) => w["pause"] = (*m).into(),
                FaultKind::Partition(a, b) => {
                    w["partition"] = serde_json::json!([
                        a.ids().collect::<Vec<_>>(),
                        b.ids().collect::<Vec<_>>()
                    ])
                }
            }
            w
        })
        .collect();
    serde_json::json!({
        "line": plan.to_string(),
        "delay_ms": plan.delay_ns as f64 / 1e6,
        "jitter_ms": plan.jitter_ns as f64 / 1e6,
        "windows": windows,
    })
}

/// [`write_run_json`] to another file name (e.g. `run-<id>.json` of one process of a run).
pub fn write_run_info(
    path: &Path,
    model: &Model,
    program: &str,
    extra: serde_json::Value,
) -> Result<()> {
    let p = &model.params;
    let mut speedup = String::new();
    lamport_core::params::write_milli(&mut speedup, p.speedup_milli).ok();
    let mut info = serde_json::json!({
        "program": program,
        "version": crate::VERSION,
        "log_format": if model.faults.is_empty() { "lamport-lab log v1" } else { "lamport-lab log v2" },
        "machines": p.machines,
        "secs": p.secs,
        "seed": p.seed,
        "rate_min": p.rate_min,
        "rate_max": p.rate_max,
        "rates": model.rates(),
        "rates_pinned": model.pinned.iter().any(Option::is_some),
        "roll_max": p.roll_max,
        "queue_cap": p.queue_cap,
        "speedup": speedup,
        "start_unix_ns": p.start_unix_ns,
        "phase": if p.spread_phase { "spread" } else { "aligned" },
        "phases_ns": model.phases(),
        "start_utc": utc_stamp(p.start_unix_ns),
    });
    if let Some(obj) = info.as_object_mut().filter(|_| !model.faults.is_empty()) {
        obj.insert("faults".into(), faults_json(&model.faults));
    }
    if let (Some(obj), serde_json::Value::Object(more)) = (info.as_object_mut(), extra) {
        obj.extend(more);
    }
    let text = serde_json::to_string_pretty(&info)
        .map_err(|e| Error::file("write", path, e.into()))?
        + "\n";
    std::fs::write(path, text).map_err(|e| Error::file("write", path, e))
}

/// Once a run has ended: if a log of `dir` turned v3 (a fault was set while the run ran),
/// `run.json` says so too (it was written at the start, as v1 or v2). Best effort: the logs
/// are the record.
pub fn note_live_faults(dir: &Path) {
    let v3 = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("machine-") && name.ends_with(".log")
        })
        .any(|e| crate::check::read_head(&e.path()).is_ok_and(|(h, _)| h.version == 3));
    if !v3 {
        return;
    }
    let path = dir.join("run.json");
    let Some(mut j) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return;
    };
    j["log_format"] = "lamport-lab log v3".into();
    if let Ok(text) = serde_json::to_string_pretty(&j) {
        let _ = std::fs::write(&path, text + "\n");
    }
}

/// The model of the run in `dir`, from its `run.json` (every parameter, the seed, each
/// machine's rate pinned as drawn, the planned faults): what the simulator needs to run it
/// again. A run of host-tcp's one process per machine has no `run.json` but machine 0's
/// `run-0.json`, which holds the run as every machine agreed to it.
pub fn read_model(dir: &Path) -> Result<Model> {
    let mut path = dir.join("run.json");
    if !path.exists() && dir.join("run-0.json").exists() {
        path = dir.join("run-0.json");
    }
    let bad = |what: &str| Error::Usage(format!("{}: {what}", path.display()));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::file("read", &path, e))?;
    let j: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(&format!("not JSON ({e})")))?;
    let u = |k: &str| {
        j[k].as_u64()
            .ok_or_else(|| bad(&format!("no number `{k}`")))
    };
    let speedup = j["speedup"]
        .as_str()
        .and_then(lamport_core::params::parse_milli)
        .ok_or_else(|| bad("no `speedup`"))?;
    let params = lamport_core::RunParams {
        machines: u16::try_from(u("machines")?).map_err(|_| bad("`machines` too large"))?,
        secs: u("secs")?,
        roll_max: u32::try_from(u("roll_max")?).map_err(|_| bad("`roll_max` too large"))?,
        queue_cap: u32::try_from(u("queue_cap")?).map_err(|_| bad("`queue_cap` too large"))?,
        speedup_milli: speedup,
        spread_phase: j["phase"] == "spread",
        ..lamport_core::RunParams::new(u("seed")?, u("start_unix_ns")?)
    };
    let faults = match j["faults"]["line"].as_str() {
        Some(line) => lamport_core::faults::Plan::parse_line(&format!("# faults={line}"))
            .map_err(|e| bad(&format!("faults: {e}")))?,
        None => lamport_core::faults::Plan::default(),
    };
    let pinned = j["rates"]
        .as_array()
        .ok_or_else(|| bad("no `rates`"))?
        .iter()
        .map(|r| r.as_u64().and_then(|r| u32::try_from(r).ok()))
        .collect::<Option<Vec<u32>>>()
        .ok_or_else(|| {
            bad("a rate is not a number (a host-tcp process of a run from before the seed was agreed knew only its own)")
        })?;
    Ok(Model {
        params,
        pinned: pinned.into_iter().map(Some).collect(),
        faults,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(1_764_070_000_000_000_000), "20251125T112640Z");
        assert_eq!(utc_stamp(951_782_400_000_000_000), "20000229T000000Z");
    }
}
