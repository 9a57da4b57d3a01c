//! TLS on the controller's ports (docs/security.md#tls): `volley certs init`, a cluster over
//! https with mTLS agents running a test to the end, the refusals (an unknown CA, an agent
//! without a client certificate or under another name, plaintext to a TLS port and TLS to a
//! plaintext port, each with its message), a certificate reloaded without a restart, a gRPC
//! certificate of its own, and the real k6 streaming into an https controller
//! (`k6 run --out cloud`). Everything on loopback; about 30 s.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::ServerCertVerifier;
use volley_api::client::Client;
use volley_api::tls::ClientTls;
use volley_e2e::{printed_url, temp_dir, volley_bin, workspace_root, Proc};

const ADMIN: &str = "volley_tls_test_admin_token_0123456789";

/// `volley certs init DIR --host localhost --host 127.0.0.1 [extra]`; returns its output.
fn certs_init(dir: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(volley_bin())
        .args(["certs", "init"])
        .arg(dir)
        .args(["--host", "localhost", "--host", "127.0.0.1"])
        .args(extra)
        .output()
        .expect("run volley certs init")
}

fn ok_certs(dir: &Path) {
    let out = certs_init(dir, &[]);
    assert!(
        out.status.success(),
        "certs init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn der(path: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    volley_api::tls::read_certs("--test", path).expect("PEM certificates")
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca: &Path) -> Arc<rustls::RootCertStore> {
    let mut r = rustls::RootCertStore::empty();
    for c in der(ca) {
        r.add(c).expect("CA certificate");
    }
    Arc::new(r)
}

/// A TLS controller: REST and gRPC with the files of `pki`, mTLS agents, an admin token.
fn tls_controller(pki: &Path, data: &Path, extra: &[&str]) -> (Proc, String, String) {
    let mut cmd = Command::new(volley_bin());
    cmd.env("VOLLEY_ADMIN_TOKEN", ADMIN)
        .args(["controller", "--data-dir"])
        .arg(data)
        .arg("--tls-cert")
        .arg(pki.join("controller.crt"))
        .arg("--tls-key")
        .arg(pki.join("controller.key"))
        .arg("--client-ca")
        .arg(pki.join("ca.crt"))
        .args(extra);
    if !extra.contains(&"--listen") {
        cmd.args(["--listen", "127.0.0.1:0", "--grpc", "127.0.0.1:0"]);
    }
    let p = Proc::spawn(&mut cmd);
    let rest = printed_url(&p, "REST API on");
    let grpc = printed_url(&p, "gRPC for agents on");
    (p, rest, grpc)
}

/// `volley agent` with `args` (after `--controller URL`).
fn agent(url: &str, args: &[&str], tmp: &Path) -> Proc {
    let mut cmd = Command::new(volley_bin());
    cmd.args(["agent", "--controller", url])
        .args(args)
        .env_remove("VOLLEY_CA")
        .env("TMPDIR", tmp);
    Proc::spawn(&mut cmd)
}

/// A `volley` CLI command with `args`, its exit code and stderr.
fn cli(args: &[&str], envs: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new(volley_bin());
    cmd.args(args)
        .env_remove("VOLLEY_CA")
        .env("VOLLEY_TOKEN", ADMIN);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run volley");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits until `log` has a line with `needle`; panics with the log otherwise.
fn wait_line(p: &Proc, needle: &str, within: Duration) {
    p.stderr
        .wait_for(|l| l.contains(needle), within)
        .unwrap_or_else(|| {
            panic!(
                "no line with {needle:?} within {within:?}\n--- stderr\n{}",
                p.stderr.text()
            )
        });
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn certs_init_writes_a_ca_and_certificates_that_chain_to_it() {
    let dir = temp_dir("tls-certs");
    let pki = dir.join("pki");
    ok_certs(&pki);
    use std::os::unix::fs::PermissionsExt;
    for f in ["ca", "controller", "agent", "client"] {
        let key = pki.join(format!("{f}.key"));
        let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
        assert!(pki.join(format!("{f}.crt")).exists());
    }
    // The controller's certificate is a server certificate for both hosts, signed by the CA.
    let server = rustls::client::WebPkiServerVerifier::builder_with_provider(
        roots(&pki.join("ca.crt")),
        provider(),
    )
    .build()
    .expect("verifier");
    let controller = der(&pki.join("controller.crt"));
    let now = rustls::pki_types::UnixTime::now();
    for host in ["localhost", "127.0.0.1"] {
        let name = rustls::pki_types::ServerName::try_from(host).expect("name");
        server
            .verify_server_cert(&controller[0], &[], &name, &[], now)
            .unwrap_or_else(|e| panic!("controller.crt for {host}: {e}"));
    }
    let other = rustls::pki_types::ServerName::try_from("elsewhere.example").expect("name");
    assert!(server
        .verify_server_cert(&controller[0], &[], &other, &[], now)
        .is_err());
    // The agent's and the client's are client certificates signed by it.
    let client = rustls::server::WebPkiClientVerifier::builder_with_provider(
        roots(&pki.join("ca.crt")),
        provider(),
    )
    .build()
    .expect("verifier");
    for f in ["agent.crt", "client.crt"] {
        let c = der(&pki.join(f));
        client
            .verify_client_cert(&c[0], &[], now)
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    // Again without --force: refused, nothing replaced; with --force: new certificates.
    let before = std::fs::read(pki.join("ca.crt")).expect("ca");
    let out = certs_init(&pki, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("refusing to overwrite") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read(pki.join("ca.crt")).expect("ca"), before);
    assert!(certs_init(&pki, &["--force"]).status.success());
    assert_ne!(std::fs::read(pki.join("ca.crt")).expect("ca"), before);
    // A host with a scheme is refused with the fix.
    let out = Command::new(volley_bin())
        .args(["certs", "init"])
        .arg(dir.join("bad"))
        .args(["--host", "https://x"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("invalid --host"),
        "{err}"
    );
}

/// The peer certificate a TLS handshake with `addr` (host:port) sees, trusting `ca`.
fn served_certificate(addr: &str, ca: &Path) -> Vec<u8> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots(ca))
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut tcp = std::net::TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("handshake");
    }
    conn.peer_certificates().expect("certificate")[0].to_vec()
}

#[test]
fn an_mtls_cluster_runs_over_https_and_refuses_what_it_must() {
    let dir = temp_dir("tls-cluster");
    let (pki, tmp) = (dir.join("pki"), dir.join("tmp"));
    std::fs::create_dir_all(&tmp).expect("tmp");
    ok_certs(&pki);
    let (_controller, rest, grpc) = tls_controller(&pki, &dir.join("data"), &[]);
    assert!(rest.starts_with("https://127.0.0.1:"), "{rest}");
    assert!(grpc.starts_with("https://127.0.0.1:"), "{grpc}");
    let (ca, cert, key) = (
        pki.join("ca.crt"),
        pki.join("agent.crt"),
        pki.join("agent.key"),
    );
    // An agent with the CA and its certificate: its name is the certificate's (agent-1).
    let good = agent(
        &grpc,
        &["--ca", s(&ca), "--cert", s(&cert), "--key", s(&key)],
        &tmp,
    );
    wait_line(
        &good,
        "registered with the controller as agent-1",
        Duration::from_secs(15),
    );

    // A submit over https with the CA runs to the end.
    let script = dir.join("t.js");
    std::fs::write(
        &script,
        "export const options = { vus: 1, iterations: 3 };\nexport default function () {}\n",
    )
    .expect("script");
    let mut submit = Proc::spawn(
        Command::new(volley_bin())
            .args(["submit", "--wait", "--controller", &rest])
            .arg(&script)
            .env("VOLLEY_TOKEN", ADMIN)
            .env("VOLLEY_CA", &ca)
            .current_dir(workspace_root()),
    );
    let code = submit.exit_code(Duration::from_secs(60));
    assert_eq!(
        code,
        0,
        "submit over https\n--- stdout\n{}\n--- stderr\n{}\n--- agent\n{}",
        submit.stdout.text(),
        submit.stderr.text(),
        good.stderr.text()
    );
    let client = Client::new(&rest)
        .and_then(|c| c.with_tls(ClientTls::from_files(Some(&ca), None, None).expect("CA")))
        .expect("client")
        .with_token(Some(ADMIN.into()));
    let runs = client.runs().expect("runs over https");
    assert_eq!(runs.runs.len(), 1);
    let status = serde_json::to_value(&runs.runs[0]).expect("json");
    assert_eq!(status["run_status"], 3, "FINISHED: {status}");

    // A local run streamed over https (`volley run --out cloud=https://…`) with the CA.
    let mut streamed = Proc::spawn(
        Command::new(volley_bin())
            .args(["run", "--out"])
            .arg(format!("cloud={rest}"))
            .arg(&script)
            .env("VOLLEY_TOKEN", ADMIN)
            .env("VOLLEY_CA", &ca)
            .current_dir(workspace_root()),
    );
    let code = streamed.exit_code(Duration::from_secs(60));
    assert_eq!(
        code,
        0,
        "volley run --out cloud=https://\n--- stderr\n{}",
        streamed.stderr.text()
    );
    let runs = client.runs().expect("runs over https");
    assert_eq!(runs.runs.len(), 2, "the streamed run is there");

    // The CLI without the CA, or with another one, is refused and told to give --ca.
    let other = dir.join("other");
    ok_certs(&other);
    for envs in [vec![], vec![("VOLLEY_CA", s(&other.join("ca.crt")))]] {
        let (code, err) = cli(&["agents", "--controller", &rest], &envs);
        assert_ne!(code, 0);
        assert!(
            err.contains("not signed by a CA this client trusts") && err.contains("--ca"),
            "{err}"
        );
    }
    // http:// to the TLS REST port: told to use https://.
    let plain_rest = rest.replacen("https://", "http://", 1);
    let (code, err) = cli(
        &["agents", "--controller", &plain_rest],
        &[("VOLLEY_CA", s(&ca))],
    );
    assert_ne!(code, 0);
    assert!(err.contains("speaks TLS: use https://"), "{err}");

    // An agent without a client certificate: the controller requires one.
    let bare = agent(&grpc, &["--ca", s(&ca), "--name", "bare"], &tmp);
    wait_line(
        &bare,
        "requires a client certificate",
        Duration::from_secs(15),
    );
    // An agent with a certificate of another CA: refused.
    let stranger = agent(
        &grpc,
        &[
            "--ca",
            s(&ca),
            "--cert",
            s(&other.join("agent.crt")),
            "--key",
            s(&other.join("agent.key")),
            "--name",
            "stranger",
        ],
        &tmp,
    );
    wait_line(
        &stranger,
        "refused this client's certificate",
        Duration::from_secs(15),
    );
    // An agent registering under a name its certificate does not carry: refused, and it exits.
    let mut impostor = agent(
        &grpc,
        &[
            "--ca",
            s(&ca),
            "--cert",
            s(&cert),
            "--key",
            s(&key),
            "--name",
            "gen-9",
        ],
        &tmp,
    );
    assert_eq!(impostor.exit_code(Duration::from_secs(15)), 1);
    let err = impostor.stderr.text();
    assert!(
        err.contains("issued to `agent-1` but it registers as `gen-9`"),
        "{err}"
    );
    // http:// to the TLS gRPC port: told to use https://.
    let plain = agent(
        &grpc.replacen("https://", "http://", 1),
        &["--name", "plain"],
        &tmp,
    );
    wait_line(&plain, "speaks TLS: use https://", Duration::from_secs(15));
    // An agent that does not trust the controller's certificate — no --ca, or the CA of
    // another cluster — does not link: its TLS handshake fails, and it is told to give --ca.
    let mut distrustful = Vec::new();
    for (name, trust) in [("no-ca", None), ("wrong-ca", Some(other.join("ca.crt")))] {
        let mut args = vec!["--cert", s(&cert), "--key", s(&key), "--name", name];
        if let Some(ca) = &trust {
            args.extend(["--ca", s(ca)]);
        }
        let a = agent(&grpc, &args, &tmp);
        wait_line(
            &a,
            "is not signed by a CA this client trusts: give --ca",
            Duration::from_secs(15),
        );
        distrustful.push(a);
    }
    drop((bare, stranger, plain, distrustful));

    // Certificates replaced on disk: new connections get the new one within the poll, without
    // a restart. The new pair is of another CA, so the handshake trusts both.
    let rest_addr = rest.trim_start_matches("https://").to_string();
    let both = dir.join("both.crt");
    let pem = [
        std::fs::read(&ca).expect("ca"),
        std::fs::read(other.join("ca.crt")).expect("ca"),
    ]
    .concat();
    std::fs::write(&both, pem).expect("both");
    let old = der(&pki.join("controller.crt"))[0].to_vec();
    assert_eq!(served_certificate(&rest_addr, &both), old);
    let new = der(&other.join("controller.crt"))[0].to_vec();
    assert_ne!(new, old);
    std::fs::copy(other.join("controller.key"), pki.join("controller.key")).expect("key");
    std::fs::copy(other.join("controller.crt"), pki.join("controller.crt")).expect("cert");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if served_certificate(&rest_addr, &both) == new {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the REST API still serves the old certificate 10 s after the files changed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(good);
}

#[test]
fn tls_to_a_plaintext_port_fails_clearly_and_tls_allows_any_address() {
    let dir = temp_dir("tls-plain");
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let mut cmd = Command::new(volley_bin());
    cmd.env("VOLLEY_ADMIN_TOKEN", ADMIN)
        .args([
            "controller",
            "--listen",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.join("data"));
    let plain = Proc::spawn(&mut cmd);
    let rest = printed_url(&plain, "REST API on");
    let grpc = printed_url(&plain, "gRPC for agents on");
    assert!(rest.starts_with("http://"), "{rest}");
    let https = |u: &str| u.replacen("http://", "https://", 1);
    let (code, err) = cli(&["agents", "--controller", &https(&rest)], &[]);
    assert_ne!(code, 0);
    assert!(
        err.contains("does not speak TLS") && err.contains("use http://"),
        "{err}"
    );
    let a = agent(&https(&grpc), &["--name", "tls-to-plain"], &tmp);
    wait_line(&a, "does not speak TLS", Duration::from_secs(15));
    drop((a, plain));

    // With TLS and tokens the controller may listen beyond loopback; without TLS it may not.
    let pki = dir.join("pki");
    ok_certs(&pki);
    let (_c, rest, grpc) = tls_controller(
        &pki,
        &dir.join("data2"),
        &["--listen", "0.0.0.0:0", "--grpc", "0.0.0.0:0"],
    );
    assert!(rest.starts_with("https://0.0.0.0:"), "{rest}");
    assert!(grpc.starts_with("https://0.0.0.0:"), "{grpc}");
}

/// `--grpc-tls-cert`/`--grpc-tls-key` give the gRPC port its own certificate; the REST API
/// keeps `--tls-cert`'s.
#[test]
fn the_grpc_port_can_have_a_certificate_of_its_own() {
    let dir = temp_dir("tls-grpc-cert");
    let (pki, other) = (dir.join("pki"), dir.join("other"));
    ok_certs(&pki);
    ok_certs(&other);
    let (_c, rest, grpc) = tls_controller(
        &pki,
        &dir.join("data"),
        &[
            "--grpc-tls-cert",
            s(&other.join("controller.crt")),
            "--grpc-tls-key",
            s(&other.join("controller.key")),
        ],
    );
    let rest_addr = rest.trim_start_matches("https://");
    let grpc_addr = grpc.trim_start_matches("https://");
    assert_eq!(
        served_certificate(rest_addr, &pki.join("ca.crt")),
        der(&pki.join("controller.crt"))[0].to_vec()
    );
    assert_eq!(
        served_certificate(grpc_addr, &other.join("ca.crt")),
        der(&other.join("controller.crt"))[0].to_vec()
    );
}

/// The real k6 streams a local run into an https controller (`k6 run --out cloud` with
/// `K6_CLOUD_HOST=https://…`) once it trusts the controller's CA, which k6 (Go) reads from
/// `SSL_CERT_FILE`; without it k6 fails on the certificate and makes no run
/// (docs/security.md#k6-and-an-https-controller).
#[test]
fn k6_run_out_cloud_reaches_an_https_controller_through_ssl_cert_file() {
    if !volley_e2e::k6_client::k6_ready() {
        return;
    }
    let dir = temp_dir("tls-k6");
    let pki = dir.join("pki");
    ok_certs(&pki);
    let (_controller, rest, _grpc) = tls_controller(&pki, &dir.join("data"), &[]);
    let script = dir.join("k6.js");
    std::fs::write(
        &script,
        "export const options = { vus: 1, iterations: 3 };\nexport default function () {}\n",
    )
    .expect("script");
    let k6 = |ca: Option<&Path>| {
        let mut cmd = Command::new("k6");
        cmd.args(["run", "--out", "cloud", "--address", "127.0.0.1:0"])
            .arg(&script)
            .current_dir(&dir)
            .env("K6_CLOUD_HOST", &rest)
            .env("K6_CLOUD_TOKEN", ADMIN)
            .env("K6_NO_USAGE_REPORT", "true")
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR");
        if let Some(ca) = ca {
            cmd.env("SSL_CERT_FILE", ca);
        }
        let mut p = Proc::spawn(&mut cmd);
        let code = p.exit_code(Duration::from_secs(60));
        (code, format!("{}\n{}", p.stdout.text(), p.stderr.text()))
    };
    let client = Client::new(&rest)
        .and_then(|c| {
            c.with_tls(ClientTls::from_files(Some(&pki.join("ca.crt")), None, None).expect("CA"))
        })
        .expect("client")
        .with_token(Some(ADMIN.into()));
    let (code, out) = k6(None);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("certificate signed by unknown authority"),
        "{out}"
    );
    assert!(client.runs().expect("runs").runs.is_empty());
    let (code, out) = k6(Some(&pki.join("ca.crt")));
    assert_eq!(code, 0, "{out}");
    // The run is FINISHED once the controller has taken k6's last word (within 10 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let runs = client.runs().expect("runs over https");
        assert_eq!(runs.runs.len(), 1, "{out}");
        let status = serde_json::to_value(&runs.runs[0]).expect("json");
        if status["run_status"] == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the run is not FINISHED 10 s after k6 exited: {status}\n{out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
