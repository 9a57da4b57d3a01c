//! Stalled TLS handshakes against the connection caps (docs/security.md#tls): a TLS controller
//! with small caps and 2 s handshake timeouts gets more silent and half-sent handshakes (and
//! idle connections past their handshake) than its caps on the REST and gRPC ports. A real client is still served within a bound (REST
//! evicts an idle slot at once; gRPC evicts the least advanced connection without an agent, the
//! oldest of those), and every
//! stalled connection is closed by its timeout, if not evicted before.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use volley_e2e::{printed_url, temp_dir, volley_bin, Proc};

const ADMIN: &str = "volley_tls_caps_admin_token_0123456789";
const TIMEOUT: Duration = Duration::from_secs(2);
/// How late after its timeout a stalled connection may be closed (a loaded CI machine).
const SLACK: Duration = Duration::from_secs(2);
const REST_CAP: usize = 16;
const GRPC_CAP: usize = 8;

fn port(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

/// Opens a connection that starts a TLS handshake and stalls: nothing at all (`half`: false)
/// or the first 5 bytes of a ClientHello record that announces 512 more. A thread waits for
/// the controller to close it and returns how long after opening that was (None: still open
/// after `TIMEOUT + SLACK` more than the timeout).
fn stall(port: u16, half: bool) -> std::thread::JoinHandle<Option<Duration>> {
    let opened = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    if half {
        let _ = s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]);
    }
    s.set_read_timeout(Some(TIMEOUT + TIMEOUT + SLACK)).unwrap();
    closed_after(s, opened)
}

/// Opens a connection that completes its TLS handshake and then sends nothing (an idle
/// client); a thread returns how long after opening the controller closed it, as [`stall`].
fn idle_tls(port: u16, ca: &Path, alpn: &[u8]) -> std::thread::JoinHandle<Option<Duration>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in volley_api::tls::read_certs("--test", ca).expect("PEM certificates") {
        roots.add(c).expect("CA certificate");
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    if !alpn.is_empty() {
        cfg.alpn_protocols = vec![alpn.to_vec()];
    }
    let opened = Instant::now();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(TIMEOUT + TIMEOUT + SLACK))
        .unwrap();
    let mut conn =
        rustls::ClientConnection::new(std::sync::Arc::new(cfg), "127.0.0.1".try_into().unwrap())
            .unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("the TLS handshake");
    }
    closed_after(rustls::StreamOwned::new(conn, tcp), opened)
}

/// A thread that reads `conn` until the controller closes it and returns how long after
/// `opened` that was (None: the read timeout set on it came first).
fn closed_after<R: Read + Send + 'static>(
    mut conn: R,
    opened: Instant,
) -> std::thread::JoinHandle<Option<Duration>> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        loop {
            match conn.read(&mut buf) {
                Ok(0) => return Some(opened.elapsed()),
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(_) => return Some(opened.elapsed()),
            }
        }
    })
}

fn curl_health(pki: &Path, rest: &str) -> (String, Duration) {
    let at = Instant::now();
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg("--cacert")
        .arg(pki.join("ca.crt"))
        .arg(format!("{rest}/healthz"))
        .output()
        .expect("run curl");
    (
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        at.elapsed(),
    )
}

fn agents(pki: &Path, rest: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg("--cacert")
        .arg(pki.join("ca.crt"))
        .args(["-H", &format!("Authorization: Bearer {ADMIN}")])
        .arg(format!("{rest}/v1/agents"))
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check_closed(what: &str, waits: Vec<std::thread::JoinHandle<Option<Duration>>>) {
    let closed: Vec<Option<Duration>> = waits.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        closed
            .iter()
            .all(|c| c.is_some_and(|d| d <= TIMEOUT + SLACK)),
        "{what}: stalled handshakes still open past {TIMEOUT:?} + {SLACK:?}: {closed:?}"
    );
    // Those the cap did not close at once were closed by the timeout, not before it.
    let last = closed.iter().flatten().max().copied().unwrap();
    assert!(
        last >= TIMEOUT - Duration::from_millis(300),
        "{what}: closed before the timeout: {closed:?}"
    );
}

