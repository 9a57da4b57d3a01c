//! Cases of `k6/html`.

use super::*;

#[test]
fn html_selections_elements_and_forms_give_k6s_values() {
    differential(&Case {
        script: "html_selection.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}
