//! The commands of the state machine and what applying one did ([`Applied`], [`Effect`]). Their
//! serialized form is the command log's, on disk and in Raft entries: see `crate::state`'s
//! docs before changing it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use volley_api::Role;

use super::RunChanges;
use crate::model::{AbortReason, Assignment, RunStatus};

/// Where a run was placed: the execution segment sequence its agents share, once, and each
/// agent's segment of it. Format 2 logs repeated the sequence in every assignment; they read
/// through `state::legacy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "super::legacy::PlacementRecord")]
pub struct RunPlacement {
    /// E.g. `0,1/3,2/3,1`; empty for a streamed run.
    pub sequence: String,
    /// In placement order.
    pub assignments: Vec<Assignment>,
}

/// One change of controller state. Serialized into the command log, so the shape is part of the
/// on-disk format: see the module docs before changing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Command {
    /// A new test; its id is the state's next test id. The archive bytes themselves are kept by
    /// the store (by test id), not in the state, so only their size and hash are here.
    CreateTest {
        name: String,
        project_id: u64,
        /// Hex SHA-256 of the archive (64 hex digits; stored lower-case).
        archive_sha256: String,
        archive_size: u64,
        /// Consolidated options (k6 shape) read from the archive.
        config: serde_json::Value,
        /// RFC 3339.
        at: String,
        /// The client's `Idempotency-Key`: a create with a key already seen makes nothing and
        /// answers the first one's test ([`idempotency`](super::idempotency)).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
    },
    /// A new run of a test, in status CREATED; its id is the state's next run id.
    CreateRun {
        test_id: u64,
        #[serde(default)]
        env: BTreeMap<String, String>,
        #[serde(default)]
        note: String,
        /// The run's options; `None` takes the test's `config`.
        #[serde(default)]
        config: Option<serde_json::Value>,
        /// How the run is executed (`run_process`); `None`: [`RUN_PROCESS`](super::RUN_PROCESS), a cluster run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_process: Option<String>,
        user_id: u64,
        /// Who started it: the name of the token `user_id` names (`token #N` for an unnamed
        /// one); empty on an open API and in commands written before it was recorded.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        started_by: String,
        /// RFC 3339.
        at: String,
        /// The client's `Idempotency-Key`: a create with a key already seen makes nothing and
        /// answers the first one's run ([`idempotency`](super::idempotency)).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
    },
    /// Move a run to another status. `changes` are applied in the same step, so that readers
    /// never see e.g. an ABORTED run without its `exit_code` and `error_detail`.
    Transition {
        run_id: u64,
        to: RunStatus,
        reason: String,
        /// RFC 3339.
        at: String,
        #[serde(default, skip_serializing_if = "RunChanges::is_empty")]
        changes: RunChanges,
    },
    /// Change fields of a run without changing its status; only the `Some` fields change.
    UpdateRun {
        run_id: u64,
        #[serde(flatten)]
        changes: RunChanges,
    },
    /// Record where a run was placed (replaces any earlier placement).
    Assign {
        run_id: u64,
        #[serde(flatten)]
        placement: RunPlacement,
    },
    /// Keep the merged summary data of a run (handleSummary shape).
    SetSummary {
        run_id: u64,
        summary: serde_json::Value,
    },
    /// A new API token; its id is the state's next token id. Only the secret's hash is here.
    CreateToken {
        #[serde(default)]
        name: String,
        role: Role,
        #[serde(default)]
        project_id: u64,
        /// Hex SHA-256 of the secret.
        sha256: String,
        /// RFC 3339.
        at: String,
        /// The client's `Idempotency-Key`: a create with a key already seen makes nothing and
        /// answers the first one's token ([`idempotency`](super::idempotency)).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
    },
    /// Revoke a token: it stops working at once (it stays listed, as revoked).
    RevokeToken {
        token_id: u64,
        /// RFC 3339.
        at: String,
    },
    /// A user asked to stop a run: kept on the run before the stop is acknowledged, so that a
    /// controller that resumes the run (a new Raft leader) stops it too (docs/ha.md#stops).
    /// The first request is kept; a later one changes nothing. A terminal run is refused.
    RequestStop {
        run_id: u64,
        /// The token that asked (`None`: an open API).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<u64>,
        reason: AbortReason,
        /// RFC 3339.
        at: String,
    },
    /// Forgets finished runs: the retention rule (`--max-finished-runs`,
    /// docs/rest-api.md#storage) drops the oldest ones so that the state stays bounded. Each run
    /// leaves the state with its place in its test's runs and its idempotency key. A run not
    /// there, or not finished, is refused, as are more than `MAX_FORGET` (1,000) at once.
    ForgetRuns {
        run_ids: Vec<u64>,
        /// Tests made by streamed runs (each holds its run's script) forgotten with them: each
        /// must have a streamed run among `run_ids` and no run left besides. Their archives
        /// no other test has are dropped from the store.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        test_ids: Vec<u64>,
    },
    /// `command`, applied once whatever the number of its copies committed: a write the
    /// controller sends again until it is committed (docs/ha.md#writes-sent-again). The first
    /// copy applies `command` and records `id`; a later copy with a recorded `id` changes
    /// nothing but the applied index ([`Effect::Repeated`]). `command` is not itself a `Once`.
    Once {
        /// The write's id, unique per write, the same on each of its copies.
        id: u64,
        /// RFC 3339: when the write was first proposed; its id is remembered for
        /// [`once::OP_TTL_MS`](super::once::OP_TTL_MS) after it.
        at: String,
        command: Box<Command>,
    },
}

