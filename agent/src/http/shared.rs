//! Per-run HTTP state: the options, the TLS config and hyper's connection settings, shared by
//! every VU's client and by the connection pool that dials for it.

use super::error::HttpSetupError;
use super::tls::{client_config, refusal, Alpn, TlsSetup};
use super::HttpConfig;

/// Per-run HTTP state shared by all VUs: the options, the TLS config and hyper's connection
/// settings. Build it once per run; it is `Send + Sync` and meant to sit in an `Arc`.
pub struct HttpShared {
    config: HttpConfig,
    pub(crate) tls: tokio_rustls::TlsConnector,
    /// `k6/net/grpc`'s TLS without its own `tls` param: ALPN h2, the first `tlsAuth`
    /// certificate presented.
    pub(crate) grpc_tls: std::sync::Arc<rustls::ClientConfig>,
    /// Why no TLS connection may be made (the TLS options leave no suite to offer; see
    /// [`refusal`]); connections fail with it instead of a handshake.
    pub(crate) tls_refused: Option<String>,
    pub(crate) h1: hyper::client::conn::http1::Builder,
    /// `userAgent` as a header value, made once (`None` when empty or not a valid value:
    /// requests then make it and report why it is invalid).
    pub(crate) user_agent: Option<http::HeaderValue>,
}

impl std::fmt::Debug for HttpShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpShared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl HttpShared {
    pub fn new(config: HttpConfig) -> Result<Self, HttpSetupError> {
        let mut setup = TlsSetup {
            insecure_skip_verify: config.insecure_skip_tls_verify,
            versions: config.tls_versions,
            suites: &config.tls_cipher_suites,
            roots: None,
            client: None,
            choose_from: &config.tls_auth,
            alpn: Alpn::Http1,
        };
        let tls = client_config(&setup)?;
        setup.client = config.tls_auth.first();
        setup.choose_from = &[];
        setup.alpn = Alpn::H2;
        let grpc_tls = client_config(&setup)?;
        let tls_refused = refusal(config.tls_versions, &config.tls_cipher_suites);
        let mut h1 = hyper::client::conn::http1::Builder::new();
        // Go (and so k6) sends canonical header names ("Content-Type"); some servers care.
        h1.title_case_headers(true);
        let user_agent = (!config.user_agent.is_empty())
            .then(|| http::HeaderValue::from_str(&config.user_agent).ok())
            .flatten();
        Ok(Self {
            user_agent,
            config,
            tls: tokio_rustls::TlsConnector::from(tls),
            grpc_tls,
            tls_refused,
            h1,
        })
    }

    pub fn config(&self) -> &HttpConfig {
        &self.config
    }
}
