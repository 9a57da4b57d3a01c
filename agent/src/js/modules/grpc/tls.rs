//! `connect` over TLS (the default, `plaintext: false`), as k6 v1.1.0 does it: the run's TLS
//! options (`insecureSkipTLSVerify`, `tlsVersion`, `tlsCipherSuites`, the first `tlsAuth`
//! certificate; see [`crate::http::tls`]) with ALPN `h2`, or, when the script gives `connect` a
//! `tls` param `{cert, key, password, cacerts}`, those certificates instead of the run's (the
//! run's other TLS options still hold). Handshake failures are worded as
//! grpc-go words them for k6
//! ([docs/k6-compatibility.md](../../../../../docs/k6-compatibility.md#k6netgrpc)).

use std::sync::Arc;

use rquickjs::{Object, Value};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::ClientConfig;

use crate::http::error::alert_name;
use crate::http::tls::{client_config, Alpn, ClientCert, TlsSetup};
use crate::http::HttpShared;

/// `connect`'s `tls` param.
#[derive(Debug, Default)]
pub struct OwnTls {
    /// `cacerts`: PEM texts, one or several certificates each.
    cacerts: Vec<String>,
    /// `cert` and `key` (with `password`), used only when both are given, as in k6.
    client: Option<ClientCert>,
}

/// Reads the `tls` param. `Err` is k6's text (after `invalid grpc.connect() parameters: `).
pub fn own_tls(v: &Value<'_>) -> Result<Option<OwnTls>, String> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    let Some(o) = v.as_object().filter(|_| !v.is_array() && !v.is_function()) else {
        return Err(format!(
            "invalid tls value: '{}', expected (optional) keys: cert, key, password, and cacerts",
            json(v)
        ));
    };
    let text = |key: &str, what: &str| -> Result<Option<String>, String> {
        let v: Value = o.get(key).map_err(|e| e.to_string())?;
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        match v.as_string() {
            Some(s) => Ok(Some(s.to_string().map_err(|e| e.to_string())?)),
            None => Err(format!(
                "invalid tls {key} value: '{}', it needs to be {what}",
                json(v.as_value())
            )),
        }
    };
    let cert = text("cert", "a PEM formatted string")?;
    let key = text("key", "a PEM formatted string")?;
    let password = text("password", "a string")?;
    let cacerts = cacerts(o)?;
    let client = match (cert, key) {
        (Some(cert), Some(key)) if !cert.is_empty() && !key.is_empty() => Some(ClientCert {
            cert,
            key,
            password: password.filter(|p| !p.is_empty()),
        }),
        _ => None,
    };
    Ok(Some(OwnTls { cacerts, client }))
}

