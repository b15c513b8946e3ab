//! Headless Chromium driven over the DevTools protocol, for the live page's tests: open a
//! page, evaluate an expression in it, read the answer. Chromium is Debian's
//! (`scripts/view-test.sh` installs it); tests that need it are skipped without it.

use serde_json::{Value, json};
use std::{
    io::{Read, Write},
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

/// The browser: `LAMPORT_CHROMIUM`, or Debian's `chromium`; `None` if neither exists.
pub fn chromium() -> Option<PathBuf> {
    std::env::var_os("LAMPORT_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .find(|p| p.exists())
}

/// A headless browser showing one page.
pub struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Opens `url` in a new headless browser.
    pub fn open(url: &str) -> Result<Self, String> {
        let exe = chromium().ok_or("no chromium (scripts/view-test.sh installs it)")?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--window-size=1280,1000",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start chromium: {e}"))?;
        // Chromium writes the port it picked into the profile.
        let port_file = profile.path().join("DevToolsActivePort");
        let until = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.lines().next()?.trim().parse::<u16>().ok())
            {
                break p;
            }
            if Instant::now() > until {
                return Err("chromium did not open its DevTools port".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let ws_url = loop {
            let list = http_get(port, "/json/list").unwrap_or_default();
            let pages: Value = serde_json::from_str(&list).unwrap_or(Value::Null);
            if let Some(u) = pages
                .as_array()
                .and_then(|a| a.iter().find(|p| p["type"] == "page"))
                .and_then(|p| p["webSocketDebuggerUrl"].as_str())
            {
                break u.to_string();
            }
            if Instant::now() > until {
                return Err("chromium shows no page".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (ws, _) = tungstenite::connect(ws_url.as_str()).map_err(|e| e.to_string())?;
        Ok(Self {
            child,
            ws,
            next: 1,
            _profile: profile,
        })
    }

    /// The value of JavaScript `expr` in the page (a string, number, boolean or null).
    pub fn eval(&mut self, expr: &str) -> Result<Value, String> {
        let params = json!({ "expression": expr, "returnByValue": true });
        Ok(self.call("Runtime.evaluate", params)?["result"]["value"].clone())
    }

    /// Writes a PNG of the page as it is now to `path`.
    pub fn screenshot(&mut self, path: &std::path::Path) -> Result<(), String> {
        use base64::Engine;
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or(""))
            .map_err(|e| e.to_string())?;
        std::fs::write(path, png).map_err(|e| e.to_string())
    }

    /// The result of DevTools method `method` with `params`.
    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next;
        self.next += 1;
        let call = json!({ "id": id, "method": method, "params": params });
        self.ws
            .send(Message::text(call.to_string()))
            .map_err(|e| e.to_string())?;
        loop {
            let msg = self.ws.read().map_err(|e| e.to_string())?;
            let Ok(v) = serde_json::from_str::<Value>(msg.to_text().unwrap_or("")) else {
                continue;
            };
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    return Err(e.to_string());
                }
                return Ok(v["result"].clone());
            }
        }
    }

    /// `document.body.dataset[key]` as a string ("" while unset).
    pub fn dataset(&mut self, key: &str) -> String {
        self.eval(&format!("document.body.dataset.{key} || ''"))
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Waits up to `within` until `document.body.dataset[key]` reads `want`; returns what it
    /// read last. A page loads in its own time (seconds on a busy machine), so a test asks
    /// for the state it needs instead of sleeping a guess.
    pub fn wait_dataset(&mut self, key: &str, want: &str, within: Duration) -> String {
        let until = Instant::now() + within;
        loop {
            let got = self.dataset(key);
            if got == want || Instant::now() > until {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of `GET path` from 127.0.0.1:`port` (Chromium keeps the connection open: the
/// body is as long as its `Content-Length`).
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")?
                    .trim()
                    .parse::<usize>()
                    .ok()
            });
            if len.is_some_and(|len| body.len() >= len) {
                return Ok(body.to_string());
            }
        }
    }
    Ok(String::new())
}
