//! Creating tests and runs (`CreateTest`, `CreateRun`), each optionally under an idempotency
//! key: a key seen before makes nothing new and answers with what the first create made.

use super::idempotency::{self, KeyKind};
use super::{
    canonical_timestamp, next_id, timestamp, Command, Effect, Prepared, State, StateError,
    CREATED_REASON, RUN_PROCESS, RUN_VERSION,
};
use crate::model::{ProcessingStatus, ResultStatus, Run, RunStatus, Test, Transition};

impl State {
    /// A new test: its id is the next test id.
    pub(super) fn prepare_create_test(
        &self,
        p: &mut Prepared,
        index: u64,
        cmd: &Command,
    ) -> Result<(), StateError> {
        let Command::CreateTest {
            name,
            project_id,
            archive_sha256,
            archive_size,
            config,
            at,
            idempotency_key,
        } = cmd
        else {
            return Err(super::not_a("CreateTest", cmd));
        };
        let id = self.next_test_id;
        let subject = || format!("test {id}");
        let at = canonical_timestamp("CreateTest.at", at)?;
        if name.trim().is_empty() {
            return Err(StateError::Invalid {
                subject: subject(),
                problem: "the name must not be empty; give the test a name".into(),
            });
        }
        if archive_sha256.len() != 64 || !archive_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
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
                    return Ok(());
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
        Ok(())
    }

    /// A new run of a test, CREATED: its id is the next run id.
    pub(super) fn prepare_create_run(
        &self,
        p: &mut Prepared,
        index: u64,
        cmd: &Command,
    ) -> Result<(), StateError> {
        let Command::CreateRun {
            test_id,
            env,
            note,
            config,
            run_process,
            user_id,
            started_by,
            at,
            idempotency_key,
        } = cmd
        else {
            return Err(super::not_a("CreateRun", cmd));
        };
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
                    return Ok(());
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
            sequence: String::new(),
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
        Ok(())
    }

    /// A keyed create: `Ok(id)` when `key` was seen with the same request (the id it made),
    /// else the change that records it for the new `id`. The key is checked first (the API
    /// checks it too; a command from elsewhere is checked here).
    pub(super) fn key_seen(
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
}
