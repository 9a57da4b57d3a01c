//! The OpenAPI 3.1 document served at `/openapi.json`, written by hand (no codegen dependency).
//! Tests keep it honest: every route of the router appears with its methods and nothing else,
//! every `$ref` resolves, and the run/test/agent schemas list exactly the keys the API sends.

use serde_json::{json, Map, Value};

use volley_common::status::{ProcessingStatus, ResultStatus, RunStatus};

use super::views::{RUN_FIELDS, TEST_FIELDS};

/// An integer enum's schema from its `(number, name)` pairs, e.g. `0 PASSED, 1 FAILED.`
fn numbered(values: impl IntoIterator<Item = (i32, &'static str)>, more: &str) -> Value {
    let (numbers, names): (Vec<i32>, Vec<String>) = values
        .into_iter()
        .map(|(n, name)| (n, format!("{n} {name}")))
        .unzip();
    json!({
        "type": "integer",
        "enum": numbers,
        "description": format!("{}.{more}", names.join(", ")),
    })
}

fn run_status_schema() -> Value {
    let terminal: Vec<String> = RunStatus::ALL
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| s.number().to_string())
        .collect();
    numbered(
        RunStatus::ALL.map(|s| (s.number(), s.name())),
        &format!(" Terminal (final): {}.", terminal.join(", ")),
    )
}

