//! Thresholds judged on the merged data: abort-on-fail and the failed ones at the end.

use super::*;

#[test]
fn an_abort_on_fail_threshold_aborts_on_the_merged_data() {
    let options = json!({"thresholds": {"http_req_failed": [
        {"threshold": "rate<0.5", "abortOnFail": true}
    ]}});
    let mut h = Harness::with(spec(&["a", "b"], options, false), config());
    h.running(1);
    let failed = |v| vec![series("http_req_failed", MetricType::Rate, v, &[])];
    // Merged: 1 failure out of 3 requests is under the threshold.
    h.after(1, batch("a", 1, failed(1.0)));
    h.step(batch("b", 1, failed(0.0)));
    assert!(stops(&h.after(1, batch("b", 2, failed(0.0)))).is_empty());
    // Now 3 out of 5: the next evaluation (every 2 s) aborts.
    h.step(batch("a", 2, failed(1.0)));
    assert!(stops(&h.step(batch("a", 3, failed(1.0)))).is_empty());
    let aborted = h.after(2, Input::Tick);
    let why = AbortReason::Threshold {
        metrics: vec!["http_req_failed".into()],
    };
    assert_eq!(
        stops(&aborted),
        [("a".into(), why.clone(), false), ("b".into(), why, false)]
    );
    // Aborted: the run ends once every agent is done, without waiting for missing batches.
    let end = h.all_done(3);
    assert_eq!(finish(&end), Some((RunStatus::AbortedByThreshold, 99)));
}

#[test]
fn the_end_reports_failed_thresholds_and_a_run_marked_failed() {
    // A threshold without abortOnFail fails at the end: FINISHED, FAILED, 99.
    let options = json!({"thresholds": {"iterations": ["count<2"]}});
    let mut h = Harness::with(spec(&["a"], options, false), config());
    h.running(1);
    h.after(1, batch("a", 1, iterations(5.0)));
    let end = h.all_done(1);
    assert_eq!(finish(&end), Some((RunStatus::Finished, 99)));
    assert!(matches!(
        end.iter().find(|a| matches!(a, Action::Transition { .. })),
        Some(Action::Transition { reason, changes, .. })
            if reason == "thresholds on metrics 'iterations' have been crossed"
                && changes.result_status == Some(ResultStatus::Failed)
    ));

    // exec.test.fail() on one agent: FINISHED, FAILED, 110.
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    for a in ["a", "b"] {
        h.step(event(a, pb::RunPhase::ExecutionDone));
    }
    h.step(done("a", 0));
    let Input::Event(b, mut e) = done("b", 0) else {
        unreachable!()
    };
    e.marked_failed = true;
    e.failed_message = "bad data".into();
    let end = h.step(Input::Event(b, e));
    assert_eq!(finish(&end), Some((RunStatus::Finished, 110)));
    assert_eq!(
        summary_message(&end).as_deref(),
        Some("test run was marked as failed")
    );
}

#[test]
fn a_threshold_crossing_each_way_is_recorded_when_the_merged_data_crosses_it() {
    let options = json!({"thresholds": {"http_req_failed": ["rate<0.5"]}});
    let mut h = Harness::with(spec(&["a"], options, false), config());
    h.running(1);
    let failed = |v| vec![series("http_req_failed", MetricType::Rate, v, &[])];
    h.step(batch("a", 1, failed(0.0)));
    assert!(crossings(&h.after(2, Input::Tick)).is_empty(), "passing");
    // 2 of 3 failed: it fails from the end of interval 3 on.
    h.step(batch("a", 2, failed(1.0)));
    h.step(batch("a", 3, failed(1.0)));
    let failing = h.after(2, Input::Tick);
    assert_eq!(
        crossings(&failing),
        [(
            T0_UNIX_MS + 3000,
            "http_req_failed".into(),
            "rate<0.5".into(),
            false
        )]
    );
    assert!(
        crossings(&h.after(2, Input::Tick)).is_empty(),
        "still failing"
    );
    // 2 of 7: it passes again.
    for seq in 4..=7 {
        h.step(batch("a", seq, failed(0.0)));
    }
    let back = h.after(2, Input::Tick);
    assert_eq!(
        crossings(&back),
        [(
            T0_UNIX_MS + 7000,
            "http_req_failed".into(),
            "rate<0.5".into(),
            true
        )]
    );
    // The end finds no new crossing; a run without thresholds has none at all.
    let end = h.all_done(7);
    assert!(crossings(&end).is_empty());
    assert_eq!(finish(&end), Some((RunStatus::Finished, 0)));
}
