//! k6 error codes and messages for failed HTTP requests.
//!
//! k6 reports every failed request with a numeric `error_code` and a short, normalised `error`
//! string (both end up as metric tags, so the messages are deliberately low-cardinality: for
//! example every refused connection is `dial: connection refused`, whatever the address). The
//! codes and messages below follow the public k6 documentation
//! (<https://grafana.com/docs/k6/latest/javascript-api/error-codes/>) and the messages k6 v1.x
//! prints; the mapping from Rust errors (io, hyper, rustls) is ours.

use std::io;

/// A generic error that is none of the others.
pub const GENERIC: u32 = 1000;
/// A non-TCP network error (kept for completeness; k6 knows nothing that triggers it).
pub const NON_TCP_NETWORK: u32 = 1010;
/// The URL cannot be requested (no host, for example).
pub const INVALID_URL: u32 = 1020;
/// The request did not finish within its timeout.
pub const REQUEST_TIMEOUT: u32 = 1050;
/// A DNS error that is none of the others.
pub const DNS_GENERIC: u32 = 1100;
/// The host name resolved to no address.
pub const DNS_NO_SUCH_HOST: u32 = 1101;
/// The address is in a `blacklistIPs` range (or refused by an agent's target policy).
pub const BLACKLISTED_IP: u32 = 1110;
/// The host name matches a `blockHostnames` pattern (or an agent's target policy names it).
pub const BLOCKED_HOSTNAME: u32 = 1111;
/// A TCP error that is none of the others.
pub const TCP_GENERIC: u32 = 1200;
/// A write hit a closed connection ("broken pipe").
pub const TCP_BROKEN_PIPE: u32 = 1201;
/// An operating-system error (errno) we do not recognise, outside of dialling.
pub const TCP_UNKNOWN_ERRNO: u32 = 1202;
/// A general TCP dial error.
pub const TCP_DIAL: u32 = 1210;
/// The TCP dial timed out.
pub const TCP_DIAL_TIMEOUT: u32 = 1211;
/// The other side refused the TCP connection.
pub const TCP_DIAL_REFUSED: u32 = 1212;
/// An operating-system error (errno) we do not recognise, while dialling.
pub const TCP_DIAL_UNKNOWN_ERRNO: u32 = 1213;
/// The connection was reset by the peer.
pub const TCP_RESET_BY_PEER: u32 = 1220;
/// A TLS error that is none of the others.
pub const TLS_GENERIC: u32 = 1300;
/// The peer did not speak TLS (k6's "tls: first record does not look like a TLS handshake").
pub const TLS_RECORD_HEADER: u32 = 1301;
/// The certificate was issued by an unknown authority.
pub const TLS_UNKNOWN_AUTHORITY: u32 = 1310;
/// The certificate does not match the host name.
pub const TLS_HOSTNAME_MISMATCH: u32 = 1311;
/// The response body could not be decompressed.
pub const DECOMPRESSION: u32 = 1701;

/// The `error_code` k6 gives a response that arrived fine but has status ≥ 400:
/// `1000 + status` (so 404 → 1404, 503 → 1503), with no `error` message. 0 otherwise.
pub fn code_for_status(status: u16) -> u32 {
    if status >= 400 {
        1000 + u32::from(status)
    } else {
        0
    }
}

/// A failed request, as k6 reports it: a code from the table above and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestError {
    pub code: u32,
    pub message: String,
    /// The longer explanation k6 logs and throws (`IP (…) is in a blacklisted range (…)`)
    /// where the short message is a fixed tag value.
    pub detail: Option<String>,
}

impl RequestError {
    /// A dial failure in k6's words, as its socket modules (`k6/ws`, `k6/websockets`,
    /// `k6/net/grpc`) say it: the full text of a refused target, Go's text for a refused
    /// connection, else the HTTP client's message.
    pub fn dial_text(&self, host: &str, port: u16) -> String {
        if self.code == TCP_DIAL_REFUSED {
            return format!("dial tcp {host}:{port}: connect: connection refused");
        }
        match &self.detail {
            Some(d) if self.code != DNS_NO_SUCH_HOST && self.code != TCP_DIAL_TIMEOUT => d.clone(),
            _ => self.message.clone(),
        }
    }

