//! The target over real connections: every endpoint family, keep-alive, pipelining, limits,
//! start-up and shutdown.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderMap;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::body::PATTERN;
use super::routes::read_body;
use super::*;

async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener));
    addr
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    sender.ready().await.unwrap();
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "target.test");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    send(&mut connect(addr).await, "GET", path, &[], b"").await
}

/// Reads raw bytes until `done` says the buffer is complete (or 5 s pass).
async fn read_until(stream: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut chunk = [0u8; 4096];
    while !done(&String::from_utf8_lossy(&buf)) {
        // A reset or EOF ends the read; the caller's assertion then shows what arrived.
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn root_is_small_ok_text() {
    let addr = start().await;
    let r = get(addr, "/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(&r.body[..], b"ok");
    assert_eq!(r.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(r.header("content-length"), "2");
}

#[tokio::test]
async fn keep_alive_serves_many_requests_on_one_connection() {
    let addr = start().await;
    let mut c = connect(addr).await;
    for i in 0..5 {
        assert_eq!(
            send(&mut c, "GET", "/", &[], b"").await.status,
            StatusCode::OK,
            "request {i}"
        );
    }
    assert_eq!(
        send(&mut c, "GET", "/nope", &[], b"").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(&mut c, "GET", "/status/503", &[], b"").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let r = send(&mut c, "POST", "/post", &[], b"hello").await;
    assert_eq!(r.json()["body"], "hello");
    assert_eq!(
        send(&mut c, "GET", "/bytes/100000", &[], b"")
            .await
            .body
            .len(),
        100_000
    );
    assert_eq!(
        send(&mut c, "GET", "/json", &[], b"").await.status,
        StatusCode::OK
    );
    assert!(!c.is_closed());
}

#[tokio::test]
async fn pipelined_raw_requests_all_answered_in_order() {
    let addr = start().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /status/201 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(req.as_bytes()).await.unwrap();
    let out = read_until(&mut s, |b| {
        b.matches("HTTP/1.1 ").count() == 3 && b.ends_with("ok")
    })
    .await;
    let statuses: Vec<&str> = out
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &out[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "201", "200"], "{out}");
}

#[tokio::test]
async fn status_endpoint_validates_codes() {
    let addr = start().await;
    for code in [200u16, 201, 204, 404, 418, 500, 599] {
        let r = get(addr, &format!("/status/{code}")).await;
        assert_eq!(r.status.as_u16(), code);
        assert!(r.body.is_empty());
    }
    let r = get(addr, "/status/302").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("location"), "/redirect/1");
    assert_eq!(
        get(addr, "/status/401").await.header("www-authenticate"),
        "Basic realm=\"Fake Realm\""
    );
    for bad in ["abc", "", "99", "600", "100", "199", "-1", "70000"] {
        let r = get(addr, &format!("/status/{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "/status/{bad}");
        assert!(r.json()["error"].as_str().unwrap().contains("/status/"));
    }
}

#[tokio::test]
async fn delay_waits_then_echoes() {
    let addr = start().await;
    let t = std::time::Instant::now();
    let r = get(addr, "/delay/120?x=1").await;
    assert!(t.elapsed() >= Duration::from_millis(120));
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["args"]["x"], "1");
    assert_eq!(
        get(addr, "/delay/abc").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(get(addr, "/delay/-5").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn json_has_nested_slideshow() {
    let addr = start().await;
    let r = get(addr, "/json").await;
    assert_eq!(r.header("content-type"), "application/json");
    let v = r.json();
    assert_eq!(v["slideshow"]["slides"].as_array().unwrap().len(), 2);
    assert_eq!(v["slideshow"]["title"], "Sample Slide Show");
    assert_eq!(
        v["slideshow"]["slides"][1]["items"][0],
        "Why <em>WonderWidgets</em> are great"
    );
}

#[tokio::test]
async fn echo_reports_method_args_headers_and_json_body() {
    let addr = start().await;
    let mut c = connect(addr).await;
    let r = send(
        &mut c,
        "PUT",
        "/echo?a=1&a=2&b=x%20y",
        &[
            ("x-test", "yes"),
            ("content-type", "application/json"),
            ("cookie", "c=1"),
        ],
        br#"{"k":[1,2]}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["url"], "http://target.test/echo?a=1&a=2&b=x%20y");
    assert_eq!(v["path"], "/echo");
    assert_eq!(v["args"], json!({"a": ["1", "2"], "b": "x y"}));
    assert_eq!(v["headers"]["X-Test"], "yes");
    assert_eq!(v["headers"]["Host"], "target.test");
    assert_eq!(v["headers"]["Cookie"], "c=1");
    assert_eq!(v["body"], r#"{"k":[1,2]}"#);
    assert_eq!(v["json"], json!({"k": [1, 2]}));
    assert_eq!(v["form"], json!({}));
    assert_eq!(v["origin"], "127.0.0.1");

    let r = send(&mut c, "GET", "/echo", &[], b"").await;
    let v = r.json();
    assert_eq!(v["json"], Value::Null);
    assert_eq!(v["body"], "");
    assert_eq!(v["args"], json!({}));
}

#[tokio::test]
async fn echo_parses_urlencoded_form_and_binary_body() {
    let addr = start().await;
    let mut c = connect(addr).await;
    let r = send(
        &mut c,
        "POST",
        "/anything",
        &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        b"name=volley&tag=a&tag=b&sp=x+y",
    )
    .await;
    let v = r.json();
    assert_eq!(
        v["form"],
        json!({"name": "volley", "tag": ["a", "b"], "sp": "x y"})
    );
    assert_eq!(v["json"], Value::Null);

    let r = send(
        &mut c,
        "POST",
        "/anything/deep/path",
        &[],
        &[0xff, 0x00, 0x01],
    )
    .await;
    let v = r.json();
    assert_eq!(v["path"], "/anything/deep/path");
    assert_eq!(v["body"], "data:application/octet-stream;base64,/wAB");
}

#[tokio::test]
async fn echo_parses_multipart_fields_and_files() {
    let addr = start().await;
    let body = "--XyZ\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue 1\r\n\
                --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n\
                --XyZ--\r\n";
    let r = send(
        &mut connect(addr).await,
        "POST",
        "/post",
        &[("content-type", "multipart/form-data; boundary=\"XyZ\"")],
        body.as_bytes(),
    )
    .await;
    let v = r.json();
    assert_eq!(v["form"], json!({"field": "value 1"}));
    assert_eq!(v["files"], json!({"file": "line1\r\nline2"}));
}

#[tokio::test]
async fn method_checked_echoes_reject_other_methods() {
    let addr = start().await;
    let mut c = connect(addr).await;
    for (path, method) in [
        ("/get", "GET"),
        ("/post", "POST"),
        ("/put", "PUT"),
        ("/patch", "PATCH"),
        ("/delete", "DELETE"),
    ] {
        let r = send(&mut c, method, path, &[], b"").await;
        assert_eq!(r.status, StatusCode::OK, "{method} {path}");
        assert_eq!(r.json()["method"], method);
        let wrong = if method == "POST" { "GET" } else { "POST" };
        let r = send(&mut c, wrong, path, &[], b"x").await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{wrong} {path}");
        assert!(r.header("allow").contains(method));
    }
    let r = send(&mut c, "HEAD", "/get", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn base64_gives_back_the_bytes_it_encodes() {
    let addr = start().await;
    for path in ["/base64/PGh0bWw-", "/base64/PGh0bWw-==="] {
        let r = get(addr, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(&r.body[..], &b"<html>"[..], "{path}");
    }
    let r = get(addr, "/base64/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    let r = get(addr, "/base64/not*base64").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bytes_are_deterministic_and_bounded() {
    let addr = start().await;
    let r = get(addr, "/bytes/1000").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/octet-stream");
    assert_eq!(r.header("content-length"), "1000");
    assert!(r
        .body
        .iter()
        .enumerate()
        .all(|(i, b)| *b == (i % 256) as u8));

    // Spans several pattern chunks, including a partial last one.
    let n = 3 * PATTERN.len() + 17;
    let r = get(addr, &format!("/bytes/{n}")).await;
    assert_eq!(r.body.len(), n);
    assert!(r
        .body
        .iter()
        .enumerate()
        .all(|(i, b)| *b == (i % 256) as u8));

    let r = get(addr, "/bytes/0").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());

    for bad in [
        format!("{}", MAX_BYTES + 1),
        "abc".into(),
        "99999999999999999999999".into(),
        "-1".into(),
    ] {
        let r = get(addr, &format!("/bytes/{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "/bytes/{bad}");
    }
    // The cap itself is allowed; HEAD shows its length without streaming it.
    let r = send(
        &mut connect(addr).await,
        "HEAD",
        &format!("/bytes/{MAX_BYTES}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-length"), MAX_BYTES.to_string());
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn cookies_set_redirect_read_and_delete() {
    let addr = start().await;
    let mut c = connect(addr).await;
    let r = send(&mut c, "GET", "/cookies/set?a=1&b=two", &[], b"").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("location"), "/cookies");
    let set: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set, ["a=1; Path=/", "b=two; Path=/"]);

    let r = send(
        &mut c,
        "GET",
        "/cookies",
        &[("cookie", "a=1; b=two"), ("cookie", "q=\"x\"")],
        b"",
    )
    .await;
    assert_eq!(
        r.json(),
        json!({"cookies": {"a": "1", "b": "two", "q": "x"}})
    );
    assert_eq!(
        send(&mut c, "GET", "/cookies", &[], b"").await.json(),
        json!({"cookies": {}})
    );

    let r = send(&mut c, "GET", "/cookies/set/sess/abc", &[], b"").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("set-cookie"), "sess=abc; Path=/");

    let r = send(&mut c, "GET", "/cookies/delete?a&b", &[], b"").await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("location"), "/cookies");
    let set: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(set.len(), 2);
    assert!(set[0].starts_with("a=; Expires=Thu, 01 Jan 1970") && set[0].contains("Max-Age=0"));

    for bad in [
        "/cookies/set?a=x%0d%0aEvil:1",
        "/cookies/set?a=b%3Bc",
        "/cookies/set?a%20b=1",
        "/cookies/delete?a%3Db",
        "/cookies/set/onlyname",
    ] {
        assert_eq!(
            send(&mut c, "GET", bad, &[], b"").await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn redirect_chain_ends_at_get() {
    let addr = start().await;
    let mut c = connect(addr).await;
    let mut path = "/redirect/3".to_owned();
    let mut hops = 0;
    loop {
        let r = send(&mut c, "GET", &path, &[], b"").await;
        if r.status != StatusCode::FOUND {
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.json()["path"], "/get");
            break;
        }
        path = r.header("location").to_owned();
        hops += 1;
    }
    assert_eq!(hops, 3);
    assert_eq!(
        send(&mut c, "GET", "/redirect/2", &[], b"")
            .await
            .header("location"),
        "/redirect/1"
    );
    assert_eq!(
        send(&mut c, "GET", "/relative-redirect/2", &[], b"")
            .await
            .header("location"),
        "/relative-redirect/1"
    );
    assert_eq!(
        send(&mut c, "GET", "/absolute-redirect/2", &[], b"")
            .await
            .header("location"),
        "http://target.test/absolute-redirect/1"
    );
    assert_eq!(
        send(&mut c, "GET", "/absolute-redirect/1", &[], b"")
            .await
            .header("location"),
        "http://target.test/get"
    );
    for bad in ["/redirect/0", "/redirect/x", "/redirect/"] {
        assert_eq!(
            send(&mut c, "GET", bad, &[], b"").await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn redirect_to_uses_url_and_status() {
    let addr = start().await;
    let mut c = connect(addr).await;
    let r = send(
        &mut c,
        "GET",
        "/redirect-to?url=http%3A%2F%2F127.0.0.1%2Fjson",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("location"), "http://127.0.0.1/json");
    let r = send(
        &mut c,
        "POST",
        "/redirect-to?url=/get&status_code=307",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(r.header("location"), "/get");
    for bad in [
        "/redirect-to",
        "/redirect-to?url=/x&status_code=200",
        "/redirect-to?url=/x&status_code=abc",
        "/redirect-to?url=%0a",
    ] {
        assert_eq!(
            send(&mut c, "GET", bad, &[], b"").await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn basic_auth_accepts_only_matching_credentials() {
    let addr = start().await;
    let mut c = connect(addr).await;
    let b64 = |s: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    };
    let r = send(
        &mut c,
        "GET",
        "/basic-auth/user/p%40ss",
        &[("authorization", &b64("user:p@ss"))],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"authenticated": true, "user": "user"}));
    // Colons are allowed in the password.
    let r = send(
        &mut c,
        "GET",
        "/basic-auth/u/a:b",
        &[("authorization", &b64("u:a:b"))],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    for auth in [
        Some(b64("user:wrong")),
        Some(b64("other:p@ss")),
        Some("Basic !!!".into()),
        Some("Bearer x".into()),
        None,
    ] {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let r = send(&mut c, "GET", "/basic-auth/user/p%40ss", &headers, b"").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(r.header("www-authenticate"), "Basic realm=\"Fake Realm\"");
        assert_eq!(r.json()["authenticated"], false);
    }
    assert_eq!(
        send(&mut c, "GET", "/basic-auth/only", &[], b"")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&mut c, "GET", "/basic-auth/%ff/x", &[], b"")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn bearer_requires_a_token() {
    let addr = start().await;
    let mut c = connect(addr).await;
    let r = send(
        &mut c,
        "GET",
        "/bearer",
        &[("authorization", "Bearer tok123")],
        b"",
    )
    .await;
    assert_eq!(r.json(), json!({"authenticated": true, "token": "tok123"}));
    let r = send(
        &mut c,
        "GET",
        "/bearer",
        &[("authorization", "Bearer ")],
        b"",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), "Bearer");
}

#[tokio::test]
async fn headers_ip_user_agent_html_and_not_found() {
    let addr = start().await;
    let mut c = connect(addr).await;
    let r = send(
        &mut c,
        "GET",
        "/headers",
        &[
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("user-agent", "volley/1"),
        ],
        b"",
    )
    .await;
    let v = r.json();
    assert_eq!(v["headers"]["X-Multi"], "a, b");
    assert_eq!(v["headers"]["User-Agent"], "volley/1");
    assert_eq!(
        send(&mut c, "GET", "/ip", &[], b"").await.json(),
        json!({"origin": "127.0.0.1"})
    );
    let r = send(
        &mut c,
        "GET",
        "/user-agent",
        &[("user-agent", "k6/1.1")],
        b"",
    )
    .await;
    assert_eq!(r.json(), json!({"user-agent": "k6/1.1"}));
    let r = send(&mut c, "GET", "/html", &[], b"").await;
    assert_eq!(r.header("content-type"), "text/html; charset=utf-8");
    assert!(std::str::from_utf8(&r.body)
        .unwrap()
        .contains("<h1>Volley target</h1>"));
    let r = send(&mut c, "GET", "/no/such/thing", &[], b"").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.json(),
        json!({"error": "not found", "path": "/no/such/thing"})
    );
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let addr = start().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        MAX_REQUEST_BODY + 1
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let out = read_until(&mut s, |b| b.contains("\r\n\r\n{") && b.ends_with('}')).await;
    assert!(out.starts_with("HTTP/1.1 413 "), "{out}");

    // A body without Content-Length (e.g. chunked) is cut off by the limit while reading.
    let big = Full::new(Bytes::from(vec![b'x'; MAX_REQUEST_BODY + 1]));
    let resp = read_body(&HeaderMap::new(), big).await.unwrap_err();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let exact = Full::new(Bytes::from(vec![b'x'; MAX_REQUEST_BODY]));
    assert_eq!(
        read_body(&HeaderMap::new(), exact).await.unwrap().len(),
        MAX_REQUEST_BODY
    );
}

#[tokio::test]
async fn chunked_oversized_body_over_the_wire_gets_413() {
    let addr = start().await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"POST /anything HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    // Exactly one byte over the limit and no terminating chunk: the server consumes everything
    // we send before answering, so its close cannot race with unread data (which would RST).
    let mut chunk = format!("{:x}\r\n", 1024 * 1024).into_bytes();
    chunk.extend_from_slice(&[b'y'; 1024 * 1024]);
    chunk.extend_from_slice(b"\r\n");
    for _ in 0..MAX_REQUEST_BODY / (1024 * 1024) {
        s.write_all(&chunk).await.unwrap();
    }
    s.write_all(b"1\r\ny\r\n").await.unwrap();
    let out = read_until(&mut s, |b| b.ends_with('}')).await;
    assert!(out.starts_with("HTTP/1.1 413 "), "{out}");
}

#[tokio::test]
async fn dropping_serve_closes_open_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(serve(listener));
    let mut c = connect(addr).await;
    assert_eq!(
        send(&mut c, "GET", "/", &[], b"").await.status,
        StatusCode::OK
    );
    task.abort();
    let _ = task.await;
    tokio::time::timeout(Duration::from_secs(5), async {
        while !c.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
}

/// Collects written text and hands each flushed chunk to a channel, like a parent process
/// reading the child's stdout.
struct ChannelWriter(std::sync::mpsc::Sender<String>, Vec<u8>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.1.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        let text = String::from_utf8_lossy(&std::mem::take(&mut self.1)).into_owned();
        let _ = self.0.send(text);
        Ok(())
    }
}

fn run_in_thread(threads: usize) {
    use std::io::{Read, Write as _};
    let (line_tx, line_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let cfg = TargetConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            threads,
        };
        run_until(&cfg, &mut ChannelWriter(line_tx, Vec::new()), async {
            let _ = stop_rx.await;
            Ok(())
        })
    });
    let line = line_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let addr: SocketAddr = line
        .trim_end()
        .strip_prefix("volley target listening on http://")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .parse()
        .unwrap();
    assert_ne!(addr.port(), 0, "the real bound port is printed");
    assert!(line.ends_with('\n'));

    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200 OK") && out.ends_with("\r\n\r\nok"),
        "{out}"
    );

    stop_tx.send(()).unwrap();
    server.join().unwrap().unwrap();
}

#[test]
fn run_until_prints_address_serves_and_stops_single_thread() {
    run_in_thread(1);
}

#[test]
fn run_until_prints_address_serves_and_stops_multi_thread() {
    run_in_thread(2);
}

#[test]
fn run_until_reports_bind_failure_with_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = TargetConfig {
        listen: taken.local_addr().unwrap(),
        threads: 1,
    };
    let mut out = Vec::new();
    let err = run_until(&cfg, &mut out, std::future::pending()).unwrap_err();
    assert!(
        format!("{err:#}").contains(&format!("--listen {}", cfg.listen)),
        "{err:#}"
    );
    assert!(out.is_empty());
}

#[test]
fn runtime_thread_counts() {
    assert!(build_runtime(0).is_ok());
    assert!(build_runtime(1).is_ok());
    assert!(build_runtime(3).is_ok());
}

#[tokio::test]
async fn routing_edges_follow_the_raw_path() {
    let addr = start().await;
    let mut c = connect(addr).await;
    // Empty and multi-segment parameters reach their handler, which rejects them.
    for bad in [
        "/status/",
        "/status/1/2",
        "/status/%32%30%30",
        "/delay/",
        "/bytes/",
        "/bytes/1/2",
        "/cookies/set/",
        "/basic-auth/",
    ] {
        assert_eq!(
            send(&mut c, "GET", bad, &[], b"").await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    // Paths are matched exactly: no trailing-slash or prefix leniency.
    for missing in [
        "/json/",
        "/status",
        "/redirect",
        "/ip/",
        "//",
        "/anythingelse",
    ] {
        let r = send(&mut c, "GET", missing, &[], b"").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(r.header("cache-control"), "no-store");
        assert_eq!(r.json()["path"], missing);
    }
    // Routes other than the method-checked echoes take any method.
    let r = send(&mut c, "POST", "/json", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["slideshow"]["title"], "Sample Slide Show");
    let r = send(&mut c, "DELETE", "/anything/", &[], b"").await;
    assert_eq!(r.json()["path"], "/anything/");
    let r = send(&mut c, "OPTIONS", "/", &[], b"").await;
    assert_eq!(&r.body[..], b"ok");
    // HEAD answers with the GET's length and no body.
    let r = send(&mut c, "HEAD", "/json", &[], b"").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert!(r.header("content-length").parse::<usize>().unwrap() > 100);
    // Path parameters of basic-auth and cookies are percent-decoded; a stray `%` stays.
    let r = send(&mut c, "GET", "/cookies/set/a/100%", &[], b"").await;
    assert_eq!(r.header("set-cookie"), "a=100%; Path=/");
}
