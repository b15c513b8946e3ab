//! Reading logs: the run folder's files, a log's header, its records one by one. Errors
//! name the file and the line.
//!
//! Memory stays bounded whatever the files hold: a line is read up to
//! [`MAX_LINE`](lamport_core::record::MAX_LINE) bytes and a longer one is refused without
//! being held whole; anything that is not a regular file (a FIFO, a device) is refused
//! before a byte is read, so that nothing blocks. A last line without its newline (the disk
//! filled, a file-size limit) is a [`Cut`]: the whole lines before it are read.

use super::CheckError;
use lamport_core::{
    faults::Plan,
    record::{COLUMNS_LINE, Header, MAX_LINE, Record},
};
use std::{
    fs::{File, OpenOptions},
    io::{self, BufRead, BufReader},
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
};

/// The logs of a run folder: `machine-<id>.log` for ids `0..N`, N from the first header.
/// Each must be a regular file.
pub fn log_files(dir: &Path) -> Result<Vec<PathBuf>, CheckError> {
    if dir.is_file() {
        return Err(CheckError::NotAFolder(dir.to_path_buf()));
    }
    if !dir.is_dir() {
        return Err(CheckError::NoFolder(dir.to_path_buf()));
    }
    let first = crate::folder::log_path(dir, 0);
    if !first.exists() {
        return Err(CheckError::NoLogs(dir.to_path_buf()));
    }
    let (header, _) = read_header(&first)?;
    let files: Vec<PathBuf> = (0..header.machines)
        .map(|i| crate::folder::log_path(dir, i))
        .collect();
    for f in &files {
        match std::fs::metadata(f) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(not_regular(f)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CheckError::Missing {
                    path: f.clone(),
                    machines: header.machines,
                });
            }
            Err(e) => return Err(CheckError::io(f, 0, e)),
        }
    }
    Ok(files)
}

/// Opens a log for reading, refusing what is not a regular file (a FIFO would block the
/// reader until a writer came; a device never ends). Opened without blocking, then judged by
/// what was opened, so that nothing can be swapped in between.
fn open_log(path: &Path) -> Result<File, CheckError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| CheckError::io(path, 0, e))?;
    let meta = file.metadata().map_err(|e| CheckError::io(path, 0, e))?;
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    Ok(file)
}

fn not_regular(path: &Path) -> CheckError {
    CheckError::io(
        path,
        0,
        io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
    )
}

/// One line read by [`read_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// A whole line, newline included.
    Whole,
    /// The end of the file.
    End,
    /// The file ends inside a line (no newline): what there is of it is in the buffer.
    Cut,
    /// Longer than [`MAX_LINE`]: the buffer holds its first part.
    TooLong,
}

/// Reads one line into `buf` (cleared first), holding at most [`MAX_LINE`] bytes.
fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Line> {
    buf.clear();
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(if buf.is_empty() { Line::End } else { Line::Cut });
        }
        let (take, whole) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > MAX_LINE {
            return Ok(Line::TooLong);
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(take);
        if whole {
            return Ok(Line::Whole);
        }
    }
}

/// The text of a line that [`read_line`] took whole, or the parse error that names it.
fn text<'b>(path: &Path, n: usize, got: Line, buf: &'b [u8]) -> Result<&'b str, CheckError> {
    if got == Line::TooLong {
        return Err(CheckError::parse(
            path,
            n,
            format_args!("line longer than {MAX_LINE} bytes: not a log line"),
        ));
    }
    let s = std::str::from_utf8(buf).map_err(|_| CheckError::parse(path, n, "not UTF-8 text"))?;
    Ok(s.trim_end_matches(['\n', '\r']))
}

/// Where a log ends inside a line: it has no newline, so it was cut while being written
/// (a full disk, a file-size limit). The rows before it are whole; this one is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// 1-based number of the partial line.
    pub line: usize,
    /// Bytes of it in the file.
    pub bytes: usize,
}

/// A log's opening lines: the parameters, the faults (none in a v1 log), how many lines.
#[derive(Debug, Clone)]
pub struct Head {
    /// The parameters line.
    pub header: Header,
    /// The `# faults=` line of a v2 log (or of a v3 log that has one); empty for v1.
    pub faults: Plan,
    /// Lines before the first row (3 for v1, 4 for v2; 3 or 4 for v3).
    pub lines: usize,
    /// The log version its first line states: 1, 2, or 3 (`fault` rows follow).
    pub version: u32,
    /// The `# clock=` line of a host-tcp log: the offsets its handshake measured.
    pub clock: Option<Clock>,
}

