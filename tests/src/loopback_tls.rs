//! Certificates for 127.0.0.1 and the rustls server configurations serving them, for the tests'
//! own HTTPS and WSS servers (remote modules, `wss://`): self-signed, or signed by a test CA.

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

/// A server configuration whose certificate for `127.0.0.1` is signed by a fresh test CA, and
/// that CA's certificate in PEM. Go's verifier (k6) and webpki (Volley) both accept this chain
/// when the CA is trusted (webpki refuses a CA certificate used as the server's own).
pub fn loopback_tls_with_ca() -> (rustls::ServerConfig, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Volley test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("server parameters")
        .signed_by(&key, &ca)
        .expect("server certificate");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone(), ca.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .expect("server certificate");
    (config, ca.pem())
}
