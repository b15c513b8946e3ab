//! `--events`: one line per row as the display reads it, on stdout, e.g.
//! `m0 recv from m2 (msg 39): 38 → 40 (+2), queue 3`, a receive's jump (`+k`, k > 1)
//! highlighted on a terminal.

use super::{WIDTH, cut, watch::receivers};
use lamport_core::record::{Kind, Peers, Record};

/// How a jump is highlighted: bold yellow on a terminal (unless `NO_COLOR` is set), not at
/// all otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// No escape codes.
    Plain,
    /// ANSI bold and colour.
    Ansi,
}

impl Style {
    /// ANSI when stdout is a terminal and `NO_COLOR` is not set.
    pub fn for_stdout() -> Self {
        use std::io::IsTerminal;
        if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            Self::Ansi
        } else {
            Self::Plain
        }
    }

    fn mark(self, s: &str) -> String {
        match self {
            Self::Plain => s.to_string(),
            Self::Ansi => format!("\x1b[1;33m{s}\x1b[0m"),
        }
    }
}

/// One row as a line of the feed (at most [`WIDTH`] columns, escape codes aside); `before`
/// is its machine's clock before it.
pub fn event_line(rec: &Record, before: u64, style: Style) -> String {
    let m = rec.machine;
    let msg = rec.msg_clock.unwrap_or(rec.clock);
    let from = match rec.peer {
        Peers::One(p) => format!("m{p}"),
        p => receivers(p),
    };
    match rec.kind {
        Kind::Start => format!("m{m} start"),
        Kind::Recv => {
            let jump = rec.clock.saturating_sub(before);
            let change = format!("{before} → {} (+{jump})", rec.clock);
            let change = if jump > 1 {
                style.mark(&change)
            } else {
                change
            };
            format!(
                "m{m} recv from {from} (msg {msg}): {change}, queue {}",
                rec.queue
            )
        }
        Kind::Send => cut(
            &format!("m{m} send to {} (msg {msg})", receivers(rec.peer)),
            WIDTH,
        ),
        Kind::Internal => format!("m{m} internal: {}", rec.clock),
        Kind::Unprocessed => format!("m{m} unprocessed from {from} (msg {msg})"),
        Kind::End => cut(&format!("m{m} end: {}", rec.note), WIDTH),
        Kind::Fault => cut(&format!("m{m} fault: {}", rec.note), WIDTH),
    }
}
