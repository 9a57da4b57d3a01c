//! Idempotency keys on CreateTest and CreateRun: a repeated create answers the first one's id.

use super::*;

fn keyed_test(key: &str, sha: &str, at: &str) -> Command {
    Command::CreateTest {
        name: "checkout".into(),
        project_id: 3,
        archive_sha256: sha.into(),
        archive_size: 1234,
        config: json!({"vus": 1}),
        at: at.into(),
        idempotency_key: Some(key.into()),
    }
}

pub(super) fn keyed_run(test_id: u64, user_id: u64, key: &str, at: &str) -> Command {
    Command::CreateRun {
        test_id,
        env: BTreeMap::new(),
        note: String::new(),
        config: None,
        run_process: None,
        user_id,
        started_by: String::new(),
        at: at.into(),
        idempotency_key: Some(key.into()),
    }
}

#[test]
fn a_create_with_a_key_already_seen_makes_nothing_and_answers_the_first_ones_id() {
    let mut s = State::new();
    let plain = serde_json::to_string(&s).unwrap_or_default();
    assert!(!plain.contains("keys"), "no keys, no field: {plain}");
    let r = apply_all(
        &mut s,
        &[keyed_test("k1", SHA, T0), keyed_test("k1", SHA, T0)],
    );
    assert_eq!(r[0].effect, Effect::TestCreated { test_id: 1 });
    assert_eq!(
        r[1].effect,
        Effect::Replayed {
            test_id: 1,
            run_id: None
        }
    );
    assert_eq!((s.tests().count(), s.next_test_id()), (1, 2));
    // Runs have keys of their own: "k1" again is a new run, then a replay of it.
    let r = apply_all(
        &mut s,
        &[
            keyed_run(1, 42, "k1", T0),
            keyed_run(1, 42, "k1", "2024-05-01T12:00:05Z"),
            keyed_run(1, 42, "k2", T0),
        ],
    );
    let effects: Vec<Effect> = r.into_iter().map(|a| a.effect).collect();
    assert_eq!(
        effects,
        [
            Effect::RunCreated {
                test_id: 1,
                run_id: 1
            },
            Effect::Replayed {
                test_id: 1,
                run_id: Some(1)
            },
            Effect::RunCreated {
                test_id: 1,
                run_id: 2
            },
        ]
    );
    assert_eq!(s.runs().count(), 2);
    assert_eq!(s.test(1).map(|t| t.test_run_ids.clone()), Some(vec![1, 2]));

    // The same key with another request is refused (409-kind), and changes nothing.
    let before = s.clone();
    for cmd in [
        keyed_run(1, 43, "k1", T0),
        keyed_test("k1", &"ab".repeat(32), T0),
    ] {
        let err = s.prepare(s.applied_index() + 1, &cmd);
        assert!(
            matches!(&err, Err(e @ StateError::KeyReused { .. }) if e.kind() == ErrorKind::Conflict),
            "{err:?}"
        );
    }
    assert_eq!(s, before);
    // A malformed key is refused.
    for bad in ["", "has space", &"x".repeat(256)] {
        let err = s.prepare(s.applied_index() + 1, &keyed_run(1, 42, bad, T0));
        assert!(
            matches!(err, Err(StateError::Invalid { .. })),
            "{bad:?}: {err:?}"
        );
    }

    // Keys survive a snapshot, so a node that caught up from one answers the same.
    let json = serde_json::to_vec(&s).unwrap_or_default();
    let mut restored: State = serde_json::from_slice(&json).expect("state");
    assert_eq!(restored, s);
    let r = apply_all(&mut restored, &[keyed_run(1, 42, "k2", T0)]);
    assert_eq!(r[0].run_id(), Some(2));

    // A day after its create a key is forgotten: the same key makes a new run.
    let r = apply_all(&mut s, &[keyed_run(1, 42, "k1", "2024-05-02T12:00:01Z")]);
    assert_eq!(
        r[0].effect,
        Effect::RunCreated {
            test_id: 1,
            run_id: 3
        }
    );
}

#[test]
fn at_most_max_keys_of_a_kind_are_kept_the_oldest_forgotten_first() {
    use idempotency::{KeyKind, MAX_KEYS};
    let mut s = State::new();
    apply_all(&mut s, &[create_test(T0)]);
    for i in 0..MAX_KEYS + 5 {
        apply_all(&mut s, &[keyed_run(1, 42, &format!("k{i}"), T0)]);
    }
    assert_eq!(s.idempotency_keys().len(KeyKind::Run), MAX_KEYS);
    assert_eq!(s.idempotency_keys().len(KeyKind::Test), 0);
    let runs = s.runs().count() as u64;
    let r = apply_all(
        &mut s,
        &[keyed_run(1, 42, "k5", T0), keyed_run(1, 42, "k4", T0)],
    );
    assert_eq!(r[0].run_id(), Some(6), "k5 is remembered: its run");
    assert_eq!(r[1].run_id(), Some(runs + 1), "k4 was forgotten: a new run");
    // Forgotten keys stay forgotten on every replica: the same log, the same state.
    let mut again = State::new();
    apply_all(&mut again, &[create_test(T0)]);
    for i in 0..MAX_KEYS + 5 {
        apply_all(&mut again, &[keyed_run(1, 42, &format!("k{i}"), T0)]);
    }
    apply_all(
        &mut again,
        &[keyed_run(1, 42, "k5", T0), keyed_run(1, 42, "k4", T0)],
    );
    assert_eq!(
        serde_json::to_string(&again).unwrap_or_default(),
        serde_json::to_string(&s).unwrap_or_default()
    );
}

fn keyed_token(key: &str, role: Role, sha: &str) -> Command {
    Command::CreateToken {
        name: "ci".into(),
        role,
        project_id: 3,
        sha256: sha.into(),
        at: T0.into(),
        idempotency_key: Some(key.into()),
    }
}

/// A token create sent again with its key (another secret each time: the API makes one per
/// request) makes no second token; the same key with another role is refused.
#[test]
fn a_token_create_with_a_key_already_seen_makes_no_second_token() {
    let mut s = State::new();
    let r = apply_all(
        &mut s,
        &[
            keyed_token("k1", Role::Submit, &"a1".repeat(32)),
            keyed_token("k1", Role::Submit, &"b2".repeat(32)),
            // Tests and runs keep keys of their own.
            keyed_test("k1", SHA, T0),
        ],
    );
    assert_eq!(r[0].effect, Effect::TokenCreated { token_id: 1 });
    assert_eq!(r[1].effect, Effect::TokenReplayed { token_id: 1 });
    assert_eq!(r[1].run_id(), None);
    assert_eq!(r[2].effect, Effect::TestCreated { test_id: 1 });
    assert_eq!(s.tokens().count(), 1);
    assert_eq!(s.idempotency_keys().len(KeyKind::Token), 1);

    let before = s.clone();
    let err = s.prepare(
        s.applied_index() + 1,
        &keyed_token("k1", Role::Admin, &"c3".repeat(32)),
    );
    assert!(
        matches!(&err, Err(StateError::KeyReused { first, .. }) if first.contains("role submit")),
        "{err:?}"
    );
    assert_eq!(s, before);

    // Replicated and in snapshots like the other keys.
    let back: State = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back, s);
    let keyless = Command::CreateToken {
        name: String::new(),
        role: Role::Read,
        project_id: 0,
        sha256: "d4".repeat(32),
        at: T0.into(),
        idempotency_key: None,
    };
    let text = serde_json::to_string(&keyless).unwrap();
    assert!(!text.contains("idempotency_key"), "{text}");
}
