//! The API's views of tests and runs: the [`volley_api`] types the handlers send, made from
//! the stored model. `$select` accepts exactly the fields of these types (read from their
//! OpenAPI schemas), so a field added to a view is selectable and documented at once.

use std::sync::OnceLock;

use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;
use volley_api::{RunView, TestView};

use crate::model::{Run, Test};

/// The archive is not repeated in every run: `k6_archive` is the path of the test that holds it.
fn archive_ref(test_id: u64) -> String {
    format!("/loadtests/v2/tests/{test_id}")
}

/// A run as the API shows it. `export` and `request_builder_config` are always null (Volley has
/// neither feature); `vus_per_instance` is the run's VUs over its agents, rounded up (0 before
/// placement). The env given at submit and the summary are not included: env values may be
/// secrets, and the summary has its own endpoint.
pub fn run_view(run: &Run) -> RunView {
    let vus_per_instance = match run.assignments.len() as u64 {
        0 => 0,
        n => run.vus.div_ceil(n),
    };
    RunView {
        config: run.config.clone(),
        created: run.created.clone(),
        duration: run.duration,
        ended: run.ended.clone(),
        error_code: run.error_code,
        error_detail: run.error_detail.clone(),
        export: None,
        id: run.id,
        is_baseline: run.is_baseline,
        k6_archive: archive_ref(run.test_id),
        load_time: run.load_time,
        note: run.note.clone(),
        organization_id: run.organization_id,
        processing_status: run.processing_status,
        project_id: run.project_id,
        public_id: run.public_id.clone(),
        request_builder_config: None,
        result_status: run.result_status,
        run_process: run.run_process.clone(),
        run_status: run.run_status,
        // Filled in for views of one run; lists leave it empty.
        script: String::new(),
        started: run.started.clone(),
        stopped_by_id: run.stopped_by_id,
        test_id: run.test_id,
        user_id: run.user_id,
        started_by: run.started_by.clone(),
        version: run.version,
        vus: run.vus,
        vus_per_instance,
        transitions: run.transitions.clone(),
        sequence: run.sequence.clone(),
        assignments: run.assignments.clone(),
        exit_code: run.exit_code,
        abort_reason: run.abort_reason.clone(),
        degraded: run.degraded,
        events: run.events.clone(),
    }
}

/// A test as the API shows it. Volley has no users yet, so `user_id` is 0;
/// `last_test_run_id` is the newest run's id or null.
pub fn test_view(test: &Test) -> TestView {
    TestView {
        id: test.id,
        project_id: test.project_id,
        user_id: 0,
        name: test.name.clone(),
        created: test.created.clone(),
        updated: test.updated.clone(),
        last_test_run_id: test.test_run_ids.iter().max().copied(),
        test_run_ids: test.test_run_ids.clone(),
        // Filled in for views of one test; lists leave it empty.
        script: String::new(),
        config: test.config.clone(),
        archive_size: test.archive_size,
        archive_sha256: test.archive_sha256.clone(),
    }
}

/// The property names of `T`'s OpenAPI schema, in declaration (= serialization) order: the
/// fields a view sends, or a request body accepts.
pub(super) fn schema_fields<T: ToSchema>() -> Vec<String> {
    match T::schema() {
        RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Every key of a run object, in output order; what `$select` accepts for runs.
pub fn run_fields() -> &'static [String] {
    static FIELDS: OnceLock<Vec<String>> = OnceLock::new();
    FIELDS.get_or_init(schema_fields::<RunView>)
}

/// Every key of a test object, in output order; what `$select` accepts for tests.
pub fn test_fields() -> &'static [String] {
    static FIELDS: OnceLock<Vec<String>> = OnceLock::new();
    FIELDS.get_or_init(schema_fields::<TestView>)
}

#[cfg(test)]
pub(crate) mod fixtures {
    use std::collections::BTreeMap;

    use crate::model::{
        Assignment, ProcessingStatus, ResultStatus, Run, RunStatus, Test, Transition,
    };

    pub fn test(id: u64, project_id: u64, runs: Vec<u64>) -> Test {
        Test {
            id,
            name: format!("test {id}"),
            project_id,
            created: "2026-01-01T00:00:00Z".into(),
            updated: "2026-01-01T00:00:00Z".into(),
            archive_size: 10,
            archive_sha256: "ab".repeat(32),
            config: serde_json::json!({"vus": 10}),
            test_run_ids: runs,
        }
    }