/// A `# clock=` header line: `# clock=to_common:T P:O/E ...`. The machine's rows are on the
/// run's timeline, machine 0's system clock: its own system clock plus `T` nanoseconds.
/// Each `P:O/E` is the offset of machine P's clock (P's minus this machine's) measured in
/// the handshake, `O` nanoseconds, within `E`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    /// This machine's clock to the run's timeline.
    pub to_common_ns: i64,
    /// (peer, offset, error bound), nanoseconds.
    pub offsets: Vec<(u16, i64, u64)>,
}

/// The header line, as [`Clock::parse`] reads it.
impl std::fmt::Display for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "# clock=to_common:{}", self.to_common_ns)?;
        for (p, o, e) in &self.offsets {
            write!(f, " {p}:{o}/{e}")?;
        }
        Ok(())
    }
}

impl Clock {
    /// Parses the line; `machines` and `me` bound the peers it may name.
    pub fn parse(line: &str, machines: u16, me: u16) -> Result<Self, String> {
        let rest = line
            .trim_end()
            .strip_prefix("# clock=")
            .ok_or("expected `# clock=`")?;
        let mut items = rest.split(' ');
        let to_common_ns = items
            .next()
            .and_then(|t| t.strip_prefix("to_common:"))
            .and_then(|t| t.parse().ok())
            .ok_or("expected `to_common:NANOSECONDS` first")?;
        let mut offsets: Vec<(u16, i64, u64)> = Vec::new();
        for item in items {
            let bad = || format!("`{item}`: expected PEER:OFFSET/ERROR in nanoseconds");
            let (p, rest) = item.split_once(':').ok_or_else(bad)?;
            let (o, e) = rest.split_once('/').ok_or_else(bad)?;
            let (p, o, e): (u16, i64, u64) = (
                p.parse().map_err(|_| bad())?,
                o.parse().map_err(|_| bad())?,
                e.parse().map_err(|_| bad())?,
            );
            if p >= machines || p == me || offsets.iter().any(|x| x.0 == p) {
                return Err(format!("`{item}`: machine {p} is not a peer named once"));
            }
            offsets.push((p, o, e));
        }
        Ok(Self {
            to_common_ns,
            offsets,
        })
    }

    /// The line for the offsets a handshake measured: `to_common` and, per peer, the
    /// offset and its error bound (none for this machine).
    pub fn of(to_common_ns: i64, offsets: &[Option<crate::meet::Offset>]) -> Self {
        Self {
            to_common_ns,
            offsets: offsets
                .iter()
                .enumerate()
                .filter_map(|(p, o)| o.map(|o| (p as u16, o.ns, o.err_ns)))
                .collect(),
        }
    }

    /// The offset measured to `peer` and its error bound.
    pub fn to(&self, peer: u16) -> Option<(i64, u64)> {
        self.offsets
            .iter()
            .find(|x| x.0 == peer)
            .map(|&(_, o, e)| (o, e))
    }
}

/// Reads a log's header lines; returns the header and the reader positioned after them.
pub fn read_header(path: &Path) -> Result<(Header, BufReader<File>), CheckError> {
    read_head(path).map(|(h, r)| (h.header, r))
}

/// Reads a log's header lines (v1, v2 with its faults, or v3 with or without them);
/// returns them and the reader positioned after them.
pub fn read_head(path: &Path) -> Result<(Head, BufReader<File>), CheckError> {
    let file = open_log(path)?;
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut next = |n: usize| -> Result<String, CheckError> {
        match read_line(&mut r, &mut buf).map_err(|e| CheckError::io(path, n, e))? {
            Line::End | Line::Cut => Err(CheckError::parse(path, n, "file ends inside the header")),
            got => text(path, n, got, &buf).map(str::to_string),
        }
    };
    let line = next(1)?;
    let version = Header::check_version(&line).map_err(|e| CheckError::parse(path, 1, e))?;
    let line = next(2)?;
    let header = Header::parse_params(&line).map_err(|e| CheckError::parse(path, 2, e))?;
    let params = header.params();
    params
        .validate(usize::MAX)
        .and_then(|()| params.check_id(header.machine))
        .map_err(|e| CheckError::parse(path, 2, format_args!("not a valid run: {e}")))?;
    let period = header.schedule().period();
    if header.phase_ns >= period.max(1) {
        return Err(CheckError::parse(
            path,
            2,
            format_args!(
                "not a valid run: phase_ns={} is not below the tick period ({period} ns)",
                header.phase_ns
            ),
        ));
    }
    let mut faults = Plan::NONE;
    let mut line = next(3)?;
    let has_faults = version == 2 || (version == 3 && line.starts_with("# faults="));
    if has_faults {
        faults = Plan::parse_line(&line).map_err(|e| {
            CheckError::parse(path, 3, format_args!("expected `# faults=...`: {e}"))
        })?;
        faults
            .validate(header.machines, header.secs)
            .map_err(|e| CheckError::parse(path, 3, format_args!("not a valid run: {e}")))?;
        line = next(4)?;
    }
    let mut lines = if has_faults { 4 } else { 3 };
    let mut clock = None;
    if line.starts_with("# clock=") {
        clock = Some(
            Clock::parse(&line, header.machines, header.machine)
                .map_err(|e| CheckError::parse(path, lines, format_args!("`# clock=`: {e}")))?,
        );
        lines += 1;
        line = next(lines)?;
    }
    if !line.trim_end().starts_with(COLUMNS_LINE) {
        return Err(CheckError::parse(
            path,
            lines,
            format!("expected the column line `{COLUMNS_LINE}`"),
        ));
    }
    Ok((
        Head {
            header,
            faults,
            lines,
            version,
            clock,
        },
        r,
    ))
}

