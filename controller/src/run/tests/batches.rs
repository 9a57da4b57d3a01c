//! Metric batches: merged once, acked only once checkpointed, gauges summed across agents.

use super::*;

#[test]
fn batches_merge_once_and_are_acked_only_once_checkpointed() {
    let mut h = Harness::new(&["a"], config());
    h.running(1);
    // Before 1 s since the last checkpoint: merged, not acknowledged.
    let first = h.step(batch("a", 1, iterations(5.0)));
    assert!(first.is_empty(), "{first:?}");
    // A replay of batch 1 is not merged again.
    h.step(batch("a", 1, iterations(5.0)));
    let cp = h.after(1, Input::Tick);
    let [Action::Checkpoint { checkpoint, then }] = cp.as_slice() else {
        panic!("{cp:?}")
    };
    assert_eq!(checkpoint.agents["a"].last_seq, 1);
    assert_eq!(
        then.as_slice(),
        [Action::Send {
            agent: "a".into(),
            body: crate::run::messages::ack(RUN, 1),
        }]
    );
    let live = h.live.lock().unwrap();
    let count = serde_json::to_value(live.series.aggregate("iterations", &[]).unwrap()).unwrap();
    assert_eq!(count["counter"]["sum"], 5.0, "{count}");
}

#[test]
fn each_merged_batch_is_counted_once_with_its_lag() {
    let mut h = Harness::new(&["a"], config());
    h.running(1);
    assert!(h.m.take_merged().is_empty());
    // Batch 1's interval ended at T0 + 1 s; it arrives at T0 + 1.25 s.
    h.advance(Duration::from_millis(1250));
    h.step(batch("a", 1, iterations(5.0)));
    h.step(batch("a", 1, iterations(5.0)));
    assert_eq!(h.m.take_merged(), [250], "the replay is not counted");
    assert!(h.m.take_merged().is_empty(), "taken once");
    // An agent's clock ahead of the controller's: no negative lag.
    h.step(batch("a", 5, iterations(1.0)));
    assert_eq!(h.m.take_merged(), [0]);
}

#[test]
fn a_failed_checkpoint_keeps_the_batches_unacknowledged() {
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    h.fail_checkpoints = true;
    h.step(batch("a", 3, iterations(1.0)));
    let failed = h.after(1, Input::Tick);
    assert!(matches!(failed.as_slice(), [Action::Checkpoint { then, .. }] if then.len() == 1));
    h.fail_checkpoints = false;
    // Only b sends more, but the next checkpoint still acknowledges a's batch 3.
    h.step(batch("b", 1, iterations(1.0)));
    let again = h.after(1, Input::Tick);
    let [Action::Checkpoint { then, .. }] = again.as_slice() else {
        panic!("{again:?}")
    };
    let ack = |agent: &str, seq| Action::Send {
        agent: agent.into(),
        body: crate::run::messages::ack(RUN, seq),
    };
    assert_eq!(then.as_slice(), [ack("a", 3), ack("b", 1)]);
}

#[test]
fn batches_are_acknowledged_with_every_second_checkpoint() {
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    let acks = |actions: &[Action]| -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for a in actions {
            if let Action::Checkpoint { then, .. } = a {
                for t in then {
                    if let Action::Send {
                        agent,
                        body: Body::Ack(ack),
                    } = t
                    {
                        out.push((agent.clone(), ack.batch_seq));
                    }
                }
            }
        }
        out
    };
    let checkpoints = |actions: &[Action]| {
        actions
            .iter()
            .filter(|a| matches!(a, Action::Checkpoint { .. }))
            .count()
    };
    h.step(batch("a", 1, iterations(1.0)));
    // The first checkpoint with batches acknowledges them.
    let first = h.after(1, batch("b", 1, iterations(1.0)));
    assert_eq!(acks(&first), [("a".into(), 1), ("b".into(), 1)]);
    // The next one, a second later, holds its batches back...
    h.step(batch("a", 2, iterations(1.0)));
    let second = h.after(1, batch("b", 2, iterations(1.0)));
    assert_eq!(checkpoints(&second), 1, "{second:?}");
    assert!(acks(&second).is_empty(), "{second:?}");
    // ...and the one after acknowledges everything merged so far, cumulatively, though no
    // batch came since: a checkpoint is taken for them.
    let third = h.after(1, Input::Tick);
    assert_eq!(acks(&third), [("a".into(), 2), ("b".into(), 2)]);
    // Nothing merged and nothing waiting: no more checkpoints.
    assert_eq!(checkpoints(&h.after(1, Input::Tick)), 0);
    assert_eq!(checkpoints(&h.after(1, Input::Tick)), 0);
    // A batch after the pause is acknowledged with the next checkpoint (over 1.5 s since the
    // last acknowledgements).
    let late = h.after(1, batch("a", 3, iterations(1.0)));
    let late = [late, h.after(1, Input::Tick)].concat();
    assert_eq!(acks(&late), [("a".into(), 3)]);
    // The run's end acknowledges what is left at once.
    h.step(batch("b", 3, iterations(1.0)));
    let end = h.all_done(3);
    let sent: Vec<_> = end
        .iter()
        .filter_map(|a| match a {
            Action::Send {
                agent,
                body: Body::Ack(ack),
            } => Some((agent.clone(), ack.batch_seq)),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [("b".into(), 3)]);
}

#[test]
fn vus_gauges_are_summed_across_agents() {
    let mut h = Harness::new(&["a", "b"], config());
    h.running(1);
    let vus = |n| vec![series("vus", MetricType::Gauge, n, &[])];
    h.after(1, batch("a", 1, vus(3.0)));
    h.step(batch("b", 1, vus(4.0)));
    let end = h.all_done(0);
    let Some(Action::Summary(summary)) = end.iter().find(|a| matches!(a, Action::Summary(_)))
    else {
        panic!("{end:?}")
    };
    let vus = summary["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "vus")
        .unwrap_or_else(|| panic!("{summary}"));
    // Each agent runs part of the VUs: the cluster's value is the sum, not the latest.
    let values = vus["values"].as_array().unwrap();
    assert!(values.contains(&json!(["value", 7.0])), "{vus}");
}