/// `cacerts`: a PEM string or an array of them.
fn cacerts(o: &Object<'_>) -> Result<Vec<String>, String> {
    let v: Value = o.get("cacerts").map_err(|e| e.to_string())?;
    if v.is_undefined() || v.is_null() {
        return Ok(Vec::new());
    }
    let refused = || {
        format!(
            "invalid tls cacerts value: '{}', it needs to be a string or an array of PEM \
             formatted strings",
            json(o.as_value())
        )
    };
    if let Some(s) = v.as_string() {
        return Ok(vec![s.to_string().map_err(|e| e.to_string())?]);
    }
    let a = v.as_array().ok_or_else(refused)?;
    let mut out = Vec::with_capacity(a.len());
    for item in a.iter::<Value>() {
        let item = item.map_err(|e| e.to_string())?;
        let s = item.as_string().ok_or_else(refused)?;
        out.push(s.to_string().map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// A value as JSON, for error texts (its type name when it has none).
fn json(v: &Value<'_>) -> String {
    v.ctx()
        .json_stringify(v.clone())
        .ok()
        .flatten()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| v.type_name().to_owned())
}

/// The client config of a connection: the run's, or one built from the `tls` param. `Err` is
/// k6's text for certificates that cannot be read.
pub fn config(shared: &HttpShared, own: Option<&OwnTls>) -> Result<Arc<ClientConfig>, String> {
    if let Some(refused) = &shared.tls_refused {
        return Err(refused.clone());
    }
    let Some(own) = own else {
        return Ok(shared.grpc_tls.clone());
    };
    let mut roots = Vec::new();
    for (i, pem) in own.cacerts.iter().enumerate() {
        let before = roots.len();
        roots.extend(CertificateDer::pem_slice_iter(pem.as_bytes()).filter_map(Result::ok));
        if roots.len() == before {
            return Err(format!("failed to append ca certificate [{i}] from PEM"));
        }
    }
    if let Some(c) = &own.client {
        c.identity()?;
    }
    let cfg = shared.config();
    client_config(&TlsSetup {
        insecure_skip_verify: cfg.insecure_skip_tls_verify,
        versions: cfg.tls_versions,
        suites: &cfg.tls_cipher_suites,
        roots: (!roots.is_empty()).then_some(roots.as_slice()),
        client: own.client.as_ref(),
        choose_from: &[],
        alpn: Alpn::H2,
    })
    .map_err(|e| e.to_string())
}

/// grpc-go's words for a failed handshake, as k6 shows them (after `connection error: desc =`),
/// and whether grpc-go tries again until `connect`'s timeout (it does, except when the
/// server refused the handshake with an alert).
pub fn handshake_failure(e: &rustls::Error) -> (String, bool) {
    let retry = !matches!(e, rustls::Error::AlertReceived(_));
    (
        format!("transport: authentication handshake failed: {}", go_text(e)),
        retry,
    )
}

/// grpc-go's words for a server that completed the handshake without choosing `h2`.
pub const NO_ALPN: &str = "transport: authentication handshake failed: credentials: cannot check \
     peer: missing selected ALPN property. If you upgraded from a grpc-go version earlier than \
     1.67, your TLS connections may have stopped working due to ALPN enforcement. For more \
     details, see: https://github.com/grpc/grpc-go/issues/434";

/// A TLS error as Go's `crypto/tls` and `crypto/x509` word it.
pub fn go_text(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let verify = |x509: String| format!("tls: failed to verify certificate: x509: {x509}");
    match e {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            verify("certificate signed by unknown authority".into())
        }
        rustls::Error::InvalidCertificate(C::NotValidForNameContext {
            expected,
            presented,
        }) => verify(name_mismatch(&expected.to_str(), presented)),
        rustls::Error::InvalidCertificate(C::NotValidForName) => {
            verify("certificate is not valid for the name it was asked for".into())
        }
        rustls::Error::InvalidCertificate(C::ExpiredContext { time, not_after }) => {
            verify(format!(
                "certificate has expired or is not yet valid: current time {} is after {}",
                rfc3339(time),
                rfc3339(not_after)
            ))
        }
        rustls::Error::InvalidCertificate(C::NotValidYetContext { time, not_before }) => {
            verify(format!(
                "certificate has expired or is not yet valid: current time {} is before {}",
                rfc3339(time),
                rfc3339(not_before)
            ))
        }
        rustls::Error::InvalidCertificate(C::Expired | C::NotValidYet) => {
            verify("certificate has expired or is not yet valid".into())
        }
        rustls::Error::InvalidMessage(_) => {
            "tls: first record does not look like a TLS handshake".into()
        }
        rustls::Error::AlertReceived(a) => format!("remote error: tls: {}", alert_name(*a)),
        other => format!("tls: {other}"),
    }
}

/// Go's x509 text for a certificate that does not name the host. `presented` are the
/// certificate's names as rustls lists them (`DnsName("a.test")`, `IpAddress(127.0.0.1)`).
fn name_mismatch(expected: &str, presented: &[String]) -> String {
    let wanted_ip = expected.parse::<std::net::IpAddr>().is_ok();
    let names: Vec<&str> = presented
        .iter()
        .filter_map(|p| {
            let inner = |prefix: &str| p.strip_prefix(prefix).and_then(|r| r.strip_suffix(')'));
            match (inner("DnsName(\""), inner("IpAddress(")) {
                (Some(dns), _) if !wanted_ip => Some(dns.trim_end_matches('"')),
                (_, Some(ip)) if wanted_ip => Some(ip),
                _ => None,
            }
        })
        .collect();
    match (wanted_ip, names.is_empty()) {
        (true, true) => format!(
            "cannot validate certificate for {expected} because it doesn't contain any IP SANs"
        ),
        (false, true) => {
            format!("certificate is not valid for any names, but wanted to match {expected}")
        }
        _ => format!(
            "certificate is valid for {}, not {expected}",
            names.join(", ")
        ),
    }
}

fn rfc3339(t: &rustls::pki_types::UnixTime) -> String {
    volley_common::time::rfc3339(t.as_secs() as i64, 0, false)
}

/// The rustls error somewhere in an error's sources (tokio-rustls and hyper wrap it in
/// `io::Error`s).
pub fn rustls_error_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(t) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(t);
            }
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_failures_are_worded_as_go_words_them() {
        use rustls::CertificateError as C;
        assert_eq!(
            go_text(&rustls::Error::InvalidCertificate(C::UnknownIssuer)),
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
        );
        let mismatch = |expected: &str, presented: &[&str]| {
            go_text(&rustls::Error::InvalidCertificate(
                C::NotValidForNameContext {
                    expected: rustls::pki_types::ServerName::try_from(expected.to_owned()).unwrap(),
                    presented: presented.iter().map(|s| s.to_string()).collect(),
                },
            ))
        };
        assert!(mismatch("localhost", &["IpAddress(127.0.0.1)"]).ends_with(
            "x509: certificate is not valid for any names, but wanted to match localhost"
        ));
        assert!(
            mismatch("a.test", &["DnsName(\"b.test\")", "DnsName(\"c.test\")"])
                .ends_with("x509: certificate is valid for b.test, c.test, not a.test")
        );
        assert!(mismatch("127.0.0.2", &["IpAddress(127.0.0.1)"])
            .ends_with("x509: certificate is valid for 127.0.0.1, not 127.0.0.2"));
        assert!(mismatch("127.0.0.2", &["DnsName(\"b.test\")"]).ends_with(
            "x509: cannot validate certificate for 127.0.0.2 because it doesn't contain any IP SANs"
        ));
        let (text, retry) = handshake_failure(&rustls::Error::AlertReceived(
            rustls::AlertDescription::ProtocolVersion,
        ));
        assert_eq!(
            text,
            "transport: authentication handshake failed: remote error: tls: protocol version not \
             supported"
        );
        assert!(!retry);
        assert_eq!(
            alert_name(rustls::AlertDescription::CertificateRequired),
            "certificate required"
        );
        assert_eq!(
            alert_name(rustls::AlertDescription::BadRecordMac),
            "bad record mac"
        );
    }
}
