//! Faults set while the run ran (`fault` rows, log v3) in `lab report` (Markdown and
//! JSON), its plots and the page's data: a simulated run with a pause, a partition, a
//! delay, a pause left open and a kill. None of this asks `lab check`: the rows are read
//! as the log format states them.

use lab::{report, view};
use lamport_core::{
    RunParams, UnixNanos,
    live::Live,
    record::{Kind, Record},
    sim::LiveAt,
};
use lamport_host::{
    args::Model,
    check::{for_each_record, read_head},
    live_faults,
    page::Builder,
    sim::{DEFAULT_START_UNIX_NS, simulate_live_to},
};
use std::{path::Path, process::Command};

const SEC: u64 = 1_000_000_000;

/// 4 machines at rates 2, 4, 3, 5 for 30 s: machine 1 paused 3 s to 7 s; a partition
/// 0-1/2-3 taken by every machine at 10 s, healed at 15 s (machine 3 at 15.5 s);
/// machine 2 delays 300:100 ms from 12 s to 18 s; machine 3 paused from 20 s, never
/// resumed; machine 0 killed at 25 s (which ends the simulated run).
fn live_run(dir: &Path) -> Vec<LiveAt> {
    let at = |ms: u64, machine: u16, live: &str| LiveAt {
        at: UnixNanos(DEFAULT_START_UNIX_NS + ms * 1_000_000),
        machine,
        live: Live::parse(live).unwrap(),
    };
    let mut live = vec![at(3_000, 1, "pause"), at(7_000, 1, "resume")];
    for m in 0..4 {
        live.push(at(10_000, m, "partition 0-1/2-3"));
        live.push(at(if m == 3 { 15_500 } else { 15_000 }, m, "heal"));
    }
    live.extend([
        at(12_000, 2, "delay 300:100"),
        at(18_000, 2, "delay 0"),
        at(20_000, 3, "pause"),
        at(25_000, 0, "kill"),
    ]);
    live.sort_by_key(|l| l.at);
    let params = RunParams {
        machines: 4,
        secs: 30,
        ..RunParams::new(11, 0)
    };
    let model = Model {
        params,
        pinned: vec![Some(2), Some(4), Some(3), Some(5)],
        faults: Default::default(),
    };
    simulate_live_to(&model, 0, &live, dir).unwrap();
    live
}

fn rows(dir: &Path, m: u16) -> Vec<Record> {
    let mut v = Vec::new();
    for_each_record(&dir.join(format!("machine-{m}.log")), |_, _, r| v.push(r)).unwrap();
    v
}

/// The page of the run in `dir`, as `lab view` writes it (its checker's verdict included:
/// the run's live faults hold every rule).
fn judged_page(dir: &Path) -> std::path::PathBuf {
    let page = dir.join("view.html");
    view::write(dir, &page, None).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("every rule holds"),
        "the checker's verdict on the page"
    );
    page
}

/// Every live fault is a `fault` row of the machine that took it, with its note.
#[test]
fn the_simulated_run_writes_each_live_fault_as_a_fault_row() {
    let dir = tempfile::tempdir().unwrap();
    let live = live_run(dir.path());
    for l in &live {
        let found = rows(dir.path(), l.machine).into_iter().any(|r| {
            r.kind == Kind::Fault && r.unix_ns == l.at.0 && r.note.as_str() == l.live.to_string()
        });
        assert!(found, "{l:?}");
    }
    let first = std::fs::read_to_string(dir.path().join("machine-0.log")).unwrap();
    assert!(first.starts_with("# lamport-lab log v3\n"));
    assert_eq!(rows(dir.path(), 0).last().unwrap().note.as_str(), "killed");
}

