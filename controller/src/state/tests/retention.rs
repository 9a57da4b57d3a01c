//! `ForgetRuns`: finished runs leave the state whole (the run, its place in its test, its
//! idempotency key); runs not finished, unknown or named twice are refused and nothing changes.

use super::*;

fn finish(run_id: u64) -> Vec<Command> {
    path_to(RunStatus::AbortedByUser)
        .into_iter()
        .map(|step| to(run_id, step, "2024-05-01T12:00:01Z"))
        .collect()
}

#[test]
fn forgotten_runs_leave_the_state_whole_and_unfinished_ones_are_refused() {
    let mut s = State::new();
    apply_all(&mut s, &[create_test(T0)]);
    for _ in 0..4 {
        let key = format!("k{}", s.next_run_id());
        apply_all(&mut s, &[idempotent_creates::keyed_run(1, 42, &key, T0)]);
    }
    for run in [1, 2, 3] {
        apply_all(&mut s, &finish(run));
    }
    // Three finished, one queued (CREATED): make room for one more finished run beside 2.
    assert_eq!(s.finished_runs_beyond(2), vec![1, 2]);
    assert_eq!(s.finished_runs_beyond(10), Vec::<u64>::new());
    assert_eq!(s.active_runs_of(42), 1);
    assert_eq!(s.active_runs_of(7), 0);
    let before = s.clone();
    for bad in [vec![4], vec![1, 1], vec![9], vec![]] {
        let index = s.applied_index() + 1;
        let cmd = Command::ForgetRuns {
            run_ids: bad.clone(),
        };
        assert!(s.apply(index, &cmd).is_err(), "{bad:?} was taken");
        assert_eq!(s, before, "{bad:?} changed the state");
    }
    let applied = apply_all(
        &mut s,
        &[Command::ForgetRuns {
            run_ids: vec![1, 2],
        }],
    );
    assert_eq!(applied[0].effect, Effect::RunsForgotten { count: 2 });
    assert!(s.run(1).is_none() && s.run(2).is_none());
    assert_eq!(s.test(1).map(|t| t.test_run_ids.clone()), Some(vec![3, 4]));
    assert_eq!(s.runs().count(), 2);
    // Their keys are gone (a create sent again makes a new run); the others' stay.
    assert!(s.idempotency_keys().record(KeyKind::Run, "k1", 0).is_none());
    assert!(s.idempotency_keys().record(KeyKind::Run, "k2", 0).is_none());
    assert!(s.idempotency_keys().record(KeyKind::Run, "k3", 0).is_some());
    // The ids go on: a new run does not take a forgotten one's.
    let applied = apply_all(&mut s, &[create_run(1, T0)]);
    assert_eq!(applied[0].run_id(), Some(5));
    // The state survives a snapshot round trip.
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<State>(&json).unwrap(), s);
}
