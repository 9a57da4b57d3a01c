//! A self-signed certificate for 127.0.0.1 and the rustls server configuration serving it, for
//! the tests' own HTTPS and WSS servers (remote modules, `wss://`).

use std::sync::Arc;

/// A server configuration with a fresh self-signed certificate for `127.0.0.1`, and that
/// certificate in PEM (for clients that trust it as their CA).
pub fn loopback_tls() -> (rustls::ServerConfig, String) {
    let key =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![key.cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
    )
    .expect("server certificate");
    (config, key.cert.pem())
}
