//! A run resumed from its checkpoint after a restart or by a new Raft leader; agents that reattach.

use super::*;

/// A checkpoint of a two-agent run that was running when the controller stopped.
fn checkpoint(teardown_agent: Option<&str>, reason: Option<AbortReason>) -> Checkpoint {
    let progress = |last_seq| AgentProgress {
        last_seq,
        vus: 1,
        execution_done: true,
        ..Default::default()
    };
    Checkpoint {
        version: VERSION,
        started_unix_ms: T0_UNIX_MS - 30_000,
        setup_completed: true,
        setup_data: None,
        teardown_agent: teardown_agent.map(String::from),
        reason,
        agents: [
            ("a".to_string(), progress(4)),
            ("b".to_string(), progress(6)),
        ]
        .into_iter()
        .collect(),
        series: Vec::new(),
        agent_gauges: BTreeMap::new(),
    }
}

#[test]
fn after_a_restart_teardown_runs_on_the_agent_chosen_before() {
    let mut h = Harness::new(&["a", "b"], config());
    h.m.restore(h.now(), checkpoint(Some("b"), None)).unwrap();
    let resumed = h.step(Input::Resume);
    assert_eq!(
        events(&resumed)[0].1,
        "the controller restarted; the run resumes from its last checkpoint and waits up to 10 s (agent_lost_after) for its agents (a, b) to re-attach"
    );
    // Both had finished executing: teardown goes out at once, to b as before.
    assert_eq!(sends(&resumed), ["Teardown a", "Teardown+run b"]);

    // Without a choice recorded and a lost, the first live agent runs it.
    let mut h = Harness::new(&["a", "b"], config());
    let mut cp = checkpoint(None, None);
    cp.agents.get_mut("a").unwrap().gone = true;
    h.m.restore(h.now(), cp).unwrap();
    let resumed = h.step(Input::Resume);
    assert_eq!(sends(&resumed), ["Teardown a", "Teardown+run b"]);
    let Some(Action::Checkpoint { checkpoint, .. }) = resumed
        .iter()
        .filter(|a| matches!(a, Action::Checkpoint { .. }))
        .nth(1)
    else {
        panic!("the choice is checkpointed: {resumed:?}")
    };
    assert_eq!(checkpoint.teardown_agent.as_deref(), Some("b"));
}

#[test]
fn agents_that_do_not_reattach_after_a_restart_are_lost() {
    let mut h = Harness::new(&["a", "b"], config());
    let mut cp = checkpoint(None, None);
    for a in cp.agents.values_mut() {
        a.execution_done = false;
    }
    h.m.restore(h.now(), cp).unwrap();
    h.step(Input::Resume);
    let back = h.after(3, Input::Reattached("a".into()));
    assert_eq!(
        events(&back),
        [("info", "agent a re-attached to the run".to_string())]
    );
    // Batches merged before the restart are acknowledged again with the next checkpoint.
    let Some(Action::Checkpoint { then, .. }) = back.last() else {
        panic!("{back:?}")
    };
    assert_eq!(
        then.as_slice(),
        [Action::Send {
            agent: "a".into(),
            body: crate::run::messages::ack(RUN, 4),
        }]
    );
    assert!(stops(&h.after(6, heartbeat("a", 1.0, 1))).is_empty());
    let lost = h.after(1, heartbeat("a", 1.0, 1));
    let why = system("AGENT_LOST: agent b (segment 1/2:2/2) did not re-attach within 10 s (agent_lost_after) after the controller restarted");
    assert_eq!(stops(&lost), [("a".into(), why, false)]);
}

/// A run a new Raft leader took over says so, not that the controller restarted: in its
/// resume event (with what the checkpoint held) and in the AGENT_LOST of an agent that does
/// not come back.
#[test]
fn a_run_taken_over_by_a_new_leader_says_which_node_resumed_it() {
    let mut h = Harness::new(&["a", "b"], config());
    let mut cp = checkpoint(None, None);
    for (a, n) in cp.agents.values_mut().zip([4, 6]) {
        a.execution_done = false;
        a.iterations = n;
    }
    h.m.set_resume_cause(crate::run::machine::ResumeCause::LeaderChange { node: 2 });
    h.m.restore(h.now(), cp).unwrap();
    let resumed = h.step(Input::Resume);
    assert_eq!(
        events(&resumed)[0].1,
        "node 2 became the Raft leader and resumed the run from the last checkpoint a quorum \
         committed (10 iterations merged); the run waits up to 10 s (agent_lost_after) for its \
         agents (a, b) to re-attach"
    );
    h.after(3, Input::Reattached("a".into()));
    h.after(6, heartbeat("a", 1.0, 1));
    let lost = h.after(1, heartbeat("a", 1.0, 1));
    let why = system("AGENT_LOST: agent b (segment 1/2:2/2) did not re-attach within 10 s (agent_lost_after) after node 2 became the Raft leader");
    assert_eq!(stops(&lost), [("a".into(), why, false)]);
}

