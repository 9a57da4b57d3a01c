//! Test certificates: self-signed ones for 127.0.0.1 and the rustls server configuration
//! serving them, for the tests' own HTTPS and WSS servers (remote modules, `wss://`); and a
//! test CA with server and client certificates ([`TestCa`]) for servers whose clients trust
//! the CA (gRPC over TLS, HTTPS with `SSL_CERT_FILE`).

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
    let ca = TestCa::new();
    (ca.server_config(false, &[]), ca.ca_pem.clone())
}

/// A certificate authority made for one test, with a server certificate it signed for
/// `127.0.0.1` and a client certificate it signed (for mutual TLS). Clients trust it through
/// its PEM (k6's `tls.cacerts`).
pub struct TestCa {
    /// The CA's certificate, PEM.
    pub ca_pem: String,
    /// The client certificate and its key (PKCS #8), PEM.
    pub client_cert_pem: String,
    pub client_key_pem: String,
    ca_der: rustls::pki_types::CertificateDer<'static>,
    server_der: rustls::pki_types::CertificateDer<'static>,
    server_key_der: Vec<u8>,
}

impl TestCa {
    pub fn new() -> TestCa {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Volley test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key"))
            .expect("CA certificate");
        let signed = |names: Vec<String>| {
            let key = KeyPair::generate().expect("key");
            let cert = CertificateParams::new(names)
                .expect("params")
                .signed_by(&key, &ca)
                .expect("certificate");
            (cert, key)
        };
        let (server, server_key) = signed(vec!["127.0.0.1".to_string()]);
        let (client, client_key) = signed(vec!["volley-test-client".to_string()]);
        TestCa {
            ca_pem: ca.pem(),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
            ca_der: ca.der().clone(),
            server_der: server.der().clone(),
            server_key_der: server_key.serialize_der(),
        }
    }

    /// A server configuration presenting the server certificate with ALPN `alpn`; with
    /// `client_auth`, clients must present a certificate this CA signed.
    pub fn server_config(&self, client_auth: bool, alpn: &[&[u8]]) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if client_auth {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca_der.clone()).expect("CA root");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(
                vec![self.server_der.clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(self.server_key_der.clone().into()),
            )
            .expect("server certificate");
        config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        config
    }

    /// A server configuration presenting the server certificate (an ECDSA key) over `version`
    /// alone with `suite` alone, for `tlsCipherSuites` tests: a client that does not offer that
    /// suite gets a `handshake failure` alert.
    pub fn server_config_one_suite(
        &self,
        version: &'static rustls::SupportedProtocolVersion,
        suite: rustls::SupportedCipherSuite,
    ) -> rustls::ServerConfig {
        let provider = rustls::crypto::CryptoProvider {
            cipher_suites: vec![suite],
            ..rustls::crypto::ring::default_provider()
        };
        rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[version])
            .expect("TLS version")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.server_der.clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(self.server_key_der.clone().into()),
            )
            .expect("server certificate")
    }

    /// Writes `ca.pem`, `client.pem` and `client-key.pem` into `dir`.
    pub fn write_to(&self, dir: &std::path::Path) {
        for (name, text) in [
            ("ca.pem", &self.ca_pem),
            ("client.pem", &self.client_cert_pem),
            ("client-key.pem", &self.client_key_pem),
        ] {
            std::fs::write(dir.join(name), text).expect("write a test certificate");
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}
