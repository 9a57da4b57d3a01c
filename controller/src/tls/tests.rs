use std::path::Path;

use rcgen::{CertificateParams, DnType, KeyPair};

use super::*;

/// Writes a self-signed certificate named `cn` (and the DNS names `dns`) and its key.
fn self_signed(dir: &Path, stem: &str, cn: Option<&str>, dns: &[&str]) -> (PathBuf, PathBuf) {
    let mut params = CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>())
        .expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = cn {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    let (c, k) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&c, cert.pem()).expect("write cert");
    std::fs::write(&k, key.serialize_pem()).expect("write key");
    (c, k)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("volley-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

fn files(cert: PathBuf, key: PathBuf) -> TlsFiles {
    TlsFiles {
        cert,
        cert_flag: "--tls-cert",
        key,
        key_flag: "--tls-key",
        client_ca: None,
    }
}

#[test]
fn a_certificate_is_named_by_its_cn_else_its_first_dns_name() {
    let dir = tmp("names");
    let der = |p: &Path| load_certs("--x", p).expect("loads")[0].to_vec();
    let (c, _) = self_signed(&dir, "cn", Some("agent-7"), &["other.example"]);
    assert_eq!(cert_name(&der(&c)).as_deref(), Some("agent-7"));
    let (c, _) = self_signed(&dir, "san", None, &["agent-8", "x.example"]);
    assert_eq!(cert_name(&der(&c)).as_deref(), Some("agent-8"));
    assert_eq!(cert_name(b"not a certificate"), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_files_are_named_with_their_flag() {
    let dir = tmp("bad");
    let (c, k) = self_signed(&dir, "a", Some("a"), &["localhost"]);
    let (_, other_key) = self_signed(&dir, "b", Some("b"), &["localhost"]);
    let e = ServerTls::load(files(dir.join("missing.crt"), k.clone()), Port::Rest).unwrap_err();
    assert!(e.to_string().starts_with("cannot read --tls-cert"), "{e}");
    let e = ServerTls::load(files(k.clone(), k.clone()), Port::Rest).unwrap_err();
    assert!(
        e.to_string().contains("--tls-cert") && e.to_string().contains("PEM"),
        "{e}"
    );
    let e = ServerTls::load(files(c.clone(), c.clone()), Port::Rest).unwrap_err();
    assert!(
        e.to_string().contains("--tls-key") && e.to_string().contains("private key"),
        "{e}"
    );
    let e = ServerTls::load(files(c.clone(), other_key), Port::Rest).unwrap_err();
    assert!(e.to_string().contains("do not go together"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_changed_file_is_reloaded_and_a_bad_one_keeps_the_previous_config() {
    let dir = tmp("reload");
    let (c, k) = self_signed(&dir, "a", Some("a"), &["localhost"]);
    let tls = ServerTls::load(files(c.clone(), k.clone()), Port::Grpc).expect("loads");
    assert!(!tls.requires_client_cert());
    assert!(tls.reload_if_changed().is_none(), "nothing changed");
    let first = tls.config();
    assert_eq!(first.alpn_protocols, vec![b"h2".to_vec()]);
    // A certificate without its key: the old configuration stays.
    std::fs::write(&c, "garbage that is not PEM at all, longer than before").expect("write");
    assert!(matches!(tls.reload_if_changed(), Some(Err(_))));
    assert!(Arc::ptr_eq(&first, &tls.config()));
    // A new pair: a new configuration.
    self_signed(&dir, "a", Some("a2"), &["localhost"]);
    assert!(matches!(tls.reload_if_changed(), Some(Ok(()))));
    assert!(!Arc::ptr_eq(&first, &tls.config()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn plaintext_to_a_tls_port_is_told_to_use_https() {
    let dir = tmp("plain");
    let (c, k) = self_signed(&dir, "a", Some("a"), &["localhost"]);
    let tls = ServerTls::load(files(c, k), Port::Rest).expect("loads");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept");
        accept(&tls, s, Duration::from_secs(2)).await.map(|_| ())
    });
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    client.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains(PLAINTEXT_REFUSAL), "{answer}");
    assert!(matches!(
        server.await.expect("join"),
        Err(AcceptError::Plaintext)
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_handshake_that_stalls_is_closed_at_the_timeout() {
    let dir = tmp("stall");
    let (c, k) = self_signed(&dir, "a", Some("a"), &["localhost"]);
    let tls = ServerTls::load(files(c, k), Port::Grpc).expect("loads");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let mut results = Vec::new();
        for _ in 0..2 {
            let (s, _) = listener.accept().await.expect("accept");
            let started = tokio::time::Instant::now();
            let r = accept(&tls, s, Duration::from_millis(300))
                .await
                .map(|_| ());
            results.push((r, started.elapsed()));
        }
        results
    });
    // One client says nothing; the other starts a TLS record and stops.
    let _silent = TcpStream::connect(addr).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut partial = TcpStream::connect(addr).await.expect("connect");
    partial.write_all(&[0x16, 0x03, 0x01]).await.expect("write");
    let results = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("accept gave up within the timeout")
        .expect("join");
    for (r, took) in results {
        assert!(
            matches!(r, Err(AcceptError::Timeout(t)) if t == Duration::from_millis(300)),
            "{r:?}"
        );
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
