//! The end-of-run table, laid out to fit a projector's 80-column terminal: each column as
//! wide as its longest cell, long headers on two lines, and an `end` note that would pass
//! the width on a line of its own.

use super::{WIDTH, cols};
use crate::check::CheckReport;

/// One column: two header lines and right-aligned cells.
struct Column {
    head: [&'static str; 2],
    cells: Vec<String>,
}

impl Column {
    fn width(&self) -> usize {
        self.cells
            .iter()
            .map(|c| cols(c))
            .chain(self.head.iter().map(|h| cols(h)))
            .max()
            .unwrap_or(0)
    }
}

/// The end-of-run table: per machine rate, ticks done (and due up to its end), final
/// clock, largest jump, longest queue (the largest `queue` a receive logged: messages still
/// waiting after it took one), messages left at the end, lateness, and how it ended.
/// Lines fit in [`WIDTH`] columns for a run of up to 10 machines of ordinary lengths: an
/// `end` note that would not fit goes on the next line.
pub fn summary_table(report: &CheckReport) -> String {
    let ms = |h: &crate::hist::Hist| {
        if h.count() == 0 {
            "-".to_string()
        } else {
            let q = |q: f64| format!("{:.2}", h.quantile(q) as f64 / 1e3);
            format!("{}/{}/{}", q(0.5), q(0.99), q(1.0))
        }
    };
    let ms_ = &report.machines;
    let tw = ms_
        .iter()
        .map(|m| m.ticks.to_string().len())
        .max()
        .unwrap_or(1);
    let dw = ms_
        .iter()
        .map(|m| m.ticks_due_by_end.to_string().len())
        .max()
        .unwrap_or(1);
    let column =
        |head: [&'static str; 2], f: &dyn Fn(&crate::check::MachineStats) -> String| Column {
            head,
            cells: ms_.iter().map(f).collect(),
        };
    let columns = [
        column(["machine", ""], &|m| m.id.to_string()),
        column(["rate", ""], &|m| m.rate.to_string()),
        column(["ticks (due)", ""], &|m| {
            format!("{:>tw$} ({:>dw$})", m.ticks, m.ticks_due_by_end)
        }),
        column(["final", "clock"], &|m| m.final_clock.to_string()),
        column(["max", "jump"], &|m| m.max_jump.to_string()),
        column(["max", "queue"], &|m| m.max_queue.to_string()),
        column(["left", ""], &|m| m.unprocessed.to_string()),
        column(["late (ms)", "p50/p99/max"], &|m| ms(&m.lateness_us)),
    ];
    let widths: Vec<usize> = columns.iter().map(Column::width).collect();
    let line = |cells: &mut dyn Iterator<Item = &str>, end: &str| {
        let mut s = String::new();
        for (c, w) in cells.zip(&widths) {
            s += &format!("{c:>w$}  ", w = *w);
        }
        s += end;
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&mut columns.iter().map(|c| c.head[0]), "end");
    out += &line(&mut columns.iter().map(|c| c.head[1]), "");
    for (i, m) in ms_.iter().enumerate() {
        let note = m.end_note.as_deref().unwrap_or("(no end row)");
        let row = line(&mut columns.iter().map(|c| c.cells[i].as_str()), note);
        if cols(row.trim_end()) <= WIDTH {
            out += &row;
        } else {
            out += &line(&mut columns.iter().map(|c| c.cells[i].as_str()), "");
            let indent = " ".repeat(widths[0] + 2);
            for part in wrap(&format!("end: {note}"), WIDTH - indent.len()) {
                out += &format!("{indent}{part}\n");
            }
        }
    }
    out
}

/// `text` in lines of at most `width` columns, broken at spaces (a word longer than the
/// width is cut).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let need = if cur.is_empty() { 0 } else { 1 } + cols(&word);
            if cols(&cur) + need <= width {
                if !cur.is_empty() {
                    cur.push(' ');
                }
                cur += &word;
                break;
            }
            if !cur.is_empty() {
                lines.push(std::mem::take(&mut cur));
                continue;
            }
            let cut: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(cut);
            if word.is_empty() {
                break;
            }
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}
