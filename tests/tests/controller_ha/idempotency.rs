//! Creates sent twice with one `Idempotency-Key`, across a leader's death.

use std::process::Command;
use std::time::Duration;

use volley_e2e::ha::{get, serial, Group, FAILOVER_BOUND, RUN_BOUND};
use volley_e2e::ha_runs::test_ids;
use volley_e2e::{temp_dir, volley_bin};

use super::write_script;

/// Creates sent twice (docs/ha.md#submits-sent-twice): with one `Idempotency-Key`, a test's
/// create and a run's start sent twice make one test and one run — the second answered with
/// the first one's (200, `Idempotent-Replayed: true`) — also when the second goes to the next
/// leader because the first leader was killed after answering; the key sent with another
/// request is refused (422); the keys are state every node holds; and each `volley submit`
/// makes one test and one run.
#[test]
fn creates_sent_twice_with_one_idempotency_key_make_one_test_and_one_run() {
    use base64::Engine as _;
    let _serial = serial();
    let dir = temp_dir("controller-ha-keys");
    let script = write_script(
        &dir,
        "short.js",
        "export const options = { vus: 1, iterations: 1 };\nexport default function () {}\n",
    );
    let tar = dir.join("short.tar");
    let made = Command::new(volley_bin())
        .arg("archive")
        .arg(&script)
        .arg("-O")
        .arg(&tar)
        .output()
        .expect("volley archive");
    assert!(made.status.success(), "{made:?}");
    let archive = std::fs::read(&tar).expect("archive");
    let test_body = |name: &str| {
        serde_json::json!({
            "name": name,
            "k6_archive": base64::engine::general_purpose::STANDARD.encode(&archive),
        })
    };
    let mut group = Group::loopback(&dir, 3);
    let first = group.leader(FAILOVER_BOUND);
    let client = volley_api::client::Client::new(&group.rest_urls(first))
        .and_then(|c| c.with_timeout(Duration::from_secs(10)))
        .expect("client");
    let key = "e2e-submit-1";
    let send = |path: &str, body: &serde_json::Value| {
        let answer = client
            .request_keyed("POST", path, body, key)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        (answer.status, answer.replayed, answer.json())
    };

    let (status, replayed, created) = send("/loadtests/v2/tests", &test_body("keyed"));
    assert_eq!((status, replayed), (201, false), "{created}");
    let test_id = created["k6-test"]["id"].as_u64().expect("test id");
    let start = format!("/loadtests/v2/tests/{test_id}/start-testrun");
    let (status, replayed, started) = send(&start, &serde_json::json!({}));
    assert_eq!((status, replayed), (200, false), "{started}");
    let run_id = started["k6-run"]["id"].as_u64().expect("run id");

    // The leader dies after answering; the same creates sent again reach its successor.
    for id in group.ids() {
        group.wait_caught_up(id, RUN_BOUND);
    }
    group.kill(first);
    let second = group.leader(FAILOVER_BOUND);
    let (status, replayed, again) = send("/loadtests/v2/tests", &test_body("keyed"));
    assert_eq!((status, replayed), (200, true), "{again}");
    assert_eq!(again["k6-test"]["id"], test_id);
    let (status, replayed, again) = send(&start, &serde_json::json!({}));
    assert_eq!((status, replayed), (200, true), "{again}");
    assert_eq!(again["k6-run"]["id"], run_id);

    // The key with another request (a run of another test) is refused.
    let other = client
        .request("POST", "/loadtests/v2/tests", Some(&test_body("other")))
        .expect("create another test");
    assert_eq!(other.status, 201);
    let other_id = other.json()["k6-test"]["id"].as_u64().expect("test id");
    let path = format!("/loadtests/v2/tests/{other_id}/start-testrun");
    let (status, _, refused) = send(&path, &serde_json::json!({}));
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "idempotency_key_reused");

    // One submit, one test and one run, with a key of its own.
    let mut submit = group.submit(second, &script, false, &[]);
    assert_eq!(submit.exit_code(RUN_BOUND), 0, "{}", submit.stderr.text());
    let new = group.node(second);
    assert_eq!(test_ids(new), [test_id, other_id, other_id + 1]);
    let runs: Vec<(u64, u64)> = get(new, "/loadtests/v2/runs")["k6-runs"]
        .as_array()
        .expect("k6-runs")
        .iter()
        .map(|r| {
            (
                r["id"].as_u64().unwrap_or(0),
                r["test_id"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(runs, [(run_id, test_id), (run_id + 1, other_id + 1)]);

    // The keys are state like any other: the old leader, back, holds the same.
    group.start(first);
    group.wait_same_state(RUN_BOUND);
    group.clean_up();
}
