//! UpdateRun: only the given fields change, bad values are refused.

use super::*;

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
