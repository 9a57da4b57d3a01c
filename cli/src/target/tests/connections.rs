//! Connections: keep-alive, pipelining, the raw path's routing, body limits and shutdown.

use super::*;

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
