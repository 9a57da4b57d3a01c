//! The file's format: damaged entries, snapshots and files are clear errors, a newer format is
//! refused, older stored forms still apply, and a format 1 database is migrated.

use super::*;

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
        msg.contains("has format 4, this controller reads format 3"),
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

/// A database written by a format 2 controller (a run's segment sequence in each of its
/// assignments, in the snapshot and in the log's `Assign`) opens with each run's sequence
/// once, on the run, and is snapshotted in the new form.
#[test]
fn format_2_databases_are_migrated() {
    let dir = TempDir::new("v2");
    let old_seq = "0,1/2,1";
    let log_index = {
        let db = open(&dir);
        populate(&db);
        // Run 2's placement (sequence `0,1`) goes into the snapshot, run 3's into the log.
        db.snapshot().unwrap_or_else(|e| panic!("{e}"));
        exec(&db, create_run_cmd(1));
        let a = exec(
            &db,
            Command::Assign {
                run_id: 3,
                placement: RunPlacement {
                    sequence: old_seq.into(),
                    assignments: vec![
                        Assignment {
                            agent: "gen-1".into(),
                            segment: "0:1/2".into(),
                        },
                        Assignment {
                            agent: "gen-2".into(),
                            segment: "1/2:1".into(),
                        },
                    ],
                },
            },
        );
        a.index
    };
    // Rewrite the snapshot and the log entry in format 2's form.
    {
        let raw = Database::create(dir.0.join(DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
        let txn = raw.begin_read().unwrap_or_else(|e| panic!("{e}"));
        let t = txn.open_table(SNAPSHOT).unwrap_or_else(|e| panic!("{e}"));
        let snap = t.get(SNAPSHOT_STATE).ok().flatten();
        let mut snap: serde_json::Value = snap
            .and_then(|v| serde_json::from_slice(v.value()).ok())
            .unwrap_or_default();
        let run = snap["runs"]["2"]
            .as_object_mut()
            .unwrap_or_else(|| panic!("run 2 is not in the snapshot"));
        assert_eq!(run.remove("sequence"), Some(json!("0,1")));
        for a in run["assignments"].as_array_mut().into_iter().flatten() {
            a["sequence"] = json!("0,1");
        }
        drop(t);
        drop(txn);
        drop(raw);
        poke(&dir, SNAPSHOT, SNAPSHOT_STATE, snap.to_string().as_bytes());
        let old_assign = json!({"type": "Assign", "run_id": 3, "assignments": [
            {"agent": "gen-1", "segment": "0:1/2", "sequence": old_seq},
            {"agent": "gen-2", "segment": "1/2:1", "sequence": old_seq}]});
        poke(&dir, LOG, log_index, old_assign.to_string().as_bytes());
        let db = Database::create(dir.0.join(DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
        let txn = db.begin_write().unwrap_or_else(|e| panic!("{e}"));
        {
            let mut t = txn.open_table(META).unwrap_or_else(|e| panic!("{e}"));
            t.insert(META_FORMAT, 2).unwrap_or_else(|e| panic!("{e}"));
        }
        txn.commit().unwrap_or_else(|e| panic!("{e}"));
    }
    let db = open(&dir);
    let (two, three) = db.read(|s| (s.run(2).cloned(), s.run(3).cloned()));
    let (two, three) = (
        two.unwrap_or_else(|| panic!("run 2 lost")),
        three.unwrap_or_else(|| panic!("run 3 lost")),
    );
    assert_eq!(two.sequence, "0,1");
    assert_eq!(two.assignments.len(), 1);
    assert_eq!(three.sequence, old_seq);
    assert_eq!(three.assignments[1].segment, "1/2:1");
    assert_eq!(
        db.snapshot_index().ok(),
        Some(log_index),
        "migrated state is snapshotted"
    );
    drop(db);
    let raw = Database::create(dir.0.join(DB_FILE)).unwrap_or_else(|e| panic!("{e}"));
    let txn = raw.begin_read().unwrap_or_else(|e| panic!("{e}"));
    let meta = txn.open_table(META).unwrap_or_else(|e| panic!("{e}"));
    let format = meta.get(META_FORMAT).ok().flatten().map(|g| g.value());
    assert_eq!(format, Some(FORMAT_VERSION));
    let snap = txn.open_table(SNAPSHOT).unwrap_or_else(|e| panic!("{e}"));
    let blob = snap
        .get(SNAPSHOT_STATE)
        .ok()
        .flatten()
        .map(|g| g.value().to_vec());
    let text = String::from_utf8(blob.unwrap_or_default()).unwrap_or_default();
    assert_eq!(text.matches(old_seq).count(), 1, "{text}");
    assert_eq!(text.matches("\"sequence\"").count(), 3, "{text}");
}
