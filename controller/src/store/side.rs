//! The store as a Raft node's [`SideStore`]: where a replicated controller writes the archive
//! chunks and run checkpoints its applied entries carry (docs/ha.md#what-is-replicated). An
//! archive's chunks wait in their own table until all of them are there; the archive is then
//! checked against its size and hash and stored once, by hash, as a single controller stores
//! it.

use redb::{ReadableTable, TableDefinition};

use super::{content, Db, StoreError, CHECKPOINTS, CONTENT, MAX_ARCHIVE_BYTES};
use crate::replication::SideStore;

/// Chunks of archives not complete yet, by (hex SHA-256, offset).
const CONTENT_PARTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("content_parts");

impl Db {
    /// One chunk of a replicated archive; `Ok(Err(why))` when the chunk or the assembled
    /// archive is invalid (the same on every node).
    fn store_chunk(
        &self,
        sha256: &str,
        total: u64,
        offset: u64,
        bytes: &[u8],
    ) -> Result<Result<(), String>, StoreError> {
        let limit = self.options.max_archive_bytes.max(MAX_ARCHIVE_BYTES) as u64;
        if total > limit {
            return Ok(Err(format!(
                "{total} bytes, more than the largest archive ({limit} bytes)"
            )));
        }
        if offset.saturating_add(bytes.len() as u64) > total {
            return Ok(Err(format!(
                "a chunk of {} bytes at {offset} goes past its size, {total}",
                bytes.len()
            )));
        }
        self.write(|txn| {
            let mut stored = txn
                .open_table(CONTENT)
                .map_err(|e| self.storage("opening the content table", e))?;
            if stored
                .get(sha256)
                .map_err(|e| self.storage("reading an archive", e))?
                .is_some()
            {
                return Ok(Ok(()));
            }
            let mut parts = txn
                .open_table(CONTENT_PARTS)
                .map_err(|e| self.storage("opening the archive chunks", e))?;
            parts
                .insert((sha256, offset), bytes)
                .map_err(|e| self.storage("writing an archive chunk", e))?;
            // Whether the chunks cover the archive, without copying them: an archive of n
            // chunks is then copied once, not once per chunk.
            let mut covered = 0u64;
            for part in parts
                .range((sha256, 0)..=(sha256, u64::MAX))
                .map_err(|e| self.storage("reading the archive chunks", e))?
            {
                let (k, v) = part.map_err(|e| self.storage("reading the archive chunks", e))?;
                if k.value().1 != covered {
                    // A gap: chunks still to come.
                    return Ok(Ok(()));
                }
                covered += v.value().len() as u64;
            }
            if covered != total {
                return Ok(Ok(()));
            }
            let mut archive = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
            for part in parts
                .range((sha256, 0)..=(sha256, u64::MAX))
                .map_err(|e| self.storage("reading the archive chunks", e))?
            {
                let (_, v) = part.map_err(|e| self.storage("reading the archive chunks", e))?;
                archive.extend_from_slice(v.value());
            }
            parts
                .retain_in((sha256, 0)..=(sha256, u64::MAX), |_, _| false)
                .map_err(|e| self.storage("dropping the archive chunks", e))?;
            let actual = content::sha256_hex(&archive);
            if !actual.eq_ignore_ascii_case(sha256) {
                return Ok(Err(format!(
                    "its chunks make an archive whose SHA-256 is {actual}"
                )));
            }
            stored
                .insert(sha256, archive.as_slice())
                .map_err(|e| self.storage("writing an archive", e))?;
            Ok(Ok(()))
        })
    }
}

impl SideStore for Db {
    fn archive(&self, sha256: &str) -> Result<Option<Vec<u8>>, String> {
        self.get_content(sha256).map_err(|e| e.to_string())
    }

    fn put_content_chunk(
        &self,
        sha256: &str,
        total: u64,
        offset: u64,
        bytes: &[u8],
    ) -> Result<Result<(), String>, String> {
        self.store_chunk(sha256, total, offset, bytes)
            .map_err(|e| e.to_string())
    }

    fn put_checkpoint(&self, run_id: u64, bytes: &[u8]) -> Result<(), String> {
        self.put_checkpoint_here(run_id, bytes)
            .map_err(|e| e.to_string())
    }

    fn drop_checkpoint(&self, run_id: u64) -> Result<(), String> {
        self.delete_checkpoint_here(run_id)
            .map_err(|e| e.to_string())
    }

