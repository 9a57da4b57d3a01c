//! Pagination, scripts in views, the health of the store, concurrent uploads.

use super::*;

fn ids_of(body: &Value, list: &str) -> Vec<u64> {
    body[list]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn lists_are_paginated_with_the_total_count() {
    let a = app(&seeded());
    for (uri, ids, count) in [
        ("/loadtests/v2/runs?page_size=3", vec![1, 2, 3], 4),
        ("/loadtests/v2/runs?page_size=3&page=2", vec![4], 4),
        ("/loadtests/v2/runs?page_size=3&page=3", vec![], 4),
        ("/loadtests/v2/runs?page=1", vec![1, 2, 3, 4], 4),
        (
            "/loadtests/v2/runs?test_id=1&page_size=2&page=2",
            vec![3],
            3,
        ),
        (
            "/loadtests/v2/runs?ids[]=2&ids[]=4&page_size=1&page=2",
            vec![4],
            2,
        ),
    ] {
        let r = get(&a, uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        assert_eq!(ids_of(&r.body, "k6-runs"), ids, "{uri}");
        assert_eq!(r.body["meta"]["count"], count, "{uri}");
    }
    let r = get(&a, "/loadtests/v2/tests?page_size=1&page=2").await;
    assert_eq!(ids_of(&r.body, "k6-tests"), vec![2]);
    assert_eq!(r.body["meta"]["count"], 2);
    let r = get(&a, "/v1/agents?page_size=1&page=2").await;
    assert_eq!(r.body["agents"][0]["name"], "gen-2", "{}", r.body);
    assert_eq!(r.body["meta"]["count"], 2);
    // 1000 per page at most; 1000 is fine.
    let r = get(&a, "/loadtests/v2/runs?page_size=1000").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_page_values_are_400_naming_the_parameter() {
    let a = app(&seeded());
    for route in ["/loadtests/v2/runs", "/loadtests/v2/tests", "/v1/agents"] {
        for (query, field) in [
            ("page=0", "`page`"),
            ("page=-2", "`page`"),
            ("page=two", "`page`"),
            ("page_size=0", "`page_size`"),
            ("page_size=1001", "`page_size`"),
            ("page_size=", "`page_size`"),
        ] {
            let r = get(&a, &format!("{route}?{query}")).await;
            assert_eq!(assert_error(&r, 400), "invalid_query", "{route}?{query}");
            let msg = r.body["error"]["message"].as_str().unwrap_or("");
            assert!(msg.contains(field), "{route}?{query}: {msg}");
        }
    }
}

#[tokio::test]
async fn lists_leave_scripts_out_and_single_views_have_them() {
    let a = app(&seeded());
    let r = get(&a, "/loadtests/v2/runs").await;
    assert!(r.body["k6-runs"]
        .as_array()
        .is_some_and(|runs| runs.iter().all(|r| r["script"] == "")));
    let r = get(&a, "/loadtests/v2/tests").await;
    assert_eq!(r.body["k6-tests"][0]["script"], "");
    let r = get(&a, "/loadtests/v2/runs/4").await;
    assert_eq!(r.body["k6-run"]["script"], "// the script of test 2");
    let r = get(&a, "/loadtests/v2/tests/1").await;
    assert_eq!(r.body["k6-test"]["script"], "// the script of test 1");
}

#[tokio::test]
async fn health_reports_a_degraded_store_as_503() {
    let fake = seeded();
    let a = app(&fake);
    let r = get(&a, "/health").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "ok", "store": {"status": "ok"}}));
    fake.with(|s| {
        s.store = Some(crate::store::StoreHealth::Degraded {
            reason: "No space left on device (os error 28)".into(),
            since: "2026-01-01T00:00:00Z".into(),
            attempts: 3,
        })
    });
    let r = get(&a, "/health").await;
    assert_eq!(assert_error(&r, 503), "store_degraded");
    // Liveness stays yes; readiness says no without naming the error (probes are public).
    let live = get(&a, "/healthz").await;
    assert_eq!(
        (live.status, &live.body),
        (StatusCode::OK, &json!({"status": "ok"}))
    );
    let rz = get(&a, "/readyz").await;
    assert_eq!(assert_error(&rz, 503), "not_ready");
    let ready = rz.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        ready.contains("the store does not accept writes"),
        "{ready}"
    );
    assert!(!ready.contains("os error"), "{ready}");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    for part in [
        "No space left on device (os error 28)",
        "since 2026-01-01T00:00:00Z",
        "3 reopen attempts",
    ] {
        assert!(msg.contains(part), "{part}: {msg}");
    }
    assert!(r.headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn uploads_over_the_concurrency_limit_are_429_with_retry_after() {
    let fake = seeded();
    let a = router_with_limits(
        fake.clone(),
        ApiLimits {
            max_concurrent_uploads: 1,
            ..ApiLimits::default()
        },
    );
    // An upload whose body is still arriving holds the one permit.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let slow = Request::post("/loadtests/v2/tests")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
        .unwrap();
    let first = tokio::spawn(a.clone().oneshot(slow));
    tx.send(Ok(b"{\"name\": ".to_vec())).await.expect("send");
    let mut busy = None;
    for _ in 0..100 {
        let r = post_json(&a, "/loadtests/v2/tests", json!({})).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            busy = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let busy = busy.expect("a second upload is refused while the first is received");
    assert_eq!(assert_error(&busy, 429), "too_many_uploads");
    assert_eq!(
        busy.headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    // Other routes are not limited.
    assert_eq!(get(&a, "/loadtests/v2/runs").await.status, StatusCode::OK);
    // Once the first upload ends, the next one is taken.
    drop(tx);
    let _ = first.await;
    let r = post_json(&a, "/loadtests/v2/tests", json!({})).await;
    assert_eq!(assert_error(&r, 400), "missing_field");
}
