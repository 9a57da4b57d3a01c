//! Once: a write sent again until committed applies once; its id is forgotten after a while.

use super::*;

fn once(id: u64, at: &str, command: Command) -> Command {
    Command::Once {
        id,
        at: at.into(),
        command: Box::new(command),
    }
}

fn event(run_id: u64, message: &str) -> Command {
    Command::UpdateRun {
        run_id,
        changes: RunChanges {
            event: Some(crate::model::RunEvent {
                at: T0.into(),
                level: "info".into(),
                message: message.into(),
                threshold: None,
            }),
            ..Default::default()
        },
    }
}

/// A write sent again until committed (docs/ha.md#writes-sent-again): its first copy applies,
/// a later copy with the same id changes nothing but the applied index, whatever the command
/// (an event would be added twice, a transition refused as a move backwards).
#[test]
fn a_once_command_applies_once_whatever_the_number_of_its_copies() {
    let mut s = State::new();
    apply_all(&mut s, &[create_test(T0), create_run(1, T0)]);
    let moved = apply_all(&mut s, &[once(7, T0, to(1, RunStatus::Queued, T0))]);
    assert!(matches!(moved[0].effect, Effect::RunMoved { .. }));
    let first_index = moved[0].index;
    let before = s.clone();
    let again = apply_all(&mut s, &[once(7, T0, to(1, RunStatus::Queued, T0))]);
    assert_eq!(again[0].effect, Effect::Repeated { first: first_index });
    assert_eq!(again[0].run_id(), None);
    assert_eq!(s.applied_index(), before.applied_index() + 1);
    assert_eq!(s.run(1), before.run(1), "nothing else changed");

    apply_all(
        &mut s,
        &[once(8, T0, event(1, "once")), once(8, T0, event(1, "once"))],
    );
    assert_eq!(s.run(1).map(|r| r.events.len()), Some(1));
    assert_eq!(s.ops().len(), 2);

    // A refused command records no id: a copy of it is checked again.
    let index = s.applied_index() + 1;
    let refused = s.apply(index, &once(9, T0, to(1, RunStatus::Created, T0)));
    assert!(
        matches!(refused, Err(StateError::Backward { .. })),
        "{refused:?}"
    );
    assert!(s.ops().seen(9).is_none());

    // Nested, or with a bad time: refused, naming the field.
    let index = s.applied_index() + 1;
    let nested = once(10, T0, once(11, T0, event(1, "nested")));
    let e = s.apply(index, &nested).expect_err("nested");
    assert!(e.to_string().contains("wraps another Once"), "{e}");
    let e = s
        .apply(index, &once(10, "yesterday", event(1, "x")))
        .expect_err("bad time");
    assert!(e.to_string().contains("Once.at"), "{e}");

    // Remembered in snapshots, and replayed the same.
    let json = serde_json::to_string(&s).unwrap();
    let back: State = serde_json::from_str(&json).unwrap();
    assert_eq!(back, s);
    let cmd = once(12, T0, to(1, RunStatus::Running, T0));
    let text = serde_json::to_string(&cmd).unwrap();
    assert!(text.starts_with(r#"{"type":"Once","id":12,"#), "{text}");
    assert_eq!(serde_json::from_str::<Command>(&text).unwrap(), cmd);
}

#[test]
fn write_ids_are_forgotten_after_their_ttl_and_beyond_the_most_kept() {
    let mut s = State::new();
    apply_all(&mut s, &[create_test(T0), create_run(1, T0)]);
    for id in 0..once::MAX_OPS as u64 {
        apply_all(&mut s, &[once(id, T0, event(1, "e"))]);
    }
    assert_eq!(s.ops().len(), once::MAX_OPS);
    apply_all(&mut s, &[once(u64::MAX, T0, event(1, "e"))]);
    assert_eq!(s.ops().len(), once::MAX_OPS, "bounded");
    assert!(s.ops().seen(0).is_none(), "the oldest forgotten first");
    assert!(s.ops().seen(1).is_some());

    // An hour and more later, every older id is forgotten.
    let later = u64::MAX - 1;
    apply_all(
        &mut s,
        &[once(later, "2024-05-01T13:00:01Z", event(1, "later"))],
    );
    assert_eq!(s.ops().len(), 1);
    assert!(s.ops().seen(later).is_some());
}
