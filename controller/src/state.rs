//! The controller's state machine: every change of controller state is a [`Command`] applied to
//! one [`State`], so that the same log of commands always produces the same state. That is what
//! lets [`crate::store`] persist the state as "snapshot + log", and what will let a later issue
//! replicate the log with Raft across several controllers: each replica applies the same
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
//! already on disk, add new variants or new fields with `#[serde(default)]`; never rename or
//! remove a variant or a field.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::{
    AbortReason, Assignment, ProcessingStatus, ResultStatus, Run, RunEvent, RunStatus, Test,
    Transition, MAX_RUN_EVENTS,
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
        /// The entry script's source, for display.
        script: String,
        /// RFC 3339.
        at: String,
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
        /// The run's script; `None` takes the test's `script`.
        #[serde(default)]
        script: Option<String>,
        /// How the run is executed (`run_process`); `None`: [`RUN_PROCESS`], a cluster run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        run_process: Option<String>,
        user_id: u64,
        /// RFC 3339.
        at: String,
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
}

/// Optional changes to a run's fields; `None` leaves a field as it is. There is no way to set a
/// field back to null: nothing in the run lifecycle needs it, and it keeps the log simple.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vus: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_status: Option<ResultStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_status: Option<ProcessingStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_reason: Option<AbortReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// An event to append to the run's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<RunEvent>,
}

impl RunChanges {
    /// True when no field would change.
    pub fn is_empty(&self) -> bool {
        self == &RunChanges::default()
    }

    fn apply_to(&self, run: &mut Run) {
        if let Some(v) = self.vus {
            run.vus = v;
        }
        if let Some(v) = self.result_status {
            run.result_status = v;
        }
        if let Some(v) = self.processing_status {
            run.processing_status = v;
        }
        if let Some(v) = self.error_code {
            run.error_code = Some(v);
        }
        if let Some(v) = &self.error_detail {
            run.error_detail = Some(v.clone());
        }
        if let Some(v) = self.exit_code {
            run.exit_code = Some(v);
        }
        if let Some(v) = &self.abort_reason {
            run.abort_reason = Some(v.clone());
        }
        if let Some(v) = self.stopped_by_id {
            run.stopped_by_id = Some(v);
        }
        if let Some(v) = self.degraded {
            run.degraded = v;
        }
        if let Some(v) = &self.note {
            run.note = v.clone();
        }
        if let Some(e) = &self.event {
            if run.events.len() + 1 < MAX_RUN_EVENTS {
                run.events.push(e.clone());
            } else if run.events.len() + 1 == MAX_RUN_EVENTS {
                run.events.push(RunEvent {
                    at: e.at.clone(),
                    level: "warning".into(),
                    message: format!("more than {MAX_RUN_EVENTS} events: later ones are not kept"),
                });
            }
        }
    }
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
}

impl Applied {
    /// The run the command created or changed, if any.
    pub fn run_id(&self) -> Option<u64> {
        match self.effect {
            Effect::TestCreated { .. } => None,
            Effect::RunCreated { run_id, .. }
            | Effect::RunMoved { run_id, .. }
            | Effect::RunUpdated { run_id }
            | Effect::RunAssigned { run_id }
            | Effect::SummarySet { run_id } => Some(run_id),
        }
    }

