//! TLS on the controller's two ports (`--tls-cert`/`--tls-key`, `--client-ca`): the rustls
//! server configurations, their reload when the files change, the handshake of one accepted
//! connection, and the name an agent's client certificate gives it.
//!
//! - **One certificate or one each**: the REST API and the agents' gRPC port each get a
//!   [`ServerTls`]; gRPC uses `--grpc-tls-cert`/`--grpc-tls-key` when given, else the REST pair.
//! - **mTLS for agents**: with `--client-ca`, gRPC requires a client certificate signed by it,
//!   and the agent's identity is its certificate's name ([`cert_name`]: the subject's CN, else
//!   its first DNS name); the REST API asks for one but does not require it (API tokens
//!   authenticate people and CI there).
//! - **Reload without restart**: [`ServerTls::watch`] polls the files' modification times and
//!   sizes every [`RELOAD_EVERY`]; a change builds a new configuration that new connections use
//!   (open ones keep theirs). A file that does not load (half written, wrong key) keeps the
//!   previous configuration and logs why.
//! - **Never a silent downgrade**: a connection whose first byte is not a TLS handshake record
//!   gets an HTTP 400 "this port speaks TLS; use https://" and is closed ([`accept`]).
//!
//! - **The Raft port** ([`Port::Raft`], `--raft-ca`): mutual TLS between the controllers of a
//!   group, where only controller certificates count ([`peers`]).
//!
//! rustls with the ring provider, as the agent's HTTP client uses; see docs/security.md#tls.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// How often the certificate files are checked for changes.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// The first byte of a TLS handshake record (a ClientHello starts with it).
const TLS_HANDSHAKE: u8 = 0x16;

/// What a plaintext client of a TLS port is told before the connection is closed.
pub const PLAINTEXT_REFUSAL: &str = "this port speaks TLS; use https://";

/// Which port a configuration is for: it decides the ALPN protocol and whether a client
/// certificate is required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// The REST API: HTTP/1.1; client certificates optional.
    Rest,
    /// The agents' gRPC port: HTTP/2; client certificates required when a client CA is given.
    Grpc,
    /// The Raft port between controllers: HTTP/2; a controller certificate signed by the
    /// group's CA (`--raft-ca`, in [`TlsFiles::client_ca`]) always required ([`peers`]).
    Raft,
}

impl Port {
    fn what(self) -> &'static str {
        match self {
            Port::Rest => "REST API",
            Port::Grpc => "gRPC port",
            Port::Raft => "Raft port",
        }
    }
}

