//! Golden tests against k6 v1.1.0 captures (captured from k6's own output: docs/k6-compatibility.md#how-the-facts-were-measured). The captures are
//! embedded here (line by line, trailing spaces included) so the tests never depend on files
//! outside the crate. Fixture values are the captured numbers, nudged inside the bucket that
//! k6's truncating formatter maps to the printed text (`62.52ms` -> 62.523 ms); the
//! `json_out` test instead uses the raw values k6 wrote to `summary_export.json` in the same
//! run, so it also checks rounding and truncation on real data.

use super::*;
use crate::summary::{
    CheckReport, GroupReport, MetricReport, RunResult, SummaryMode, SummaryOptions, SummaryReport,
    SummaryState, ThresholdReport, DEFAULT_TREND_STATS,
};

fn trend(name: &str, contains: &str, values: [f64; 6]) -> MetricReport {
    let stats: Vec<(&str, f64)> = DEFAULT_TREND_STATS.iter().copied().zip(values).collect();
    MetricReport::trend(name, contains, &stats)
}

fn check(group_path: &str, name: &str, passes: u64, fails: u64) -> CheckReport {
    CheckReport {
        name: name.into(),
        path: format!("{group_path}::{name}"),
        passes,
        fails,
    }
}

/// The group tree of the captured `summary_test.js`, optionally with per-group metrics
/// (`[api, nested, errors]`) for the full layout.
fn test_script_groups(group_metrics: Option<[Vec<MetricReport>; 3]>) -> GroupReport {
    let [api_metrics, nested_metrics, errors_metrics] = match group_metrics {
        Some([a, n, e]) => [Some(a), Some(n), Some(e)],
        None => [None, None, None],
    };
    let nested = GroupReport {
        name: "nested".into(),
        path: "::api::nested".into(),
        groups: vec![],
        checks: vec![check("::api::nested", "slept", 20, 0)],
        metrics: nested_metrics,
    };
    let api = GroupReport {
        name: "api".into(),
        path: "::api".into(),
        groups: vec![nested],
        checks: vec![
            check("::api", "status is 200", 20, 0),
            check("::api", "body is ok", 20, 0),
        ],
        metrics: api_metrics,
    };
    let errors = GroupReport {
        name: "errors".into(),
        path: "::errors".into(),
        groups: vec![],
        checks: vec![check("::errors", "status is 200 (fails)", 0, 20)],
        metrics: errors_metrics,
    };
    GroupReport {
        groups: vec![api, errors],
        ..Default::default()
    }
}

fn report(
    metrics: Vec<MetricReport>,
    root_group: GroupReport,
    duration_ms: f64,
    mode: SummaryMode,
) -> SummaryReport {
    SummaryReport {
        metrics,
        root_group,
        options: SummaryOptions {
            no_color: true,
            mode,
            ..Default::default()
        },
        state: SummaryState {
            is_stdout_tty: false,
            is_stderr_tty: false,
            test_run_duration_ms: duration_ms,
        },
        setup_data: None,
        result: RunResult {
            outcome: "failed".into(),
            exit_code: 99,
            message: None,
            context: None,
        },
    }
}

/// What the compact/full renderer returns around a captured block.
fn framed(lines: &[&str]) -> String {
    format!("\n{}\n\n", lines.join("\n"))
}

