//! What the store keeps across a restart: the log replayed over the latest snapshot, automatic
//! snapshots, a failed command not logged, unique ids under concurrent writes, one process per
//! data dir, and the state digest the Raft nodes compare.

use super::*;

#[test]
fn restart_keeps_everything() {
    let dir = TempDir::new("restart");
    let before = {
        let db = open(&dir);
        populate(&db);
        db.read(State::clone)
    };
    let db = open(&dir);
    let after = db.read(State::clone);
    assert_eq!(after, before);
    let r = after
        .run(1)
        .cloned()
        .unwrap_or_else(|| panic!("run 1 lost"));
    assert_eq!(r.run_status, RunStatus::Finished);
    assert_eq!(r.duration, 30.0);
    assert_eq!(r.processing_status, ProcessingStatus::Finished);
    assert_eq!(r.transitions.len(), 6);
    assert!(r.summary.is_some());
    assert_eq!(after.run(2).map(|r| r.assignments.len()), Some(1));
    assert_eq!(
        after.test(1).map(|t| t.test_run_ids.clone()),
        Some(vec![1, 2])
    );
    assert_eq!(db.get_archive(1).ok().flatten().as_deref(), Some(ARCHIVE));
    // Ids continue after a restart.
    assert_eq!(exec(&db, create_run_cmd(1)).run_id(), Some(3));
    assert_eq!(
        exec(&db, create_run_cmd(1)).index,
        before.applied_index() + 2
    );
}

#[test]
fn replay_after_snapshot() {
    let dir = TempDir::new("snapshot");
    let before = {
        let db = open_every(&dir, 0);
        populate(&db);
        let index = db.snapshot().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(index, db.read(State::applied_index));
        assert_eq!(db.snapshot_index().ok(), Some(index));
        assert!(db.log_since(index).map(|l| l.is_empty()).unwrap_or(false));
        exec(&db, create_run_cmd(1));
        exec(
            &db,
            move_cmd(3, RunStatus::AbortedByUser, "2024-05-01T12:10:00Z"),
        );
        let log = db.log_since(index).unwrap_or_default();
        assert_eq!(
            log.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            vec![index + 1, index + 2]
        );
        assert!(matches!(log[0].1, Command::CreateRun { .. }));
        assert!(matches!(
            db.log_since(index - 1),
            Err(StoreError::Compacted { requested, snapshot_index })
                if requested == index - 1 && snapshot_index == index
        ));
        db.read(State::clone)
    };
    let db = open_every(&dir, 0);
    assert_eq!(db.read(State::clone), before);
    assert_eq!(
        db.read(|s| s.run(3).map(|r| r.run_status)),
        Some(RunStatus::AbortedByUser)
    );
}

#[test]
fn automatic_snapshots_truncate_the_log() {
    let dir = TempDir::new("auto");
    let before = {
        let db = open_every(&dir, 4);
        populate(&db); // 11 commands: snapshots at 4 and 8
        assert_eq!(db.snapshot_index().ok(), Some(8));
        assert_eq!(db.log_since(8).map(|l| l.len()).ok(), Some(3));
        assert!(matches!(db.log_since(0), Err(StoreError::Compacted { .. })));
        db.read(State::clone)
    };
    // The count since the snapshot survives the restart: one more command snapshots again.
    let db = open_every(&dir, 4);
    assert_eq!(db.read(State::clone), before);
    exec(&db, create_run_cmd(1));
    assert_eq!(db.snapshot_index().ok(), Some(12));
    assert_eq!(db.log_since(12).map(|l| l.len()).ok(), Some(0));
    drop(db);
    let db = open_every(&dir, 4);
    assert_eq!(db.read(|s| (s.applied_index(), s.runs().count())), (12, 3));
}

#[test]
fn failed_commands_are_not_logged() {
    let dir = TempDir::new("failed");
    let db = open(&dir);
    populate(&db);
    let index = db.read(State::applied_index);
    let e = db.execute(move_cmd(1, RunStatus::Running, T0));
    let msg = e.as_ref().err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        msg,
        "run 1 is FINISHED (terminal); it cannot move to RUNNING: terminal statuses are final"
    );
    assert!(e.as_ref().err().and_then(StoreError::rejection).is_some());
    assert!(db.execute(create_run_cmd(77)).is_err());
    assert_eq!(db.read(State::applied_index), index);
    assert_eq!(db.log_since(0).map(|l| l.len()).ok(), Some(index as usize));
    // The next command takes the next index: no holes from rejected commands.
    assert_eq!(exec(&db, create_run_cmd(1)).index, index + 1);
    drop(db);
    let db = open(&dir);
    assert_eq!(db.read(State::applied_index), index + 1);
}

#[test]
fn concurrent_executes_keep_ids_unique() {
    let dir = TempDir::new("threads");
    let db = Arc::new(open_every(&dir, 7));
    exec(&db, create_test_cmd(ARCHIVE));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                (0..20)
                    .map(|_| {
                        let a = exec(&db, create_run_cmd(1));
                        // Reads run alongside writes.
                        let seen = db.read(|s| s.run(a.run_id().unwrap_or(0)).is_some());
                        assert!(seen);
                        a.run_id().unwrap_or(0)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for h in handles {
        ids.extend(h.join().unwrap_or_default());
    }
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 160);
    assert_eq!(unique, (1..=160).collect::<BTreeSet<u64>>());
    let before = db.read(State::clone);
    drop(db);
    let db = open(&dir);
    assert_eq!(db.read(State::clone), before);
}

#[test]
fn second_open_of_same_dir_is_refused() {
    let dir = TempDir::new("twice");
    let _db = open(&dir);
    let msg = open_err(&dir);
    assert!(
        msg.contains("is in use by another process; stop the other controller"),
        "{msg}"
    );
}

#[test]
fn db_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Db>();
}

#[test]
fn equal_states_have_equal_digests_and_a_command_more_changes_it() {
    let (a, b) = (TempDir::new("digest-a"), TempDir::new("digest-b"));
    let (da, db) = (open(&a), open(&b));
    populate(&da);
    populate(&db);
    let (ga, gb) = (
        crate::group::state_digest(&da).expect("digest"),
        crate::group::state_digest(&db).expect("digest"),
    );
    assert_eq!(ga, gb);
    assert_eq!(ga.node, 0, "a controller without Raft");
    assert_eq!(ga.sha256.len(), 64);
    let bytes = da.read(|s| serde_json::to_vec(s).unwrap());
    assert_eq!(ga.bytes, bytes.len() as u64);
    assert_eq!(
        ga.sha256,
        sha256_hex(&bytes),
        "the digest of the snapshot bytes"
    );
    exec(&db, move_cmd(2, RunStatus::Initializing, T0));
    let after = crate::group::state_digest(&db).expect("digest");
    assert_eq!(after.applied, ga.applied + 1);
    assert_ne!(after.sha256, ga.sha256);
}
