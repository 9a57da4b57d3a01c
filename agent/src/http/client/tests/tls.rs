//! HTTPS: skipping verification, and a verification failure with a TLS code.

use super::*;

/// A server of a fresh self-signed certificate for `localhost`, with `provider`'s suites and
/// the protocol `versions`.
fn server_config(
    provider: rustls::crypto::CryptoProvider,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ServerConfig> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let der = cert.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .unwrap();
    Arc::new(cfg)
}

/// A server with rustls' default suites and protocol versions.
fn tls_server_config() -> Arc<rustls::ServerConfig> {
    server_config(
        rustls::crypto::ring::default_provider(),
        rustls::DEFAULT_VERSIONS,
    )
}

/// `GET https://HOST:PORT/echo` of `srv` through `c`, one hop.
async fn get_echo(c: &VuHttpClient, srv: &TestServer, host: &str) -> HttpExchange {
    one(
        c,
        HttpRequest::new(Method::GET, srv.https_url(host, "/echo")),
    )
    .await
}

#[tokio::test]
async fn https_with_insecure_skip_verify() {
    let srv = TestServer::start(Some(tls_server_config())).await;
    let c = client_with(HttpConfig {
        insecure_skip_tls_verify: true,
        ..HttpConfig::default()
    });
    let first = get_echo(&c, &srv, "localhost").await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.tls_version.as_deref(), Some("tls1.3"));
    assert_eq!(
        first.tls_cipher_suite.as_deref(),
        Some("TLS_AES_128_GCM_SHA256")
    );
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
    let ex = get_echo(&c, &srv, "127.0.0.1").await;
    assert_eq!(ex.status, 200);
}

#[tokio::test]
async fn https_verification_fails_with_a_tls_code() {
    let srv = TestServer::start(Some(tls_server_config())).await;
    let c = client();
    let ex = get_echo(&c, &srv, "localhost").await;
    assert_eq!(ex.status, 0);
    assert_eq!(ex.error_code, codes::TLS_UNKNOWN_AUTHORITY, "{ex:?}");
    assert_eq!(ex.error.as_deref(), Some("x509: unknown authority"));
    assert!(ex.timings.tls_handshaking > 0.0);
    assert_timings_sane(&ex.timings);
    // https to a plain-http server is a TLS error too.
    let plain = TestServer::start(None).await;
    let ex = get_echo(&c, &plain, "localhost").await;
    assert_eq!(ex.status, 0);
    assert!((1300..1400).contains(&ex.error_code), "{ex:?}");
}

/// A server that speaks TLS 1.2 only, with one suite.
fn tls12_server_config(suite: rustls::SupportedCipherSuite) -> Arc<rustls::ServerConfig> {
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: vec![suite],
        ..rustls::crypto::ring::default_provider()
    };
    server_config(provider, &[&rustls::version::TLS12])
}

#[tokio::test]
async fn tls_cipher_suites_restrict_tls12_as_k6_does() {
    use crate::http::cipher_suites::CipherSuites;
    use crate::http::tls::TlsVersions;
    use rustls::crypto::ring::cipher_suite as ring;
    let srv = TestServer::start(Some(tls12_server_config(
        ring::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    )))
    .await;
    let config = |names: &[&str]| HttpConfig {
        insecure_skip_tls_verify: true,
        tls_cipher_suites: CipherSuites::from_option(
            &names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        )
        .unwrap(),
        ..HttpConfig::default()
    };
    let url = srv.https_url("localhost", "/echo");
    let get = |c: VuHttpClient| {
        let url = url.clone();
        async move { one(&c, HttpRequest::new(Method::GET, url)).await }
    };

    // The server's suite among the chosen ones (one of them one Volley cannot offer).
    let ex = get(client_with(config(&[
        "TLS_RSA_WITH_AES_128_CBC_SHA",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ])))
    .await;
    assert_eq!(ex.status, 200, "{ex:?}");
    assert_eq!(ex.tls_version.as_deref(), Some("tls1.2"));
    assert_eq!(
        ex.tls_cipher_suite.as_deref(),
        Some("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
    );

    // Another suite, or only suites Volley cannot offer, or only TLS 1.3 ones: the server's
    // alert in Go's words, k6's code.
    for names in [
        &["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"][..],
        &["TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"],
        &["TLS_AES_128_GCM_SHA256"],
    ] {
        let ex = get(client_with(config(names))).await;
        assert_eq!(ex.status, 0, "{names:?}: {ex:?}");
        assert_eq!(ex.error_code, codes::NON_TCP_NETWORK, "{names:?}: {ex:?}");
        assert_eq!(
            ex.error.as_deref(),
            Some("remote error: tls: handshake failure"),
            "{names:?}"
        );
        assert_eq!(ex.tls_cipher_suite, None);
        assert_eq!(ex.tls_version, None);
    }

    // TLS 1.2 alone and nothing to offer for it: refused before any handshake.
    let ex = get(client_with(HttpConfig {
        tls_versions: TlsVersions { min: 2, max: 2 },
        ..config(&["TLS_RSA_WITH_AES_128_GCM_SHA256"])
    }))
    .await;
    assert_eq!(ex.status, 0, "{ex:?}");
    assert_eq!(ex.error_code, codes::NON_TCP_NETWORK, "{ex:?}");
    assert!(ex
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("tls: handshake failure: tlsVersion allows only TLS 1.2")));

    // TLS 1.3 is not restricted, and its suite is named as k6 names it (Go's preference: AES-128
    // first).
    let srv13 = TestServer::start(Some(tls_server_config())).await;
    let c = client_with(config(&["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]));
    let ex = get_echo(&c, &srv13, "localhost").await;
    assert_eq!(ex.status, 200, "{ex:?}");
    assert_eq!(ex.tls_version.as_deref(), Some("tls1.3"));
    assert_eq!(
        ex.tls_cipher_suite.as_deref(),
        Some("TLS_AES_128_GCM_SHA256")
    );
}
