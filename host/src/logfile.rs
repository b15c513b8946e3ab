//! The log writer: header, then one `write(2)` per record, so every event line reaches the
//! OS before the next tick and a killed machine leaves only whole lines.

use anyhow::{Context, Result};
use lamport_core::record::{Header, Log, Record};
use std::{fmt::Write as _, fs::File, io::Write as _, path::Path};

/// One machine's log file.
#[derive(Debug)]
pub struct LogFile {
    file: File,
    line: String,
}

impl LogFile {
    /// Creates the file and writes the three header lines.
    pub fn create(path: &Path, header: &Header) -> Result<Self> {
        let mut file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(header.to_string().as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Self {
            file,
            line: String::with_capacity(128),
        })
    }
}

impl Log for LogFile {
    type Error = std::io::Error;
    fn write(&mut self, rec: &Record) -> Result<(), Self::Error> {
        self.line.clear();
        let _ = writeln!(self.line, "{rec}");
        self.file.write_all(self.line.as_bytes())
    }
}
