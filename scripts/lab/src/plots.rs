//! SVG plots of a run (plotters): clock against time, receive-jump histograms, queue
//! against time, and a space-time (Lamport) diagram of a window of the run.

use crate::stats::MachineAcc;
use anyhow::{Context, Result, anyhow};
use lamport_core::record::{Kind, Peers, Record};
use lamport_host::check::{for_each_record, log_files};
use plotters::prelude::*;
use std::{collections::HashMap, path::Path};

fn color(i: usize) -> RGBColor {
    const P: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    P[i % P.len()]
}

/// A fault window as the plots mark it: its span in seconds, its label (`pause 1`,
/// `partition 0/1,2`; a live one `live pause 1`), its colour, and the lanes it covers in
/// the space-time diagram (`None`: all of them). A kill is a line at its instant.
struct Mark {
    from: f64,
    to: f64,
    label: String,
    color: RGBColor,
    lane: Option<u16>,
    kill: bool,
}

/// The marks of a run's fault windows, planned and live (from any machine's accumulator:
/// each holds the run's windows), and of its kills.
fn marks(acc: &MachineAcc) -> Vec<Mark> {
    let windows = acc.windows.iter().map(|w| {
        let f = &w.fault;
        let (mut label, lane) = lamport_host::page::label(f);
        if !w.taken_by.is_empty() {
            label = format!("live {label}");
        }
        let color = match lane {
            Some(_) => RGBColor(255, 165, 0),
            None => RGBColor(70, 130, 180),
        };
        Mark {
            from: f.window.from_ns as f64 / 1e9,
            to: f.window.to_ns() as f64 / 1e9,
            label,
            color,
            lane,
            kill: false,
        }
    });
    let kills = acc.live.iter().filter(|l| l.kind == "kill").map(|l| Mark {
        from: l.from_ns as f64 / 1e9,
        to: l.from_ns as f64 / 1e9,
        label: format!("killed {}", l.machines[0]),
        color: RGBColor(178, 24, 43),
        lane: Some(l.machines[0]),
        kill: true,
    });
    windows.chain(kills).collect()
}

/// Shades each mark from `y0` to `y1` (a pause on its lane only when `lane_y` is given)
/// and labels it at its top left.
/// A chart with real numbers on both axes, as every plot here draws.
type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn draw_marks<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    marks: &[impl std::borrow::Borrow<Mark>],
    (y0, y1): (f64, f64),
    lane_y: bool,
) -> Result<()> {
    for (i, m) in marks.iter().enumerate() {
        let m: &Mark = m.borrow();
        let (lo, hi) = match m.lane {
            Some(l) if lane_y => (f64::from(l) - 0.45, f64::from(l) + 0.45),
            _ => (y0, y1),
        };
        if m.kill {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(m.from, lo), (m.from, hi)],
                    m.color.stroke_width(2),
                )))
                .map_err(err)?;
        } else {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(m.from, lo), (m.to, hi)],
                    m.color.mix(0.18).filled(),
                )))
                .map_err(err)?;
        }
        // Near the bottom (series legends sit at the top); overlapping windows' labels are
        // staggered up.
        let y = lo + (hi - lo) * 0.08 * (1 + i % 3) as f64;
        chart
            .draw_series(std::iter::once(Text::new(
                m.label.clone(),
                (m.from, y),
                ("sans-serif", 13).into_font().color(&m.color.mix(0.9)),
            )))
            .map_err(err)?;
    }
    Ok(())
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

/// Writes `clock.svg`, `jumps.svg`, `queue.svg` and `spacetime.svg` into `out`.
pub fn write_all(
    run: &Path,
    accs: &[MachineAcc],
    out: &Path,
    window_s: f64,
) -> Result<Vec<String>> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    series_plot(
        accs,
        &out.join("clock.svg"),
        "Lamport clock against time",
        "logical clock",
        |a, i| a.clock_at[i].map(|c| c as f64),
    )?;
    series_plot(
        accs,
        &out.join("queue.svg"),
        "Network queue length against time",
        "messages queued",
        |a, i| a.queue_at[i].map(f64::from),
    )?;
    jumps_plot(accs, &out.join("jumps.svg"))?;
    spacetime_plot(run, &marks(&accs[0]), &out.join("spacetime.svg"), window_s)?;
    Ok(["clock.svg", "queue.svg", "jumps.svg", "spacetime.svg"]
        .iter()
        .map(|s| s.to_string())
        .collect())
}

