//! Starting, reading, listing and stopping runs.

use super::*;

#[tokio::test]
async fn start_testrun_without_body() {
    let fake = seeded();
    let a = app(&fake);
    let r = post(&a, "/loadtests/v2/tests/1/start-testrun", None, vec![]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let run = &r.body["k6-run"];
    assert_eq!(keys(run), run_fields());
    assert_eq!(run["test_id"], 1);
    assert_eq!(run["run_status"], RunStatus::Created.number());
    assert_eq!(run["k6_archive"], "/loadtests/v2/tests/1");
    fake.with(|s| assert_eq!(s.started, vec![(1, BTreeMap::new(), String::new())]));
}

#[tokio::test]
async fn start_testrun_with_env_and_note() {
    let fake = seeded();
    let a = app(&fake);
    let r = post_json(
        &a,
        "/loadtests/v2/tests/2/start-testrun",
        json!({"env": {"BASE_URL": "http://x", "TOKEN": "s3cret"}, "note": "nightly"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["k6-run"]["note"], "nightly");
    // The env is passed on but never echoed: it may hold secrets.
    assert!(!r.body.to_string().contains("s3cret"));
    fake.with(|s| {
        let (t, env, note) = &s.started[0];
        assert_eq!(*t, 2);
        assert_eq!(env.get("TOKEN").map(String::as_str), Some("s3cret"));
        assert_eq!(note, "nightly");
    });
}

#[tokio::test]
async fn start_testrun_errors() {
    let fake = seeded();
    let a = app(&fake);
    let u = "/loadtests/v2/tests/1/start-testrun";
    assert_eq!(
        assert_error(
            &post(&a, u, Some("application/json"), b"{".to_vec()).await,
            400
        ),
        "invalid_json"
    );
    let r = post_json(&a, u, json!({"envs": {}})).await;
    assert_eq!(assert_error(&r, 400), "invalid_json");
    assert_eq!(
        r.body["error"]["message"],
        "unknown field(s) in the start-testrun body: envs; accepted: env, note"
    );
    let r = post_json(&a, u, json!({"env": {"N": 1}})).await;
    assert_eq!(assert_error(&r, 400), "invalid_json");
    let r = post_json(&a, u, json!({"env": {"A=B": "1"}})).await;
    assert_eq!(assert_error(&r, 400), "invalid_field");
    let r = post(
        &a,
        u,
        Some("application/x-www-form-urlencoded"),
        b"note=x".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 415), "unsupported_media_type");
    let r = post(&a, "/loadtests/v2/tests/99/start-testrun", None, vec![]).await;
    assert_eq!(assert_error(&r, 404), "test_not_found");
    let r = post(&a, "/loadtests/v2/tests/x/start-testrun", None, vec![]).await;
    assert_eq!(assert_error(&r, 400), "invalid_id");
    let r = post(
        &a,
        "/loadtests/v2/tests/1/start-testrun?now=1",
        None,
        vec![],
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_query");
    fake.with(|s| assert!(s.started.is_empty(), "nothing started on bad input"));
}

// Reading runs

#[tokio::test]
async fn read_run_full_and_selected() {
    let a = app(&seeded());
    let r = get(&a, "/loadtests/v2/runs/3").await;
    assert_eq!(r.status, StatusCode::OK);
    let run = &r.body["k6-run"];
    assert_eq!(keys(run), run_fields());
    assert_eq!(run["id"], 3);
    assert_eq!(run["run_status"], 3);
    assert_eq!(run["export"], Value::Null);

    // k6's example; fields come back in the object's order, not the query's.
    let r = get(
        &a,
        "/loadtests/v2/runs/3?$select=id,test_id,run_status,created",
    )
    .await;
    assert_eq!(
        keys(&r.body["k6-run"]),
        vec!["created", "id", "run_status", "test_id"]
    );
    assert_eq!(r.body["k6-run"]["run_status"], 3);
    // URL-encoded `$` and k6's `select` spelling.
    let r = get(&a, "/loadtests/v2/runs/3?%24select=id%2Cexit_code").await;
    assert_eq!(r.body, json!({"k6-run": {"id": 3, "exit_code": null}}));
    let r = get(&a, "/loadtests/v2/runs/3?select=degraded").await;
    assert_eq!(r.body, json!({"k6-run": {"degraded": false}}));
}

#[tokio::test]
async fn read_run_errors() {
    let a = app(&seeded());
    let r = get(&a, "/loadtests/v2/runs/3?$select=id,bogus,run_statuss").await;
    assert_eq!(assert_error(&r, 400), "unknown_select_field");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("bogus, run_statuss"), "{msg}");
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/runs/3?$select=").await, 400),
        "invalid_query"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/runs/99").await, 404),
        "run_not_found"
    );
    for bad in ["abc", "-3", "1.0", "99999999999999999999999", "%FF"] {
        let r = get(&a, &format!("/loadtests/v2/runs/{bad}")).await;
        assert_eq!(r.status.as_u16(), 400, "{bad}: {}", r.body);
    }
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/runs/3?x=%zz").await, 400),
        "invalid_query"
    );
    assert_eq!(
        assert_error(&get(&a, "/loadtests/v2/runs/3?limit=1").await, 400),
        "invalid_query"
    );
}

