//! The service against a real store: the creates that take an `Idempotency-Key` besides
//! tests and runs — tokens and streamed runs (`k6 run --out cloud`, `volley run --out
//! cloud=URL`) — make one token or run when sent again with their key
//! (docs/ha.md#submits-sent-twice).

use super::*;
use crate::registry::Registry;
use crate::run::config::CoordinatorConfig;
use crate::store::Db;
use crate::temp_dir::TempDir;
use volley_api::{CreateToken, Role};

fn service(dir: &TempDir) -> Service {
    let db = Arc::new(Db::open(&dir.0).unwrap_or_else(|e| panic!("open: {e}")));
    let co = Coordinator::new(db, Arc::new(Registry::new()), CoordinatorConfig::default());
    Service {
        co,
        stream_keys: crate::auth::stream_keys::StreamKeys::from_key([3; 32]),
        forwarder: None,
        run_creates: Default::default(),
    }
}

fn token(role: Role) -> CreateToken {
    CreateToken {
        role,
        project_id: 0,
        name: "ci".into(),
    }
}

#[test]
fn a_token_create_sent_again_with_its_key_makes_one_token() {
    let dir = TempDir::new("service-token-key");
    let svc = service(&dir);
    let first = svc
        .create_token(token(Role::Submit), Some("tok-1".into()))
        .unwrap_or_else(|e| panic!("create: {}", e.message));
    assert!(!first.token.is_empty());
    let again = svc
        .create_token(token(Role::Submit), Some("tok-1".into()))
        .expect_err("replayed");
    assert_eq!(
        (again.status, again.code.as_str()),
        (409, tokens::TOKEN_REPLAYED)
    );
    assert!(
        again
            .message
            .contains(&format!("made token {}", first.view.id)),
        "{}",
        again.message
    );
    assert_eq!(svc.tokens().len(), 1, "one token");
    // The key with another request: refused, naming both.
    let other = svc
        .create_token(token(Role::Admin), Some("tok-1".into()))
        .expect_err("reused");
    assert_eq!(
        (other.status, other.code.as_str()),
        (422, "idempotency_key_reused")
    );
    // Without a key, each create makes a token.
    for _ in 0..2 {
        svc.create_token(token(Role::Read), None)
            .unwrap_or_else(|e| panic!("create: {}", e.message));
    }
    assert_eq!(svc.tokens().len(), 3);
}

/// A submitter of project 1 with token 9, another token than the one (4) the tests' runs
/// are started with.
fn token_9() -> Caller {
    Caller {
        token_id: Some(9),
        role: Role::Submit,
        project_id: 1,
    }
}