    /// The test the command created (or created a run of), if any.
    pub fn test_id(&self) -> Option<u64> {
        match self.effect {
            Effect::TestCreated { test_id } | Effect::RunCreated { test_id, .. } => Some(test_id),
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
        problem: String,
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
            StateError::UnknownTest(_) | StateError::UnknownRun(_) => ErrorKind::NotFound,
            StateError::Terminal { .. }
            | StateError::Backward { .. }
            | StateError::AssignTerminal { .. }
            | StateError::StaleIndex { .. }
            | StateError::StalePrepared { .. } => ErrorKind::Conflict,
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
    next_test_id: u64,
    next_run_id: u64,
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
        }
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
            next_test_id: self.next_test_id,
            next_run_id: self.next_run_id,
            effect: Effect::RunUpdated { run_id: 0 },
        };
        match cmd {
            Command::CreateTest {
                name,
                project_id,
                archive_sha256,
                archive_size,
                config,
                script,
                at,
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
                    script: script.clone(),
                    test_run_ids: Vec::new(),
                });
                p.effect = Effect::TestCreated { test_id: id };
            }
            Command::CreateRun {
                test_id,
                env,
                note,
                config,
                script,
                run_process,
                user_id,
                at,
            } => {
                let mut test = self
                    .tests
                    .get(test_id)
                    .ok_or(StateError::UnknownTest(*test_id))?
                    .clone();
                let at = canonical_timestamp("CreateRun.at", at)?;
                let id = self.next_run_id;
                p.next_run_id = next_id(id, "run")?;
                test.test_run_ids.push(id);
                p.run = Some(Run {
                    id,
                    test_id: *test_id,
                    project_id: test.project_id,
                    organization_id: 0,
                    user_id: *user_id,
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
                    script: script.clone().unwrap_or_else(|| test.script.clone()),
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
        self.next_test_id = prepared.next_test_id;
        self.next_run_id = prepared.next_run_id;
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

/// RFC 3339 timestamps as unix milliseconds, without a date-time dependency: the state machine
/// only needs to parse them, compute differences and print one canonical form.
pub mod timestamp {
    use std::time::{SystemTime, UNIX_EPOCH};

    const MS_PER_DAY: i64 = 86_400_000;
    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: four-digit years only.
    const MIN_MS: i64 = -62_135_596_800_000;
    const MAX_MS: i64 = 253_402_300_799_999;

    /// The current time in the canonical form. Call it where commands are built, never inside
    /// the state machine.
    pub fn now_rfc3339() -> String {
        let ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(MAX_MS),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(-MIN_MS),
        };
        format_rfc3339(ms.clamp(MIN_MS, MAX_MS))
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into unix milliseconds (fractions beyond
    /// milliseconds are truncated). The error says what is wrong.
    pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
        let b = s.as_bytes();
        if b.len() < 20 || b.len() > 64 {
            return Err("expected YYYY-MM-DDTHH:MM:SS followed by Z or an offset".into());
        }
        let num = |from: usize, len: usize, what: &str| -> Result<i64, String> {
            let part = &b[from..from + len];
            if !part.iter().all(u8::is_ascii_digit) {
                return Err(format!("the {what} is not {len} digits"));
            }
            Ok(part
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
        };
        let sep = |at: usize, want: &[u8], what: &str| -> Result<(), String> {
            if want.contains(&b[at]) {
                Ok(())
            } else {
                Err(format!("expected {what} at position {}", at + 1))
            }
        };
        let year = num(0, 4, "year")?;
        sep(4, b"-", "'-'")?;
        let month = num(5, 2, "month")?;
        sep(7, b"-", "'-'")?;
        let day = num(8, 2, "day")?;
        sep(10, b"Tt", "'T'")?;
        let hour = num(11, 2, "hour")?;
        sep(13, b":", "':'")?;
        let minute = num(14, 2, "minute")?;
        sep(16, b":", "':'")?;
        let second = num(17, 2, "second")?;
        if !(1..=12).contains(&month) {
            return Err(format!("month {month} is not 1..12"));
        }
        if year == 0 {
            return Err("year 0000 is out of range".into());
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(format!("{year:04}-{month:02} has no day {day}"));
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(format!(
                "time {hour:02}:{minute:02}:{second:02} is out of range"
            ));
        }
        let mut i = 19;
        let mut frac_ms = 0i64;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 3 {
                    frac_ms = frac_ms * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            if i == start {
                return Err("the fraction after '.' has no digits".into());
            }
            for _ in (i - start)..3 {
                frac_ms *= 10;
            }
        }
        let offset_min = match b.get(i) {
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(sign @ (b'+' | b'-')) if i + 6 == b.len() => {
                sep(i + 3, b":", "':' in the offset")?;
                let oh = num(i + 1, 2, "offset hour")?;
                let om = num(i + 4, 2, "offset minute")?;
                if oh > 23 || om > 59 {
                    return Err(format!("offset {oh:02}:{om:02} is out of range"));
                }
                let m = oh * 60 + om;
                if *sign == b'-' {
                    -m
                } else {
                    m
                }
            }
            _ => return Err("expected Z or an offset like +02:00 at the end".into()),
        };
        let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
            - offset_min * 60;
        let ms = secs * 1000 + frac_ms;
        if !(MIN_MS..=MAX_MS).contains(&ms) {
            return Err("the instant is outside the years 0001..9999 in UTC".into());
        }
        Ok(ms)
    }

    /// The canonical form: UTC, `Z`, milliseconds only when not zero (as the k6 legacy API:
    /// `2020-08-13T18:28:45Z`).
    pub fn format_rfc3339(unix_ms: i64) -> String {
        let days = unix_ms.div_euclid(MS_PER_DAY);
        let in_day = unix_ms.rem_euclid(MS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let (secs, ms) = (in_day / 1000, in_day % 1000);
        let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if ms == 0 {
            format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
        } else {
            format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
        }
    }

    fn is_leap(y: i64) -> bool {
        y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
    }

    fn days_in_month(y: i64, m: i64) -> i64 {
        match m {
            2 if is_leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    fn civil_from_days(z: i64) -> (i64, i64, i64) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn known_instants() {
            assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
            assert_eq!(parse_rfc3339("2020-08-13T18:28:45Z"), Ok(1_597_343_325_000));
            assert_eq!(
                parse_rfc3339("2020-08-13T20:28:45+02:00"),
                Ok(1_597_343_325_000)
            );
            assert_eq!(
                parse_rfc3339("2020-08-13T17:58:45-00:30"),
                Ok(1_597_343_325_000)
            );
            assert_eq!(
                parse_rfc3339("2020-08-13t18:28:45.5z"),
                Ok(1_597_343_325_500)
            );
            assert_eq!(
                parse_rfc3339("2020-08-13T18:28:45.123456789Z"),
                Ok(1_597_343_325_123)
            );
            assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999Z"), Ok(-1));
            assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
            assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Ok(951_782_400_000));
            assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), Ok(MIN_MS));
            assert_eq!(parse_rfc3339("9999-12-31T23:59:59.999Z"), Ok(MAX_MS));
            // A leap second counts into the next minute.
            assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Ok(1_483_228_800_000));
        }

        #[test]
        fn canonical_form() {
            assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
            assert_eq!(format_rfc3339(1_597_343_325_000), "2020-08-13T18:28:45Z");
            assert_eq!(
                format_rfc3339(1_597_343_325_007),
                "2020-08-13T18:28:45.007Z"
            );
            assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
            assert_eq!(format_rfc3339(MIN_MS), "0001-01-01T00:00:00Z");
            assert_eq!(format_rfc3339(MAX_MS), "9999-12-31T23:59:59.999Z");
        }

        #[test]
        fn round_trip_over_many_days() {
            // Every day of 1896..2104 at a few times of day, leap years and centuries included.
            let start = parse_rfc3339("1896-01-01T00:00:00Z").unwrap_or_default();
            for day in 0..(208 * 366) {
                for ms in [0, 1, 43_200_123, MS_PER_DAY - 1] {
                    let t = start + day * MS_PER_DAY + ms;
                    let s = format_rfc3339(t);
                    assert_eq!(parse_rfc3339(&s), Ok(t), "{s}");
                }
            }
        }

        #[test]
        fn rejects_malformed() {
            for bad in [
                "",
                "2020-08-13",
                "2020-08-13T18:28:45",
                "2020-08-13 18:28:45Z",
                "2020-13-01T00:00:00Z",
                "2020-00-01T00:00:00Z",
                "2021-02-29T00:00:00Z",
                "1900-02-29T00:00:00Z",
                "2020-04-31T00:00:00Z",
                "2020-08-13T24:00:00Z",
                "2020-08-13T18:60:00Z",
                "2020-08-13T18:28:61Z",
                "2020-08-13T18:28:45.Z",
                "2020-08-13T18:28:45+0200",
                "2020-08-13T18:28:45+24:00",
                "2020-08-13T18:28:45Zjunk",
                "0000-01-01T00:00:00Z",
                "0001-01-01T00:00:00+01:00",
                "２020-08-13T18:28:45Z",
                "2020-8-13T18:28:45Z",
            ] {
                assert!(parse_rfc3339(bad).is_err(), "{bad:?} was accepted");
            }
        }

        #[test]
        fn now_is_canonical() {
            let now = now_rfc3339();
            let ms = parse_rfc3339(&now);
            assert!(ms.is_ok(), "{now}");
            assert_eq!(format_rfc3339(ms.unwrap_or_default()), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const T0: &str = "2024-05-01T12:00:00Z";

    fn create_test(at: &str) -> Command {
        Command::CreateTest {
            name: "checkout".into(),
            project_id: 3,
            archive_sha256: SHA.to_uppercase(),
            archive_size: 1234,
            config: json!({"vus": 10, "duration": "30s"}),
            script: "export default function () {}".into(),
            at: at.into(),
        }
    }

    fn create_run(test_id: u64, at: &str) -> Command {
        Command::CreateRun {
            test_id,
            env: BTreeMap::from([("BASE".to_string(), "http://x".to_string())]),
            note: "nightly".into(),
            config: None,
            script: None,
            run_process: None,
            user_id: 42,
            at: at.into(),
        }
    }

    fn to(run_id: u64, to: RunStatus, at: &str) -> Command {
        Command::Transition {
            run_id,
            to,
            reason: format!("to {}", to.name()),
            at: at.into(),
            changes: RunChanges::default(),
        }
    }

    /// Applies commands at consecutive indexes after the current one.
    fn apply_all(state: &mut State, cmds: &[Command]) -> Vec<Applied> {
        let mut out = Vec::new();
        for cmd in cmds {
            let index = state.applied_index() + 1;
            match state.apply(index, cmd) {
                Ok(a) => out.push(a),
                Err(e) => panic!("{cmd:?} failed: {e}"),
            }
        }
        out
    }

    /// A state with test 1 and run 1 in `status` (reached directly from CREATED).
    fn run_in(status: RunStatus) -> State {
        let mut s = State::new();
        apply_all(&mut s, &[create_test(T0), create_run(1, T0)]);
        if status != RunStatus::Created {
            apply_all(&mut s, &[to(1, status, "2024-05-01T12:00:01Z")]);
        }
        s
    }

    fn run1(s: &State) -> &Run {
        match s.run(1) {
            Some(r) => r,
            None => panic!("run 1 missing"),
        }
    }

    #[test]
    fn create_test_assigns_ids_and_normalizes() {
        let mut s = State::new();
        let a = apply_all(
            &mut s,
            &[create_test("2024-05-01T14:00:00+02:00"), create_test(T0)],
        );
        assert_eq!(
            a[0],
            Applied {
                index: 1,
                effect: Effect::TestCreated { test_id: 1 }
            }
        );
        assert_eq!(a[1].test_id(), Some(2));
        assert_eq!(a[1].run_id(), None);
        assert_eq!(s.next_test_id(), 3);
        let t = s
            .test(1)
            .cloned()
            .unwrap_or_else(|| panic!("test 1 missing"));
        assert_eq!(t.created, T0);
        assert_eq!(t.updated, T0);
        assert_eq!(t.archive_sha256, SHA);
        assert_eq!(t.archive_size, 1234);
        assert_eq!(t.project_id, 3);
        assert!(t.test_run_ids.is_empty());
        assert_eq!(s.tests().map(|t| t.id).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn create_test_validates() {
        let mut s = State::new();
        let mut cmd = create_test(T0);
        if let Command::CreateTest { name, .. } = &mut cmd {
            *name = "  ".into();
        }
        let e = s.apply(1, &cmd).err();
        assert!(matches!(&e, Some(StateError::Invalid { .. })), "{e:?}");
        assert!(e
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("test 1: the name"));

        let mut cmd = create_test(T0);
        if let Command::CreateTest { archive_sha256, .. } = &mut cmd {
            *archive_sha256 = "abc".into();
        }
        assert!(matches!(s.apply(1, &cmd), Err(StateError::Invalid { .. })));

        let e = s.apply(1, &create_test("yesterday")).err();
        assert!(matches!(e, Some(StateError::BadTimestamp { .. })));
        assert_eq!(s, State::new(), "rejected commands leave no trace");
    }

    #[test]
    fn create_run_fills_fields() {
        let mut s = State::new();
        let a = apply_all(
            &mut s,
            &[
                create_test(T0),
                create_run(1, "2024-05-01T12:00:05.250Z"),
                create_run(1, T0),
            ],
        );
        assert_eq!(
            a[1].effect,
            Effect::RunCreated {
                test_id: 1,
                run_id: 1
            }
        );
        assert_eq!(a[2].run_id(), Some(2));
        assert_eq!(a[2].test_id(), Some(1));
        let r = run1(&s);
        assert_eq!(r.run_status, RunStatus::Created);
        assert_eq!(r.processing_status, ProcessingStatus::NotStarted);
        assert_eq!(r.result_status, ResultStatus::Passed);
        assert_eq!(r.created, "2024-05-01T12:00:05.250Z");
        assert_eq!(r.started, None);
        assert_eq!(r.ended, None);
        assert_eq!(r.project_id, 3);
        assert_eq!(r.user_id, 42);
        assert_eq!(r.note, "nightly");
        assert_eq!(r.env.get("BASE").map(String::as_str), Some("http://x"));
        assert_eq!(r.config, json!({"vus": 10, "duration": "30s"}));
        assert_eq!(r.script, "export default function () {}");
        assert_eq!(r.run_process, RUN_PROCESS);
        assert_eq!(r.version, RUN_VERSION);
        assert_eq!(
            r.transitions,
            vec![Transition {
                from: RunStatus::Created,
                to: RunStatus::Created,
                at: "2024-05-01T12:00:05.250Z".into(),
                reason: CREATED_REASON.into()
            }]
        );
        assert_eq!(s.test(1).map(|t| t.test_run_ids.clone()), Some(vec![1, 2]));
        assert_eq!(s.next_run_id(), 3);
    }

    #[test]
    fn create_run_overrides_config_and_script() {
        let mut s = State::new();
        apply_all(
            &mut s,
            &[
                create_test(T0),
                Command::CreateRun {
                    test_id: 1,
                    env: BTreeMap::new(),
                    note: String::new(),
                    config: Some(json!({"vus": 1})),
                    script: Some("other".into()),
                    run_process: None,
                    user_id: 0,
                    at: T0.into(),
                },
            ],
        );
        assert_eq!(run1(&s).config, json!({"vus": 1}));
        assert_eq!(run1(&s).script, "other");
    }

    #[test]
    fn create_run_of_unknown_test() {
        let mut s = State::new();
        let e = s.apply(1, &create_run(9, T0));
        assert_eq!(e, Err(StateError::UnknownTest(9)));
        assert_eq!(e.err().map(|e| e.kind()), Some(ErrorKind::NotFound));
        assert_eq!(s.next_run_id(), 1);
        assert_eq!(s.applied_index(), 0);
    }

    #[test]
    fn every_transition_pair() {
        for from in RunStatus::ALL {
            for to_status in RunStatus::ALL {
                let mut s = run_in(from);
                assert_eq!(run1(&s).run_status, from);
                let before = s.clone();
                let index = s.applied_index() + 1;
                let result = s.apply(index, &to(1, to_status, "2024-05-01T12:00:02Z"));
                // The table (checked against the documented rule in common's status tests).
                let legal = from.can_move_to(to_status);
                match result {
                    Ok(a) => {
                        assert!(legal, "{from:?} → {to_status:?} was accepted");
                        assert_eq!(
                            a.effect,
                            Effect::RunMoved {
                                run_id: 1,
                                from,
                                to: to_status
                            }
                        );
                        let r = run1(&s);
                        assert_eq!(r.run_status, to_status);
                        let last = r.transitions.last().cloned();
                        assert_eq!(
                            last.map(|t| (t.from, t.to, t.at)),
                            Some((from, to_status, "2024-05-01T12:00:02Z".to_string()))
                        );
                    }
                    Err(e) => {
                        assert!(!legal, "{from:?} → {to_status:?} was refused: {e}");
                        assert_eq!(s, before, "a refused transition changed the state");
                        let msg = e.to_string();
                        assert!(msg.starts_with("run 1"), "{msg}");
                        if from.is_terminal() {
                            assert!(matches!(e, StateError::Terminal { .. }), "{e:?}");
                            assert_eq!(e.kind(), ErrorKind::Conflict);
                        } else {
                            assert!(matches!(e, StateError::Backward { .. }), "{e:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn error_messages_name_run_and_rule() {
        let mut s = State::new();
        apply_all(&mut s, &[create_test(T0)]);
        for _ in 0..7 {
            apply_all(&mut s, &[create_run(1, T0)]);
        }
        apply_all(
            &mut s,
            &[
                to(7, RunStatus::Running, T0),
                to(7, RunStatus::Finished, T0),
            ],
        );
        let e = s.apply(100, &to(7, RunStatus::Running, T0)).err();
        assert_eq!(
            e.map(|e| e.to_string()).unwrap_or_default(),
            "run 7 is FINISHED (terminal); it cannot move to RUNNING: terminal statuses are final"
        );
        let e = s.apply(100, &to(6, RunStatus::Created, T0)).err();
        let msg = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.starts_with("run 6 is CREATED (-2); it cannot move to CREATED (-2)"),
            "{msg}"
        );
        assert!(
            msg.ends_with(
                "statuses only move forward (from CREATED to -1 VALIDATED, 0 QUEUED, \
                 1 INITIALIZING, 2 RUNNING, 3 FINISHED, 4 TIMED_OUT, 5 ABORTED_BY_USER, \
                 6 ABORTED_BY_SYSTEM, 7 ABORTED_BY_SCRIPT_ERROR, 8 ABORTED_BY_THRESHOLD or \
                 9 ABORTED_BY_LIMIT)"
            ),
            "{msg}"
        );
        let e = s.apply(100, &to(99, RunStatus::Queued, T0));
        assert_eq!(
            e.err().map(|e| e.to_string()).as_deref(),
            Some("run 99 does not exist")
        );
    }

    #[test]
    fn full_lifecycle_sets_times_and_processing() {
        let mut s = run_in(RunStatus::Created);
        apply_all(
            &mut s,
            &[
                to(1, RunStatus::Validated, "2024-05-01T12:00:01Z"),
                to(1, RunStatus::Queued, "2024-05-01T12:00:02Z"),
                to(1, RunStatus::Initializing, "2024-05-01T12:00:03Z"),
            ],
        );
        assert_eq!(run1(&s).processing_status, ProcessingStatus::NotStarted);
        assert_eq!(run1(&s).started, None);
        apply_all(
            &mut s,
            &[to(1, RunStatus::Running, "2024-05-01T14:00:04.500+02:00")],
        );
        let r = run1(&s);
        assert_eq!(r.started.as_deref(), Some("2024-05-01T12:00:04.500Z"));
        assert_eq!(r.processing_status, ProcessingStatus::Processing);
        assert_eq!(r.ended, None);
        apply_all(
            &mut s,
            &[to(1, RunStatus::Finished, "2024-05-01T12:02:05Z")],
        );
        let r = run1(&s);
        assert_eq!(r.ended.as_deref(), Some("2024-05-01T12:02:05Z"));
        assert_eq!(r.duration, 120.5);
        assert_eq!(r.processing_status, ProcessingStatus::Finished);
        let seq: Vec<(i32, i32)> = r
            .transitions
            .iter()
            .map(|t| (t.from.number(), t.to.number()))
            .collect();
        assert_eq!(
            seq,
            vec![(-2, -2), (-2, -1), (-1, 0), (0, 1), (1, 2), (2, 3)]
        );
        assert_eq!(s.non_terminal_runs().count(), 0);
    }

    #[test]
    fn abort_before_running_has_no_duration() {
        let mut s = run_in(RunStatus::Queued);
        apply_all(
            &mut s,
            &[to(1, RunStatus::AbortedByUser, "2024-05-01T12:05:00Z")],
        );
        let r = run1(&s);
        assert_eq!(r.started, None);
        assert_eq!(r.ended.as_deref(), Some("2024-05-01T12:05:00Z"));
        assert_eq!(r.duration, 0.0);
        assert_eq!(r.processing_status, ProcessingStatus::Finished);
    }

    #[test]
    fn ended_before_started_clamps_duration() {
        let mut s = run_in(RunStatus::Running);
        apply_all(
            &mut s,
            &[to(1, RunStatus::TimedOut, "2024-05-01T11:00:00Z")],
        );
        assert_eq!(run1(&s).duration, 0.0);
    }

    #[test]
    fn transition_changes_apply_atomically() {
        let mut s = run_in(RunStatus::Running);
        let cmd = Command::Transition {
            run_id: 1,
            to: RunStatus::AbortedByUser,
            reason: "stopped via API".into(),
            at: "2024-05-01T12:00:31Z".into(),
            changes: RunChanges {
                stopped_by_id: Some(42),
                exit_code: Some(103),
                abort_reason: Some(AbortReason::ApiStop),
                processing_status: Some(ProcessingStatus::Processing),
                ..RunChanges::default()
            },
        };
        apply_all(&mut s, &[cmd]);
        let r = run1(&s);
        assert_eq!(r.run_status, RunStatus::AbortedByUser);
        assert_eq!(r.stopped_by_id, Some(42));
        assert_eq!(r.exit_code, Some(103));
        assert_eq!(r.abort_reason, Some(AbortReason::ApiStop));
        // Set explicitly: the summary is still being merged.
        assert_eq!(r.processing_status, ProcessingStatus::Processing);
        assert_eq!(r.duration, 30.0);

        // A refused transition applies none of its changes.
        let mut s = run_in(RunStatus::Running);
        let before = s.clone();
        let bad = Command::Transition {
            run_id: 1,
            to: RunStatus::Finished,
            reason: "done".into(),
            at: "yesterday".into(),
            changes: RunChanges {
                result_status: Some(ResultStatus::Failed),
                ..RunChanges::default()
            },
        };
        assert!(matches!(
            s.apply(9, &bad),
            Err(StateError::BadTimestamp { .. })
        ));
        assert_eq!(s, before);
    }

    #[test]
    fn processing_error_survives_terminal() {
        let mut s = run_in(RunStatus::Running);
        apply_all(
            &mut s,
            &[
                Command::UpdateRun {
                    run_id: 1,
                    changes: RunChanges {
                        processing_status: Some(ProcessingStatus::Error),
                        ..RunChanges::default()
                    },
                },
                to(1, RunStatus::Finished, "2024-05-01T12:01:00Z"),
            ],
        );
        assert_eq!(run1(&s).processing_status, ProcessingStatus::Error);
    }

    #[test]
    fn transition_needs_reason_and_timestamp() {
        let mut s = run_in(RunStatus::Queued);
        let before = s.clone();
        let no_reason = Command::Transition {
            run_id: 1,
            to: RunStatus::Initializing,
            reason: " ".into(),
            at: T0.into(),
            changes: RunChanges::default(),
        };
        let e = s.apply(10, &no_reason).err();
        assert!(e
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("has no reason"));
        let e = s
            .apply(10, &to(1, RunStatus::Initializing, "2024-05-01T12:00:00"))
            .err();
        let msg = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.starts_with("Transition.at: \"2024-05-01T12:00:00\" is not an RFC 3339"),
            "{msg}"
        );
        assert_eq!(s, before);
    }

    #[test]
    fn update_run_changes_only_given_fields() {
        let mut s = run_in(RunStatus::Running);
        let before = run1(&s).clone();
        apply_all(
            &mut s,
            &[Command::UpdateRun {
                run_id: 1,
                changes: RunChanges {
                    vus: Some(200),
                    result_status: Some(ResultStatus::Failed),
                    error_code: Some(7),
                    error_detail: Some("agent gen-2 lost".into()),
                    degraded: Some(true),
                    note: Some("rerun".into()),
                    ..RunChanges::default()
                },
            }],
        );
        let r = run1(&s);
        assert_eq!(r.vus, 200);
        assert_eq!(r.result_status, ResultStatus::Failed);
        assert_eq!(r.error_code, Some(7));
        assert_eq!(r.error_detail.as_deref(), Some("agent gen-2 lost"));
        assert!(r.degraded);
        assert_eq!(r.note, "rerun");
        assert_eq!(r.exit_code, before.exit_code);
        assert_eq!(r.stopped_by_id, before.stopped_by_id);
        assert_eq!(r.processing_status, before.processing_status);
        assert_eq!(r.run_status, before.run_status);
        assert_eq!(r.transitions, before.transitions);

        // Terminal runs still take field updates (results are finalized after the end).
        apply_all(
            &mut s,
            &[to(1, RunStatus::Finished, "2024-05-01T12:01:00Z")],
        );
        apply_all(
            &mut s,
            &[Command::UpdateRun {
                run_id: 1,
                changes: RunChanges {
                    exit_code: Some(99),
                    ..RunChanges::default()
                },
            }],
        );
        assert_eq!(run1(&s).exit_code, Some(99));
    }

    #[test]
    fn update_run_validates() {
        let mut s = run_in(RunStatus::Running);
        let before = s.clone();
        // A status that has no number cannot even be a command: the log never holds one.
        for bad in [
            json!({"type": "UpdateRun", "run_id": 1, "result_status": 2}),
            json!({"type": "UpdateRun", "run_id": 1, "result_status": -1}),
            json!({"type": "UpdateRun", "run_id": 1, "processing_status": 4}),
            json!({"type": "UpdateRun", "run_id": 1, "processing_status": -1}),
            json!({"type": "Transition", "run_id": 1, "to": 10, "reason": "x", "at": T0}),
            json!({"type": "Transition", "run_id": 1, "to": -3, "reason": "x", "at": T0}),
        ] {
            let e = serde_json::from_value::<Command>(bad.clone());
            assert!(e.is_err(), "{bad} decoded");
        }
        let good =
            json!({"type": "UpdateRun", "run_id": 1, "result_status": 1, "processing_status": 3});
        let cmd = serde_json::from_value::<Command>(good);
        assert!(
            matches!(
                &cmd,
                Ok(Command::UpdateRun {
                    changes: RunChanges {
                        result_status: Some(ResultStatus::Failed),
                        processing_status: Some(ProcessingStatus::Error),
                        ..
                    },
                    ..
                })
            ),
            "{cmd:?}"
        );
        let e = s.apply(
            10,
            &Command::UpdateRun {
                run_id: 2,
                changes: RunChanges::default(),
            },
        );
        assert_eq!(e, Err(StateError::UnknownRun(2)));
        assert_eq!(s, before);
    }

    fn assignment(agent: &str, segment: &str) -> Assignment {
        Assignment {
            agent: agent.into(),
            segment: segment.into(),
            sequence: "0,1/3,2/3,1".into(),
        }
    }

    #[test]
    fn assign_and_summary() {
        let mut s = run_in(RunStatus::Queued);
        let a = vec![assignment("gen-1", "0:1/3"), assignment("gen-2", "1/3:2/3")];
        let r = apply_all(
            &mut s,
            &[Command::Assign {
                run_id: 1,
                assignments: a.clone(),
            }],
        );
        assert_eq!(r[0].effect, Effect::RunAssigned { run_id: 1 });
        assert_eq!(run1(&s).assignments, a);

        let dup = vec![assignment("gen-1", "0:1/2"), assignment("gen-1", "1/2:1")];
        let e = s
            .apply(
                10,
                &Command::Assign {
                    run_id: 1,
                    assignments: dup,
                },
            )
            .err();
        assert!(e
            .map(|e| e.to_string())
            .unwrap_or_default()
            .contains("assigned twice"));
        let empty = vec![assignment("", "0:1")];
        assert!(s
            .apply(
                10,
                &Command::Assign {
                    run_id: 1,
                    assignments: empty
                }
            )
            .is_err());

        let summary = json!({"metrics": {"iterations": {"values": {"count": 3000}}}});
        apply_all(
            &mut s,
            &[
                to(1, RunStatus::AbortedBySystem, T0),
                Command::SetSummary {
                    run_id: 1,
                    summary: summary.clone(),
                },
            ],
        );
        assert_eq!(run1(&s).summary, Some(summary));
        let e = s
            .apply(
                20,
                &Command::Assign {
                    run_id: 1,
                    assignments: a,
                },
            )
            .err();
        assert_eq!(
            e.map(|e| e.to_string()).unwrap_or_default(),
            "run 1 is ABORTED_BY_SYSTEM (terminal); its placement can no longer change"
        );
        let e = s.apply(
            20,
            &Command::SetSummary {
                run_id: 5,
                summary: json!({}),
            },
        );
        assert_eq!(e, Err(StateError::UnknownRun(5)));
    }

    #[test]
    fn queries() {
        let mut s = State::new();
        apply_all(
            &mut s,
            &[
                create_test(T0),
                create_test(T0),
                create_run(1, T0),
                create_run(2, T0),
                create_run(1, T0),
                create_run(1, T0),
                to(1, RunStatus::Queued, T0),
                to(3, RunStatus::Queued, T0),
                to(4, RunStatus::Running, T0),
                to(4, RunStatus::Finished, T0),
            ],
        );
        let ids = |it: &mut dyn Iterator<Item = &Run>| it.map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(&mut s.runs()), vec![1, 2, 3, 4]);
        assert_eq!(ids(&mut s.runs_of_test(1)), vec![1, 3, 4]);
        assert_eq!(ids(&mut s.runs_of_test(2)), vec![2]);
        assert_eq!(ids(&mut s.runs_of_test(9)), Vec::<u64>::new());
        assert_eq!(ids(&mut s.runs_in_status(RunStatus::Queued)), vec![1, 3]);
        assert_eq!(ids(&mut s.runs_in_status(RunStatus::Created)), vec![2]);
        assert_eq!(ids(&mut s.non_terminal_runs()), vec![1, 2, 3]);
        assert!(s.run(5).is_none());
        assert!(s.test(3).is_none());
    }

    #[test]
    fn index_rules() {
        let mut s = State::new();
        assert!(s.apply(5, &create_test(T0)).is_ok());
        assert_eq!(s.applied_index(), 5);
        // Gaps are fine; going back or repeating is not.
        assert_eq!(
            s.apply(5, &create_test(T0)),
            Err(StateError::StaleIndex {
                index: 5,
                applied: 5
            })
        );
        assert!(s.apply(3, &create_test(T0)).is_err());
        assert!(s.apply(9, &create_test(T0)).is_ok());
        assert_eq!(s.tests().count(), 2);

        // A prepared command must be committed before anything else is applied.
        let p = s.prepare(10, &create_test(T0));
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.index(), 10);
        assert_eq!(p.effect(), &Effect::TestCreated { test_id: 3 });
        assert!(s.apply(10, &create_test(T0)).is_ok());
        assert_eq!(
            s.commit(p).err(),
            Some(StateError::StalePrepared {
                prepared_at: 9,
                now: 10
            })
        );
    }

    fn sample_log() -> Vec<Command> {
        vec![
            create_test(T0),
            create_run(1, T0),
            to(1, RunStatus::Validated, "2024-05-01T12:00:01Z"),
            to(1, RunStatus::Queued, "2024-05-01T12:00:01Z"),
            Command::Assign {
                run_id: 1,
                assignments: vec![assignment("gen-1", "0:1")],
            },
            to(1, RunStatus::Initializing, "2024-05-01T12:00:02Z"),
            to(1, RunStatus::Running, "2024-05-01T12:00:03.333Z"),
            Command::UpdateRun {
                run_id: 1,
                changes: RunChanges {
                    vus: Some(10),
                    ..RunChanges::default()
                },
            },
            Command::Transition {
                run_id: 1,
                to: RunStatus::AbortedByThreshold,
                reason: "threshold p(95)<200 on http_req_duration failed".into(),
                at: "2024-05-01T12:00:13.001Z".into(),
                changes: RunChanges {
                    result_status: Some(ResultStatus::Failed),
                    exit_code: Some(99),
                    ..RunChanges::default()
                },
            },
            Command::SetSummary {
                run_id: 1,
                summary: json!({"metrics": {"x": 0.1}}),
            },
            create_run(1, "2024-05-01T12:01:00Z"),
        ]
    }

    #[test]
    fn same_log_same_state() {
        let log = sample_log();
        let mut a = State::new();
        let mut b = State::new();
        let ra = apply_all(&mut a, &log);
        let rb = apply_all(&mut b, &log);
        assert_eq!(ra, rb);
        assert_eq!(a, b);
        assert_eq!(run1(&a).duration, 9.668);
        // The serialized form is identical too (byte for byte), so snapshots agree.
        let ja = serde_json::to_string(&a).unwrap_or_default();
        let jb = serde_json::to_string(&b).unwrap_or_default();
        assert!(!ja.is_empty());
        assert_eq!(ja, jb);
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut a = State::new();
        apply_all(&mut a, &sample_log());
        let json = serde_json::to_vec(&a).unwrap_or_default();
        let b: State = match serde_json::from_slice(&json) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(a, b);
        // And it keeps working identically after the round trip.
        let (mut a, mut b) = (a, b);
        apply_all(&mut a, &[create_run(1, T0)]);
        apply_all(&mut b, &[create_run(1, T0)]);
        assert_eq!(a, b);
    }

    #[test]
    fn commands_round_trip_with_type_tag() {
        for cmd in sample_log() {
            let json = serde_json::to_value(&cmd).unwrap_or_default();
            assert!(
                json.get("type").and_then(|t| t.as_str()).is_some(),
                "{json}"
            );
            let back: Command = match serde_json::from_value(json.clone()) {
                Ok(c) => c,
                Err(e) => panic!("{json}: {e}"),
            };
            assert_eq!(back, cmd);
        }
        // UpdateRun keeps its fields flat, as the rest of the API does.
        let json = serde_json::to_value(Command::UpdateRun {
            run_id: 3,
            changes: RunChanges {
                vus: Some(5),
                ..RunChanges::default()
            },
        })
        .unwrap_or_default();
        assert_eq!(json, json!({"type": "UpdateRun", "run_id": 3, "vus": 5}));
        // Older logs without optional fields still read.
        let old: Result<Command, _> = serde_json::from_value(json!({
            "type": "CreateRun", "test_id": 1, "user_id": 0, "at": T0
        }));
        assert!(
            matches!(old, Ok(Command::CreateRun { config: None, .. })),
            "{old:?}"
        );
        let old: Result<Command, _> = serde_json::from_value(json!({
            "type": "Transition", "run_id": 1, "to": 2, "reason": "r", "at": T0
        }));
        assert!(old.is_ok(), "{old:?}");
        let unknown: Result<Command, _> =
            serde_json::from_value(json!({"type": "Explode", "run_id": 1}));
        assert!(unknown.is_err());
    }
}