/// Calls `f(line_number, header, record)` for every data line of a log, after its header.
/// A cut last line ([`Cut`]) is left out: the whole lines are read.
pub fn for_each_record(
    path: &Path,
    f: impl FnMut(usize, &Header, Record),
) -> Result<Header, CheckError> {
    let (head, r) = read_head(path)?;
    records(path, &head, r, f)?;
    Ok(head.header)
}

/// Calls `f(line_number, header, record)` for every data line left in `r`, a reader of
/// `path` that [`read_head`] positioned after the header lines `head`. Returns the [`Cut`]
/// when the file ends inside a line (no newline): every whole line before it was read, the
/// partial one is not. A line longer than [`MAX_LINE`] is an error naming it.
pub fn records(
    path: &Path,
    head: &Head,
    r: BufReader<File>,
    mut f: impl FnMut(usize, &Header, Record),
) -> Result<Option<Cut>, CheckError> {
    let mut it = Records::new(path, head, r);
    for got in &mut it {
        let (n, rec) = got?;
        f(n, &head.header, rec);
    }
    Ok(it.cut())
}

/// [`records`] as an iterator, for a reader that holds several logs open at once and takes
/// from each in turn (one cursor per file): yields `(line_number, record)` for every data
/// line of `path` after its header lines, or the error that names the line, after which it
/// yields nothing. Holds one line at a time.
pub struct Records {
    path: PathBuf,
    header: Header,
    reader: BufReader<File>,
    buf: Vec<u8>,
    line: usize,
    cut: Option<Cut>,
    done: bool,
}

impl Records {
    /// The records left in `r`, a reader of `path` that [`read_head`] positioned after the
    /// header lines `head`.
    pub fn new(path: &Path, head: &Head, r: BufReader<File>) -> Self {
        Self {
            path: path.to_path_buf(),
            header: head.header,
            reader: r,
            buf: Vec::new(),
            line: head.lines,
            cut: None,
            done: false,
        }
    }

    /// Once the iterator has ended: the [`Cut`] if the file ends inside a line.
    pub fn cut(&self) -> Option<Cut> {
        self.cut
    }

    fn read(&mut self) -> Result<Option<(usize, Record)>, CheckError> {
        let (path, header, buf) = (&self.path, &self.header, &mut self.buf);
        loop {
            self.line += 1;
            let n = self.line;
            let got = read_line(&mut self.reader, buf).map_err(|e| CheckError::io(path, n, e))?;
            match got {
                Line::End => return Ok(None),
                Line::Cut => {
                    self.cut = Some(Cut {
                        line: n,
                        bytes: buf.len(),
                    });
                    return Ok(None);
                }
                Line::Whole | Line::TooLong => {}
            }
            let text = text(path, n, got, buf)?.trim_end();
            if text.starts_with('#') || text.is_empty() {
                continue;
            }
            let rec =
                Record::parse(text, header.machines).map_err(|e| CheckError::parse(path, n, e))?;
            if rec.machine != header.machine {
                return Err(CheckError::parse(
                    path,
                    n,
                    format!(
                        "row of machine {} in the log of machine {}",
                        rec.machine, header.machine
                    ),
                ));
            }
            return Ok(Some((n, rec)));
        }
    }
}

impl Iterator for Records {
    type Item = Result<(usize, Record), CheckError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let got = self.read().transpose();
        self.done = !matches!(got, Some(Ok(_)));
        got
    }
}

/// The `# died: ...` line a supervisor wrote after the last row of a machine that died
/// ([`crate::folder::DIED`]), if the file ends with one. Reads only the file's last bytes.
pub fn death_note(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let from = len.saturating_sub(1024);
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut tail = Vec::new();
    f.take(1024).read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    let last = text.trim_end_matches('\n').rsplit('\n').next()?;
    last.strip_prefix(crate::folder::DIED).map(str::to_string)
}