/// The files of one port's TLS configuration, with the flags that named them (for errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub cert_flag: &'static str,
    pub key: PathBuf,
    pub key_flag: &'static str,
    /// `--client-ca`: the CA that signs agents' (and clients') certificates; for
    /// [`Port::Raft`], `--raft-ca`: the CA of the group's controller certificates.
    pub client_ca: Option<PathBuf>,
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {flag} {}: {source}", .path.display())]
    Read {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{flag} {} holds no {what} in PEM form ({detail}); give the file `volley certs init` wrote, or another PEM file", .path.display())]
    Pem {
        flag: &'static str,
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    #[error("{cert_flag} {} and {key_flag} {} do not go together: {detail}", .cert.display(), .key.display())]
    Pair {
        cert_flag: &'static str,
        cert: PathBuf,
        key_flag: &'static str,
        key: PathBuf,
        detail: String,
    },
    #[error("{flag} {}: {detail}", .path.display())]
    ClientCa {
        flag: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("TLS on the Raft port needs --raft-ca, the CA of the group's controller certificates")]
    NoRaftCa,
    #[error("{flag} {} cannot be a controller's certificate on the Raft port: it names {uses}, and a controller both serves its peers and dials them; use controller.crt of `volley certs init`, or a certificate whose extended key usage names serverAuth and clientAuth", .path.display())]
    Uses {
        flag: &'static str,
        path: PathBuf,
        uses: &'static str,
    },
}

/// Reads a PEM file whole (bounded: certificate files are small).
fn read_pem(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    const MAX_PEM: u64 = 1 << 20;
    let read = |source| TlsError::Read {
        flag,
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_PEM + 1), &mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_PEM {
        return Err(TlsError::Pem {
            flag,
            path: path.to_path_buf(),
            what: "certificate or key",
            detail: "the file is larger than 1 MiB".into(),
        });
    }
    Ok(bytes)
}

/// The certificates of a PEM file (at least one).
pub fn load_certs(
    flag: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(flag, path)?;
    let pem_err = |detail: String| TlsError::Pem {
        flag,
        path: path.to_path_buf(),
        what: "certificate",
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_err("no BEGIN CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// The private key of a PEM file.
pub fn load_key(flag: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_pem(flag, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        flag,
        path: path.to_path_buf(),
        what: "private key",
        detail: e.to_string(),
    })
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds one port's server configuration from its files.
pub fn server_config(files: &TlsFiles, port: Port) -> Result<ServerConfig, TlsError> {
    let certs = load_certs(files.cert_flag, &files.cert)?;
    let key = load_key(files.key_flag, &files.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Pair {
            cert_flag: files.cert_flag,
            cert: files.cert.clone(),
            key_flag: files.key_flag,
            key: files.key.clone(),
            detail: e.to_string(),
        })?;
    let ca_flag = match port {
        Port::Raft => "--raft-ca",
        Port::Rest | Port::Grpc => "--client-ca",
    };
    let builder = match &files.client_ca {
        None if port == Port::Raft => return Err(TlsError::NoRaftCa),
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let roots = ca_roots(ca_flag, ca)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
            let verifier = match port {
                Port::Grpc | Port::Raft => verifier,
                Port::Rest => verifier.allow_unauthenticated(),
            };
            let verifier = verifier.build().map_err(|e| TlsError::ClientCa {
                flag: ca_flag,
                path: ca.clone(),
                detail: e.to_string(),
            })?;
            match port {
                Port::Raft => builder
                    .with_client_cert_verifier(Arc::new(peers::ControllersOnly::new(verifier))),
                Port::Rest | Port::Grpc => builder.with_client_cert_verifier(verifier),
            }
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Pair {
            cert_flag: files.cert_flag,
            cert: files.cert.clone(),
            key_flag: files.key_flag,
            key: files.key.clone(),
            detail: e.to_string(),
        })?;
    config.alpn_protocols = match port {
        Port::Rest => vec![b"http/1.1".to_vec()],
        Port::Grpc | Port::Raft => vec![b"h2".to_vec()],
    };
    Ok(config)
}

/// The CA certificates of `path` as a root store; errors name `flag`.
fn ca_roots(flag: &'static str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(flag, path)? {
        roots.add(cert).map_err(|e| TlsError::ClientCa {
            flag,
            path: path.to_path_buf(),
            detail: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

/// What identifies a version of the files: modification time and size of each.
type Stamp = Vec<Option<(SystemTime, u64)>>;

/// One port's TLS configuration, replaced when its files change.
pub struct ServerTls {
    files: TlsFiles,
    port: Port,
    current: RwLock<Arc<ServerConfig>>,
    stamp: Mutex<Stamp>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.files)
            .field("port", &self.port)
            .finish()
    }
}

impl ServerTls {
    /// Loads the files (an error names the flag and the file).
    pub fn load(files: TlsFiles, port: Port) -> Result<Arc<ServerTls>, TlsError> {
        let stamp = stamp(&files);
        let config = server_config(&files, port)?;
        Ok(Arc::new(ServerTls {
            files,
            port,
            current: RwLock::new(Arc::new(config)),
            stamp: Mutex::new(stamp),
        }))
    }

    /// The configuration new connections use.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether connections must present a client certificate (gRPC with `--client-ca`, and
    /// the Raft port).
    pub fn requires_client_cert(&self) -> bool {
        self.port == Port::Raft || (self.port == Port::Grpc && self.files.client_ca.is_some())
    }

    /// Rebuilds the configuration if a file changed since the last look. `None`: nothing
    /// changed; `Some(Err)`: the new files do not load and the previous configuration stays.
    pub fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        let now = stamp(&self.files);
        {
            let mut seen = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
            if *seen == now {
                return None;
            }
            *seen = now;
        }
        Some(server_config(&self.files, self.port).map(|config| {
            *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        }))
    }

    /// Checks the files every `every` for as long as the runtime runs, logging each reload.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        watch(self, every);
    }
}

impl Reloads for ServerTls {
    fn what(&self) -> &'static str {
        self.port.what()
    }

    fn cert(&self) -> &Path {
        &self.files.cert
    }

    fn reload_if_changed(&self) -> Option<Result<(), TlsError>> {
        ServerTls::reload_if_changed(self)
    }
}

/// A TLS configuration rebuilt when its files change ([`ServerTls`], [`peers::ClientTls`]).
trait Reloads: Send + Sync + 'static {
    /// What it is for, in logs ("Raft port").
    fn what(&self) -> &'static str;
    fn cert(&self) -> &Path;
    fn reload_if_changed(&self) -> Option<Result<(), TlsError>>;
}

/// Checks `tls`'s files every `every` while it lives and the runtime runs, logging each reload.
fn watch<T: Reloads>(tls: &Arc<T>, every: Duration) {
    let tls = Arc::downgrade(tls);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(tls) = tls.upgrade() else { return };
            let what = tls.what();
            let cert = tls.cert().display().to_string();
            // Reading a few small files: cheap enough for the runtime's thread.
            match tls.reload_if_changed() {
                None => {}
                Some(Ok(())) => {
                    tracing::info!("{what}: TLS certificate reloaded from {cert}")
                }
                Some(Err(e)) => tracing::warn!(
                    "{what}: the changed TLS files do not load, keeping the previous certificate: {e}"
                ),
            }
        }
    });
}

