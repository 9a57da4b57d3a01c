//! Creating tests (both upload forms, their errors and limits) and reading them.

use super::*;

#[tokio::test]
async fn multipart_upload_creates_a_test() {
    let fake = seeded();
    let a = app(&fake);
    let tar = b"pretend tar \x00\x01\xff bytes".to_vec();
    let r = upload(
        &a,
        &[
            ("name", None, b"  checkout flow  "),
            ("project_id", None, b"7"),
            ("file", Some("test.tar"), &tar),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let t = &r.body["k6-test"];
    assert_eq!(t["name"], "checkout flow");
    assert_eq!(t["project_id"], 7);
    assert_eq!(keys(t), test_fields());
    let id = t["id"].as_u64().unwrap_or(0);
    assert_eq!(
        r.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some(format!("/loadtests/v2/tests/{id}").as_str())
    );
    fake.with(|s| {
        assert_eq!(
            s.created,
            vec![("checkout flow".to_string(), 7, tar.clone())]
        );
    });
}

#[tokio::test]
async fn multipart_accepts_k6_archive_field_and_default_project() {
    let fake = seeded();
    let a = app(&fake);
    let r = upload(
        &a,
        &[("k6_archive", Some("a.tar"), b"tar"), ("name", None, b"x")],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    fake.with(|s| assert_eq!(s.created[0].1, 0));
}

#[tokio::test]
async fn multipart_errors_are_400_and_name_the_field() {
    let a = app(&seeded());
    let cases: Vec<(Vec<Part>, &str, &str)> = vec![
        (vec![("file", Some("a.tar"), b"t")], "missing_field", "name"),
        (vec![("name", None, b"x")], "missing_field", "archive"),
        (
            vec![("name", None, b"x"), ("file", Some("a.tar"), b"")],
            "invalid_field",
            "empty",
        ),
        (
            vec![("name", None, b"   "), ("file", Some("a.tar"), b"t")],
            "invalid_field",
            "name",
        ),
        (
            vec![
                ("name", None, b"x"),
                ("project_id", None, b"seven"),
                ("file", Some("a"), b"t"),
            ],
            "invalid_field",
            "project_id",
        ),
        (
            vec![
                ("name", None, b"x"),
                ("colour", None, b"red"),
                ("file", Some("a"), b"t"),
            ],
            "invalid_field",
            "colour",
        ),
        (
            vec![
                ("name", None, b"x"),
                ("name", None, b"y"),
                ("file", Some("a"), b"t"),
            ],
            "invalid_multipart",
            "more than once",
        ),
        (
            vec![
                ("name", None, b"x"),
                ("file", Some("a"), b"t"),
                ("file", Some("b"), b"u"),
            ],
            "invalid_multipart",
            "more than once",
        ),
    ];
    for (parts, code, needle) in cases {
        let r = upload(&a, &parts).await;
        assert_eq!(assert_error(&r, 400), code, "{}", r.body);
        let msg = r.body["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{needle} not in: {msg}");
    }
}

#[tokio::test]
async fn malformed_multipart_is_400() {
    let a = app(&seeded());
    // No boundary parameter.
    let r = post(
        &a,
        "/loadtests/v2/tests",
        Some("multipart/form-data"),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_multipart");
    // Truncated body.
    let mut body = multipart(&[("name", None, b"x"), ("file", Some("a"), b"tar")]);
    body.truncate(body.len() - 20);
    let r = post(&a, "/loadtests/v2/tests", Some(&mp_type()), body).await;
    assert_eq!(assert_error(&r, 400), "invalid_multipart");
    // Garbage.
    let r = post(
        &a,
        "/loadtests/v2/tests",
        Some(&mp_type()),
        b"garbage".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_multipart");
}

#[tokio::test]
async fn json_upload_creates_a_test() {
    let fake = seeded();
    let a = app(&fake);
    let tar: Vec<u8> = (0u8..=255).cycle().take(1000).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&tar);
    let r = post_json(
        &a,
        "/loadtests/v2/tests",
        json!({"name": "api", "project_id": 3, "k6_archive": b64}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["k6-test"]["archive_size"], 1000);
    // Line-wrapped (as `base64` prints) and unpadded base64 work; project defaults to 0.
    let wrapped: String = b64
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    let r = post(
        &a,
        "/loadtests/v2/tests",
        Some("application/json; charset=utf-8"),
        json!({"name": "wrapped", "k6_archive": wrapped})
            .to_string()
            .into_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(b"ab");
    let r = post_json(
        &a,
        "/loadtests/v2/tests",
        json!({"name": "np", "k6_archive": unpadded}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    fake.with(|s| {
        assert_eq!(s.created[0], ("api".to_string(), 3, tar.clone()));
        assert_eq!(s.created[1], ("wrapped".to_string(), 0, tar.clone()));
        assert_eq!(s.created[2].2, b"ab".to_vec());
    });
}

#[tokio::test]
async fn json_upload_errors() {
    let a = app(&seeded());
    let cases = [
        (b"{not json".to_vec(), "invalid_json", "not valid"),
        (
            json!({"name": "x"}).to_string().into_bytes(),
            "missing_field",
            "k6_archive",
        ),
        (
            json!({"k6_archive": "dA=="}).to_string().into_bytes(),
            "missing_field",
            "name",
        ),
        (b"[]".to_vec(), "invalid_json", "JSON object"),
        (
            json!({"name": 5, "k6_archive": "dA=="})
                .to_string()
                .into_bytes(),
            "invalid_json",
            "field `name`",
        ),
        (
            json!({"name": "x", "k6_archive": "dA==", "nmae": 1})
                .to_string()
                .into_bytes(),
            "invalid_json",
            "nmae",
        ),
        (
            json!({"name": "x", "k6_archive": "!!!"})
                .to_string()
                .into_bytes(),
            "invalid_field",
            "base64",
        ),
        (
            json!({"name": "x", "project_id": -1, "k6_archive": "dA=="})
                .to_string()
                .into_bytes(),
            "invalid_json",
            "project_id",
        ),
        (
            json!({"name": "", "k6_archive": "dA=="})
                .to_string()
                .into_bytes(),
            "invalid_field",
            "name",
        ),
        (
            json!({"name": "x", "k6_archive": ""})
                .to_string()
                .into_bytes(),
            "invalid_field",
            "empty",
        ),
        (
            json!({"name": "a\u{7}b", "k6_archive": "dA=="})
                .to_string()
                .into_bytes(),
            "invalid_field",
            "control",
        ),
        (
            json!({"name": "n".repeat(257), "k6_archive": "dA=="})
                .to_string()
                .into_bytes(),
            "invalid_field",
            "256",
        ),
    ];
    for (body, code, needle) in cases {
        let r = post(&a, "/loadtests/v2/tests", Some("application/json"), body).await;
        assert_eq!(assert_error(&r, 400), code, "{}", r.body);
        let msg = r.body["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{needle} not in: {msg}");
    }
}

#[tokio::test]
async fn upload_with_wrong_content_type_is_415() {
    let a = app(&seeded());
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let r = post(&a, "/loadtests/v2/tests", ct, b"name=x".to_vec()).await;
        assert_eq!(assert_error(&r, 415), "unsupported_media_type");
    }
    let r = post(
        &a,
        "/loadtests/v2/tests?name=x",
        Some(&mp_type()),
        multipart(&[("name", None, b"x"), ("file", Some("a"), b"t")]),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_query");
}

#[tokio::test]
async fn service_errors_pass_through() {
    let a = app(&seeded());
    let r = upload(
        &a,
        &[("name", None, b"x"), ("file", Some("a"), b"not a tar")],
    )
    .await;
    assert_eq!(assert_error(&r, 422), "invalid_archive");
    assert_eq!(r.body["error"]["message"], "the archive is not a tar file");
    let r = upload(&a, &[("name", None, b"x"), ("file", Some("a"), b"boom")]).await;
    assert_eq!(assert_error(&r, 500), "internal_error");
}

#[tokio::test]
async fn body_limits_give_413_json() {
    let fake = seeded();
    let a = router_with_limits(
        fake.clone(),
        ApiLimits {
            max_upload_bytes: 4096,
            max_body_bytes: 64,
            ..ApiLimits::default()
        },
    );
    let big = vec![b'a'; 8192];
    let r = upload(&a, &[("name", None, b"x"), ("file", Some("a"), &big)]).await;
    assert_eq!(assert_error(&r, 413), "payload_too_large");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("4 KiB"), "{msg}");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&big);
    let r = post_json(
        &a,
        "/loadtests/v2/tests",
        json!({"name": "x", "k6_archive": b64}),
    )
    .await;
    assert_eq!(assert_error(&r, 413), "payload_too_large");
    // Under the limit it works.
    let r = upload(
        &a,
        &[("name", None, b"x"), ("file", Some("a"), &big[..1024])],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Small bodies have their own, smaller limit.
    let note = "n".repeat(100);
    let r = post_json(
        &a,
        "/loadtests/v2/tests/1/start-testrun",
        json!({"note": note}),
    )
    .await;
    assert_eq!(assert_error(&r, 413), "payload_too_large");
    let r = post_json(
        &a,
        "/loadtests/v2/runs/1/stop",
        json!({"stopped_by_id": 1, "x": note}),
    )
    .await;
    assert_eq!(assert_error(&r, 413), "payload_too_large");
}

#[tokio::test]
async fn default_upload_limit_is_80_mib() {
    assert_eq!(ApiLimits::default().max_upload_bytes, 80 * 1024 * 1024);
    let fake = seeded();
    let a = app(&fake);
    // Well above axum's 2 MB default, well below ours.
    let tar = vec![7u8; 3 * 1024 * 1024];
    let r = upload(&a, &[("name", None, b"big"), ("file", Some("a"), &tar)]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["k6-test"]["archive_size"], 3 * 1024 * 1024);
}

// Reading tests

#[tokio::test]
async fn list_and_read_tests() {
    let a = app(&seeded());
    let r = get(&a, "/loadtests/v2/tests").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["meta"]["count"], 2);
    let ids: Vec<u64> = r.body["k6-tests"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect();
    assert_eq!(ids, vec![1, 2], "sorted by id");
    assert_eq!(r.body["k6-tests"][0]["test_run_ids"], json!([1, 2, 3]));
    assert_eq!(r.body["k6-tests"][0]["last_test_run_id"], 3);

    let r = get(&a, "/loadtests/v2/tests?project_id=2").await;
    assert_eq!(r.body["meta"]["count"], 1);
    assert_eq!(r.body["k6-tests"][0]["id"], 2);

    let r = get(&a, "/loadtests/v2/tests?ids[]=2&ids[]=9&$select=id,name").await;
    assert_eq!(r.body["k6-tests"], json!([{"id": 2, "name": "test 2"}]));

    let r = get(&a, "/loadtests/v2/tests/1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(keys(&r.body["k6-test"]), test_fields());
    let r = get(&a, "/loadtests/v2/tests/1?$select=test_run_ids").await;
    assert_eq!(r.body, json!({"k6-test": {"test_run_ids": [1, 2, 3]}}));
}

#[tokio::test]
async fn test_read_errors() {
    let a = app(&seeded());
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests/99").await, 404),
        "test_not_found"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests/abc").await, 400),
        "invalid_id"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests/-1").await, 400),
        "invalid_id"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests?project_id=x").await, 400),
        "invalid_query"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests?offset=2").await, 400),
        "invalid_query"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/tests/1?$select=nope").await, 400),
        "unknown_select_field"
    );
}

/// A create's `Idempotency-Key` must be usable before anything is created: 1 to 255 visible
/// ASCII characters, given once (docs/rest-api.md#idempotency-keys).
#[tokio::test]
async fn a_malformed_idempotency_key_is_400_and_creates_nothing() {
    let fake = seeded();
    let a = app(&fake);
    let body = json!({"name": "x", "k6_archive": "dGFy"}).to_string();
    let long = "k".repeat(256);
    let keyed = |uri: &str, keys: &[&str]| {
        let mut b = Request::post(uri)
            .header(header::AUTHORIZATION, "Token unit-test")
            .header(header::CONTENT_TYPE, "application/json");
        for k in keys {
            b = b.header("Idempotency-Key", *k);
        }
        b.body(Body::from(body.clone())).unwrap()
    };
    let bad: [&[&str]; 4] = [&[""], &["has space"], &[&long], &["a", "b"]];
    for uri in ["/loadtests/v2/tests", "/loadtests/v2/tests/1/start-testrun"] {
        for keys in bad {
            let r = send(&a, keyed(uri, keys)).await;
            assert_eq!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{uri} {keys:?}: {}",
                r.body
            );
            assert_eq!(
                r.body["error"]["code"], "invalid_idempotency_key",
                "{}",
                r.body
            );
            assert!(
                r.body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Idempotency-Key")),
                "{}",
                r.body
            );
        }
    }
    fake.with(|s| assert!(s.created.is_empty() && s.started.is_empty()));
    // A good key goes through: a new test, 201, unmarked.
    let r = send(
        &a,
        keyed(
            "/loadtests/v2/tests",
            &["0b6f3d8e-1c1a-4f3e-9a51-2f0c9e6d7a10"],
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.headers.get("idempotent-replayed").is_none());
}