fn err_ref(desc: &str) -> Value {
    json!({
        "description": desc,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok_ref(desc: &str, schema: &str) -> Value {
    json!({
        "description": desc,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn ok_any(desc: &str) -> Value {
    json!({
        "description": desc,
        "content": {"application/json": {"schema": {"type": "object"}}}
    })
}

fn param(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

fn select_param(fields: &[&str], example: &str) -> Value {
    json!({
        "name": "$select",
        "in": "query",
        "required": false,
        "description": format!(
            "Comma-separated subset of fields to return (alias `select`). Unknown names → 400 \
             `unknown_select_field` naming them. Fields: {}.",
            fields.join(", ")
        ),
        "schema": {"type": "string"},
        "example": example,
    })
}

fn components_parameters() -> Value {
    json!({
        "TestId": {
            "name": "id", "in": "path", "required": true,
            "description": "A unique integer value identifying this test.",
            "schema": {"type": "integer", "minimum": 0}
        },
        "RunId": {
            "name": "id", "in": "path", "required": true,
            "description": "ID of the test run.",
            "schema": {"type": "integer", "minimum": 0}
        },
        "AgentName": {
            "name": "name", "in": "path", "required": true,
            "description": "The agent's name (`volley agent --name`).",
            "schema": {"type": "string"}
        },
        "Ids": {
            "name": "ids[]", "in": "query", "required": false,
            "description": "Only these ids; repeat it (`ids[]=1&ids[]=3`) or give a comma list (alias `ids`).",
            "schema": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "style": "form", "explode": true
        },
        "RunSelect": select_param(RUN_FIELDS, "id,test_id,run_status,created"),
        "TestSelect": select_param(TEST_FIELDS, "id,name,test_run_ids"),
    })
}

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

fn run_schema() -> Value {
    json!({
        "type": "object",
        "description": "A test run: every field of the k6 legacy `k6-run` object, then Volley's own. \
                        `k6_archive` never carries bytes: it is the path of the test holding the archive.",
        "properties": {
            "config": {"type": "object", "description": "Consolidated options (k6 shape)."},
            "created": {"type": "string", "description": "RFC 3339 UTC."},
            "duration": {"type": "number", "description": "Seconds from started to ended (or to now while running)."},
            "ended": nullable("string"),
            "error_code": nullable("integer"),
            "error_detail": nullable("string"),
            "export": {"type": "null", "description": "Always null: Volley has no cloud export."},
            "id": {"type": "integer"},
            "is_baseline": {"type": "boolean"},
            "k6_archive": {"type": "string", "description": "`/loadtests/v2/tests/{test_id}`: the test that holds the archive."},
            "load_time": {"type": "number"},
            "note": {"type": "string"},
            "organization_id": {"type": "integer"},
            "processing_status": numbered(ProcessingStatus::ALL.map(|s| (s.number(), s.name())), ""),
            "project_id": {"type": "integer"},
            "public_id": nullable("string"),
            "request_builder_config": {"type": "null", "description": "Always null."},
            "result_status": numbered(ResultStatus::ALL.map(|s| (s.number(), s.name())), ""),
            "run_process": {"type": "string"},
            "run_status": {"$ref": "#/components/schemas/RunStatus"},
            "script": {"type": "string", "description": "The entry script's source."},
            "started": nullable("string"),
            "stopped_by_id": nullable("integer"),
            "test_id": {"type": "integer"},
            "user_id": {"type": "integer"},
            "version": {"type": "integer"},
            "vus": {"type": "integer"},
            "vus_per_instance": {"type": "integer", "description": "vus over the run's agents, rounded up; 0 before placement."},
            "transitions": {"type": "array", "items": {"$ref": "#/components/schemas/Transition"},
                "description": "Volley: every status change with time and reason."},
            "assignments": {"type": "array", "items": {"$ref": "#/components/schemas/Assignment"},
                "description": "Volley: the agents the run was placed on, with their execution segments."},
            "exit_code": {"type": ["integer", "null"], "description": "Volley: the exit code `volley run` would give for this run."},
            "abort_reason": {"type": ["object", "null"], "description": "Volley: why the run was aborted, if it was."},
            "degraded": {"type": "boolean", "description": "Volley: the run went on after losing an agent."},
            "events": run_events_schema(),
        },
        "required": RUN_FIELDS,
    })
}

fn test_schema() -> Value {
    json!({
        "type": "object",
        "description": "A load test (k6 legacy `k6-test`), then Volley's own fields.",
        "properties": {
            "id": {"type": "integer"},
            "project_id": {"type": "integer"},
            "user_id": {"type": "integer", "description": "Always 0: Volley has no users yet."},
            "name": {"type": "string"},
            "created": {"type": "string"},
            "updated": {"type": "string"},
            "last_test_run_id": {"type": ["integer", "null"]},
            "test_run_ids": {"type": "array", "items": {"type": "integer"}},
            "script": {"type": "string"},
            "config": {"type": "object", "description": "Volley: consolidated options read from the archive."},
            "archive_size": {"type": "integer", "description": "Volley: archive size in bytes."},
            "archive_sha256": {"type": "string", "description": "Volley: hex SHA-256 of the archive."},
        },
        "required": TEST_FIELDS,
    })
}

fn agent_schemas() -> Value {
    json!({
        "AgentView": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "state": {"type": "string", "enum": ["idle", "busy", "lost"]},
                "run_id": nullable("integer"),
                "version": {"type": "string"},
                "max_vus": {"type": "integer"},
                "cpus": {"type": "integer"},
                "cpu_percent": {"type": "number"},
                "memory_used_bytes": {"type": "integer"},
                "memory_total_bytes": {"type": "integer"},
                "memory_percent": {"type": "number"},
                "process_rss_bytes": {"type": "integer"},
                "active_vus": {"type": "integer"},
                "requests_per_second": {"type": "number"},
                "iterations_per_second": {"type": "number"},
                "dropped_iterations": {"type": "integer"},
                "heartbeat_age_s": {"type": "number", "description": "Seconds since the last heartbeat."},
                "health": {"type": "string", "enum": ["ok", "warning", "overloaded"],
                    "description": "warning at ≥ 80 % CPU or memory, overloaded at ≥ 90 %."},
                "connected_since": {"type": "string"},
            }
        },
        "UtilizationSample": {
            "type": "object",
            "properties": {
                "at": {"type": "string"},
                "cpu_percent": {"type": "number"},
                "memory_percent": {"type": "number"},
                "process_rss_bytes": {"type": "integer"},
                "active_vus": {"type": "integer"},
                "requests_per_second": {"type": "number"},
                "iterations_per_second": {"type": "number"},
            }
        },
        "AgentUtilization": {
            "type": "object",
            "properties": {
                "agent": {"type": "string"},
                "segment": {"type": "string"},
                "samples": {"type": "array", "items": {"$ref": "#/components/schemas/UtilizationSample"}},
            }
        },
        "AgentList": {
            "type": "object",
            "properties": {
                "agents": {"type": "array", "items": {"$ref": "#/components/schemas/AgentView"}},
                "meta": {"$ref": "#/components/schemas/Meta"},
            }
        },
        "AgentEnvelope": {
            "type": "object",
            "properties": {"agent": {"$ref": "#/components/schemas/AgentView"}}
        },
        "RunAgents": {
            "type": "object",
            "properties": {
                "run_id": {"type": "integer"},
                "agents": {"type": "array", "items": {"$ref": "#/components/schemas/AgentUtilization"}},
            }
        },
    })
}

fn other_schemas() -> Value {
    json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "status"],
                    "properties": {
                        "code": {"type": "string", "description": "Stable, machine-readable (e.g. `run_not_found`)."},
                        "message": {"type": "string", "description": "For humans: what is wrong and how to fix it."},
                        "status": {"type": "integer", "description": "The HTTP status, repeated."},
                    }
                }
            }
        },
        "RunStatus": run_status_schema(),
        "Transition": {
            "type": "object",
            "properties": {
                "from": {"$ref": "#/components/schemas/RunStatus"},
                "to": {"$ref": "#/components/schemas/RunStatus"},
                "at": {"type": "string"},
                "reason": {"type": "string"},
            }
        },
        "Assignment": {
            "type": "object",
            "properties": {
                "agent": {"type": "string"},
                "segment": {"type": "string", "description": "k6 execution segment, e.g. `0:1/3`."},
                "sequence": {"type": "string", "description": "k6 execution segment sequence."},
            }
        },
        "Meta": {"type": "object", "properties": {"count": {"type": "integer"}}},
        "RunEnvelope": {"type": "object", "properties": {"k6-run": {"$ref": "#/components/schemas/K6Run"}}},
        "RunList": {
            "type": "object",
            "properties": {
                "k6-runs": {"type": "array", "items": {"$ref": "#/components/schemas/K6Run"}},
                "meta": {"$ref": "#/components/schemas/Meta"},
            }
        },
        "TestEnvelope": {"type": "object", "properties": {"k6-test": {"$ref": "#/components/schemas/K6Test"}}},
        "TestList": {
            "type": "object",
            "properties": {
                "k6-tests": {"type": "array", "items": {"$ref": "#/components/schemas/K6Test"}},
                "meta": {"$ref": "#/components/schemas/Meta"},
            }
        },
        "CreateTestJson": {
            "type": "object",
            "required": ["name", "k6_archive"],
            "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 256},
                "project_id": {"type": "integer", "minimum": 0, "default": 0},
                "k6_archive": {"type": "string", "contentEncoding": "base64",
                    "description": "The archive tar (`volley archive`), standard base64; whitespace and missing padding are tolerated."},
            }
        },
        "CreateTestMultipart": {
            "type": "object",
            "required": ["name", "file"],
            "properties": {
                "name": {"type": "string"},
                "project_id": {"type": "integer", "minimum": 0, "default": 0},
                "file": {"type": "string", "contentMediaType": "application/x-tar",
                    "description": "The archive tar (alias field name `k6_archive`)."},
            }
        },
        "StartTestRun": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "env": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Environment variables for the script (`-e KEY=VALUE`)."},
                "note": {"type": "string"},
            }
        },
        "StopRun": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "stopped_by_id": {"type": "integer", "minimum": 0, "description": "Volley: who stopped the run, recorded as `stopped_by_id`."},
            }
        },
        "Health": {"type": "object", "properties": {"status": {"type": "string", "const": "ok"}}},
        "Index": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "links": {"type": "object", "additionalProperties": {"type": "string"}},
            }
        },
    })
}

