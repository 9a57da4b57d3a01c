//! How the agent dials the controller's gRPC port: plain TCP for `http://`, TLS for
//! `https://` (never one for the other). TLS is tokio-rustls with the agent's
//! [`ClientTls`] (the Mozilla roots plus `--ca`, and `--cert`/`--key` for mTLS), offering
//! HTTP/2 by ALPN, through tonic's custom-connector hook: tonic is built without its own TLS, so
//! the one rustls configuration is the agent's. See docs/security.md#tls.

use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use volley_api::tls::ClientTls;

/// The error and all its causes, joined (tonic's own message is only "transport error").
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Opens a channel to `url` (`http://` or `https://host:port`).
pub async fn connect(url: &str, tls: &ClientTls) -> Result<Channel, DialError> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| DialError::Invalid(format!("invalid controller URL {url}: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    let connected = if url.starts_with("https://") {
        let config = Arc::new(tls.rustls_config(&[b"h2"]).map_err(DialError::Invalid)?);
        let connector = tower::service_fn(move |uri: http::Uri| {
            let config = config.clone();
            async move {
                let host = uri
                    .host()
                    .unwrap_or_default()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string();
                let port = uri.port_u16().unwrap_or(443);
                let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                let _ = tcp.set_nodelay(true);
                let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
                })?;
                let stream = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        });
        endpoint.connect_with_connector(connector).await
    } else if url.starts_with("http://") {
        endpoint.connect().await
    } else {
        return Err(DialError::Invalid(format!(
            "invalid controller URL {url}: start it with http:// or https://"
        )));
    };
    connected.map_err(|e| DialError::Failed(format!("cannot connect to {url}: {}", chain(&e))))
}

/// Why a channel could not be opened.
#[derive(Debug)]
pub enum DialError {
    /// The URL or the TLS settings cannot work: trying again will not help.
    Invalid(String),
    /// The controller could not be reached (yet).
    Failed(String),
}