    pub fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn timeout() -> Self {
        Self::new(REQUEST_TIMEOUT, "request timeout")
    }

    /// A failed name lookup. The resolver's messages vary by platform, so anything that says the
    /// name does not exist becomes k6's fixed `lookup: no such host`.
    pub fn from_dns(host: &str, err: &io::Error) -> Self {
        let text = err.to_string();
        let lower = text.to_ascii_lowercase();
        if lower.contains("not known")
            || lower.contains("no address")
            || lower.contains("not found")
            || lower.contains("no such host")
            || lower.contains("nodename nor servname")
        {
            Self::no_such_host(host)
        } else {
            Self::new(DNS_GENERIC, format!("lookup {host}: {text}"))
        }
    }

    /// A name that resolved to nothing: k6's fixed message, and Go's text naming the name and
    /// the DNS server asked (the first of `/etc/resolv.conf`, as Go's resolver asks it).
    pub fn no_such_host(host: &str) -> Self {
        Self::new(DNS_NO_SUCH_HOST, "lookup: no such host")
            .with_detail(format!("lookup {host} on {}: no such host", dns_server()))
    }

    /// A failed TCP connect to `addr`; Go's text (`dial tcp 127.0.0.1:1: connect: connection
    /// refused`) is what k6 logs and throws.
    pub fn from_connect(addr: &str, err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::ConnectionRefused => {
                Self::new(TCP_DIAL_REFUSED, "dial: connection refused")
                    .with_detail(format!("dial tcp {addr}: connect: connection refused"))
            }
            io::ErrorKind::TimedOut => Self::new(TCP_DIAL_TIMEOUT, "dial: i/o timeout")
                .with_detail(format!("dial tcp {addr}: i/o timeout")),
            _ => match err.raw_os_error() {
                Some(errno) => Self::new(
                    TCP_DIAL_UNKNOWN_ERRNO,
                    format!("dial: unknown errno {errno} error with msg `{err}`"),
                ),
                None => Self::new(TCP_DIAL, format!("dial tcp {addr}: {err}")),
            },
        }
    }

    /// An IO error on an established connection; `op` is "read" or "write" as in k6's messages.
    pub fn from_io(op: &str, err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
                Self::new(TCP_RESET_BY_PEER, format!("{op}: connection reset by peer"))
            }
            io::ErrorKind::BrokenPipe => Self::new(TCP_BROKEN_PIPE, format!("{op}: broken pipe")),
            io::ErrorKind::UnexpectedEof => Self::new(GENERIC, "unexpected EOF"),
            _ => {
                if let Some(tls) = tls_error_in(err) {
                    return Self::from_rustls(tls);
                }
                match err.raw_os_error() {
                    Some(errno) => Self::new(
                        TCP_UNKNOWN_ERRNO,
                        format!(
                            "{op}: unknown errno `{errno}` on {} with message `{err}`",
                            std::env::consts::OS
                        ),
                    ),
                    None => Self::new(TCP_GENERIC, format!("{op}: {err}")),
                }
            }
        }
    }

    /// A failed TLS handshake (tokio-rustls wraps the rustls error in an io::Error).
    pub fn from_tls_handshake(err: &io::Error) -> Self {
        match tls_error_in(err) {
            Some(tls) => Self::from_rustls(tls),
            None => match err.kind() {
                // The server hung up mid-handshake: Go reports this as a plain EOF.
                io::ErrorKind::UnexpectedEof => Self::new(GENERIC, "EOF"),
                _ => Self::from_io("read", err),
            },
        }
    }

    pub fn from_rustls(err: &rustls::Error) -> Self {
        use rustls::CertificateError as C;
        match err {
            rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
                Self::new(TLS_UNKNOWN_AUTHORITY, "x509: unknown authority")
            }
            rustls::Error::InvalidCertificate(C::NotValidForName)
            | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => Self::new(
                TLS_HOSTNAME_MISMATCH,
                "x509: certificate doesn't match hostname",
            ),
            // The server's alert, e.g. for a missing client certificate (`tlsAuth`): Go's words
            // and k6's code.
            rustls::Error::AlertReceived(a) => Self::new(
                NON_TCP_NETWORK,
                format!("remote error: tls: {}", alert_name(*a)),
            ),
            rustls::Error::InvalidMessage(_) => Self::new(
                TLS_RECORD_HEADER,
                "tls: first record does not look like a TLS handshake",
            ),
            other => Self::new(TLS_GENERIC, format!("tls: {other}")),
        }
    }

    /// An error from hyper while sending the request or reading the response.
    pub fn from_hyper(err: &hyper::Error) -> Self {
        if let Some(io_err) = io_error_in(err) {
            return Self::from_io("read", io_err);
        }
        if err.is_incomplete_message() || err.is_canceled() || err.is_closed() {
            // The server closed the connection before a full response: Go says "EOF".
            return Self::new(GENERIC, "EOF");
        }
        if err.is_timeout() {
            return Self::timeout();
        }
        Self::new(GENERIC, err.to_string())
    }
}

