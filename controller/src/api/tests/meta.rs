//! The service routes: the index, health, unknown routes and wrong methods.

use super::*;

#[tokio::test]
async fn index_health_and_openapi() {
    let fake = seeded();
    let a = app(&fake);
    let r = get(&a, "/health").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!({"status": "ok", "store": {"status": "ok"}}));
    for probe in ["/healthz", "/readyz"] {
        let r = get(&a, probe).await;
        assert_eq!(
            (r.status, &r.body),
            (StatusCode::OK, &json!({"status": "ok"})),
            "{probe}"
        );
    }
    let r = get(&a, "/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["name"], "volley-controller");
    assert_eq!(r.body["links"]["openapi"], "/openapi.json");
    assert_eq!(r.body["links"]["runs"], "/loadtests/v2/runs");
    let r = get(&a, "/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["openapi"], "3.1.0");
    assert_eq!(&r.body, openapi_document());
}

#[tokio::test]
async fn a_group_member_is_ready_once_it_knows_the_leader() {
    use crate::store::Leadership;
    let fake = seeded();
    let a = app(&fake);
    for (leadership, ready) in [
        (Leadership::Unknown, false),
        (Leadership::Elsewhere { id: 2, api: None }, false),
        (
            Leadership::Elsewhere {
                id: 2,
                api: Some("https://c2:6565".into()),
            },
            true,
        ),
        (Leadership::Here, true),
    ] {
        fake.with(|s| s.leadership = Some(leadership.clone()));
        let r = get(&a, "/readyz").await;
        if ready {
            assert_eq!(r.status, StatusCode::OK, "{leadership:?}");
        } else {
            assert_eq!(assert_error(&r, 503), "not_ready", "{leadership:?}");
            assert_eq!(
                r.body["error"]["message"], "not ready: no Raft leader known yet",
                "{leadership:?}"
            );
        }
        // Alive all along: liveness never restarts a member waiting for an election.
        assert_eq!(get(&a, "/healthz").await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn unknown_route_is_json_404_with_slash_hint() {
    let a = app(&seeded());
    let r = get(&a, "/nope").await;
    assert_eq!(assert_error(&r, 404), "route_not_found");
    let r = get(&a, "/loadtests/v2/runs/").await;
    assert_eq!(assert_error(&r, 404), "route_not_found");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("`/loadtests/v2/runs`"), "{msg}");
    let r = get(&a, "/loadtests/v2/runs/1/nope").await;
    assert_eq!(assert_error(&r, 404), "route_not_found");
}

#[tokio::test]
async fn wrong_method_is_json_405_with_allow() {
    let a = app(&seeded());
    let r = send(
        &a,
        Request::delete("/loadtests/v2/tests")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&r, 405), "method_not_allowed");
    let allow = r
        .headers
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        allow.contains("GET") && allow.contains("POST"),
        "Allow: {allow}"
    );
    let r = get(&a, "/loadtests/v2/runs/1/stop").await;
    assert_eq!(assert_error(&r, 405), "method_not_allowed");
    let r = post(&a, "/v1/agents", None, vec![]).await;
    assert_eq!(assert_error(&r, 405), "method_not_allowed");
}
