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

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use changes::RunChanges;
use idempotency::{IdempotencyKeys, KeyKind};
use once::{OpRecord, Ops};
pub use tokens::TokenRecord;
use volley_api::Role;

use crate::model::{
    AbortReason, Assignment, ProcessingStatus, ResultStatus, Run, RunStatus, StopRequest, Test,
    Transition,
};

/// The reason recorded on the first transition of every run (CREATED → CREATED).
pub const CREATED_REASON: &str = "run accepted";

/// Shown as `run_process` on Volley's runs (the k6 cloud shows e.g. "k6 to Cloud").
pub const RUN_PROCESS: &str = "Volley cluster";

/// `run_process` of a run streamed from a local `volley run --out cloud=URL` (k6 shows
/// "k6 to Cloud" for its streamed runs).
pub const STREAMED_RUN_PROCESS: &str = "Volley run to controller";

/// `version` of runs, as the k6 legacy API reports it.
pub const RUN_VERSION: u32 = 2;

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
        /// answers the first one's test ([`idempotency`]).
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
        /// How the run is executed (`run_process`); `None`: [`RUN_PROCESS`], a cluster run.
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
        /// answers the first one's run ([`idempotency`]).
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
        assignments: Vec<Assignment>,
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
        /// answers the first one's token ([`idempotency`]).
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
    /// `command`, applied once whatever the number of its copies committed: a write the
    /// controller sends again until it is committed (docs/ha.md#writes-sent-again). The first
    /// copy applies `command` and records `id`; a later copy with a recorded `id` changes
    /// nothing but the applied index ([`Effect::Repeated`]). `command` is not itself a `Once`.
    Once {
        /// The write's id, unique per write, the same on each of its copies.
        id: u64,
        /// RFC 3339: when the write was first proposed; its id is remembered for
        /// [`once::OP_TTL_MS`] after it.
        at: String,
        command: Box<Command>,
    },
}

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

/// Why a command was rejected. Messages name the test or run and the rule that was broken.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StateError {
    #[error("test {0} does not exist")]
    UnknownTest(u64),
    #[error("run {0} does not exist")]
    UnknownRun(u64),
    #[error("token {0} does not exist")]
    UnknownToken(u64),
    #[error(
        "run {run_id} is {} (terminal); it cannot move to {}: terminal statuses are final",
        .from.name(),
        .to.name()
    )]
    Terminal {
        run_id: u64,
        from: RunStatus,
        to: RunStatus,
    },
    #[error(
        "run {run_id} is {} ({}); it cannot move to {} ({}): statuses only move forward \
         (from {} to {})",
        .from.name(),
        .from.number(),
        .to.name(),
        .to.number(),
        .from.name(),
        successor_names(*.from)
    )]
    Backward {
        run_id: u64,
        from: RunStatus,
        to: RunStatus,
    },
    #[error(
        "run {run_id} is {} (terminal); its placement can no longer change",
        .status.name()
    )]
    AssignTerminal { run_id: u64, status: RunStatus },
    #[error("{field}: {value:?} is not an RFC 3339 timestamp ({problem}); use e.g. 2024-05-01T12:00:00Z")]
    BadTimestamp {
        field: String,
        value: String,
        problem: timestamp::TimestampError,
    },
    #[error("{subject}: {problem}")]
    Invalid { subject: String, problem: String },
    #[error(
        "log index {index} is not after the applied index {applied}; each index applies once, \
         in increasing order"
    )]
    StaleIndex { index: u64, applied: u64 },
    #[error(
        "a command prepared at applied index {prepared_at} cannot be committed at applied index \
         {now}: prepare it again"
    )]
    StalePrepared { prepared_at: u64, now: u64 },
    #[error(
        "the Idempotency-Key {key:?} was sent with {first}; this request asks for {now}: send \
         a new key with a new request"
    )]
    KeyReused {
        key: String,
        first: String,
        now: String,
    },
}

/// How an API should report a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The test or run does not exist (HTTP 404).
    NotFound,
    /// The command does not fit the current state, e.g. stopping a finished run (HTTP 409).
    Conflict,
    /// The command itself is malformed (HTTP 400).
    Invalid,
}

