//! The second sweep of `wild_*` cases: scripts in the styles public k6 scripts use, for what the
//! first sweep (`wild.rs`) did not cover: `http.asyncRequest`, thresholds with `abortOnFail`,
//! `exec.vu.metrics`, the executors CI scripts leave at their defaults, flags that override
//! options, data files, hashes and encodings, response fields and request errors
//! (docs/k6-compatibility.md#scripts-from-the-wild-second-sweep).

use super::*;

#[test]
fn wild_groups_nested_three_deep_with_checks_on_json_selectors() {
    differential(&Case {
        script: "wild_nested_groups_json.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_dynamic_urls_grouped_by_url_templates_and_name_tags() {
    differential(&Case {
        script: "wild_url_names.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_custom_metrics_with_abort_on_fail_stop_the_test_early() {
    differential(&Case {
        script: "wild_custom_metrics_abort.js",
        exit_code: 99,
        counts: Counts::TimeBased,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_delay_abort_eval_holds_back_the_abort_and_the_end_fails() {
    differential(&Case {
        script: "wild_delay_abort_eval.js",
        exit_code: 99,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_per_vu_iterations_with_tags_set_through_exec_vu_metrics() {
    differential(&Case {
        script: "wild_vu_metric_tags.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_externally_controlled_executor_left_alone() {
    differential(&Case {
        script: "wild_externally_controlled.js",
        exit_code: 0,
        counts: Counts::TimeBased,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_ramping_arrival_rate_with_preallocated_vus() {
    differential(&Case {
        script: "wild_ramping_arrival.js",
        exit_code: 0,
        counts: Counts::TimeBased,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_env_defaults_overridden_with_e_flags() {
    differential_with_flags(
        &Case {
            script: "wild_env_overrides.js",
            exit_code: 0,
            counts: Counts::Exact,
            order: Order::FirstUse,
            summary: true,
        },
        &["-e", "API_VERSION=v2", "-e", "USERS=3", "-e", "DEBUG="],
    );
}

#[test]
fn wild_json_and_quoted_csv_files_through_shared_array_and_binary_open() {
    differential(&Case {
        script: "wild_open_files.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_base64_variants_of_text_utf8_and_binary() {
    differential(&Case {
        script: "wild_encoding.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_random_helpers_and_think_time_with_jitter() {
    differential(&Case {
        script: "wild_random_jitter.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_error_subclasses_thrown_caught_and_uncaught() {
    differential(&Case {
        script: "wild_errors_console.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_vus_and_iterations_flags_replace_the_scripts_duration() {
    differential_with_flags(
        &Case {
            script: "wild_cli_overrides.js",
            exit_code: 0,
            counts: Counts::Exact,
            order: Order::FirstUse,
            summary: true,
        },
        &["--vus", "2", "--iterations", "6"],
    );
}

#[test]
fn wild_vus_and_duration_flags_replace_the_scripts_scenarios() {
    differential_with_flags(
        &Case {
            script: "wild_duration_flag.js",
            exit_code: 0,
            counts: Counts::TimeBased,
            order: Order::FirstUse,
            summary: true,
        },
        &["--vus", "2", "--duration", "1s"],
    );
}

#[test]
fn wild_cloud_and_ext_blocks_summary_options_and_connection_options() {
    differential(&Case {
        script: "wild_options_blocks.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_batch_objects_redirect_limits_timeouts_and_body_types() {
    differential(&Case {
        script: "wild_http_params.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_expected_statuses_ranges_and_thresholds_on_failed_requests() {
    differential(&Case {
        script: "wild_expected_statuses.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_handle_summary_with_text_summary_from_jslib() {
    differential(&Case {
        script: "wild_text_summary.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_tagged_checks_non_boolean_results_and_a_check_that_throws() {
    differential(&Case {
        script: "wild_check_tags.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_async_default_with_async_requests_in_parallel_and_async_setup_teardown() {
    differential(&Case {
        script: "wild_async_requests.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_requests_to_undefined_urls_and_bad_params_are_failed_responses() {
    differential(&Case {
        script: "wild_request_errors.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_every_crypto_hash_and_hmac_with_every_output_encoding() {
    differential(&Case {
        script: "wild_crypto_hashes.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_response_fields_cookies_sent_and_bodies_that_are_not_json() {
    differential(&Case {
        script: "wild_response_fields.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn wild_custom_metric_values_and_tags_k6_takes_or_refuses() {
    differential(&Case {
        script: "wild_custom_metric_values.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}
