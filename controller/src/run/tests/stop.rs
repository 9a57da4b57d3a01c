//! A script abort or a stop ends the run, from every phase.

use super::*;

#[test]
fn a_script_abort_stops_the_run_with_its_exit_code() {
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    let why = AbortReason::ScriptAbort {
        message: Some("enough".into()),
        exit_code: None,
        context: None,
    };
    let aborted = h.after(1, aborted_by("b", &why));
    assert_eq!(
        stops(&aborted),
        [("a".into(), why.clone(), false), ("b".into(), why, false)]
    );
    let end = h.all_done(0);
    assert_eq!(finish(&end), Some((RunStatus::AbortedByScriptError, 108)));
    assert_eq!(summary_message(&end).as_deref(), Some("enough"));
}

#[test]
fn a_stop_ends_the_run_from_every_phase() {
    let api = AbortReason::ApiStop;
    // Initializing: stopped at once; no setup, no teardown.
    let mut h = Harness::new(&["a", "b"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("a", 1));
    assert_eq!(
        sends(&h.step(Input::Stop(api.clone()))),
        ["Stop! a", "Stop! b"]
    );
    h.step(done("a", 0));
    let end = h.step(done("b", 0));
    assert_eq!(sends(&end), ["Stop! a", "Stop! b"], "no setup, no teardown");
    assert_eq!(finish(&end), Some((RunStatus::AbortedByUser, 103)));

    // Setup: stopped at once; setup's result no longer matters.
    let mut h = Harness::new(&["a", "b"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("a", 1));
    h.step(ready("b", 1));
    assert_eq!(
        sends(&h.step(Input::Stop(api.clone()))),
        ["Stop! a", "Stop! b"]
    );
    let late = h.step(setup_ok("a", ""));
    assert_eq!(
        sends(&late),
        ["Stop! a", "Stop! b"],
        "no SetupData, no Start"
    );
    h.step(done("a", 0));
    let end = h.step(done("b", 0));
    assert_eq!(finish(&end), Some((RunStatus::AbortedByUser, 103)));

    // Running: a graceful stop; teardown still runs once.
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    let stop = h.after(1, Input::Stop(api.clone()));
    assert_eq!(sends(&stop), ["Stop a", "Stop b"]);
    assert!(sends(&h.step(event("a", pb::RunPhase::ExecutionDone))).is_empty());
    let teardown = h.step(event("b", pb::RunPhase::ExecutionDone));
    assert_eq!(sends(&teardown), ["Teardown+run a", "Teardown b"]);
    h.step(done("a", 0));
    assert_eq!(
        finish(&h.step(done("b", 0))),
        Some((RunStatus::AbortedByUser, 103))
    );

    // Teardown: agents still going are stopped; the first reason wins.
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    h.step(event("a", pb::RunPhase::ExecutionDone));
    h.step(event("b", pb::RunPhase::ExecutionDone));
    h.step(done("a", 0));
    assert_eq!(sends(&h.step(Input::Stop(api.clone()))), ["Stop b"]);
    assert!(h.step(Input::Stop(system("later"))).is_empty());
    assert_eq!(
        finish(&h.step(done("b", 0))),
        Some((RunStatus::AbortedByUser, 103))
    );
}
