//! Everything before a run is running: the archive, setup, and the VU-init barrier and its timeout.

use super::*;

#[test]
fn a_missing_archive_ends_the_run_at_once() {
    let mut h = Harness::new(&["a"], config());
    let end = h.step(Input::Launch { archive: None });
    assert_eq!(
        stops(&end),
        [("a".into(), system("the archive of test 7 is missing"), true)]
    );
    assert_eq!(
        finish(&end),
        Some((
            RunStatus::AbortedBySystem,
            volley_common::exit::code::SYSTEM
        ))
    );
}

#[test]
fn a_failed_setup_stops_every_agent_without_teardown() {
    let mut h = Harness::new(&["a", "b"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("a", 1));
    h.step(ready("b", 1));
    let why = AbortReason::ScriptException {
        phase: "setup".into(),
        message: "boom".into(),
    };
    let failed = h.step(Input::Setup(
        "a".into(),
        pb::SetupResult {
            run_id: RUN,
            ok: false,
            data_json: String::new(),
            abort: Some((&why).into()),
        },
    ));
    assert_eq!(sends(&failed), ["Stop! a", "Stop! b"]);
    assert!(stops(&failed).iter().all(|(_, r, _)| *r == why));
    h.step(done("a", 0));
    let end = h.step(done("b", 0));
    // Setup is abandoned: every agent is stopped at once again, no SetupData, no teardown.
    assert_eq!(sends(&end), ["Stop! a", "Stop! b"]);
    assert_eq!(finish(&end), Some((RunStatus::AbortedByScriptError, 107)));
}

#[test]
fn an_agent_that_ends_during_vu_init_aborts_the_run() {
    let mut h = Harness::new(&["a", "b"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("a", 1));
    let ended = h.step(done("b", 0));
    let why = system(
        "agent b ended its part of the run during VU init: its engine ended before the run started",
    );
    // Only a is still going: it is stopped at once, and the run does not wait for b.
    assert_eq!(stops(&ended), [("a".into(), why, true)]);
    let end = h.step(done("a", 0));
    assert_eq!(sends(&end), ["Stop! a", "Stop! b"]);
    assert_eq!(finish(&end), Some((RunStatus::AbortedBySystem, 97)));
}

/// An agent whose script called `test.abort()` during VU init says so on its DONE as well (its
/// separate FAILED event may come after): the run ends as aborted by the script, with its code,
/// not as an agent that failed.
#[test]
fn a_done_during_vu_init_that_carries_the_agents_abort_ends_the_run_with_that_abort() {
    let mut h = Harness::new(&["a", "b"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("a", 1));
    let why = AbortReason::ScriptAbort {
        message: Some("in vu init".into()),
        exit_code: None,
        context: None,
    };
    let Input::Event(b, mut e) = done("b", 0) else {
        unreachable!()
    };
    e.abort = Some((&why).into());
    let ended = h.step(Input::Event(b, e));
    let stopped = stops(&ended);
    assert!(stopped.iter().any(|(n, _, _)| n == "a"), "{stopped:?}");
    assert!(stopped.iter().all(|(_, r, _)| *r == why), "{stopped:?}");
    // The FAILED event arriving late changes nothing.
    h.step(aborted_by("b", &why));
    let end = h.step(done("a", 0));
    assert_eq!(finish(&end), Some((RunStatus::AbortedByScriptError, 108)));
}

#[test]
fn an_agent_that_never_reports_ready_times_the_init_out() {
    let mut h = Harness::new(&["a", "b"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.after(1, ready("a", 1));
    // b keeps sending heartbeats (it is not lost), but never READY.
    for _ in 0..58 {
        h.after(1, heartbeat("a", 10.0, 10));
        assert!(stops(&h.step(heartbeat("b", 10.0, 10))).is_empty());
    }
    let late = h.after(1, heartbeat("a", 10.0, 10));
    let why = system(
        "INIT_TIMEOUT: agent b (segment 1/2:2/2) did not finish VU init within 1m0s (--init-timeout); look for slow or endless code at the top level of the script, or raise --init-timeout",
    );
    assert_eq!(
        stops(&late),
        [("a".into(), why.clone(), true), ("b".into(), why, true)]
    );
    // a confirms the stop; b does not answer: it is given up after the stop grace.
    assert!(finish(&h.after(1, done("a", 0))).is_none());
    assert!(finish(&h.after(3, heartbeat("b", 10.0, 10))).is_none());
    let end = h.after(1, Input::Tick);
    assert_eq!(
        events(&end)[0],
        (
            "warning",
            "agent b did not confirm the stop within 5 s; the run ends without it".into()
        )
    );
    assert_eq!(finish(&end), Some((RunStatus::AbortedBySystem, 97)));
}

#[test]
fn a_run_can_set_its_own_init_timeout_and_ready_agents_are_not_named() {
    let options = json!({"volley": {"initTimeout": "2s"}});
    let mut h = Harness::with(spec(&["a", "b", "c"], options, false), config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    h.step(ready("b", 1));
    assert!(stops(&h.after(1, Input::Tick)).is_empty());
    let late = h.after(1, Input::Tick);
    let (_, why, immediate) = &stops(&late)[0];
    assert!(immediate);
    assert_eq!(why.message(), "INIT_TIMEOUT: agents a (segment 0/3:1/3), c (segment 2/3:3/3) did not finish VU init within 2s (options.volley.initTimeout); look for slow or endless code at the top level of the script, or raise options.volley.initTimeout");
    // Agents whose looping init code was interrupted confirm the stop: the run ends at once.
    for a in ["a", "b"] {
        h.step(done(a, 0));
    }
    let end = h.step(done("c", 0));
    assert_eq!(finish(&end), Some((RunStatus::AbortedBySystem, 97)));
}

#[test]
fn an_init_within_the_timeout_starts_the_run() {
    let mut h = Harness::new(&["a"], config());
    h.step(Input::Launch {
        archive: Some(vec![]),
    });
    for _ in 0..58 {
        h.after(1, heartbeat("a", 10.0, 10));
    }
    let ready_late = h.after(1, ready("a", 1));
    assert_eq!(sends(&ready_late), ["RunSetup a"]);
    // Setup may take longer than the init timeout (setupTimeout governs it).
    for _ in 0..90 {
        assert!(stops(&h.after(1, heartbeat("a", 10.0, 10))).is_empty());
    }
}
