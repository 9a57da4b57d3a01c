//! Writes on a follower of the Raft group (`super::super::leader`): redirected to the leader's
//! API with the path and query kept, or 503 with `Retry-After` while no leader is known; reads
//! and option validation are answered here, and a leader handles everything itself.

use super::*;
use crate::store::Leadership;

fn follower_of(api: Option<&str>) -> Arc<Fake> {
    let fake = seeded();
    fake.with(|s| {
        s.leadership = Some(Leadership::Elsewhere {
            id: 2,
            api: api.map(String::from),
        })
    });
    fake
}

#[tokio::test]
async fn a_follower_redirects_writes_to_the_leader_and_answers_reads() {
    let fake = follower_of(Some("http://10.0.0.2:6565/"));
    let app = app(&fake);
    let r = post_json(&app, "/loadtests/v2/tests/1/start-testrun?x=1", json!({})).await;
    assert_eq!(assert_error(&r, 307), "not_leader");
    assert_eq!(
        r.headers.get(header::LOCATION).unwrap(),
        "http://10.0.0.2:6565/loadtests/v2/tests/1/start-testrun?x=1"
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("node 2 is the Raft leader"),
        "{}",
        r.body
    );
    assert!(fake.with(|s| s.started.is_empty()), "nothing started here");
    let r = send(
        &app,
        Request::delete("/v1/tokens/1")
            .header(header::AUTHORIZATION, "Token unit-test")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&r, 307), "not_leader");

    // Reads are this node's own.
    let r = get(&app, "/loadtests/v2/runs").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Validating options changes nothing: any controller answers.
    let r = post_json(&app, "/v1/validate-options", json!({"options": {"vus": 1}})).await;
    assert_ne!(r.status, StatusCode::TEMPORARY_REDIRECT, "{}", r.body);
    // Unknown routes stay 404.
    let r = post_json(&app, "/v1/no-such-route", json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_a_known_leader_writes_wait_for_the_election() {
    for fake in [follower_of(None), {
        let f = seeded();
        f.with(|s| s.leadership = Some(Leadership::Unknown));
        f
    }] {
        let app = app(&fake);
        let r = post_json(&app, "/loadtests/v2/tests/1/start-testrun", json!({})).await;
        assert_eq!(assert_error(&r, 503), "no_leader");
        assert_eq!(r.headers.get(header::RETRY_AFTER).unwrap(), "1");
        assert!(fake.with(|s| s.started.is_empty()));
    }
}

#[tokio::test]
async fn the_leader_takes_writes_itself() {
    let fake = seeded();
    fake.with(|s| s.leadership = Some(Leadership::Here));
    let app = app(&fake);
    let r = post_json(&app, "/loadtests/v2/tests/1/start-testrun", json!({})).await;
    assert!(r.status.is_success(), "{}", r.body);
    assert_eq!(fake.with(|s| s.started.len()), 1);
}

fn raft_status(id: u64, leader: u64, term: u64) -> crate::replication::DriverStatus {
    crate::replication::DriverStatus {
        node: crate::replication::NodeStatus {
            id,
            role: if id == leader {
                crate::replication::Role::Leader
            } else {
                crate::replication::Role::Follower
            },
            term,
            leader,
            commit: 0,
            applied: 0,
            snapshot_index: 0,
            last_index: 0,
            matched: Vec::new(),
            voters: vec![1, 2, 3],
        },
        stopped: None,
        leader_changes: 1,
        peers: Default::default(),
    }
}

#[tokio::test]
async fn every_answer_of_a_group_member_names_the_leader_it_knows() {
    let fake = follower_of(Some("http://10.0.0.2:6565"));
    fake.with(|s| s.raft = Some(raft_status(1, 2, 7)));
    let group = app(&fake);
    let read = get(&group, "/loadtests/v2/runs").await;
    let redirected = post_json(&group, "/loadtests/v2/tests/1/start-testrun", json!({})).await;
    for r in [&read, &redirected] {
        assert_eq!(r.headers.get("volley-raft-leader").unwrap(), "2");
        assert_eq!(r.headers.get("volley-raft-term").unwrap(), "7");
    }
    // No leader known (an election), or no Raft at all: no header.
    fake.with(|s| s.raft = Some(raft_status(1, 0, 8)));
    let r = get(&group, "/loadtests/v2/runs").await;
    assert!(r.headers.get("volley-raft-leader").is_none());
    let single = seeded();
    let r = get(&app(&single), "/loadtests/v2/runs").await;
    assert!(r.headers.get("volley-raft-leader").is_none());
    assert!(r.headers.get("volley-raft-term").is_none());
}

// -------------------------------------------------------------------------------------------
// Forwarding (`super::super::forward`)

/// What the stand-in leader saw of each request it was sent.
#[derive(Default)]
struct Seen(Mutex<Vec<Value>>);

/// A stand-in leader on 127.0.0.1: it answers every request 201 with what it received
/// (method, path and query, a few headers, the body's length), naming itself node 2 in term
/// 9; `GET /v1/live/runs/1` answers a stream of two events.
async fn echo_leader() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = Router::new().fallback(echo).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

async fn echo(
    axum::extract::State(seen): axum::extract::State<Arc<Seen>>,
    req: Request<Body>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let h = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let mut echo = json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "authorization": h("authorization"),
        "request_id": h("x-request-id"),
        "forwarded_by": h("volley-forwarded-by"),
        "host": h("host"),
        "connection": h("connection"),
    });
    let live = parts.uri.path() == "/v1/live/runs/1";
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    echo["body_len"] = json!(body.len());
    seen.0.lock().unwrap().push(echo.clone());
    let named = [("volley-raft-leader", "2"), ("volley-raft-term", "9")];
    if live {
        let events = tokio_stream::iter(["data: one\n\n", "data: two\n\n"])
            .map(|e| Ok::<_, std::convert::Infallible>(e.to_string()));
        return (
            named,
            [(header::CONTENT_TYPE, "text/event-stream")],
            Body::from_stream(events),
        )
            .into_response();
    }
    (StatusCode::CREATED, named, axum::Json(echo)).into_response()
}

