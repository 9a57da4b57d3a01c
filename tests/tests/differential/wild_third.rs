//! The third sweep of `wild_*` cases: the differences the second sweep left listed (`res.json()`
//! of a body that is not JSON, URLs Go cannot parse, a refused request's fields, `Infinity` in
//! a rate, `k6/encoding`'s inputs), then scripts in the styles of published ones for what the
//! earlier sweeps did not cover: scenarios with `exec` and setup data, `k6/execution`, cookie
//! jars, `http.batch` and `http.file`, URLs as written, `k6/html` tables, timers and promises,
//! dates and web globals, threshold expressions, responses inspected field by field, groups
//! and checks as control flow, a WebSocket chat room
//! (docs/k6-compatibility.md#scripts-from-the-wild-third-sweep).

use super::*;

#[test]
fn wild_json_of_bodies_that_are_not_json_throws_gos_error_with_its_position() {
    differential(&exact("wild_json_errors.js", 0));
}

#[test]
fn wild_urls_go_cannot_parse_and_requests_its_client_refuses() {
    differential(&exact("wild_url_errors.js", 0));
}

#[test]
fn wild_base64_of_values_that_are_not_text_and_inputs_go_refuses() {
    differential(&exact("wild_base64_inputs.js", 0));
}

#[test]
fn wild_a_rate_fed_infinity_counts_it_as_a_pass() {
    differential(&exact("wild_metric_infinity.js", 0));
}

#[test]
fn wild_scenarios_with_exec_functions_sharing_setup_data() {
    differential(&Case {
        order: Order::Racy,
        ..exact("wild_scenarios_setup_data.js", 0)
    });
}

#[test]
fn wild_execution_context_vu_and_iteration_fields_and_tags() {
    differential(&exact("wild_execution_context.js", 0));
}

#[test]
fn wild_cookie_jars_set_read_deleted_and_cleared() {
    differential(&exact("wild_cookie_jar_flows.js", 0));
}

#[test]
fn wild_batches_of_every_shape_and_multipart_file_uploads() {
    differential(&exact("wild_batch_file_uploads.js", 0));
}

#[test]
fn wild_urls_are_shown_and_tagged_as_written() {
    differential(&exact("wild_url_as_written.js", 0));
}

#[test]
fn wild_scraping_tables_lists_and_forms_with_k6_html() {
    differential(&exact("wild_html_tables.js", 0));
}

#[test]
fn wild_polling_with_timers_promises_and_async_requests() {
    differential(&exact("wild_timers_async_flow.js", 0));
}

#[test]
fn wild_date_formats_uuids_and_the_web_globals_k6_lacks() {
    differential(&exact("wild_dates_and_globals.js", 0));
}

#[test]
fn wild_threshold_expressions_on_submetrics_with_one_failing_gate() {
    differential(&exact("wild_threshold_expressions.js", 99));
}

#[test]
fn wild_responses_inspected_field_by_field_with_every_method() {
    differential(&exact("wild_response_inspection.js", 0));
}

#[test]
fn wild_groups_returning_values_retries_after_fail_and_seeded_randomness() {
    differential(&exact("wild_groups_checks_flow.js", 0));
}

#[test]
fn wild_chat_room_over_websockets_with_timers() {
    // Two sockets get each broadcast at once: which one's check runs first is a race.
    differential(&Case {
        order: Order::Racy,
        ..exact("wild_chat_room.js", 0)
    });
}
