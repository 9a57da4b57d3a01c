//! The log itself: indexes, queries, replay giving the same state, and the JSON form of
//! commands and state (old logs included).

use super::*;

/// Logs written before scripts left the state carry `script` in CreateTest and CreateRun;
/// reading them skips it.
#[test]
fn commands_with_the_old_script_field_still_read() {
    let old = [
        json!({"type": "CreateTest", "name": "t", "project_id": 0, "archive_sha256": SHA,
            "archive_size": 3, "config": {}, "script": "x".repeat(1000), "at": T0}),
        json!({"type": "CreateRun", "test_id": 1, "script": "y", "user_id": 0, "at": T0}),
    ];
    let mut s = State::new();
    for (i, c) in old.iter().enumerate() {
        let cmd: Command = serde_json::from_value(c.clone()).unwrap_or_else(|e| panic!("{e}"));
        s.apply(i as u64 + 1, &cmd)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(s.runs().count(), 1);
    let snapshot = serde_json::to_string(&s).unwrap_or_default();
    assert!(
        !snapshot.contains("xxx") && !snapshot.contains("script"),
        "{snapshot}"
    );
}

/// Store format 2 repeated a run's segment sequence in every assignment, of the `Assign`
/// command and of the run in snapshots: both read with the sequence moved to the run, once,
/// and write it there.
#[test]
fn format_2_placements_read_with_the_sequence_once() {
    let seq = "0,1/3,2/3,1";
    let old_assign = json!({"type": "Assign", "run_id": 1, "assignments": [
        {"agent": "gen-1", "segment": "0:1/3", "sequence": seq},
        {"agent": "gen-2", "segment": "1/3:2/3", "sequence": seq},
        {"agent": "gen-3", "segment": "2/3:1", "sequence": seq}]});
    let cmd: Command = serde_json::from_value(old_assign).unwrap_or_else(|e| panic!("{e}"));
    let want = RunPlacement {
        sequence: seq.into(),
        assignments: vec![
            assignment("gen-1", "0:1/3"),
            assignment("gen-2", "1/3:2/3"),
            assignment("gen-3", "2/3:1"),
        ],
    };
    assert_eq!(
        cmd,
        Command::Assign {
            run_id: 1,
            placement: want.clone()
        }
    );
    let written = serde_json::to_value(&cmd).unwrap_or_default();
    assert_eq!(written["sequence"], seq);
    assert_eq!(
        written["assignments"][0],
        json!({"agent": "gen-1", "segment": "0:1/3"})
    );
    // A streamed run's placement had an empty sequence.
    let streamed: Command = serde_json::from_value(json!({"type": "Assign", "run_id": 1,
        "assignments": [{"agent": "local:x", "segment": "0:1", "sequence": ""}]}))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&streamed, Command::Assign { placement, .. } if placement.sequence.is_empty())
    );

    // A format 2 snapshot: the run's assignments each with the sequence, none on the run.
    let mut s = run_in(RunStatus::Queued);
    s.apply(10, &cmd).unwrap_or_else(|e| panic!("{e}"));
    let mut old = serde_json::to_value(&s).unwrap_or_default();
    let fields = old["runs"]["1"]
        .as_object_mut()
        .unwrap_or_else(|| panic!("run 1 is not in the state"));
    assert_eq!(fields.remove("sequence"), Some(json!(seq)));
    for a in fields["assignments"].as_array_mut().into_iter().flatten() {
        a["sequence"] = json!(seq);
    }
    let back: State = serde_json::from_value(old).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, s);
    assert_eq!(run1(&back).sequence, seq);
    assert_eq!(run1(&back).assignments, want.assignments);
    let rewritten = serde_json::to_string(&back).unwrap_or_default();
    assert_eq!(rewritten.matches(seq).count(), 1, "{rewritten}");
}

#[test]
fn queries() {
    let mut s = State::new();
    apply_all(
        &mut s,
        &[
            create_test(T0),
            create_test(T0),
            create_run(1, T0),
            create_run(2, T0),
            create_run(1, T0),
            create_run(1, T0),
            to(1, RunStatus::Queued, T0),
            to(3, RunStatus::Queued, T0),
            to(4, RunStatus::Running, T0),
            to(4, RunStatus::Finished, T0),
        ],
    );
    let ids = |it: &mut dyn Iterator<Item = &Run>| it.map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(&mut s.runs()), vec![1, 2, 3, 4]);
    assert_eq!(ids(&mut s.runs_of_test(1)), vec![1, 3, 4]);
    assert_eq!(ids(&mut s.runs_of_test(2)), vec![2]);
    assert_eq!(ids(&mut s.runs_of_test(9)), Vec::<u64>::new());
    assert_eq!(ids(&mut s.runs_in_status(RunStatus::Queued)), vec![1, 3]);
    assert_eq!(ids(&mut s.runs_in_status(RunStatus::Created)), vec![2]);
    assert_eq!(ids(&mut s.non_terminal_runs()), vec![1, 2, 3]);
    assert!(s.run(5).is_none());
    assert!(s.test(3).is_none());
}

