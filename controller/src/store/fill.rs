//! Archives a replicated controller lacks, fetched from its peers by hash: a node that caught
//! up from a Raft snapshot (it joined, was wiped, or was down while the log was compacted) got
//! the tests but not their archives, which snapshots do not carry. Every few seconds the node
//! looks for tests whose archive it does not hold and asks the other nodes for it, the leader
//! first, over the peer RPC; an archive is stored only if its size and SHA-256 are the test's
//! (docs/ha.md#archives-after-a-snapshot).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{content, Db, StoreError, CONTENT, MAX_ARCHIVE_BYTES};
use crate::replication::DriverHandle;

/// How often the node looks for archives it lacks.
pub const FILL_EVERY: Duration = Duration::from_secs(2);
/// How long after a failed round an archive is asked for again.
const RETRY_AFTER: Duration = Duration::from_secs(10);

impl Db {
    /// Whether the archive `sha256` is stored here (without reading it).
    pub fn has_content(&self, sha256: &str) -> Result<bool, StoreError> {
        let txn = self.begin_read()?;
        let t = txn
            .open_table(CONTENT)
            .map_err(|e| self.storage("opening the content table", e))?;
        let found = t
            .get(sha256)
            .map_err(|e| self.storage("reading an archive", e))?
            .is_some();
        Ok(found)
    }

    /// Stores an archive fetched from a peer if it is `size` bytes with SHA-256 `sha256`;
    /// `Ok(Err(why))` when it is not.
    pub fn put_fetched_archive(
        &self,
        sha256: &str,
        size: u64,
        archive: &[u8],
    ) -> Result<Result<(), String>, StoreError> {
        if archive.len() as u64 != size {
            return Ok(Err(format!(
                "{} bytes, the test says {size}",
                archive.len()
            )));
        }
        let actual = content::sha256_hex(archive);
        if !actual.eq_ignore_ascii_case(sha256) {
            return Ok(Err(format!("its SHA-256 is {actual}")));
        }
        self.write(|txn| content::put_content(self, txn, sha256, archive))?;
        Ok(Ok(()))
    }
}

/// Runs on every member of a group until the process stops: fetches the archives of the
/// tests it holds without their archive.
pub async fn fill_archives(db: Arc<Db>, handle: DriverHandle) {
    let mut present: HashSet<String> = HashSet::new();
    let mut failed: HashMap<String, Instant> = HashMap::new();
    let mut ticker = tokio::time::interval(FILL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let limit = db.options.max_archive_bytes.max(MAX_ARCHIVE_BYTES) as u64;
        let wanted: BTreeMap<String, u64> = db.read(|s| {
            s.tests()
                .map(|t| (t.archive_sha256.to_ascii_lowercase(), t.archive_size))
                .filter(|(sha, _)| !present.contains(sha))
                .collect()
        });
        for (sha, size) in wanted {
            if failed
                .get(&sha)
                .is_some_and(|at| at.elapsed() < RETRY_AFTER)
            {
                continue;
            }
            let (check, sha_c) = (db.clone(), sha.clone());
            match tokio::task::spawn_blocking(move || check.has_content(&sha_c)).await {
                Ok(Ok(true)) => {
                    present.insert(sha);
                    continue;
                }
                Ok(Ok(false)) => {}
                Ok(Err(e)) => {
                    tracing::warn!(archive = %sha, error = %e, "cannot look for an archive in the store");
                    continue;
                }
                Err(_) => continue,
            }
            if size > limit {
                tracing::warn!(archive = %sha, size, limit, "a test's archive is larger than this controller takes; not fetched");
                failed.insert(sha, Instant::now());
                continue;
            }
            if fetch_one(&db, &handle, &sha, size).await {
                failed.remove(&sha);
                present.insert(sha);
            } else {
                failed.insert(sha, Instant::now());
            }
        }
    }
}

/// Asks each other node in turn, the leader first; true once the archive is stored.
async fn fetch_one(db: &Arc<Db>, handle: &DriverHandle, sha: &str, size: u64) -> bool {
    let status = handle.status();
    let mut peers: Vec<u64> = status.peers.keys().copied().collect();
    peers.sort_by_key(|&p| p != status.node.leader);
    let mut why = Vec::new();
    for peer in peers {
        let archive = match handle.fetch_archive(peer, sha, size).await {
            Ok(a) => a,
            Err(e) => {
                why.push(e.to_string());
                continue;
            }
        };
        let (store, sha_s) = (db.clone(), sha.to_string());
        let stored =
            tokio::task::spawn_blocking(move || store.put_fetched_archive(&sha_s, size, &archive))
                .await;
        match stored {
            Ok(Ok(Ok(()))) => {
                tracing::info!(archive = %sha, size, from = peer, "fetched a test's archive this controller lacked (it caught up from a snapshot)");
                return true;
            }
            Ok(Ok(Err(bad))) => {
                why.push(format!("node {peer} sent an archive that is not it: {bad}"))
            }
            Ok(Err(e)) => why.push(format!("cannot store it: {e}")),
            Err(e) => why.push(format!("cannot store it: {e}")),
        }
    }
    tracing::warn!(
        archive = %sha,
        size,
        tried = ?why,
        "this controller lacks a test's archive and no other controller gave it yet; it asks again in {RETRY_AFTER:?}"
    );
    false
}
