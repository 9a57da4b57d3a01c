//! The TLS client configuration, built once per run and shared by every VU.
//!
//! Building a rustls config (loading ~150 root certificates) costs milliseconds and ~100 KiB, so
//! doing it per VU would cost seconds and hundreds of MiB at thousands of VUs; one
//! `Arc<ClientConfig>` is shared instead. Only the `ring` provider is used (no process-wide default
//! provider is needed or installed).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::error::HttpSetupError;

/// Builds the client config. With `insecure_skip_verify` the server certificate is accepted
/// whatever it is (k6's `insecureSkipTLSVerify`), but handshake signatures are still checked
/// against it, as Go does.
pub(crate) fn client_config(
    insecure_skip_verify: bool,
) -> Result<Arc<ClientConfig>, HttpSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(HttpSetupError::Tls)?;
    let mut config = if insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(&provider)))
            .with_no_client_auth()
    } else {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    // We speak HTTP/1.1 only; say so, so that servers do not pick h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // k6 (Go's tls.Config without a session cache) does a full handshake on every new connection;
    // resuming sessions across VUs would make `http_req_tls_handshaking` incomparable.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// k6's `tls_version` tag value for a negotiated protocol version.
pub(crate) fn version_name(v: rustls::ProtocolVersion) -> &'static str {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "tls1.3",
        rustls::ProtocolVersion::TLSv1_2 => "tls1.2",
        rustls::ProtocolVersion::TLSv1_1 => "tls1.1",
        rustls::ProtocolVersion::TLSv1_0 => "tls1.0",
        _ => "unknown",
    }
}

/// The SNI / verification name for a URL host (IP literals verify against IP SANs).
pub(crate) fn server_name(host: &str) -> Option<ServerName<'static>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned()).ok()
}

/// Accepts any server certificate (insecureSkipTLSVerify) but still verifies that the server owns
/// it, so the handshake stays a real handshake in cost and semantics.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AcceptAnyCertificate {
    fn new(provider: &CryptoProvider) -> Self {
        Self {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_configs_build_and_speak_http1() {
        for insecure in [false, true] {
            let cfg = client_config(insecure).expect("config builds");
            assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        }
    }

    #[test]
    fn version_names_match_k6_tags() {
        assert_eq!(version_name(rustls::ProtocolVersion::TLSv1_3), "tls1.3");
        assert_eq!(version_name(rustls::ProtocolVersion::TLSv1_2), "tls1.2");
    }

    #[test]
    fn server_names_accept_dns_names_and_ips() {
        assert!(matches!(
            server_name("example.com"),
            Some(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("127.0.0.1"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("[::1]"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(server_name("bad host").is_none());
    }
}
