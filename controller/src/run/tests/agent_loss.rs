//! Agents that go silent, drain or are lost, under each agent-lost policy.

use super::*;

#[test]
fn a_lost_agent_aborts_the_run() {
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    h.after(5, heartbeat("a", 10.0, 10));
    assert!(stops(&h.after(4, heartbeat("a", 10.0, 10))).is_empty());
    let lost = h.after(1, heartbeat("a", 10.0, 10));
    let why = system(
        "AGENT_LOST: agent b (segment 1/2:2/2) was silent for 10.0 s (agent_lost_after 10 s)",
    );
    assert_eq!(stops(&lost), [("a".into(), why, false)]);
    h.step(event("a", pb::RunPhase::ExecutionDone));
    let end = h.step(done("a", 0));
    assert_eq!(finish(&end), Some((RunStatus::AbortedBySystem, 97)));
}

#[test]
fn liveness_is_judged_on_arrival_not_on_processing() {
    let mut h = Harness::new(&["a", "b"], config());
    let arrivals = Arc::new(Arrivals::new(2));
    h.m.set_arrivals(arrivals.clone());
    h.running(1);
    // For 15 s b's messages arrive (its stream stamps them) but wait in the run's queue behind
    // a's, so the run's task never gets to them: b is not lost.
    for _ in 0..15 {
        h.advance(Duration::from_secs(1));
        arrivals.stamp_at(1, h.now().mono);
        assert!(stops(&h.step(heartbeat("a", 10.0, 10))).is_empty());
    }
    // Then nothing of b arrives any more: it is lost 10 s after its last arrival.
    assert!(stops(&h.after(9, heartbeat("a", 10.0, 10))).is_empty());
    let lost = h.after(1, heartbeat("a", 10.0, 10));
    let why = system(
        "AGENT_LOST: agent b (segment 1/2:2/2) was silent for 10.0 s (agent_lost_after 10 s)",
    );
    assert_eq!(stops(&lost), [("a".into(), why, false)]);
}

#[test]
fn with_continue_a_lost_agent_degrades_the_run() {
    let mut cfg = config();
    cfg.on_agent_lost = OnAgentLost::Continue;
    let mut h = Harness::new(&["a", "b"], cfg);
    h.running(1);
    let lost = h.after(10, heartbeat("a", 10.0, 10));
    assert!(stops(&lost).is_empty());
    let what =
        "AGENT_LOST: agent b (segment 1/2:2/2) was silent for 10.0 s (agent_lost_after 10 s)";
    assert_eq!(
        events(&lost),
        [(
            "warning",
            format!("{what}; the run continues without it (on_agent_lost: continue)")
        )]
    );
    let note = format!("degraded: {what}; its segment's load and data are missing from this run");
    assert!(lost.contains(&Action::Degraded { note: note.clone() }));
    // The teardown goes to the agent that is left.
    let teardown = h.step(event("a", pb::RunPhase::ExecutionDone));
    assert_eq!(sends(&teardown), ["Teardown+run a", "Teardown b"]);
    let end = h.step(done("a", 0));
    assert_eq!(finish(&end), Some((RunStatus::Finished, 0)));
    assert_eq!(summary_message(&end), Some(note));
}

/// A heartbeat saying the agent got SIGTERM and drains.
fn draining(agent: &str) -> Input {
    let Input::Heartbeat(a, mut h) = heartbeat(agent, 10.0, 10) else {
        unreachable!()
    };
    h.draining = true;
    Input::Heartbeat(a, h)
}