fn test_paths() -> Value {
    json!({
        "/loadtests/v2/tests": {
            "get": {
                "operationId": "listTests",
                "tags": ["tests"],
                "summary": "List load tests",
                "parameters": [
                    {"name": "project_id", "in": "query", "required": false,
                     "description": "Only the tests of this project.", "schema": {"type": "integer", "minimum": 0}},
                    param("Ids"),
                    param("TestSelect"),
                ],
                "responses": {
                    "200": ok_ref("The tests, by id.", "TestList"),
                    "400": err_ref("Bad query (non-integer id, unknown parameter or `$select` field)."),
                }
            },
            "post": {
                "operationId": "createTest",
                "tags": ["tests"],
                "summary": "Create a load test with its archive",
                "requestBody": {
                    "required": true,
                    "description": "The body is limited (80 MiB by default); base64 in JSON costs a third more.",
                    "content": {
                        "multipart/form-data": {"schema": {"$ref": "#/components/schemas/CreateTestMultipart"}},
                        "application/json": {"schema": {"$ref": "#/components/schemas/CreateTestJson"}},
                    }
                },
                "responses": {
                    "201": {
                        "description": "Created; `Location` names the new test.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TestEnvelope"}}}
                    },
                    "400": err_ref("Missing/invalid field, bad JSON or multipart, bad base64, invalid archive."),
                    "413": err_ref("Body over the upload limit."),
                    "415": err_ref("Neither multipart/form-data nor application/json."),
                    "422": err_ref("The archive is well-formed but its options are not acceptable."),
                }
            }
        },
        "/loadtests/v2/tests/{id}": {
            "get": {
                "operationId": "getTest",
                "tags": ["tests"],
                "summary": "Read a load test",
                "parameters": [param("TestId"), param("TestSelect")],
                "responses": {
                    "200": ok_ref("The test.", "TestEnvelope"),
                    "400": err_ref("Bad id or query."),
                    "404": err_ref("No such test."),
                }
            }
        },
        "/loadtests/v2/tests/{id}/start-testrun": {
            "post": {
                "operationId": "startTestRun",
                "tags": ["runs"],
                "summary": "Start a run of a load test",
                "description": "Creates a run (CREATED → VALIDATED → QUEUED) and returns it; it starts when enough agents are idle.",
                "parameters": [param("TestId")],
                "requestBody": {
                    "required": false,
                    "description": "Optional; an empty body uses no env and an empty note.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StartTestRun"}}}
                },
                "responses": {
                    "200": ok_ref("The new run.", "RunEnvelope"),
                    "400": err_ref("Bad id, query or body."),
                    "404": err_ref("No such test."),
                    "413": err_ref("Body too large."),
                    "415": err_ref("Body is not JSON."),
                }
            }
        },
    })
}