fn series_plot(
    accs: &[MachineAcc],
    path: &Path,
    title: &str,
    y_desc: &str,
    value: impl Fn(&MachineAcc, usize) -> Option<f64>,
) -> Result<()> {
    let grid = accs[0].grid();
    let n = accs.iter().map(|a| a.clock_at.len()).min().unwrap_or(0);
    let x_max = grid.secs(n.saturating_sub(1)).max(1.0);
    let y_max = accs
        .iter()
        .flat_map(|a| (0..n).filter_map(|i| value(a, i)))
        .fold(1.0f64, f64::max)
        * 1.05;
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    draw_marks(&mut chart, &marks(&accs[0]), (0.0, y_max), false)?;
    for (m, a) in accs.iter().enumerate() {
        let c = color(m);
        let pts: Vec<(f64, f64)> = (0..n)
            .filter_map(|i| value(a, i).map(|v| (grid.secs(i), v)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(2)))
            .map_err(err)?
            .label(format!("machine {m} (rate {})", a.header.rate))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn jumps_plot(accs: &[MachineAcc], path: &Path) -> Result<()> {
    let rows = accs.len();
    let root = SVGBackend::new(path, (900, 220 * rows as u32 + 40)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(
            "Clock jump on each receive (clock after minus before), per machine",
            ("sans-serif", 22),
        )
        .map_err(err)?;
    let max_jump = accs.iter().map(|a| a.jumps.max()).max().unwrap_or(1).max(1) as f64;
    for (m, (area, a)) in root.split_evenly((rows, 1)).iter().zip(accs).enumerate() {
        let top = a.jumps.iter().map(|(_, c)| c).max().unwrap_or(1).max(1) as f64;
        let mut chart = ChartBuilder::on(area)
            .margin(8)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..max_jump + 1.0, 0f64..top * 1.1 + 1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("jump size (clock units)")
            .y_desc("receives")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(err)?;
        let c = color(m);
        // Bars drawn in value order (plotters' Histogram orders them by a hash map).
        chart
            .draw_series(a.jumps.iter().map(|(v, n)| {
                Rectangle::new(
                    [(v as f64 - 0.4, 0.0), (v as f64 + 0.4, n as f64)],
                    c.filled(),
                )
            }))
            .map_err(err)?
            .label(format!(
                "machine {m} (rate {}), {} receives",
                a.header.rate,
                a.jumps.count()
            ))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], c.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// The tick events of each log of `files` in the first `window_s` seconds, with their time
/// since the start (s).
fn window_events(files: &[std::path::PathBuf], window_s: f64) -> Result<Vec<Vec<(f64, Record)>>> {
    files
        .iter()
        .map(|f| {
            let mut v = Vec::new();
            for_each_record(f, |_, h, rec| {
                let t = rec.unix_ns.saturating_sub(h.start_unix_ns) as f64 / 1e9;
                if t <= window_s && rec.kind.is_tick() {
                    v.push((t, rec));
                }
            })?;
            Ok(v)
        })
        .collect()
}

/// Every message both of whose ends are among `events` (per machine): ((send time, sender),
/// (receive time, receiver)), in the order of the receives.
fn matched_messages(events: &[Vec<(f64, Record)>]) -> Vec<((f64, u16), (f64, u16))> {
    // Sends by (sender, receiver, clock) -> time.
    let mut sends: HashMap<(u16, u16, u64), f64> = HashMap::new();
    for (m, evs) in events.iter().enumerate() {
        for (t, r) in evs.iter().filter(|(_, r)| r.kind == Kind::Send) {
            for p in r.peer.iter() {
                sends.insert((m as u16, p, r.clock), *t);
            }
        }
    }
    let mut messages = Vec::new();
    for (m, evs) in events.iter().enumerate() {
        for (t, r) in evs {
            if let (Kind::Recv, Peers::One(from), Some(c)) = (r.kind, r.peer, r.msg_clock)
                && let Some(&ts) = sends.get(&(from, m as u16, c))
            {
                messages.push(((ts, from), (*t, m as u16)));
            }
        }
    }
    messages
}

/// An arrow from `(x0, y0)` to `(x1, y1)` on a chart `scale` = (x range, y range) wide; its
/// head computed in axis-fraction units so that it looks the same everywhere.
fn draw_arrow<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    (x0, y0): (f64, f64),
    (x1, y1): (f64, f64),
    (sx, sy): (f64, f64),
    style: ShapeStyle,
) -> Result<()> {
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(x0, y0), (x1, y1)],
            style,
        )))
        .map_err(err)?;
    let (nx, ny) = ((x1 - x0) / sx, (y1 - y0) / sy);
    let len = (nx * nx + ny * ny).sqrt().max(1e-9);
    let (ux, uy) = (nx / len, ny / len);
    let h = 0.012;
    let back = (x1 - ux * h * sx, y1 - uy * h * sy);
    let side = (-uy * h * 0.5 * sx, ux * h * 0.5 * sy);
    let head = vec![
        (back.0 + side.0, back.1 + side.1),
        (x1, y1),
        (back.0 - side.0, back.1 - side.1),
    ];
    chart
        .draw_series(std::iter::once(PathElement::new(head, style)))
        .map_err(err)?;
    Ok(())
}