fn stamp(files: &TlsFiles) -> Stamp {
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok()?, m.len()))
    })
    .collect()
}

/// Why an accepted connection did not become a TLS stream.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("it spoke plaintext to a TLS port (told: {PLAINTEXT_REFUSAL})")]
    Plaintext,
    #[error("no TLS handshake within {0:?}")]
    Timeout(Duration),
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] std::io::Error),
}

/// The TLS handshake of one accepted connection, within `timeout`. A client that speaks
/// plaintext gets an HTTP 400 saying [`PLAINTEXT_REFUSAL`] and the connection is closed.
pub async fn accept(
    tls: &ServerTls,
    stream: TcpStream,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, AcceptError> {
    let config = tls.config();
    let handshake = async move {
        let mut first = [0u8; 1];
        let n = stream
            .peek(&mut first)
            .await
            .map_err(AcceptError::Handshake)?;
        if n == 1 && first[0] != TLS_HANDSHAKE {
            refuse_plaintext(stream).await;
            return Err(AcceptError::Plaintext);
        }
        match tokio_rustls::TlsAcceptor::from(config)
            .accept(stream)
            .into_fallible()
            .await
        {
            Ok(s) => Ok(s),
            Err((e, stream)) => {
                close_gracefully(stream).await;
                Err(AcceptError::Handshake(e))
            }
        }
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| AcceptError::Timeout(timeout))?
}

/// Closes a connection whose handshake failed so that the client reads the TLS alert (e.g.
/// "certificate required") rather than a reset: the alert was written; close the sending side,
/// then read what the client still sends (bounded: 64 KiB, 300 ms) before the socket goes —
/// closing with unread data would reset the connection and discard the alert.
async fn close_gracefully(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_millis(300), async {
        let _ = stream.shutdown().await;
        let mut buf = [0u8; 4096];
        let mut left = 64 * 1024usize;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Tells a plaintext client (an HTTP/1 request or an HTTP/2 preface) to use TLS. What it sent
/// first is read (up to 16 KiB, 200 ms), so that closing does not reset the connection before
/// the answer is read.
async fn refuse_plaintext(mut stream: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    let _ = tokio::time::timeout(Duration::from_millis(200), async {
        let mut got = 0;
        while got < buf.len() {
            match stream.read(&mut buf[got..]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
            if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                return;
            }
        }
    })
    .await;
    let body = format!("{PLAINTEXT_REFUSAL}\n");
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

/// The name a certificate (DER) gives its holder: the subject's common name, else its first DNS
/// subject alternative name.
pub fn cert_name(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    if let Some(cn) = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
    {
        return Some(cn.to_string());
    }
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::DNSName(d) => Some(d.to_string()),
        _ => None,
    })
}

/// The name of a TLS connection's client certificate, if it presented one.
pub fn peer_cert_name(stream: &TlsStream<TcpStream>) -> Option<String> {
    let (_, conn) = stream.get_ref();
    conn.peer_certificates()?
        .first()
        .and_then(|c| cert_name(c.as_ref()))
}

/// The peer's address, for logs.
pub fn peer_addr(stream: &TlsStream<TcpStream>) -> Option<SocketAddr> {
    stream.get_ref().0.peer_addr().ok()
}

pub mod peers;

#[cfg(test)]
mod tests;