#[test]
fn lab_report_lists_the_live_faults_and_what_each_window_did() {
    let dir = tempfile::tempdir().unwrap();
    live_run(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .args(["report", "--json"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let live: Vec<(String, Vec<u16>, f64, Option<f64>)> = r["live_faults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["what"].as_str().unwrap().to_string(),
                serde_json::from_value(f["machines"].clone()).unwrap(),
                f["from_s"].as_f64().unwrap(),
                f["to_s"].as_f64(),
            )
        })
        .collect();
    let want = [
        ("pause of 1", vec![1], 3.0, Some(7.0)),
        ("partition 0-1/2-3", vec![0, 1, 2, 3], 10.0, Some(15.5)),
        ("delay 300:100", vec![2], 12.0, Some(18.0)),
        ("pause of 3", vec![3], 20.0, None),
        ("kill of 0", vec![0], 25.0, None),
    ];
    let want: Vec<_> = want
        .into_iter()
        .map(|(w, m, a, b)| (w.to_string(), m, a, b))
        .collect();
    assert_eq!(live, want);
    // The windows' analysis: the live pause of 1, the partition, the pause of 3 open to
    // the end of the run.
    let w = r["fault_windows"].as_array().unwrap();
    let spans: Vec<(&str, f64, f64)> = w
        .iter()
        .map(|e| {
            let f = e["fault"].as_str().unwrap();
            (
                f,
                e["from_s"].as_f64().unwrap(),
                e["to_s"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        spans,
        [
            ("pause of 1", 3.0, 7.0),
            ("partition 0-1/2-3", 10.0, 15.5),
            ("pause of 3", 20.0, 30.0)
        ]
    );
    assert_eq!(w[0]["machine"], 1);
    assert_eq!(w[0]["live_at"], serde_json::json!([1]));
    // Machine 1's first tick from 7 s on: the messages that waited for it.
    let first = rows(dir.path(), 1)
        .into_iter()
        .find(|r| r.kind.is_tick() && r.unix_ns >= DEFAULT_START_UNIX_NS + 7 * SEC)
        .unwrap();
    let waiting = u64::from(first.queue) + u64::from(first.kind == Kind::Recv);
    assert!(waiting > 0);
    assert_eq!(w[0]["waiting_at_resume"], waiting);
    assert!(w[1]["heal_jump"].is_u64() && w[1]["machine"].is_null());
    assert!(w[2]["waiting_at_resume"].is_null(), "never resumed");
    assert_eq!(
        (&w[2]["open"], &w[0]["open"]),
        (&true.into(), &serde_json::Value::Null)
    );
    // Ticks are timed against each machine's deadlines as its fault rows left them: the
    // simulator ticks exactly on them, so no tick is late, and the paused machines owe
    // no tick inside their pauses (machine 3's lasts to the end).
    let m = r["rows"].as_array().unwrap();
    for row in m {
        assert_eq!(row["late_ms"]["max"], 0.0, "{row}");
    }
    assert_eq!(m[1]["ticks_due"], 4 * 30 - 4 * 4);
    assert_eq!(m[3]["ticks_due"], 5 * 20);
    assert_eq!(m[3]["ticks"], 5 * 20);

    let (r, _) = report::analyze(dir.path()).unwrap();
    let md = report::markdown(&r);
    assert!(md.contains("Faults set while the run ran"), "{md}");
    assert!(
        md.contains("| partition 0-1/2-3 | 0, 1, 2, 3 | 10.000 | 15.500 |"),
        "{md}"
    );
    assert!(md.contains("| pause of 3 | 3 | 20.000 | the end |"), "{md}");
    assert!(md.contains("| kill of 0 | 0 | 25.000 | - |"), "{md}");
    assert!(md.contains("| pause of 1 | 3.000 | 7.000 |"), "{md}");
    assert!(
        md.contains("| pause of 3 | 20.000 | the end | - | - |"),
        "{md}"
    );
}

#[test]
fn the_plots_shade_live_windows_and_mark_the_kill() {
    let dir = tempfile::tempdir().unwrap();
    live_run(dir.path());
    let (_, accs) = report::analyze(dir.path()).unwrap();
    let out = dir.path().join("plots");
    lab::plots::write_all(dir.path(), &accs, &out, 30.0).unwrap();
    for f in ["clock.svg", "queue.svg", "spacetime.svg"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        for label in [
            "live pause 1",
            "live pause 3",
            "live partition 0-1/2-3",
            "killed 0",
        ] {
            assert!(text.contains(label), "{f}: {label}");
        }
    }
}

/// The page's data: each machine's fault rows (kind `fault`, their notes), its live marks,
/// and its ticks mapped to the deadlines its fault rows left; a live page gets the same
/// marks chunk by chunk, a resume closing the pause it opened.
#[test]
fn the_page_carries_the_live_faults_and_times_ticks_through_them() {
    let dir = tempfile::tempdir().unwrap();
    live_run(dir.path());
    let page = judged_page(dir.path());
    let html = std::fs::read_to_string(&page).unwrap();
    let open = r#"<script id="data" type="application/json">"#;
    let a = html.find(open).unwrap() + open.len();
    let b = a + html[a..].find("</script>").unwrap();
    let d: serde_json::Value = serde_json::from_str(&html[a..b]).unwrap();
    let fault_digit = d["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .position(|k| k == "fault")
        .unwrap();
    let m1 = &d["machines"][1];
    let digits = m1["k"].as_str().unwrap();
    let faults = digits
        .bytes()
        .filter(|&c| usize::from(c - b'0') == fault_digit)
        .count();
    assert_eq!(faults, 4, "pause, partition, resume, heal");
    assert_eq!(
        m1["f"],
        serde_json::json!(["pause", "resume", "partition 0-1/2-3", "heal"])
    );
    let marks = |m: usize| -> Vec<(String, String, u64, Option<u64>)> {
        d["machines"][m]["lf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["kind"].as_str().unwrap().to_string(),
                    x["label"].as_str().unwrap().to_string(),
                    x["from_ns"].as_u64().unwrap(),
                    x["to_ns"].as_u64(),
                )
            })
            .collect()
    };
    let s = |k: &str, l: &str, a: u64, b: Option<u64>| (k.to_string(), l.to_string(), a, b);
    assert_eq!(
        marks(1),
        [
            s("pause", "paused", 3 * SEC, Some(7 * SEC)),
            s("partition", "partition 0-1/2-3", 10 * SEC, Some(15 * SEC))
        ]
    );
    assert_eq!(
        marks(2),
        [
            s("partition", "partition 0-1/2-3", 10 * SEC, Some(15 * SEC)),
            s("delay", "delay 300:100", 12 * SEC, Some(18 * SEC))
        ]
    );
    assert_eq!(
        marks(3),
        [
            s(
                "partition",
                "partition 0-1/2-3",
                10 * SEC,
                Some(15_500_000_000)
            ),
            s("pause", "paused", 20 * SEC, None)
        ]
    );
    assert_eq!(marks(0)[1], s("kill", "killed", 25 * SEC, Some(25 * SEC)));
    // Each page tick of each machine meets the deadline the page maps it to.
    for (m, x) in d["machines"].as_array().unwrap().iter().enumerate() {
        let h = read_head(&dir.path().join(format!("machine-{m}.log")))
            .unwrap()
            .0
            .header;
        let dl: Vec<[u64; 2]> = serde_json::from_value(x["dl"].clone()).unwrap();
        let (mut t, mut j) = (0i64, 0u64);
        let kinds = x["k"].as_str().unwrap().as_bytes();
        for (i, dt) in x["t"].as_array().unwrap().iter().enumerate() {
            t += dt.as_i64().unwrap();
            let name = d["kinds"][usize::from(kinds[i] - b'0')].as_str().unwrap();
            if !matches!(name, "recv" | "send" | "internal") {
                continue;
            }
            let at = dl.iter().rev().find(|p| p[0] <= j).unwrap();
            let k = at[1] + (j - at[0]);
            assert_eq!(
                h.schedule().deadline(k),
                Some(h.start_unix_ns + t as u64),
                "machine {m} page tick {j}"
            );
            j += 1;
        }
    }

    // The live page: machine 1's rows in chunks, as the stream sends them.
    let path = dir.path().join("machine-1.log");
    let (head, _) = read_head(&path).unwrap();
    let mut builder = Builder::new(&head, &head.faults, None);
    let mut chunks = Vec::new();
    for_each_record(&path, |_, _, rec| {
        builder.push(&rec);
        if rec.kind == Kind::Fault {
            chunks.push(serde_json::to_value(builder.take()).unwrap()["lf"].clone());
        }
    })
    .unwrap();
    let ends: Vec<(String, Option<u64>)> = chunks
        .iter()
        .map(|c| {
            let m = &c.as_array().unwrap()[0];
            (m["id"].as_str().unwrap().to_string(), m["to_ns"].as_u64())
        })
        .collect();
    assert_eq!(
        ends,
        [
            ("w0".to_string(), None),
            ("w0".to_string(), Some(7 * SEC)),
            ("w1".to_string(), None),
            ("w1".to_string(), Some(15 * SEC)),
        ]
    );
    assert!(chunks.iter().all(|c| c.as_array().unwrap().len() == 1));
}

/// The shared fold: the run's list from the logs, one entry per fault however many
/// machines took it.
#[test]
fn the_run_s_live_faults_group_what_several_machines_took() {
    let dir = tempfile::tempdir().unwrap();
    live_run(dir.path());
    let files = lamport_host::check::log_files(dir.path()).unwrap();
    let all = live_faults::read(&files).unwrap();
    let kinds: Vec<&str> = all.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, ["pause", "partition", "delay", "pause", "kill"]);
    let part = &all[1];
    assert_eq!(part.machines, [0, 1, 2, 3]);
    let w = part.window.as_ref().unwrap().window;
    assert_eq!((w.from_ns, w.to_ns()), (10 * SEC, 15_500_000_000));
    assert_eq!(all[3].to_or(30 * SEC), 30 * SEC);
}

/// In a real browser: the page draws the live faults (each machine's marks, its fault rows
/// as events) and says each machine's state at the end, without an error.
#[test]
#[ignore = "needs Chromium: scripts/view-test.sh"]
fn in_chromium_the_page_shows_the_live_faults_and_each_machine_s_state() {
    let dir = tempfile::tempdir().unwrap();
    live_run(dir.path());
    let page = judged_page(dir.path());
    let (dom, console) = crate::view::open(&page, "");
    crate::view::no_errors(&dom, &console);
    let attr = |a| crate::view::attr(&dom, "drawn", a);
    assert_eq!(attr("data-live-faults"), "14");
    assert_eq!(attr("data-faults"), "8");
    assert_eq!(attr("data-states"), "killed;;;paused");
    assert!(dom.contains("Faults set while the run ran"));
}

/// The live page, its rows arriving over time: a fault row changes the shading and the
/// machine's state as it comes (a pause opens on machine 1's lane and shows it paused; the
/// resume closes it; the kill shows machine 0 killed).
#[test]
#[ignore = "needs Chromium: scripts/view-test.sh"]
fn in_chromium_a_live_page_shades_each_fault_as_its_row_arrives() {
    use std::io::Write as _;
    let src = tempfile::tempdir().unwrap();
    live_run(src.path());
    let dst = tempfile::tempdir().unwrap();
    let logs: Vec<Vec<String>> = (0..4)
        .map(|m| {
            let text = std::fs::read_to_string(src.path().join(format!("machine-{m}.log")));
            text.unwrap().lines().map(str::to_string).collect()
        })
        .collect();
    let mut files: Vec<std::fs::File> = (0..4)
        .map(|m| std::fs::File::create(dst.path().join(format!("machine-{m}.log"))).unwrap())
        .collect();
    let mut sent = [0usize; 4];
    // Appends every line of each log up to `secs` after the start (the header first).
    let mut append_until = |secs: u64| {
        for (m, log) in logs.iter().enumerate() {
            while let Some(line) = log.get(sent[m]) {
                let t = line.split(',').next().unwrap().parse::<u64>();
                if t.is_ok_and(|t| t >= DEFAULT_START_UNIX_NS + secs * SEC) {
                    break;
                }
                writeln!(files[m], "{line}").unwrap();
                sent[m] += 1;
            }
            files[m].flush().unwrap();
        }
    };
    append_until(0);
    let bound = lamport_host::live::Bound::new("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = bound.url();
    let _live = bound.serve(dst.path(), "lab sim").unwrap();
    let mut page = lamport_tests::browser::Browser::open(&url).unwrap();
    let mut expect = |want: &str, what: &str| {
        let js = "document.getElementById('drawn').dataset.states + '|' + \
                  MARKS.filter(f => f.live && f.kind === 'pause' && f.lane === 1)\
                  .map(f => f.open ? 'open' : f.to_ns).join(',')";
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut got = String::new();
        while std::time::Instant::now() < until {
            got = page.eval(js).unwrap().as_str().unwrap_or("").to_string();
            if got == want {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{what}: the page says {got:?}, not {want:?}");
    };
    append_until(2);
    expect(";;;|", "before the pause");
    append_until(5);
    expect(";paused;;|open", "paused");
    append_until(8);
    expect(";;;|7000000000", "resumed");
    append_until(31);
    expect("killed;;;paused|7000000000", "at the end");
    let errors = page.eval("document.body.dataset.errors || ''").unwrap();
    assert_eq!(errors, "");
}
