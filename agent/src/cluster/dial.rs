//! How the agent dials the controller's gRPC port: plain TCP for `http://`, TLS for
//! `https://` (never one for the other). TLS is tokio-rustls with the agent's
//! [`ClientTls`] (the Mozilla roots plus `--ca`, and `--cert`/`--key` for mTLS), offering
//! HTTP/2 by ALPN, through tonic's custom-connector hook: tonic is built without its own TLS, so
//! the one rustls configuration is the agent's. See docs/security.md#tls.
//!
//! Under TLS 1.3 the client's handshake is over before the controller has checked the client
//! certificate, so a refusal (a TLS alert) arrives on the connection after the channel is
//! open, and tonic reports it only as "connection closed". The connection's read and write
//! errors are therefore kept ([`IoErrors`]) for the failed link's message.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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

/// The first I/O error of a channel's TLS connection (e.g. "received fatal alert: UnknownCA"),
/// which tonic does not pass on.
#[derive(Debug, Clone, Default)]
pub struct IoErrors(Arc<Mutex<Option<String>>>);

impl IoErrors {
    fn record(&self, e: &std::io::Error) {
        let mut first = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(e.to_string());
        }
    }

    /// `error`, with the connection's I/O error appended when it says more.
    pub fn explain(&self, error: String) -> String {
        match self.0.lock().unwrap_or_else(|p| p.into_inner()).as_deref() {
            Some(io) if !error.contains(io) => format!("{error}: {io}"),
            _ => error,
        }
    }
}

/// A TLS stream whose read and write errors are kept in an [`IoErrors`].
struct Recorded<S> {
    inner: S,
    errors: IoErrors,
}

impl<S> Recorded<S> {
    fn keep<T>(&self, p: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        if let Poll::Ready(Err(e)) = &p {
            self.errors.record(e);
        }
        p
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let p = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.keep(p)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let p = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.keep(p)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let p = Pin::new(&mut self.inner).poll_flush(cx);
        self.keep(p)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The controllers' URLs of `--controller` (comma-separated), in order; never empty.
pub fn controller_urls(list: &str) -> Vec<String> {
    let urls: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(String::from)
        .collect();
    if urls.is_empty() {
        vec![list.to_string()]
    } else {
        urls
    }
}

/// Opens a channel to `url` (`http://` or `https://host:port`); `errors` receives its TLS
/// connection's I/O errors.
pub async fn connect(url: &str, tls: &ClientTls, errors: &IoErrors) -> Result<Channel, DialError> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| DialError::Invalid(format!("invalid controller URL {url}: {e}")))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true);
    let connected = if url.starts_with("https://") {
        let config = Arc::new(tls.rustls_config(&[b"h2"]).map_err(DialError::Invalid)?);
        let errors = errors.clone();
        let connector = tower::service_fn(move |uri: http::Uri| {
            let config = config.clone();
            let errors = errors.clone();
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
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(Recorded {
                    inner: stream,
                    errors,
                }))
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
