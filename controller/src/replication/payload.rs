//! What one Raft entry carries: a state-machine [`Command`], or data kept beside the state
//! in each controller's store — a chunk of a test's archive, or a running run's checkpoint
//! (docs/ha.md#what-is-replicated). Side data is written to every node's store through
//! [`SideStore`] when its entry is applied, so a new leader holds the archives of the tests and
//! the last committed checkpoint of every run in progress.
//!
//! Encoding: a command is its JSON, as the store logs it (so it always starts with `{`); side
//! data is a tag byte, a 4-byte little-endian header length, a JSON header and the raw bytes,
//! so archives and checkpoints are not inflated by a JSON array of numbers.

use serde::{Deserialize, Serialize};

use crate::state::Command;

/// Largest chunk of an archive in one entry: one entry stays within one append message
/// (`NodeConfig::max_size_per_msg`), so a large archive never makes a peer RPC that
/// cannot finish within its timeout on a slow link.
pub const CONTENT_CHUNK: usize = 1 << 20;

/// Largest checkpoint one entry may carry; a larger one is refused before it is proposed (the
/// run's batches then stay unacknowledged, and its agents keep them).
pub const MAX_CHECKPOINT_ENTRY: usize = 64 << 20;

const TAG_CONTENT: u8 = 1;
const TAG_CHECKPOINT: u8 = 2;
const TAG_DROP_CHECKPOINT: u8 = 3;

/// One replicated entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A state-machine command.
    Command(Box<Command>),
    /// `bytes` at `offset` of the archive whose SHA-256 (hex) is `sha256` and whose size is
    /// `total`. A node stores the archive once all of its chunks arrived and its hash checks.
    Content {
        sha256: String,
        total: u64,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// The checkpoint of a running run (replaces the previous one).
    Checkpoint { run_id: u64, bytes: Vec<u8> },
    /// A run ended: its checkpoint is dropped.
    DropCheckpoint { run_id: u64 },
}

#[derive(Serialize, Deserialize)]
struct ContentHeader {
    sha256: String,
    total: u64,
    offset: u64,
}

#[derive(Serialize, Deserialize)]
struct RunHeader {
    run_id: u64,
}

impl Payload {
    /// The entry's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        let (tag, header, bytes): (u8, Vec<u8>, &[u8]) = match self {
            Payload::Command(cmd) => return serde_json::to_vec(cmd),
            Payload::Content {
                sha256,
                total,
                offset,
                bytes,
            } => (
                TAG_CONTENT,
                serde_json::to_vec(&ContentHeader {
                    sha256: sha256.clone(),
                    total: *total,
                    offset: *offset,
                })?,
                bytes,
            ),
            Payload::Checkpoint { run_id, bytes } => (
                TAG_CHECKPOINT,
                serde_json::to_vec(&RunHeader { run_id: *run_id })?,
                bytes,
            ),
            Payload::DropCheckpoint { run_id } => (
                TAG_DROP_CHECKPOINT,
                serde_json::to_vec(&RunHeader { run_id: *run_id })?,
                &[],
            ),
        };
        let mut out = Vec::with_capacity(5 + header.len() + bytes.len());
        out.push(tag);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(bytes);
        Ok(out)
    }

    /// Reads an entry's bytes; the error says what is wrong (every node reads the same bytes
    /// the same way, so all of them skip an entry they cannot read).
    pub fn decode(data: &[u8]) -> Result<Payload, String> {
        let Some((&tag, rest)) = data.split_first() else {
            return Err("an empty entry".into());
        };
        if tag == b'{' {
            return serde_json::from_slice(data)
                .map(|c| Payload::Command(Box::new(c)))
                .map_err(|e| format!("not a command of this Volley version: {e}"));
        }
        let len = rest
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or("a side-data entry shorter than its header length")? as usize;
        let header = rest
            .get(4..4 + len)
            .ok_or("a side-data entry shorter than its header")?;
        let bytes = &rest[4 + len..];
        let bad = |e: serde_json::Error| format!("an unreadable side-data header: {e}");
        match tag {
            TAG_CONTENT => {
                let h: ContentHeader = serde_json::from_slice(header).map_err(bad)?;
                Ok(Payload::Content {
                    sha256: h.sha256,
                    total: h.total,
                    offset: h.offset,
                    bytes: bytes.to_vec(),
                })
            }
            TAG_CHECKPOINT => {
                let h: RunHeader = serde_json::from_slice(header).map_err(bad)?;
                Ok(Payload::Checkpoint {
                    run_id: h.run_id,
                    bytes: bytes.to_vec(),
                })
            }
            TAG_DROP_CHECKPOINT => {
                let h: RunHeader = serde_json::from_slice(header).map_err(bad)?;
                Ok(Payload::DropCheckpoint { run_id: h.run_id })
            }
            t => Err(format!(
                "an entry of kind {t}, unknown to this Volley version"
            )),
        }
    }

    /// The entries that carry `archive` (whose hex SHA-256 is `sha256`), in chunks of at most
    /// [`CONTENT_CHUNK`] bytes.
    pub fn content_chunks(sha256: &str, archive: &[u8]) -> Vec<Payload> {
        let total = archive.len() as u64;
        if archive.is_empty() {
            return vec![Payload::Content {
                sha256: sha256.to_string(),
                total,
                offset: 0,
                bytes: Vec::new(),
            }];
        }
        archive
            .chunks(CONTENT_CHUNK)
            .enumerate()
            .map(|(i, c)| Payload::Content {
                sha256: sha256.to_string(),
                total,
                offset: (i * CONTENT_CHUNK) as u64,
                bytes: c.to_vec(),
            })
            .collect()
    }
}

