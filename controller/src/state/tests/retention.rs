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
            test_ids: Vec::new(),
        };
        assert!(s.apply(index, &cmd).is_err(), "{bad:?} was taken");
        assert_eq!(s, before, "{bad:?} changed the state");
    }
    let applied = apply_all(
        &mut s,
        &[Command::ForgetRuns {
            run_ids: vec![1, 2],
            test_ids: Vec::new(),
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

#[test]
fn a_streamed_runs_test_goes_with_it_and_its_archive_unless_another_test_has_it() {
    const SHA2: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";
    let test_of = |sha: &str| {
        let Command::CreateTest {
            name,
            project_id,
            archive_size,
            config,
            at,
            ..
        } = create_test(T0)
        else {
            unreachable!()
        };
        Command::CreateTest {
            name,
            project_id,
            archive_sha256: sha.into(),
            archive_size,
            config,
            at,
            idempotency_key: None,
        }
    };
    let streamed = |test_id: u64| {
        let Command::CreateRun {
            test_id: _,
            env,
            note,
            config,
            user_id,
            started_by,
            at,
            idempotency_key,
            ..
        } = create_run(test_id, T0)
        else {
            unreachable!()
        };
        Command::CreateRun {
            test_id,
            env,
            note,
            config,
            run_process: Some(STREAMED_RUN_PROCESS.into()),
            user_id,
            started_by,
            at,
            idempotency_key,
        }
    };
    let mut s = State::new();
    // Tests 1 (SHA), 2 and 3 (SHA2), 4 (SHA2): streamed runs 1, 2, 4 of tests 1, 2, 4; a
    // cluster run 3 of test 3 and 5 of test 4.
    apply_all(
        &mut s,
        &[
            test_of(SHA),
            test_of(SHA2),
            test_of(SHA2),
            test_of(SHA2),
            streamed(1),
            streamed(2),
            create_run(3, T0),
            streamed(4),
            create_run(4, T0),
        ],
    );
    for run in 1..=5 {
        apply_all(&mut s, &finish(run));
    }
    assert_eq!(s.streamed_tests_of(&[1, 2, 3, 4]), vec![1, 2]);
    assert_eq!(s.streamed_tests_of(&[4, 5]), vec![4]);
    let before = s.clone();
    // Only a streamed run's test left without runs may go.
    for (runs, tests) in [
        (vec![1], vec![1, 1]),
        (vec![3], vec![3]),
        (vec![4], vec![4]),
        (vec![2], vec![9]),
    ] {
        let index = s.applied_index() + 1;
        let cmd = Command::ForgetRuns {
            run_ids: runs.clone(),
            test_ids: tests.clone(),
        };
        assert!(
            s.apply(index, &cmd).is_err(),
            "{runs:?} {tests:?} was taken"
        );
        assert_eq!(s, before, "{runs:?} {tests:?} changed the state");
    }
    let cmd = Command::ForgetRuns {
        run_ids: vec![1, 2, 3],
        test_ids: vec![1, 2],
    };
    let prepared = s.prepare(s.applied_index() + 1, &cmd).unwrap();
    // Test 3 and 4 still have SHA2.
    assert_eq!(prepared.freed_archives(), [SHA.to_string()]);
    s.commit(prepared).unwrap();
    assert!(s.test(1).is_none() && s.test(2).is_none());
    assert_eq!(s.test(3).map(|t| t.test_run_ids.clone()), Some(vec![]));
    assert_eq!(s.tests().count(), 2);
    let prepared = s
        .prepare(
            s.applied_index() + 1,
            &Command::ForgetRuns {
                run_ids: vec![4, 5],
                test_ids: vec![4],
            },
        )
        .unwrap();
    assert!(prepared.freed_archives().is_empty(), "test 3 has SHA2");
    s.commit(prepared).unwrap();
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<State>(&json).unwrap(), s);
}