fn run_paths() -> Value {
    json!({
        "/loadtests/v2/runs": {
            "get": {
                "operationId": "listRuns",
                "tags": ["runs"],
                "summary": "List test runs",
                "parameters": [
                    {"name": "test_id", "in": "query", "required": false,
                     "description": "Only the runs of this test (alias `$test_id`, as in the k6 docs' example); 404 if no such test.",
                     "schema": {"type": "integer", "minimum": 0}},
                    param("Ids"),
                    {"name": "public_id", "in": "query", "required": false,
                     "description": "Only the run with this public id.", "schema": {"type": "string"}},
                    param("RunSelect"),
                ],
                "responses": {
                    "200": ok_ref("The runs, by id.", "RunList"),
                    "400": err_ref("Bad query (non-integer id, unknown parameter or `$select` field)."),
                    "404": err_ref("No such test."),
                }
            }
        },
        "/loadtests/v2/runs/{id}": {
            "get": {
                "operationId": "getRun",
                "tags": ["runs"],
                "summary": "Read a test run",
                "parameters": [param("RunId"), param("RunSelect")],
                "responses": {
                    "200": ok_ref("The run (only the `$select`ed fields, if given).", "RunEnvelope"),
                    "400": err_ref("Bad id or query."),
                    "404": err_ref("No such run."),
                }
            }
        },
        "/loadtests/v2/runs/{id}/stop": {
            "post": {
                "operationId": "stopRun",
                "tags": ["runs"],
                "summary": "Stop a test run",
                "description": "Asks every agent of the run to stop; the run ends as ABORTED_BY_USER (5). Returns the run as it is now (it may take a moment to reach status 5).",
                "parameters": [param("RunId")],
                "requestBody": {
                    "required": false,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StopRun"}}}
                },
                "responses": {
                    "200": ok_ref("The run.", "RunEnvelope"),
                    "400": err_ref("Bad id, query or body."),
                    "404": err_ref("No such run."),
                    "409": err_ref("Run already finished (`run_finished`)."),
                    "413": err_ref("Body too large."),
                    "415": err_ref("Body is not JSON."),
                }
            }
        },
    })
}