impl StateError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StateError::UnknownTest(_)
            | StateError::UnknownRun(_)
            | StateError::UnknownToken(_) => ErrorKind::NotFound,
            StateError::Terminal { .. }
            | StateError::Backward { .. }
            | StateError::AssignTerminal { .. }
            | StateError::StaleIndex { .. }
            | StateError::StalePrepared { .. }
            | StateError::KeyReused { .. } => ErrorKind::Conflict,
            StateError::BadTimestamp { .. } | StateError::Invalid { .. } => ErrorKind::Invalid,
        }
    }
}

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
}

/// The controller's state: tests and runs by id, the id counters and the index of the last
/// applied command. Fields are private so that nothing changes them except [`State::apply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    tests: BTreeMap<u64, Test>,
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
            effect: Effect::RunUpdated { run_id: 0 },
        };
        match cmd {
            Command::CreateTest {
                name,
                project_id,
                archive_sha256,
                archive_size,
                config,
                at,
                idempotency_key,
            } => {
                let id = self.next_test_id;
                let subject = || format!("test {id}");
                let at = canonical_timestamp("CreateTest.at", at)?;
                if name.trim().is_empty() {
                    return Err(StateError::Invalid {
                        subject: subject(),
                        problem: "the name must not be empty; give the test a name".into(),
                    });
                }
                if archive_sha256.len() != 64
                    || !archive_sha256.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(StateError::Invalid {
                        subject: subject(),
                        problem: format!(
                            "archive_sha256 {archive_sha256:?} is not a SHA-256 in hex \
                             (64 hex digits)"
                        ),
                    });
                }
                if let Some(key) = idempotency_key {
                    let request = idempotency::test_request(archive_sha256, *project_id);
                    let seen = self.key_seen(KeyKind::Test, key, request, &at, index, id)?;
                    match seen {
                        Ok(test_id) => {
                            p.effect = Effect::Replayed {
                                test_id,
                                run_id: None,
                            };
                            return Ok(p);
                        }
                        Err(change) => p.keys = Some(change),
                    }
                }
                p.next_test_id = next_id(id, "test")?;
                p.test = Some(Test {
                    id,
                    name: name.clone(),
                    project_id: *project_id,
                    created: at.clone(),
                    updated: at,
                    archive_size: *archive_size,
                    archive_sha256: archive_sha256.to_ascii_lowercase(),
                    config: config.clone(),
                    test_run_ids: Vec::new(),
                });
                p.effect = Effect::TestCreated { test_id: id };
            }
            Command::CreateRun {
                test_id,
                env,
                note,
                config,
                run_process,
                user_id,
                started_by,
                at,
                idempotency_key,
            } => {
                let mut test = self
                    .tests
                    .get(test_id)
                    .ok_or(StateError::UnknownTest(*test_id))?
                    .clone();
                let at = canonical_timestamp("CreateRun.at", at)?;
                let id = self.next_run_id;
                if let Some(key) = idempotency_key {
                    let request = idempotency::run_request(*test_id, *user_id);
                    match self.key_seen(KeyKind::Run, key, request, &at, index, id)? {
                        Ok(run_id) => {
                            p.effect = Effect::Replayed {
                                test_id: *test_id,
                                run_id: Some(run_id),
                            };
                            return Ok(p);
                        }
                        Err(change) => p.keys = Some(change),
                    }
                }
                p.next_run_id = next_id(id, "run")?;
                test.test_run_ids.push(id);
                p.run = Some(Run {
                    id,
                    test_id: *test_id,
                    project_id: test.project_id,
                    organization_id: 0,
                    user_id: *user_id,
                    started_by: started_by.clone(),
                    created: at.clone(),
                    started: None,
                    ended: None,
                    duration: 0.0,
                    load_time: 0.0,
                    run_status: RunStatus::Created,
                    processing_status: ProcessingStatus::NotStarted,
                    result_status: ResultStatus::Passed,
                    vus: 0,
                    error_code: None,
                    error_detail: None,
                    note: note.clone(),
                    stopped_by_id: None,
                    public_id: None,
                    config: config.clone().unwrap_or_else(|| test.config.clone()),
                    run_process: run_process
                        .clone()
                        .unwrap_or_else(|| RUN_PROCESS.to_string()),
                    version: RUN_VERSION,
                    is_baseline: false,
                    transitions: vec![Transition {
                        from: RunStatus::Created,
                        to: RunStatus::Created,
                        at,
                        reason: CREATED_REASON.to_string(),
                    }],
                    assignments: Vec::new(),
                    exit_code: None,
                    abort_reason: None,
                    degraded: false,
                    events: Vec::new(),
                    summary: None,
                    env: env.clone(),
                    stop_request: None,
                });
                p.test = Some(test);
                p.effect = Effect::RunCreated {
                    test_id: *test_id,
                    run_id: id,
                };
            }
            Command::Transition {
                run_id,
                to,
                reason,
                at,
                changes,
            } => {
                let mut run = self.run_clone(*run_id)?;
                let (from, to) = (run.run_status, *to);
                check_transition(*run_id, from, to)?;
                if reason.trim().is_empty() {
                    return Err(StateError::Invalid {
                        subject: format!("run {run_id}"),
                        problem: format!(
                            "the move to {} has no reason; say why the run moves \
                             (e.g. \"stopped via API\")",
                            to.name()
                        ),
                    });
                }
                let at = canonical_timestamp("Transition.at", at)?;
                changes.apply_to(&mut run);
                let keep_processing = changes.processing_status.is_some();
                if to == RunStatus::Running {
                    run.started = Some(at.clone());
                    if !keep_processing && run.processing_status == ProcessingStatus::NotStarted {
                        run.processing_status = ProcessingStatus::Processing;
                    }
                }
                if to.is_terminal() {
                    run.duration = match &run.started {
                        Some(started) => {
                            let s = parse_stored(*run_id, "started", started)?;
                            let e = parse_stored(*run_id, "ended", &at)?;
                            // Clocks of different controllers may disagree slightly; a
                            // negative duration would only confuse readers.
                            (e - s).max(0) as f64 / 1000.0
                        }
                        None => 0.0,
                    };
                    run.ended = Some(at.clone());
                    if !keep_processing
                        && matches!(
                            run.processing_status,
                            ProcessingStatus::NotStarted | ProcessingStatus::Processing
                        )
                    {
                        run.processing_status = ProcessingStatus::Finished;
                    }
                }
                run.run_status = to;
                run.transitions.push(Transition {
                    from,
                    to,
                    at,
                    reason: reason.clone(),
                });
                p.run = Some(run);
                p.effect = Effect::RunMoved {
                    run_id: *run_id,
                    from,
                    to,
                };
            }
            Command::UpdateRun { run_id, changes } => {
                let mut run = self.run_clone(*run_id)?;
                changes.apply_to(&mut run);
                p.run = Some(run);
                p.effect = Effect::RunUpdated { run_id: *run_id };
            }
            Command::Assign {
                run_id,
                assignments,
            } => {
                let mut run = self.run_clone(*run_id)?;
                if run.run_status.is_terminal() {
                    return Err(StateError::AssignTerminal {
                        run_id: *run_id,
                        status: run.run_status,
                    });
                }
                let mut seen = BTreeSet::new();
                for a in assignments {
                    if a.agent.trim().is_empty() {
                        return Err(StateError::Invalid {
                            subject: format!("run {run_id}"),
                            problem: "an assignment has an empty agent name".into(),
                        });
                    }
                    if !seen.insert(a.agent.as_str()) {
                        return Err(StateError::Invalid {
                            subject: format!("run {run_id}"),
                            problem: format!(
                                "agent {:?} is assigned twice; an agent runs one segment of a run",
                                a.agent
                            ),
                        });
                    }
                }
                run.assignments = assignments.clone();
                p.run = Some(run);
                p.effect = Effect::RunAssigned { run_id: *run_id };
            }
            Command::SetSummary { run_id, summary } => {
                let mut run = self.run_clone(*run_id)?;
                run.summary = Some(summary.clone());
                p.run = Some(run);
                p.effect = Effect::SummarySet { run_id: *run_id };
            }
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
            Command::RequestStop {
                run_id,
                by,
                reason,
                at,
            } => {
                let mut run = self.run_clone(*run_id)?;
                if run.run_status.is_terminal() {
                    return Err(StateError::Terminal {
                        run_id: *run_id,
                        from: run.run_status,
                        to: reason.run_status(),
                    });
                }
                let at = canonical_timestamp("RequestStop.at", at)?;
                if run.stop_request.is_none() {
                    if by.is_some() {
                        run.stopped_by_id = *by;
                    }
                    run.stop_request = Some(StopRequest {
                        by: *by,
                        at,
                        reason: reason.clone(),
                    });
                }
                p.run = Some(run);
                p.effect = Effect::RunUpdated { run_id: *run_id };
            }
            Command::Once { id, at, command } => {
                if matches!(**command, Command::Once { .. }) {
                    return Err(StateError::Invalid {
                        subject: format!("write {id}"),
                        problem: "a Once command wraps another Once; wrap the command itself"
                            .into(),
                    });
                }
                let at_ms =
                    timestamp::parse_rfc3339(at).map_err(|problem| StateError::BadTimestamp {
                        field: "Once.at".into(),
                        value: at.clone(),
                        problem,
                    })?;
                if let Some(first) = self.ops.seen(*id) {
                    p.effect = Effect::Repeated { first: first.index };
                    return Ok(p);
                }
                p = self.prepare(index, command)?;
                p.ops = Some(self.ops.plan(*id, OpRecord { at_ms, index }));
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

    /// A keyed create: `Ok(id)` when `key` was seen with the same request (the id it made),
    /// else the change that records it for the new `id`. The key is checked first (the API
    /// checks it too; a command from elsewhere is checked here).
    fn key_seen(
        &self,
        kind: KeyKind,
        key: &str,
        request: String,
        at: &str,
        index: u64,
        id: u64,
    ) -> Result<Result<u64, idempotency::KeyChange>, StateError> {
        idempotency::check_key(key).map_err(|problem| StateError::Invalid {
            subject: "idempotency_key".into(),
            problem,
        })?;
        let at_ms = timestamp::parse_rfc3339(at).map_err(|problem| StateError::BadTimestamp {
            field: "idempotency_key at".into(),
            value: at.to_string(),
            problem,
        })?;
        if let Some(first) = self.keys.seen(kind, key, &request, at_ms)? {
            return Ok(Ok(first));
        }
        let record = idempotency::KeyRecord {
            id,
            request,
            at_ms,
            index,
        };
        Ok(Err(self.keys.plan(kind, key, record)))
    }

    fn run_clone(&self, run_id: u64) -> Result<Run, StateError> {
        self.runs
            .get(&run_id)
            .cloned()
            .ok_or(StateError::UnknownRun(run_id))
    }
}

/// Checks a move against the table of [`RunStatus::successors`]: forward only (skipping is
/// fine), terminal is final.
fn check_transition(run_id: u64, from: RunStatus, to: RunStatus) -> Result<(), StateError> {
    if from.is_terminal() {
        return Err(StateError::Terminal { run_id, from, to });
    }
    if !from.can_move_to(to) {
        return Err(StateError::Backward { run_id, from, to });
    }
    Ok(())
}

/// `-1 VALIDATED, 0 QUEUED or 3 FINISHED`: where a run in `from` may go, for error messages.
fn successor_names(from: RunStatus) -> String {
    let names: Vec<String> = from
        .successors()
        .iter()
        .map(|s| format!("{} {}", s.number(), s.name()))
        .collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "nowhere".into(),
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

fn parse_stored(run_id: u64, field: &str, value: &str) -> Result<i64, StateError> {
    timestamp::parse_rfc3339(value).map_err(|problem| StateError::BadTimestamp {
        field: format!("run {run_id} {field}"),
        value: value.to_string(),
        problem,
    })
}

mod changes;
pub mod idempotency;
pub mod once;
pub mod timestamp;
mod tokens;

#[cfg(test)]
mod tests;
