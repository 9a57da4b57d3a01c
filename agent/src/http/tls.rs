//! The TLS client configuration, built once per run and shared by every VU.
//!
//! Building a rustls config (loading ~150 root certificates) costs milliseconds and ~100 KiB, so
//! doing it per VU would cost seconds and hundreds of MiB at thousands of VUs; one
//! `Arc<ClientConfig>` is shared instead. Only the `ring` provider is used (no process-wide default
//! provider is needed or installed).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::cipher_suites::CipherSuites;
use super::error::HttpSetupError;

/// The TLS protocol versions a run allows (k6's `tlsVersion`), as minor numbers of "TLS 1.x"
/// (`tls1.2` is 2). rustls speaks 1.2 and 1.3 only, so a range is cut to those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsVersions {
    pub min: u8,
    pub max: u8,
}

impl Default for TlsVersions {
    fn default() -> Self {
        Self { min: 2, max: 3 }
    }
}

impl TlsVersions {
    /// k6's `tlsVersion` option: `"tls1.2"` (that version only) or `{min, max}` (either may be
    /// left out). `Err` names the option and the values it takes.
    pub fn from_option(v: &serde_json::Value) -> Result<Self, String> {
        let one = |v: &serde_json::Value, what: &str| -> Result<Option<u8>, String> {
            match v {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::String(s) => match s.as_str() {
                    "tls1.0" => Ok(Some(0)),
                    "tls1.1" => Ok(Some(1)),
                    "tls1.2" => Ok(Some(2)),
                    "tls1.3" => Ok(Some(3)),
                    _ => Err(format!(
                        "tlsVersion{what}: {s:?} is not a TLS version; use \"tls1.2\" or \"tls1.3\""
                    )),
                },
                other => Err(format!(
                    "tlsVersion{what}: {other} is not a TLS version; use \"tls1.2\" or \"tls1.3\""
                )),
            }
        };
        let d = Self::default();
        let (min, max) = match v {
            serde_json::Value::Object(o) => (
                one(o.get("min").unwrap_or(&serde_json::Value::Null), ".min")?,
                one(o.get("max").unwrap_or(&serde_json::Value::Null), ".max")?,
            ),
            other => {
                let only = one(other, "")?;
                (only, only)
            }
        };
        let versions = Self {
            min: min.unwrap_or(d.min),
            max: max.unwrap_or(d.max),
        };
        versions.rustls()?;
        Ok(versions)
    }

    /// The versions rustls may negotiate. `Err` when the range holds neither 1.2 nor 1.3.
    fn rustls(self) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
        let mut out = Vec::new();
        if self.min <= 3 && self.max >= 3 {
            out.push(&rustls::version::TLS13);
        }
        if self.min <= 2 && self.max >= 2 {
            out.push(&rustls::version::TLS12);
        }
        if out.is_empty() {
            return Err(format!(
                "tlsVersion: the range tls1.{} to tls1.{} allows no version Volley speaks (TLS 1.2 \
                 and 1.3); allow tls1.2 or tls1.3",
                self.min, self.max
            ));
        }
        Ok(out)
    }
}

/// A client certificate with its key, in PEM (one entry of k6's `tlsAuth`, or `k6/net/grpc`'s
/// `connect` param `tls`). Its `Debug` leaves the key out.
#[derive(Clone, PartialEq, Default)]
pub struct ClientCert {
    pub cert: String,
    pub key: String,
    /// Decrypts a key in legacy encrypted PEM (`Proc-Type: 4,ENCRYPTED`).
    pub password: Option<String>,
}

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCert").finish_non_exhaustive()
    }
}

impl ClientCert {
    /// k6's `tlsAuth` option: `[{domains, cert, key, password}]`. `Err` names the entry.
    pub fn from_tls_auth(v: &serde_json::Value) -> Result<Vec<ClientCert>, String> {
        let list = v.as_array().map(Vec::as_slice).unwrap_or_default();
        let mut out = Vec::with_capacity(list.len());
        for (i, e) in list.iter().enumerate() {
            let text = |key: &str| e.get(key).and_then(|v| v.as_str()).map(str::to_owned);
            let (Some(cert), Some(key)) = (text("cert"), text("key")) else {
                return Err(format!(
                    "tlsAuth[{i}]: give both cert and key, as PEM strings (e.g. \
                     open('client.crt') and open('client.key'))"
                ));
            };
            let c = ClientCert {
                cert,
                key,
                password: text("password").filter(|p| !p.is_empty()),
            };
            c.identity().map_err(|e| format!("tlsAuth[{i}]: {e}"))?;
            out.push(c);
        }
        Ok(out)
    }

