//! The fourth sweep of `wild_*` cases: the differences the third sweep left listed (the request
//! target as written, `module` and `exports` read from an ES module, a bad `timeout`'s
//! wording), then scripts in the styles of published ones for what the earlier sweeps did not
//! cover: staggered scenarios, summary statistics and time units, group thresholds, promises
//! over `http.asyncRequest` with a per-request `throw`
//! (docs/k6-compatibility.md#scripts-from-the-wild-fourth-sweep).

use super::*;

#[test]
fn wild_paths_reach_the_server_as_written() {
    differential(&exact("wild_request_target_as_written.js", 0));
}

#[test]
fn wild_an_es_module_reading_module_gets_k6s_error() {
    differential(&exact("wild_esm_reads_module.js", 0));
}

#[test]
fn wild_request_timeouts_of_every_kind_and_k6s_words_for_bad_ones() {
    differential(&exact("wild_timeout_values.js", 0));
}

#[test]
fn wild_staggered_scenarios_with_exec_env_tags_and_per_scenario_thresholds() {
    // Three scenarios run at once: their checks' first use is a race.
    differential(&Case {
        order: Order::Racy,
        ..exact("wild_scenarios_staggered.js", 0)
    });
}

#[test]
fn wild_summary_trend_stats_time_unit_and_is_time_trends() {
    differential_with_flags(
        &exact("wild_summary_stats_and_units.js", 0),
        &[
            "--summary-trend-stats",
            "avg,min,max,p(0),p(100),p(99.9),count",
        ],
    );
}

#[test]
fn wild_group_duration_thresholds_on_nested_group_paths() {
    differential(&exact("wild_group_thresholds.js", 0));
}

#[test]
fn wild_async_all_settled_race_and_a_per_request_throw() {
    differential(&exact("wild_async_settled.js", 0));
}
