//! Unit tests of the state machine: each command, each transition pair, the rules it enforces.
//! The shared commands and helpers live here, one file per command family below.

use super::idempotency::KeyKind;
use super::*;
use crate::model::{
    AbortReason, Assignment, ProcessingStatus, ResultStatus, StopRequest, Transition,
};
use serde_json::json;
use volley_api::Role;

mod assign;
mod create;
mod idempotent_creates;
mod log;
mod retention;
mod stop;
mod transitions;
mod update;
mod writes_sent_again;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

const T0: &str = "2024-05-01T12:00:00Z";

fn create_test(at: &str) -> Command {
    Command::CreateTest {
        name: "checkout".into(),
        project_id: 3,
        archive_sha256: SHA.to_uppercase(),
        archive_size: 1234,
        config: json!({"vus": 10, "duration": "30s"}),
        at: at.into(),
        idempotency_key: None,
    }
}

fn create_run(test_id: u64, at: &str) -> Command {
    Command::CreateRun {
        test_id,
        env: BTreeMap::from([("BASE".to_string(), "http://x".to_string())]),
        note: "nightly".into(),
        config: None,
        run_process: None,
        user_id: 42,
        started_by: "ci".into(),
        at: at.into(),
        idempotency_key: None,
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

/// The shortest way from CREATED to `status` through the transition table (one step for
/// every status today).
fn path_to(status: RunStatus) -> Vec<RunStatus> {
    let mut paths = vec![vec![RunStatus::Created]];
    while !paths.is_empty() {
        if let Some(p) = paths.iter().find(|p| p.last() == Some(&status)) {
            return p[1..].to_vec();
        }
        paths = paths
            .iter()
            .flat_map(|p| {
                let last = p.last().copied().unwrap_or(RunStatus::Created);
                last.successors()
                    .iter()
                    .filter(|s| !p.contains(s))
                    .map(|s| [p.as_slice(), &[*s]].concat())
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    panic!("{status:?} cannot be reached from CREATED")
}

/// A state with test 1 and run 1 in `status` (reached from CREATED by [`path_to`]).
fn run_in(status: RunStatus) -> State {
    let mut s = State::new();
    apply_all(&mut s, &[create_test(T0), create_run(1, T0)]);
    for step in path_to(status) {
        apply_all(&mut s, &[to(1, step, "2024-05-01T12:00:01Z")]);
    }
    s
}

fn run1(s: &State) -> &Run {
    match s.run(1) {
        Some(r) => r,
        None => panic!("run 1 missing"),
    }
}

fn assignment(agent: &str, segment: &str) -> Assignment {
    Assignment {
        agent: agent.into(),
        segment: segment.into(),
    }
}

/// `assignments` of the sequence `0,1/3,2/3,1`.
fn placement(assignments: Vec<Assignment>) -> RunPlacement {
    RunPlacement {
        sequence: "0,1/3,2/3,1".into(),
        assignments,
    }
}
