//! Transition: every pair of statuses, the times and fields each sets, its errors.

use super::*;

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
