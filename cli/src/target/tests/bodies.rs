//! Generated responses: status codes, delays, JSON, base64 and deterministic bytes.

use super::*;

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