fn volley_paths() -> Value {
    json!({
        "/v1/agents": {
            "get": {
                "operationId": "listAgents",
                "tags": ["agents"],
                "summary": "Registered agents with live telemetry",
                "responses": {
                    "200": ok_ref("The agents, by name.", "AgentList"),
                    "400": err_ref("Unexpected query parameter."),
                }
            }
        },
        "/v1/agents/{name}": {
            "get": {
                "operationId": "getAgent",
                "tags": ["agents"],
                "summary": "One agent",
                "parameters": [param("AgentName")],
                "responses": {
                    "200": ok_ref("The agent.", "AgentEnvelope"),
                    "400": err_ref("Unexpected query parameter."),
                    "404": err_ref("No such agent."),
                }
            }
        },
        "/v1/runs/{id}/agents": {
            "get": {
                "operationId": "getRunAgents",
                "tags": ["runs", "agents"],
                "summary": "Per-agent utilization over a run",
                "parameters": [param("RunId")],
                "responses": {
                    "200": ok_ref("One entry per agent of the run, with telemetry samples.", "RunAgents"),
                    "400": err_ref("Bad id or query."),
                    "404": err_ref("No such run."),
                }
            }
        },
        "/v1/runs/{id}/metrics": {
            "get": {
                "operationId": "getRunMetrics",
                "tags": ["runs"],
                "summary": "Live merged metric series of a run",
                "description": "The controller's merged per-interval series (exactly merged across agents), as the controller produces them.",
                "parameters": [param("RunId")],
                "responses": {
                    "200": ok_any("The merged series."),
                    "400": err_ref("Bad id or query."),
                    "404": err_ref("No such run (`run_not_found`), or no data yet (`metrics_not_available`)."),
                }
            }
        },
        "/v1/runs/{id}/report": {
            "get": {
                "operationId": "getRunReport",
                "tags": ["runs"],
                "summary": "End-of-test summary of a run, as Volley's SummaryReport",
                "description": "The data `volley submit --wait` renders as the text summary (metrics with their values and thresholds, the group tree, options, state and result).",
                "parameters": [param("RunId")],
                "responses": {
                    "200": ok_any("The SummaryReport."),
                    "400": err_ref("Bad id or query."),
                    "404": err_ref("No such run (`run_not_found`), or no summary yet (`summary_not_available`)."),
                }
            }
        },
        "/v1/runs/{id}/summary": {
            "get": {
                "operationId": "getRunSummary",
                "tags": ["runs"],
                "summary": "End-of-test summary of a run",
                "description": "The merged summary in the shape k6 passes to handleSummary(data).",
                "parameters": [param("RunId")],
                "responses": {
                    "200": ok_any("handleSummary-shaped data."),
                    "400": err_ref("Bad id or query."),
                    "404": err_ref("No such run (`run_not_found`), or no summary yet (`summary_not_available`)."),
                }
            }
        },
    })
}

fn meta_paths() -> Value {
    json!({
        "/": {
            "get": {
                "operationId": "index",
                "tags": ["meta"],
                "summary": "Name, version and links",
                "responses": {"200": ok_ref("Links to the main resources.", "Index")}
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "tags": ["meta"],
                "summary": "Liveness",
                "responses": {"200": ok_ref("The controller is serving.", "Health")}
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["meta"],
                "summary": "This document",
                "responses": {"200": ok_any("OpenAPI 3.1 document.")}
            }
        },
    })
}

fn merge_into(target: &mut Map<String, Value>, part: Value) {
    if let Value::Object(m) = part {
        target.extend(m);
    }
}

