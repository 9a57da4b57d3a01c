//! The coordinator against a real store, as the controller that takes runs over:
//! - a stop committed before the controller that drove the run went away is carried out
//!   (docs/ha.md#stops): a RUNNING run resumed from its checkpoint, and a QUEUED run, both end
//!   as the user's stop, not as a system abort;
//! - what a leader change leaves half done is finished (docs/ha.md#leadership): agents still
//!   running a run nobody drives are stopped and not placed meanwhile, runs a cut-short submit
//!   left CREATED or VALIDATED are queued, a run that ends frees only agents still on it.

use std::collections::BTreeMap;

use tokio::sync::oneshot;

use super::*;
use crate::checkpoint::{AgentProgress, Checkpoint};
use crate::model::Assignment;
use crate::state::RunPlacement;
use crate::temp_dir::TempDir;

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
            idempotency_key: None,
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
            idempotency_key: None,
        },
    );
    move_to(&db, 1, RunStatus::Queued);
    if status == RunStatus::Running {
        exec(
            &db,
            Command::Assign {
                run_id: 1,
                placement: RunPlacement {
                    sequence: "0,1".into(),
                    assignments: vec![Assignment {
                        agent: "gen-1".into(),
                        segment: "0:1".into(),
                    }],
                },
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

const MINUTE: Duration = Duration::from_secs(60);

/// A coordinator with agent `a` connected: what the controller sends it arrives on the receiver.
fn with_agent(
    dir: &TempDir,
) -> (
    Arc<Coordinator>,
    u64,
    mpsc::Receiver<pb::ControllerMessage>,
    oneshot::Receiver<crate::registry::Overflow>,
) {
    let db = Arc::new(Db::open(&dir.0).unwrap_or_else(|e| panic!("open: {e}")));
    let registry = Arc::new(Registry::new());
    let co = Coordinator::new(db, registry.clone(), CoordinatorConfig::default());
    let (tx, rx) = mpsc::channel(16);
    let (close, closed) = oneshot::channel();
    let reg = pb::Register {
        name: "a".into(),
        ..Default::default()
    };
    let conn = registry.register(&reg, tx, "t".into(), close).unwrap().conn;
    (co, conn, rx, closed)
}

/// A heartbeat of `a` as its stream hands it on: the registry first, then the run.
async fn heartbeat(co: &Coordinator, conn: u64, run_id: u64) {
    heartbeat_of(co, "a", conn, run_id).await;
}

async fn heartbeat_of(co: &Coordinator, agent: &str, conn: u64, run_id: u64) {
    let hb = pb::Heartbeat {
        run_id,
        ..Default::default()
    };
    co.registry.heartbeat(agent, conn, hb);
    co.on_agent_message(agent, pb::agent_message::Body::Heartbeat(hb), || {})
        .await
        .unwrap();
}

/// The immediate stops sent to `a` since the last call, by run id.
fn stops(rx: &mut mpsc::Receiver<pb::ControllerMessage>) -> Vec<u64> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .filter_map(|m| match m.body {
            Some(pb::controller_message::Body::Stop(s)) if s.immediate => Some(s.run_id),
            _ => None,
        })
        .collect()
}

/// An agent whose heartbeats name a run this controller does not drive (a previous Raft
/// leader placed it, or the run ended here while the agent was lost) is told to stop it at
/// once, on every such heartbeat, and is offered for no run until its heartbeats no longer
/// name it: placed meanwhile, it would refuse the run as "busy with another run" and that
/// run would wait `agent_lost_after` for it.
#[tokio::test]
async fn an_agent_still_running_a_run_not_driven_here_is_stopped_and_not_placed() {
    let dir = TempDir::new("disown");
    let (co, conn, mut rx, _closed) = with_agent(&dir);
    assert_eq!(co.registry.idle(MINUTE).len(), 1);

    heartbeat(&co, conn, 9).await;
    assert_eq!(stops(&mut rx), [9]);
    assert!(
        co.registry.idle(MINUTE).is_empty(),
        "not offered while it runs 9"
    );
    let view = co.registry.view("a").unwrap();
    assert_eq!((view.state.as_str(), view.run_id), ("busy", Some(9)));
    heartbeat(&co, conn, 9).await;
    assert_eq!(stops(&mut rx), [9], "told again while it still runs it");
    heartbeat(&co, conn, 0).await;
    assert!(stops(&mut rx).is_empty());
    assert_eq!(co.registry.idle(MINUTE).len(), 1, "stopped: offered again");

    // The same for a run that is active here without this agent.
    let _tracked = co.track(5, &["b".to_string()], None);
    heartbeat(&co, conn, 5).await;
    assert_eq!(stops(&mut rx), [5]);
    assert!(co.registry.idle(MINUTE).is_empty());
    heartbeat(&co, conn, 0).await;
    assert_eq!(co.registry.idle(MINUTE).len(), 1);

    // And for an agent that registers saying it runs such a run: busy with it from its
    // registration (the scheduler must not place it before it is re-attached or told to
    // stop), then told to stop it.
    let (tx, mut rx_b) = mpsc::channel(16);
    let (close, _closed_b) = oneshot::channel();
    let reg = pb::Register {
        name: "b".into(),
        resume_run_id: 7,
        ..Default::default()
    };
    let conn_b = co
        .registry
        .register(&reg, tx, "t".into(), close)
        .unwrap()
        .conn;
    assert_eq!(
        co.registry.idle(MINUTE).len(),
        1,
        "only a: b is not offered yet"
    );
    co.reattach("b", 7);
    assert_eq!(stops(&mut rx_b), [7]);
    assert_eq!(
        co.registry.idle(MINUTE).len(),
        1,
        "b runs 7 until it says otherwise"
    );
    heartbeat_of(&co, "b", conn_b, 0).await;
    assert_eq!(co.registry.idle(MINUTE).len(), 2);

    // One that registers with a run active here with it is re-attached: busy with it.
    let _tracked = co.track(8, &["c".to_string()], None);
    let (tx, _rx_c) = mpsc::channel(16);
    let (close, _closed_c) = oneshot::channel();
    let reg = pb::Register {
        name: "c".into(),
        resume_run_id: 8,
        ..Default::default()
    };
    co.registry.register(&reg, tx, "t".into(), close).unwrap();
    co.reattach("c", 8);
    assert_eq!(co.registry.view("c").unwrap().run_id, Some(8));
    assert_eq!(co.registry.idle(MINUTE).len(), 2, "c is busy with run 8");

    // Other messages of a run that is not active (an agent replays those of a run it
    // finished) are dropped without a stop.
    let done = pb::RunEvent {
        run_id: 9,
        phase: pb::RunPhase::Done as i32,
        ..Default::default()
    };
    co.on_agent_message("a", pb::agent_message::Body::Event(done), || {})
        .await
        .unwrap();
    assert!(stops(&mut rx).is_empty());
    assert_eq!(co.registry.idle(MINUTE).len(), 2, "a and b");
}

/// A controller that stopped (or lost the Raft leadership) between creating a run and
/// queueing it left the run CREATED or VALIDATED, where nothing would ever move it: the
/// controller that takes over queues it, as the submit would have, or ends a streamed one
/// (its local client went on without it).
#[tokio::test]
async fn runs_left_created_or_validated_by_a_cut_short_submit_are_queued_by_the_next_leader() {
    let dir = TempDir::new("cut-short");
    let (co, _conn, _rx, _closed) = with_agent(&dir);
    let archive = b"an archive";
    co.db
        .create_test(
            Command::CreateTest {
                name: "t".into(),
                project_id: 1,
                archive_sha256: crate::store::sha256_hex(archive),
                archive_size: archive.len() as u64,
                config: serde_json::json!({"vus": 1, "iterations": 2}),
                at: "2024-05-01T12:00:00Z".into(),
                idempotency_key: None,
            },
            archive,
        )
        .unwrap();
    let run = |process: Option<&str>| {
        co.db
            .execute(Command::CreateRun {
                test_id: 1,
                env: Default::default(),
                note: String::new(),
                config: Some(serde_json::json!({"vus": 1, "iterations": 2})),
                run_process: process.map(String::from),
                user_id: 1,
                started_by: String::new(),
                at: "2024-05-01T12:00:01Z".into(),
                idempotency_key: None,
            })
            .unwrap()
            .run_id()
            .unwrap()
    };
    let created = run(None);
    let validated = run(None);
    co.db
        .execute(Command::Transition {
            run_id: validated,
            to: RunStatus::Validated,
            reason: "archive and options valid".into(),
            at: "2024-05-01T12:00:02Z".into(),
            changes: RunChanges::default(),
        })
        .unwrap();
    let streamed = run(Some(STREAMED_RUN_PROCESS));

    co.set_resume_cause(ResumeCause::LeaderChange { node: 2 });
    co.start();
    let last = |id: u64| {
        co.db.read(|s| {
            let r = s.run(id).unwrap();
            let t = r.transitions.last().unwrap();
            (r.run_status, t.reason.clone())
        })
    };
    let queued =
        "waiting for agents (node 2 became the Raft leader while the run was being submitted)";
    assert_eq!(last(created), (RunStatus::Queued, queued.to_string()));
    assert_eq!(last(validated), (RunStatus::Queued, queued.to_string()));
    assert_eq!(
        last(streamed),
        (
            RunStatus::AbortedBySystem,
            "node 2 became the Raft leader while the run was being submitted (CREATED), and its \
             local client went on without it"
                .to_string()
        )
    );
}

/// A resumed run waits for agents that may come back without re-attaching to it (they had
/// finished their part), and those are placed on new runs meanwhile. When the resumed run
/// ends it frees only the agents still busy with it: freeing the others would offer an agent
/// that is running another run, which it would refuse as "busy with another run".
#[tokio::test]
async fn a_run_that_ends_frees_only_the_agents_still_busy_with_it() {
    let dir = TempDir::new("release");
    let (co, _conn, _rx, _closed) = with_agent(&dir);
    let agents = ["a".to_string()];
    let resumed = co.track(3, &agents, None);
    co.registry.set_run(&agents, Some(5));
    co.retire(3, resumed.live, &agents);
    assert_eq!(co.registry.view("a").unwrap().run_id, Some(5));
    assert!(co.registry.idle(MINUTE).is_empty(), "still busy with run 5");
    let placed = co.track(5, &agents, None);
    co.retire(5, placed.live, &agents);
    assert_eq!(co.registry.idle(MINUTE).len(), 1, "run 5 ended: idle");
}

/// A checkpoint an ended run left behind (its drop lost with a leader, or the controller
/// stopped before it) is never resumed from, and the next coordinator to start drops it: before,
/// it stayed on every node and in every Raft snapshot for good (docs/ha.md#writes-sent-again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_runs_checkpoint_left_behind_is_never_resumed_and_is_dropped() {
    let dir = TempDir::new("stale-checkpoint");
    let db = store_with_a_stopped_run(&dir, RunStatus::Running, false);
    move_to(&db, 1, RunStatus::AbortedByUser);
    let before = db.read(|s| s.run(1).cloned()).expect("run 1");
    assert_eq!(db.checkpoint_runs().unwrap_or_else(|e| panic!("{e}")), [1]);
    let co = Coordinator::new(db.clone(), Arc::new(Registry::new()), Default::default());
    co.set_resume_cause(ResumeCause::LeaderChange { node: 2 });
    co.start();
    let began = Instant::now();
    while !db
        .checkpoint_runs()
        .unwrap_or_else(|e| panic!("{e}"))
        .is_empty()
    {
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "the ended run's checkpoint is still there after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(db.get_checkpoint(1).unwrap_or_else(|e| panic!("{e}")), None);
    let after = db.read(|s| s.run(1).cloned()).expect("run 1");
    assert_eq!(after, before, "the ended run was not resumed nor changed");
    assert!(co.runs.lock().unwrap_or_else(|e| e.into_inner()).is_empty());
}

/// Runs writes sent again until committed (docs/ha.md#writes-sent-again): a Raft leader whose
/// proposals of some of them time out, through the store's stand-in for the Raft driver.
mod writes_sent_again {
    use super::*;
    use crate::store::stand_in::{Outcome, StandIn};

    fn is_end(c: &Command) -> bool {
        matches!(c, Command::Transition { to, .. } if to.is_terminal())
    }

    /// A run's end that is not committed in time is proposed again: before, it was logged
    /// and dropped, and the run stayed RUNNING with nobody driving it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_runs_end_not_committed_in_time_is_sent_again_until_it_is() {
        let dir = TempDir::new("resend-end");
        let db = store_with_a_stopped_run(&dir, RunStatus::Running, false);
        let stand_in = StandIn::install(&db, is_end, &[Outcome::Lost, Outcome::Lost]);
        let run = taken_over(db).await;
        assert_eq!(run.run_status, RunStatus::AbortedByUser, "{run:?}");
        assert_eq!(run.exit_code, Some(103));
        assert_eq!(stand_in.picked().len(), 3, "two timeouts, then committed");
    }

    /// A run's event whose proposal timed out but was committed after it, and which was sent
    /// again, is in the run's history once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_runs_event_committed_after_its_timeout_is_kept_once() {
        const RESUMED: &str = "node 2 became the Raft leader";
        let is_resumed = |c: &Command| {
            matches!(c, Command::UpdateRun { changes, .. }
                if changes.event.as_ref().is_some_and(|e| e.message.starts_with(RESUMED)))
        };
        let dir = TempDir::new("resend-event");
        let db = store_with_a_stopped_run(&dir, RunStatus::Running, false);
        let stand_in = StandIn::install(&db, is_resumed, &[Outcome::Late]);
        let run = taken_over(db).await;
        assert_eq!(run.run_status, RunStatus::AbortedByUser, "{run:?}");
        assert_eq!(stand_in.picked().len(), 2, "sent again after its timeout");
        let resumed = run
            .events
            .iter()
            .filter(|e| e.message.starts_with(RESUMED))
            .count();
        assert_eq!(resumed, 1, "{:?}", run.events);
    }

    /// A submit's queueing is proposed until committed: before, a timeout left the run
    /// VALIDATED, where nothing moved it until the next leader change.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_submits_queueing_not_committed_in_time_is_sent_again_until_it_is() {
        use crate::api::ControllerService as _;
        let dir = TempDir::new("resend-queue");
        let db = Arc::new(Db::open(&dir.0).unwrap_or_else(|e| panic!("open: {e}")));
        db.create_test(
            Command::CreateTest {
                name: "t".into(),
                project_id: 1,
                archive_sha256: crate::store::sha256_hex(ARCHIVE),
                archive_size: ARCHIVE.len() as u64,
                config: serde_json::json!({"vus": 1, "iterations": 2}),
                at: now_rfc3339(),
                idempotency_key: None,
            },
            ARCHIVE,
        )
        .unwrap_or_else(|e| panic!("create test: {e}"));
        let queueing = |c: &Command| {
            matches!(c, Command::Transition { to, .. }
                if matches!(to, RunStatus::Validated | RunStatus::Queued))
        };
        // The move to VALIDATED commits after its timeout (its copy sent again commits too);
        // the move to QUEUED times out twice.
        let script = [Outcome::Late, Outcome::Commit, Outcome::Lost, Outcome::Lost];
        let stand_in = StandIn::install(&db, queueing, &script);
        let co = Coordinator::new(db, Arc::new(Registry::new()), CoordinatorConfig::default());
        let service = crate::service::Service {
            co: co.clone(),
            stream_keys: crate::auth::stream_keys::StreamKeys::from_key([7; 32]),
            forwarder: None,
            run_creates: Default::default(),
        };
        let run = service
            .start_run(1, BTreeMap::new(), String::new(), 0)
            .unwrap_or_else(|e| panic!("start: {}", e.message));
        assert_eq!(run.run_status, RunStatus::Queued, "{run:?}");
        let moves: Vec<RunStatus> = run.transitions.iter().map(|t| t.to).collect();
        assert_eq!(
            moves,
            [RunStatus::Created, RunStatus::Validated, RunStatus::Queued],
            "each move once"
        );
        assert_eq!(
            stand_in.picked().len(),
            5,
            "2 copies of one, 3 of the other"
        );
    }
}