/// Most runs one [`Command::ForgetRuns`] names: one log entry stays small.
pub const MAX_FORGET: usize = 1000;

/// What a command did, with the ids it created: callers need the new test/run id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// The log index the command was applied at.
    pub index: u64,
    pub effect: Effect,
}

/// The effect of one applied command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    TestCreated {
        test_id: u64,
    },
    RunCreated {
        test_id: u64,
        run_id: u64,
    },
    RunMoved {
        run_id: u64,
        from: RunStatus,
        to: RunStatus,
    },
    RunUpdated {
        run_id: u64,
    },
    RunAssigned {
        run_id: u64,
    },
    SummarySet {
        run_id: u64,
    },
    TokenCreated {
        token_id: u64,
    },
    TokenRevoked {
        token_id: u64,
    },
    /// A create whose idempotency key was seen: nothing was created; the ids are what the
    /// first create made (its run, for a `CreateRun`).
    Replayed {
        test_id: u64,
        run_id: Option<u64>,
    },
    /// Data kept beside the state was stored (a replicated archive chunk or run checkpoint,
    /// docs/ha.md#what-is-replicated); the state itself did not change.
    Stored,
    /// A `CreateToken` whose idempotency key was seen: nothing was created; `token_id` is the
    /// token the first create made.
    TokenReplayed {
        token_id: u64,
    },
    /// Finished runs were forgotten ([`Command::ForgetRuns`]).
    RunsForgotten {
        count: usize,
    },
    /// A copy of a [`Command::Once`] whose first copy was applied, at log index `first`:
    /// nothing changed.
    Repeated {
        first: u64,
    },
}

impl Applied {
    /// The run the command created or changed, if any.
    pub fn run_id(&self) -> Option<u64> {
        match self.effect {
            Effect::TestCreated { .. }
            | Effect::TokenCreated { .. }
            | Effect::TokenRevoked { .. }
            | Effect::TokenReplayed { .. }
            | Effect::Stored
            | Effect::RunsForgotten { .. }
            | Effect::Repeated { .. } => None,
            Effect::RunCreated { run_id, .. }
            | Effect::RunMoved { run_id, .. }
            | Effect::RunUpdated { run_id }
            | Effect::RunAssigned { run_id }
            | Effect::SummarySet { run_id } => Some(run_id),
            Effect::Replayed { run_id, .. } => run_id,
        }
    }

    /// The test the command created (or created a run of), if any.
    pub fn test_id(&self) -> Option<u64> {
        match self.effect {
            Effect::TestCreated { test_id }
            | Effect::RunCreated { test_id, .. }
            | Effect::Replayed { test_id, .. } => Some(test_id),
            _ => None,
        }
    }
}