    fn drop_contents(&self, sha256s: &[String]) -> Result<(), String> {
        self.write(|txn| content::drop_content(self, txn, sha256s))
            .map_err(|e| e.to_string())
    }

    fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>, String> {
        let all = || -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
            let txn = self.begin_read()?;
            let t = txn
                .open_table(CHECKPOINTS)
                .map_err(|e| self.storage("opening the checkpoint table", e))?;
            let mut out = Vec::new();
            for row in t
                .iter()
                .map_err(|e| self.storage("reading the checkpoints", e))?
            {
                let (k, v) = row.map_err(|e| self.storage("reading the checkpoints", e))?;
                out.push((k.value(), v.value().to_vec()));
            }
            Ok(out)
        };
        all().map_err(|e| e.to_string())
    }

    fn replace_checkpoints(&self, checkpoints: &[(u64, Vec<u8>)]) -> Result<(), String> {
        self.write(|txn| {
            let mut t = txn
                .open_table(CHECKPOINTS)
                .map_err(|e| self.storage("opening the checkpoint table", e))?;
            t.retain(|_, _| false)
                .map_err(|e| self.storage("dropping the checkpoints", e))?;
            for (run, bytes) in checkpoints {
                t.insert(*run, bytes.as_slice())
                    .map_err(|e| self.storage("writing a checkpoint", e))?;
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::temp_dir::TempDir;

    fn open(tag: &str) -> (TempDir, Db) {
        let dir = TempDir::new(&format!("side-{tag}"));
        let db = Db::open(&dir.0).expect("open the store");
        (dir, db)
    }

    #[test]
    fn an_archive_is_stored_once_all_its_chunks_arrived_in_any_order() {
        let (_dir, db) = open("chunks");
        let archive = b"hello, archive".to_vec();
        let sha = content::sha256_hex(&archive);
        let total = archive.len() as u64;
        assert_eq!(
            db.put_content_chunk(&sha, total, 7, &archive[7..]),
            Ok(Ok(()))
        );
        assert_eq!(db.get_content(&sha).unwrap(), None, "a chunk is missing");
        // A chunk sent again (a retried upload) changes nothing.
        assert_eq!(
            db.put_content_chunk(&sha, total, 7, &archive[7..]),
            Ok(Ok(()))
        );
        assert_eq!(
            db.put_content_chunk(&sha, total, 0, &archive[..7]),
            Ok(Ok(()))
        );
        assert_eq!(db.get_content(&sha).unwrap(), Some(archive.clone()));
        // Stored: later chunks of the same content are ignored.
        assert_eq!(db.put_content_chunk(&sha, total, 0, b"x"), Ok(Ok(())));
        assert_eq!(db.get_content(&sha).unwrap(), Some(archive));
    }

    #[test]
    fn chunks_that_do_not_make_their_archive_are_refused() {
        let (_dir, db) = open("bad-chunks");
        let sha = content::sha256_hex(b"the real bytes");
        let why = db.put_content_chunk(&sha, 5, 0, b"other").unwrap();
        assert!(why.unwrap_err().contains("SHA-256"), "hash checked");
        assert_eq!(db.get_content(&sha).unwrap(), None);
        let why = db.put_content_chunk(&sha, 5, 3, b"long").unwrap();
        assert!(why.unwrap_err().contains("goes past"));
        let why = db.put_content_chunk(&sha, u64::MAX, 0, b"").unwrap();
        assert!(why.unwrap_err().contains("largest archive"));
    }

    #[test]
    fn checkpoints_are_listed_and_replaced_whole() {
        let (_dir, db) = open("checkpoints");
        SideStore::put_checkpoint(&db, 1, b"one").unwrap();
        SideStore::put_checkpoint(&db, 2, b"two").unwrap();
        SideStore::drop_checkpoint(&db, 1).unwrap();
        assert_eq!(db.checkpoints().unwrap(), vec![(2, b"two".to_vec())]);
        db.replace_checkpoints(&[(3, b"three".to_vec())]).unwrap();
        assert_eq!(db.checkpoints().unwrap(), vec![(3, b"three".to_vec())]);
        assert_eq!(db.get_checkpoint(3).unwrap(), Some(b"three".to_vec()));
        assert_eq!(db.get_checkpoint(2).unwrap(), None);
    }
}
