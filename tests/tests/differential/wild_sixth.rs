//! The sixth sweep of `wild_*` cases: the differences the fifth sweep left listed (a `cookies`
//! param or `Cookie` header next to the jar's cookie of the same name, a response's own
//! methods, the rejected promise of an `async` lifecycle function), each checked against k6
//! v1.1.0, then scripts in the styles of published ones for what the earlier sweeps did not
//! cover (docs/k6-compatibility.md#scripts-from-the-wild-sixth-sweep).

use super::*;

/// The lines of a tool's log that contain `text`.
fn lines_with<'a>(log: &'a str, text: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(text)).collect()
}

/// Both tools logged `count` lines containing `text`, none of them containing `not`.
fn both_logged(outcomes: Option<(Outcome, Outcome)>, text: &str, count: usize, not: &str) {
    let Some((k6, volley)) = outcomes else {
        return;
    };
    for (tool, log) in [("k6", &k6.stderr), ("volley", &volley.stderr)] {
        let lines = lines_with(log, text);
        assert_eq!(
            lines.len(),
            count,
            "{tool} logged {} lines with {text:?}, not {count}:\n{log}",
            lines.len()
        );
        for line in lines {
            assert!(!line.contains(not), "{tool} logged {not:?} in: {line}");
        }
    }
}

#[test]
fn wild_cookie_param_and_header_next_to_the_jars_cookie_of_that_name() {
    differential(&exact("wild_cookie_param_and_jar.js", 0));
}

#[test]
fn wild_response_methods_are_own_properties() {
    differential(&exact("wild_response_own_methods.js", 0));
}

#[test]
fn wild_async_iteration_rejects_and_is_logged_as_an_uncaught_promise() {
    let outcomes = differential_outcomes(&exact("wild_async_iteration_rejects.js", 0), &[], &[]);
    both_logged(
        outcomes,
        "Uncaught (in promise) Error: odd iteration",
        2,
        "source=stacktrace",
    );
}

#[test]
fn wild_async_setup_rejects_and_the_run_exits_255() {
    let outcomes = differential_outcomes(&exact("wild_async_setup_rejects.js", 255), &[], &[]);
    both_logged(
        outcomes,
        "Uncaught (in promise) Error: login returned no token",
        1,
        "script exception",
    );
}

#[test]
fn wild_async_teardown_rejects_and_the_run_exits_255() {
    let outcomes = differential_outcomes(&exact("wild_async_teardown_rejects.js", 255), &[], &[]);
    both_logged(
        outcomes,
        "Uncaught (in promise) Error: cleanup refused with 409",
        1,
        "script exception",
    );
}

#[test]
fn wild_async_check_functions_are_refused_with_a_go_error() {
    differential(&exact("wild_check_async_callbacks.js", 0));
}

#[test]
fn wild_retries_with_backoff_and_binary_downloads_hashed() {
    differential(&exact("wild_retry_and_download.js", 0));
}

#[test]
fn wild_paginated_listing_named_by_a_tag() {
    differential(&exact("wild_paginated_listing.js", 0));
}

#[test]
fn wild_api_client_class_with_private_fields_and_generators() {
    differential(&exact("wild_api_client_class.js", 0));
}

#[test]
fn wild_signed_form_posts_and_bodies_k6_does_not_send() {
    differential(&exact("wild_signed_form_posts.js", 0));
}