/// Each machine's events as dots on its line (filled: send and recv; hollow: internal),
/// labelled with their clocks, one legend entry per machine.
fn draw_events<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    events: &[Vec<(f64, Record)>],
) -> Result<()> {
    for (m, evs) in events.iter().enumerate() {
        let c = color(m);
        chart
            .draw_series(evs.iter().map(|(t, r)| {
                let filled = r.kind != Kind::Internal;
                EmptyElement::at((*t, m as f64))
                    + Circle::new(
                        (0, 0),
                        4,
                        if filled {
                            c.filled()
                        } else {
                            c.stroke_width(1)
                        },
                    )
                    + Text::new(r.clock.to_string(), (-4, -16), ("sans-serif", 11))
            }))
            .map_err(err)?
            .label(format!("machine {m} (filled: send/recv, hollow: internal)"))
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
    }
    Ok(())
}

fn spacetime_plot(run: &Path, marks: &[Mark], path: &Path, window_s: f64) -> Result<()> {
    let files = log_files(run)?;
    let events = window_events(&files, window_s)?;
    let n = files.len();
    // The legend sits in a band of its own below machine 0's line, so that it hides no event.
    let legend_px = 22 * n as u32 + 24;
    let band = f64::from(legend_px) / 120.0;
    let root = SVGBackend::new(path, (1200, 120 * n as u32 + 120 + legend_px)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("Space-time diagram, first {window_s} s: events (dots, labelled with the clock) and messages (arrows)"), ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..window_s, (-0.5 - band)..(n as f64 - 0.5))
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|y| {
            if *y > -0.5 {
                format!("machine {}", y.round() as i64)
            } else {
                String::new()
            }
        })
        .x_desc("time since start (s)")
        .y_desc("machine")
        .draw()
        .map_err(err)?;
    let shown: Vec<&Mark> = marks.iter().filter(|m| m.from < window_s).collect();
    draw_marks(&mut chart, &shown, (-0.5, n as f64 - 0.5), true)?;
    for m in 0..n {
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, m as f64), (window_s, m as f64)],
                BLACK.mix(0.3),
            ))
            .map_err(err)?;
    }
    for ((ts, from), (t, to)) in matched_messages(&events) {
        let style = color(usize::from(from)).mix(0.7).stroke_width(1);
        let ends = ((ts, f64::from(from)), (t, f64::from(to)));
        draw_arrow(&mut chart, ends.0, ends.1, (window_s, n as f64), style)?;
    }
    draw_events(&mut chart, &events)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