/// Where a node writes the side data of the entries it applies: the controller's store
/// (`crate::store::Db`). A failure is an I/O failure of this node (the node stops, as on a
/// failure of its Raft log); data the entry itself makes invalid is `Ok(Err(why))`, the same
/// on every node.
pub trait SideStore: Send + Sync {
    /// Stores one chunk of an archive; stores the archive once all its chunks are there and
    /// its size and hash check.
    fn put_content_chunk(
        &self,
        sha256: &str,
        total: u64,
        offset: u64,
        bytes: &[u8],
    ) -> Result<Result<(), String>, String>;
    /// Replaces the checkpoint of `run_id`.
    fn put_checkpoint(&self, run_id: u64, bytes: &[u8]) -> Result<(), String>;
    /// Drops the checkpoint of `run_id`.
    fn drop_checkpoint(&self, run_id: u64) -> Result<(), String>;
    /// Drops the archives no test has any more (an applied `ForgetRuns` forgot their tests).
    fn drop_contents(&self, sha256s: &[String]) -> Result<(), String>;
    /// Every checkpoint held, by run id (for a Raft snapshot).
    fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>, String>;
    /// Replaces every checkpoint held with `checkpoints` (a snapshot was installed).
    fn replace_checkpoints(&self, checkpoints: &[(u64, Vec<u8>)]) -> Result<(), String>;
    /// The archive whose hex SHA-256 is `sha256`, if held (served to peers that lack it).
    fn archive(&self, sha256: &str) -> Result<Option<Vec<u8>>, String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let cmd = Command::RevokeToken {
            token_id: 3,
            at: "2026-01-01T00:00:00Z".into(),
        };
        let all = vec![
            Payload::Command(Box::new(cmd)),
            Payload::Content {
                sha256: "ab".into(),
                total: 5,
                offset: 2,
                bytes: vec![b'{', 0, 255],
            },
            Payload::Checkpoint {
                run_id: 7,
                bytes: b"{\"v\":1}".to_vec(),
            },
            Payload::DropCheckpoint { run_id: 7 },
        ];
        for p in all {
            let bytes = p.encode().unwrap();
            assert_eq!(Payload::decode(&bytes).unwrap(), p);
        }
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        assert!(Payload::decode(&[]).unwrap_err().contains("empty"));
        assert!(Payload::decode(&[9, 0, 0, 0, 0])
            .unwrap_err()
            .contains("unknown"));
        assert!(Payload::decode(&[1, 200, 0, 0, 0, b'{'])
            .unwrap_err()
            .contains("shorter"));
        assert!(Payload::decode(b"{nope").unwrap_err().contains("command"));
    }

    #[test]
    fn archives_are_cut_in_bounded_chunks_that_cover_them() {
        let archive: Vec<u8> = (0..(2 * CONTENT_CHUNK + 10)).map(|i| i as u8).collect();
        let chunks = Payload::content_chunks("s", &archive);
        assert_eq!(chunks.len(), 3);
        let mut joined = Vec::new();
        for c in &chunks {
            let Payload::Content {
                total,
                offset,
                bytes,
                ..
            } = c
            else {
                panic!("not a chunk")
            };
            assert_eq!(*total, archive.len() as u64);
            assert_eq!(*offset, joined.len() as u64);
            assert!(bytes.len() <= CONTENT_CHUNK);
            joined.extend_from_slice(bytes);
        }
        assert_eq!(joined, archive);
        assert_eq!(Payload::content_chunks("s", &[]).len(), 1);
    }
}
