//! The fifth sweep of `wild_*` cases: the differences the fourth sweep left listed (`k6/secrets`
//! with `--secret-source`, the error a failed request throws and how it is worded), then
//! scripts in the styles of published ones for what the earlier sweeps did not cover
//! (docs/k6-compatibility.md#scripts-from-the-wild-fifth-sweep).

use super::*;

#[test]
fn wild_secrets_from_a_mock_and_a_file_source() {
    let file = script_path("data/wild_secrets.env");
    let file_source = format!(
        "--secret-source=file=name=vault,filename={}",
        file.display()
    );
    differential_with_flags(
        &exact("wild_secrets.js", 0),
        &[
            "--secret-source=mock=api_token=tok-123,default",
            &file_source,
        ],
    );
}

#[test]
fn wild_failed_requests_throw_and_reject_with_gos_error() {
    differential(&exact("wild_request_error_class.js", 0));
}

#[test]
fn wild_load_shape_from_k6_environment_variables() {
    differential_with_env(
        &exact("wild_k6_env_options.js", 0),
        &[],
        &[("K6_VUS", "3"), ("K6_ITERATIONS", "6")],
    );
}

#[test]
fn wild_per_vu_data_slices_with_iteration_tags_and_metadata() {
    differential(&exact("wild_partitioned_users.js", 0));
}

#[test]
fn wild_soap_envelopes_and_xml_replies_read_with_parse_html() {
    differential(&exact("wild_soap_xml.js", 0));
}

#[test]
fn wild_graphql_queries_mutations_and_batches() {
    differential(&exact("wild_graphql_api.js", 0));
}

#[test]
fn wild_rest_crud_with_every_method_and_the_shortcuts_scenario() {
    differential(&exact("wild_rest_crud.js", 0));
}

#[test]
fn wild_setup_aborts_the_test_and_its_requests_still_count() {
    differential(&exact("wild_setup_abort.js", 108));
}

#[test]
fn wild_data_files_named_by_env_uploaded_as_multipart() {
    differential_with_flags(
        &exact("wild_open_env_path.js", 0),
        &[
            "-e",
            "DATA_FILE=./data/wild_users.json",
            "-e",
            "CSV_NAME=users.csv",
        ],
    );
}

#[test]
fn wild_login_cookies_across_redirects_and_a_replacing_param() {
    differential(&exact("wild_cookies_login_redirect.js", 0));
}
