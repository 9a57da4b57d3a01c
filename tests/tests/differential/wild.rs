//! The `wild_*` cases: scripts in the styles public k6 scripts use.

use super::*;

#[test]
fn wild_docs_style_get_with_checks_and_sleep() {
    differential(&Case {
        script: "wild_docs_get_checks.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_workshop_scenarios_thresholds_on_tagged_submetrics_and_custom_metrics() {
    differential(&Case {
        script: "wild_scenarios_thresholds_tagged.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::Racy,
        summary: true,
    });
}

#[test]
fn wild_http_batch_with_urls_arrays_objects_and_named_requests() {
    differential(&Case {
        script: "wild_http_batch_forms.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_json_selectors_with_gjson_queries_and_wildcards() {
    differential(&Case {
        script: "wild_json_selectors.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_html_page_click_link_and_submit_form() {
    differential(&Case {
        script: "wild_html_forms_links.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_cookies_from_the_server_the_jar_and_the_request() {
    differential(&Case {
        script: "wild_cookies.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_redirects_followed_and_limited() {
    differential(&Case {
        script: "wild_redirects.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_response_callback_and_expected_statuses_decide_failed_requests() {
    differential(&Case {
        script: "wild_response_callback.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_execution_fields_and_vu_iter_globals_in_two_scenarios() {
    differential(&Case {
        script: "wild_exec_fields.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::Racy,
        summary: true,
    });
}

#[test]
fn wild_console_output_from_every_stage() {
    differential(&Case {
        script: "wild_console_log.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_handle_summary_writing_several_files() {
    differential(&Case {
        script: "wild_handle_summary_files.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_constant_and_ramping_arrival_rate_scenarios() {
    differential(&Case {
        script: "wild_arrival_rate.js",
        exit_code: 0,
        counts: Counts::TimeBased,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_options_tags_and_env_defaults_on_every_sample() {
    differential(&Case {
        script: "wild_options_tags_env.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_shared_array_from_json_and_csv_with_basic_auth() {
    differential(&Case {
        script: "wild_shared_array_data.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_setup_token_login_flow_and_teardown() {
    differential(&Case {
        script: "wild_setup_auth_flow.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_every_http_method_params_binary_and_timeout() {
    differential(&Case {
        script: "wild_http_methods_params.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_ramping_vus_load_profile() {
    differential(&Case {
        script: "wild_ramping_vus.js",
        exit_code: 0,
        counts: Counts::TimeBased,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_request_signing_with_k6_encoding_and_crypto() {
    differential(&Case {
        script: "wild_encoding_crypto.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}
