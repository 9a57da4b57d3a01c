//! Helpers for Volley's end-to-end tests: find (or build) the `volley` binary, start a
//! `volley target` on a free loopback port, run scripts and read their outputs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Path of the `volley` binary, built once (same profile as the tests) if needed.
pub fn volley_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<test-exe> → target/<profile>/volley
        let exe = std::env::current_exe().expect("current exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_path_buf();
        let release = profile_dir.ends_with("release");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "-q", "-p", "volley", "--bin", "volley"])
            .current_dir(workspace_root());
        if release {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("cargo build");
        assert!(st.success(), "building the volley binary failed");
        let bin = profile_dir.join("volley");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
    .clone()
}

/// A running `volley target` on 127.0.0.1 (random port), killed on drop.
pub struct Target {
    child: Child,
    pub url: String,
}

impl Target {
    pub fn start() -> Target {
        let mut child = Command::new(volley_bin())
            .args(["target", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start volley target");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read target banner");
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .expect("url in banner")
            .to_string();
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "unexpected banner {line:?}"
        );
        Target { child, url }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `volley run` with args; returns the process output.
pub fn volley_run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(volley_bin());
    cmd.arg("run").args(args).current_dir(workspace_root());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run volley")
}

/// A fresh temporary directory for a test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "volley-e2e-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Starts `volley run <args>` from the workspace root with stdout and stderr piped and stdin
/// closed, so a test can signal the process and read its output while it runs.
pub fn spawn_volley_run(args: &[&str]) -> Child {
    Command::new(volley_bin())
        .arg("run")
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start volley run")
}

/// Sends the signal `sig` ("INT", "TERM", ...) to `pid` with `kill -s`. Returns false when it
/// could not be delivered (usually: the process has already exited).
pub fn send_signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// One HTTP/1.1 request to `127.0.0.1:port` over a plain TCP stream (no client crate needed):
/// returns the status code and the body. Chunked bodies are decoded.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: std::time::Duration,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_http_response(&raw)
}

/// Splits a raw HTTP/1.1 response into its status code and (de-chunked) body.
fn parse_http_response(raw: &[u8]) -> std::io::Result<(u16, String)> {
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("HTTP response without a header end"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("HTTP response without a status code"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Ok((status, body.to_string()));
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| bad("bad chunk size"))?;
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    Ok((status, out))
}

/// `PATCH path` with a JSON body on the REST API at `127.0.0.1:port` (1 s timeout).
pub fn http_patch(port: u16, path: &str, json: &str) -> std::io::Result<(u16, String)> {
    http_request(
        port,
        "PATCH",
        path,
        Some(json),
        std::time::Duration::from_secs(1),
    )
}

/// The k6 execution status number from `GET /v1/status` (`data.attributes.status`).
pub fn api_status(port: u16) -> Result<i64, String> {
    let (code, body) = http_request(
        port,
        "GET",
        "/v1/status",
        None,
        std::time::Duration::from_secs(1),
    )
    .map_err(|e| format!("GET /v1/status: {e}"))?;
    if code != 200 {
        return Err(format!("GET /v1/status answered {code}: {body}"));
    }
    let v: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| format!("GET /v1/status is not JSON ({e}): {body}"))?;
    v["data"]["attributes"]["status"]
        .as_i64()
        .ok_or_else(|| format!("GET /v1/status has no data.attributes.status: {body}"))
}

/// The lines of a child's pipe, each stamped with the time it arrived, collected by a thread so
/// a test can wait for a line while the process runs (and measure when it came).
#[derive(Clone)]
pub struct LineLog {
    inner: std::sync::Arc<(std::sync::Mutex<LineLogState>, std::sync::Condvar)>,
}

#[derive(Default)]
struct LineLogState {
    lines: Vec<(std::time::Instant, String)>,
    closed: bool,
    closed_at: Option<std::time::Instant>,
}

impl LineLog {
    /// Starts reading `pipe` line by line until it closes.
    pub fn capture<R: std::io::Read + Send + 'static>(pipe: R) -> LineLog {
        let log = LineLog {
            inner: std::sync::Arc::new((
                std::sync::Mutex::new(LineLogState::default()),
                std::sync::Condvar::new(),
            )),
        };
        let inner = log.inner.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = reader.read_until(b'\n', &mut buf).unwrap_or(0);
                let (lock, cvar) = &*inner;
                let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
                if n == 0 {
                    st.closed = true;
                    st.closed_at = Some(std::time::Instant::now());
                    cvar.notify_all();
                    return;
                }
                let line = String::from_utf8_lossy(&buf)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                st.lines.push((std::time::Instant::now(), line));
                cvar.notify_all();
            }
        });
        log
    }

    /// Waits up to `timeout` for a line matching `pred` (lines already read count too); returns
    /// when that line arrived. `None` on timeout or when the pipe closed without a match.
    pub fn wait_for(
        &self,
        pred: impl Fn(&str) -> bool,
        timeout: std::time::Duration,
    ) -> Option<std::time::Instant> {
        let deadline = std::time::Instant::now() + timeout;
        let (lock, cvar) = &*self.inner;
        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = 0;
        loop {
            if let Some((t, _)) = st.lines[seen..].iter().find(|(_, l)| pred(l)) {
                return Some(*t);
            }
            seen = st.lines.len();
            let now = std::time::Instant::now();
            if st.closed || now >= deadline {
                return None;
            }
            st = cvar
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits up to `timeout` for the pipe to close; true when it did.
    pub fn wait_closed(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let (lock, cvar) = &*self.inner;
        let mut st = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !st.closed {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            st = cvar
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// When the pipe closed (for a child's stdout or stderr: about when it exited).
    pub fn closed_at(&self) -> Option<std::time::Instant> {
        let (lock, _) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).closed_at
    }

    /// Every line read so far, with its arrival time.
    pub fn lines(&self) -> Vec<(std::time::Instant, String)> {
        let (lock, _) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).lines.clone()
    }

    /// Everything read so far, one line per line.
    pub fn text(&self) -> String {
        self.lines().into_iter().map(|(_, l)| l + "\n").collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_http_responses() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        assert_eq!(parse_http_response(plain).unwrap(), (200, "ok".into()));
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_http_response(chunked).unwrap(), (404, "abcde".into()));
        assert!(parse_http_response(b"garbage").is_err());
        assert!(parse_http_response(b"HTTP/1.1 xx\r\n\r\n").is_err());
    }

    #[test]
    fn line_log_waits_for_lines_and_the_end() {
        let log = LineLog::capture(std::io::Cursor::new(b"a\nMARK:x\r\nlast".to_vec()));
        assert!(log
            .wait_for(|l| l == "MARK:x", std::time::Duration::from_secs(5))
            .is_some());
        assert!(log.wait_closed(std::time::Duration::from_secs(5)));
        assert!(log.closed_at().is_some());
        assert!(log
            .wait_for(|l| l == "nope", std::time::Duration::from_secs(5))
            .is_none());
        assert_eq!(log.text(), "a\nMARK:x\nlast\n");
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    }
}
