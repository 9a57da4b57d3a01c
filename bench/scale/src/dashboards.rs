//! Open dashboards during the run (`--dashboards`, bench/README.md): each is the live stream a
//! browser showing the run's page reads, `GET /v1/live/runs/{id}` (Server-Sent Events), over a
//! plain HTTP/1.1 connection of its own; the harness only counts the bytes each receives, so
//! the controller's extra CPU with them open is the dashboards' cost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// Streams the controller holds at once (`MAX_LIVE_STREAMS` in the dashboard's code).
pub const MAX_DASHBOARDS: usize = 64;
/// Longest a stream may take to connect and answer with its headers.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a stream may go without a byte (the controller sends a keep-alive every 15 s).
const READ_TIMEOUT: Duration = Duration::from_secs(40);

/// The open streams and what they received.
pub struct Dashboards {
    bytes: Arc<Vec<AtomicU64>>,
    problems: Arc<Mutex<Vec<String>>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Dashboards {
    /// Opens `n` streams of run `run_id` on the controller at `rest` (`http://HOST:PORT`).
    pub fn open(rt: &Runtime, rest: &str, run_id: u64, n: usize) -> Result<Dashboards> {
        let addr = rest
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("{rest}: the harness opens dashboards over plain http only"))?
            .trim_end_matches('/')
            .to_string();
        let bytes: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
        let problems = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        for i in 0..n {
            let (addr, bytes, problems) = (addr.clone(), bytes.clone(), problems.clone());
            let mut stopped = stopped.clone();
            rt.spawn(async move {
                let read = stream(&addr, run_id, &bytes[i]);
                tokio::select! {
                    r = read => if let Err(e) = r {
                        problems.lock().unwrap_or_else(|e| e.into_inner()).push(format!("dashboard {i}: {e:#}"));
                    },
                    _ = stopped.changed() => {}
                }
            });
        }
        Ok(Dashboards {
            bytes,
            problems,
            stop,
        })
    }

    /// Bytes received so far, over all the streams.
    pub fn bytes(&self) -> u64 {
        self.bytes.iter().map(|b| b.load(Ordering::SeqCst)).sum()
    }

    /// What went wrong with any stream.
    pub fn problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Dashboards {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// One dashboard: the request, then every byte counted until the controller closes the stream
/// (the run ended) or the harness stops it.
async fn stream(addr: &str, run_id: u64, bytes: &AtomicU64) -> Result<()> {
    let mut conn = tokio::time::timeout(OPEN_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| anyhow!("connecting to {addr} took more than {OPEN_TIMEOUT:?}"))??;
    let request = format!(
        "GET /v1/live/runs/{run_id} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut first = true;
    loop {
        let n = tokio::time::timeout(READ_TIMEOUT, conn.read(&mut buf))
            .await
            .map_err(|_| anyhow!("no byte for {READ_TIMEOUT:?} on the run's live stream"))??;
        if n == 0 {
            return Ok(());
        }
        if first {
            first = false;
            let head = String::from_utf8_lossy(&buf[..n.min(64)]).to_string();
            if !head.starts_with("HTTP/1.1 200") {
                return Err(anyhow!(
                    "the live stream answered {:?}",
                    head.lines().next().unwrap_or("")
                ));
            }
        }
        bytes.fetch_add(n as u64, Ordering::SeqCst);
    }
}
