//! An HTTPS server for remote modules on 127.0.0.1, standing in for jslib.k6.io and other
//! module hosts: a test CA signs its certificate, and clients trust that CA through
//! `SSL_CERT_FILE` (k6, in Go, reads it on Linux; so does Volley's module fetcher, see
//! docs/k6-compatibility.md). It serves fixed files by path, counts the requests for each path
//! and answers 404 to the rest. [`ModuleServer::jslib`] serves the vendored libraries of
//! `tests/fixtures/jslib/` (their sources and licenses are in its LICENSES file).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The host that public scripts import libraries from; [`ModuleServer::localize`] points its
/// URLs at the local server.
pub const JSLIB: &str = "https://jslib.k6.io/";

/// The largest request head the server reads.
const MAX_REQUEST: usize = 16 * 1024;

/// A running module server (stopped when dropped).
pub struct ModuleServer {
    pub port: u16,
    /// The test CA's certificate (PEM), for `SSL_CERT_FILE`.
    pub ca_file: PathBuf,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl ModuleServer {
    /// Serves `files` (path → body), writing the CA certificate into `dir`.
    pub fn start(dir: &Path, files: BTreeMap<String, Vec<u8>>) -> ModuleServer {
        let (config, ca_pem) = crate::loopback_tls::loopback_tls_with_ca();
        ModuleServer::start_with(config, &ca_pem, dir, files)
    }

    /// Serves `files` with a TLS configuration of the caller's (e.g. one that wants client
    /// certificates, [`crate::loopback_tls::TestCa::server_config`]), writing `ca_pem` into `dir`.
    pub fn start_with(
        config: rustls::ServerConfig,
        ca_pem: &str,
        dir: &Path,
        files: BTreeMap<String, Vec<u8>>,
    ) -> ModuleServer {
        let ca_file = dir.join("module-server-ca.pem");
        std::fs::write(&ca_file, ca_pem).expect("write CA");
        let (config, files) = (Arc::new(config), Arc::new(files));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let hits: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let (config, files, h) = (config.clone(), files.clone(), h.clone());
                        std::thread::spawn(move || serve(tcp, config, &files, &h));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        ModuleServer {
            port,
            ca_file,
            hits,
            stop,
        }
    }

    /// Serves every file under `tests/fixtures/jslib/` at its path there
    /// (`/papaparse/5.1.1/index.js`), as jslib.k6.io lays its libraries out.
    pub fn jslib(dir: &Path) -> ModuleServer {
        let root = crate::workspace_root().join("tests/fixtures/jslib");
        let mut files = BTreeMap::new();
        collect(&root, &root, &mut files);
        assert!(!files.is_empty(), "no modules in {}", root.display());
        ModuleServer::start(dir, files)
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// How many requests each path received.
    pub fn hits(&self) -> BTreeMap<String, usize> {
        self.hits.lock().expect("hits").clone()
    }

    /// `script` with its jslib.k6.io URLs pointing at this server.
    pub fn localize(&self, script: &str) -> String {
        script.replace(JSLIB, &self.url("/"))
    }
}

impl Drop for ModuleServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Every file below `dir`, keyed by its path from `root` with a leading `/`.
fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("read fixtures") {
        let path = entry.expect("fixture entry").path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("below the root");
            let key = format!("/{}", rel.to_string_lossy());
            out.insert(key, std::fs::read(&path).expect("read fixture"));
        }
    }
}

/// Answers one request on a TLS connection, then closes it.
fn serve(
    tcp: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    files: &BTreeMap<String, Vec<u8>>,
    hits: &Mutex<BTreeMap<String, usize>>,
) {
    let _ = tcp.set_nonblocking(false);
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = tcp.set_write_timeout(Some(Duration::from_secs(5)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        if req.len() > MAX_REQUEST {
            return;
        }
        match tls.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&req);
    let target = text.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split(['?', '#']).next().unwrap_or("/").to_string();
    *hits.lock().expect("hits").entry(path.clone()).or_default() += 1;
    let (status, body) = match files.get(&path) {
        Some(body) => ("200 OK", body.as_slice()),
        None => ("404 Not Found", &b"not found"[..]),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/javascript\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = tls.write_all(head.as_bytes());
    let _ = tls.write_all(body);
    let _ = tls.flush();
    tls.conn.send_close_notify();
    let _ = tls.flush();
}
