//! CreateTest and CreateRun: ids, normalisation, validation, config overrides.

use super::*;

#[test]
fn create_test_assigns_ids_and_normalizes() {
    let mut s = State::new();
    let a = apply_all(
        &mut s,
        &[create_test("2024-05-01T14:00:00+02:00"), create_test(T0)],
    );
    assert_eq!(
        a[0],
        Applied {
            index: 1,
            effect: Effect::TestCreated { test_id: 1 }
        }
    );
    assert_eq!(a[1].test_id(), Some(2));
    assert_eq!(a[1].run_id(), None);
    assert_eq!(s.next_test_id(), 3);
    let t = s
        .test(1)
        .cloned()
        .unwrap_or_else(|| panic!("test 1 missing"));
    assert_eq!(t.created, T0);
    assert_eq!(t.updated, T0);
    assert_eq!(t.archive_sha256, SHA);
    assert_eq!(t.archive_size, 1234);
    assert_eq!(t.project_id, 3);
    assert!(t.test_run_ids.is_empty());
    assert_eq!(s.tests().map(|t| t.id).collect::<Vec<_>>(), vec![1, 2]);
}

#[test]
fn create_test_validates() {
    let mut s = State::new();
    let mut cmd = create_test(T0);
    if let Command::CreateTest { name, .. } = &mut cmd {
        *name = "  ".into();
    }
    let e = s.apply(1, &cmd).err();
    assert!(matches!(&e, Some(StateError::Invalid { .. })), "{e:?}");
    assert!(e
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("test 1: the name"));

    let mut cmd = create_test(T0);
    if let Command::CreateTest { archive_sha256, .. } = &mut cmd {
        *archive_sha256 = "abc".into();
    }
    assert!(matches!(s.apply(1, &cmd), Err(StateError::Invalid { .. })));

    let e = s.apply(1, &create_test("yesterday")).err();
    assert!(matches!(e, Some(StateError::BadTimestamp { .. })));
    assert_eq!(s, State::new(), "rejected commands leave no trace");
}

#[test]
fn create_run_fills_fields() {
    let mut s = State::new();
    let a = apply_all(
        &mut s,
        &[
            create_test(T0),
            create_run(1, "2024-05-01T12:00:05.250Z"),
            create_run(1, T0),
        ],
    );
    assert_eq!(
        a[1].effect,
        Effect::RunCreated {
            test_id: 1,
            run_id: 1
        }
    );
    assert_eq!(a[2].run_id(), Some(2));
    assert_eq!(a[2].test_id(), Some(1));
    let r = run1(&s);
    assert_eq!(r.run_status, RunStatus::Created);
    assert_eq!(r.processing_status, ProcessingStatus::NotStarted);
    assert_eq!(r.result_status, ResultStatus::Passed);
    assert_eq!(r.created, "2024-05-01T12:00:05.250Z");
    assert_eq!(r.started, None);
    assert_eq!(r.ended, None);
    assert_eq!(r.project_id, 3);
    assert_eq!(r.user_id, 42);
    assert_eq!(r.started_by, "ci");
    assert_eq!(r.note, "nightly");
    assert_eq!(r.env.get("BASE").map(String::as_str), Some("http://x"));
    assert_eq!(r.config, json!({"vus": 10, "duration": "30s"}));
    assert_eq!(r.run_process, RUN_PROCESS);
    assert_eq!(r.version, RUN_VERSION);
    assert_eq!(
        r.transitions,
        vec![Transition {
            from: RunStatus::Created,
            to: RunStatus::Created,
            at: "2024-05-01T12:00:05.250Z".into(),
            reason: CREATED_REASON.into()
        }]
    );
    assert_eq!(s.test(1).map(|t| t.test_run_ids.clone()), Some(vec![1, 2]));
    assert_eq!(s.next_run_id(), 3);
}

#[test]
fn create_run_overrides_config() {
    let mut s = State::new();
    apply_all(
        &mut s,
        &[
            create_test(T0),
            Command::CreateRun {
                test_id: 1,
                env: BTreeMap::new(),
                note: String::new(),
                config: Some(json!({"vus": 1})),
                run_process: None,
                user_id: 0,
                started_by: String::new(),
                at: T0.into(),
                idempotency_key: None,
            },
        ],
    );
    assert_eq!(run1(&s).config, json!({"vus": 1}));
}

#[test]
fn create_run_of_unknown_test() {
    let mut s = State::new();
    let e = s.apply(1, &create_run(9, T0));
    assert_eq!(e, Err(StateError::UnknownTest(9)));
    assert_eq!(e.err().map(|e| e.kind()), Some(ErrorKind::NotFound));
    assert_eq!(s.next_run_id(), 1);
    assert_eq!(s.applied_index(), 0);
}
