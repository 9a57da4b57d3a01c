//! Idempotency keys of creates (tests, runs, tokens): a client that sends a create again
//! because it got no answer (the CLI does, to the next controller of a Raft group,
//! docs/ha.md#submits-sent-twice) sends the same `Idempotency-Key`, and the state machine
//! answers the second create with what the first one made instead of making it again. The key is part of the committed command, so
//! even two creates committed one after the other (the first one's answer was lost with its
//! leader) make one test or run. Keys live in the state — replicated and in snapshots like
//! everything else — for [`KEY_TTL_MS`] after their create, at most [`MAX_KEYS`] of each kind
//! (the oldest dropped first), so they cost a bounded amount of state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StateError;

/// The longest key taken (characters), as common practice for this header.
pub const MAX_KEY_LEN: usize = 255;

/// How long a key is remembered after its create (ms): a client sends a create again within
/// seconds; a day covers any retry.
pub const KEY_TTL_MS: i64 = 24 * 3600 * 1000;

/// Most keys remembered per kind (tests, runs, tokens); beyond, the oldest is forgotten.
pub const MAX_KEYS: usize = 1000;

/// Checks a key as a client sends it: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "an idempotency key is 1 to {MAX_KEY_LEN} visible ASCII characters, such as a UUID"
        ));
    }
    Ok(())
}

/// What a keyed create makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Test,
    Run,
    Token,
}

/// What a key's first create made and what it asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The test, run or token it created.
    pub id: u64,
    /// What it asked for ([`test_request`], [`run_request`]): the same key on another
    /// request is refused rather than answered with the wrong test or run.
    pub request: String,
    /// When, in ms since the Unix epoch (the command's `at`).
    pub at_ms: i64,
    /// The log index of the create: keys are forgotten in this order.
    pub index: u64,
}

/// What a keyed `CreateTest` asks for.
pub fn test_request(archive_sha256: &str, project_id: u64) -> String {
    format!(
        "a test of archive {} in project {project_id}",
        archive_sha256.to_ascii_lowercase()
    )
}

/// What a keyed `CreateRun` asks for.
pub fn run_request(test_id: u64, user_id: u64) -> String {
    format!("a run of test {test_id} by token {user_id}")
}

/// What a keyed `CreateToken` asks for.
pub fn token_request(role: &str, project_id: u64, name: &str) -> String {
    format!("a token with role {role} in project {project_id} named {name:?}")
}

/// The keys seen, by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyKeys {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tests: BTreeMap<String, KeyRecord>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    runs: BTreeMap<String, KeyRecord>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tokens: BTreeMap<String, KeyRecord>,
}

/// A key to record, with the keys it makes the state forget.
#[derive(Debug, Clone)]
pub(super) struct KeyChange {
    kind: KeyKind,
    key: String,
    record: KeyRecord,
    forget: Vec<String>,
}

impl IdempotencyKeys {
    pub fn is_empty(&self) -> bool {
        self.tests.is_empty() && self.runs.is_empty() && self.tokens.is_empty()
    }

    fn of(&self, kind: KeyKind) -> &BTreeMap<String, KeyRecord> {
        match kind {
            KeyKind::Test => &self.tests,
            KeyKind::Run => &self.runs,
            KeyKind::Token => &self.tokens,
        }
    }

    /// What `key`'s create of `kind` made, whatever it asked for, if the key is remembered
    /// and not older than [`KEY_TTL_MS`] at `now_ms`.
    pub fn record(&self, kind: KeyKind, key: &str, now_ms: i64) -> Option<&KeyRecord> {
        self.of(kind)
            .get(key)
            .filter(|r| r.at_ms >= now_ms.saturating_sub(KEY_TTL_MS))
    }

    /// How many keys of `kind` are remembered.
    pub fn len(&self, kind: KeyKind) -> usize {
        self.of(kind).len()
    }

    /// The id `key`'s create made, if the key is remembered and not older than
    /// [`KEY_TTL_MS`] at `now_ms`; refused when it was sent with another request.
    pub fn seen(
        &self,
        kind: KeyKind,
        key: &str,
        request: &str,
        now_ms: i64,
    ) -> Result<Option<u64>, StateError> {
        let Some(r) = self.of(kind).get(key) else {
            return Ok(None);
        };
        if r.at_ms < now_ms.saturating_sub(KEY_TTL_MS) {
            return Ok(None);
        }
        if r.request != request {
            return Err(StateError::KeyReused {
                key: key.to_string(),
                first: r.request.clone(),
                now: request.to_string(),
            });
        }
        Ok(Some(r.id))
    }

    /// Records `key` (replacing an expired record of it), forgetting the keys older than
    /// [`KEY_TTL_MS`] and, at [`MAX_KEYS`], the oldest.
    pub(super) fn plan(&self, kind: KeyKind, key: &str, record: KeyRecord) -> KeyChange {
        let map = self.of(kind);
        let cutoff = record.at_ms.saturating_sub(KEY_TTL_MS);
        let (expired, mut left): (Vec<_>, Vec<_>) = map
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .partition(|(_, r)| r.at_ms < cutoff);
        let mut forget: Vec<String> = expired.into_iter().map(|(k, _)| k.clone()).collect();
        if left.len() >= MAX_KEYS {
            left.sort_by_key(|(_, r)| r.index);
            let over = left.len() + 1 - MAX_KEYS;
            forget.extend(left.iter().take(over).map(|(k, _)| (*k).clone()));
        }
        KeyChange {
            kind,
            key: key.to_string(),
            record,
            forget,
        }
    }

    /// Forgets the keys of runs that are forgotten (`ForgetRuns`): a create sent again with
    /// one makes a new run rather than answering with one that is gone.
    pub(super) fn forget_runs(&mut self, runs: &std::collections::BTreeSet<u64>) {
        self.runs.retain(|_, r| !runs.contains(&r.id));
    }

    /// Forgets the keys of tests that are forgotten (a streamed run's, with its run).
    pub(super) fn forget_tests(&mut self, tests: &std::collections::BTreeSet<u64>) {
        self.tests.retain(|_, r| !tests.contains(&r.id));
    }

    pub(super) fn apply(&mut self, change: KeyChange) {
        let map = match change.kind {
            KeyKind::Test => &mut self.tests,
            KeyKind::Run => &mut self.runs,
            KeyKind::Token => &mut self.tokens,
        };
        for k in &change.forget {
            map.remove(k);
        }
        map.insert(change.key, change.record);
    }
}
