//! The sixth sweep of `wild_*` cases: the differences the fifth sweep left listed (a `cookies`
//! param or `Cookie` header next to the jar's cookie of the same name, a response's own
//! methods), each checked against k6 v1.1.0
//! (docs/k6-compatibility.md#scripts-from-the-wild-sixth-sweep).

use super::*;

/// A case whose counts the script fixes, its checks and groups used in the same order by
/// every VU, with a summary.
fn exact(script: &'static str, exit_code: i32) -> Case {
    Case {
        script,
        exit_code,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
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
