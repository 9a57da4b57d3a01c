//! Cases of `k6/http`: batches, bodies, compression, auth, cookies, keep-alive, and the
//! `hosts` option.

use super::*;

#[test]
fn http_batch_array_and_object() {
    differential(&Case {
        script: "http_batch.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn form_post_to_echo() {
    differential(&Case {
        script: "form_post.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn status_404_counts_as_failed_request() {
    differential(&Case {
        script: "status_404.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn repeated_requests_carry_the_group_they_were_made_in() {
    differential(&Case {
        script: "group_tags.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn http_file_in_an_object_body_is_sent_as_multipart() {
    differential(&Case {
        script: "http_file_multipart.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn compressed_responses_are_decoded_and_request_bodies_compressed() {
    differential(&Case {
        script: "http_compression.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn digest_auth_answers_the_challenge_and_counts_both_requests() {
    differential(&Case {
        script: "http_digest_auth.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn base64_null_encoding_and_lenient_cookie_jar_set() {
    differential(&Case {
        script: "base64_null_and_cookie_jar.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn http_batch_reuses_the_idle_keep_alive_connection_first() {
    differential(&Case {
        script: "http_batch_keep_alive.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn hosts_option_maps_made_up_names_to_the_local_target() {
    differential(&Case {
        script: "hosts_mapping.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn an_invalid_hosts_pattern_exits_104() {
    differential(&Case {
        script: "hosts_invalid.js",
        exit_code: 104,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: false,
    });
}
