//! Volley's extensions: agents, and a run's agents, metrics and summary.

use super::*;

#[tokio::test]
async fn agents_list_and_read() {
    let a = app(&seeded());
    let r = get(&a, "/v1/agents").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["meta"]["count"], 2);
    assert_eq!(r.body["agents"][0]["name"], "gen 1", "sorted by name");
    assert_eq!(r.body["agents"][1]["labels"]["zone"], "eu");
    let r = get(&a, "/v1/agents/gen%201").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["agent"]["name"], "gen 1");
    assert_eq!(r.body["agent"]["health"], "ok");
    // The process's figures and the host's, each under its own name.
    assert_eq!(r.body["agent"]["process_cpu_percent"], 3.5);
    assert_eq!(r.body["agent"]["process_memory_percent"], 0.6);
    assert_eq!(r.body["agent"]["cpu_percent"], 12.5);
    let r = get(&a, "/v1/agents/gen-9").await;
    assert_eq!(assert_error(&r, 404), "agent_not_found");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("gen-9"));
    assert_eq!(
        assert_error(&get(&a, "/v1/agents?state=idle").await, 400),
        "invalid_query"
    );
}

#[tokio::test]
async fn run_agents_metrics_summary() {
    let a = app(&seeded());
    let r = get(&a, "/v1/runs/1/agents").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["run_id"], 1);
    assert_eq!(r.body["agents"][0]["agent"], "gen-2");
    assert_eq!(r.body["agents"][0]["samples"][0]["active_vus"], 10);
    let r = get(&a, "/v1/runs/2/agents").await;
    assert_eq!(r.body["agents"], json!([]));

    let r = get(&a, "/v1/runs/1/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["http_reqs"]["type"], "counter");
    assert!(r.body.get("intervals").is_some(), "{}", r.body);
    let r = get(&a, "/v1/runs/1/metrics?intervals=all").await;
    assert!(r.body.get("intervals").is_some(), "{}", r.body);
    // The totals alone: what a client polling the live figures asks for.
    let r = get(&a, "/v1/runs/1/metrics?intervals=none").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["http_reqs"]["type"], "counter");
    assert!(r.body.get("intervals").is_none(), "{}", r.body);
    let r = get(&a, "/v1/runs/1/metrics?intervals=some").await;
    assert_eq!(assert_error(&r, 400), "invalid_query");
    let message = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("`intervals`") && message.contains("`none`"),
        "{message}"
    );
    let r = get(&a, "/v1/runs/1/metrics?since=3").await;
    assert_eq!(assert_error(&r, 400), "invalid_query");
    let r = get(&a, "/v1/runs/2/metrics").await;
    assert_eq!(assert_error(&r, 404), "metrics_not_available");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("QUEUED"));

    let r = get(&a, "/v1/runs/3/summary").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["metrics"]["iterations"]["values"]["count"], 30);
    let r = get(&a, "/v1/runs/1/summary").await;
    assert_eq!(assert_error(&r, 404), "summary_not_available");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("once the run has ended"));

    for p in ["agents", "metrics", "summary"] {
        let r = get(&a, &format!("/v1/runs/99/{p}")).await;
        assert_eq!(assert_error(&r, 404), "run_not_found", "{p}");
        let r = get(&a, &format!("/v1/runs/x/{p}")).await;
        assert_eq!(assert_error(&r, 400), "invalid_id", "{p}");
        let r = get(&a, &format!("/v1/runs/1/{p}?a=b")).await;
        assert_eq!(assert_error(&r, 400), "invalid_query", "{p}");
    }
}