/// An alert's name as Go prints it (`remote error: tls: certificate required`).
pub(crate) fn alert_name(a: rustls::AlertDescription) -> String {
    use rustls::AlertDescription as A;
    match a {
        A::HandshakeFailure => "handshake failure".into(),
        A::BadCertificate => "bad certificate".into(),
        A::UnsupportedCertificate => "unsupported certificate".into(),
        A::CertificateExpired => "expired certificate".into(),
        A::CertificateUnknown => "unknown certificate".into(),
        A::UnknownCA => "unknown certificate authority".into(),
        A::AccessDenied => "access denied".into(),
        A::ProtocolVersion => "protocol version not supported".into(),
        A::InsufficientSecurity => "insufficient security level".into(),
        A::InternalError => "internal error".into(),
        A::CertificateRequired => "certificate required".into(),
        A::NoApplicationProtocol => "no application protocol".into(),
        A::IllegalParameter => "illegal parameter".into(),
        A::DecodeError => "error decoding message".into(),
        A::DecryptError => "error decrypting message".into(),
        A::UnrecognisedName => "unrecognized name".into(),
        other => {
            // rustls names the rest in CamelCase: split it into Go's lower-case words.
            let name = format!("{other:?}");
            let mut out = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push(' ');
                }
                out.push(c.to_ascii_lowercase());
            }
            out
        }
    }
}

/// Walks an error's source chain looking for an io::Error.
fn io_error_in<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io_err) = e.downcast_ref::<io::Error>() {
            return Some(io_err);
        }
        cur = e.source();
    }
    None
}

/// The rustls error inside an io::Error (tokio-rustls reports TLS failures that way).
fn tls_error_in(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Errors building the per-run HTTP state ([`super::HttpShared::new`]).
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    /// rustls refused the TLS client configuration.
    #[error("cannot build the TLS client configuration for HTTP requests: {0} (check the TLS options, e.g. insecureSkipTLSVerify)")]
    Tls(#[source] rustls::Error),
    /// A TLS option is wrong (`tlsVersion`, `tlsAuth`); the text names it.
    #[error("{0}")]
    Options(String),
}

/// The DNS server Go's resolver asks first, as its errors name it: the first `nameserver` of
/// `/etc/resolv.conf` with port 53 (Go's default, `127.0.0.1:53`, without one).
fn dns_server() -> &'static str {
    static SERVER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| {
        let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        first_nameserver(&conf)
    })
}