    /// k6's warning for `tlsAuth` entries that name `domains`, which choose nothing (the server's
    /// accepted authorities do).
    pub const DOMAINS_WARNING: &'static str = "tlsAuth.domains is ignored, as in k6 (which \
        deprecated it with Go's NameToCertificate): each connection presents the first tlsAuth \
        certificate the server accepts; leave domains empty";

    /// Whether an entry of `tlsAuth` names `domains` (k6 then warns, [`Self::DOMAINS_WARNING`]).
    pub fn tls_auth_names_domains(v: Option<&serde_json::Value>) -> bool {
        let list = v.and_then(|v| v.as_array()).map(Vec::as_slice);
        list.unwrap_or_default().iter().any(|e| {
            e.get("domains")
                .and_then(|d| d.as_array())
                .is_some_and(|d| !d.is_empty())
        })
    }

    /// The certificate chain and key rustls presents. `Err` is Go's wording, as k6 shows it.
    pub fn identity(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert.as_bytes())
                .filter_map(Result::ok)
                .collect();
        if chain.is_empty() {
            return Err(
                "failed to append certificate from PEM: tls: failed to find any PEM data in \
                 certificate input"
                    .into(),
            );
        }
        let key = match &self.password {
            Some(password) => super::pem_key::decrypt(&self.key, password)?,
            None => PrivateKeyDer::from_pem_slice(self.key.as_bytes()).map_err(|_| {
                "failed to append certificate from PEM: tls: failed to find any PEM data in key \
                 input"
                    .to_owned()
            })?,
        };
        Ok((chain, key))
    }
}

/// What a TLS client config is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alpn {
    /// `k6/http` and WebSockets: HTTP/1.1 only (said so, so that servers do not pick h2).
    Http1,
    /// `k6/net/grpc`: HTTP/2, which gRPC servers require.
    H2,
}

/// Everything a client config is built from.
pub(crate) struct TlsSetup<'a> {
    /// k6's `insecureSkipTLSVerify`.
    pub insecure_skip_verify: bool,
    pub versions: TlsVersions,
    /// `tlsCipherSuites`: the TLS 1.2 suites offered.
    pub suites: &'a CipherSuites,
    /// The trusted authorities, PEM; `None`: the public web roots.
    pub roots: Option<&'a [CertificateDer<'static>]>,
    /// The one client certificate presented (`k6/net/grpc`).
    pub client: Option<&'a ClientCert>,
    /// Without `client`: the certificates to choose from per server ([`TlsAuthResolver`]).
    pub choose_from: &'a [ClientCert],
    pub alpn: Alpn,
}

