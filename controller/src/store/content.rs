//! Archives, content-addressed: stored once by their SHA-256 in the content table, outside the
//! log, and checked against the test's recorded size and hash and the storage quotas
//! ([ARCHITECTURE.md](../../../ARCHITECTURE.md)).

use std::collections::BTreeMap;

use redb::{ReadableTable, WriteTransaction};
use sha2::{Digest, Sha256};

use super::{command_name, Db, StoreError, StoreOptions, CONTENT, MAX_ARCHIVE_BYTES};
use crate::state::{Applied, Command, State, StateError};

impl Db {
    /// Applies a `CreateTest` command and stores its archive (unless the same bytes are already
    /// stored) in the same transaction, so a test never exists without its archive. The archive
    /// must match the command's size and hash and fit the storage limits.
    pub fn create_test(&self, cmd: Command, archive: &[u8]) -> Result<Applied, StoreError> {
        let Command::CreateTest {
            archive_sha256,
            archive_size,
            ..
        } = &cmd
        else {
            return Err(StoreError::NotCreateTest(command_name(&cmd)));
        };
        check_archive(
            &self.options,
            "the new test",
            archive_sha256,
            *archive_size,
            archive,
        )?;
        self.execute_inner(&cmd, Some(archive))
    }

    /// Stores the archive of an existing test (if its content is not stored yet); it must match
    /// the test's recorded size and hash, which keeps archives and state consistent.
    pub fn put_archive(&self, test_id: u64, archive: &[u8]) -> Result<(), StoreError> {
        let expected = self.read(|s| {
            s.test(test_id)
                .map(|t| (t.archive_sha256.clone(), t.archive_size))
        });
        let (sha, size) = expected.ok_or(StateError::UnknownTest(test_id))?;
        check_archive(
            &self.options,
            &format!("test {test_id}"),
            &sha,
            size,
            archive,
        )?;
        self.write(|txn| put_content(self, txn, &sha, archive))
    }

    /// The archive of a test, if it was stored.
    pub fn get_archive(&self, test_id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(sha) = self.read(|s| s.test(test_id).map(|t| t.archive_sha256.clone())) else {
            return Ok(None);
        };
        self.get_content(&sha)
    }

    /// The stored archive with this hex SHA-256, if any.
    pub fn get_content(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let limit = self.options.max_archive_bytes.max(MAX_ARCHIVE_BYTES);
        let txn = self.begin_read()?;
        let t = txn
            .open_table(CONTENT)
            .map_err(|e| self.storage("opening the content table", e))?;
        let Some(guard) = t
            .get(sha256)
            .map_err(|e| self.storage("reading an archive", e))?
        else {
            return Ok(None);
        };
        let bytes = guard.value();
        if bytes.len() > limit {
            return Err(self.corrupt(
                format!("the archive {sha256}"),
                format!("{} bytes, more than any archive may have", bytes.len()),
            ));
        }
        Ok(Some(bytes.to_vec()))
    }

    /// Bytes of distinct archives held by all tests, or by the tests of one project.
    pub fn archive_bytes(&self, project_id: Option<u64>) -> u64 {
        self.read(|s| archive_usage(s, project_id, None).0)
    }

    /// Refuses a new test whose archive would take its project or the store over a limit. An
    /// archive some test already has costs nothing more.
    pub(super) fn check_quota(&self, state: &State, cmd: &Command) -> Result<(), StoreError> {
        let Command::CreateTest {
            archive_sha256,
            archive_size,
            project_id,
            ..
        } = cmd
        else {
            return Ok(());
        };
        let project_id = *project_id;
        let sha = archive_sha256.to_ascii_lowercase();
        let (used, known) = archive_usage(state, None, Some(&sha));
        let adding = if known { 0 } else { *archive_size };
        if let Some(max) = self.options.max_total_bytes {
            if used.saturating_add(adding) > max {
                return Err(StoreError::StoreFull { used, adding, max });
            }
        }
        if let Some(max) = self.options.max_project_bytes {
            let (used, known) = archive_usage(state, Some(project_id), Some(&sha));
            let adding = if known { 0 } else { *archive_size };
            if used.saturating_add(adding) > max {
                return Err(StoreError::ProjectFull {
                    project_id,
                    used,
                    adding,
                    max,
                });
            }
        }
        Ok(())
    }
}

/// Stores `bytes` as the content `sha256` unless it is there already.
pub(super) fn put_content(
    db: &Db,
    txn: &WriteTransaction,
    sha256: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let mut t = txn
        .open_table(CONTENT)
        .map_err(|e| db.storage("opening the content table", e))?;
    let present = t
        .get(sha256)
        .map_err(|e| db.storage("reading an archive", e))?
        .is_some();
    if !present {
        t.insert(sha256, bytes)
            .map_err(|e| db.storage("writing an archive", e))?;
    }
    Ok(())
}

/// Drops the stored archives `sha256s` (no test has them any more: a `ForgetRuns` forgot the
/// streamed runs' tests that had them).
pub(super) fn drop_content(
    db: &Db,
    txn: &WriteTransaction,
    sha256s: &[String],
) -> Result<(), StoreError> {
    if sha256s.is_empty() {
        return Ok(());
    }
    let mut t = txn
        .open_table(CONTENT)
        .map_err(|e| db.storage("opening the content table", e))?;
    for sha in sha256s {
        t.remove(sha.as_str())
            .map_err(|e| db.storage("dropping an archive", e))?;
    }
    Ok(())
}

/// Bytes of the distinct archives of all tests (or one project's), and whether `sha256` is
/// among them.
fn archive_usage(state: &State, project_id: Option<u64>, sha256: Option<&str>) -> (u64, bool) {
    let mut distinct: BTreeMap<&str, u64> = BTreeMap::new();
    for t in state
        .tests()
        .filter(|t| project_id.is_none_or(|p| t.project_id == p))
    {
        distinct.insert(t.archive_sha256.as_str(), t.archive_size);
    }
    let known = sha256.is_some_and(|s| distinct.contains_key(s));
    (distinct.values().sum(), known)
}

fn check_archive(
    options: &StoreOptions,
    subject: &str,
    sha256: &str,
    size: u64,
    archive: &[u8],
) -> Result<(), StoreError> {
    if archive.len() > options.max_archive_bytes {
        return Err(StoreError::ArchiveTooLarge {
            size: archive.len(),
            max: options.max_archive_bytes,
        });
    }
    let mismatch = |detail: String| StoreError::ArchiveMismatch {
        subject: subject.to_string(),
        detail,
    };
    if archive.len() as u64 != size {
        return Err(mismatch(format!(
            "it has {} bytes, the test says {size}",
            archive.len()
        )));
    }
    let actual = sha256_hex(archive);
    if !actual.eq_ignore_ascii_case(sha256) {
        return Err(mismatch(format!(
            "its SHA-256 is {actual}, the test says {sha256}"
        )));
    }
    Ok(())
}

/// Hex SHA-256, as `archive_sha256` expects it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