fn first_nameserver(conf: &str) -> String {
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.split_whitespace().next())
        .find_map(|ip| ip.parse::<std::net::IpAddr>().ok())
        .map(|ip| std::net::SocketAddr::new(ip, 53).to_string())
        .unwrap_or_else(|| "127.0.0.1:53".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_map_to_1400_and_1500_ranges() {
        assert_eq!(code_for_status(200), 0);
        assert_eq!(code_for_status(302), 0);
        assert_eq!(code_for_status(404), 1404);
        assert_eq!(code_for_status(503), 1503);
    }

    #[test]
    fn connect_errors_follow_k6_messages() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let e = RequestError::from_connect("127.0.0.1:1", &refused);
        assert_eq!(
            (e.code, e.message.as_str()),
            (1212, "dial: connection refused")
        );
        assert_eq!(
            e.detail.as_deref(),
            Some("dial tcp 127.0.0.1:1: connect: connection refused")
        );

        let timeout = io::Error::from(io::ErrorKind::TimedOut);
        let e = RequestError::from_connect("127.0.0.1:1", &timeout);
        assert_eq!((e.code, e.message.as_str()), (1211, "dial: i/o timeout"));

        let other = io::Error::from_raw_os_error(101); // ENETUNREACH on Linux
        let e = RequestError::from_connect("10.0.0.1:80", &other);
        assert!(
            e.code == TCP_DIAL_UNKNOWN_ERRNO || e.code == TCP_DIAL,
            "{e:?}"
        );

        let plain = io::Error::other("weird");
        assert_eq!(RequestError::from_connect("h:1", &plain).code, TCP_DIAL);
    }

    /// The server's alert for a missing client certificate (`tlsAuth`), wrapped in an io::Error
    /// as tokio-rustls does, as `convert` reports it: Go's words and k6's code.
    fn assert_certificate_required(convert: impl Fn(&io::Error) -> RequestError) {
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        );
        let e = convert(&alert);
        assert_eq!(
            (e.code, e.message.as_str()),
            (1010, "remote error: tls: certificate required")
        );
    }

    #[test]
    fn io_errors_follow_k6_messages() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let e = RequestError::from_io("read", &reset);
        assert_eq!(
            (e.code, e.message.as_str()),
            (1220, "read: connection reset by peer")
        );
        let pipe = io::Error::from(io::ErrorKind::BrokenPipe);
        let e = RequestError::from_io("write", &pipe);
        assert_eq!((e.code, e.message.as_str()), (1201, "write: broken pipe"));
        assert_certificate_required(|e| RequestError::from_io("read", e));
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(RequestError::from_io("read", &eof).code, GENERIC);
    }

    #[test]
    fn dns_errors_distinguish_missing_hosts() {
        let missing =
            io::Error::other("failed to lookup address information: Name or service not known");
        let e = RequestError::from_dns("nope.invalid", &missing);
        assert_eq!((e.code, e.message.as_str()), (1101, "lookup: no such host"));
        let detail = e.detail.unwrap_or_default();
        assert!(
            detail.starts_with("lookup nope.invalid on ") && detail.ends_with(":53: no such host"),
            "{detail}"
        );
        assert_eq!(
            first_nameserver("# x\nsearch a\nnameserver 10.255.255.53\nnameserver 1.1.1.1\n"),
            "10.255.255.53:53"
        );
        assert_eq!(first_nameserver("nameserver ::1\n"), "[::1]:53");
        assert_eq!(first_nameserver(""), "127.0.0.1:53");
        let other = io::Error::other("Temporary failure in name resolution");
        let e = RequestError::from_dns("x.test", &other);
        assert_eq!(e.code, DNS_GENERIC);
        assert!(e.message.contains("x.test"));
    }

    #[test]
    fn tls_errors_map_to_1300s() {
        let e = RequestError::from_rustls(&rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert_eq!(
            (e.code, e.message.as_str()),
            (1310, "x509: unknown authority")
        );
        let e = RequestError::from_rustls(&rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName,
        ));
        assert_eq!(e.code, 1311);
        let e = RequestError::from_rustls(&rustls::Error::InvalidCertificate(
            rustls::CertificateError::Expired,
        ));
        assert_eq!(e.code, 1300);
        // tokio-rustls wraps the rustls error in an io::Error.
        let wrapped = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(RequestError::from_tls_handshake(&wrapped).code, 1310);
        assert_certificate_required(RequestError::from_tls_handshake);
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(RequestError::from_tls_handshake(&eof).message, "EOF");
    }

    #[test]
    fn timeout_is_1050() {
        let e = RequestError::timeout();
        assert_eq!((e.code, e.message.as_str()), (1050, "request timeout"));
    }
}