#[test]
fn a_drained_agent_past_its_grace_follows_the_agent_lost_policy() {
    let why = system("agent b terminated (SIGTERM): its part of run 1 did not finish within the drain grace of 1 s");
    // abort (the default): the run ends with the agent's reason, as before.
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    h.step(draining("b"));
    let stop = h.step(aborted_by("b", &why));
    assert_eq!(
        stops(&stop),
        [
            ("a".into(), why.clone(), false),
            ("b".into(), why.clone(), false)
        ]
    );
    // continue: only b's part stopped; the run goes on degraded and finishes on a.
    let mut cfg = config();
    cfg.on_agent_lost = OnAgentLost::Continue;
    let mut h = Harness::new(&["a", "b"], cfg.clone());
    h.running(1);
    h.step(draining("b"));
    let left = h.step(aborted_by("b", &why));
    assert!(stops(&left).is_empty(), "{left:?}");
    let AbortReason::System { message } = &why else {
        unreachable!()
    };
    assert_eq!(
        events(&left),
        [(
            "warning",
            format!("{message}; the run continues without it (on_agent_lost: continue)")
        )]
    );
    let note = format!(
        "degraded: {message}; its segment's load stopped early: the rest is missing from this run"
    );
    assert!(
        left.contains(&Action::Degraded { note: note.clone() }),
        "{left:?}"
    );
    h.step(done("b", 0));
    h.step(event("a", pb::RunPhase::ExecutionDone));
    let end = h.step(done("a", 0));
    assert_eq!(finish(&end), Some((RunStatus::Finished, 0)));
    assert_eq!(summary_message(&end), Some(note));
    // An agent that does not drain still aborts the run with its reason.
    let mut h = Harness::new(&["a", "b"], cfg.clone());
    h.running(1);
    assert!(!stops(&h.step(aborted_by("b", &why))).is_empty());
    // The only agent left: the run ends, no agent is left.
    let mut h = Harness::new(&["a"], cfg);
    h.running(1);
    h.step(draining("a"));
    let end = h.step(aborted_by("a", &why));
    assert!(!stops(&end).is_empty(), "{end:?}");
}

#[test]
fn with_continue_losing_every_agent_or_the_setup_agent_aborts() {
    let mut cfg = config();
    cfg.on_agent_lost = OnAgentLost::Continue;
    let mut h = Harness::new(&["a"], cfg.clone());
    h.running(1);
    let lost = h.after(10, Input::Tick);
    let what =
        "AGENT_LOST: agent a (segment 0/1:1/1) was silent for 10.0 s (agent_lost_after 10 s)";
    // The agent is gone: nobody is told to stop, and the run ends with what arrived.
    assert!(stops(&lost).is_empty());
    assert_eq!(finish(&lost), Some((RunStatus::AbortedBySystem, 97)));
    let Some(Action::Transition { changes, .. }) =
        lost.iter().find(|a| matches!(a, Action::Transition { .. }))
    else {
        panic!("{lost:?}")
    };
    assert_eq!(
        changes.error_detail.as_deref(),
        Some(format!("{what}; no agent is left").as_str())
    );

    let mut h = Harness::new(&["a", "b"], cfg);
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("a", 1));
    h.after(5, ready("b", 1));
    let lost = h.after(5, heartbeat("b", 10.0, 10));
    let what =
        "AGENT_LOST: agent a (segment 0/2:1/2) was silent for 10.0 s (agent_lost_after 10 s)";
    let why = system(&format!("{what} while it ran setup()"));
    // Stopped at once (setup never completed)...
    assert_eq!(stops(&lost), [("b".into(), why.clone(), true)]);
    // ...and every agent again once setup is abandoned.
    let end = h.step(done("b", 0));
    assert_eq!(
        stops(&end),
        [("a".into(), why.clone(), true), ("b".into(), why, true)]
    );
    assert_eq!(finish(&end), Some((RunStatus::AbortedBySystem, 97)));
}

#[test]
fn silence_from_every_agent_times_the_run_out() {
    let mut cfg = config();
    cfg.agent_lost_after = Duration::from_secs(600);
    let mut h = Harness::new(&["a", "b"], cfg);
    h.running(1);
    h.after(60, heartbeat("a", 1.0, 1));
    assert!(
        stops(&h.after(60, Input::Tick)).is_empty(),
        "a spoke 60 s ago"
    );
    let end = h.after(60, Input::Tick);
    let why = AbortReason::TimedOut {
        message: "TIMED_OUT: no data or heartbeat from the run's agents for 120 s (data_timeout)"
            .into(),
    };
    assert_eq!(
        stops(&end),
        [("a".into(), why.clone(), false), ("b".into(), why, false)]
    );
    // Nobody answers: the run ends with what arrived, without waiting for them.
    assert_eq!(finish(&end), Some((RunStatus::TimedOut, 97)));
}
