//! The controller's state machine: every change of controller state is a [`Command`] applied to
//! one [`State`], so that the same log of commands always produces the same state. That is what
//! lets [`crate::store`] persist the state as "snapshot + log", and what a Raft layer can use to
//! replicate the log across several controllers: each replica applies the same
//! commands in the same order and ends up with the same tests and runs.
//!
//! Determinism rules, kept by everything in this module:
//! - [`State::apply`] never reads a clock or a random source. Time enters only through the
//!   commands' `at` fields, RFC 3339 strings chosen by whoever proposes the command (use
//!   [`timestamp::now_rfc3339`] there). They are stored in a canonical UTC form, and `duration`
//!   is computed from the two stored strings, so every replica computes the same number.
//! - Ids come from counters in the state (`next_test_id`, `next_run_id`), never from the caller.
//! - Collections are `BTreeMap`s, so iteration order and serialized form are the same everywhere.
//! - A command either applies completely or not at all: on `Err` the state is untouched (not even
//!   `applied_index` moves), so a rejected command can simply be left out of the log.
//!
//! Commands are serialized with an internal `"type"` tag. To evolve them without breaking logs
//! already on disk, add new variants or new fields with `#[serde(default)]`; never rename a
//! variant or a field. A field may be dropped when its data moved elsewhere (reading an older
//! log skips it, as it did `script` when scripts left the state for the store's content table),
//! together with a store format bump whose migration moves the data.
//!
//! This file holds the [`State`], the dispatch of [`State::prepare`] and [`State::commit`]; the
//! commands and what applying one did are in `command.rs`, why one is rejected in `error.rs`,
//! and each command family is checked in a file of its own: `create.rs` (tests and runs),
//! `transition.rs` (a run's moves), `update.rs` (a run's fields, events, placement and
//! summary), `stop.rs` (a stop asked), `tokens.rs` (API tokens) and `once.rs` (writes sent
//! again), with `idempotency.rs` (create keys), `changes.rs` and `timestamp.rs` beside them;
//! `legacy.rs` reads the placements store format 2 wrote.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use changes::RunChanges;
pub use command::{Applied, Command, Effect, RunPlacement};
pub use error::{ErrorKind, StateError};
use idempotency::IdempotencyKeys;
use once::Ops;
pub use tokens::TokenRecord;

use crate::model::{Run, RunStatus, Test};

/// The reason recorded on the first transition of every run (CREATED → CREATED).
pub const CREATED_REASON: &str = "run accepted";

/// Shown as `run_process` on Volley's runs (the k6 cloud shows e.g. "k6 to Cloud").
pub const RUN_PROCESS: &str = "Volley cluster";

/// `run_process` of a run streamed from a local `volley run --out cloud=URL` (k6 shows
/// "k6 to Cloud" for its streamed runs).
pub const STREAMED_RUN_PROCESS: &str = "Volley run to controller";

/// `version` of runs, as the k6 legacy API reports it.
pub const RUN_VERSION: u32 = 2;

/// A command checked against the state and turned into the records it will write. Splitting
/// [`State::apply`] into prepare + commit lets the store make the command durable between the
/// two steps: readers keep seeing the old state while the log is written, and a command that
/// fails validation never reaches the log.
#[derive(Debug, Clone)]
pub struct Prepared {
    base_index: u64,
    index: u64,
    test: Option<Test>,
    run: Option<Run>,
    token: Option<TokenRecord>,
    next_test_id: u64,
    next_run_id: u64,
    next_token_id: u64,
    keys: Option<idempotency::KeyChange>,
    ops: Option<once::OpChange>,
    /// Finished runs to forget ([`Command::ForgetRuns`]), with their tests as they become.
    forget: Option<retention::Forget>,
    effect: Effect,
}

impl Prepared {
    /// The log index the command will be applied at.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The effect the command will have once committed (e.g. the id of a new test).
    pub fn effect(&self) -> &Effect {
        &self.effect
    }

    /// Archives (hex SHA-256) the command leaves without a test: the store drops them.
    pub fn freed_archives(&self) -> &[String] {
        self.forget.as_ref().map_or(&[], |f| f.freed_archives())
    }
}

