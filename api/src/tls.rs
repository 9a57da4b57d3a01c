//! The client side of TLS to a controller, shared by the CLI's REST client, `volley run --out
//! cloud` and the agent's gRPC link: which CAs to trust (`--ca` / `VOLLEY_CA`, plus the Mozilla
//! roots), an optional client certificate (`--cert`/`--key`, the agent's identity under mTLS),
//! and what to tell a user whose TLS handshake failed.
//!
//! rustls with the ring provider (no OpenSSL, no process-wide provider). See
//! docs/security.md#tls.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

/// What a client trusts and presents. Cheap to clone.
#[derive(Clone, Default)]
pub struct ClientTls {
    /// Extra CA certificates (`--ca`), trusted besides the Mozilla roots.
    ca: Vec<CertificateDer<'static>>,
    /// The client certificate chain and its key (`--cert`, `--key`).
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    /// Where they came from, for messages.
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca_file", &self.ca_file)
            .field("cert_file", &self.cert_file)
            .finish()
    }
}

/// The most bytes read of a PEM file.
const MAX_PEM: u64 = 1 << 20;

fn read_pem(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_PEM + 1), &mut bytes)
        .map_err(|e| format!("cannot read {flag} {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_PEM {
        return Err(format!(
            "{flag} {} is larger than 1 MiB: not a PEM certificate file",
            path.display()
        ));
    }
    Ok(bytes)
}

/// The certificates of a PEM file (at least one); errors name `flag`.
pub fn read_certs(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read_pem(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "{flag} {} is not a PEM certificate file: {e}",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "{flag} {} holds no certificate (no BEGIN CERTIFICATE block)",
            path.display()
        ));
    }
    Ok(certs)
}

impl ClientTls {
    /// Reads `--ca`, `--cert` and `--key`; `--cert` and `--key` go together.
    pub fn from_files(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
    ) -> Result<ClientTls, String> {
        let mut tls = ClientTls::default();
        if let Some(ca) = ca {
            let certs = read_certs("--ca", ca)?;
            let mut roots = RootCertStore::empty();
            for c in &certs {
                roots.add(c.clone()).map_err(|e| {
                    format!("--ca {}: not a usable CA certificate: {e}", ca.display())
                })?;
            }
            tls.ca = certs;
            tls.ca_file = Some(ca.to_path_buf());
        }
        match (cert, key) {
            (None, None) => {}
            (Some(_), None) => {
                return Err("--cert needs --key (the certificate's private key)".into())
            }
            (None, Some(_)) => return Err("--key needs --cert (the client certificate)".into()),
            (Some(cert), Some(key)) => {
                let chain = read_certs("--cert", cert)?;
                let pem = read_pem("--key", key)?;
                let key_der = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
                    format!(
                        "--key {} holds no private key in PEM form: {e}",
                        key.display()
                    )
                })?;
                // Fails early on a key that does not belong to the certificate.
                client_builder()?
                    .with_root_certificates(RootCertStore::empty())
                    .with_client_auth_cert(chain.clone(), key_der.clone_key())
                    .map_err(|e| {
                        format!(
                            "--cert {} and --key {} do not go together: {e}",
                            cert.display(),
                            key.display()
                        )
                    })?;
                tls.identity = Some((chain, Arc::new(key_der)));
                tls.cert_file = Some(cert.to_path_buf());
            }
        }
        Ok(tls)
    }

    /// The client certificate (DER), if one is configured.
    pub fn client_cert(&self) -> Option<&[u8]> {
        self.identity
            .as_ref()
            .and_then(|(chain, _)| chain.first())
            .map(|c| c.as_ref())
    }

    /// A rustls configuration that trusts the Mozilla roots and `--ca`, presents the client
    /// certificate if any, and offers `alpn`.
    pub fn rustls_config(&self, alpn: &[&[u8]]) -> Result<ClientConfig, String> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for c in &self.ca {
            roots
                .add(c.clone())
                .map_err(|e| format!("--ca: not a usable CA certificate: {e}"))?;
        }
        let builder = client_builder()?.with_root_certificates(roots);
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| format!("--cert and --key do not go together: {e}"))?,
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }
}

fn client_builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, String> {
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))
}

static DEFAULT: OnceLock<ClientTls> = OnceLock::new();

/// Sets what every [`crate::client::Client`] of this process trusts and presents (the CLI
/// calls it once with its `--ca`, `--cert`, `--key`); false if it was set already.
pub fn set_default(tls: ClientTls) -> bool {
    DEFAULT.set(tls).is_ok()
}

/// What [`set_default`] set, else the Mozilla roots only.
pub fn default_tls() -> ClientTls {
    DEFAULT.get().cloned().unwrap_or_default()
}

/// What a failed connection to `url` most likely means, from its error and causes (`detail`),
/// naming the fix; `None` when it is not a TLS matter.
pub fn explain(url: &str, detail: &str) -> Option<String> {
    let https = url.starts_with("https://");
    let has = |s: &str| detail.contains(s);
    if https && (has("InvalidContentType") || has("corrupt message") || has("InvalidMessage")) {
        return Some(format!(
            "{url} does not speak TLS: it is a plaintext port — use http:// (or start the controller with --tls-cert and --tls-key)"
        ));
    }
    if has("UnknownIssuer") || has("invalid peer certificate: BadSignature") {
        return Some(format!(
            "the certificate of {url} is not signed by a CA this client trusts: give --ca (or VOLLEY_CA) the CA that signed it (ca.crt of `volley certs init`)"
        ));
    }
    if has("NotValidForName") {
        return Some(format!(
            "the certificate of {url} is not issued for this host name: use a name it lists (`volley certs init --host NAME`)"
        ));
    }
    if has("CertificateRequired") {
        return Some(format!(
            "{url} requires a client certificate (mTLS): give --cert and --key (agent.crt and agent.key of `volley certs init`)"
        ));
    }
    if has("UnknownCA") || has("BadCertificate") || has("DecryptError") || has("CertificateUnknown")
    {
        return Some(format!(
            "{url} refused this client's certificate: it is not signed by the controller's --client-ca"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_checked_together_and_named() {
        assert!(ClientTls::from_files(None, None, None).is_ok());
        let e = ClientTls::from_files(None, Some(Path::new("/x")), None).unwrap_err();
        assert!(e.contains("--cert needs --key"), "{e}");
        let e =
            ClientTls::from_files(Some(Path::new("/nonexistent/ca.crt")), None, None).unwrap_err();
        assert!(e.starts_with("cannot read --ca /nonexistent/ca.crt"), "{e}");
    }

    #[test]
    fn tls_failures_are_explained() {
        let m = explain(
            "https://h:1",
            "received corrupt message of type InvalidContentType",
        )
        .unwrap();
        assert!(
            m.contains("does not speak TLS") && m.contains("http://"),
            "{m}"
        );
        let m = explain("https://h:1", "invalid peer certificate: UnknownIssuer").unwrap();
        assert!(m.contains("--ca"), "{m}");
        let m = explain("https://h:1", "received fatal alert: CertificateRequired").unwrap();
        assert!(m.contains("--cert and --key"), "{m}");
        assert_eq!(explain("http://h:1", "connection refused"), None);
    }
}
