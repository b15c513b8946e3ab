//! The host library's error type. Binaries wrap it (with `anyhow`) and print it on one line.

use std::{fmt, io, path::Path};

/// What can go wrong in the host library outside the log checker ([`crate::check::CheckError`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Bad usage: flags that contradict each other or name impossible values.
    Usage(String),
    /// The model's parameters were refused by the core.
    Params(lamport_core::Error),
    /// A file, a folder or a system call failed.
    Io {
        /// What was being done, e.g. `cannot create run folder runs/x`.
        context: String,
        /// Why it failed.
        source: io::Error,
    },
}

impl Error {
    /// `cannot {what} {path}: {source}`.
    pub fn file(what: &str, path: &Path, source: io::Error) -> Self {
        Self::io(format!("cannot {what} {}", path.display()), source)
    }
    /// `cannot {what}: {source}`.
    pub fn sys(what: &str, source: impl Into<io::Error>) -> Self {
        Self::io(format!("cannot {what}"), source.into())
    }
    /// `{context}: {source}`.
    pub fn io(context: String, source: io::Error) -> Self {
        Self::Io { context, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(s) => f.write_str(s),
            Self::Params(e) => write!(f, "invalid parameters: {e}"),
            Self::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<lamport_core::Error> for Error {
    fn from(e: lamport_core::Error) -> Self {
        Self::Params(e)
    }
}

/// The host library's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
