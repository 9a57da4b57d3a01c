//! HTTPS: skipping verification, and a verification failure with a TLS code.

use super::*;

fn tls_server_config() -> Arc<rustls::ServerConfig> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![der], key)
    .unwrap();
    Arc::new(cfg)
}

#[tokio::test]
async fn https_with_insecure_skip_verify() {
    let srv = TestServer::start(Some(tls_server_config())).await;
    let c = client_with(HttpConfig {
        insecure_skip_tls_verify: true,
        ..HttpConfig::default()
    });
    let first = one(
        &c,
        HttpRequest::new(Method::GET, srv.https_url("localhost", "/echo")),
    )
    .await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.tls_version.as_deref(), Some("tls1.3"));
    assert!(first.timings.tls_handshaking > 0.0);
    assert!(first.timings.connecting > 0.0);
    assert_timings_sane(&first.timings);
    // The handshake bytes count towards the first request.
    assert!(first.bytes_received > 500, "{}", first.bytes_received);

    let mut req = HttpRequest::new(Method::POST, srv.https_url("localhost", "/echo"));
    req.body = Bytes::from_static(b"secret");
    let second = one(&c, req).await;
    assert_eq!(second.body, Bytes::from_static(b"secret"));
    assert_eq!(second.timings.tls_handshaking, 0.0);
    assert_eq!(second.timings.connecting, 0.0);
    assert_eq!(second.tls_version.as_deref(), Some("tls1.3"));
    assert!(second.bytes_received < first.bytes_received);
    assert_eq!(srv.connections(), 1);

    // An IP address works too when verification is off.
    let ex = one(
        &c,
        HttpRequest::new(Method::GET, srv.https_url("127.0.0.1", "/echo")),
    )
    .await;
    assert_eq!(ex.status, 200);
}

#[tokio::test]
async fn https_verification_fails_with_a_tls_code() {
    let srv = TestServer::start(Some(tls_server_config())).await;
    let c = client();
    let ex = one(
        &c,
        HttpRequest::new(Method::GET, srv.https_url("localhost", "/echo")),
    )
    .await;
    assert_eq!(ex.status, 0);
    assert_eq!(ex.error_code, codes::TLS_UNKNOWN_AUTHORITY, "{ex:?}");
    assert_eq!(ex.error.as_deref(), Some("x509: unknown authority"));
    assert!(ex.timings.tls_handshaking > 0.0);
    assert_timings_sane(&ex.timings);
    // https to a plain-http server is a TLS error too.
    let plain = TestServer::start(None).await;
    let ex = one(
        &c,
        HttpRequest::new(Method::GET, plain.https_url("localhost", "/echo")),
    )
    .await;
    assert_eq!(ex.status, 0);
    assert!((1300..1400).contains(&ex.error_code), "{ex:?}");
}
