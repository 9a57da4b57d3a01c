//! Unit tests of the store: the shared commands and helpers live here, one file per concern
//! below.

use super::*;
use crate::model::{AbortReason, Assignment, ProcessingStatus, ResultStatus, RunStatus};
use crate::state::{Effect, RunChanges, RunPlacement, StateError};
use crate::temp_dir::TempDir;
use redb::ReadableTableMetadata;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

mod content;
mod format;
mod persistence;
mod resend;

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

fn open_err(dir: &TempDir) -> String {
    match Db::open(&dir.0) {
        Ok(_) => panic!("opened damaged data"),
        Err(e) => e.to_string(),
    }
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
            placement: RunPlacement {
                sequence: "0,1".into(),
                assignments: vec![Assignment {
                    agent: "gen-1".into(),
                    segment: "0:1".into(),
                }],
            },
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