/// Line-by-line comparison with a readable failure message.
fn assert_text(actual: &str, expected: &str) {
    let (a, e): (Vec<&str>, Vec<&str>) =
        (actual.split('\n').collect(), expected.split('\n').collect());
    for (i, (al, el)) in a.iter().zip(&e).enumerate() {
        assert_eq!(
            al,
            el,
            "line {} differs\n--- actual ---\n{actual}\n--- expected ---\n{expected}",
            i + 1
        );
    }
    assert_eq!(
        a.len(),
        e.len(),
        "line count differs\n--- actual ---\n{actual}\n--- expected ---\n{expected}"
    );
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn compact_capture_metrics() -> Vec<MetricReport> {
    vec![
        MetricReport::rate("checks", 60, 20).with_threshold(ThresholdReport::new(
            "rate>0.5",
            true,
            60.0 / 80.0,
        )),
        MetricReport::counter("my_counter", "default", 20.0, 6.485407)
            .with_threshold(ThresholdReport::new("count>5", true, 20.0)),
        MetricReport::gauge("my_gauge", "default", 11.0, 11.0, 21.0)
            .with_threshold(ThresholdReport::new("value<100", true, 11.0)),
        MetricReport::rate("my_rate", 10, 10).with_threshold(ThresholdReport::new(
            "rate>0.9",
            false,
            10.0 / 20.0,
        )),
        trend(
            "my_time_trend",
            "time",
            [12.133, 10.063, 12.013, 14.373, 14.233, 14.283],
        ),
        trend(
            "my_trend",
            "default",
            [
                55.498211, 9.788191, 55.384188, 98.484642, 87.305514, 89.404796,
            ],
        )
        .with_threshold(ThresholdReport::new("p(90)<50", false, 87.305514))
        .with_threshold(ThresholdReport::new("med<1000", true, 55.384188)),
        trend(
            "http_req_duration",
            "time",
            [35.633, 0.490403, 43.773, 64.793, 62.123, 62.523],
        )
        .with_threshold(ThresholdReport::new("p(95)<500", true, 62.523))
        .with_threshold(ThresholdReport::new("avg<300", true, 35.633)),
        trend(
            "http_req_duration{expected_response:true}",
            "time",
            [31.563, 0.490403, 31.463, 64.793, 62.433, 62.733],
        ),
        trend(
            "http_req_duration{group:::api}",
            "time",
            [0.945423, 0.490403, 0.874123, 1.573, 1.353, 1.503],
        )
        .with_threshold(ThresholdReport::new("max<1000", true, 1.573)),
        trend(
            "http_req_duration{status:404}",
            "time",
            [43.773, 43.453, 43.773, 44.113, 44.013, 44.043],
        )
        .with_threshold(ThresholdReport::new("p(99)<1000", true, 44.093)),
        MetricReport::rate("http_req_failed", 20, 40).with_threshold(ThresholdReport::new(
            "rate<0.5",
            true,
            20.0 / 60.0,
        )),
        MetricReport::counter("http_reqs", "default", 60.0, 19.45622),
        trend(
            "iteration_duration",
            "time",
            [308.273, 307.083, 307.823, 312.833, 308.893, 312.063],
        ),
        MetricReport::counter("iterations", "default", 20.0, 6.485407),
        MetricReport::gauge("vus", "default", 2.0, 2.0, 2.0),
        MetricReport::gauge("vus_max", "default", 2.0, 2.0, 2.0),
        MetricReport::counter("data_received", "data", 8800.0, 2800.0),
        MetricReport::counter("data_sent", "data", 4700.0, 1500.0),
    ]
}

fn full_capture_metrics() -> Vec<MetricReport> {
    vec![
        MetricReport::rate("checks", 60, 20).with_threshold(ThresholdReport::new(
            "rate>0.5",
            true,
            60.0 / 80.0,
        )),
        MetricReport::counter("my_counter", "default", 20.0, 6.460732)
            .with_threshold(ThresholdReport::new("count>5", true, 20.0)),
        MetricReport::gauge("my_gauge", "default", 21.0, 11.0, 21.0)
            .with_threshold(ThresholdReport::new("value<100", true, 21.0)),
        MetricReport::rate("my_rate", 11, 9).with_threshold(ThresholdReport::new(
            "rate>0.9",
            false,
            11.0 / 20.0,
        )),
        trend(
            "my_time_trend",
            "time",
            [12.413, 10.153, 12.613, 14.133, 13.983, 14.043],
        ),
        trend(
            "my_trend",
            "default",
            [
                48.984695, 7.419435, 46.784053, 91.193139, 81.328911, 84.287526,
            ],
        )
        .with_threshold(ThresholdReport::new("p(90)<50", false, 81.328911))
        .with_threshold(ThresholdReport::new("med<1000", true, 46.784053)),
        trend(
            "http_req_blocked",
            "time",
            [0.011803, 0.001043, 0.004473, 0.327973, 0.008553, 0.017873],
        ),
        trend(
            "http_req_connecting",
            "time",
            [0.005233, 0.0, 0.0, 0.261213, 0.0, 0.0],
        ),
        trend(
            "http_req_duration",
            "time",
            [36.003, 0.434263, 43.853, 66.243, 62.593, 64.323],
        )
        .with_threshold(ThresholdReport::new("p(95)<500", true, 64.323))
        .with_threshold(ThresholdReport::new("avg<300", true, 36.003)),
        trend(
            "http_req_duration{expected_response:true}",
            "time",
            [31.883, 0.434263, 31.973, 66.243, 63.903, 64.973],
        ),
        trend(
            "http_req_duration{group:::api}",
            "time",
            [0.971163, 0.434263, 0.769173, 2.793, 1.863, 2.653],
        )
        .with_threshold(ThresholdReport::new("max<1000", true, 2.793)),
        trend(
            "http_req_duration{status:404}",
            "time",
            [44.253, 43.563, 43.853, 48.043, 44.633, 47.753],
        )
        .with_threshold(ThresholdReport::new("p(99)<1000", true, 47.983)),
        MetricReport::rate("http_req_failed", 20, 40).with_threshold(ThresholdReport::new(
            "rate<0.5",
            true,
            20.0 / 60.0,
        )),
        trend(
            "http_req_receiving",
            "time",
            [28.613, 0.014233, 41.673, 47.363, 43.663, 44.113],
        ),
        trend(
            "http_req_sending",
            "time",
            [0.020403, 0.004173, 0.015513, 0.128453, 0.034183, 0.052863],
        ),
        trend(
            "http_req_tls_handshaking",
            "time",
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        trend(
            "http_req_waiting",
            "time",
            [7.373, 0.342013, 0.660673, 22.063, 20.733, 20.953],
        ),
        MetricReport::counter("http_reqs", "default", 60.0, 19.382196),
        trend(
            "iteration_duration",
            "time",
            [309.473, 307.013, 308.463, 312.313, 312.013, 312.083],
        ),
        MetricReport::counter("iterations", "default", 20.0, 6.460732),
        MetricReport::gauge("vus", "default", 2.0, 2.0, 2.0),
        MetricReport::gauge("vus_max", "default", 2.0, 2.0, 2.0),
        MetricReport::counter("data_received", "data", 8800.0, 2800.0),
        MetricReport::counter("data_sent", "data", 4700.0, 1500.0),
    ]
}

fn full_capture_metrics_group_api() -> Vec<MetricReport> {
    vec![
        trend(
            "http_req_blocked",
            "time",
            [0.026313, 0.003903, 0.006903, 0.327973, 0.023313, 0.085323],
        ),
        trend(
            "http_req_connecting",
            "time",
            [0.015693, 0.0, 0.0, 0.261213, 0.005273, 0.063143],
        ),
        trend(
            "http_req_duration",
            "time",
            [0.971163, 0.434263, 0.769173, 2.793, 1.863, 2.653],
        ),
        MetricReport::rate("http_req_failed", 0, 20),
        trend(
            "http_req_receiving",
            "time",
            [0.090373, 0.014233, 0.066413, 0.289413, 0.155723, 0.183833],
        ),
        trend(
            "http_req_sending",
            "time",
            [0.033973, 0.008313, 0.025493, 0.128453, 0.067793, 0.081913],
        ),
        trend(
            "http_req_tls_handshaking",
            "time",
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        trend(
            "http_req_waiting",
            "time",
            [0.846813, 0.342013, 0.591703, 2.663, 1.643, 2.583],
        ),
        MetricReport::counter("http_reqs", "default", 20.0, 6.460732),
    ]
}

fn full_capture_metrics_group_nested() -> Vec<MetricReport> {
    vec![
        trend(
            "http_req_blocked",
            "time",
            [0.004653, 0.001243, 0.003173, 0.018433, 0.008273, 0.017683],
        ),
        trend(
            "http_req_connecting",
            "time",
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        trend(
            "http_req_duration",
            "time",
            [62.783, 61.153, 62.413, 66.243, 64.993, 65.333],
        ),
        MetricReport::rate("http_req_failed", 0, 20),
        trend(
            "http_req_receiving",
            "time",
            [42.023, 40.213, 41.673, 45.403, 43.883, 44.113],
        ),
        trend(
            "http_req_sending",
            "time",
            [0.010773, 0.004173, 0.007993, 0.039253, 0.017033, 0.018953],
        ),
        trend(
            "http_req_tls_handshaking",
            "time",
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        trend(
            "http_req_waiting",
            "time",
            [20.753, 20.363, 20.643, 22.063, 21.103, 21.433],
        ),
        MetricReport::counter("http_reqs", "default", 20.0, 6.460732),
    ]
}

fn full_capture_metrics_group_errors() -> Vec<MetricReport> {
    vec![
        trend(
            "http_req_blocked",
            "time",
            [0.004433, 0.001043, 0.004303, 0.010073, 0.006393, 0.008383],
        ),
        trend(
            "http_req_connecting",
            "time",
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        trend(
            "http_req_duration",
            "time",
            [44.253, 43.563, 43.853, 48.043, 44.633, 47.753],
        ),
        MetricReport::rate("http_req_failed", 20, 0),
        trend(
            "http_req_receiving",
            "time",
            [43.713, 42.843, 43.313, 47.363, 44.003, 47.183],
        ),
        trend(
            "http_req_sending",
            "time",
            [0.016473, 0.004523, 0.016473, 0.028673, 0.027303, 0.028043],
        ),
        trend(
            "http_req_tls_handshaking",
            "time",
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        trend(
            "http_req_waiting",
            "time",
            [0.525023, 0.342553, 0.521143, 0.898773, 0.661393, 0.677833],
        ),
        MetricReport::counter("http_reqs", "default", 20.0, 6.460732),
    ]
}

fn legacy_capture_metrics() -> Vec<MetricReport> {
    vec![
        MetricReport::rate("checks", 60, 20)
            .with_threshold(ThresholdReport::new("rate>0.5", true, 0.0)),
        MetricReport::counter("data_received", "data", 8800.0, 2800.0),
        MetricReport::counter("data_sent", "data", 4700.0, 1500.0),
        trend(
            "group_duration",
            "time",
            [56.483, 43.643, 62.203, 65.273, 63.273, 63.583],
        ),
        trend(
            "http_req_blocked",
            "time",
            [0.039303, 0.001273, 0.003843, 1.503, 0.008463, 0.010893],
        ),
        trend(
            "http_req_connecting",
            "time",
            [0.010713, 0.0, 0.0, 0.488473, 0.0, 0.0],
        ),
        trend(
            "http_req_duration",
            "time",
            [35.563, 0.331103, 43.863, 63.573, 62.203, 62.283],
        )
        .with_threshold(ThresholdReport::new("p(95)<500", true, 0.0))
        .with_threshold(ThresholdReport::new("avg<300", true, 0.0)),
        trend(
            "http_req_duration{expected_response:true}",
            "time",
            [31.443, 0.331103, 31.163, 63.573, 62.253, 62.463],
        ),
        trend(
            "http_req_duration{group:::api}",
            "time",
            [0.803053, 0.331103, 0.804373, 1.233, 1.063, 1.153],
        )
        .with_threshold(ThresholdReport::new("max<1000", true, 0.0)),
        trend(
            "http_req_duration{status:404}",
            "time",
            [43.813, 43.493, 43.863, 44.083, 43.993, 44.033],
        )
        .with_threshold(ThresholdReport::new("p(99)<1000", true, 0.0)),
        MetricReport::rate("http_req_failed", 20, 40)
            .with_threshold(ThresholdReport::new("rate<0.5", true, 0.0)),
        trend(
            "http_req_receiving",
            "time",
            [28.223, 0.022943, 41.403, 43.553, 43.373, 43.453],
        ),
        trend(
            "http_req_sending",
            "time",
            [0.019253, 0.005343, 0.011063, 0.147773, 0.026693, 0.056793],
        ),
        trend(
            "http_req_tls_handshaking",
            "time",
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        trend(
            "http_req_waiting",
            "time",
            [7.313, 0.178643, 0.696303, 20.943, 20.733, 20.793],
        ),
        MetricReport::counter("http_reqs", "default", 60.0, 19.471349),
        trend(
            "iteration_duration",
            "time",
            [308.043, 307.183, 307.953, 310.293, 308.553, 309.783],
        ),
        MetricReport::counter("iterations", "default", 20.0, 6.49045),
        MetricReport::counter("my_counter", "default", 20.0, 6.49045)
            .with_threshold(ThresholdReport::new("count>5", true, 0.0)),
        MetricReport::gauge("my_gauge", "default", 11.0, 11.0, 21.0)
            .with_threshold(ThresholdReport::new("value<100", true, 0.0)),
        MetricReport::rate("my_rate", 13, 7)
            .with_threshold(ThresholdReport::new("rate>0.9", false, 0.0)),
        trend(
            "my_time_trend",
            "time",
            [12.373, 10.063, 12.103, 14.963, 14.863, 14.903],
        ),
        trend(
            "my_trend",
            "default",
            [
                41.70749, 0.285217, 42.878054, 88.881718, 67.91586, 74.039177,
            ],
        )
        .with_threshold(ThresholdReport::new("p(90)<50", false, 0.0))
        .with_threshold(ThresholdReport::new("med<1000", true, 0.0)),
        MetricReport::gauge("vus", "default", 2.0, 2.0, 2.0),
        MetricReport::gauge("vus_max", "default", 2.0, 2.0, 2.0),
    ]
}

fn json_out_run_metrics() -> Vec<MetricReport> {
    vec![
        trend(
            "http_req_sending",
            "time",
            [
                0.031169416666666665,
                0.004928,
                0.019609500000000002,
                0.577356,
                0.040280100000000006,
                0.0486007,
            ],
        ),
        MetricReport::counter("data_sent", "data", 4680.0, 1511.9523589626892),
        MetricReport::gauge("vus_max", "default", 2.0, 2.0, 2.0),
        MetricReport::rate("http_req_failed", 20, 40).with_threshold(ThresholdReport::new(
            "rate<0.5",
            true,
            0.3333333333333333,
        )),
        trend(
            "http_req_duration{group:::api}",
            "time",
            [
                0.9100397999999998,
                0.265663,
                0.575951,
                5.114031,
                1.6396032000000007,
                2.165706000000002,
            ],
        )
        .with_threshold(ThresholdReport::new("max<1000", true, 5.114031)),
        trend(
            "my_trend",
            "default",
            [
                48.25258072007934,
                5.456588664187951,
                43.85468976750822,
                95.6436953683305,
                89.4975196273359,
                92.96449464644485,
            ],
        )
        .with_threshold(ThresholdReport::new("p(90)<50", false, 89.4975196273359))
        .with_threshold(ThresholdReport::new("med<1000", true, 43.85468976750822)),
        trend(
            "http_req_duration{status:404}",
            "time",
            [
                44.09404655,
                42.134048,
                43.8242235,
                47.857107,
                44.5195315,
                47.711584099999996,
            ],
        )
        .with_threshold(ThresholdReport::new("p(99)<1000", true, P99_404)),
        MetricReport::counter("data_received", "data", 8780.0, 2836.5260067718827),
        MetricReport::counter("my_counter", "default", 20.0, 6.461334867361919)
            .with_threshold(ThresholdReport::new("count>5", true, 20.0)),
        trend(
            "iteration_duration",
            "time",
            [
                309.29320095,
                306.895773,
                308.2663275,
                316.507367,
                312.4127502,
                315.8165764,
            ],
        ),
        MetricReport::gauge("vus", "default", 2.0, 2.0, 2.0),
        MetricReport::gauge("my_gauge", "default", 21.0, 11.0, 21.0)
            .with_threshold(ThresholdReport::new("value<100", true, 21.0)),
        trend(
            "http_req_duration",
            "time",
            [
                35.82283376666666,
                0.265663,
                43.8242235,
                63.994097,
                62.7838987,
                63.19926314999999,
            ],
        )
        .with_threshold(ThresholdReport::new("p(95)<500", true, 63.19926314999999))
        .with_threshold(ThresholdReport::new("avg<300", true, 35.82283376666666)),
        MetricReport::rate("checks", 60, 20)
            .with_threshold(ThresholdReport::new("rate>0.5", true, 0.75)),
        trend(
            "http_req_tls_handshaking",
            "time",
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        trend(
            "http_req_receiving",
            "time",
            [
                28.5127425,
                0.041271,
                41.638361,
                47.308118,
                43.5687123,
                43.62455765,
            ],
        ),
        trend(
            "http_req_connecting",
            "time",
            [0.125592, 0.0, 0.0, 6.477281, 0.0, 0.0],
        ),
        trend(
            "group_duration",
            "time",
            [
                57.030707783333334,
                42.328676,
                62.4340655,
                70.907597,
                64.1020618,
                64.6324189,
            ],
        ),
        MetricReport::rate("my_rate", 10, 10)
            .with_threshold(ThresholdReport::new("rate>0.9", false, 0.5)),
        MetricReport::counter("http_reqs", "default", 60.0, 19.38400460208576),
        trend(
            "http_req_duration{expected_response:true}",
            "time",
            [
                31.687227375,
                0.265663,
                33.052899000000004,
                63.994097,
                63.157344300000005,
                63.676313549999996,
            ],
        ),
        trend(
            "http_req_blocked",
            "time",
            [
                0.13358726666666662,
                0.001382,
                0.0048625000000000005,
                6.554096,
                0.007925,
                0.01105029999999997,
            ],
        ),
        trend(
            "http_req_waiting",
            "time",
            [
                7.278921849999999,
                0.198784,
                0.8003965,
                21.129747,
                20.5070031,
                20.62649535,
            ],
        ),
        MetricReport::counter("iterations", "default", 20.0, 6.461334867361919),
        trend(
            "my_time_trend",
            "time",
            [
                13.000475597020294,
                10.132864237647658,
                13.102011986454672,
                14.959585819436075,
                14.904258021242365,
                14.917076996181308,
            ],
        ),
    ]
}

/// A p(99) the run computed for the threshold only (not a summary trend stat).
const P99_404: f64 = 47.8215;

const COMPACT_CAPTURE: &[&str] = &[
    "  █ THRESHOLDS ",
    "",
    "    checks",
    "    ✓ 'rate>0.5' rate=75.00%",
    "",
    "    http_req_duration",
    "    ✓ 'p(95)<500' p(95)=62.52ms",
    "    ✓ 'avg<300' avg=35.63ms",
    "",
    "      {group:::api}",
    "      ✓ 'max<1000' max=1.57ms",
    "",
    "      {status:404}",
    "      ✓ 'p(99)<1000' p(99)=44.09ms",
    "",
    "    http_req_failed",
    "    ✓ 'rate<0.5' rate=33.33%",
    "",
    "    my_counter",
    "    ✓ 'count>5' count=20",
    "",
    "    my_gauge",
    "    ✓ 'value<100' value=11",
    "",
    "    my_rate",
    "    ✗ 'rate>0.9' rate=50.00%",
    "",
    "    my_trend",
    "    ✗ 'p(90)<50' p(90)=87.305514",
    "    ✓ 'med<1000' med=55.384188",
    "",
    "",
    "  █ TOTAL RESULTS ",
    "",
    "    checks_total.......................: 80     25.941627/s",
    "    checks_succeeded...................: 75.00% 60 out of 80",
    "    checks_failed......................: 25.00% 20 out of 80",
    "",
    "    ✓ status is 200",
    "    ✓ body is ok",
    "    ✓ slept",
    "    ✗ status is 200 (fails)",
    "      ↳  0% — ✓ 0 / ✗ 20",
    "",
    "    CUSTOM",
    "    my_counter..............................................................: 20     6.485407/s",
    "    my_gauge................................................................: 11     min=11       max=21",
    "    my_rate.................................................................: 50.00% 10 out of 20",
    "    my_time_trend...........................................................: avg=12.13ms   min=10.06ms  med=12.01ms   max=14.37ms   p(90)=14.23ms   p(95)=14.28ms  ",
    "    my_trend................................................................: avg=55.498211 min=9.788191 med=55.384188 max=98.484642 p(90)=87.305514 p(95)=89.404796",
    "",
    "    HTTP",
    "    http_req_duration.......................................................: avg=35.63ms   min=490.4µs  med=43.77ms   max=64.79ms   p(90)=62.12ms   p(95)=62.52ms  ",
    "      { expected_response:true }............................................: avg=31.56ms   min=490.4µs  med=31.46ms   max=64.79ms   p(90)=62.43ms   p(95)=62.73ms  ",
    "      { group:::api }.......................................................: avg=945.42µs  min=490.4µs  med=874.12µs  max=1.57ms    p(90)=1.35ms    p(95)=1.5ms    ",
    "      { status:404 }........................................................: avg=43.77ms   min=43.45ms  med=43.77ms   max=44.11ms   p(90)=44.01ms   p(95)=44.04ms  ",
    "    http_req_failed.........................................................: 33.33% 20 out of 60",
    "    http_reqs...............................................................: 60     19.45622/s",
    "",
    "    EXECUTION",
    "    iteration_duration......................................................: avg=308.27ms  min=307.08ms med=307.82ms  max=312.83ms  p(90)=308.89ms  p(95)=312.06ms ",
    "    iterations..............................................................: 20     6.485407/s",
    "    vus.....................................................................: 2      min=2        max=2 ",
    "    vus_max.................................................................: 2      min=2        max=2 ",
    "",
    "    NETWORK",
    "    data_received...........................................................: 8.8 kB 2.8 kB/s",
    "    data_sent...............................................................: 4.7 kB 1.5 kB/s",
];

const JSON_OUT_CAPTURE: &[&str] = &[
    "  █ THRESHOLDS ",
    "",
    "    checks",
    "    ✓ 'rate>0.5' rate=75.00%",
    "",
    "    http_req_duration",
    "    ✓ 'p(95)<500' p(95)=63.19ms",
    "    ✓ 'avg<300' avg=35.82ms",
    "",
    "      {group:::api}",
    "      ✓ 'max<1000' max=5.11ms",
    "",
    "      {status:404}",
    "      ✓ 'p(99)<1000' p(99)=47.82ms",
    "",
    "    http_req_failed",
    "    ✓ 'rate<0.5' rate=33.33%",
    "",
    "    my_counter",
    "    ✓ 'count>5' count=20",
    "",
    "    my_gauge",
    "    ✓ 'value<100' value=21",
    "",
    "    my_rate",
    "    ✗ 'rate>0.9' rate=50.00%",
    "",
    "    my_trend",
    "    ✗ 'p(90)<50' p(90)=89.49752",
    "    ✓ 'med<1000' med=43.85469",
    "",
    "",
    "  █ TOTAL RESULTS ",
    "",
    "    checks_total.......................: 80     25.845339/s",
    "    checks_succeeded...................: 75.00% 60 out of 80",
    "    checks_failed......................: 25.00% 20 out of 80",
    "",
    "    ✓ status is 200",
    "    ✓ body is ok",
    "    ✓ slept",
    "    ✗ status is 200 (fails)",
    "      ↳  0% — ✓ 0 / ✗ 20",
    "",
    "    CUSTOM",
    "    my_counter..............................................................: 20     6.461335/s",
    "    my_gauge................................................................: 21     min=11       max=21",
    "    my_rate.................................................................: 50.00% 10 out of 20",
    "    my_time_trend...........................................................: avg=13ms      min=10.13ms  med=13.1ms   max=14.95ms   p(90)=14.9ms   p(95)=14.91ms  ",
    "    my_trend................................................................: avg=48.252581 min=5.456589 med=43.85469 max=95.643695 p(90)=89.49752 p(95)=92.964495",
    "",
    "    HTTP",
    "    http_req_duration.......................................................: avg=35.82ms   min=265.66µs med=43.82ms  max=63.99ms   p(90)=62.78ms  p(95)=63.19ms  ",
    "      { expected_response:true }............................................: avg=31.68ms   min=265.66µs med=33.05ms  max=63.99ms   p(90)=63.15ms  p(95)=63.67ms  ",
    "      { group:::api }.......................................................: avg=910.03µs  min=265.66µs med=575.95µs max=5.11ms    p(90)=1.63ms   p(95)=2.16ms   ",
    "      { status:404 }........................................................: avg=44.09ms   min=42.13ms  med=43.82ms  max=47.85ms   p(90)=44.51ms  p(95)=47.71ms  ",
    "    http_req_failed.........................................................: 33.33% 20 out of 60",
    "    http_reqs...............................................................: 60     19.384005/s",
    "",
    "    EXECUTION",
    "    iteration_duration......................................................: avg=309.29ms  min=306.89ms med=308.26ms max=316.5ms   p(90)=312.41ms p(95)=315.81ms ",
    "    iterations..............................................................: 20     6.461335/s",
    "    vus.....................................................................: 2      min=2        max=2 ",
    "    vus_max.................................................................: 2      min=2        max=2 ",
    "",
    "    NETWORK",
    "    data_received...........................................................: 8.8 kB 2.8 kB/s",
    "    data_sent...............................................................: 4.7 kB 1.5 kB/s",
];

const FULL_CAPTURE: &[&str] = &[
    "  █ THRESHOLDS ",
    "",
    "    checks",
    "    ✓ 'rate>0.5' rate=75.00%",
    "",
    "    http_req_duration",
    "    ✓ 'p(95)<500' p(95)=64.32ms",
    "    ✓ 'avg<300' avg=36ms",
    "",
    "      {group:::api}",
    "      ✓ 'max<1000' max=2.79ms",
    "",
    "      {status:404}",
    "      ✓ 'p(99)<1000' p(99)=47.98ms",
    "",
    "    http_req_failed",
    "    ✓ 'rate<0.5' rate=33.33%",
    "",
    "    my_counter",
    "    ✓ 'count>5' count=20",
    "",
    "    my_gauge",
    "    ✓ 'value<100' value=21",
    "",
    "    my_rate",
    "    ✗ 'rate>0.9' rate=55.00%",
    "",
    "    my_trend",
    "    ✗ 'p(90)<50' p(90)=81.328911",
    "    ✓ 'med<1000' med=46.784053",
    "",
    "",
    "  █ TOTAL RESULTS ",
    "",
    "    checks_total.......................: 80     25.842928/s",
    "    checks_succeeded...................: 75.00% 60 out of 80",
    "    checks_failed......................: 25.00% 20 out of 80",
    "",
    "    ✓ status is 200",
    "    ✓ body is ok",
    "    ✓ slept",
    "    ✗ status is 200 (fails)",
    "      ↳  0% — ✓ 0 / ✗ 20",
    "",
    "    CUSTOM",
    "    my_counter..............................................................: 20     6.460732/s",
    "    my_gauge................................................................: 21     min=11       max=21",
    "    my_rate.................................................................: 55.00% 11 out of 20",
    "    my_time_trend...........................................................: avg=12.41ms   min=10.15ms  med=12.61ms   max=14.13ms   p(90)=13.98ms   p(95)=14.04ms  ",
    "    my_trend................................................................: avg=48.984695 min=7.419435 med=46.784053 max=91.193139 p(90)=81.328911 p(95)=84.287526",
    "",
    "    HTTP",
    "    http_req_blocked........................................................: avg=11.8µs    min=1.04µs   med=4.47µs    max=327.97µs  p(90)=8.55µs    p(95)=17.87µs  ",
    "    http_req_connecting.....................................................: avg=5.23µs    min=0s       med=0s        max=261.21µs  p(90)=0s        p(95)=0s       ",
    "    http_req_duration.......................................................: avg=36ms      min=434.26µs med=43.85ms   max=66.24ms   p(90)=62.59ms   p(95)=64.32ms  ",
    "      { expected_response:true }............................................: avg=31.88ms   min=434.26µs med=31.97ms   max=66.24ms   p(90)=63.9ms    p(95)=64.97ms  ",
    "      { group:::api }.......................................................: avg=971.16µs  min=434.26µs med=769.17µs  max=2.79ms    p(90)=1.86ms    p(95)=2.65ms   ",
    "      { status:404 }........................................................: avg=44.25ms   min=43.56ms  med=43.85ms   max=48.04ms   p(90)=44.63ms   p(95)=47.75ms  ",
    "    http_req_failed.........................................................: 33.33% 20 out of 60",
    "    http_req_receiving......................................................: avg=28.61ms   min=14.23µs  med=41.67ms   max=47.36ms   p(90)=43.66ms   p(95)=44.11ms  ",
    "    http_req_sending........................................................: avg=20.4µs    min=4.17µs   med=15.51µs   max=128.45µs  p(90)=34.18µs   p(95)=52.86µs  ",
    "    http_req_tls_handshaking................................................: avg=0s        min=0s       med=0s        max=0s        p(90)=0s        p(95)=0s       ",
    "    http_req_waiting........................................................: avg=7.37ms    min=342.01µs med=660.67µs  max=22.06ms   p(90)=20.73ms   p(95)=20.95ms  ",
    "    http_reqs...............................................................: 60     19.382196/s",
    "",
    "    EXECUTION",
    "    iteration_duration......................................................: avg=309.47ms  min=307.01ms med=308.46ms  max=312.31ms  p(90)=312.01ms  p(95)=312.08ms ",
    "    iterations..............................................................: 20     6.460732/s",
    "    vus.....................................................................: 2      min=2        max=2 ",
    "    vus_max.................................................................: 2      min=2        max=2 ",
    "",
    "    NETWORK",
    "    data_received...........................................................: 8.8 kB 2.8 kB/s",
    "    data_sent...............................................................: 4.7 kB 1.5 kB/s",
    "",
    "",
    "  █ GROUP: api ",
    "",
    "    checks_total.......................: 40      12.921464/s",
    "    checks_succeeded...................: 100.00% 40 out of 40",
    "    checks_failed......................: 0.00%   0 out of 40",
    "",
    "    ✓ status is 200",
    "    ✓ body is ok",
    "",
    "    HTTP",
    "    http_req_blocked...................................: avg=26.31µs  min=3.9µs    med=6.9µs    max=327.97µs p(90)=23.31µs  p(95)=85.32µs ",
    "    http_req_connecting................................: avg=15.69µs  min=0s       med=0s       max=261.21µs p(90)=5.27µs   p(95)=63.14µs ",
    "    http_req_duration..................................: avg=971.16µs min=434.26µs med=769.17µs max=2.79ms   p(90)=1.86ms   p(95)=2.65ms  ",
    "    http_req_failed....................................: 0.00% 0 out of 20",
    "    http_req_receiving.................................: avg=90.37µs  min=14.23µs  med=66.41µs  max=289.41µs p(90)=155.72µs p(95)=183.83µs",
    "    http_req_sending...................................: avg=33.97µs  min=8.31µs   med=25.49µs  max=128.45µs p(90)=67.79µs  p(95)=81.91µs ",
    "    http_req_tls_handshaking...........................: avg=0s       min=0s       med=0s       max=0s       p(90)=0s       p(95)=0s      ",
    "    http_req_waiting...................................: avg=846.81µs min=342.01µs med=591.7µs  max=2.66ms   p(90)=1.64ms   p(95)=2.58ms  ",
    "    http_reqs..........................................: 20    6.460732/s",
    "",
    "    ↳ GROUP: nested ",
    "",
    "      checks_total.......................: 20      6.460732/s",
    "      checks_succeeded...................: 100.00% 20 out of 20",
    "      checks_failed......................: 0.00%   0 out of 20",
    "",
    "      ✓ slept",
    "",
    "      HTTP",
    "      http_req_blocked...................................: avg=4.65µs  min=1.24µs  med=3.17µs  max=18.43µs p(90)=8.27µs  p(95)=17.68µs",
    "      http_req_connecting................................: avg=0s      min=0s      med=0s      max=0s      p(90)=0s      p(95)=0s     ",
    "      http_req_duration..................................: avg=62.78ms min=61.15ms med=62.41ms max=66.24ms p(90)=64.99ms p(95)=65.33ms",
    "      http_req_failed....................................: 0.00% 0 out of 20",
    "      http_req_receiving.................................: avg=42.02ms min=40.21ms med=41.67ms max=45.4ms  p(90)=43.88ms p(95)=44.11ms",
    "      http_req_sending...................................: avg=10.77µs min=4.17µs  med=7.99µs  max=39.25µs p(90)=17.03µs p(95)=18.95µs",
    "      http_req_tls_handshaking...........................: avg=0s      min=0s      med=0s      max=0s      p(90)=0s      p(95)=0s     ",
    "      http_req_waiting...................................: avg=20.75ms min=20.36ms med=20.64ms max=22.06ms p(90)=21.1ms  p(95)=21.43ms",
    "      http_reqs..........................................: 20    6.460732/s",
    "",
    "",
    "  █ GROUP: errors ",
    "",
    "    checks_total.......................: 20      6.460732/s",
    "    checks_succeeded...................: 0.00%   0 out of 20",
    "    checks_failed......................: 100.00% 20 out of 20",
    "",
    "    ✗ status is 200 (fails)",
    "      ↳  0% — ✓ 0 / ✗ 20",
    "",
    "    HTTP",
    "    http_req_blocked...................................: avg=4.43µs   min=1.04µs   med=4.3µs    max=10.07µs  p(90)=6.39µs   p(95)=8.38µs  ",
    "    http_req_connecting................................: avg=0s       min=0s       med=0s       max=0s       p(90)=0s       p(95)=0s      ",
    "    http_req_duration..................................: avg=44.25ms  min=43.56ms  med=43.85ms  max=48.04ms  p(90)=44.63ms  p(95)=47.75ms ",
    "    http_req_failed....................................: 100.00% 20 out of 20",
    "    http_req_receiving.................................: avg=43.71ms  min=42.84ms  med=43.31ms  max=47.36ms  p(90)=44ms     p(95)=47.18ms ",
    "    http_req_sending...................................: avg=16.47µs  min=4.52µs   med=16.47µs  max=28.67µs  p(90)=27.3µs   p(95)=28.04µs ",
    "    http_req_tls_handshaking...........................: avg=0s       min=0s       med=0s       max=0s       p(90)=0s       p(95)=0s      ",
    "    http_req_waiting...................................: avg=525.02µs min=342.55µs med=521.14µs max=898.77µs p(90)=661.39µs p(95)=677.83µs",
    "    http_reqs..........................................: 20      6.460732/s",
];

const LEGACY_CAPTURE: &[&str] = &[
    "     █ api",
    "",
    "       ✓ status is 200",
    "       ✓ body is ok",
    "",
    "       █ nested",
    "",
    "         ✓ slept",
    "",
    "     █ errors",
    "",
    "       ✗ status is 200 (fails)",
    "        ↳  0% — ✓ 0 / ✗ 20",
    "",
    "   ✓ checks.........................: 75.00% 60 out of 80",
    "     data_received..................: 8.8 kB 2.8 kB/s",
    "     data_sent......................: 4.7 kB 1.5 kB/s",
    "     group_duration.................: avg=56.48ms  min=43.64ms  med=62.2ms    max=65.27ms   p(90)=63.27ms  p(95)=63.58ms  ",
    "     http_req_blocked...............: avg=39.3µs   min=1.27µs   med=3.84µs    max=1.5ms     p(90)=8.46µs   p(95)=10.89µs  ",
    "     http_req_connecting............: avg=10.71µs  min=0s       med=0s        max=488.47µs  p(90)=0s       p(95)=0s       ",
    "   ✓ http_req_duration..............: avg=35.56ms  min=331.1µs  med=43.86ms   max=63.57ms   p(90)=62.2ms   p(95)=62.28ms  ",
    "       { expected_response:true }...: avg=31.44ms  min=331.1µs  med=31.16ms   max=63.57ms   p(90)=62.25ms  p(95)=62.46ms  ",
    "     ✓ { group:::api }..............: avg=803.05µs min=331.1µs  med=804.37µs  max=1.23ms    p(90)=1.06ms   p(95)=1.15ms   ",
    "     ✓ { status:404 }...............: avg=43.81ms  min=43.49ms  med=43.86ms   max=44.08ms   p(90)=43.99ms  p(95)=44.03ms  ",
    "   ✓ http_req_failed................: 33.33% 20 out of 60",
    "     http_req_receiving.............: avg=28.22ms  min=22.94µs  med=41.4ms    max=43.55ms   p(90)=43.37ms  p(95)=43.45ms  ",
    "     http_req_sending...............: avg=19.25µs  min=5.34µs   med=11.06µs   max=147.77µs  p(90)=26.69µs  p(95)=56.79µs  ",
    "     http_req_tls_handshaking.......: avg=0s       min=0s       med=0s        max=0s        p(90)=0s       p(95)=0s       ",
    "     http_req_waiting...............: avg=7.31ms   min=178.64µs med=696.3µs   max=20.94ms   p(90)=20.73ms  p(95)=20.79ms  ",
    "     http_reqs......................: 60     19.471349/s",
    "     iteration_duration.............: avg=308.04ms min=307.18ms med=307.95ms  max=310.29ms  p(90)=308.55ms p(95)=309.78ms ",
    "     iterations.....................: 20     6.49045/s",
    "   ✓ my_counter.....................: 20     6.49045/s",
    "   ✓ my_gauge.......................: 11     min=11       max=21",
    "   ✗ my_rate........................: 65.00% 13 out of 20",
    "     my_time_trend..................: avg=12.37ms  min=10.06ms  med=12.1ms    max=14.96ms   p(90)=14.86ms  p(95)=14.9ms   ",
    "   ✗ my_trend.......................: avg=41.70749 min=0.285217 med=42.878054 max=88.881718 p(90)=67.91586 p(95)=74.039177",
    "     vus............................: 2      min=2        max=2 ",
    "     vus_max........................: 2      min=2        max=2 ",
];

/// Metrics compact mode must hide; their long names and wide values would shift every column
/// if they leaked into the layout.
fn compact_hidden_metrics() -> Vec<MetricReport> {
    let wide = [1_234_567.891, 0.0001, 99_999.5, 3_600_000.0, 12.5, 7.25];
    vec![
        trend("group_duration", "time", wide),
        trend("http_req_blocked", "time", wide),
        trend("http_req_connecting", "time", wide),
        trend("http_req_receiving", "time", wide),
        trend("http_req_sending", "time", wide),
        trend("http_req_tls_handshaking", "time", wide),
        trend("http_req_waiting", "time", wide),
        trend(
            "http_req_waiting{some_really_long_tag_name:some_really_long_value}",
            "time",
            wide,
        ),
    ]
}

#[test]
fn compact_matches_the_k6_capture() {
    let mut metrics = compact_capture_metrics();
    metrics.extend(compact_hidden_metrics());
    metrics.reverse(); // input order must not matter
    let report = report(
        metrics,
        test_script_groups(None),
        80_000.0 / 25.941627,
        SummaryMode::Compact,
    );
    assert_text(&report.render_text(), &framed(COMPACT_CAPTURE));
}

#[test]
fn compact_matches_k6_on_raw_values_of_the_same_run() {
    // `json_out.stdout` and `summary_export.json` come from one k6 run; the duration is the
    // one that gives `data_sent`'s rate.
    let report = report(
        json_out_run_metrics(),
        test_script_groups(None),
        4_680_000.0 / 1511.9523589626892,
        SummaryMode::Compact,
    );
    assert_text(&report.render_text(), &framed(JSON_OUT_CAPTURE));
}

#[test]
fn full_matches_the_k6_capture() {
    let groups = test_script_groups(Some([
        full_capture_metrics_group_api(),
        full_capture_metrics_group_nested(),
        full_capture_metrics_group_errors(),
    ]));
    let mut metrics = full_capture_metrics();
    // Full mode still hides `group_duration` and `checks` from the metric lists.
    metrics.push(trend(
        "group_duration",
        "time",
        [1e9, 1e9, 1e9, 1e9, 1e9, 1e9],
    ));
    let report = report(metrics, groups, 80_000.0 / 25.842928, SummaryMode::Full);
    assert_text(&report.render_text(), &framed(FULL_CAPTURE));
}

#[test]
fn legacy_matches_the_k6_capture() {
    // The legacy layout shows only a ✓/✗ mark per metric, so observed values are irrelevant.
    let mut metrics = legacy_capture_metrics();
    metrics.reverse();
    let report = report(
        metrics,
        test_script_groups(None),
        3000.0,
        SummaryMode::Legacy,
    );
    assert_text(&report.render_text(), &LEGACY_CAPTURE.join("\n"));
}

fn small_report(mode: SummaryMode) -> SummaryReport {
    let metrics = vec![
        MetricReport::rate("checks", 3, 1)
            .with_threshold(ThresholdReport::new("rate>0.5", true, 0.75)),
        MetricReport::counter("http_reqs", "default", 4.0, 2.0)
            .with_threshold(ThresholdReport::new("rate>1", true, 2.0)),
        trend(
            "http_req_duration",
            "time",
            [10.0, 5.0, 10.0, 15.0, 14.0, 14.5],
        )
        .with_threshold(ThresholdReport::new("p(95)<500", false, 14.5)),
        MetricReport::counter("data_received", "data", 8780.0, 4390.0),
    ];
    let root = GroupReport {
        checks: vec![check("", "ok", 3, 0), check("", "bad", 0, 1)],
        ..Default::default()
    };
    let mut report = report(metrics, root, 2000.0, mode);
    report.state.is_stdout_tty = true;
    report.options.no_color = false;
    report
}

#[test]
fn colours_follow_k6_and_need_a_terminal() {
    let colored = small_report(SummaryMode::Compact).render_text();
    assert!(colored.contains("  █ \x1b[1mTHRESHOLDS\x1b[0m \n"));
    assert!(colored.contains(
        "    \x1b[32m✓\x1b[0m \x1b[37m'rate>0.5'\x1b[0m \x1b[37mrate\x1b[0m=\x1b[36m75.00%\x1b[0m"
    ));
    assert!(colored.contains("    \x1b[31m✗\x1b[0m \x1b[37m'p(95)<500'\x1b[0m"));
    assert!(colored.contains("    \x1b[32m✓ ok\x1b[0m\n"));
    assert!(colored.contains("    \x1b[31m✗ bad\x1b[0m\n      \x1b[31m↳  0% — ✓ 0 / ✗ 1\x1b[0m"));
    assert!(colored.contains("    \x1b[1mHTTP\x1b[0m\n"));
    assert!(colored.contains("http_reqs\x1b[2;37m"));
    assert!(colored.contains("\x1b[36m4\x1b[0m"));
    assert!(colored.contains("\x1b[2;36m2/s\x1b[0m"));
    assert!(colored.contains("avg=\x1b[36m10ms\x1b[0m"));

    let mut plain = small_report(SummaryMode::Compact);
    plain.options.no_color = true;
    let plain_text = plain.render_text();
    assert!(!plain_text.contains('\x1b'));
    assert_eq!(strip_ansi(&colored), plain_text);

    // noColor=false is not enough: k6 colours only a terminal (the captures had no escapes).
    let mut piped = small_report(SummaryMode::Compact);
    piped.state.is_stdout_tty = false;
    assert_eq!(piped.render_text(), plain_text);
}

#[test]
fn legacy_colours_use_the_old_escape_order() {
    let colored = small_report(SummaryMode::Legacy).render_text();
    assert!(colored.contains("\x1b[32m     ✓ ok\x1b[0m"));
    assert!(colored.contains("\x1b[31m     ✗ bad\n      ↳  0% — ✓ 0 / ✗ 1\x1b[0m"));
    assert!(colored.contains("   \x1b[31m✗\x1b[0m http_req_duration\x1b[2m"));
    assert!(colored.contains("\x1b[36;2m"));
    let mut plain = small_report(SummaryMode::Legacy);
    plain.options.no_color = true;
    assert_eq!(strip_ansi(&colored), plain.render_text());
}

#[test]
fn thresholds_show_values_like_the_metric_lines() {
    let mut report = small_report(SummaryMode::Compact);
    report.options.no_color = true;
    let text = report.render_text();
    // A counter's rate threshold keeps `/s`; a failed threshold gets ✗.
    assert!(text.contains("    http_reqs\n    ✓ 'rate>1' rate=2/s\n"));
    assert!(text.contains("    ✗ 'p(95)<500' p(95)=14.5ms\n"));
    // Root-level checks: 3 passed, 1 failed, over 2 s.
    assert!(text.contains("    checks_total.......................: 4      2/s\n"));
    assert!(text.contains("    checks_succeeded...................: 75.00% 3 out of 4\n"));
    assert!(text.contains("    checks_failed......................: 25.00% 1 out of 4\n"));
    assert!(text.contains("    data_received........................: 8.8 kB 4.4 kB/s\n"));

    report.options.time_unit = Some("s".into());
    let text = report.render_text();
    assert!(text.contains("✗ 'p(95)<500' p(95)=0.01s\n"));
    assert!(text.contains(": avg=0.01s min=0.01s med=0.01s max=0.01s p(90)=0.01s p(95)=0.01s\n"));
}

#[test]
fn submetric_thresholds_without_parent_thresholds_use_the_full_name() {
    let metrics = vec![
        trend("http_req_duration", "time", [1.0; 6]),
        trend("http_req_duration{status:200}", "time", [2.0; 6])
            .with_threshold(ThresholdReport::new("max<10", true, 2.0)),
    ];
    let text = report(
        metrics,
        GroupReport::default(),
        1000.0,
        SummaryMode::Compact,
    )
    .render_text();
    assert!(text.starts_with(
        "\n  █ THRESHOLDS \n\n    http_req_duration{status:200}\n    ✓ 'max<10' max=2ms\n\n\n  █ TOTAL RESULTS \n\n    HTTP\n"
    ));
    assert!(text.contains("\n      { status:200 }....."));
}

#[test]
fn sections_are_optional() {
    // No thresholds and no checks: TOTAL RESULTS only, straight into the metric groups.
    let metrics = vec![MetricReport::counter("iterations", "default", 5.0, 1.0)];
    let text = report(
        metrics,
        GroupReport::default(),
        5000.0,
        SummaryMode::Compact,
    )
    .render_text();
    assert_eq!(
        text,
        "\n  █ TOTAL RESULTS \n\n    EXECUTION\n    iterations.............: 5 1/s\n\n"
    );
    let empty = report(vec![], GroupReport::default(), 0.0, SummaryMode::Compact).render_text();
    assert_eq!(empty, "\n  █ TOTAL RESULTS \n\n");
    let legacy = report(vec![], GroupReport::default(), 0.0, SummaryMode::Legacy).render_text();
    assert_eq!(legacy, "");
}

#[test]
fn metrics_are_grouped_by_kind_with_custom_first() {
    let names = [
        "ws_sessions",
        "grpc_req_duration",
        "browser_web_vital_lcp",
        "browser_http_req_duration",
        "data_sent",
        "dropped_iterations",
        "http_reqs",
        "zeta_custom",
        "Alpha_custom",
    ];
    let metrics = names
        .iter()
        .map(|n| MetricReport::counter(n, "default", 1.0, 1.0))
        .collect();
    let text = report(
        metrics,
        GroupReport::default(),
        1000.0,
        SummaryMode::Compact,
    )
    .render_text();
    let headers: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    assert_eq!(
        headers,
        [
            "CUSTOM",
            "HTTP",
            "EXECUTION",
            "NETWORK",
            "BROWSER",
            "WEB_VITALS",
            "GRPC",
            "WEBSOCKET"
        ]
    );
    let custom = text.find("Alpha_custom").unwrap_or(usize::MAX);
    assert!(
        custom < text.find("zeta_custom").unwrap_or(0),
        "custom metrics sort case-insensitively"
    );
}

#[test]
fn total_results_merge_checks_by_name_in_first_seen_order() {
    let root = GroupReport {
        checks: vec![check("", "root check", 1, 0)],
        groups: vec![
            GroupReport {
                name: "b".into(),
                path: "::b".into(),
                checks: vec![check("::b", "same", 2, 0), check("::b", "other", 1, 0)],
                ..Default::default()
            },
            GroupReport {
                name: "a".into(),
                path: "::a".into(),
                checks: vec![check("::a", "same", 0, 3)],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    // Without a `checks` metric the totals come from the tree.
    let text = report(vec![], root, 1000.0, SummaryMode::Compact).render_text();
    assert!(text.contains("    checks_total.......................: 7      7/s\n"));
    assert!(text.contains("    checks_succeeded...................: 57.14% 4 out of 7\n"));
    assert!(text.contains("    ✓ root check\n    ✗ same\n      ↳  40% — ✓ 2 / ✗ 3\n    ✓ other\n"));
}

#[test]
fn full_mode_sorts_groups_and_indents_nested_ones() {
    let root = GroupReport {
        groups: vec![
            GroupReport {
                name: "zulu".into(),
                path: "::zulu".into(),
                groups: vec![GroupReport {
                    name: "inner".into(),
                    path: "::zulu::inner".into(),
                    checks: vec![check("::zulu::inner", "flaky", 1, 1)],
                    ..Default::default()
                }],
                ..Default::default()
            },
            GroupReport {
                name: "alpha".into(),
                path: "::alpha".into(),
                metrics: Some(vec![MetricReport::counter(
                    "http_reqs",
                    "default",
                    3.0,
                    1.5,
                )]),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let text = report(vec![], root, 2000.0, SummaryMode::Full).render_text();
    let alpha = text.find("█ GROUP: alpha").unwrap_or(usize::MAX);
    let zulu = text.find("█ GROUP: zulu").unwrap_or(0);
    assert!(alpha < zulu, "groups are sorted by name:\n{text}");
    assert!(
        text.contains("  █ GROUP: alpha \n\n    HTTP\n    http_reqs............: 3 1.5/s\n\n\n")
    );
    // A group without checks or metrics has an empty body; its nested group follows.
    assert!(text.contains("  █ GROUP: zulu \n\n    ↳ GROUP: inner \n\n      checks_total"));
    // k6 indents a failed check's details two levels per nesting level.
    assert!(text.contains("      ✗ flaky\n          ↳  50% — ✓ 1 / ✗ 1\n"));
}

#[test]
fn locale_order_matches_js_local_compare() {
    use std::cmp::Ordering::{Greater, Less};
    assert_eq!(locale_compare("http_req_duration", "http_reqs"), Less);
    assert_eq!(locale_compare("my_time_trend", "my_trend"), Less);
    assert_eq!(locale_compare("vus", "vus_max"), Less);
    assert_eq!(
        locale_compare("a_b", "a1"),
        Less,
        "underscore sorts before digits"
    );
    assert_eq!(locale_compare("a", "B"), Less, "case-insensitive first");
    assert_eq!(
        locale_compare("abc", "Abc"),
        Less,
        "lowercase first on ties"
    );
    assert_eq!(locale_compare("b", "a"), Greater);
    assert_eq!(
        compare_metric_names("m{a:1}", "m_x"),
        Less,
        "submetrics stay with their parent"
    );
    assert_eq!(compare_metric_names("m", "m{a:1}"), Less);
    assert_eq!(
        compare_metric_names(
            "http_req_duration{group:::api}",
            "http_req_duration{expected_response:true}"
        ),
        Greater
    );
}

#[test]
fn submetric_display_names() {
    assert_eq!(
        display_name("http_req_duration{status:404}"),
        "{ status:404 }"
    );
    assert_eq!(
        display_name("http_req_duration{group:::api}"),
        "{ group:::api }"
    );
    assert_eq!(display_name("http_reqs"), "http_reqs");
    assert_eq!(display_name("broken{"), "{  }");
}

#[test]
fn custom_trend_stats_and_count() {
    let metrics = vec![
        MetricReport::trend("t", "time", &[("count", 12.0), ("p(99.9)", 1500.0)])
            .with_threshold(ThresholdReport::new("count>10", true, 12.0)),
    ];
    let mut report = report(
        metrics,
        GroupReport::default(),
        1000.0,
        SummaryMode::Compact,
    );
    report.options.trend_stats = vec!["count".into(), "p(99.9)".into(), "avg".into()];
    let text = report.render_text();
    assert!(text.contains("✓ 'count>10' count=12\n"));
    // A stat missing from the values prints like k6's undefined arithmetic: NaN.
    assert!(text.contains(": count=12 p(99.9)=1.5s avg=NaN"), "{text}");
}