#[test]
fn index_rules() {
    let mut s = State::new();
    assert!(s.apply(5, &create_test(T0)).is_ok());
    assert_eq!(s.applied_index(), 5);
    // Gaps are fine; going back or repeating is not.
    assert_eq!(
        s.apply(5, &create_test(T0)),
        Err(StateError::StaleIndex {
            index: 5,
            applied: 5
        })
    );
    assert!(s.apply(3, &create_test(T0)).is_err());
    assert!(s.apply(9, &create_test(T0)).is_ok());
    assert_eq!(s.tests().count(), 2);

    // A prepared command must be committed before anything else is applied.
    let p = s.prepare(10, &create_test(T0));
    let p = p.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.index(), 10);
    assert_eq!(p.effect(), &Effect::TestCreated { test_id: 3 });
    assert!(s.apply(10, &create_test(T0)).is_ok());
    assert_eq!(
        s.commit(p).err(),
        Some(StateError::StalePrepared {
            prepared_at: 9,
            now: 10
        })
    );
}

fn sample_log() -> Vec<Command> {
    vec![
        create_test(T0),
        create_run(1, T0),
        to(1, RunStatus::Validated, "2024-05-01T12:00:01Z"),
        to(1, RunStatus::Queued, "2024-05-01T12:00:01Z"),
        Command::Assign {
            run_id: 1,
            placement: placement(vec![assignment("gen-1", "0:1")]),
        },
        to(1, RunStatus::Initializing, "2024-05-01T12:00:02Z"),
        to(1, RunStatus::Running, "2024-05-01T12:00:03.333Z"),
        Command::UpdateRun {
            run_id: 1,
            changes: RunChanges {
                vus: Some(10),
                ..RunChanges::default()
            },
        },
        Command::Transition {
            run_id: 1,
            to: RunStatus::AbortedByThreshold,
            reason: "threshold p(95)<200 on http_req_duration failed".into(),
            at: "2024-05-01T12:00:13.001Z".into(),
            changes: RunChanges {
                result_status: Some(ResultStatus::Failed),
                exit_code: Some(99),
                ..RunChanges::default()
            },
        },
        Command::SetSummary {
            run_id: 1,
            summary: json!({"metrics": {"x": 0.1}}),
        },
        create_run(1, "2024-05-01T12:01:00Z"),
    ]
}

#[test]
fn same_log_same_state() {
    let log = sample_log();
    let mut a = State::new();
    let mut b = State::new();
    let ra = apply_all(&mut a, &log);
    let rb = apply_all(&mut b, &log);
    assert_eq!(ra, rb);
    assert_eq!(a, b);
    assert_eq!(run1(&a).duration, 9.668);
    // The serialized form is identical too (byte for byte), so snapshots agree.
    let ja = serde_json::to_string(&a).unwrap_or_default();
    let jb = serde_json::to_string(&b).unwrap_or_default();
    assert!(!ja.is_empty());
    assert_eq!(ja, jb);
}

#[test]
fn state_round_trips_through_json() {
    let mut a = State::new();
    apply_all(&mut a, &sample_log());
    let json = serde_json::to_vec(&a).unwrap_or_default();
    let b: State = match serde_json::from_slice(&json) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(a, b);
    // And it keeps working identically after the round trip.
    let (mut a, mut b) = (a, b);
    apply_all(&mut a, &[create_run(1, T0)]);
    apply_all(&mut b, &[create_run(1, T0)]);
    assert_eq!(a, b);
}

#[test]
fn commands_round_trip_with_type_tag() {
    for cmd in sample_log() {
        let json = serde_json::to_value(&cmd).unwrap_or_default();
        assert!(
            json.get("type").and_then(|t| t.as_str()).is_some(),
            "{json}"
        );
        let back: Command = match serde_json::from_value(json.clone()) {
            Ok(c) => c,
            Err(e) => panic!("{json}: {e}"),
        };
        assert_eq!(back, cmd);
    }
    // UpdateRun keeps its fields flat, as the rest of the API does.
    let json = serde_json::to_value(Command::UpdateRun {
        run_id: 3,
        changes: RunChanges {
            vus: Some(5),
            ..RunChanges::default()
        },
    })
    .unwrap_or_default();
    assert_eq!(json, json!({"type": "UpdateRun", "run_id": 3, "vus": 5}));
    // Older logs without optional fields still read.
    let old: Result<Command, _> = serde_json::from_value(json!({
        "type": "CreateRun", "test_id": 1, "user_id": 0, "at": T0
    }));
    assert!(
        matches!(old, Ok(Command::CreateRun { config: None, .. })),
        "{old:?}"
    );
    let old: Result<Command, _> = serde_json::from_value(json!({
        "type": "Transition", "run_id": 1, "to": 2, "reason": "r", "at": T0
    }));
    assert!(old.is_ok(), "{old:?}");
    let unknown: Result<Command, _> =
        serde_json::from_value(json!({"type": "Explode", "run_id": 1}));
    assert!(unknown.is_err());
}
