//! Following a growing file: what was appended since the last look, in whole lines (a line
//! still being written waits for its end). The live display follows each machine's log
//! with it, and the live view every log of a run folder.

use std::{
    fs::File,
    io::{Read, Seek},
    path::PathBuf,
};

/// A file followed from its beginning (it may not exist yet).
#[derive(Debug)]
pub struct Follow {
    path: PathBuf,
    file: Option<File>,
    partial: Vec<u8>,
}

impl Follow {
    /// Follows `path`, which may not exist yet.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            partial: Vec::new(),
        }
    }

    /// The whole lines appended since the last call, reading at most `max` bytes, and how
    /// many bytes are left unread.
    pub fn whole_lines(&mut self, max: u64) -> (Vec<u8>, u64) {
        if self.file.is_none() {
            self.file = File::open(&self.path).ok();
        }
        let Some(f) = self.file.as_mut() else {
            return (Vec::new(), 0);
        };
        let mut chunk = Vec::new();
        if f.by_ref().take(max).read_to_end(&mut chunk).is_err() {
            return (Vec::new(), 0);
        }
        let behind = match (f.metadata(), f.stream_position()) {
            (Ok(m), Ok(at)) => m.len().saturating_sub(at),
            _ => 0,
        };
        self.partial.extend_from_slice(&chunk);
        let whole = match self.partial.iter().rposition(|&b| b == b'\n') {
            Some(cut) => self.partial.drain(..=cut).collect(),
            None => Vec::new(),
        };
        (whole, behind)
    }
}