fn streamed() -> StreamedRunRequest {
    StreamedRunRequest {
        name: "k6 run --out cloud".into(),
        entry: "script.js".into(),
        script: "// the script\n".into(),
        options: serde_json::json!({"vus": 1, "duration": "30s"}),
        source: "k6".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_run_create_sent_again_with_its_key_makes_one_run() {
    let dir = TempDir::new("service-streamed-key");
    let svc = service(&dir);
    let caller = Caller {
        token_id: Some(4),
        role: Role::Submit,
        project_id: 1,
    };
    let (run, replayed) = svc
        .create_streamed_run(streamed(), &caller, Some("out-1".into()))
        .unwrap_or_else(|e| panic!("create: {}", e.message));
    assert!(!replayed);
    assert_eq!(run.run_status, RunStatus::Running);
    let (again, replayed) = svc
        .create_streamed_run(streamed(), &caller, Some("out-1".into()))
        .unwrap_or_else(|e| panic!("again: {}", e.message));
    assert!(replayed);
    assert_eq!(again.id, run.id);
    let (runs, tests) = svc.co.db.read(|s| (s.runs().count(), s.tests().count()));
    assert_eq!((runs, tests), (1, 1), "one run, one test");

    // Another token's create under the key: refused, nothing made.
    let other = Caller {
        token_id: Some(5),
        ..caller.clone()
    };
    let e = svc
        .create_streamed_run(streamed(), &other, Some("out-1".into()))
        .expect_err("another token");
    assert_eq!((e.status, e.code.as_str()), (422, "idempotency_key_reused"));
    // A cluster run's key is not a streamed run's.
    let test_id = run.test_id;
    let (cluster, _) = svc
        .start_run_keyed(
            test_id,
            BTreeMap::new(),
            String::new(),
            4,
            Some("run-1".into()),
        )
        .unwrap_or_else(|e| panic!("start: {}", e.message));
    let e = svc
        .create_streamed_run(streamed(), &caller, Some("run-1".into()))
        .expect_err("a cluster run's key");
    assert_eq!(e.code, "idempotency_key_reused", "{}", e.message);
    assert_eq!(
        svc.co.db.read(|s| s.runs().count()),
        2,
        "run {}",
        cluster.id
    );
    // Without a key, each create makes a run.
    let (fresh, replayed) = svc
        .create_streamed_run(streamed(), &caller, None)
        .unwrap_or_else(|e| panic!("create: {}", e.message));
    assert!(!replayed);
    assert_ne!(fresh.id, run.id);
}

/// A service whose runs are bounded as `--max-active-runs-per-token 2 --max-finished-runs 2`
/// bound them.
fn bounded_service(dir: &TempDir) -> Service {
    let db = Arc::new(Db::open(&dir.0).unwrap_or_else(|e| panic!("open: {e}")));
    let mut config = CoordinatorConfig::default();
    config.limits.max_active_runs_per_token = 2;
    config.limits.max_finished_runs = 2;
    let co = Coordinator::new(db, Arc::new(Registry::new()), config);
    Service {
        co,
        stream_keys: crate::auth::stream_keys::StreamKeys::from_key([3; 32]),
        forwarder: None,
        run_creates: Default::default(),
    }
}

/// Stops run `id` and waits until it has finished.
async fn stop_and_wait(svc: &Service, id: u64) {
    svc.stop_run(id, Some(4))
        .unwrap_or_else(|e| panic!("stop {id}: {}", e.message));
    wait_terminal(svc, id, "stop").await;
}

/// Waits up to 5 s for run `id` to have ended; else fails saying it did not `what`.
async fn wait_terminal(svc: &Service, id: u64, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !svc.run(id).is_some_and(|r| r.run_status.is_terminal()) {
        assert!(
            std::time::Instant::now() < deadline,
            "run {id} did not {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_runs_not_finished_are_capped_and_finished_runs_are_forgotten_past_the_limit() {
    let dir = TempDir::new("service-run-bounds");
    let svc = bounded_service(&dir);
    // Another token's streamed run makes the test.
    let other = token_9();
    let (made, _) = svc
        .create_streamed_run(streamed(), &other, None)
        .unwrap_or_else(|e| panic!("create: {}", e.message));
    let start = |key: Option<String>| {
        svc.start_run_keyed(made.test_id, BTreeMap::new(), String::new(), 4, key)
    };
    let first = start(Some("k-1".into())).unwrap().0.id;
    let second = start(None).unwrap().0.id;
    // A third run not finished: refused, naming the limit and the flag; nothing is made.
    let e = start(None).expect_err("a third active run");
    assert_eq!((e.status, e.code.as_str()), (429, "too_many_active_runs"));
    assert!(
        e.message.contains("token 4 has 2 runs not finished")
            && e.message.contains("--max-active-runs-per-token 2"),
        "{}",
        e.message
    );
    assert_eq!(svc.co.db.read(|s| s.runs().count()), 3);
    // A create sent again with its key is still answered (it makes nothing).
    assert_eq!(
        start(Some("k-1".into())).unwrap(),
        (svc.run(first).unwrap(), true)
    );
    // The other token's own runs are counted apart: its second streamed run is made.
    svc.create_streamed_run(streamed(), &other, None)
        .unwrap_or_else(|e| panic!("other: {}", e.message));
    stop_and_wait(&svc, first).await;
    stop_and_wait(&svc, second).await;
    // Two finished (the most kept): the next run forgets the oldest to make room.
    let third = start(None).unwrap().0.id;
    assert!(svc.run(first).is_none(), "run {first} was kept");
    assert!(svc.run(second).is_some());
    stop_and_wait(&svc, third).await;
    let fourth = start(Some("k-1".into())).unwrap();
    // `first`'s key went with it: the key makes a new run.
    assert!(!fourth.1, "the forgotten run's key answered");
    assert!(svc.run(second).is_none() && svc.run(third).is_some());
    let finished = svc
        .co
        .db
        .read(|s| s.runs().filter(|r| r.run_status.is_terminal()).count());
    assert_eq!(
        finished, 1,
        "at most 2 finished runs kept, one made room for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_do_not_overshoot_the_active_run_cap() {
    let dir = TempDir::new("service-run-cap-race");
    let svc = Arc::new(bounded_service(&dir));
    let other = token_9();
    // Token 9 has one streamed run (one more allowed); token 4 none (two allowed).
    let (made, _) = svc
        .create_streamed_run(streamed(), &other, None)
        .unwrap_or_else(|e| panic!("create: {}", e.message));
    const EACH: usize = 16;
    let go = Arc::new(std::sync::Barrier::new(2 * EACH));
    let mut tasks = Vec::new();
    for i in 0..2 * EACH {
        let (svc, go, other) = (svc.clone(), go.clone(), other.clone());
        tasks.push(tokio::task::spawn_blocking(move || {
            go.wait();
            let made = if i % 2 == 0 {
                svc.start_run_keyed(made.test_id, BTreeMap::new(), String::new(), 4, None)
            } else {
                svc.create_streamed_run(streamed(), &other, None)
            };
            match made {
                Ok((run, _)) => Some(run.user_id),
                Err(e) => {
                    assert_eq!((e.status, e.code.as_str()), (429, "too_many_active_runs"));
                    None
                }
            }
        }));
    }
    let mut made_by = BTreeMap::<u64, usize>::new();
    for t in tasks {
        if let Some(user) = t.await.unwrap_or_else(|e| panic!("create task: {e}")) {
            *made_by.entry(user).or_default() += 1;
        }
    }
    assert_eq!(
        made_by,
        BTreeMap::from([(4, 2), (9, 1)]),
        "runs made by token, of {EACH} concurrent creates each"
    );
    let active = |user| svc.co.db.read(|s| s.active_runs_of(user));
    assert_eq!((active(4), active(9)), (2, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_declaring_too_much_are_refused_naming_the_field() {
    let dir = TempDir::new("service-declared");
    let svc = service(&dir);
    let caller = Caller {
        token_id: Some(4),
        role: Role::Submit,
        project_id: 1,
    };
    let scenarios: serde_json::Map<String, serde_json::Value> = (0..1_001)
        .map(|i| {
            let s = serde_json::json!({"executor": "shared-iterations", "iterations": 1});
            (format!("s{i}"), s)
        })
        .collect();
    let mut req = streamed();
    req.options = serde_json::json!({ "scenarios": scenarios });
    let e = svc
        .create_streamed_run(req, &caller, None)
        .expect_err("1,001 scenarios");
    assert_eq!((e.status, e.code.as_str()), (400, "invalid_options"));
    assert!(
        e.message
            .starts_with("options.scenarios: 1001 scenarios, more than the 1000"),
        "{}",
        e.message
    );
    assert_eq!(
        svc.co.db.read(|s| (s.tests().count(), s.runs().count())),
        (0, 0)
    );
    // A start's env past 10,000 entries.
    let (run, _) = svc
        .create_streamed_run(streamed(), &caller, None)
        .unwrap_or_else(|e| panic!("create: {}", e.message));
    let env: BTreeMap<String, String> = (0..10_001)
        .map(|i| (format!("V{i}"), String::new()))
        .collect();
    let e = svc
        .start_run(run.test_id, env, String::new(), 4)
        .expect_err("10,001 env entries");
    assert_eq!((e.status, e.code.as_str()), (400, "invalid_env"));
    assert!(
        e.message.starts_with("env: 10001 env entries"),
        "{}",
        e.message
    );
}

/// Finishes streamed run `id` as its client would, and waits until it has finished.
async fn finish_and_wait(svc: &Service, id: u64) {
    let fin = StreamFinish {
        last_batch_seq: 0,
        abort_reason: None,
        marked_failed: None,
        iterations: 0,
    };
    svc.stream_finish(id, fin)
        .unwrap_or_else(|e| panic!("finish {id}: {}", e.message));
    wait_terminal(svc, id, "finish").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_runs_test_and_archive_are_forgotten_with_the_run() {
    let dir = TempDir::new("service-streamed-tests");
    let svc = bounded_service(&dir);
    let caller = Caller {
        token_id: Some(4),
        role: Role::Submit,
        project_id: 1,
    };
    let mut made = Vec::new();
    for i in 0..6 {
        let mut req = streamed();
        req.script = format!("// script {i}\n");
        let (run, _) = svc
            .create_streamed_run(req, &caller, None)
            .unwrap_or_else(|e| panic!("create {i}: {}", e.message));
        let sha = svc.get_test(run.test_id).unwrap().archive_sha256;
        finish_and_wait(&svc, run.id).await;
        made.push((run.id, run.test_id, sha));
    }
    // Two finished runs are kept (--max-finished-runs 2), each with its test and archive; the
    // four before went, and their tests and archives with them.
    for (i, (run, test, sha)) in made.iter().enumerate() {
        let kept = i >= 4;
        assert_eq!(svc.run(*run).is_some(), kept, "run {run}");
        assert_eq!(svc.get_test(*test).is_some(), kept, "test {test}");
        let stored = svc.co.db.get_content(sha).unwrap().is_some();
        assert_eq!(stored, kept, "archive of test {test}");
    }
    assert_eq!(svc.co.db.read(|s| s.tests().count()), 2);
    // A streamed run's test that a cluster run was started on is kept.
    let (run, _) = svc
        .create_streamed_run(streamed(), &caller, None)
        .unwrap_or_else(|e| panic!("create: {}", e.message));
    let cluster = svc
        .start_run(run.test_id, BTreeMap::new(), String::new(), 4)
        .unwrap_or_else(|e| panic!("start: {}", e.message));
    finish_and_wait(&svc, run.id).await;
    stop_and_wait(&svc, cluster.id).await;
    for _ in 0..2 {
        let (next, _) = svc
            .create_streamed_run(streamed(), &caller, None)
            .unwrap_or_else(|e| panic!("create: {}", e.message));
        finish_and_wait(&svc, next.id).await;
    }
    // The streamed run went first while the cluster run kept its test; a test with a run
    // started on purpose is a test like any other, and stays.
    assert!(svc.run(run.id).is_none() && svc.run(cluster.id).is_none());
    assert!(
        svc.get_test(run.test_id).is_some(),
        "the cluster run's test went"
    );
}
