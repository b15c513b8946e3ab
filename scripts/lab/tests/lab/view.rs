//! `lab view`: the page's embedded data against the logs (always), and the page in a real
//! browser (headless Chromium: `scripts/view-test.sh` installs it and runs these with
//! `--ignored`): the drawn events and messages against the logs, the deep link's causal
//! counts against the vector clocks of `lab hb`, and no error in the console.

use lab::{hb, view};
use lamport_core::{
    RunParams,
    record::{Kind, Record},
};
use lamport_host::{
    args::Model,
    check::{for_each_record, log_files},
    sim::simulate_to,
};
use std::{path::Path, process::Command};

fn sim(dir: &Path, seed: u64, machines: u16, secs: u64, latency_ns: u64) {
    sim_faulty(dir, seed, machines, secs, latency_ns, "");
}

/// [`sim`] with the faults of a `# faults=` line (`""`: none).
fn sim_faulty(dir: &Path, seed: u64, machines: u16, secs: u64, latency_ns: u64, faults: &str) {
    let params = RunParams {
        machines,
        secs,
        ..RunParams::new(seed, 0)
    };
    simulate_to(
        &Model {
            params,
            pinned: vec![None; usize::from(machines)],
            faults: lamport_core::faults::Plan::parse_line(&format!("# faults={faults}")).unwrap(),
        },
        latency_ns,
        dir,
    )
    .unwrap();
}

/// 3 machines at rate 6 for an hour: 64,800 tick events.
fn an_hour_at_rate_6(dir: &Path, seed: u64) {
    let params = RunParams {
        secs: 3600,
        ..RunParams::new(seed, 0)
    };
    simulate_to(
        &Model {
            params,
            pinned: vec![Some(6); 3],
            faults: Default::default(),
        },
        0,
        dir,
    )
    .unwrap();
}

/// Every row of the run, per machine.
fn rows(dir: &Path) -> Vec<Vec<Record>> {
    log_files(dir)
        .unwrap()
        .iter()
        .map(|f| {
            let mut v = Vec::new();
            for_each_record(f, |_, _, r| v.push(r)).unwrap();
            v
        })
        .collect()
}

/// The page's embedded data.
fn data(page: &Path) -> serde_json::Value {
    let html = std::fs::read_to_string(page).unwrap();
    let open = r#"<script id="data" type="application/json">"#;
    let a = html.find(open).unwrap() + open.len();
    let b = a + html[a..].find("</script>").unwrap();
    serde_json::from_str(&html[a..b]).unwrap()
}

#[test]
fn the_page_holds_every_row_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    sim(dir.path(), 7, 4, 30, 40_000_000);
    let page = dir.path().join("view.html");
    let w = view::write(dir.path(), &page, None).unwrap();
    let logs = rows(dir.path());
    let total: usize = logs.iter().map(Vec::len).sum();
    assert_eq!(w.rows as usize, total);
    let d = data(&page);
    assert!(d["check_ok"].as_bool().unwrap(), "{}", d["check"]);
    for (m, log) in d["machines"].as_array().unwrap().iter().zip(&logs) {
        // Undo the deltas: the times, clocks and kinds are the log's.
        let (mut t, mut c) = (0i64, 0i64);
        let kinds = m["k"].as_str().unwrap().as_bytes();
        assert_eq!(kinds.len(), log.len());
        let start = d["start_unix_ns"].as_str().unwrap().parse::<u64>().unwrap();
        let mut peers = m["p"].as_array().unwrap().iter();
        let mut msg_clocks = m["mc"].as_array().unwrap().iter();
        for (i, r) in log.iter().enumerate() {
            t += m["t"][i].as_i64().unwrap();
            c += m["c"][i].as_i64().unwrap();
            assert_eq!(start + t as u64, r.unix_ns);
            assert_eq!(c as u64, r.clock);
            assert_eq!(m["q"][i].as_u64().unwrap(), u64::from(r.queue));
            // A row's digit is its kind's index in the page's table of kind names.
            assert_eq!(d["kinds"][usize::from(kinds[i] - b'0')], r.kind.name());
            let k = r.kind;
            if matches!(k, Kind::Recv | Kind::Send | Kind::Unprocessed) {
                let p = peers.next().unwrap().as_i64().unwrap();
                match r.peer {
                    lamport_core::record::Peers::One(x) => assert_eq!(p, i64::from(x)),
                    _ => assert_eq!(p, -1),
                }
            }
            if matches!(k, Kind::Recv | Kind::Unprocessed) {
                assert_eq!(msg_clocks.next().unwrap().as_u64(), r.msg_clock);
            }
        }
        assert!(peers.next().is_none() && msg_clocks.next().is_none());
    }
}

