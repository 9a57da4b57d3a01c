//! Writes sent again until committed on a Raft leader, through a stand-in for the driver
//! (docs/ha.md#writes-sent-again), and written once on a single controller.

use super::*;

/// A store holding run 1 of test 1, CREATED, replicated through a stand-in whose proposals of
/// the commands `picks` chooses meet `script` (docs/ha.md#writes-sent-again).
fn replicated_with_a_run(
    dir: &TempDir,
    picks: impl Fn(&Command) -> bool + Send + Sync + 'static,
    script: &[stand_in::Outcome],
) -> (Db, Arc<stand_in::StandIn>) {
    let db = open(dir);
    db.create_test(create_test_cmd(ARCHIVE), ARCHIVE)
        .unwrap_or_else(|e| panic!("create test: {e}"));
    exec(&db, create_run_cmd(1));
    let stand_in = stand_in::StandIn::install(&db, picks, script);
    (db, stand_in)
}

fn is_move_to(to: RunStatus) -> impl Fn(&Command) -> bool {
    move |c| matches!(c, Command::Transition { to: t, .. } if *t == to)
}

/// The ids of the `Once` copies proposed; every copy of one write carries the same.
fn once_ids(picked: &[Command]) -> Vec<u64> {
    picked
        .iter()
        .map(|c| match c {
            Command::Once { id, .. } => *id,
            other => panic!("not sent as a Once: {other:?}"),
        })
        .collect()
}

#[test]
fn a_write_that_times_out_is_sent_again_until_it_is_committed() {
    use stand_in::Outcome::Lost;
    let dir = TempDir::new("resend-lost");
    let (db, stand_in) =
        replicated_with_a_run(&dir, is_move_to(RunStatus::Queued), &[Lost, Lost, Lost]);
    let applied = db
        .execute_until_committed(move_cmd(1, RunStatus::Queued, T0))
        .unwrap_or_else(|e| panic!("not committed: {e}"));
    assert!(
        matches!(
            applied.effect,
            Effect::RunMoved {
                to: RunStatus::Queued,
                ..
            }
        ),
        "{applied:?}"
    );
    let ids = once_ids(&stand_in.picked());
    assert_eq!(ids.len(), 4, "three timeouts, then committed");
    assert!(ids.iter().all(|id| *id == ids[0]), "one write: {ids:?}");
    let run = db.read(|s| s.run(1).cloned()).expect("run 1");
    assert_eq!(run.run_status, RunStatus::Queued);
    assert_eq!(run.transitions.len(), 2, "{:?}", run.transitions);
    assert_eq!(db.read(|s| s.ops().len()), 1, "its id is remembered");
}

#[test]
fn a_write_committed_after_its_timeout_and_sent_again_makes_one_change() {
    use stand_in::Outcome::Late;
    let dir = TempDir::new("resend-late");
    let is_event =
        |c: &Command| matches!(c, Command::UpdateRun { changes, .. } if changes.event.is_some());
    let (db, stand_in) = replicated_with_a_run(&dir, is_event, &[Late]);
    let event = Command::UpdateRun {
        run_id: 1,
        changes: RunChanges {
            event: Some(crate::model::RunEvent {
                at: T0.into(),
                level: "info".into(),
                message: "an event written once".into(),
                threshold: None,
            }),
            ..Default::default()
        },
    };
    let applied = db
        .execute_until_committed(event)
        .unwrap_or_else(|e| panic!("not committed: {e}"));
    assert!(
        matches!(applied.effect, Effect::Repeated { .. }),
        "the first copy committed late, the second changed nothing: {applied:?}"
    );
    assert_eq!(once_ids(&stand_in.picked()).len(), 2);
    let events = db
        .read(|s| s.run(1).map(|r| r.events.clone()))
        .expect("run 1");
    assert_eq!(events.len(), 1, "{events:?}");

    // A transition too: the copy sent again is not refused as a move backwards.
    let dir = TempDir::new("resend-late-move");
    let (db, stand_in) = replicated_with_a_run(&dir, is_move_to(RunStatus::Validated), &[Late]);
    db.execute_until_committed(move_cmd(1, RunStatus::Validated, T0))
        .unwrap_or_else(|e| panic!("not committed: {e}"));
    assert_eq!(once_ids(&stand_in.picked()).len(), 2);
    let run = db.read(|s| s.run(1).cloned()).expect("run 1");
    assert_eq!(run.run_status, RunStatus::Validated);
    assert_eq!(run.transitions.len(), 2, "{:?}", run.transitions);
}

#[test]
fn a_write_is_not_sent_again_once_this_node_no_longer_leads_nor_when_it_is_refused() {
    use stand_in::Outcome::Deposed;
    let dir = TempDir::new("resend-deposed");
    let (db, stand_in) = replicated_with_a_run(&dir, is_move_to(RunStatus::Queued), &[Deposed]);
    let e = db
        .execute_until_committed(move_cmd(1, RunStatus::Queued, T0))
        .expect_err("deposed");
    assert!(matches!(e, StoreError::NotCommitted(_)), "{e}");
    assert_eq!(stand_in.picked().len(), 1, "not sent again");
    assert_eq!(db.leadership(), Leadership::Unknown);
    let status = db.read(|s| s.run(1).map(|r| r.run_status));
    assert_eq!(status, Some(RunStatus::Created));

    let dir = TempDir::new("resend-refused");
    let (db, stand_in) = replicated_with_a_run(&dir, |_| true, &[]);
    db.execute_until_committed(move_cmd(1, RunStatus::Queued, T0))
        .unwrap_or_else(|e| panic!("not committed: {e}"));
    let e = db
        .execute_until_committed(move_cmd(1, RunStatus::Validated, T0))
        .expect_err("backwards");
    assert!(
        matches!(e, StoreError::Rejected(StateError::Backward { .. })),
        "{e}"
    );
    assert_eq!(stand_in.picked().len(), 2, "the refused one once");
}

#[test]
fn a_single_controller_writes_a_run_write_once_as_a_plain_command() {
    let dir = TempDir::new("resend-single");
    let db = open(&dir);
    populate(&db);
    let before = db.read(|s| s.applied_index());
    db.execute_until_committed(move_cmd(2, RunStatus::Initializing, T0))
        .unwrap_or_else(|e| panic!("{e}"));
    let log = db.log_since(before).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(log.as_slice(), [(_, Command::Transition { .. })]),
        "{log:?}"
    );
    assert!(db.read(|s| s.ops().is_empty()));
}
