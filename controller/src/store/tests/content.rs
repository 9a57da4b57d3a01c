//! Content stored once by its SHA-256: archives, checkpoints, a run that does not copy its
//! test's archive, and the storage limits counting each distinct archive once.

use super::*;

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