#[test]
fn an_hour_at_rate_6_makes_a_page_no_larger_than_its_logs() {
    let dir = tempfile::tempdir().unwrap();
    an_hour_at_rate_6(dir.path(), 1);
    let logs: u64 = log_files(dir.path())
        .unwrap()
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    let w = view::write(dir.path(), &dir.path().join("view.html"), None).unwrap();
    assert!(w.rows >= 64_800, "{} rows", w.rows);
    assert!(w.bytes < logs, "page {} bytes, logs {logs}", w.bytes);
}

#[test]
fn a_window_keeps_only_its_rows_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    sim(dir.path(), 3, 3, 60, 0);
    let page = dir.path().join("view.html");
    let w = view::write(
        dir.path(),
        &page,
        Some(view::Span {
            from: 10.0,
            to: 20.0,
        }),
    )
    .unwrap();
    let logs = rows(dir.path());
    let start = logs[0][0].unix_ns;
    let inside = logs
        .iter()
        .flatten()
        .filter(|r| {
            matches!(r.kind, Kind::Start | Kind::End)
                || (start + 10_000_000_000..start + 20_000_000_000).contains(&r.unix_ns)
        })
        .count();
    assert_eq!(w.rows as usize, inside);
    assert!(w.rows < w.rows_in_run);
    assert!(
        data(&page)["window"]
            .as_str()
            .unwrap()
            .contains("10.000 s to 20.000 s")
    );
    assert!(view::write(dir.path(), &page, Some(view::Span { from: 5.0, to: 5.0 })).is_err());
}

#[test]
fn the_page_names_the_program_from_run_json_or_run_0_json() {
    let dir = tempfile::tempdir().unwrap();
    sim(dir.path(), 5, 3, 5, 0);
    let page = dir.path().join("view.html");
    view::write(dir.path(), &page, None).unwrap();
    assert_eq!(data(&page)["program"], "lab sim");
    // One host-tcp process per machine writes run-<id>.json instead.
    std::fs::remove_file(dir.path().join("run.json")).unwrap();
    std::fs::write(dir.path().join("run-0.json"), r#"{"program": "host-tcp"}"#).unwrap();
    view::write(dir.path(), &page, None).unwrap();
    assert_eq!(data(&page)["program"], "host-tcp");
}

// ---------------------------------------------------------------- in a real browser

/// The page's DOM after its script ran, and what Chromium printed.
pub(crate) fn open(page: &Path, hash: &str) -> (String, String) {
    let url = format!("file://{}{hash}", page.canonicalize().unwrap().display());
    let out = Command::new(
        lamport_tests::browser::chromium()
            .expect("no Chromium: run scripts/view-test.sh, which installs it"),
    )
    .args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=5000",
        "--dump-dom",
    ])
    .arg(&url)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The value of `attr` on the element with id `id` in a dumped DOM.
pub(crate) fn attr(dom: &str, id: &str, attr: &str) -> String {
    let at = dom
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no #{id}"));
    let tag_start = dom[..at].rfind('<').unwrap();
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>').unwrap()];
    let key = format!(r#"{attr}=""#);
    let a = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} on #{id}: {tag}"))
        + key.len();
    tag[a..a + tag[a..].find('"').unwrap()].to_string()
}

pub(crate) fn no_errors(dom: &str, console: &str) {
    assert!(!dom.contains("data-errors"), "the page caught an error");
    for line in console.lines() {
        assert!(
            !(line.contains("CONSOLE") && (line.contains("Uncaught") || line.contains("Error"))),
            "console: {line}"
        );
    }
}

