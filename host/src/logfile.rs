//! The log writer: header, then one `write(2)` per record, so every event line reaches the
//! OS before the next tick and a killed machine leaves only whole lines.
//!
//! A write that fails (a full disk, a file-size limit) leaves only whole lines too: the file
//! is cut back to its last whole line and the error goes to the caller, whose machine then
//! stops (its peers see its connections close and end it as lost). SIGXFSZ, which a
//! file-size limit sends and which kills by default, is blocked in the writing thread, so
//! that the write returns `EFBIG` instead.
//!
//! A log opens as v1 (or v2, with faults); the first `fault` row (a fault set while the
//! run ran) first rewrites its first line as v3, in place: the lines have the same length.

use crate::error::{Error, Result};
use lamport_core::record::{Kind, Log, Opening, Record, VERSION_LINE_V3};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use std::{
    fmt::Write as _,
    fs::File,
    io::{self, Seek as _, SeekFrom, Write as _},
    path::{Path, PathBuf},
};

/// One machine's log file.
#[derive(Debug)]
pub struct LogFile {
    file: File,
    path: PathBuf,
    line: String,
    /// Bytes of whole lines written: where the file is cut back to when a write fails.
    whole: u64,
    /// True once the first line says v3 (the log holds `fault` rows).
    v3: bool,
}

impl LogFile {
    /// Creates the file and writes the header lines, with the `# clock=` line before the
    /// column line when there is one. Blocks SIGXFSZ in this thread (the one that writes
    /// the log).
    pub fn create(path: &Path, opening: &Opening<'_>, clock: Option<&str>) -> Result<Self> {
        let mut xfsz = SigSet::empty();
        xfsz.add(Signal::SIGXFSZ);
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&xfsz), None)
            .map_err(|e| Error::sys("block SIGXFSZ", e))?;
        let file = File::create(path).map_err(|e| Error::file("create", path, e))?;
        let mut log = Self {
            file,
            path: path.to_path_buf(),
            line: String::with_capacity(128),
            whole: 0,
            v3: false,
        };
        log.line = opening.to_string();
        if let Some(clock) = clock {
            // Before the last line (the columns).
            let at = log.line.trim_end().rfind('\n').map_or(0, |i| i + 1);
            log.line.insert_str(at, &format!("{clock}\n"));
        }
        log.put().map_err(|e| Error::file("write", path, e))?;
        log.line.clear();
        Ok(log)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `self.line` (whole lines), in one `write(2)` unless the OS takes less; on an
    /// error, cuts the file back to its last whole line.
    fn put(&mut self) -> io::Result<()> {
        match self.file.write_all(self.line.as_bytes()) {
            Ok(()) => {
                self.whole += self.line.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Shrinking is allowed whatever the limit; the offset follows, so that
                // nothing written later could leave a hole.
                let _ = self.file.set_len(self.whole);
                let _ = self.file.seek(SeekFrom::Start(self.whole));
                Err(e)
            }
        }
    }
}

impl Log for LogFile {
    type Error = io::Error;
    fn write(&mut self, rec: &Record) -> Result<(), Self::Error> {
        if rec.kind == Kind::Fault && !self.v3 {
            // The first `fault` row: the first line becomes v3, in place (same length).
            std::os::unix::fs::FileExt::write_all_at(&self.file, VERSION_LINE_V3.as_bytes(), 0)?;
            self.v3 = true;
        }
        self.line.clear();
        let _ = writeln!(self.line, "{rec}");
        self.put()
    }
}
