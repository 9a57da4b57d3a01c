//! Who may speak on the Raft port: the controllers of the group, and nobody else who holds a
//! certificate of the same CA.
//!
//! `volley certs init` signs the agents' and the CLI's client certificates with the CA that
//! signs the controller's, so a certificate of the CA does not tell a controller from an agent.
//! A peer's certificate must therefore also name **server use** (the serverAuth extended key
//! usage, which `controller.crt` carries besides clientAuth), which an agent's or a client's
//! certificate does not ([`ControllersOnly`]). Each controller dials its peers with its own
//! certificate as the client certificate and trusts only the group's CA ([`client_config`]),
//! reloaded when its files change ([`ClientTls`]), as the port's server side is.
//! See docs/security.md#the-raft-port.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName};

use super::{ca_roots, load_certs, load_key, provider, stamp, Reloads, Stamp, TlsError, TlsFiles};

/// The uses a certificate's extended key usage names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Uses {
    pub server: bool,
    pub client: bool,
}

/// What a certificate (DER) says it may be used for. Without the extension, nothing is named:
/// a peer's certificate must name its uses.
pub fn uses(der: &[u8]) -> Uses {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return Uses::default();
    };
    match cert.extended_key_usage() {
        Ok(Some(eku)) => Uses {
            server: eku.value.server_auth || eku.value.any,
            client: eku.value.client_auth || eku.value.any,
        },
        _ => Uses::default(),
    }
}

/// The client-certificate check of the Raft port: the CA's check, then server use.
#[derive(Debug)]
pub struct ControllersOnly {
    ca: Arc<dyn ClientCertVerifier>,
}

impl ControllersOnly {
    /// `ca`: the verifier of the group's CA (`--raft-ca`), client certificates required.
    pub fn new(ca: Arc<dyn ClientCertVerifier>) -> ControllersOnly {
        ControllersOnly { ca }
    }
}

impl ClientCertVerifier for ControllersOnly {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.ca.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.ca.verify_client_cert(end_entity, intermediates, now)?;
        if uses(end_entity).server {
            return Ok(verified);
        }
        let name = super::cert_name(end_entity).unwrap_or_else(|| "(no name)".into());
        tracing::warn!(
            "Raft port: refused a certificate issued to `{name}`: it is not a controller \
             certificate (it does not name server use); each controller presents its \
             controller.crt of `volley certs init`"
        );
        Err(rustls::Error::InvalidCertificate(
            CertificateError::InvalidPurpose,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.ca.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.ca.supported_verify_schemes()
    }
}

/// Checks that the certificate of `files` can serve on the Raft port and dial peers: it must
/// name both server and client use.
pub fn check_own(files: &TlsFiles) -> Result<(), TlsError> {
    let certs = load_certs(files.cert_flag, &files.cert)?;
    let u = uses(certs[0].as_ref());
    if u.server && u.client {
        return Ok(());
    }
    Err(TlsError::Uses {
        flag: files.cert_flag,
        path: files.cert.clone(),
        uses: match (u.server, u.client) {
            (true, _) => "server use only",
            (_, true) => "client use only",
            _ => "neither server nor client use",
        },
    })
}

/// What a controller dials its peers with: its own certificate (`files`) as the client
/// certificate, trusting only the group's CA (`files.client_ca`), HTTP/2 by ALPN. Read once;
/// [`ClientTls`] reads it again when the files change.
pub fn client_config(files: &TlsFiles) -> Result<ClientConfig, TlsError> {
    let ca = files.client_ca.as_ref().ok_or(TlsError::NoRaftCa)?;
    check_own(files)?;
    let roots = ca_roots("--raft-ca", ca)?;
    let certs = load_certs(files.cert_flag, &files.cert)?;
    let key = load_key(files.key_flag, &files.key)?;
    let pair = |detail: String| TlsError::Pair {
        cert_flag: files.cert_flag,
        cert: files.cert.clone(),
        key_flag: files.key_flag,
        key: files.key.clone(),
        detail,
    };
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| pair(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| pair(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// A controller's TLS client to its group — to its peers' Raft ports, and to the leader's
/// REST API when a follower forwards a write (`crate::api::Forwarder`) — rebuilt when the
/// certificate, key or CA files change (checked every [`super::RELOAD_EVERY`] by
/// [`ClientTls::watch`]), so that a renewed `controller.crt` is presented, and a renewed CA
/// trusted, without a restart. Each new connection takes the current configuration; open
/// ones keep theirs. Files that do not load keep the previous configuration, and the watch
/// logs why.
pub struct ClientTls {
    /// `None`: a fixed configuration, never reloaded.
    files: Option<TlsFiles>,
    /// What it dials, in logs.
    what: &'static str,
    /// The protocols offered by ALPN: h2 to a Raft port, HTTP/1.1 to a REST API.
    alpn: Vec<Vec<u8>>,
    current: RwLock<Arc<ClientConfig>>,
    stamp: Mutex<Stamp>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("files", &self.files)
            .finish()
    }
}

impl ClientTls {
    /// Loads the files to dial peers' Raft ports ([`client_config`]; an error names the flag
    /// and the file).
    pub fn load(files: TlsFiles) -> Result<Arc<ClientTls>, TlsError> {
        ClientTls::load_for(files, "Raft port (dialling peers)", vec![b"h2".to_vec()])
    }

    /// Loads the files to dial `what` (in logs), offering `alpn`.
    pub fn load_for(
        files: TlsFiles,
        what: &'static str,
        alpn: Vec<Vec<u8>>,
    ) -> Result<Arc<ClientTls>, TlsError> {
        let stamp = stamp(&files);
        let mut config = client_config(&files)?;
        config.alpn_protocols = alpn.clone();
        Ok(Arc::new(ClientTls {
            files: Some(files),
            what,
            alpn,
            current: RwLock::new(Arc::new(config)),
            stamp: Mutex::new(stamp),
        }))
    }

    /// A configuration that never changes (tests that dial with a hand-made certificate).
    pub fn fixed(config: ClientConfig) -> Arc<ClientTls> {
        Arc::new(ClientTls {
            files: None,
            what: "Raft port (dialling peers)",
            alpn: config.alpn_protocols.clone(),
            current: RwLock::new(Arc::new(config)),
            stamp: Mutex::new(Vec::new()),
        })
    }

    /// The configuration a new connection uses.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Rebuilds the configuration if a file changed since the last look. `None`: nothing
    /// changed; `Some(Err)`: the new files do not load and the previous configuration stays.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let files = self.files.as_ref()?;
        let now = stamp(files);
        {
            let mut seen = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return None;
            }
            *seen = now;
        }
        Some(client_config(files).map(|mut config| {
            config.alpn_protocols = self.alpn.clone();
            *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        }))
    }

    /// Checks the files every `every` for as long as the runtime runs, logging each reload.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        if self.files.is_some() {
            super::watch(self, every);
        }
    }
}

impl Reloads for ClientTls {
    fn what(&self) -> &'static str {
        self.what
    }

    fn cert(&self) -> &Path {
        self.files
            .as_ref()
            .map_or(Path::new(""), |f| f.cert.as_path())
    }

    fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        ClientTls::reload_if_changed(self)
    }
}