/// The controller's state: tests and runs by id, the id counters and the index of the last
/// applied command. Fields are private so that nothing changes them except [`State::apply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    tests: BTreeMap<u64, Test>,
    /// Read through [`legacy::runs`], which moves a format 2 run's sequence to the run.
    #[serde(deserialize_with = "legacy::runs")]
    runs: BTreeMap<u64, Run>,
    next_test_id: u64,
    next_run_id: u64,
    applied_index: u64,
    /// API tokens (added after the first release: absent from older snapshots).
    #[serde(default)]
    tokens: BTreeMap<u64, TokenRecord>,
    #[serde(default = "tokens::first_id")]
    next_token_id: u64,
    /// Idempotency keys of creates (added later: absent from older snapshots, and left out
    /// while there are none, so a state without keys serializes as before).
    #[serde(default, skip_serializing_if = "IdempotencyKeys::is_empty")]
    keys: IdempotencyKeys,
    /// Ids of the writes sent again until committed (added later, left out while there are
    /// none): [`Command::Once`].
    #[serde(default, skip_serializing_if = "Ops::is_empty")]
    ops: Ops,
}

impl Default for State {
    fn default() -> Self {
        State::new()
    }
}

impl State {
    /// An empty state; the first test and the first run get id 1.
    pub fn new() -> State {
        State {
            tests: BTreeMap::new(),
            runs: BTreeMap::new(),
            next_test_id: 1,
            next_run_id: 1,
            applied_index: 0,
            tokens: BTreeMap::new(),
            next_token_id: 1,
            keys: IdempotencyKeys::default(),
            ops: Ops::default(),
        }
    }

    /// The ids of the writes applied once ([`Command::Once`]) the state remembers.
    pub fn ops(&self) -> &Ops {
        &self.ops
    }

    /// The idempotency keys of creates the state remembers.
    pub fn idempotency_keys(&self) -> &IdempotencyKeys {
        &self.keys
    }

    /// The index of the last applied command (0: none yet).
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// The id the next `CreateTest` will get.
    pub fn next_test_id(&self) -> u64 {
        self.next_test_id
    }

    /// The id the next `CreateRun` will get.
    pub fn next_run_id(&self) -> u64 {
        self.next_run_id
    }

    /// Applies `cmd` as log entry `index` (which must be greater than [`Self::applied_index`];
    /// gaps are allowed, as Raft logs hold entries that are not commands). On `Err` the state is
    /// unchanged.
    pub fn apply(&mut self, index: u64, cmd: &Command) -> Result<Applied, StateError> {
        let prepared = self.prepare(index, cmd)?;
        self.commit(prepared)
    }

    /// Checks `cmd` against the current state without changing it. The result must be
    /// committed to this same state before anything else is applied.
    pub fn prepare(&self, index: u64, cmd: &Command) -> Result<Prepared, StateError> {
        if index <= self.applied_index {
            return Err(StateError::StaleIndex {
                index,
                applied: self.applied_index,
            });
        }
        let mut p = Prepared {
            base_index: self.applied_index,
            index,
            test: None,
            run: None,
            token: None,
            next_test_id: self.next_test_id,
            next_run_id: self.next_run_id,
            next_token_id: self.next_token_id,
            keys: None,
            ops: None,
            forget: None,
            effect: Effect::RunUpdated { run_id: 0 },
        };
        match cmd {
            Command::CreateTest { .. } => self.prepare_create_test(&mut p, index, cmd)?,
            Command::CreateRun { .. } => self.prepare_create_run(&mut p, index, cmd)?,
            Command::Transition { .. } => self.prepare_transition(&mut p, cmd)?,
            Command::UpdateRun { .. } => self.prepare_update_run(&mut p, cmd)?,
            Command::Assign { .. } => self.prepare_assign(&mut p, cmd)?,
            Command::SetSummary { .. } => self.prepare_set_summary(&mut p, cmd)?,
            Command::CreateToken {
                name,
                role,
                project_id,
                sha256,
                at,
                idempotency_key,
            } => self.prepare_create_token(
                &mut p,
                index,
                tokens::NewToken {
                    name,
                    role: *role,
                    project_id: *project_id,
                    sha256,
                    at,
                    key: idempotency_key.as_deref(),
                },
            )?,
            Command::RevokeToken { token_id, at } => {
                self.prepare_revoke_token(&mut p, *token_id, at)?
            }
            Command::RequestStop { .. } => self.prepare_request_stop(&mut p, cmd)?,
            Command::Once { .. } => self.prepare_once(&mut p, index, cmd)?,
            Command::ForgetRuns { run_ids, test_ids } => {
                self.prepare_forget_runs(&mut p, run_ids, test_ids)?
            }
        }
        Ok(p)
    }

