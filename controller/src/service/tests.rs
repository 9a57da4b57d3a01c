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
