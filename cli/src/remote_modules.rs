//! Remote modules (`import … from "https://jslib.k6.io/…"`) for `volley run`, `volley archive`
//! and `volley submit`: the CLI is the only Volley process that downloads code. Each URL is
//! fetched once and kept in an on-disk cache; the first init reads it from there, and archives
//! carry it to agents, which never fetch anything.
//!
//! The cache is a folder of files named by a digest of the URL (`$VOLLEY_MODULE_CACHE`, else
//! `$XDG_CACHE_HOME/volley/modules`, else `~/.cache/volley/modules`); a cached URL is not fetched
//! again, so delete the folder to pick up a changed module. TLS trusts the Mozilla roots plus,
//! as k6 (Go) does on Linux, the PEM certificates in the file `SSL_CERT_FILE` names — that is
//! how a private module server (or a test's self-signed one) is trusted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{pem::PemObject, CertificateDer};
use volley_agent::js::loader::{RemoteModules, RemoteSource};

/// How long one download may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest remote module accepted (the loader's own limit).
const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Downloads remote modules through an on-disk cache.
pub struct Fetcher {
    cache: Option<PathBuf>,
    /// Per process: a URL is read once even when several runs' first inits ask for it.
    seen: Mutex<HashMap<String, Result<String, String>>>,
}

/// The remote-module source for this process's runs.
pub fn source() -> RemoteSource {
    RemoteSource(Arc::new(Fetcher {
        cache: cache_dir(),
        seen: Mutex::new(HashMap::new()),
    }))
}

fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("VOLLEY_MODULE_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("volley").join("modules")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("volley").join("modules")))
}

/// The cache file of `url`.
fn cache_file(dir: &Path, url: &str) -> PathBuf {
    use md5::{Digest, Md5};
    let hex: String = Md5::digest(url.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    dir.join(format!("{hex}.js"))
}

impl RemoteModules for Fetcher {
    fn fetch(&self, url: &str) -> Result<String, String> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = seen.get(url) {
            return r.clone();
        }
        let r = self.cached_or_download(url);
        seen.insert(url.to_string(), r.clone());
        r
    }
}

impl Fetcher {
    fn cached_or_download(&self, url: &str) -> Result<String, String> {
        let file = self.cache.as_deref().map(|d| cache_file(d, url));
        if let Some(source) = file
            .as_deref()
            .and_then(|f| std::fs::read_to_string(f).ok())
        {
            return Ok(source);
        }
        let source = download(url).map_err(|e| match &file {
            // Offline, or the server is gone: say where a copy would be read from.
            Some(f) => format!(
                "{e}; it is not in the module cache either (a copy saved as {} is used \
                 without downloading)",
                f.display()
            ),
            None => format!(
                "{e}; there is no module cache (set VOLLEY_MODULE_CACHE to a folder to keep \
                 downloaded modules)"
            ),
        })?;
        if let Some(file) = file {
            // A cache that cannot be written only costs a download next time.
            let written = file
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
                    std::fs::write(&tmp, &source)?;
                    std::fs::rename(&tmp, &file)
                });
            if let Err(e) = written {
                tracing::warn!(
                    "cannot cache remote module {url} in {}: {e}",
                    file.display()
                );
            }
        }
        Ok(source)
    }
}

fn download(url: &str) -> Result<String, String> {
    let fail = |why: String| format!("cannot download remote module {url}: {why}");
    let client = client().map_err(fail)?;
    // reqwest's own message repeats the URL: the reason is in its causes.
    let resp = client.get(url).send().map_err(|e| {
        fail(match std::error::Error::source(&e) {
            Some(cause) => error_chain(cause),
            None => e.to_string(),
        })
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!("the server answered {status}")));
    }
    if resp.content_length().is_some_and(|n| n > MAX_BYTES) {
        return Err(fail(format!("it is larger than {MAX_BYTES} bytes")));
    }
    // Read at most one byte more than allowed, whatever the server announced.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(resp, MAX_BYTES + 1), &mut bytes)
        .map_err(|e| fail(error_chain(&e)))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(fail(format!("it is larger than {MAX_BYTES} bytes")));
    }
    String::from_utf8(bytes).map_err(|_| fail("it is not UTF-8 text".into()))
}

/// An error with its causes (reqwest's own message is only "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn client() -> Result<reqwest::blocking::Client, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
        let certs = CertificateDer::pem_file_iter(&path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                format!(
                    "cannot read SSL_CERT_FILE {}: {e}",
                    Path::new(&path).display()
                )
            })?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("a certificate in SSL_CERT_FILE is invalid: {e}"))?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("cannot set up TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(10))
        .timeout(FETCH_TIMEOUT)
        .user_agent(concat!("volley/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot set up the HTTP client: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_modules_are_read_without_the_network() {
        let dir = std::env::temp_dir().join(format!("volley-module-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Port 9 on loopback refuses connections: only the cache can answer.
        let url = "https://127.0.0.1:9/lib.js";
        let f = Fetcher {
            cache: Some(dir.clone()),
            seen: Mutex::new(HashMap::new()),
        };
        let e = f.fetch(url).unwrap_err();
        assert!(
            e.starts_with("cannot download remote module https://127.0.0.1:9/lib.js: "),
            "{e}"
        );
        // Offline, the error says which cache file would have been used.
        let file = cache_file(&dir, url);
        assert!(
            e.ends_with(&format!(
                "; it is not in the module cache either (a copy saved as {} is used without \
                 downloading)",
                file.display()
            )),
            "{e}"
        );
        let f = Fetcher {
            cache: Some(dir.clone()),
            seen: Mutex::new(HashMap::new()),
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(cache_file(&dir, url), "export const x = 1;").unwrap();
        assert_eq!(f.fetch(url).unwrap(), "export const x = 1;");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
