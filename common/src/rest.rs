//! A small blocking HTTP/1.1 client for the controller's REST API (plain http on the cluster's
//! network; one request per connection), used by the CLI and by `volley run --out cloud`.
//! Bounded: responses larger than 64 MiB are refused; connecting and reading time out.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// Why a request failed: the controller could not be reached (CLI exit 98 while following a
/// run), or it answered with an error.
#[derive(Debug)]
pub enum RestError {
    Unreachable(String),
    Status(u16, String),
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestError::Unreachable(m) => write!(f, "cannot reach the controller: {m}"),
            RestError::Status(code, body) => {
                let msg = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| {
                        v.pointer("/error/message")
                            .and_then(|m| m.as_str())
                            .map(String::from)
                    })
                    .unwrap_or_else(|| body.chars().take(500).collect());
                write!(f, "the controller answered {code}: {msg}")
            }
        }
    }
}

/// The controller base URL, e.g. `http://127.0.0.1:6565`.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    port: u16,
    timeout: Duration,
}

impl Client {
    pub fn new(base: &str) -> Result<Client, String> {
        let rest = base
            .strip_prefix("http://")
            .ok_or_else(|| format!("controller URL {base:?} must start with http://"))?;
        let hostport = rest.trim_end_matches('/');
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse::<u16>()
                    .map_err(|_| format!("invalid port in controller URL {base:?}"))?,
            ),
            None => (hostport.to_string(), 80),
        };
        Ok(Client {
            host,
            port,
            timeout: Duration::from_secs(30),
        })
    }

    /// The same client with another connect/read/write timeout (30 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// `http://host:port`.
    pub fn base_url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// POSTs raw bytes of `content_type`; the answer must be JSON.
    pub fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<serde_json::Value, RestError> {
        let (status, bytes) = self.request_typed("POST", path, content_type, Some(body))?;
        parse_answer(status, bytes)
    }

    pub fn get(&self, path: &str) -> Result<serde_json::Value, RestError> {
        self.json("GET", path, None)
    }

    pub fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, RestError> {
        self.json("POST", path, Some(body.to_string().into_bytes()))
    }

    fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<serde_json::Value, RestError> {
        let (status, bytes) = self.request_typed(method, path, "application/json", body)?;
        parse_answer(status, bytes)
    }

    fn request_typed(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), RestError> {
        let addr = format!("{}:{}", self.host, self.port);
        let resolved = addr
            .to_socket_addrs()
            .map_err(|e| RestError::Unreachable(format!("{addr}: {e}")))?
            .next()
            .ok_or_else(|| RestError::Unreachable(format!("{addr}: no address")))?;
        let mut stream = TcpStream::connect_timeout(&resolved, self.timeout)
            .map_err(|e| RestError::Unreachable(format!("{addr}: {e}")))?;
        let _ = stream.set_read_timeout(Some(self.timeout));
        let _ = stream.set_write_timeout(Some(self.timeout));
        let body = body.unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|_| stream.write_all(&body))
            .map_err(|e| RestError::Unreachable(e.to_string()))?;
        let mut r = BufReader::new(stream);
        let mut line = String::new();
        r.read_line(&mut line)
            .map_err(|e| RestError::Unreachable(e.to_string()))?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| RestError::Unreachable(format!("bad status line {line:?}")))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        loop {
            line.clear();
            r.read_line(&mut line)
                .map_err(|e| RestError::Unreachable(e.to_string()))?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    length = v.trim().parse().ok();
                } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                r.read_line(&mut line)
                    .map_err(|e| RestError::Unreachable(e.to_string()))?;
                let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                    .map_err(|_| RestError::Unreachable("bad chunk".into()))?;
                if n == 0 {
                    break;
                }
                if out.len() + n > MAX_RESPONSE {
                    return Err(RestError::Unreachable("response too large".into()));
                }
                let mut buf = vec![0; n + 2];
                r.read_exact(&mut buf)
                    .map_err(|e| RestError::Unreachable(e.to_string()))?;
                out.extend_from_slice(&buf[..n]);
            }
        } else if let Some(n) = length {
            if n > MAX_RESPONSE {
                return Err(RestError::Unreachable("response too large".into()));
            }
            out.resize(n, 0);
            r.read_exact(&mut out)
                .map_err(|e| RestError::Unreachable(e.to_string()))?;
        } else {
            r.take(MAX_RESPONSE as u64)
                .read_to_end(&mut out)
                .map_err(|e| RestError::Unreachable(e.to_string()))?;
        }
        Ok((status, out))
    }
}

/// A 2xx answer's JSON body, or the error.
fn parse_answer(status: u16, bytes: Vec<u8>) -> Result<serde_json::Value, RestError> {
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if !(200..300).contains(&status) {
        return Err(RestError::Status(status, text));
    }
    serde_json::from_str(&text)
        .map_err(|e| RestError::Unreachable(format!("invalid JSON from the controller: {e}")))
}