/// Every tick event's vector clock, from `lab hb`'s walk.
struct Causal {
    ticks: Vec<Vec<Record>>,
    vcs: Vec<Vec<Vec<u64>>>,
}

impl Causal {
    fn of(dir: &Path) -> Self {
        let ticks: Vec<Vec<Record>> = rows(dir)
            .into_iter()
            .map(|v| v.into_iter().filter(|r| r.kind.is_tick()).collect())
            .collect();
        let mut vcs: Vec<Vec<Vec<u64>>> = vec![Vec::new(); ticks.len()];
        hb::walk(&ticks, |e, _| {
            vcs[usize::from(e.machine)].push(e.vc.to_vec())
        })
        .unwrap();
        Self { ticks, vcs }
    }

    /// (machine, clock) of every tick event.
    fn events(&self) -> Vec<(u16, u64)> {
        let mut v: Vec<(u16, u64)> = (0..self.ticks.len())
            .flat_map(|m| self.ticks[m].iter().map(move |r| (m as u16, r.clock)))
            .collect();
        v.sort_unstable();
        v
    }

    /// Events in the causal past of machine `m`'s event of clock `c`, in its future, and
    /// concurrent with it: f -> e iff VC(f)[m_f] <= VC(e)[m_f], from the definition.
    fn counts(&self, m: u16, c: u64) -> (u64, u64, u64) {
        let m = usize::from(m);
        let j = self.ticks[m].iter().position(|r| r.clock == c).unwrap();
        let e = &self.vcs[m][j];
        let (mut past, mut future, mut conc) = (0, 0, 0);
        for (mf, list) in self.vcs.iter().enumerate() {
            for (jf, f) in list.iter().enumerate() {
                if (mf, jf) == (m, j) {
                    continue;
                }
                if f[mf] <= e[mf] {
                    past += 1;
                } else if f[m] > j as u64 {
                    future += 1;
                } else {
                    conc += 1;
                }
            }
        }
        (past, future, conc)
    }
}

#[test]
#[ignore = "needs Chromium: scripts/view-test.sh"]
fn in_chromium_the_page_draws_the_run_and_the_deep_link_counts_match_lab_hb() {
    let faulty = "delay_ms=30:20 pause=1@4+3 partition=0,1/2-3@9+4";
    for (seed, machines, secs, latency, faults) in [
        (1u64, 3u16, 30u64, 0u64, ""),
        (9, 5, 20, 150_000_000, ""),
        (4, 4, 20, 0, faulty),
    ] {
        let dir = tempfile::tempdir().unwrap();
        sim_faulty(dir.path(), seed, machines, secs, latency, faults);
        let page = dir.path().join("view.html");
        view::write(dir.path(), &page, None).unwrap();
        let logs = rows(dir.path());
        let events = logs
            .iter()
            .flatten()
            .filter(|r| !matches!(r.kind, Kind::Start | Kind::End));
        let messages = logs
            .iter()
            .flatten()
            .filter(|r| matches!(r.kind, Kind::Recv | Kind::Unprocessed))
            .count();
        let ticks = logs.iter().flatten().filter(|r| r.kind.is_tick()).count();

        let (dom, console) = open(&page, "");
        no_errors(&dom, &console);
        assert_eq!(
            attr(&dom, "drawn", "data-events"),
            events.count().to_string()
        );
        assert_eq!(attr(&dom, "drawn", "data-messages"), messages.to_string());
        assert_eq!(attr(&dom, "drawn", "data-ticks"), ticks.to_string());
        let marks = if faults.is_empty() { 0 } else { 2 };
        assert_eq!(attr(&dom, "drawn", "data-faults"), marks.to_string());
        assert_eq!(attr(&dom, "selection", "data-past"), "");

        // Several events spread over the run, each through its deep link.
        let causal = Causal::of(dir.path());
        let keys = causal.events();
        for i in 0..6 {
            let (m, c) = keys[(i * 7919 + 13) % keys.len()];
            let (dom, console) = open(&page, &format!("#event={m}.{c}"));
            no_errors(&dom, &console);
            let (past, future, conc) = causal.counts(m, c);
            assert_eq!(attr(&dom, "selection", "data-event"), format!("{m}.{c}"));
            assert_eq!(
                attr(&dom, "selection", "data-past"),
                past.to_string(),
                "{m}.{c}"
            );
            assert_eq!(
                attr(&dom, "selection", "data-future"),
                future.to_string(),
                "{m}.{c}"
            );
            assert_eq!(
                attr(&dom, "selection", "data-concurrent"),
                conc.to_string(),
                "{m}.{c}"
            );
        }
    }
}