    pub fn run(id: u64, test_id: u64, status: RunStatus) -> Run {
        Run {
            id,
            test_id,
            project_id: 1,
            organization_id: 0,
            user_id: 0,
            started_by: String::new(),
            created: "2026-01-01T00:00:00Z".into(),
            started: None,
            ended: None,
            duration: 0.0,
            load_time: 0.0,
            run_status: status,
            processing_status: ProcessingStatus::NotStarted,
            result_status: ResultStatus::Passed,
            vus: 10,
            error_code: None,
            error_detail: None,
            note: String::new(),
            stopped_by_id: None,
            public_id: Some(format!("pub-{id}")),
            config: serde_json::json!({"vus": 10}),
            run_process: "Volley cluster".into(),
            version: 2,
            is_baseline: false,
            transitions: vec![Transition {
                from: RunStatus::Created,
                to: status,
                at: "2026-01-01T00:00:01Z".into(),
                reason: "test".into(),
            }],
            sequence: "0,1/3,2/3,1".into(),
            assignments: vec![
                Assignment {
                    agent: "gen-1".into(),
                    segment: "0:1/3".into(),
                },
                Assignment {
                    agent: "gen-2".into(),
                    segment: "1/3:2/3".into(),
                },
                Assignment {
                    agent: "gen-3".into(),
                    segment: "2/3:1".into(),
                },
            ],
            exit_code: None,
            abort_reason: None,
            degraded: false,
            events: Vec::new(),
            summary: Some(serde_json::json!({"metrics": {}})),
            env: BTreeMap::from([("TOKEN".to_string(), "secret".to_string())]),
            stop_request: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::model::RunStatus;

    fn keys(v: &impl serde::Serialize) -> Vec<String> {
        match serde_json::to_value(v) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn run_keys_are_exactly_run_fields_in_order() {
        let v = run_view(&fixtures::run(1, 2, RunStatus::Running));
        assert_eq!(keys(&v), run_fields());
        assert_eq!(run_fields().len(), 36);
        assert_eq!(run_fields()[0], "config");
        assert_eq!(run_fields()[35], "events");
    }

    #[test]
    fn test_keys_are_exactly_test_fields_in_order() {
        let v = test_view(&fixtures::test(1, 2, vec![3, 9, 4]));
        assert_eq!(keys(&v), test_fields());
        assert_eq!(v.last_test_run_id, Some(9));
        assert_eq!(v.user_id, 0);
        let m = serde_json::to_value(test_view(&fixtures::test(1, 2, vec![]))).unwrap();
        assert_eq!(m["last_test_run_id"], Value::Null);
    }

    #[test]
    fn run_values_follow_the_k6_shape() {
        let m = serde_json::to_value(run_view(&fixtures::run(7, 2, RunStatus::Queued))).unwrap();
        assert_eq!(m["id"], 7);
        assert_eq!(m["test_id"], 2);
        assert_eq!(m["run_status"], 0);
        assert_eq!(m["export"], Value::Null);
        assert_eq!(m["request_builder_config"], Value::Null);
        assert_eq!(m["error_code"], Value::Null);
        assert_eq!(m["stopped_by_id"], Value::Null);
        assert_eq!(m["k6_archive"], "/loadtests/v2/tests/2");
        assert_eq!(m["version"], 2);
        // 10 VUs over 3 agents.
        assert_eq!(m["vus_per_instance"], 4);
        assert_eq!(m["assignments"][1]["agent"], "gen-2");
        // The sequence once, at the run: not in every assignment (docs/rest-api.md).
        assert_eq!(m["sequence"], "0,1/3,2/3,1");
        assert_eq!(
            m["assignments"][1],
            serde_json::json!({"agent": "gen-2", "segment": "1/3:2/3"})
        );
        assert_eq!(m["transitions"][0]["reason"], "test");
        // Secrets and the (large) summary stay out.
        assert!(m.get("env").is_none());
        assert!(m.get("summary").is_none());
    }

    #[test]
    fn vus_per_instance_is_zero_before_placement() {
        let mut r = fixtures::run(1, 1, RunStatus::Created);
        r.assignments.clear();
        assert_eq!(run_view(&r).vus_per_instance, 0);
    }
}
