//! Reading logs: the run folder's files, a log's header, its records one by one. Errors
//! name the file and the line.

use super::CheckError;
use lamport_core::{
    faults::Plan,
    record::{COLUMNS_LINE, Header, Record},
};
use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
};

/// The logs of a run folder: `machine-<id>.log` for ids `0..N`, N from the first header.
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
    if let Some(missing) = files.iter().find(|f| !f.exists()) {
        return Err(CheckError::Missing {
            path: missing.clone(),
            machines: header.machines,
        });
    }
    Ok(files)
}

/// A log's opening lines: the parameters, the faults (none in a v1 log), how many lines.
#[derive(Debug, Clone)]
pub struct Head {
    /// The parameters line.
    pub header: Header,
    /// The `# faults=` line of a v2 log; empty for v1.
    pub faults: Plan,
    /// Lines before the first row (3 for v1, 4 for v2).
    pub lines: usize,
}

/// Reads a log's header lines; returns the header and the reader positioned after them.
pub fn read_header(path: &Path) -> Result<(Header, BufReader<File>), CheckError> {
    read_head(path).map(|(h, r)| (h.header, r))
}

/// Reads a log's header lines (v1, or v2 with its faults); returns them and the reader
/// positioned after them.
pub fn read_head(path: &Path) -> Result<(Head, BufReader<File>), CheckError> {
    let file = File::open(path).map_err(|e| CheckError::io(path, 0, e))?;
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut line = String::new();
    let mut next = |n: usize, line: &mut String| -> Result<(), CheckError> {
        line.clear();
        if r.read_line(line).map_err(|e| CheckError::io(path, n, e))? == 0 {
            return Err(CheckError::parse(path, n, "file ends inside the header"));
        }
        Ok(())
    };
    next(1, &mut line)?;
    let version = Header::check_version(&line).map_err(|e| CheckError::parse(path, 1, e))?;
    next(2, &mut line)?;
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
    if version == 2 {
        next(3, &mut line)?;
        faults = Plan::parse_line(&line).map_err(|e| {
            CheckError::parse(path, 3, format_args!("expected `# faults=...`: {e}"))
        })?;
        faults
            .validate(header.machines, header.secs)
            .map_err(|e| CheckError::parse(path, 3, format_args!("not a valid run: {e}")))?;
    }
    let lines = if version == 2 { 4 } else { 3 };
    next(lines, &mut line)?;
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
        },
        r,
    ))
}

/// Calls `f(line_number, header, record)` for every data line of a log, after its header.
pub fn for_each_record(
    path: &Path,
    f: impl FnMut(usize, &Header, Record),
) -> Result<Header, CheckError> {
    let (head, r) = read_head(path)?;
    records(path, &head, r, f)?;
    Ok(head.header)
}

/// Calls `f(line_number, header, record)` for every data line left in `r`, a reader of
/// `path` that [`read_head`] positioned after the header lines `head`.
pub fn records(
    path: &Path,
    head: &Head,
    mut r: BufReader<File>,
    mut f: impl FnMut(usize, &Header, Record),
) -> Result<(), CheckError> {
    let header = &head.header;
    let mut line = String::new();
    let mut n = head.lines;
    loop {
        line.clear();
        n += 1;
        let got = r
            .read_line(&mut line)
            .map_err(|e| CheckError::io(path, n, e))?;
        if got == 0 {
            return Ok(());
        }
        if !line.ends_with('\n') {
            return Err(CheckError::parse(path, n, "truncated line (no newline)"));
        }
        let text = line.trim_end();
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
        f(n, header, rec);
    }
}