#[test]
fn stalled_tls_handshakes_past_the_caps_do_not_lock_out_real_clients() {
    let dir = temp_dir("tls-caps");
    let pki = dir.join("pki");
    let out = Command::new(volley_bin())
        .args(["certs", "init"])
        .arg(&pki)
        .args(["--host", "localhost", "--host", "127.0.0.1"])
        .output()
        .expect("run volley certs init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut cmd = Command::new(volley_bin());
    cmd.env("VOLLEY_ADMIN_TOKEN", ADMIN)
        .args([
            "controller",
            "--listen",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--tls-cert")
        .arg(pki.join("controller.crt"))
        .arg("--tls-key")
        .arg(pki.join("controller.key"))
        .args(["--max-connections", &REST_CAP.to_string()])
        .args(["--header-read-timeout", "2s"])
        .args(["--grpc-max-connections", &GRPC_CAP.to_string()])
        .args(["--grpc-handshake-timeout", "2s"]);
    let controller = Proc::spawn(&mut cmd);
    let rest = printed_url(&controller, "REST API on");
    let grpc = printed_url(&controller, "gRPC for agents on");
    assert!(
        rest.starts_with("https://") && grpc.starts_with("https://"),
        "{rest} {grpc}"
    );

    // REST: half again as many stalled handshakes as the cap; a real request still gets in.
    let mut waits: Vec<_> = (0..4)
        .map(|_| idle_tls(port(&rest), &pki.join("ca.crt"), b""))
        .collect();
    waits.extend((0..REST_CAP + REST_CAP / 2).map(|i| stall(port(&rest), i % 2 == 1)));
    let (answer, took) = curl_health(&pki, &rest);
    assert_eq!(answer, "200", "GET /healthz past the cap");
    assert!(took < Duration::from_secs(3), "GET /healthz took {took:?}");
    check_closed("REST", waits);

    // gRPC: the cap full of two idle connections past their handshake, then stalled
    // handshakes; one more takes the slot of the least advanced, the oldest silent one, which
    // is closed at once (no agent registered on it), and a real agent gets in the same way.
    let mut waits: Vec<_> = (0..2)
        .map(|_| idle_tls(port(&grpc), &pki.join("ca.crt"), b"h2"))
        .collect();
    waits.extend((2..GRPC_CAP).map(|i| stall(port(&grpc), i % 2 == 1)));
    std::thread::sleep(Duration::from_millis(200));
    let oldest_silent = waits.remove(2);
    waits.push(stall(port(&grpc), false));
    let evicted = oldest_silent.join().unwrap();
    assert!(
        evicted.is_some_and(|d| d < TIMEOUT - Duration::from_millis(500)),
        "the oldest silent connection was not closed at once to make room past the gRPC cap: \
         {evicted:?}"
    );
    let started = Instant::now();
    let mut agent = Proc::spawn(
        Command::new(volley_bin())
            .args(["agent", "--controller", &grpc, "--name", "legit"])
            .arg("--ca")
            .arg(pki.join("ca.crt"))
            .env("TMPDIR", &dir),
    );
    let bound = Duration::from_secs(15);
    loop {
        if agents(&pki, &rest).contains("\"legit\"") {
            break;
        }
        assert!(
            started.elapsed() < bound,
            "the agent did not register within {bound:?}\n{}\n{}",
            agent.stderr.text(),
            controller.stderr.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "agent registered {:?} after the gRPC cap was full",
        started.elapsed()
    );
    check_closed("gRPC", waits);
    let (answer, _) = curl_health(&pki, &rest);
    assert_eq!(answer, "200");
    agent.kill();
    drop(controller);
}
