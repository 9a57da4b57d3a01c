//! The echo family: method, args, headers and bodies (JSON, forms, multipart) sent back as JSON.

use super::*;

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
