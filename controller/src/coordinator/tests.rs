//! A stop committed before the controller that drove the run went away is carried out by the
//! controller that takes the run over (docs/ha.md#stops): a RUNNING run resumed from its
//! checkpoint, and a QUEUED run, both end as the user's stop, not as a system abort.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::checkpoint::{AgentProgress, Checkpoint};
use crate::model::Assignment;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "volley-coordinator-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const ARCHIVE: &[u8] = b"the archive's bytes";

fn exec(db: &Db, cmd: Command) {
    db.execute(cmd.clone())
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
}

fn move_to(db: &Db, run_id: u64, to: RunStatus) {
    exec(
        db,
        Command::Transition {
            run_id,
            to,
            reason: "test".into(),
            at: now_rfc3339(),
            changes: RunChanges::default(),
        },
    );
}

/// A store holding run 1 of test 1 in `status`, on agent `gen-1`, whose stop by token 7 (a
/// signal when `signal`) is committed.
fn store_with_a_stopped_run(dir: &TempDir, status: RunStatus, signal: bool) -> Arc<Db> {
    let db = Arc::new(Db::open(&dir.0).unwrap_or_else(|e| panic!("open: {e}")));
    db.create_test(
        Command::CreateTest {
            name: "stopped".into(),
            project_id: 1,
            archive_sha256: crate::store::sha256_hex(ARCHIVE),
            archive_size: ARCHIVE.len() as u64,
            config: serde_json::json!({"vus": 1}),
            at: now_rfc3339(),
        },
        ARCHIVE,
    )
    .unwrap_or_else(|e| panic!("create test: {e}"));
    exec(
        &db,
        Command::CreateRun {
            test_id: 1,
            env: BTreeMap::new(),
            note: String::new(),
            config: None,
            run_process: None,
            user_id: 7,
            started_by: String::new(),
            at: now_rfc3339(),
        },
    );
    move_to(&db, 1, RunStatus::Queued);
    if status == RunStatus::Running {
        exec(
            &db,
            Command::Assign {
                run_id: 1,
                assignments: vec![Assignment {
                    agent: "gen-1".into(),
                    segment: "0:1".into(),
                    sequence: "0,1".into(),
                }],
            },
        );
        move_to(&db, 1, RunStatus::Running);
        let cp = Checkpoint {
            version: checkpoint::VERSION,
            started_unix_ms: driver::SystemClock.now().unix_ms - 5_000,
            setup_completed: true,
            setup_data: None,
            teardown_agent: None,
            reason: None,
            agents: [(
                "gen-1".to_string(),
                AgentProgress {
                    vus: 1,
                    ..Default::default()
                },
            )]
            .into_iter()
            .collect(),
            series: Vec::new(),
            agent_gauges: BTreeMap::new(),
        };
        let bytes = serde_json::to_vec(&cp).unwrap_or_default();
        db.put_checkpoint(1, &bytes)
            .unwrap_or_else(|e| panic!("checkpoint: {e}"));
    }
    let reason = if signal {
        AbortReason::Signal {
            signal: "interrupt".into(),
        }
    } else {
        AbortReason::ApiStop
    };
    exec(
        &db,
        Command::RequestStop {
            run_id: 1,
            by: Some(7),
            reason,
            at: now_rfc3339(),
        },
    );
    db
}

/// Starts a coordinator on `db` as a new Raft leader would, and waits for run 1 to end.
async fn taken_over(db: Arc<Db>) -> Run {
    let config = CoordinatorConfig {
        agent_lost_after: Duration::from_millis(300),
        ..Default::default()
    };
    let co = Coordinator::new(db.clone(), Arc::new(Registry::new()), config);
    co.set_resume_cause(ResumeCause::LeaderChange { node: 2 });
    co.start();
    let began = Instant::now();
    loop {
        let run = db.read(|s| s.run(1).cloned()).expect("run 1");
        if run.run_status.is_terminal() {
            return run;
        }
        assert!(
            began.elapsed() < Duration::from_secs(20),
            "run 1 did not end within 20 s: {run:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_run_whose_stop_was_committed_ends_as_the_users_stop() {
    let dir = TempDir::new("resume-stop");
    let run = taken_over(store_with_a_stopped_run(&dir, RunStatus::Running, false)).await;
    assert_eq!(run.run_status, RunStatus::AbortedByUser, "{run:?}");
    assert_eq!(run.abort_reason, Some(AbortReason::ApiStop));
    assert_eq!(run.exit_code, Some(103));
    assert_eq!(run.stopped_by_id, Some(7));
    assert!(
        run.events
            .iter()
            .any(|e| e.message.starts_with("node 2 became the Raft leader")),
        "the run was resumed, not ended at once: {:?}",
        run.events
    );

    // A signal's stop (a CLI that followed the run got Ctrl+C) stays a signal's: 105.
    let dir = TempDir::new("resume-signal");
    let run = taken_over(store_with_a_stopped_run(&dir, RunStatus::Running, true)).await;
    assert_eq!(run.run_status, RunStatus::AbortedByUser, "{run:?}");
    assert_eq!(run.exit_code, Some(105));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_run_whose_stop_was_committed_is_never_placed() {
    let dir = TempDir::new("queued-stop");
    let run = taken_over(store_with_a_stopped_run(&dir, RunStatus::Queued, false)).await;
    assert_eq!(run.run_status, RunStatus::AbortedByUser, "{run:?}");
    assert_eq!(run.abort_reason, Some(AbortReason::ApiStop));
    assert!(run.assignments.is_empty(), "{run:?}");
}
