//! Cookies, redirects and authentication: the routes that keep or check state across requests.

use super::*;

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