/// Node 1, a follower of node 2 at `api` (term 7), that forwards.
fn forwarding_follower(api: &str) -> Arc<Fake> {
    let fake = follower_of(Some(api));
    fake.with(|s| {
        s.raft = Some(raft_status(1, 2, 7));
        s.forwarder = Some(Arc::new(Forwarder::new(None).unwrap()));
    });
    fake
}

use tokio_stream::StreamExt as _;

#[tokio::test]
async fn a_follower_forwards_writes_with_their_token_and_passes_the_leaders_answer_back() {
    let (leader, seen) = echo_leader().await;
    let fake = forwarding_follower(&leader);
    let app = app(&fake);
    let r = send(
        &app,
        Request::post("/loadtests/v2/tests/1/start-testrun?x=1")
            .header(header::AUTHORIZATION, "Token unit-test")
            .header("x-request-id", "req-42")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONNECTION, "keep-alive")
            .body(Body::from(r#"{"env":{"A":"1"}}"#))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["method"], "POST");
    assert_eq!(r.body["uri"], "/loadtests/v2/tests/1/start-testrun?x=1");
    assert_eq!(r.body["authorization"], "Token unit-test");
    assert_eq!(r.body["request_id"], "req-42");
    assert_eq!(r.body["forwarded_by"], "1");
    assert_eq!(r.body["body_len"], 17);
    assert_eq!(
        r.body["connection"],
        Value::Null,
        "hop-by-hop headers stay behind"
    );
    // The leader's own view of the group, and who forwarded.
    assert_eq!(r.headers.get("volley-raft-leader").unwrap(), "2");
    assert_eq!(r.headers.get("volley-raft-term").unwrap(), "9");
    assert_eq!(r.headers.get("volley-forwarded-by").unwrap(), "1");
    assert!(fake.with(|s| s.started.is_empty()), "nothing started here");

    // A streamed (chunked) body of a DELETE goes too.
    let chunks = tokio_stream::iter(["ab", "cd"]).map(|c| Ok::<_, std::io::Error>(c.to_string()));
    let r = send(
        &app,
        Request::delete("/v1/tokens/3")
            .header(header::AUTHORIZATION, "Token unit-test")
            .body(Body::from_stream(chunks))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        (r.body["method"].as_str(), r.body["body_len"].as_u64()),
        (Some("DELETE"), Some(4))
    );
    assert_eq!(seen.0.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_follower_forwards_the_live_views_only_the_leader_has_and_serves_the_rest_itself() {
    let (leader, seen) = echo_leader().await;
    let fake = forwarding_follower(&leader);
    let app = app(&fake);
    for path in ["/v1/runs/1/metrics", "/v1/agents", "/v1/live/agents"] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.body);
        assert_eq!(r.body["uri"], path);
    }
    // A live stream flows through as the leader sends it.
    let resp = app
        .clone()
        .oneshot(Request::get("/v1/live/runs/1").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        resp.headers().get(header::CONTENT_TYPE).unwrap(),
        "text/event-stream"
    );
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    assert_eq!(&body[..], b"data: one\n\ndata: two\n\n");
    assert_eq!(seen.0.lock().unwrap().len(), 4);
    // The replicated records are this node's own.
    let r = get(&app, "/loadtests/v2/runs").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["k6-runs"].is_array(), "{}", r.body);
    assert_eq!(seen.0.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_follower_checks_the_request_before_forwarding_it_and_bounds_its_body() {
    let (leader, seen) = echo_leader().await;
    let fake = forwarding_follower(&leader);
    let limits = ApiLimits {
        max_upload_bytes: 1024,
        ..ApiLimits::default()
    };
    let app = router_with_limits(fake.clone(), limits);
    // This node's guard refuses a foreign web page's write: nothing reaches the leader.
    let r = send(
        &app,
        Request::post("/loadtests/v2/tests/1/start-testrun")
            .header(header::ORIGIN, "http://evil.example")
            .header(header::HOST, "127.0.0.1:6565")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&r, 403), "cross_origin_refused");
    // Over the largest body any route takes: refused, declared or streamed.
    let r = post(
        &app,
        "/loadtests/v2/tests",
        Some("application/json"),
        vec![b' '; 2048],
    )
    .await;
    assert_eq!(assert_error(&r, 413), "payload_too_large");
    let chunks = tokio_stream::iter(0..8).map(|_| Ok::<_, std::io::Error>(vec![b' '; 256]));
    let r = send(
        &app,
        Request::post("/loadtests/v2/tests")
            .header(header::AUTHORIZATION, "Token unit-test")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(chunks))
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&r, 413), "payload_too_large");
    assert!(
        seen.0
            .lock()
            .unwrap()
            .iter()
            .all(|s| s["body_len"].as_u64() <= Some(1024)),
        "{:?}",
        seen.0.lock().unwrap()
    );
    // A request another node forwarded here, taking this follower for the leader, is not
    // passed on again.
    let r = send(
        &app,
        Request::post("/loadtests/v2/tests/1/start-testrun")
            .header(header::AUTHORIZATION, "Token unit-test")
            .header("volley-forwarded-by", "3")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&r, 503), "no_leader");
    assert!(seen
        .0
        .lock()
        .unwrap()
        .iter()
        .all(|s| s["uri"] != "/loadtests/v2/tests/1/start-testrun"));
}

#[tokio::test]
async fn a_leader_that_cannot_be_reached_is_a_503_to_retry_and_https_without_the_ca_redirects() {
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let fake = forwarding_follower(&format!("http://{closed}"));
    let r = post_json(
        &app(&fake),
        "/loadtests/v2/tests/1/start-testrun",
        json!({}),
    )
    .await;
    assert_eq!(assert_error(&r, 503), "no_leader");
    assert_eq!(r.headers.get(header::RETRY_AFTER).unwrap(), "1");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("could not reach the Raft leader (node 2 at http://")
            && message.contains("retry shortly"),
        "{message}"
    );
    // An https:// leader this node cannot verify (no --raft-ca): the client is redirected.
    let fake = forwarding_follower("https://10.0.0.2:6565");
    let r = post_json(
        &app(&fake),
        "/loadtests/v2/tests/1/start-testrun",
        json!({}),
    )
    .await;
    assert_eq!(assert_error(&r, 307), "not_leader");
    assert_eq!(
        r.headers.get(header::LOCATION).unwrap(),
        "https://10.0.0.2:6565/loadtests/v2/tests/1/start-testrun"
    );
}
