use super::*;
use crate::model::{AbortReason, Assignment, ProcessingStatus, ResultStatus, RunStatus};
use crate::state::{Effect, RunChanges, StateError};
use crate::temp_dir::TempDir;
use redb::ReadableTableMetadata;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const T0: &str = "2024-05-01T12:00:00Z";
const ARCHIVE: &[u8] = b"not really a tar, but bytes all the same";

fn open(dir: &TempDir) -> Db {
    Db::open(&dir.0).unwrap_or_else(|e| panic!("open: {e}"))
}

fn open_every(dir: &TempDir, snapshot_every: u64) -> Db {
    Db::open_with(
        &dir.0,
        StoreOptions {
            snapshot_every,
            ..StoreOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("open: {e}"))
}

fn exec(db: &Db, cmd: Command) -> Applied {
    db.execute(cmd.clone())
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn create_test_cmd(archive: &[u8]) -> Command {
    Command::CreateTest {
        name: "checkout".into(),
        project_id: 1,
        archive_sha256: sha256_hex(archive),
        archive_size: archive.len() as u64,
        config: json!({"vus": 3}),
        at: T0.into(),
        idempotency_key: None,
    }
}

fn create_run_cmd(test_id: u64) -> Command {
    Command::CreateRun {
        test_id,
        env: BTreeMap::new(),
        note: String::new(),
        config: None,
        run_process: None,
        user_id: 1,
        started_by: String::new(),
        at: T0.into(),
        idempotency_key: None,
    }
}

fn move_cmd(run_id: u64, to: RunStatus, at: &str) -> Command {
    Command::Transition {
        run_id,
        to,
        reason: to.name().to_lowercase(),
        at: at.into(),
        changes: RunChanges::default(),
    }
}

/// Test 1 with two runs: run 1 finished with a summary, run 2 queued.
fn populate(db: &Db) {
    let a = db.create_test(create_test_cmd(ARCHIVE), ARCHIVE);
    assert_eq!(a.ok().and_then(|a| a.test_id()), Some(1));
    exec(db, create_run_cmd(1));
    exec(db, create_run_cmd(1));
    for (to, at) in [
        (RunStatus::Validated, "2024-05-01T12:00:01Z"),
        (RunStatus::Queued, "2024-05-01T12:00:01Z"),
        (RunStatus::Initializing, "2024-05-01T12:00:02Z"),
        (RunStatus::Running, "2024-05-01T12:00:03Z"),
        (RunStatus::Finished, "2024-05-01T12:00:33Z"),
    ] {
        exec(db, move_cmd(1, to, at));
    }
    exec(
        db,
        Command::Assign {
            run_id: 2,
            assignments: vec![Assignment {
                agent: "gen-1".into(),
                segment: "0:1".into(),
                sequence: "0,1".into(),
            }],
        },
    );
    exec(db, move_cmd(2, RunStatus::Queued, T0));
    exec(
        db,
        Command::SetSummary {
            run_id: 1,
            summary: json!({"metrics": {"http_reqs": {"values": {"count": 3000, "rate": 99.5}}}}),
        },
    );
}

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
fn archives() {
    let dir = TempDir::new("archives");
    let db = Db::open_with(
        &dir.0,
        StoreOptions {
            max_archive_bytes: 64,
            ..StoreOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(db.get_archive(1), Ok(None)));
    assert!(matches!(
        db.put_archive(1, ARCHIVE),
        Err(StoreError::Rejected(StateError::UnknownTest(1)))
    ));

    // A mismatched archive creates nothing.
    let mut cmd = create_test_cmd(ARCHIVE);
    if let Command::CreateTest { archive_sha256, .. } = &mut cmd {
        *archive_sha256 = sha256_hex(b"other");
    }
    let e = db.create_test(cmd, ARCHIVE).err().map(|e| e.to_string());
    assert!(e.unwrap_or_default().contains("does not match"));
    let big = [7u8; 65];
    let e = db.create_test(create_test_cmd(&big), &big);
    assert!(matches!(
        e,
        Err(StoreError::ArchiveTooLarge { size: 65, max: 64 })
    ));
    assert!(matches!(
        db.create_test(create_run_cmd(1), ARCHIVE),
        Err(StoreError::NotCreateTest("CreateRun"))
    ));
    assert_eq!(db.read(|s| s.tests().count()), 0);

    // Test created first, archive put afterwards.
    exec(&db, create_test_cmd(ARCHIVE));
    assert!(matches!(db.get_archive(1), Ok(None)));
    assert!(matches!(
        db.put_archive(1, b"tampered"),
        Err(StoreError::ArchiveMismatch { .. })
    ));
    assert!(db.put_archive(1, ARCHIVE).is_ok());
    assert_eq!(db.get_archive(1).ok().flatten().as_deref(), Some(ARCHIVE));
    drop(db);
    let db = open(&dir);
    assert_eq!(db.get_archive(1).ok().flatten().as_deref(), Some(ARCHIVE));
}

#[test]
fn checkpoints_are_stored_replaced_kept_and_deleted() {
    let dir = TempDir::new("checkpoints");
    {
        let db = open(&dir);
        assert_eq!(db.get_checkpoint(7).ok().flatten(), None);
        db.put_checkpoint(7, b"first")
            .unwrap_or_else(|e| panic!("{e}"));
        db.put_checkpoint(7, b"second")
            .unwrap_or_else(|e| panic!("{e}"));
    }
    // Durable across a reopen; deleting forgets it.
    let db = open(&dir);
    assert_eq!(
        db.get_checkpoint(7).ok().flatten().as_deref(),
        Some(&b"second"[..])
    );
    db.delete_checkpoint(7).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(db.get_checkpoint(7).ok().flatten(), None);
    // Deleting what is not there is fine.
    db.delete_checkpoint(8).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn sha256_of_known_input() {
    assert_eq!(
        sha256_hex(b"test"),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
}

/// Writes `value` at `key` of a table, with the `Db` closed.
fn poke<K: redb::Key + 'static>(
    dir: &TempDir,
    table: TableDefinition<K, &[u8]>,
    key: K::SelfType<'_>,
    value: &[u8],
) {
    let db = Database::create(dir.0.join(DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
    let txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
    {
        let mut t = txn.open_table(table).unwrap_or_else(|e| panic!("{e}"));
        t.insert(key, value).unwrap_or_else(|e| panic!("{e}"));
    }
    txn.commit().unwrap_or_else(|e| panic!("{e}"));
}

fn open_err(dir: &TempDir) -> String {
    match Db::open(&dir.0) {
        Ok(_) => panic!("opened damaged data"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn damaged_log_entry_is_a_clear_error() {
    let dir = TempDir::new("badlog");
    drop({
        let db = open(&dir);
        populate(&db);
        db
    });
    // A command cut in half (e.g. a torn write by another tool).
    let full = serde_json::to_vec(&create_run_cmd(1)).unwrap_or_default();
    poke(&dir, LOG, 13, &full[..full.len() / 2]);
    let msg = open_err(&dir);
    assert!(msg.contains("log entry 13 is damaged"), "{msg}");
    assert!(msg.contains(DB_FILE), "{msg}");

    // A command of an unknown kind.
    poke(&dir, LOG, 13, br#"{"type":"Teleport","run_id":1}"#);
    let msg = open_err(&dir);
    assert!(msg.contains("unknown variant `Teleport`"), "{msg}");

    // A well-formed command that does not apply.
    let bad = serde_json::to_vec(&move_cmd(1, RunStatus::Queued, T0)).unwrap_or_default();
    poke(&dir, LOG, 13, &bad);
    let msg = open_err(&dir);
    assert!(
        msg.contains("log entry 13 no longer applies (run 1 is FINISHED (terminal)"),
        "{msg}"
    );
}

/// Statuses are stored as the k6 cloud's numbers and abort reasons as their JSON: log
/// entries written with plain integers and JSON values (as before the typed fields) still
/// apply, and snapshots keep writing the same forms.
#[test]
fn statuses_and_abort_reasons_keep_their_stored_form() {
    let dir = TempDir::new("statusnum");
    drop({
        let db = open(&dir);
        populate(&db);
        db
    });
    poke(
        &dir,
        LOG,
        12,
        br#"{"type":"Transition","run_id":2,"to":1,"reason":"placed","at":"2024-05-01T12:00:05Z"}"#,
    );
    poke(
        &dir,
        LOG,
        13,
        br#"{"type":"UpdateRun","run_id":2,"result_status":1,"processing_status":3,"abort_reason":{"reason":"limit","limit":"max_groups","message":"41 > 40"}}"#,
    );
    let db = open(&dir);
    let r = db.read(|s| s.run(2).cloned());
    let r = r.unwrap_or_else(|| panic!("run 2 lost"));
    assert_eq!(r.run_status, RunStatus::Initializing);
    assert_eq!(r.result_status, ResultStatus::Failed);
    assert_eq!(r.processing_status, ProcessingStatus::Error);
    let limit = AbortReason::Limit {
        limit: "max_groups".into(),
        message: "41 > 40".into(),
    };
    assert_eq!(r.abort_reason, Some(limit));
    assert_eq!(db.snapshot().ok(), Some(13));
    drop(db);
    let raw = Database::create(dir.0.join(DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
    let txn = raw.begin_read().unwrap_or_else(|e| panic!("{e}"));
    let t = txn.open_table(SNAPSHOT).unwrap_or_else(|e| panic!("{e}"));
    let snap = t.get(SNAPSHOT_STATE).ok().flatten();
    let snap: serde_json::Value = snap
        .and_then(|v| serde_json::from_slice(v.value()).ok())
        .unwrap_or_default();
    let run = &snap["runs"]["2"];
    assert_eq!(run["run_status"], 1, "{run}");
    assert_eq!(run["result_status"], 1, "{run}");
    assert_eq!(run["processing_status"], 3, "{run}");
    assert_eq!(
        run["abort_reason"],
        json!({"reason": "limit", "limit": "max_groups", "message": "41 > 40"})
    );
    assert_eq!(
        run["transitions"][2],
        json!({"from": 0, "to": 1, "at": "2024-05-01T12:00:05Z", "reason": "placed"})
    );
}

#[test]
fn damaged_snapshot_is_a_clear_error() {
    let dir = TempDir::new("badsnap");
    drop({
        let db = open(&dir);
        populate(&db);
        let _ = db.snapshot();
        db
    });
    poke(&dir, SNAPSHOT, SNAPSHOT_STATE, b"{\"tests\":{");
    let msg = open_err(&dir);
    assert!(msg.contains("the snapshot is damaged"), "{msg}");
}

#[test]
fn newer_format_is_refused() {
    let dir = TempDir::new("format");
    drop(open(&dir));
    {
        let db = Database::create(dir.0.join(DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
        let txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut t = txn.open_table(META).unwrap_or_else(|e| panic!("{e}"));
            t.insert(META_FORMAT, FORMAT_VERSION + 1)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        txn.commit().unwrap_or_else(|e| panic!("{e}"));
    }
    let msg = open_err(&dir);
    assert!(
        msg.contains("has format 3, this controller reads format 2"),
        "{msg}"
    );
}

#[test]
fn garbage_file_is_a_clear_error() {
    let dir = TempDir::new("garbage");
    fs::create_dir_all(&dir.0).unwrap_or_else(|e| panic!("{e}"));
    let junk: Vec<u8> = (0..20_000u32).map(|i| (i * 7919 % 251) as u8).collect();
    fs::write(dir.0.join(DB_FILE), junk).unwrap_or_else(|e| panic!("{e}"));
    let msg = open_err(&dir);
    assert!(
        msg.starts_with("cannot open the controller database"),
        "{msg}"
    );
    assert!(msg.contains("Not a redb database"), "{msg}");
}

#[test]
fn truncated_file_is_a_clear_error() {
    let dir = TempDir::new("truncated");
    drop({
        let db = open(&dir);
        populate(&db);
        db
    });
    let path = dir.0.join(DB_FILE);
    let bytes = fs::read(&path).unwrap_or_default();
    fs::write(&path, &bytes[..bytes.len() / 3]).unwrap_or_else(|e| panic!("{e}"));
    let msg = open_err(&dir);
    assert!(
        msg.starts_with("cannot open the controller database"),
        "{msg}"
    );
    assert!(msg.contains("truncated"), "{msg}");
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

/// A run started from a test adds a log entry, not a copy of the test's archive or script:
/// the database stays the same size (to within the log entries) however many runs start, and
/// tests uploading the same archive share one copy of it.
#[test]
fn many_starts_of_one_test_stay_flat() {
    let dir = TempDir::new("flat");
    let db = open_every(&dir, 0);
    // 2 MiB of incompressible-looking bytes.
    let big: Vec<u8> = (0..2u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    db.create_test(create_test_cmd(&big), &big)
        .unwrap_or_else(|e| panic!("{e}"));
    exec(&db, create_run_cmd(1));
    db.snapshot().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.0.join(DB_FILE);
    let size = || fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let after_one = size();
    for _ in 0..40 {
        exec(&db, create_run_cmd(1));
        db.create_test(create_test_cmd(&big), &big)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    db.snapshot().unwrap_or_else(|e| panic!("{e}"));
    let after_many = size();
    assert!(
        after_many < after_one + big.len() as u64 / 2,
        "40 more runs and tests of one 2 MiB archive grew the database from {after_one} to \
         {after_many} bytes"
    );
    assert_eq!(db.read(|s| s.tests().count()), 41);
    assert_eq!(db.get_archive(41).ok().flatten().as_deref(), Some(&big[..]));
    assert_eq!(db.archive_bytes(None), big.len() as u64);
}

#[test]
fn storage_limits_count_each_distinct_archive_once() {
    let dir = TempDir::new("quota");
    let a: &[u8] = &[1; 100];
    let b: &[u8] = &[2; 100];
    let in_project = |archive: &[u8], project_id| {
        let mut cmd = create_test_cmd(archive);
        if let Command::CreateTest { project_id: p, .. } = &mut cmd {
            *p = project_id;
        }
        cmd
    };
    let db = Db::open_with(
        &dir.0,
        StoreOptions {
            max_total_bytes: Some(250),
            max_project_bytes: Some(150),
            ..StoreOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(db.create_test(in_project(a, 1), a).is_ok());
    // The same archive again costs nothing.
    assert!(db.create_test(in_project(a, 1), a).is_ok());
    let e = db.create_test(in_project(b, 1), b);
    assert!(
        matches!(
            e,
            Err(StoreError::ProjectFull {
                project_id: 1,
                used: 100,
                adding: 100,
                max: 150
            })
        ),
        "{e:?}"
    );
    let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("--max-project-storage"), "{msg}");
    assert!(db.create_test(in_project(b, 2), b).is_ok());
    // Project 3 would fit its own limit, but not the total.
    let c: &[u8] = &[3; 100];
    let e = db.create_test(in_project(c, 3), c);
    assert!(
        matches!(
            e,
            Err(StoreError::StoreFull {
                used: 200,
                adding: 100,
                max: 250
            })
        ),
        "{e:?}"
    );
    assert_eq!(
        db.read(|s| s.tests().count()),
        3,
        "refused tests are not created"
    );
}

/// A database written by a format 1 controller (archives by test id, scripts in every test and
/// run) opens: archives move to the content table, the scripts leave the snapshot and log.
#[test]
fn format_1_databases_are_migrated() {
    const ARCHIVES_V1: TableDefinition<u64, &[u8]> = TableDefinition::new("archives");
    let dir = TempDir::new("v1");
    fs::create_dir_all(&dir.0).unwrap_or_else(|e| panic!("{e}"));
    let script = format!("export default function () {{}} // {}", "s".repeat(10_000));
    let sha = sha256_hex(ARCHIVE);
    {
        let db = Database::create(dir.0.join(DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
        let txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut meta = txn.open_table(META).unwrap_or_else(|e| panic!("{e}"));
            meta.insert(META_FORMAT, 1)
                .unwrap_or_else(|e| panic!("{e}"));
            let mut archives = txn
                .open_table(ARCHIVES_V1)
                .unwrap_or_else(|e| panic!("{e}"));
            let mut log = txn.open_table(LOG).unwrap_or_else(|e| panic!("{e}"));
            for (i, id) in [(1u64, 1u64), (3, 2)] {
                archives
                    .insert(id, ARCHIVE)
                    .unwrap_or_else(|e| panic!("{e}"));
                let create = json!({"type": "CreateTest", "name": format!("t{id}"), "project_id": 0,
                    "archive_sha256": sha, "archive_size": ARCHIVE.len(), "config": {},
                    "script": script, "at": T0});
                let run = json!({"type": "CreateRun", "test_id": id, "config": {},
                    "script": script, "user_id": 0, "at": T0});
                log.insert(i, create.to_string().as_bytes())
                    .unwrap_or_else(|e| panic!("{e}"));
                log.insert(i + 1, run.to_string().as_bytes())
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            txn.open_table(SNAPSHOT).unwrap_or_else(|e| panic!("{e}"));
            txn.open_table(CHECKPOINTS)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        txn.commit().unwrap_or_else(|e| panic!("{e}"));
    }
    let db = open(&dir);
    assert_eq!(db.read(|s| (s.tests().count(), s.runs().count())), (2, 2));
    assert_eq!(db.get_archive(2).ok().flatten().as_deref(), Some(ARCHIVE));
    assert_eq!(
        db.snapshot_index().ok(),
        Some(4),
        "migrated state is snapshotted"
    );
    assert!(
        db.log_since(4).is_ok_and(|l| l.is_empty()),
        "the old log is gone"
    );
    drop(db);
    let raw = Database::create(dir.0.join(DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
    let txn = raw.begin_read().unwrap_or_else(|e| panic!("{e}"));
    let meta = txn.open_table(META).unwrap_or_else(|e| panic!("{e}"));
    let format = meta.get(META_FORMAT).ok().flatten().map(|g| g.value());
    assert_eq!(format, Some(FORMAT_VERSION));
    let content = txn.open_table(CONTENT).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(content.len().ok(), Some(1), "two tests, one archive");
    assert!(
        txn.open_table(ARCHIVES_V1).is_err(),
        "the format 1 table is dropped"
    );
    let snap = txn.open_table(SNAPSHOT).unwrap_or_else(|e| panic!("{e}"));
    let blob = snap
        .get(SNAPSHOT_STATE)
        .ok()
        .flatten()
        .map(|g| g.value().to_vec());
    let text = String::from_utf8(blob.unwrap_or_default()).unwrap_or_default();
    assert!(
        text.contains("\"t2\"") && !text.contains("sss"),
        "{}",
        text.len()
    );
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
