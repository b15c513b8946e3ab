//! The host library's error type. Binaries wrap it (with `anyhow`) and print it on one line.

use std::{fmt, io, path::PathBuf};

/// What can go wrong in the host library outside the log checker ([`crate::check::CheckError`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Bad usage: flags that contradict each other or name impossible values.
    Usage(String),
    /// The model's parameters were refused by the core.
    Params(lamport_core::Error),
    /// A file or a folder could not be created, written or read.
    File {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// Why it failed.
        source: io::Error,
    },
    /// A system call failed.
    Sys {
        /// What was being done.
        what: &'static str,
        /// Why it failed.
        source: io::Error,
    },
}

impl Error {
    /// A file error.
    pub fn file(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::File {
            what,
            path: path.into(),
            source,
        }
    }
    /// A system-call error.
    pub fn sys(what: &'static str, source: impl Into<io::Error>) -> Self {
        Self::Sys {
            what,
            source: source.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(s) => f.write_str(s),
            Self::Params(e) => write!(f, "{e}"),
            Self::File { what, path, source } => {
                write!(f, "cannot {what} {}: {source}", path.display())
            }
            Self::Sys { what, source } => write!(f, "cannot {what}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::File { source, .. } | Self::Sys { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<lamport_core::Error> for Error {
    fn from(e: lamport_core::Error) -> Self {
        Self::Params(e)
    }
}

/// The host library's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
