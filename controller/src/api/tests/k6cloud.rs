//! The routes k6 calls (`k6 cloud run`, `k6 run --out cloud`: `super::super::k6cloud`), against
//! the fake service: what k6 needs from each answer, and errors in the shape k6 reads.

use super::*;
use crate::api::k6cloud::cloud_run::progress_of;
use volley_common::status::ResultStatus;

/// Asserts k6's error shape (`{"error": {"message", "volley_code", "status"}}`, no string
/// `code`, which k6 cannot read) and returns Volley's code.
#[track_caller]
fn assert_k6_error(r: &Resp, status: u16) -> String {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.body);
    let e = &r.body["error"];
    assert!(
        e.get("code").is_none(),
        "k6 cannot read a string code: {}",
        r.body
    );
    assert_eq!(e["status"], status, "body: {}", r.body);
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.body
    );
    e["volley_code"].as_str().expect("volley_code").to_string()
}

async fn k6_upload(app: &Router, parts: &[Part<'_>]) -> Resp {
    post(
        app,
        "/v1/archive-upload",
        Some(&mp_type()),
        multipart(parts),
    )
    .await
}

#[tokio::test]
async fn archive_upload_creates_a_test_and_queues_its_run() {
    let fake = seeded();
    let a = app(&fake);
    let r = k6_upload(
        &a,
        &[
            ("name", None, b"s.js"),
            ("file", Some("archive.tar"), b"TAR"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let id = r.body["reference_id"]
        .as_str()
        .expect("reference_id is a string");
    let id: u64 = id.parse().expect("a run id");
    assert_eq!(r.body["url"], format!("/loadtests/v2/runs/{id}"));
    let (created, started) = fake.with(|s| (s.created.clone(), s.started.clone()));
    assert_eq!(created, vec![("s.js".to_string(), 0, b"TAR".to_vec())]);
    assert_eq!(r.body["test_id"], 3);
    assert_eq!(
        started,
        vec![(3, BTreeMap::new(), "k6 cloud run".to_string())]
    );
    assert_eq!(fake.get_run(id).expect("run").test_id, 3);
}

/// `k6 cloud run`'s upload sent again with its `Idempotency-Key` answers the first one's run,
/// marked replayed: both creates (the test, the run) get the key (docs/ha.md#submits-sent-twice).
#[tokio::test]
async fn archive_upload_sent_again_with_its_key_is_the_first_ones_run() {
    let fake = seeded();
    let a = app(&fake);
    let upload = |key: &str| {
        Request::post("/v1/archive-upload")
            .header(header::AUTHORIZATION, "Token unit-test")
            .header(header::CONTENT_TYPE, mp_type())
            .header("Idempotency-Key", key)
            .body(Body::from(multipart(&[
                ("name", None, b"s.js"),
                ("file", Some("archive.tar"), b"TAR"),
            ])))
            .unwrap()
    };
    let first = send(&a, upload("k6-upload-1")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = send(&a, upload("k6-upload-1")).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(again.body["reference_id"], first.body["reference_id"]);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let (created, started) = fake.with(|s| (s.created.len(), s.started.len()));
    assert_eq!((created, started), (1, 1), "one test, one run");
    // A malformed key: refused in k6's shape before anything is made.
    let r = send(&a, upload("has space")).await;
    assert_eq!(assert_k6_error(&r, 400), "invalid_idempotency_key");
    assert_eq!(fake.with(|s| s.created.len()), 1);
}

#[tokio::test]
async fn archive_upload_errors_are_in_k6s_shape() {
    let fake = seeded();
    let a = app(&fake);
    let r = k6_upload(&a, &[("name", None, b"s.js")]).await;
    assert_eq!(assert_k6_error(&r, 400), "missing_field");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("`file`"));
    // What `k6 cloud upload` adds: not supported, named.
    let r = k6_upload(
        &a,
        &[
            ("name", None, b"s.js"),
            ("upload_only", None, b"true"),
            ("file", Some("archive.tar"), b"TAR"),
        ],
    )
    .await;
    assert_eq!(assert_k6_error(&r, 400), "invalid_field");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("upload_only"));
    // The service's refusal passes through with its status.
    let r = k6_upload(
        &a,
        &[
            ("name", None, b"s.js"),
            ("file", Some("archive.tar"), b"not a tar"),
        ],
    )
    .await;
    assert_eq!(assert_k6_error(&r, 422), "invalid_archive");
    let r = post(
        &a,
        "/v1/archive-upload",
        Some("application/json"),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(assert_k6_error(&r, 415), "unsupported_media_type");
    assert!(fake.with(|s| s.started.is_empty()), "no run was started");
}

#[tokio::test]
async fn validate_options_checks_the_options() {
    let a = app(&seeded());
    let r = post_json(
        &a,
        "/v1/validate-options",
        json!({"options": {"vus": 2, "duration": "2s", "cloud": {"token": "x"}, "paused": null, "thresholds": null}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({}));
    let r = post_json(
        &a,
        "/v1/validate-options",
        json!({"options": {"vus": "many"}}),
    )
    .await;
    assert_eq!(assert_k6_error(&r, 400), "invalid_options");
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains("vus"),
        "{}",
        r.body
    );
    let r = post_json(&a, "/v1/validate-options", json!({"opts": {}})).await;
    assert_eq!(assert_k6_error(&r, 400), "invalid_json");
    let r = post(
        &a,
        "/v1/validate-options",
        Some("text/plain"),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(assert_k6_error(&r, 415), "unsupported_media_type");
}

#[tokio::test]
async fn test_progress_reports_the_runs_status() {
    let fake = seeded();
    let a = app(&fake);
    let r = get(&a, "/v1/test-progress/3").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body,
        json!({"progress": 1.0, "run_status": 3, "run_status_text": "Finished", "result_status": 0, "tainted": false})
    );
    let r = get(&a, "/v1/test-progress/2").await;
    assert_eq!(r.body["run_status"], 0);
    assert_eq!(r.body["run_status_text"], "Queued");
    assert_eq!(r.body["progress"], 0.0);
    let r = get(&a, "/v1/test-progress/99").await;
    assert_eq!(assert_k6_error(&r, 404), "run_not_found");
    let r = get(&a, "/v1/test-progress/abc").await;
    assert_eq!(assert_k6_error(&r, 400), "invalid_id");
}

#[test]
fn progress_is_the_part_of_the_planned_duration() {
    use crate::model::RunStatus as S;
    let p = progress_of(S::Running, ResultStatus::Passed, 8.0, 32.0);
    assert_eq!(p.progress, 0.25);
    assert_eq!(p.run_status_text, "Running");
    // Past the plan (teardown, a slow stop) it stays at 1 until the run ends.
    assert_eq!(
        progress_of(S::Running, ResultStatus::Passed, 40.0, 32.0).progress,
        1.0
    );
    // No plan known, or not started: 0.
    assert_eq!(
        progress_of(S::Running, ResultStatus::Passed, 8.0, 0.0).progress,
        0.0
    );
    assert_eq!(
        progress_of(S::Initializing, ResultStatus::Passed, 0.0, 32.0).progress,
        0.0
    );
    // Ended: 1, with k6 Cloud's texts and the result as it is.
    let p = progress_of(S::AbortedByUser, ResultStatus::Failed, 3.0, 32.0);
    assert_eq!(p.progress, 1.0);
    assert_eq!(p.run_status_text, "Aborted (by user)");
    assert_eq!(p.result_status, ResultStatus::Failed);
    for s in S::ALL {
        assert!(!volley_api::k6_run_status_text(s).is_empty());
    }
}

#[tokio::test]
async fn stop_stops_a_running_run_and_accepts_an_ended_one() {
    let fake = seeded();
    let a = app(&fake);
    let r = post(&a, "/v1/tests/1/stop", Some("application/json"), Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({}));
    assert_eq!(fake.with(|s| s.stopped.clone()), vec![(1, Some(0))]);
    // Already ended: nothing to stop, still 200 (k6 keeps polling and sees the end).
    let r = post(&a, "/v1/tests/3/stop", Some("application/json"), Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Ended between the look and the stop.
    fake.with(|s| s.stop_race = true);
    let r = post(&a, "/v1/tests/2/stop", Some("application/json"), Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(fake.with(|s| s.stopped.len()), 1);
    let r = post(&a, "/v1/tests/99/stop", None, Vec::new()).await;
    assert_eq!(assert_k6_error(&r, 404), "run_not_found");
}

/// `k6 run --out cloud`'s routes refuse, in k6's shape, what k6 would never send and runs k6
/// does not stream into (run 3 of the fake is an agents' run).
#[tokio::test]
async fn k6_output_routes_answer_errors_in_k6s_shape() {
    let fake = seeded();
    let a = app(&fake);
    let r = post(&a, "/v1/tests", Some("text/plain"), b"{}".to_vec()).await;
    assert_eq!(assert_k6_error(&r, 415), "unsupported_media_type");
    let r = post_json(&a, "/v1/tests", json!({"name": "s.js", "thresholds": []})).await;
    assert_eq!(assert_k6_error(&r, 400), "invalid_options");
    let r = post(
        &a,
        "/v2/metrics/3",
        Some("application/x-protobuf"),
        vec![1, 2],
    )
    .await;
    assert_eq!(assert_k6_error(&r, 404), "run_not_found");
    let r = post(
        &a,
        "/v2/metrics/abc",
        Some("application/x-protobuf"),
        vec![],
    )
    .await;
    assert_eq!(assert_k6_error(&r, 400), "invalid_id");
    let r = post_json(&a, "/v1/tests/3", json!({"run_status": 3})).await;
    assert_eq!(assert_k6_error(&r, 404), "run_not_found");
}

/// The link k6 prints (`$K6_CLOUD_WEB_APP_URL/runs/{id}`) shows the run.
#[tokio::test]
async fn the_link_k6_prints_shows_the_run() {
    let a = app(&seeded());
    let r = get(&a, "/runs/3").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, get(&a, "/loadtests/v2/runs/3").await.body);
    assert_eq!(r.body["k6-run"]["id"], 3);
    let r = get(&a, "/runs/99").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}