#[test]
#[ignore = "needs Chromium: scripts/view-test.sh"]
fn in_chromium_an_hour_at_rate_6_opens_without_error() {
    let dir = tempfile::tempdir().unwrap();
    an_hour_at_rate_6(dir.path(), 2);
    let page = dir.path().join("view.html");
    view::write(dir.path(), &page, None).unwrap();
    let causal = Causal::of(dir.path());
    let keys = causal.events();
    let (m, c) = keys[keys.len() / 2];
    let (dom, console) = open(&page, &format!("#event={m}.{c}"));
    no_errors(&dom, &console);
    let (past, future, conc) = causal.counts(m, c);
    assert_eq!(attr(&dom, "drawn", "data-ticks"), "64800");
    assert_eq!(attr(&dom, "selection", "data-past"), past.to_string());
    assert_eq!(attr(&dom, "selection", "data-future"), future.to_string());
    assert_eq!(attr(&dom, "selection", "data-concurrent"), conc.to_string());
}

/// With a pause, and on a page of part of the run, the page maps each of its ticks to its
/// deadline (the simulator ticks exactly at the deadline); it lists the fault windows.
#[test]
fn the_page_maps_each_tick_to_its_deadline_through_pauses_and_windows() {
    let dir = tempfile::tempdir().unwrap();
    let params = RunParams {
        secs: 30,
        ..RunParams::new(8, 0)
    };
    let faults = lamport_host::args::fault_plan(
        None,
        &["1@5+5".into(), "2@12.5+1".into()],
        &["0/1@20+3".into()],
        &params,
    )
    .unwrap();
    simulate_to(
        &Model {
            params,
            pinned: vec![Some(3), Some(4), Some(6)],
            faults,
        },
        0,
        dir.path(),
    )
    .unwrap();
    for window in [
        None,
        Some(view::Span {
            from: 7.0,
            to: 25.0,
        }),
    ] {
        let page = dir.path().join("view.html");
        view::write(dir.path(), &page, window).unwrap();
        let d = data(&page);
        assert_eq!(d["faults"], "pause=1@5+5 pause=2@12.5+1 partition=0/1@20+3");
        assert_eq!(d["fault_marks"].as_array().unwrap().len(), 3);
        assert_eq!(d["fault_marks"][0]["lane"], 1);
        assert!(d["fault_marks"][2]["lane"].is_null());
        for (m, x) in d["machines"].as_array().unwrap().iter().enumerate() {
            let h = lamport_host::check::read_header(&dir.path().join(format!("machine-{m}.log")))
                .unwrap()
                .0;
            let dl: Vec<[u64; 2]> = serde_json::from_value(x["dl"].clone()).unwrap();
            let (mut t, mut j) = (0i64, 0u64);
            let kinds = x["k"].as_str().unwrap().as_bytes();
            let name = |i: usize| d["kinds"][usize::from(kinds[i] - b'0')].as_str().unwrap();
            for (i, dt) in x["t"].as_array().unwrap().iter().enumerate() {
                t += dt.as_i64().unwrap();
                if !matches!(name(i), "recv" | "send" | "internal") {
                    continue;
                }
                let at = dl.iter().rev().find(|p| p[0] <= j).unwrap();
                let k = at[1] + (j - at[0]);
                assert_eq!(
                    h.schedule().deadline(k),
                    Some(h.start_unix_ns + t as u64),
                    "machine {m} page tick {j} window {window:?}"
                );
                j += 1;
            }
            assert!(j > 0);
        }
    }
}
