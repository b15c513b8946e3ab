//! The log writer: header, then one `write(2)` per record, so every event line reaches the
//! OS before the next tick and a killed machine leaves only whole lines.

use crate::error::{Error, Result};
use lamport_core::record::{Log, Opening, Record};
use std::{
    fmt::Write as _,
    fs::File,
    io::Write as _,
    path::{Path, PathBuf},
};

/// One machine's log file.
#[derive(Debug)]
pub struct LogFile {
    file: File,
    path: PathBuf,
    line: String,
}

impl LogFile {
    /// Creates the file and writes the header lines.
    pub fn create(path: &Path, opening: &Opening<'_>) -> Result<Self> {
        let mut file = File::create(path).map_err(|e| Error::file("create", path, e))?;
        file.write_all(opening.to_string().as_bytes())
            .map_err(|e| Error::file("write", path, e))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            line: String::with_capacity(128),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
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
