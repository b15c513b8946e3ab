//! The live view (`--view`): the page grows while a real run runs, ends with every event of
//! the logs and the checker's verdict, and pages that come and go never disturb the run.

use lamport_tests::{assert_clean, bin, browser};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Starts `program` with `--view` and `args`, writing into `dir`; returns it and the page's
/// address (its first line of output).
fn start_viewed(program: &str, args: &[&str], dir: &Path) -> (Child, String) {
    let mut child = Command::new(bin(program))
        .args(args)
        .arg("--view")
        .arg("--out")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let url = first
        .trim()
        .strip_prefix("live view: ")
        .unwrap_or_else(|| panic!("the first line names the page: {first:?}"))
        .to_string();
    // Keep reading its output so that it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (child, url)
}

/// The drawn tick events while the run runs, sampled until the page says it ended.
fn watch(page: &mut browser::Browser, within: Duration) -> Vec<u64> {
    let until = Instant::now() + within;
    let mut seen = Vec::new();
    while Instant::now() < until {
        let events = page.dataset("events").parse::<u64>().unwrap_or(0);
        if page.dataset("live") == "ended" {
            break;
        }
        seen.push(events);
        std::thread::sleep(Duration::from_millis(200));
    }
    seen
}

/// The page's causal counts of event `m.c` (past, future, concurrent), once selected.
fn counts(page: &mut browser::Browser, event: &str) -> Vec<String> {
    page.eval(&format!("gotoEvent({event:?})")).unwrap();
    ["past", "future", "concurrent"]
        .map(|k| {
            page.eval(&format!("document.getElementById('selection').dataset.{k}"))
                .unwrap()
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .to_vec()
}

fn a_live_page_follows_the_run(program: &str, args: &[&str]) {
    if browser::chromium().is_none() {
        eprintln!("skipped: no chromium (scripts/view-test.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (mut child, url) = start_viewed(program, args, &run);
    let mut page = browser::Browser::open(&url).unwrap();
    let seen = watch(&mut page, Duration::from_secs(60));
    let status = child.wait().unwrap();
    assert!(status.success(), "{program} {args:?}: {status}");
    let report = assert_clean(&run);
    let ticks: u64 = report.machines.iter().map(|m| m.ticks).sum();
    // The page grew while the run ran: several different counts, never going back.
    let mut distinct = seen.clone();
    distinct.dedup();
    assert!(
        distinct.len() >= 4,
        "the drawn events grew while the run ran: {distinct:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert!(seen[0] < ticks, "it was first sampled before the end");
    // At the end: every tick of the logs, and the checker's verdict, no error.
    let until = Instant::now() + Duration::from_secs(10);
    while page.dataset("live") != "ended" && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(page.dataset("live"), "ended");
    assert_eq!(page.dataset("events"), ticks.to_string());
    assert_eq!(page.dataset("errors"), "", "no error on the page");
    let verdict = page
        .eval("document.getElementById('verdict').textContent")
        .unwrap();
    assert!(
        verdict.as_str().unwrap_or("").contains("every rule holds"),
        "{verdict}"
    );
    eprintln!(
        "{program}: drawn p90 {} ms after their row (of {} ticks)",
        page.dataset("lagP90"),
        page.dataset("lagCount")
    );
    // The live page's causality equals the static page's, event for event.
    let html = run.join("view.html");
    let made = Command::new(bin("lab"))
        .args([
            "view",
            run.to_str().unwrap(),
            "--out",
            html.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(made.status.success());
    for event in ["1.10", "0.25", "2.40"] {
        let live = counts(&mut page, event);
        let mut fixed = browser::Browser::open(&format!("file://{}", html.display())).unwrap();
        let drawn = fixed.wait_dataset("events", &ticks.to_string(), Duration::from_secs(30));
        assert_eq!(drawn, ticks.to_string(), "the static page drew every tick");
        assert_eq!(live, counts(&mut fixed, event), "event {event}");
        assert!(live.iter().all(|c| !c.is_empty()), "{live:?}");
    }
}

#[test]
fn host_unix_a_live_page_grows_with_the_run_and_ends_as_the_logs_do() {
    a_live_page_follows_the_run(
        "host-unix",
        &[
            "--machines",
            "3",
            "--secs",
            "6",
            "--speedup",
            "5",
            "--seed",
            "3",
        ],
    );
}

#[test]
fn host_tcp_a_live_page_grows_with_the_run_and_ends_as_the_logs_do() {
    a_live_page_follows_the_run(
        "host-tcp",
        &[
            "--machines",
            "3",
            "--secs",
            "6",
            "--speedup",
            "5",
            "--seed",
            "4",
        ],
    );
}

/// Opens the stream of `url` and reads it as `how` says: 0 reads nothing (a stuck page),
/// 1 reads slowly, 2 reads all; it goes away after `stay`.
fn a_page(url: &str, how: u8, stay: Duration) {
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let Ok(mut s) = TcpStream::connect(addr) else {
        return;
    };
    let _ = write!(s, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let until = Instant::now() + stay;
    let mut buf = [0u8; 256];
    while Instant::now() < until {
        match how {
            0 => std::thread::sleep(Duration::from_millis(50)),
            1 => {
                let _ = s.read(&mut buf);
                std::thread::sleep(Duration::from_millis(100));
            }
            _ => {
                let _ = s.read(&mut buf);
            }
        }
    }
}

fn pages_that_come_and_go_do_not_disturb_the_run(program: &str) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let args = [
        "--machines",
        "4",
        "--secs",
        "5",
        "--speedup",
        "4",
        "--seed",
        "5",
    ];
    let (mut child, url) = start_viewed(program, &args, &run);
    let pages: Vec<_> = (0..20u64)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(150 * i));
                a_page(
                    &url,
                    (i % 3) as u8,
                    Duration::from_millis(300 + 200 * (i % 7)),
                );
            })
        })
        .collect();
    for p in pages {
        p.join().unwrap();
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{program}: {status}");
    let report = assert_clean(&run);
    assert!(report.machines.iter().all(|m| m.ticks == m.ticks_due));
}

#[test]
fn host_unix_twenty_pages_coming_and_going_leave_a_clean_run() {
    pages_that_come_and_go_do_not_disturb_the_run("host-unix");
}

#[test]
fn host_tcp_twenty_pages_coming_and_going_leave_a_clean_run() {
    pages_that_come_and_go_do_not_disturb_the_run("host-tcp");
}

/// `scripts/view-test.sh --screenshot`: the live page of a run in progress, for the README
/// (`LAMPORT_LIVE_SCREENSHOT` names the PNG to write).
#[test]
#[ignore = "makes docs/live.png: scripts/view-test.sh --screenshot"]
fn live_screenshot() {
    let Some(png) = std::env::var_os("LAMPORT_LIVE_SCREENSHOT") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "--machines",
        "4",
        "--secs",
        "30",
        "--speedup",
        "2",
        "--seed",
        "101",
    ];
    let args = [&args[..], &["--pause", "1@4+3"]].concat();
    let (mut child, url) = start_viewed("host-unix", &args, &dir.path().join("run"));
    let mut page = browser::Browser::open(&url).unwrap();
    std::thread::sleep(Duration::from_secs(9));
    page.screenshot(Path::new(&png)).unwrap();
    let _ = child.kill();
    let _ = child.wait();
}

/// `scripts/bench.sh`: how far behind its rows the live page draws. `LAMPORT_LIVE_BENCH` is
/// `PROGRAM MACHINES SECS SPEEDUP`; prints `live-bench: p90 MS ms, drawn EVENTS of TICKS`.
#[test]
#[ignore = "a benchmark: scripts/bench.sh"]
fn live_lag() {
    let Ok(spec) = std::env::var("LAMPORT_LIVE_BENCH") else {
        return;
    };
    let w: Vec<&str> = spec.split_whitespace().collect();
    let [program, machines, secs, speedup] = w[..] else {
        panic!("LAMPORT_LIVE_BENCH is PROGRAM MACHINES SECS SPEEDUP: {spec:?}");
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let args = [
        "--machines",
        machines,
        "--secs",
        secs,
        "--speedup",
        speedup,
        "-q",
    ];
    let (mut child, url) = start_viewed(program, &args, &run);
    let mut page = browser::Browser::open(&url).unwrap();
    let secs: u64 = secs.parse().unwrap();
    watch(&mut page, Duration::from_secs(secs + 30));
    child.wait().unwrap();
    let report = assert_clean(&run);
    let ticks: u64 = report.machines.iter().map(|m| m.ticks).sum();
    println!(
        "live-bench: p90 {} ms, drawn {} of {ticks}",
        page.dataset("lagP90"),
        page.dataset("events")
    );
}

/// Reads the event stream of `addr` until its `ended` event; returns every event's name.
fn stream_events(addr: &str, limit: Duration) -> Vec<String> {
    let until = Instant::now() + limit;
    let mut s = loop {
        match TcpStream::connect(addr) {
            Ok(s) => break s,
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("no live view at {addr}: {e}"),
        }
    };
    write!(s, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 65536];
    while Instant::now() < until && !got.contains("event: ended") {
        if let Ok(n) = s.read(&mut buf) {
            got.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    got.lines()
        .filter_map(|l| l.strip_prefix("event: ").map(str::to_string))
        .collect()
}

#[test]
fn host_tcp_one_process_per_machine_serves_its_folder_live() {
    let ports = lamport_tests::free_ports(4);
    let (peers, view) = (&ports[..3], &ports[3]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let kids: Vec<Child> = (0..3)
        .map(|id| {
            let mut c = Command::new(bin("host-tcp"));
            c.args(["--id", &id.to_string(), "--peers", &peers.join(",")])
                .args(["--secs", "3", "--speedup", "5", "--quiet", "--out"])
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if id == 0 {
                c.arg(format!("--view={view}"));
            }
            c.spawn().unwrap()
        })
        .collect();
    let events = stream_events(view, Duration::from_secs(30));
    for mut k in kids {
        assert!(k.wait().unwrap().success());
    }
    assert_clean(&out);
    let count = |e: &str| events.iter().filter(|x| *x == e).count();
    assert_eq!(count("machine"), 3, "every log of the folder: {events:?}");
    assert!(count("rows") >= 3, "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("ended"));
}

/// A client that pipelines requests and never reads stalls only its own answer: other pages
/// are served, the stream ends with the verdict (a whole chunked reply), and the host exits
/// as soon as the run is over.
#[test]
fn a_client_that_never_reads_stalls_only_itself() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let args = ["--machines", "3", "--secs", "3", "--speedup", "4", "-q"];
    let (mut child, url) = start_viewed("host-unix", &args, &run);
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stuck = TcpStream::connect(&addr).unwrap();
    nix::sys::socket::setsockopt(&stuck, nix::sys::socket::sockopt::RcvBuf, &1024).unwrap();
    stuck
        .write_all(&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200))
        .unwrap();
    let mut page = TcpStream::connect(&addr).unwrap();
    page.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(page, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut html = String::new();
    page.read_to_string(&mut html).unwrap();
    assert!(
        html.starts_with("HTTP/1.1 200") && html.contains("</html>"),
        "{html:.200}"
    );
    let events = stream_events(&addr, Duration::from_secs(20));
    assert_eq!(
        events.last().map(String::as_str),
        Some("ended"),
        "{events:?}"
    );
    let t0 = Instant::now();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "the host waited for the stuck client"
    );
    drop(stuck);
}

/// The live page's buttons set faults as `lab ctl` does: machine 1 paused and resumed
/// from the page, each a `fault` row, the page showing it paused meanwhile; a request
/// without the page's header is refused, so another site's page cannot do it.
#[test]
fn the_live_page_s_buttons_pause_and_resume_a_machine() {
    if browser::chromium().is_none() {
        eprintln!("skipped: no chromium (scripts/view-test.sh installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let (mut child, url) = start_viewed(
        "host-unix",
        &["--machines", "3", "--secs", "8", "--seed", "3", "--quiet"],
        &run,
    );
    let mut page = browser::Browser::open(&url).unwrap();
    let eval = |page: &mut browser::Browser, js: &str| page.eval(js).unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while eval(&mut page, "document.getElementById('ctl-m').options.length") != 3
        && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let said = |page: &mut browser::Browser| {
        eval(page, "document.getElementById('ctl-said').dataset.said")
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let click = |page: &mut browser::Browser, what: &str| {
        eval(
            page,
            &format!("document.querySelector('[data-ctl={what}]').click()"),
        );
        let until = Instant::now() + Duration::from_secs(5);
        while !said(page).starts_with(what) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
        said(page)
    };
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(click(&mut page, "pause"), "pause 1: sent to machine 1");
    let until = Instant::now() + Duration::from_secs(5);
    let states =
        |page: &mut browser::Browser| eval(page, "document.getElementById('drawn').dataset.states");
    while !states(&mut page).as_str().unwrap_or("").contains("paused") && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    let states = states(&mut page);
    assert!(states.as_str().unwrap().contains("paused"), "{states}");
    // No header: refused, whatever the command.
    let mut raw =
        TcpStream::connect(url.trim_start_matches("http://").trim_end_matches('/')).unwrap();
    raw.write_all(b"POST /control?cmd=kill%201 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    raw.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(click(&mut page, "resume"), "resume 1: sent to machine 1");
    assert!(child.wait().unwrap().success());
    assert_clean(&run);
    let log = std::fs::read_to_string(run.join("machine-1.log")).unwrap();
    let notes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(",fault,"))
        .map(|l| l.rsplit(',').next().unwrap())
        .collect();
    assert_eq!(notes, ["pause", "resume"]);
}
