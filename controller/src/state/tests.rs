//! Unit tests of the state machine: each command, each transition pair, the rules it enforces.

use super::*;
use crate::model::AbortReason;
use serde_json::json;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const T0: &str = "2024-05-01T12:00:00Z";

fn create_test(at: &str) -> Command {
    Command::CreateTest {
        name: "checkout".into(),
        project_id: 3,
        archive_sha256: SHA.to_uppercase(),
        archive_size: 1234,
        config: json!({"vus": 10, "duration": "30s"}),
        at: at.into(),
        idempotency_key: None,
    }
}

fn create_run(test_id: u64, at: &str) -> Command {
    Command::CreateRun {
        test_id,
        env: BTreeMap::from([("BASE".to_string(), "http://x".to_string())]),
        note: "nightly".into(),
        config: None,
        run_process: None,
        user_id: 42,
        started_by: "ci".into(),
        at: at.into(),
        idempotency_key: None,
    }
}

fn to(run_id: u64, to: RunStatus, at: &str) -> Command {
    Command::Transition {
        run_id,
        to,
        reason: format!("to {}", to.name()),
        at: at.into(),
        changes: RunChanges::default(),
    }
}

/// Applies commands at consecutive indexes after the current one.
fn apply_all(state: &mut State, cmds: &[Command]) -> Vec<Applied> {
    let mut out = Vec::new();
    for cmd in cmds {
        let index = state.applied_index() + 1;
        match state.apply(index, cmd) {
            Ok(a) => out.push(a),
            Err(e) => panic!("{cmd:?} failed: {e}"),
        }
    }
    out
}