/// Builds a client config. With `insecure_skip_verify` the server certificate is accepted
/// whatever it is (k6's `insecureSkipTLSVerify`), but handshake signatures are still checked
/// against it, as Go does.
/// When the options leave no suite to offer ([`refusal`]), the config offers rustls' defaults:
/// its connections must be refused before their handshake.
pub(crate) fn client_config(s: &TlsSetup<'_>) -> Result<Arc<ClientConfig>, HttpSetupError> {
    let suites = match refusal(s.versions, s.suites) {
        None => s.suites.offered(),
        Some(_) => CipherSuites::default().offered(),
    };
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..rustls::crypto::ring::default_provider()
    });
    let versions = s.versions.rustls().map_err(HttpSetupError::Options)?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(HttpSetupError::Tls)?;
    let builder = if s.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate::new(&provider)))
    } else {
        let roots = match s.roots {
            Some(own) => {
                let mut roots = RootCertStore::empty();
                for c in own {
                    roots.add(c.clone()).map_err(HttpSetupError::Tls)?;
                }
                roots
            }
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        builder.with_root_certificates(roots)
    };
    let mut config = match s.client {
        Some(c) => {
            let (chain, key) = c.identity().map_err(HttpSetupError::Options)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(HttpSetupError::Tls)?
        }
        None if !s.choose_from.is_empty() => builder.with_client_cert_resolver(Arc::new(
            TlsAuthResolver::new(s.choose_from, &provider).map_err(HttpSetupError::Options)?,
        )),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = match s.alpn {
        Alpn::Http1 => vec![b"http/1.1".to_vec()],
        Alpn::H2 => vec![b"h2".to_vec()],
    };
    // k6 (Go's tls.Config without a session cache) does a full handshake on every new connection;
    // resuming sessions across VUs would make `http_req_tls_handshaking` incomparable.
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// Why no TLS connection can be made when `tlsVersion` allows only TLS 1.2 and
/// `tlsCipherSuites` leaves no TLS 1.2 suite Volley can offer (k6 would offer suites rustls does
/// not speak); `None` otherwise. Connections then fail as a handshake would, with k6's code for
/// it (1010), instead of the run failing: a script may never use https.
pub(crate) fn refusal(versions: TlsVersions, suites: &CipherSuites) -> Option<String> {
    (versions.max < 3 && suites.no_tls12_suite()).then(|| {
        "tls: handshake failure: tlsVersion allows only TLS 1.2 and tlsCipherSuites names no \
         TLS 1.2 suite Volley can offer (see the warning at the start of the run)"
            .to_owned()
    })
}

/// Picks the `tlsAuth` certificate a server asked for, as k6 does (measured with k6 v1.1.0: an
/// entry's `domains` play no part): the first whose chain has a certificate issued by one of the
/// authorities the server named (any, when it named none) and whose key can sign with a scheme the
/// server accepts; no certificate at all when none fits.
#[derive(Debug)]
struct TlsAuthResolver {
    /// Each certificate with the issuer names (DER) of its chain's certificates.
    entries: Vec<(Arc<CertifiedKey>, Vec<Vec<u8>>)>,
}

impl TlsAuthResolver {
    fn new(list: &[ClientCert], provider: &CryptoProvider) -> Result<Self, String> {
        let mut entries = Vec::with_capacity(list.len());
        for (i, c) in list.iter().enumerate() {
            let (chain, key) = c.identity().map_err(|e| format!("tlsAuth[{i}]: {e}"))?;
            let key = provider
                .key_provider
                .load_private_key(key)
                .map_err(|e| format!("tlsAuth[{i}]: the key cannot sign: {e}"))?;
            let issuers = chain.iter().filter_map(|c| issuer(c).map(<[u8]>::to_vec));
            let issuers = issuers.collect();
            entries.push((Arc::new(CertifiedKey::new(chain, key)), issuers));
        }
        Ok(Self { entries })
    }
}

impl ResolvesClientCert for TlsAuthResolver {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.entries
            .iter()
            .find(|(key, issuers)| {
                (root_hint_subjects.is_empty()
                    || issuers
                        .iter()
                        .any(|i| root_hint_subjects.contains(&i.as_slice())))
                    && key.key.choose_scheme(sigschemes).is_some()
            })
            .map(|(key, _)| key.clone())
    }

    fn has_certs(&self) -> bool {
        !self.entries.is_empty()
    }
}

/// The issuer name of a DER certificate, as its DER (tag and length included, the form in which
/// servers name the authorities they accept). `None` for bytes that are no certificate.
fn issuer(cert: &[u8]) -> Option<&[u8]> {
    /// One DER element: (tag, content, the whole element, what follows).
    type Element<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);
    fn element(input: &[u8]) -> Option<Element<'_>> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        let header = input.len() - rest.len();
        Some((tag, &rest[..len], &input[..header + len], &rest[len..]))
    }
    let (_, certificate, _, _) = element(cert)?;
    let (_, tbs, _, _) = element(certificate)?;
    let (tag, _, _, mut rest) = element(tbs)?;
    if tag == 0xa0 {
        // An explicit version came first; skip the serial number after it.
        rest = element(rest)?.3;
    }
    let rest = element(rest)?.3; // signature algorithm
    let (tag, _, name, _) = element(rest)?;
    (tag == 0x30).then_some(name)
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
            let cfg = client_config(&TlsSetup {
                insecure_skip_verify: insecure,
                versions: TlsVersions::default(),
                suites: &CipherSuites::default(),
                roots: None,
                client: None,
                choose_from: &[],
                alpn: Alpn::Http1,
            })
            .expect("config builds");
            assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
        }
    }

    #[test]
    fn tls_version_options_read_as_k6_writes_them() {
        use serde_json::json;
        let v = |j| TlsVersions::from_option(&j);
        assert_eq!(v(json!("tls1.3")), Ok(TlsVersions { min: 3, max: 3 }));
        assert_eq!(
            v(json!({"min": "tls1.0"})),
            Ok(TlsVersions { min: 0, max: 3 })
        );
        assert_eq!(
            v(json!({"max": "tls1.2"})).unwrap().rustls().unwrap().len(),
            1
        );
        assert!(v(json!("tls1.1"))
            .unwrap_err()
            .contains("allows no version"));
        assert!(v(json!("tls9"))
            .unwrap_err()
            .contains("\"tls9\" is not a TLS version"));
        assert!(v(json!({"min": 12}))
            .unwrap_err()
            .starts_with("tlsVersion.min: 12"));
    }

    #[test]
    fn tls_auth_entries_need_a_certificate_and_its_key() {
        use serde_json::json;
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["client".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let good = json!([{"domains": ["a"], "cert": cert.pem(), "key": key.serialize_pem()}]);
        let list = ClientCert::from_tls_auth(&good).expect("parses");
        assert_eq!(list.len(), 1);
        assert!(!format!("{:?}", list[0]).contains("PRIVATE"));
        let no_key = json!([{"cert": cert.pem()}]);
        assert!(ClientCert::from_tls_auth(&no_key)
            .unwrap_err()
            .starts_with("tlsAuth[0]: give both cert and key"));
        let bad = json!([{"cert": "x", "key": key.serialize_pem()}]);
        assert_eq!(
            ClientCert::from_tls_auth(&bad).unwrap_err(),
            "tlsAuth[0]: failed to append certificate from PEM: tls: failed to find any PEM \
             data in certificate input"
        );
        let h2 = client_config(&TlsSetup {
            insecure_skip_verify: false,
            versions: TlsVersions { min: 3, max: 3 },
            suites: &CipherSuites::default(),
            roots: Some(&[cert.der().clone()]),
            client: Some(&list[0]),
            choose_from: &[],
            alpn: Alpn::H2,
        })
        .expect("config builds");
        assert_eq!(h2.alpn_protocols, vec![b"h2".to_vec()]);
        assert!(h2.client_auth_cert_resolver.has_certs());
    }

    #[test]
    fn tls_auth_presents_the_first_certificate_the_server_accepts() {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tlsAuth test CA");
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA");
        let key = KeyPair::generate().expect("key");
        let signed = CertificateParams::new(vec!["client".to_string()])
            .expect("params")
            .signed_by(&key, &ca)
            .expect("cert");
        let other_key = KeyPair::generate().expect("key");
        let other = CertificateParams::new(vec!["other".to_string()])
            .expect("params")
            .self_signed(&other_key)
            .expect("cert");
        // A self-signed CA's issuer is its subject, the name a server sends.
        let ca_name = issuer(ca.der()).expect("CA issuer").to_vec();
        assert_eq!(issuer(signed.der()), Some(ca_name.as_slice()));
        assert_ne!(issuer(other.der()), Some(ca_name.as_slice()));
        assert_eq!(issuer(b"no certificate"), None);
        let entry = |c: &rcgen::Certificate, k: &KeyPair| ClientCert {
            cert: c.pem(),
            key: k.serialize_pem(),
            password: None,
        };
        let list = [entry(&other, &other_key), entry(&signed, &key)];
        let provider = rustls::crypto::ring::default_provider();
        let resolver = TlsAuthResolver::new(&list, &provider).expect("resolver");
        let schemes = [SignatureScheme::ECDSA_NISTP256_SHA256];
        let chosen = |hints: &[&[u8]]| {
            resolver
                .resolve(hints, &schemes)
                .map(|c| c.cert[0].as_ref().to_vec())
        };
        assert_eq!(chosen(&[]), Some(other.der().to_vec()));
        assert_eq!(chosen(&[&ca_name]), Some(signed.der().to_vec()));
        assert_eq!(chosen(&[b"\x30\x00"]), None);
        assert!(resolver
            .resolve(&[], &[SignatureScheme::RSA_PSS_SHA256])
            .is_none());
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