/// The OpenAPI 3.1 document of the API.
pub fn openapi_document() -> Value {
    let mut paths = Map::new();
    for part in [
        meta_paths(),
        test_paths(),
        run_paths(),
        volley_paths(),
        stream_paths(),
    ] {
        merge_into(&mut paths, part);
    }
    let mut schemas = Map::new();
    schemas.insert("K6Run".into(), run_schema());
    schemas.insert("K6Test".into(), test_schema());
    merge_into(&mut schemas, agent_schemas());
    merge_into(&mut schemas, other_schemas());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Volley controller API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The k6 legacy test-runs API (`/loadtests/v2`, same paths and field names) plus \
                            Volley's cluster endpoints (`/v1`). Every error is JSON: \
                            {\"error\": {\"code\", \"message\", \"status\"}}; unknown routes → 404, \
                            wrong methods → 405, bad input → 4xx. Unknown query parameters are rejected (400)."
        },
        "tags": [
            {"name": "tests", "description": "Load tests and their archives."},
            {"name": "runs", "description": "Test runs."},
            {"name": "agents", "description": "Load generators (Volley)."},
            {"name": "streams", "description": "Runs streamed from a local `volley run --out cloud=URL` (Volley)."},
            {"name": "meta", "description": "Service information."},
        ],
        "paths": paths,
        "components": {
            "parameters": components_parameters(),
            "schemas": schemas,
        }
    })
}

/// The schema of a run's `events` (its own function: the run schema is at `json!`'s recursion
/// limit).
fn run_events_schema() -> Value {
    json!({
        "type": "array",
        "description": "Volley: what happened during the run without changing its status (an agent busy, overloaded, disconnected or lost; a controller restart), oldest first.",
        "items": {
            "type": "object",
            "properties": {
                "at": {"type": "string", "format": "date-time"},
                "level": {"type": "string", "enum": ["info", "warning"]},
                "message": {"type": "string"}
            }
        }
    })
}

/// Runs streamed from a local `volley run --out cloud=URL`.
fn stream_paths() -> Value {
    let status = json!({
        "description": "What is durable and whether the run was stopped here.",
        "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {
                "acked_seq": {"type": "integer", "description": "Batches up to this sequence number are durable; the client may forget them."},
                "stop": {"description": "Set when the run was stopped on the controller (API stop, a limit, data_timeout): the local run should stop (an AbortReason)."},
                "run_status": {"type": "integer"}
            }
        }}}
    });
    json!({
        "/v1/streamed-runs": {
            "post": {
                "operationId": "createStreamedRun",
                "tags": ["streams"],
                "summary": "Create a run streamed from a local volley run",
                "description": "Creates a test (holding the entry script) and its run, RUNNING at once (`run_process` \"Volley run to controller\"). A run that sends nothing for `data_timeout` becomes TIMED_OUT.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["entry", "script", "options"],
                    "properties": {
                        "name": {"type": "string"},
                        "entry": {"type": "string", "description": "The script's file name."},
                        "script": {"type": "string"},
                        "options": {"type": "object", "description": "Consolidated k6 options."},
                        "source": {"type": "string", "description": "The host the run runs on."}
                    }
                }}}},
                "responses": {
                    "201": {"description": "The run: {id, test_id, run_status, url}."},
                    "400": err_ref("Invalid body or options."),
                    "413": err_ref("Body too large."),
                    "415": err_ref("Not JSON."),
                    "422": err_ref("A limit refuses the run (`limit_exceeded`)."),
                }
            }
        },
        "/v1/streamed-runs/{id}/metrics": {
            "post": {
                "operationId": "postStreamedRunBatch",
                "tags": ["streams"],
                "summary": "One interval's metric batch of a streamed run",
                "description": "Body: a protobuf `volley.v1.MetricBatch` (`application/x-protobuf`), sequence numbers from 1 without gaps. Each sequence number is merged once; resending is safe.",
                "parameters": [param("RunId")],
                "requestBody": {"required": true, "content": {"application/x-protobuf": {}}},
                "responses": {
                    "200": status.clone(),
                    "400": err_ref("Not a MetricBatch, or seq 0."),
                    "404": err_ref("No such streamed run."),
                    "415": err_ref("Not application/x-protobuf."),
                }
            }
        },
        "/v1/streamed-runs/{id}/finish": {
            "post": {
                "operationId": "finishStreamedRun",
                "tags": ["streams"],
                "summary": "End a streamed run",
                "description": "`{\"last_batch_seq\": N, \"abort_reason\": ..., \"marked_failed\": ..., \"iterations\": N}`. The run ends once every batch up to `last_batch_seq` is merged; a local Ctrl+C ends it as FINISHED.",
                "parameters": [param("RunId")],
                "responses": {
                    "200": status,
                    "400": err_ref("Invalid body."),
                    "404": err_ref("No such streamed run."),
                }
            }
        },
    })
}