#[tokio::test]
async fn list_runs_filters() {
    let a = app(&seeded());
    let ids = |r: &Resp| -> Vec<u64> {
        r.body["k6-runs"]
            .as_array()
            .map(|v| v.iter().filter_map(|x| x["id"].as_u64()).collect())
            .unwrap_or_default()
    };
    let r = get(&a, "/loadtests/v2/runs").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(ids(&r), vec![1, 2, 3, 4]);
    assert_eq!(r.body["meta"]["count"], 4);

    let r = get(&a, "/loadtests/v2/runs?test_id=1").await;
    assert_eq!(ids(&r), vec![1, 2, 3]);
    assert_eq!(r.body["meta"]["count"], 3);
    // k6's `$test_id` spelling.
    let r = get(&a, "/loadtests/v2/runs?$test_id=2").await;
    assert_eq!(ids(&r), vec![4]);

    let r = get(&a, "/loadtests/v2/runs?test_id=1&ids[]=1&ids[]=3").await;
    assert_eq!(ids(&r), vec![1, 3]);
    let r = get(&a, "/loadtests/v2/runs?ids%5B%5D=4&ids%5B%5D=2").await;
    assert_eq!(ids(&r), vec![2, 4]);
    let r = get(&a, "/loadtests/v2/runs?ids[]=42").await;
    assert_eq!(ids(&r), Vec::<u64>::new());
    assert_eq!(r.body["meta"]["count"], 0);

    let r = get(&a, "/loadtests/v2/runs?public_id=pub-2").await;
    assert_eq!(ids(&r), vec![2]);
    let r = get(&a, "/loadtests/v2/runs?public_id=nope").await;
    assert_eq!(ids(&r), Vec::<u64>::new());

    let r = get(&a, "/loadtests/v2/runs?test_id=1&$select=id,run_status").await;
    assert_eq!(
        r.body["k6-runs"],
        json!([
            {"id": 1, "run_status": 2},
            {"id": 2, "run_status": 0},
            {"id": 3, "run_status": 3},
        ])
    );
}

#[tokio::test]
async fn list_runs_errors() {
    let a = app(&seeded());
    for (q, status, code) in [
        ("test_id=abc", 400, "invalid_query"),
        ("test_id=1&test_id=2", 400, "invalid_query"),
        ("ids[]=one", 400, "invalid_query"),
        ("$select=id,nope", 400, "unknown_select_field"),
        ("order_by=id", 400, "invalid_query"),
        ("test_id=99", 404, "test_not_found"),
    ] {
        let r = get(&a, &format!("/loadtests/v2/runs?{q}")).await;
        assert_eq!(assert_error(&r, status), code, "{q}");
    }
}

// Stopping runs

#[tokio::test]
async fn stop_running_run() {
    let fake = seeded();
    let a = app(&fake);
    let r = post(&a, "/loadtests/v2/runs/1/stop", None, vec![]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["k6-run"]["run_status"],
        RunStatus::AbortedByUser.number()
    );
    assert_eq!(keys(&r.body["k6-run"]), run_fields());
    let r = post_json(
        &a,
        "/loadtests/v2/runs/2/stop",
        json!({"stopped_by_id": 42}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The body's stopped_by_id is not believed: on an open API the caller is user 0.
    assert_eq!(r.body["k6-run"]["stopped_by_id"], 0);
    fake.with(|s| assert_eq!(s.stopped, vec![(1, Some(0)), (2, Some(0))]));
}

#[tokio::test]
async fn stop_errors() {
    let fake = seeded();
    let a = app(&fake);
    let r = post(&a, "/loadtests/v2/runs/3/stop", None, vec![]).await;
    assert_eq!(assert_error(&r, 409), "run_finished");
    let msg = r.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        msg.contains("run already finished") && msg.contains("FINISHED"),
        "{msg}"
    );
    let r = post(&a, "/loadtests/v2/runs/99/stop", None, vec![]).await;
    assert_eq!(assert_error(&r, 404), "run_not_found");
    let r = post(&a, "/loadtests/v2/runs/zz/stop", None, vec![]).await;
    assert_eq!(assert_error(&r, 400), "invalid_id");
    let r = post_json(&a, "/loadtests/v2/runs/1/stop", json!({"who": 1})).await;
    assert_eq!(assert_error(&r, 400), "invalid_json");
    let r = post(
        &a,
        "/loadtests/v2/runs/1/stop",
        Some("text/plain"),
        b"stop".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 415), "unsupported_media_type");
    // The signal a stopped CLI names: only with reason "signal", and only the two it sends.
    let r = post_json(
        &a,
        "/loadtests/v2/runs/1/stop",
        json!({"reason": "signal", "signal": "hangup"}),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_signal");
    assert!(r.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("\"hangup\"") && m.contains("terminated")));
    let r = post_json(
        &a,
        "/loadtests/v2/runs/1/stop",
        json!({"signal": "terminated"}),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_signal");
    fake.with(|s| assert!(s.stopped.is_empty()));
    // The run finished between the API's check and the service call.
    fake.with(|s| s.stop_race = true);
    let r = post(&a, "/loadtests/v2/runs/1/stop", None, vec![]).await;
    assert_eq!(assert_error(&r, 409), "run_finished");
}
