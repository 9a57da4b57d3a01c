//! The `jslib_*` cases: libraries from jslib.k6.io, served locally.

use super::*;

#[test]
fn jslib_papaparse_parses_csv_test_data() {
    differential(&Case {
        script: "jslib_papaparse.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn jslib_chai_expectations_in_describe_groups() {
    differential(&Case {
        script: "jslib_chai_expect.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn jslib_ajv_schema_and_jsonpath_queries() {
    differential(&Case {
        script: "jslib_ajv_jsonpath.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn jslib_utils_stage_tags_and_form_data_uploads() {
    differential(&Case {
        script: "jslib_utils_formdata.js",
        exit_code: 0,
        counts: Counts::TimeBased,
        order: Order::FirstUse,
        summary: true,
    });
}
