//! HTTP to the processes under test on loopback: free ports (and ports kept off the ephemeral
//! range), requests through the project's REST client, and raw requests the client cannot
//! make.

use std::sync::OnceLock;

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A port on 127.0.0.1 that is free now and lies below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`, from which both `bind` to port 0 and every outgoing
/// connection take theirs), for a server that must listen on it again after a restart
/// (`crate::ha::Group`): with a port from [`free_port`], a busy machine's connections took it
/// now and then before the server bound it, or while it was down. Falls back to [`free_port`]
/// where the range leaves no room below it.
pub fn group_port() -> u16 {
    use std::hash::BuildHasher;
    use std::time::Instant;
    const FLOOR: u16 = 10_000;
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    if low <= FLOOR + 1_000 {
        return free_port();
    }
    for _ in 0..100 {
        // A random pick: test processes that run at once rarely meet.
        let pick = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
        let port = FLOOR + (pick % u64::from(low - FLOOR)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    free_port()
}

/// One HTTP request to `127.0.0.1:port` (a body is sent as `application/json`): returns the
/// status code and the body, whatever the status.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: std::time::Duration,
) -> std::io::Result<(u16, String)> {
    http_request_to(&format!("127.0.0.1:{port}"), method, path, body, timeout)
}

/// Like [`http_request`], to any `IP:PORT` (e.g. a controller on a test bridge). Requests go
/// through the project's REST client, one client (and its kept-alive connections) per
/// address and timeout.
pub fn http_request_to(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: std::time::Duration,
) -> std::io::Result<(u16, String)> {
    let client = rest_client(addr, timeout)?;
    let answer = match body {
        Some(b) => client.request_bytes(method, path, "application/json", b.as_bytes().to_vec()),
        None => client.request(method, path, None),
    }
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok((
        answer.status,
        String::from_utf8_lossy(&answer.body).into_owned(),
    ))
}

/// The REST client of `http://addr` with `timeout`, made once per address and timeout.
pub(crate) fn rest_client(
    addr: &str,
    timeout: std::time::Duration,
) -> std::io::Result<volley_api::client::Client> {
    type Clients =
        std::collections::HashMap<(String, std::time::Duration), volley_api::client::Client>;
    static CLIENTS: OnceLock<std::sync::Mutex<Clients>> = OnceLock::new();
    let mut clients = CLIENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(c) = clients.get(&(addr.to_string(), timeout)) {
        return Ok(c.clone());
    }
    let c = volley_api::client::Client::new(&format!("http://{addr}"))
        .and_then(|c| c.with_timeout(timeout))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    clients.insert((addr.to_string(), timeout), c.clone());
    Ok(c)
}

/// `PATCH path` with a JSON body on the REST API at `127.0.0.1:port` (1 s timeout).
pub fn http_patch(port: u16, path: &str, json: &str) -> std::io::Result<(u16, String)> {
    http_request(
        port,
        "PATCH",
        path,
        Some(json),
        std::time::Duration::from_secs(1),
    )
}

/// The k6 execution status number from `GET /v1/status` (`data.attributes.status`).
pub fn api_status(port: u16) -> Result<i64, String> {
    let (code, body) = http_request(
        port,
        "GET",
        "/v1/status",
        None,
        std::time::Duration::from_secs(1),
    )
    .map_err(|e| format!("GET /v1/status: {e}"))?;
    if code != 200 {
        return Err(format!("GET /v1/status answered {code}: {body}"));
    }
    let v: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| format!("GET /v1/status is not JSON ({e}): {body}"))?;
    v["data"]["attributes"]["status"]
        .as_i64()
        .ok_or_else(|| format!("GET /v1/status has no data.attributes.status: {body}"))
}

/// One raw HTTP/1.1 request (`head` without the final blank line; `Connection: close` and the
/// body's length are added) to `127.0.0.1:port`: the status and the body. For requests the
/// REST client cannot make on purpose (foreign `Origin`, a `text/plain` body, no headers).
pub fn raw_http(port: u16, head: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let req = format!(
        "{head}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {out:?}"));
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_is_bindable() {
        let port = free_port();
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok());
    }
}
