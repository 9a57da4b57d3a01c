//! Cases of `k6/experimental/fs`, `k6/experimental/csv` and `k6/experimental/streams`.

use super::*;

#[test]
fn experimental_fs_open_read_seek_stat_and_errors() {
    differential(&Case {
        script: "fs_files.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn experimental_csv_parse_and_parser_with_k6s_options() {
    differential(&Case {
        script: "csv_records.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}

#[test]
fn experimental_streams_read_pull_cancel_and_errors() {
    differential(&Case {
        script: "streams_readable.js",
        exit_code: 0,
        counts: Counts::Exact,
        order: Order::FirstUse,
        summary: true,
    });
}
