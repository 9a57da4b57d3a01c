//! Why the state machine rejects a command, and how an API reports it.

use thiserror::Error;

use super::timestamp;
use super::transition::successor_names;
use crate::model::RunStatus;

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
