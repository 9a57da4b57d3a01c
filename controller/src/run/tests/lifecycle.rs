//! A run's whole course when nothing goes wrong, for agents and for a streamed run.

use super::*;

#[test]
fn a_run_goes_through_its_phases_and_passes() {
    let mut h = Harness::new(&["a", "b"], config());
    let launched = h.step(Input::Launch {
        archive: Some(b"zip".to_vec()),
    });
    assert_eq!(sends(&launched), ["Assign a", "Assign b"]);
    let Action::Send {
        body: Body::Assign(assign),
        ..
    } = &launched[1]
    else {
        panic!("{launched:?}")
    };
    assert_eq!(
        (assign.segment.as_str(), &assign.archive[..]),
        ("1/2:2/2", b"zip".as_slice())
    );
    assert!(h.step(ready("a", 3)).is_empty());
    assert_eq!(sends(&h.step(ready("b", 4))), ["RunSetup a"]);
    let started = h.step(setup_ok("a", "{\"x\":1}"));
    assert_eq!(
        sends(&started),
        ["SetupData a", "SetupData b", "Start a", "Start b"]
    );
    assert!(started.contains(&Action::Send {
        agent: "b".into(),
        body: Body::Start(pb::Start {
            run_id: RUN,
            at_unix_ms: T0_UNIX_MS + 300,
        }),
    }));
    assert_eq!(
        transitions(&started),
        [(RunStatus::Running, "start barrier released".to_string())]
    );
    assert!(matches!(&started[4], Action::Transition { changes, .. } if changes.vus == Some(7)));
    assert!(matches!(started.last(), Some(Action::Checkpoint { .. })));

    h.after(1, batch("a", 1, iterations(5.0)));
    h.step(batch("b", 1, iterations(2.0)));
    assert!(h.step(event("a", pb::RunPhase::ExecutionDone)).is_empty());
    let teardown = h.step(event("b", pb::RunPhase::ExecutionDone));
    assert_eq!(sends(&teardown), ["Teardown+run a", "Teardown b"]);
    assert!(h.step(done("a", 1)).is_empty());
    // b's last batch is 2: the run waits for it.
    assert!(h.step(done("b", 2)).is_empty());
    let end = h.step(batch("b", 2, iterations(1.0)));
    assert_eq!(finish(&end), Some((RunStatus::Finished, 0)));
    assert_eq!(
        transitions(&end),
        [(RunStatus::Finished, "ran its course".to_string())]
    );
    assert!(matches!(&end[1], Action::Transition { changes, .. }
        if changes.result_status == Some(ResultStatus::Passed) && changes.exit_code == Some(0)));
    let Some(Action::Summary(summary)) = end.first() else {
        panic!("{end:?}")
    };
    assert_eq!(
        summary["metrics"][0]["values"],
        json!([["count", 8.0], ["rate", 8.0]]),
        "{summary}"
    );
    assert_eq!(summary["setup_data"], json!({"x": 1}));
    assert!(end.contains(&Action::DeleteCheckpoint));
    assert!(h.step(Input::Tick).is_empty(), "a finished run stays quiet");
}

#[test]
fn a_streamed_run_tells_its_client_instead_of_agents() {
    let mut h = Harness::with(spec(&["laptop"], json!({}), true), config());
    h.m.start_streamed(h.now());
    assert!(matches!(
        h.step(Input::Resume).as_slice(),
        [Action::Checkpoint { .. }]
    ));
    let cp = h.after(1, batch("laptop", 1, iterations(1.0)));
    assert!(matches!(cp.as_slice(), [Action::Checkpoint { then, .. }]
        if then.as_slice() == [Action::StreamAcked(1)]));
    let stop = h.step(Input::Stop(AbortReason::ApiStop));
    assert_eq!(stop, [Action::StreamStop(AbortReason::ApiStop)]);
    let end = h.step(done("laptop", 1));
    assert!(end.contains(&Action::StreamStatus(RunStatus::AbortedByUser)));
    assert_eq!(finish(&end), Some((RunStatus::AbortedByUser, 103)));

    // Stopped where it runs (Ctrl+C): FINISHED here, exit code 105.
    let mut h = Harness::with(spec(&["laptop"], json!({}), true), config());
    h.m.start_streamed(h.now());
    h.step(Input::Resume);
    let signal = AbortReason::Signal {
        signal: "interrupt".into(),
    };
    let Input::Event(a, mut e) = done("laptop", 0) else {
        unreachable!()
    };
    e.abort = Some((&signal).into());
    let end = h.after(1, Input::Event(a, e));
    assert_eq!(end[0], Action::StreamStop(signal));
    assert_eq!(finish(&end), Some((RunStatus::Finished, 105)));
}

/// Every READY, EXECUTION_DONE and DONE of a run used to run the checks that look at every
/// agent (lost agents, the phase's condition): quadratic over a run's start and end, 300
/// million agent visits at 10,000 agents (tens of seconds in a debug build). Now each
/// message passes each agent at most once a phase: milliseconds.
#[test]
fn a_run_on_thousands_of_agents_starts_and_ends_in_linear_time() {
    let names: Vec<String> = (0..10_000).map(|i| format!("a{i:05}")).collect();
    let agents: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut h = Harness::new(&agents, config());
    let began = Instant::now();
    let started = h.running(1);
    assert_eq!(transitions(&started)[0].0, RunStatus::Running);
    let end = h.all_done(0);
    let took = began.elapsed();
    assert_eq!(finish(&end), Some((RunStatus::Finished, 0)));
    assert_eq!(
        sends(&end)
            .iter()
            .filter(|s| s.starts_with("Teardown"))
            .count(),
        10_000
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}
