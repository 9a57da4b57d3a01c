//! RequestStop: the stop request kept on the run.

use super::*;

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