/// The shortest way from CREATED to `status` through the transition table (one step for
/// every status today).
fn path_to(status: RunStatus) -> Vec<RunStatus> {
    let mut paths = vec![vec![RunStatus::Created]];
    while !paths.is_empty() {
        if let Some(p) = paths.iter().find(|p| p.last() == Some(&status)) {
            return p[1..].to_vec();
        }
        paths = paths
            .iter()
            .flat_map(|p| {
                let last = p.last().copied().unwrap_or(RunStatus::Created);
                last.successors()
                    .iter()
                    .filter(|s| !p.contains(s))
                    .map(|s| [p.as_slice(), &[*s]].concat())
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    panic!("{status:?} cannot be reached from CREATED")
}

/// A state with test 1 and run 1 in `status` (reached from CREATED by [`path_to`]).
fn run_in(status: RunStatus) -> State {
    let mut s = State::new();
    apply_all(&mut s, &[create_test(T0), create_run(1, T0)]);
    for step in path_to(status) {
        apply_all(&mut s, &[to(1, step, "2024-05-01T12:00:01Z")]);
    }
    s
}

fn run1(s: &State) -> &Run {
    match s.run(1) {
        Some(r) => r,
        None => panic!("run 1 missing"),
    }
}

#[test]
fn create_test_assigns_ids_and_normalizes() {
    let mut s = State::new();
    let a = apply_all(
        &mut s,
        &[create_test("2024-05-01T14:00:00+02:00"), create_test(T0)],
    );
    assert_eq!(
        a[0],
        Applied {
            index: 1,
            effect: Effect::TestCreated { test_id: 1 }
        }
    );
    assert_eq!(a[1].test_id(), Some(2));
    assert_eq!(a[1].run_id(), None);
    assert_eq!(s.next_test_id(), 3);
    let t = s
        .test(1)
        .cloned()
        .unwrap_or_else(|| panic!("test 1 missing"));
    assert_eq!(t.created, T0);
    assert_eq!(t.updated, T0);
    assert_eq!(t.archive_sha256, SHA);
    assert_eq!(t.archive_size, 1234);
    assert_eq!(t.project_id, 3);
    assert!(t.test_run_ids.is_empty());
    assert_eq!(s.tests().map(|t| t.id).collect::<Vec<_>>(), vec![1, 2]);
}

#[test]
fn create_test_validates() {
    let mut s = State::new();
    let mut cmd = create_test(T0);
    if let Command::CreateTest { name, .. } = &mut cmd {
        *name = "  ".into();
    }
    let e = s.apply(1, &cmd).err();
    assert!(matches!(&e, Some(StateError::Invalid { .. })), "{e:?}");
    assert!(e
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("test 1: the name"));

    let mut cmd = create_test(T0);
    if let Command::CreateTest { archive_sha256, .. } = &mut cmd {
        *archive_sha256 = "abc".into();
    }
    assert!(matches!(s.apply(1, &cmd), Err(StateError::Invalid { .. })));

    let e = s.apply(1, &create_test("yesterday")).err();
    assert!(matches!(e, Some(StateError::BadTimestamp { .. })));
    assert_eq!(s, State::new(), "rejected commands leave no trace");
}

#[test]
fn create_run_fills_fields() {
    let mut s = State::new();
    let a = apply_all(
        &mut s,
        &[
            create_test(T0),
            create_run(1, "2024-05-01T12:00:05.250Z"),
            create_run(1, T0),
        ],
    );
    assert_eq!(
        a[1].effect,
        Effect::RunCreated {
            test_id: 1,
            run_id: 1
        }
    );
    assert_eq!(a[2].run_id(), Some(2));
    assert_eq!(a[2].test_id(), Some(1));
    let r = run1(&s);
    assert_eq!(r.run_status, RunStatus::Created);
    assert_eq!(r.processing_status, ProcessingStatus::NotStarted);
    assert_eq!(r.result_status, ResultStatus::Passed);
    assert_eq!(r.created, "2024-05-01T12:00:05.250Z");
    assert_eq!(r.started, None);
    assert_eq!(r.ended, None);
    assert_eq!(r.project_id, 3);
    assert_eq!(r.user_id, 42);
    assert_eq!(r.started_by, "ci");
    assert_eq!(r.note, "nightly");
    assert_eq!(r.env.get("BASE").map(String::as_str), Some("http://x"));
    assert_eq!(r.config, json!({"vus": 10, "duration": "30s"}));
    assert_eq!(r.run_process, RUN_PROCESS);
    assert_eq!(r.version, RUN_VERSION);
    assert_eq!(
        r.transitions,
        vec![Transition {
            from: RunStatus::Created,
            to: RunStatus::Created,
            at: "2024-05-01T12:00:05.250Z".into(),
            reason: CREATED_REASON.into()
        }]
    );
    assert_eq!(s.test(1).map(|t| t.test_run_ids.clone()), Some(vec![1, 2]));
    assert_eq!(s.next_run_id(), 3);
}

#[test]
fn create_run_overrides_config() {
    let mut s = State::new();
    apply_all(
        &mut s,
        &[
            create_test(T0),
            Command::CreateRun {
                test_id: 1,
                env: BTreeMap::new(),
                note: String::new(),
                config: Some(json!({"vus": 1})),
                run_process: None,
                user_id: 0,
                started_by: String::new(),
                at: T0.into(),
                idempotency_key: None,
            },
        ],
    );
    assert_eq!(run1(&s).config, json!({"vus": 1}));
}

/// Logs written before scripts left the state carry `script` in CreateTest and CreateRun;
/// reading them skips it.
#[test]
fn commands_with_the_old_script_field_still_read() {
    let old = [
        json!({"type": "CreateTest", "name": "t", "project_id": 0, "archive_sha256": SHA,
            "archive_size": 3, "config": {}, "script": "x".repeat(1000), "at": T0}),
        json!({"type": "CreateRun", "test_id": 1, "script": "y", "user_id": 0, "at": T0}),
    ];
    let mut s = State::new();
    for (i, c) in old.iter().enumerate() {
        let cmd: Command = serde_json::from_value(c.clone()).unwrap_or_else(|e| panic!("{e}"));
        s.apply(i as u64 + 1, &cmd)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(s.runs().count(), 1);
    let snapshot = serde_json::to_string(&s).unwrap_or_default();
    assert!(
        !snapshot.contains("xxx") && !snapshot.contains("script"),
        "{snapshot}"
    );
}

#[test]
fn create_run_of_unknown_test() {
    let mut s = State::new();
    let e = s.apply(1, &create_run(9, T0));
    assert_eq!(e, Err(StateError::UnknownTest(9)));
    assert_eq!(e.err().map(|e| e.kind()), Some(ErrorKind::NotFound));
    assert_eq!(s.next_run_id(), 1);
    assert_eq!(s.applied_index(), 0);
}

#[test]
fn every_transition_pair() {
    for from in RunStatus::ALL {
        for to_status in RunStatus::ALL {
            let mut s = run_in(from);
            assert_eq!(run1(&s).run_status, from);
            let before = s.clone();
            let index = s.applied_index() + 1;
            let result = s.apply(index, &to(1, to_status, "2024-05-01T12:00:02Z"));
            // The table (checked against the documented rule in common's status tests).
            let legal = from.can_move_to(to_status);
            match result {
                Ok(a) => {
                    assert!(legal, "{from:?} → {to_status:?} was accepted");
                    assert_eq!(
                        a.effect,
                        Effect::RunMoved {
                            run_id: 1,
                            from,
                            to: to_status
                        }
                    );
                    let r = run1(&s);
                    assert_eq!(r.run_status, to_status);
                    let last = r.transitions.last().cloned();
                    assert_eq!(
                        last.map(|t| (t.from, t.to, t.at)),
                        Some((from, to_status, "2024-05-01T12:00:02Z".to_string()))
                    );
                }
                Err(e) => {
                    assert!(!legal, "{from:?} → {to_status:?} was refused: {e}");
                    assert_eq!(s, before, "a refused transition changed the state");
                    let msg = e.to_string();
                    assert!(msg.starts_with("run 1"), "{msg}");
                    if from.is_terminal() {
                        assert!(matches!(e, StateError::Terminal { .. }), "{e:?}");
                        assert_eq!(e.kind(), ErrorKind::Conflict);
                    } else {
                        assert!(matches!(e, StateError::Backward { .. }), "{e:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn error_messages_name_run_and_rule() {
    let mut s = State::new();
    apply_all(&mut s, &[create_test(T0)]);
    for _ in 0..7 {
        apply_all(&mut s, &[create_run(1, T0)]);
    }
    apply_all(
        &mut s,
        &[
            to(7, RunStatus::Running, T0),
            to(7, RunStatus::Finished, T0),
        ],
    );
    let e = s.apply(100, &to(7, RunStatus::Running, T0)).err();
    assert_eq!(
        e.map(|e| e.to_string()).unwrap_or_default(),
        "run 7 is FINISHED (terminal); it cannot move to RUNNING: terminal statuses are final"
    );
    let e = s.apply(100, &to(6, RunStatus::Created, T0)).err();
    let msg = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.starts_with("run 6 is CREATED (-2); it cannot move to CREATED (-2)"),
        "{msg}"
    );
    assert!(
        msg.ends_with(
            "statuses only move forward (from CREATED to -1 VALIDATED, 0 QUEUED, \
             1 INITIALIZING, 2 RUNNING, 3 FINISHED, 4 TIMED_OUT, 5 ABORTED_BY_USER, \
             6 ABORTED_BY_SYSTEM, 7 ABORTED_BY_SCRIPT_ERROR, 8 ABORTED_BY_THRESHOLD or \
             9 ABORTED_BY_LIMIT)"
        ),
        "{msg}"
    );
    let e = s.apply(100, &to(99, RunStatus::Queued, T0));
    assert_eq!(
        e.err().map(|e| e.to_string()).as_deref(),
        Some("run 99 does not exist")
    );
}

#[test]
fn full_lifecycle_sets_times_and_processing() {
    let mut s = run_in(RunStatus::Created);
    apply_all(
        &mut s,
        &[
            to(1, RunStatus::Validated, "2024-05-01T12:00:01Z"),
            to(1, RunStatus::Queued, "2024-05-01T12:00:02Z"),
            to(1, RunStatus::Initializing, "2024-05-01T12:00:03Z"),
        ],
    );
    assert_eq!(run1(&s).processing_status, ProcessingStatus::NotStarted);
    assert_eq!(run1(&s).started, None);
    apply_all(
        &mut s,
        &[to(1, RunStatus::Running, "2024-05-01T14:00:04.500+02:00")],
    );
    let r = run1(&s);
    assert_eq!(r.started.as_deref(), Some("2024-05-01T12:00:04.500Z"));
    assert_eq!(r.processing_status, ProcessingStatus::Processing);
    assert_eq!(r.ended, None);
    apply_all(
        &mut s,
        &[to(1, RunStatus::Finished, "2024-05-01T12:02:05Z")],
    );
    let r = run1(&s);
    assert_eq!(r.ended.as_deref(), Some("2024-05-01T12:02:05Z"));
    assert_eq!(r.duration, 120.5);
    assert_eq!(r.processing_status, ProcessingStatus::Finished);
    let seq: Vec<(i32, i32)> = r
        .transitions
        .iter()
        .map(|t| (t.from.number(), t.to.number()))
        .collect();
    assert_eq!(
        seq,
        vec![(-2, -2), (-2, -1), (-1, 0), (0, 1), (1, 2), (2, 3)]
    );
    assert_eq!(s.non_terminal_runs().count(), 0);
}

#[test]
fn abort_before_running_has_no_duration() {
    let mut s = run_in(RunStatus::Queued);
    apply_all(
        &mut s,
        &[to(1, RunStatus::AbortedByUser, "2024-05-01T12:05:00Z")],
    );
    let r = run1(&s);
    assert_eq!(r.started, None);
    assert_eq!(r.ended.as_deref(), Some("2024-05-01T12:05:00Z"));
    assert_eq!(r.duration, 0.0);
    assert_eq!(r.processing_status, ProcessingStatus::Finished);
}

#[test]
fn ended_before_started_clamps_duration() {
    let mut s = run_in(RunStatus::Running);
    apply_all(
        &mut s,
        &[to(1, RunStatus::TimedOut, "2024-05-01T11:00:00Z")],
    );
    assert_eq!(run1(&s).duration, 0.0);
}

#[test]
fn transition_changes_apply_atomically() {
    let mut s = run_in(RunStatus::Running);
    let cmd = Command::Transition {
        run_id: 1,
        to: RunStatus::AbortedByUser,
        reason: "stopped via API".into(),
        at: "2024-05-01T12:00:31Z".into(),
        changes: RunChanges {
            stopped_by_id: Some(42),
            exit_code: Some(103),
            abort_reason: Some(AbortReason::ApiStop),
            processing_status: Some(ProcessingStatus::Processing),
            ..RunChanges::default()
        },
    };
    apply_all(&mut s, &[cmd]);
    let r = run1(&s);
    assert_eq!(r.run_status, RunStatus::AbortedByUser);
    assert_eq!(r.stopped_by_id, Some(42));
    assert_eq!(r.exit_code, Some(103));
    assert_eq!(r.abort_reason, Some(AbortReason::ApiStop));
    // Set explicitly: the summary is still being merged.
    assert_eq!(r.processing_status, ProcessingStatus::Processing);
    assert_eq!(r.duration, 30.0);

    // A refused transition applies none of its changes.
    let mut s = run_in(RunStatus::Running);
    let before = s.clone();
    let bad = Command::Transition {
        run_id: 1,
        to: RunStatus::Finished,
        reason: "done".into(),
        at: "yesterday".into(),
        changes: RunChanges {
            result_status: Some(ResultStatus::Failed),
            ..RunChanges::default()
        },
    };
    assert!(matches!(
        s.apply(9, &bad),
        Err(StateError::BadTimestamp { .. })
    ));
    assert_eq!(s, before);
}

#[test]
fn processing_error_survives_terminal() {
    let mut s = run_in(RunStatus::Running);
    apply_all(
        &mut s,
        &[
            Command::UpdateRun {
                run_id: 1,
                changes: RunChanges {
                    processing_status: Some(ProcessingStatus::Error),
                    ..RunChanges::default()
                },
            },
            to(1, RunStatus::Finished, "2024-05-01T12:01:00Z"),
        ],
    );
    assert_eq!(run1(&s).processing_status, ProcessingStatus::Error);
}

#[test]
fn transition_needs_reason_and_timestamp() {
    let mut s = run_in(RunStatus::Queued);
    let before = s.clone();
    let no_reason = Command::Transition {
        run_id: 1,
        to: RunStatus::Initializing,
        reason: " ".into(),
        at: T0.into(),
        changes: RunChanges::default(),
    };
    let e = s.apply(10, &no_reason).err();
    assert!(e
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("has no reason"));
    let e = s
        .apply(10, &to(1, RunStatus::Initializing, "2024-05-01T12:00:00"))
        .err();
    let msg = e.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.starts_with("Transition.at: \"2024-05-01T12:00:00\" is not an RFC 3339"),
        "{msg}"
    );
    assert_eq!(s, before);
}

#[test]
fn update_run_changes_only_given_fields() {
    let mut s = run_in(RunStatus::Running);
    let before = run1(&s).clone();
    apply_all(
        &mut s,
        &[Command::UpdateRun {
            run_id: 1,
            changes: RunChanges {
                vus: Some(200),
                result_status: Some(ResultStatus::Failed),
                error_code: Some(7),
                error_detail: Some("agent gen-2 lost".into()),
                degraded: Some(true),
                note: Some("rerun".into()),
                ..RunChanges::default()
            },
        }],
    );
    let r = run1(&s);
    assert_eq!(r.vus, 200);
    assert_eq!(r.result_status, ResultStatus::Failed);
    assert_eq!(r.error_code, Some(7));
    assert_eq!(r.error_detail.as_deref(), Some("agent gen-2 lost"));
    assert!(r.degraded);
    assert_eq!(r.note, "rerun");
    assert_eq!(r.exit_code, before.exit_code);
    assert_eq!(r.stopped_by_id, before.stopped_by_id);
    assert_eq!(r.processing_status, before.processing_status);
    assert_eq!(r.run_status, before.run_status);
    assert_eq!(r.transitions, before.transitions);

    // Terminal runs still take field updates (results are finalized after the end).
    apply_all(
        &mut s,
        &[to(1, RunStatus::Finished, "2024-05-01T12:01:00Z")],
    );
    apply_all(
        &mut s,
        &[Command::UpdateRun {
            run_id: 1,
            changes: RunChanges {
                exit_code: Some(99),
                ..RunChanges::default()
            },
        }],
    );
    assert_eq!(run1(&s).exit_code, Some(99));
}

#[test]
fn update_run_validates() {
    let mut s = run_in(RunStatus::Running);
    let before = s.clone();
    // A status that has no number cannot even be a command: the log never holds one.
    for bad in [
        json!({"type": "UpdateRun", "run_id": 1, "result_status": 2}),
        json!({"type": "UpdateRun", "run_id": 1, "result_status": -1}),
        json!({"type": "UpdateRun", "run_id": 1, "processing_status": 4}),
        json!({"type": "UpdateRun", "run_id": 1, "processing_status": -1}),
        json!({"type": "Transition", "run_id": 1, "to": 99, "reason": "x", "at": T0}),
        json!({"type": "Transition", "run_id": 1, "to": -99, "reason": "x", "at": T0}),
    ] {
        let e = serde_json::from_value::<Command>(bad.clone());
        assert!(e.is_err(), "{bad} decoded");
    }
    let good =
        json!({"type": "UpdateRun", "run_id": 1, "result_status": 1, "processing_status": 3});
    let cmd = serde_json::from_value::<Command>(good);
    assert!(
        matches!(
            &cmd,
            Ok(Command::UpdateRun {
                changes: RunChanges {
                    result_status: Some(ResultStatus::Failed),
                    processing_status: Some(ProcessingStatus::Error),
                    ..
                },
                ..
            })
        ),
        "{cmd:?}"
    );
    let e = s.apply(
        10,
        &Command::UpdateRun {
            run_id: 2,
            changes: RunChanges::default(),
        },
    );
    assert_eq!(e, Err(StateError::UnknownRun(2)));
    assert_eq!(s, before);
}

fn assignment(agent: &str, segment: &str) -> Assignment {
    Assignment {
        agent: agent.into(),
        segment: segment.into(),
        sequence: "0,1/3,2/3,1".into(),
    }
}

#[test]
fn assign_and_summary() {
    let mut s = run_in(RunStatus::Queued);
    let a = vec![assignment("gen-1", "0:1/3"), assignment("gen-2", "1/3:2/3")];
    let r = apply_all(
        &mut s,
        &[Command::Assign {
            run_id: 1,
            assignments: a.clone(),
        }],
    );
    assert_eq!(r[0].effect, Effect::RunAssigned { run_id: 1 });
    assert_eq!(run1(&s).assignments, a);

    let dup = vec![assignment("gen-1", "0:1/2"), assignment("gen-1", "1/2:1")];
    let e = s
        .apply(
            10,
            &Command::Assign {
                run_id: 1,
                assignments: dup,
            },
        )
        .err();
    assert!(e
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("assigned twice"));
    let empty = vec![assignment("", "0:1")];
    assert!(s
        .apply(
            10,
            &Command::Assign {
                run_id: 1,
                assignments: empty
            }
        )
        .is_err());

    let summary = json!({"metrics": {"iterations": {"values": {"count": 3000}}}});
    apply_all(
        &mut s,
        &[
            to(1, RunStatus::AbortedBySystem, T0),
            Command::SetSummary {
                run_id: 1,
                summary: summary.clone(),
            },
        ],
    );
    assert_eq!(run1(&s).summary, Some(summary));
    let e = s
        .apply(
            20,
            &Command::Assign {
                run_id: 1,
                assignments: a,
            },
        )
        .err();
    assert_eq!(
        e.map(|e| e.to_string()).unwrap_or_default(),
        "run 1 is ABORTED_BY_SYSTEM (terminal); its placement can no longer change"
    );
    let e = s.apply(
        20,
        &Command::SetSummary {
            run_id: 5,
            summary: json!({}),
        },
    );
    assert_eq!(e, Err(StateError::UnknownRun(5)));
}

#[test]
fn queries() {
    let mut s = State::new();
    apply_all(
        &mut s,
        &[
            create_test(T0),
            create_test(T0),
            create_run(1, T0),
            create_run(2, T0),
            create_run(1, T0),
            create_run(1, T0),
            to(1, RunStatus::Queued, T0),
            to(3, RunStatus::Queued, T0),
            to(4, RunStatus::Running, T0),
            to(4, RunStatus::Finished, T0),
        ],
    );
    let ids = |it: &mut dyn Iterator<Item = &Run>| it.map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(&mut s.runs()), vec![1, 2, 3, 4]);
    assert_eq!(ids(&mut s.runs_of_test(1)), vec![1, 3, 4]);
    assert_eq!(ids(&mut s.runs_of_test(2)), vec![2]);
    assert_eq!(ids(&mut s.runs_of_test(9)), Vec::<u64>::new());
    assert_eq!(ids(&mut s.runs_in_status(RunStatus::Queued)), vec![1, 3]);
    assert_eq!(ids(&mut s.runs_in_status(RunStatus::Created)), vec![2]);
    assert_eq!(ids(&mut s.non_terminal_runs()), vec![1, 2, 3]);
    assert!(s.run(5).is_none());
    assert!(s.test(3).is_none());
}

#[test]
fn index_rules() {
    let mut s = State::new();
    assert!(s.apply(5, &create_test(T0)).is_ok());
    assert_eq!(s.applied_index(), 5);
    // Gaps are fine; going back or repeating is not.
    assert_eq!(
        s.apply(5, &create_test(T0)),
        Err(StateError::StaleIndex {
            index: 5,
            applied: 5
        })
    );
    assert!(s.apply(3, &create_test(T0)).is_err());
    assert!(s.apply(9, &create_test(T0)).is_ok());
    assert_eq!(s.tests().count(), 2);

    // A prepared command must be committed before anything else is applied.
    let p = s.prepare(10, &create_test(T0));
    let p = p.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.index(), 10);
    assert_eq!(p.effect(), &Effect::TestCreated { test_id: 3 });
    assert!(s.apply(10, &create_test(T0)).is_ok());
    assert_eq!(
        s.commit(p).err(),
        Some(StateError::StalePrepared {
            prepared_at: 9,
            now: 10
        })
    );
}

fn sample_log() -> Vec<Command> {
    vec![
        create_test(T0),
        create_run(1, T0),
        to(1, RunStatus::Validated, "2024-05-01T12:00:01Z"),
        to(1, RunStatus::Queued, "2024-05-01T12:00:01Z"),
        Command::Assign {
            run_id: 1,
            assignments: vec![assignment("gen-1", "0:1")],
        },
        to(1, RunStatus::Initializing, "2024-05-01T12:00:02Z"),
        to(1, RunStatus::Running, "2024-05-01T12:00:03.333Z"),
        Command::UpdateRun {
            run_id: 1,
            changes: RunChanges {
                vus: Some(10),
                ..RunChanges::default()
            },
        },
        Command::Transition {
            run_id: 1,
            to: RunStatus::AbortedByThreshold,
            reason: "threshold p(95)<200 on http_req_duration failed".into(),
            at: "2024-05-01T12:00:13.001Z".into(),
            changes: RunChanges {
                result_status: Some(ResultStatus::Failed),
                exit_code: Some(99),
                ..RunChanges::default()
            },
        },
        Command::SetSummary {
            run_id: 1,
            summary: json!({"metrics": {"x": 0.1}}),
        },
        create_run(1, "2024-05-01T12:01:00Z"),
    ]
}

#[test]
fn same_log_same_state() {
    let log = sample_log();
    let mut a = State::new();
    let mut b = State::new();
    let ra = apply_all(&mut a, &log);
    let rb = apply_all(&mut b, &log);
    assert_eq!(ra, rb);
    assert_eq!(a, b);
    assert_eq!(run1(&a).duration, 9.668);
    // The serialized form is identical too (byte for byte), so snapshots agree.
    let ja = serde_json::to_string(&a).unwrap_or_default();
    let jb = serde_json::to_string(&b).unwrap_or_default();
    assert!(!ja.is_empty());
    assert_eq!(ja, jb);
}

#[test]
fn state_round_trips_through_json() {
    let mut a = State::new();
    apply_all(&mut a, &sample_log());
    let json = serde_json::to_vec(&a).unwrap_or_default();
    let b: State = match serde_json::from_slice(&json) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(a, b);
    // And it keeps working identically after the round trip.
    let (mut a, mut b) = (a, b);
    apply_all(&mut a, &[create_run(1, T0)]);
    apply_all(&mut b, &[create_run(1, T0)]);
    assert_eq!(a, b);
}

#[test]
fn commands_round_trip_with_type_tag() {
    for cmd in sample_log() {
        let json = serde_json::to_value(&cmd).unwrap_or_default();
        assert!(
            json.get("type").and_then(|t| t.as_str()).is_some(),
            "{json}"
        );
        let back: Command = match serde_json::from_value(json.clone()) {
            Ok(c) => c,
            Err(e) => panic!("{json}: {e}"),
        };
        assert_eq!(back, cmd);
    }
    // UpdateRun keeps its fields flat, as the rest of the API does.
    let json = serde_json::to_value(Command::UpdateRun {
        run_id: 3,
        changes: RunChanges {
            vus: Some(5),
            ..RunChanges::default()
        },
    })
    .unwrap_or_default();
    assert_eq!(json, json!({"type": "UpdateRun", "run_id": 3, "vus": 5}));
    // Older logs without optional fields still read.
    let old: Result<Command, _> = serde_json::from_value(json!({
        "type": "CreateRun", "test_id": 1, "user_id": 0, "at": T0
    }));
    assert!(
        matches!(old, Ok(Command::CreateRun { config: None, .. })),
        "{old:?}"
    );
    let old: Result<Command, _> = serde_json::from_value(json!({
        "type": "Transition", "run_id": 1, "to": 2, "reason": "r", "at": T0
    }));
    assert!(old.is_ok(), "{old:?}");
    let unknown: Result<Command, _> =
        serde_json::from_value(json!({"type": "Explode", "run_id": 1}));
    assert!(unknown.is_err());
}

#[test]
fn a_stop_request_is_kept_on_the_run_and_the_first_one_wins() {
    let mut s = run_in(RunStatus::Running);
    let stop = |by: Option<u64>, reason: AbortReason, at: &str| Command::RequestStop {
        run_id: 1,
        by,
        reason,
        at: at.into(),
    };
    let before = serde_json::to_string(run1(&s)).unwrap_or_default();
    assert!(
        !before.contains("stop_request"),
        "a run never stopped serializes as before: {before}"
    );
    let r = apply_all(&mut s, &[stop(Some(5), AbortReason::ApiStop, T0)]);
    assert_eq!(r[0].effect, Effect::RunUpdated { run_id: 1 });
    let want = StopRequest {
        by: Some(5),
        at: T0.into(),
        reason: AbortReason::ApiStop,
    };
    assert_eq!(run1(&s).stop_request.as_ref(), Some(&want));
    assert_eq!(run1(&s).stopped_by_id, Some(5));
    // It asks; it does not end the run (the run's controller does, as the stop says).
    assert_eq!(run1(&s).run_status, RunStatus::Running);
    // A second request (another token, a signal) changes nothing but the applied index.
    let signal = AbortReason::Signal {
        signal: "interrupt".into(),
    };
    apply_all(&mut s, &[stop(Some(9), signal.clone(), T0)]);
    assert_eq!(run1(&s).stop_request.as_ref(), Some(&want));
    assert_eq!(run1(&s).stopped_by_id, Some(5));

    // A run that has ended is refused, as is an unknown one or a bad time.
    let ended = run_in(RunStatus::Finished);
    let err = ended.prepare(99, &stop(None, AbortReason::ApiStop, T0));
    assert!(
        matches!(err, Err(StateError::Terminal { run_id: 1, .. })),
        "{err:?}"
    );
    let bad = Command::RequestStop {
        run_id: 2,
        by: None,
        reason: AbortReason::ApiStop,
        at: T0.into(),
    };
    assert_eq!(s.prepare(99, &bad).err(), Some(StateError::UnknownRun(2)));
    let err = s.prepare(99, &stop(None, AbortReason::ApiStop, "yesterday"));
    assert!(
        matches!(err, Err(StateError::BadTimestamp { .. })),
        "{err:?}"
    );
    // Queued, the same: the stop is kept until its controller ends the run.
    let mut q = run_in(RunStatus::Queued);
    apply_all(&mut q, &[stop(None, signal.clone(), T0)]);
    let kept = run1(&q).stop_request.clone();
    assert_eq!(kept.map(|k| (k.by, k.reason)), Some((None, signal)));
    assert_eq!(run1(&q).stopped_by_id, None);
}

fn keyed_test(key: &str, sha: &str, at: &str) -> Command {
    Command::CreateTest {
        name: "checkout".into(),
        project_id: 3,
        archive_sha256: sha.into(),
        archive_size: 1234,
        config: json!({"vus": 1}),
        at: at.into(),
        idempotency_key: Some(key.into()),
    }
}

fn keyed_run(test_id: u64, user_id: u64, key: &str, at: &str) -> Command {
    Command::CreateRun {
        test_id,
        env: BTreeMap::new(),
        note: String::new(),
        config: None,
        run_process: None,
        user_id,
        started_by: String::new(),
        at: at.into(),
        idempotency_key: Some(key.into()),
    }
}

#[test]
fn a_create_with_a_key_already_seen_makes_nothing_and_answers_the_first_ones_id() {
    let mut s = State::new();
    let plain = serde_json::to_string(&s).unwrap_or_default();
    assert!(!plain.contains("keys"), "no keys, no field: {plain}");
    let r = apply_all(
        &mut s,
        &[keyed_test("k1", SHA, T0), keyed_test("k1", SHA, T0)],
    );
    assert_eq!(r[0].effect, Effect::TestCreated { test_id: 1 });
    assert_eq!(
        r[1].effect,
        Effect::Replayed {
            test_id: 1,
            run_id: None
        }
    );
    assert_eq!((s.tests().count(), s.next_test_id()), (1, 2));
    // Runs have keys of their own: "k1" again is a new run, then a replay of it.
    let r = apply_all(
        &mut s,
        &[
            keyed_run(1, 42, "k1", T0),
            keyed_run(1, 42, "k1", "2024-05-01T12:00:05Z"),
            keyed_run(1, 42, "k2", T0),
        ],
    );
    let effects: Vec<Effect> = r.into_iter().map(|a| a.effect).collect();
    assert_eq!(
        effects,
        [
            Effect::RunCreated {
                test_id: 1,
                run_id: 1
            },
            Effect::Replayed {
                test_id: 1,
                run_id: Some(1)
            },
            Effect::RunCreated {
                test_id: 1,
                run_id: 2
            },
        ]
    );
    assert_eq!(s.runs().count(), 2);
    assert_eq!(s.test(1).map(|t| t.test_run_ids.clone()), Some(vec![1, 2]));

    // The same key with another request is refused (409-kind), and changes nothing.
    let before = s.clone();
    for cmd in [
        keyed_run(1, 43, "k1", T0),
        keyed_test("k1", &"ab".repeat(32), T0),
    ] {
        let err = s.prepare(s.applied_index() + 1, &cmd);
        assert!(
            matches!(&err, Err(e @ StateError::KeyReused { .. }) if e.kind() == ErrorKind::Conflict),
            "{err:?}"
        );
    }
    assert_eq!(s, before);
    // A malformed key is refused.
    for bad in ["", "has space", &"x".repeat(256)] {
        let err = s.prepare(s.applied_index() + 1, &keyed_run(1, 42, bad, T0));
        assert!(
            matches!(err, Err(StateError::Invalid { .. })),
            "{bad:?}: {err:?}"
        );
    }

    // Keys survive a snapshot, so a node that caught up from one answers the same.
    let json = serde_json::to_vec(&s).unwrap_or_default();
    let mut restored: State = serde_json::from_slice(&json).expect("state");
    assert_eq!(restored, s);
    let r = apply_all(&mut restored, &[keyed_run(1, 42, "k2", T0)]);
    assert_eq!(r[0].run_id(), Some(2));

    // A day after its create a key is forgotten: the same key makes a new run.
    let r = apply_all(&mut s, &[keyed_run(1, 42, "k1", "2024-05-02T12:00:01Z")]);
    assert_eq!(
        r[0].effect,
        Effect::RunCreated {
            test_id: 1,
            run_id: 3
        }
    );
}

#[test]
fn at_most_max_keys_of_a_kind_are_kept_the_oldest_forgotten_first() {
    use idempotency::{KeyKind, MAX_KEYS};
    let mut s = State::new();
    apply_all(&mut s, &[create_test(T0)]);
    for i in 0..MAX_KEYS + 5 {
        apply_all(&mut s, &[keyed_run(1, 42, &format!("k{i}"), T0)]);
    }
    assert_eq!(s.idempotency_keys().len(KeyKind::Run), MAX_KEYS);
    assert_eq!(s.idempotency_keys().len(KeyKind::Test), 0);
    let runs = s.runs().count() as u64;
    let r = apply_all(
        &mut s,
        &[keyed_run(1, 42, "k5", T0), keyed_run(1, 42, "k4", T0)],
    );
    assert_eq!(r[0].run_id(), Some(6), "k5 is remembered: its run");
    assert_eq!(r[1].run_id(), Some(runs + 1), "k4 was forgotten: a new run");
    // Forgotten keys stay forgotten on every replica: the same log, the same state.
    let mut again = State::new();
    apply_all(&mut again, &[create_test(T0)]);
    for i in 0..MAX_KEYS + 5 {
        apply_all(&mut again, &[keyed_run(1, 42, &format!("k{i}"), T0)]);
    }
    apply_all(
        &mut again,
        &[keyed_run(1, 42, "k5", T0), keyed_run(1, 42, "k4", T0)],
    );
    assert_eq!(
        serde_json::to_string(&again).unwrap_or_default(),
        serde_json::to_string(&s).unwrap_or_default()
    );
}

fn once(id: u64, at: &str, command: Command) -> Command {
    Command::Once {
        id,
        at: at.into(),
        command: Box::new(command),
    }
}

fn event(run_id: u64, message: &str) -> Command {
    Command::UpdateRun {
        run_id,
        changes: RunChanges {
            event: Some(crate::model::RunEvent {
                at: T0.into(),
                level: "info".into(),
                message: message.into(),
                threshold: None,
            }),
            ..Default::default()
        },
    }
}

/// A write sent again until committed (docs/ha.md#writes-sent-again): its first copy applies,
/// a later copy with the same id changes nothing but the applied index, whatever the command
/// (an event would be added twice, a transition refused as a move backwards).
#[test]
fn a_once_command_applies_once_whatever_the_number_of_its_copies() {
    let mut s = State::new();
    apply_all(&mut s, &[create_test(T0), create_run(1, T0)]);
    let moved = apply_all(&mut s, &[once(7, T0, to(1, RunStatus::Queued, T0))]);
    assert!(matches!(moved[0].effect, Effect::RunMoved { .. }));
    let first_index = moved[0].index;
    let before = s.clone();
    let again = apply_all(&mut s, &[once(7, T0, to(1, RunStatus::Queued, T0))]);
    assert_eq!(again[0].effect, Effect::Repeated { first: first_index });
    assert_eq!(again[0].run_id(), None);
    assert_eq!(s.applied_index(), before.applied_index() + 1);
    assert_eq!(s.run(1), before.run(1), "nothing else changed");

    apply_all(
        &mut s,
        &[once(8, T0, event(1, "once")), once(8, T0, event(1, "once"))],
    );
    assert_eq!(s.run(1).map(|r| r.events.len()), Some(1));
    assert_eq!(s.ops().len(), 2);

    // A refused command records no id: a copy of it is checked again.
    let index = s.applied_index() + 1;
    let refused = s.apply(index, &once(9, T0, to(1, RunStatus::Created, T0)));
    assert!(
        matches!(refused, Err(StateError::Backward { .. })),
        "{refused:?}"
    );
    assert!(s.ops().seen(9).is_none());

    // Nested, or with a bad time: refused, naming the field.
    let index = s.applied_index() + 1;
    let nested = once(10, T0, once(11, T0, event(1, "nested")));
    let e = s.apply(index, &nested).expect_err("nested");
    assert!(e.to_string().contains("wraps another Once"), "{e}");
    let e = s
        .apply(index, &once(10, "yesterday", event(1, "x")))
        .expect_err("bad time");
    assert!(e.to_string().contains("Once.at"), "{e}");

    // Remembered in snapshots, and replayed the same.
    let json = serde_json::to_string(&s).unwrap();
    let back: State = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    let cmd = once(12, T0, to(1, RunStatus::Running, T0));
    let text = serde_json::to_string(&cmd).unwrap();
    assert!(text.starts_with(r#"{"type":"Once","id":12,"#), "{text}");
    assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), cmd);
}

#[test]
fn write_ids_are_forgotten_after_their_ttl_and_beyond_the_most_kept() {
    let mut s = State::new();
    apply_all(&mut s, &[create_test(T0), create_run(1, T0)]);
    for id in 0..once::MAX_OPS as u64 {
        apply_all(&mut s, &[once(id, T0, event(1, "e"))]);
    }
    assert_eq!(s.ops().len(), once::MAX_OPS);
    apply_all(&mut s, &[once(u64::MAX, T0, event(1, "e"))]);
    assert_eq!(s.ops().len(), once::MAX_OPS, "bounded");
    assert!(s.ops().seen(0).is_none(), "the oldest forgotten first");
    assert!(s.ops().seen(1).is_some());

    // An hour and more later, every older id is forgotten.
    let later = u64::MAX - 1;
    apply_all(
        &mut s,
        &[once(later, "2024-05-01T13:00:01Z", event(1, "later"))],
    );
    assert_eq!(s.ops().len(), 1);
    assert!(s.ops().seen(later).is_some());
}