    /// Writes a prepared command into the state. Fails only if something was applied since it
    /// was prepared.
    pub fn commit(&mut self, prepared: Prepared) -> Result<Applied, StateError> {
        if prepared.base_index != self.applied_index {
            return Err(StateError::StalePrepared {
                prepared_at: prepared.base_index,
                now: self.applied_index,
            });
        }
        if let Some(test) = prepared.test {
            self.tests.insert(test.id, test);
        }
        if let Some(run) = prepared.run {
            self.runs.insert(run.id, run);
        }
        if let Some(token) = prepared.token {
            self.tokens.insert(token.id, token);
        }
        self.next_test_id = prepared.next_test_id;
        self.next_run_id = prepared.next_run_id;
        self.next_token_id = prepared.next_token_id;
        if let Some(change) = prepared.keys {
            self.keys.apply(change);
        }
        if let Some(change) = prepared.ops {
            self.ops.apply(change);
        }
        if let Some(forget) = prepared.forget {
            self.forget(forget);
        }
        self.applied_index = prepared.index;
        Ok(Applied {
            index: prepared.index,
            effect: prepared.effect,
        })
    }

    pub fn test(&self, id: u64) -> Option<&Test> {
        self.tests.get(&id)
    }

    /// All tests, by id.
    pub fn tests(&self) -> impl Iterator<Item = &Test> + '_ {
        self.tests.values()
    }

    pub fn run(&self, id: u64) -> Option<&Run> {
        self.runs.get(&id)
    }

    /// All runs, by id (which is also creation order).
    pub fn runs(&self) -> impl Iterator<Item = &Run> + '_ {
        self.runs.values()
    }

    /// The runs of one test, by id; empty for an unknown test.
    pub fn runs_of_test(&self, test_id: u64) -> impl Iterator<Item = &Run> + '_ {
        self.runs.values().filter(move |r| r.test_id == test_id)
    }

    /// The runs in one status, by id: for QUEUED that is first-in first-out order.
    pub fn runs_in_status(&self, status: RunStatus) -> impl Iterator<Item = &Run> + '_ {
        self.runs.values().filter(move |r| r.run_status == status)
    }

    /// Runs that may still change status (what a restarted controller must look after).
    pub fn non_terminal_runs(&self) -> impl Iterator<Item = &Run> + '_ {
        self.runs.values().filter(|r| !r.run_status.is_terminal())
    }
}

fn next_id(id: u64, what: &str) -> Result<u64, StateError> {
    id.checked_add(1).ok_or_else(|| StateError::Invalid {
        subject: format!("{what} {id}"),
        problem: format!("no {what} ids are left"),
    })
}

fn canonical_timestamp(field: &str, value: &str) -> Result<String, StateError> {
    timestamp::parse_rfc3339(value)
        .map(timestamp::format_rfc3339)
        .map_err(|problem| StateError::BadTimestamp {
            field: field.to_string(),
            value: value.to_string(),
            problem,
        })
}

/// `cmd`, given to the preparation of another kind of command.
fn not_a(kind: &str, cmd: &Command) -> StateError {
    StateError::Invalid {
        subject: "a command".into(),
        problem: format!("a {kind} was expected, not {cmd:?}"),
    }
}

mod changes;
mod command;
mod create;
mod error;
pub mod idempotency;
mod legacy;
pub mod once;
mod retention;
mod stop;
pub mod timestamp;
mod tokens;
mod transition;
mod update;

#[cfg(test)]
mod tests;