#[test]
fn a_reattached_agent_of_a_stopping_run_is_told_again() {
    let mut h = Harness::new(&["a"], config());
    let mut cp = checkpoint(None, Some(AbortReason::ApiStop));
    cp.agents.remove("b");
    cp.agents.get_mut("a").unwrap().execution_done = false;
    h.m.restore(h.now(), cp).unwrap();
    assert!(stops(&h.step(Input::Resume)).is_empty());
    let back = h.after(1, Input::Reattached("a".into()));
    assert_eq!(stops(&back), [("a".into(), AbortReason::ApiStop, false)]);
    h.step(event("a", pb::RunPhase::ExecutionDone));
    let end = h.step(done("a", 4));
    assert_eq!(finish(&end), Some((RunStatus::AbortedByUser, 103)));
}

/// A resumed run whose agents had all finished executing sends teardown at once, before any
/// agent re-attached, so those messages reach nobody. Each agent that re-attaches while the
/// run drains is told again (the one chosen to run teardown() with `run_teardown`): an agent
/// waits for teardown with no timeout of its own and its heartbeats keep it from being lost,
/// so without this the run would never end.
#[test]
fn an_agent_that_reattaches_while_the_run_drains_is_sent_its_teardown_again() {
    let mut h = Harness::new(&["a", "b"], config());
    h.m.set_resume_cause(crate::run::machine::ResumeCause::LeaderChange { node: 3 });
    h.m.restore(h.now(), checkpoint(Some("b"), None)).unwrap();
    assert_eq!(
        sends(&h.step(Input::Resume)),
        ["Teardown a", "Teardown+run b"]
    );
    assert_eq!(
        sends(&h.after(1, Input::Reattached("b".into()))),
        ["Teardown+run b"]
    );
    assert_eq!(
        sends(&h.step(Input::Reattached("a".into()))),
        ["Teardown a"]
    );
    // Heartbeats alone keep both from being lost: only their DONE ends the run.
    for _ in 0..15 {
        h.after(1, heartbeat("a", 1.0, 1));
        assert_eq!(finish(&h.step(heartbeat("b", 1.0, 1))), None);
    }
    h.step(done("a", 4));
    assert_eq!(
        finish(&h.step(done("b", 6))),
        Some((RunStatus::Finished, 0))
    );

    // A stopping run tells a re-attached agent both: the stop, then its teardown.
    let mut h = Harness::new(&["a", "b"], config());
    h.m.restore(h.now(), checkpoint(Some("b"), Some(AbortReason::ApiStop)))
        .unwrap();
    h.step(Input::Resume);
    assert_eq!(
        sends(&h.after(1, Input::Reattached("a".into()))),
        ["Stop a", "Teardown a"]
    );
    // An agent already DONE is told nothing more.
    h.step(done("b", 6));
    assert_eq!(
        sends(&h.step(Input::Reattached("b".into()))),
        [] as [&str; 0]
    );
}

/// The events a driver writes for the crossings among the actions (what a resumed run reads
/// back from its store).
fn crossing_events(actions: &[Action]) -> Vec<volley_api::RunEvent> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ThresholdCrossed { crossing, .. } => Some(volley_api::RunEvent {
                at: String::new(),
                level: "warning".into(),
                message: crate::run::crossings::message(crossing),
                threshold: Some(crossing.clone()),
            }),
            _ => None,
        })
        .collect()
}

/// The last checkpoint among the actions.
fn last_checkpoint(actions: &[Action]) -> Checkpoint {
    actions
        .iter()
        .rev()
        .find_map(|a| match a {
            Action::Checkpoint { checkpoint, .. } => Some((**checkpoint).clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no checkpoint: {actions:?}"))
}

/// A threshold crossing recorded before a restart is not recorded again once the run resumes
/// — whether its checkpoint holds the data that crossed or its agent replays that data — and
/// a new crossing after it still is.
#[test]
fn a_resumed_run_records_each_threshold_crossing_once() {
    let options = json!({"thresholds": {"http_req_failed": ["rate<0.5"]}});
    let failed = |v| vec![series("http_req_failed", MetricType::Rate, v, &[])];
    let mut h = Harness::with(spec(&["a"], options.clone(), false), config());
    h.running(1);
    h.step(batch("a", 1, failed(0.0)));
    let before = last_checkpoint(&h.after(2, Input::Tick));
    h.step(batch("a", 2, failed(1.0)));
    h.step(batch("a", 3, failed(1.0)));
    let crossed = h.after(2, Input::Tick);
    let recorded = crossing_events(&crossed);
    assert_eq!(crossings(&crossed).len(), 1, "{crossed:?}");
    let after = last_checkpoint(&crossed);

    for (cp, replayed) in [(after, vec![]), (before, vec![2, 3])] {
        let mut h = Harness::with(spec(&["a"], options.clone(), false), config());
        h.m.restore(h.now(), cp).unwrap();
        h.m.recall_crossings(&recorded);
        h.step(Input::Resume);
        h.after(1, Input::Reattached("a".into()));
        assert!(crossings(&h.after(2, Input::Tick)).is_empty());
        for seq in replayed {
            h.step(batch("a", seq, failed(1.0)));
        }
        let again = h.after(2, Input::Tick);
        assert!(crossings(&again).is_empty(), "recorded twice: {again:?}");
        // 2 of 7 failed: it passes again, a crossing of its own.
        for seq in 4..=7 {
            h.step(batch("a", seq, failed(0.0)));
        }
        assert_eq!(
            crossings(&h.after(2, Input::Tick)),
            [(
                T0_UNIX_MS + 7000,
                "http_req_failed".into(),
                "rate<0.5".into(),
                true
            )]
        );
    }
}
