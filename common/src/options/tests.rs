use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::executors::{
    rate_per_second, ConstantArrivalRate, ConstantVus, ExternallyControlled, PerVuIterations,
    RampingArrivalRate, RampingVus, SharedIterations,
};
use super::*;
use crate::duration::format_duration;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn resolve(v: Value) -> Result<ResolvedOptions, OptionsError> {
    Options::from_script_json(&v)?.resolve()
}

fn only(r: &ResolvedOptions) -> &ScenarioConfig {
    assert_eq!(r.scenarios.len(), 1);
    &r.scenarios[0]
}

fn err(v: Value) -> String {
    match resolve(v) {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e.to_string(),
    }
}

fn problem(scenario: &str, msg: &str) -> String {
    format!("{CONFIG_PROBLEMS_HEADER}\n\t- scenario {scenario} has configuration errors: {msg}")
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// --- shortcuts ---

#[test]
fn nothing_set_runs_one_iteration_on_one_vu() {
    let r = resolve(json!({})).unwrap();
    let sc = only(&r);
    assert_eq!(sc.name, "default");
    assert_eq!(
        sc.executor,
        ExecutorConfig::PerVuIterations(PerVuIterations::new(1, 1, secs(600)))
    );
    assert_eq!(
        sc.description(),
        "1 iterations for each of 1 VUs (maxDuration: 10m0s, gracefulStop: 30s)"
    );
    assert_eq!(r.max_duration_incl_graceful_stop(), secs(630));
    assert!(r.warnings.is_empty());
    // null is "not set" too
    assert_eq!(resolve(Value::Null).unwrap().scenarios, r.scenarios);
}

#[test]
fn duration_shortcut_is_constant_vus() {
    let r = resolve(json!({"vus": 2, "duration": "3s"})).unwrap();
    let sc = only(&r);
    assert_eq!(
        sc.executor,
        ExecutorConfig::ConstantVus(ConstantVus::new(2, secs(3)))
    );
    assert_eq!(sc.description(), "2 looping VUs for 3s (gracefulStop: 30s)");
    assert_eq!(sc.max_duration(), secs(3));
    assert_eq!(sc.max_vus(), 2);
    assert_eq!(format_duration(r.max_duration_incl_graceful_stop()), "33s");
    // without vus: 1 VU
    let r = resolve(json!({"duration": 20000})).unwrap();
    assert_eq!(
        only(&r).description(),
        "1 looping VUs for 20s (gracefulStop: 30s)"
    );
}

#[test]
fn iterations_shortcut_is_shared_iterations() {
    let r = resolve(json!({"vus": 2, "iterations": 10})).unwrap();
    let sc = only(&r);
    assert_eq!(
        sc.executor,
        ExecutorConfig::SharedIterations(SharedIterations::new(2, 10, secs(600)))
    );
    assert_eq!(
        sc.description(),
        "10 iterations shared among 2 VUs (maxDuration: 10m0s, gracefulStop: 30s)"
    );
    // duration becomes maxDuration
    let r = resolve(json!({"iterations": 5, "duration": "1m"})).unwrap();
    assert_eq!(
        only(&r).executor,
        ExecutorConfig::SharedIterations(SharedIterations::new(1, 5, secs(60)))
    );
}

#[test]
fn stages_shortcut_is_ramping_vus() {
    let r = resolve(json!({"vus": 3, "stages": [
        {"duration": "30s", "target": 10}, {"duration": "30s", "target": 0}
    ]}))
    .unwrap();
    let sc = only(&r);
    assert_eq!(
        sc.executor,
        ExecutorConfig::RampingVus(RampingVus::new(
            3,
            vec![
                Stage {
                    duration: secs(30),
                    target: 10
                },
                Stage {
                    duration: secs(30),
                    target: 0
                }
            ],
            secs(30)
        ))
    );
    assert_eq!(
        sc.description(),
        "Up to 10 looping VUs for 1m0s over 2 stages (gracefulRampDown: 30s, gracefulStop: 30s)"
    );
    assert_eq!(sc.max_vus(), 10);
    assert_eq!(r.max_duration_incl_graceful_stop(), secs(90));
}

#[test]
fn vus_alone_is_ignored_with_a_warning() {
    let r = resolve(json!({"vus": 10})).unwrap();
    assert_eq!(
        only(&r).executor,
        ExecutorConfig::PerVuIterations(PerVuIterations::new(1, 1, secs(600)))
    );
    assert_eq!(
        r.warnings,
        vec!["the `vus=10` option will be ignored, it only works in conjunction with `iterations`, `duration`, or `stages`"]
    );
    let r = resolve(json!({"stages": []})).unwrap();
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].contains("`stages` was explicitly set to an empty value"));
    let r = resolve(json!({"scenarios": {}})).unwrap();
    assert!(r.warnings[0].contains("`scenarios` was explicitly set to an empty value"));
    assert_eq!(only(&r).name, "default");
}

#[test]
fn shortcut_conflicts_are_errors() {
    let stages = json!([{"duration": "1s", "target": 1}]);
    let sc = json!({"s": {"executor": "constant-vus", "duration": "1s"}});
    assert_eq!(
        err(json!({"iterations": 1, "stages": stages})),
        "using multiple execution config shortcuts (`iterations` and `stages`) simultaneously is not allowed"
    );
    assert_eq!(
        err(json!({"duration": "1s", "stages": stages})),
        "using multiple execution config shortcuts (`duration` and `stages`) simultaneously is not allowed"
    );
    for (key, value) in [
        ("iterations", json!(1)),
        ("duration", json!("1s")),
        ("stages", stages.clone()),
    ] {
        let mut o = json!({"scenarios": sc.clone()});
        o[key] = value;
        assert_eq!(
            err(o),
            format!("using an execution configuration shortcut (`{key}`) and `scenarios` simultaneously is not allowed")
        );
    }
    // vus next to scenarios is fine (and ignored), as in k6
    let r = resolve(json!({"vus": 5, "scenarios": sc})).unwrap();
    assert_eq!(
        only(&r).executor,
        ExecutorConfig::ConstantVus(ConstantVus::new(1, secs(1)))
    );
}

#[test]
fn zero_or_negative_duration_is_rejected() {
    let msg = "`duration` option should be more than 0, for infinite duration use the externally-controlled executor";
    assert_eq!(err(json!({"duration": "0s"})), msg);
    assert_eq!(err(json!({"vus": 5, "duration": 0})), msg);
    assert_eq!(err(json!({"duration": "-1s"})), msg);
    let e = err(json!({"duration": "banana"}));
    assert!(e.contains("options.duration"), "{e}");
    assert!(e.contains("time: invalid duration \"banana\""), "{e}");
}

#[test]
fn negative_vus_uses_k6_wording() {
    assert_eq!(
        err(json!({"vus": -1, "duration": "10s"})),
        problem("default", "the number of VUs must be more than 0")
    );
    assert_eq!(
        err(json!({"vus": 0, "duration": "10s"})),
        problem("default", "the number of VUs must be more than 0")
    );
    assert_eq!(
        err(json!({"vus": -1, "iterations": 3})),
        problem("default", "the number of VUs must be more than 0")
    );
    assert_eq!(
        err(json!({"vus": -2, "stages": [{"duration": "1s", "target": 1}]})),
        problem("default", "the number of start VUs shouldn't be negative")
    );
    let e = OptionsError::new("x");
    assert_eq!(e.exit_code(), 104);
}

#[test]
fn zero_iterations_is_a_config_error() {
    assert_eq!(
        err(json!({"iterations": 0})),
        problem(
            "default",
            "the number of iterations (0) can't be less than the number of VUs (1)"
        )
    );
    assert_eq!(
        err(json!({"iterations": -3, "vus": 2})),
        problem(
            "default",
            "the number of iterations (-3) can't be less than the number of VUs (2)"
        )
    );
}

#[test]
fn shortcut_min_duration() {
    assert_eq!(
        err(json!({"duration": "500ms"})),
        problem("default", "the duration must be at least 1s, but is 500ms")
    );
    assert_eq!(
        err(json!({"iterations": 1, "duration": "500ms"})),
        problem(
            "default",
            "the maxDuration must be at least 1s, but is 500ms"
        )
    );
}

// --- executors ---

fn scenario(v: Value) -> ScenarioConfig {
    ScenarioConfig::from_json("s", &v).unwrap()
}

fn scenario_err(v: Value) -> String {
    ScenarioConfig::from_json("s", &v).unwrap_err().to_string()
}

#[test]
fn each_executor_parses_with_defaults() {
    let sc = scenario(json!({"executor": "shared-iterations"}));
    assert_eq!(
        sc.executor,
        ExecutorConfig::SharedIterations(SharedIterations::new(1, 1, secs(600)))
    );
    assert_eq!(sc.start_time, Duration::ZERO);
    assert_eq!(sc.graceful_stop, secs(30));
    assert_eq!(sc.exec, "default");
    assert!(sc.env.is_empty() && sc.tags.is_empty() && sc.options.is_none());

    let sc = scenario(json!({"executor": "per-vu-iterations"}));
    assert_eq!(
        sc.executor,
        ExecutorConfig::PerVuIterations(PerVuIterations::new(1, 1, secs(600)))
    );

    let sc = scenario(json!({"executor": "constant-vus", "duration": "1m"}));
    assert_eq!(
        sc.executor,
        ExecutorConfig::ConstantVus(ConstantVus::new(1, secs(60)))
    );

    let sc =
        scenario(json!({"executor": "ramping-vus", "stages": [{"duration": "10s", "target": 5}]}));
    assert_eq!(
        sc.executor,
        ExecutorConfig::RampingVus(RampingVus::new(
            1,
            vec![Stage {
                duration: secs(10),
                target: 5
            }],
            secs(30)
        ))
    );

    let sc = scenario(
        json!({"executor": "constant-arrival-rate", "rate": 100, "duration": "10s", "preAllocatedVUs": 10}),
    );
    assert_eq!(
        sc.executor,
        ExecutorConfig::ConstantArrivalRate(ConstantArrivalRate::new(
            100,
            secs(1),
            secs(10),
            10,
            10
        ))
    );

    let sc = scenario(
        json!({"executor": "ramping-arrival-rate", "preAllocatedVUs": 5,
        "stages": [{"duration": "10s", "target": 100}]}),
    );
    assert_eq!(
        sc.executor,
        ExecutorConfig::RampingArrivalRate(RampingArrivalRate::new(
            0,
            secs(1),
            vec![Stage {
                duration: secs(10),
                target: 100
            }],
            5,
            5
        ))
    );

    let sc = scenario(
        json!({"executor": "externally-controlled", "vus": 2, "maxVUs": 10, "duration": "5m"}),
    );
    assert_eq!(
        sc.executor,
        ExecutorConfig::ExternallyControlled(ExternallyControlled::new(2, 10, secs(300)))
    );
    assert_eq!(sc.graceful_stop, Duration::ZERO);
    assert_eq!(sc.max_vus(), 10);
}

#[test]
fn common_scenario_fields_parse() {
    let sc = scenario(json!({
        "executor": "constant-vus", "duration": "30s", "vus": 3,
        "startTime": "10s", "gracefulStop": "5s", "exec": "api",
        "env": {"A": "1"}, "tags": {"team": "core"}, "options": {"browser": {"type": "chromium"}}
    }));
    assert_eq!(sc.start_time, secs(10));
    assert_eq!(sc.graceful_stop, secs(5));
    assert_eq!(sc.exec, "api");
    assert_eq!(sc.env.get("A").map(String::as_str), Some("1"));
    assert_eq!(sc.tags.get("team").map(String::as_str), Some("core"));
    assert_eq!(sc.options, Some(json!({"browser": {"type": "chromium"}})));
    assert_eq!(
        sc.description(),
        "3 looping VUs for 30s (exec: api, startTime: 10s, gracefulStop: 5s)"
    );
}

#[test]
fn scenario_parse_errors() {
    assert_eq!(
        scenario_err(json!({"executor": "constant-vu", "duration": "1s"})),
        problem(
            "s",
            "unknown executor type 'constant-vu'; valid executors are: constant-arrival-rate, constant-vus, \
             externally-controlled, per-vu-iterations, ramping-arrival-rate, ramping-vus, shared-iterations"
        )
    );
    assert!(scenario_err(json!({"vus": 1})).contains("the executor is missing"));
    let e = scenario_err(json!({"executor": "constant-vus", "vu": 1, "duration": "1s"}));
    assert!(
        e.contains("unknown option \"vu\" for the constant-vus executor"),
        "{e}"
    );
    assert!(e.contains("valid options are: executor, startTime, gracefulStop, exec, env, tags, options, vus, duration"), "{e}");
    assert_eq!(
        scenario_err(
            json!({"executor": "externally-controlled", "duration": "1m", "gracefulStop": "5s"})
        ),
        problem(
            "s",
            "gracefulStop is not supported by the externally controlled executor"
        )
    );
    assert_eq!(
        scenario_err(json!({"executor": "constant-vus", "duration": "1s", "startTime": "-1s"})),
        problem("s", "the startTime can't be negative")
    );
    assert_eq!(
        scenario_err(json!({"executor": "constant-vus", "duration": "1s", "gracefulStop": "-1s"})),
        problem("s", "the gracefulStop timeout can't be negative")
    );
    assert_eq!(
        scenario_err(json!({"executor": "constant-vus", "duration": "1s", "exec": ""})),
        problem("s", "exec value cannot be empty")
    );
    assert_eq!(
        scenario_err(json!({"executor": "constant-vus"})),
        problem("s", "the duration is unspecified")
    );
    assert_eq!(
        scenario_err(
            json!({"executor": "constant-arrival-rate", "duration": "1s", "preAllocatedVUs": 1})
        ),
        problem("s", "the iteration rate isn't specified")
    );
    assert_eq!(
        scenario_err(json!({"executor": "constant-arrival-rate", "rate": 1, "duration": "1s"})),
        problem("s", "the number of preAllocatedVUs isn't specified")
    );
    assert_eq!(
        scenario_err(
            json!({"executor": "ramping-arrival-rate", "preAllocatedVUs": 1, "timeUnit": "0s", "stages": []})
        ),
        problem("s", "the timeUnit must be more than 0")
    );
    assert_eq!(
        scenario_err(
            json!({"executor": "ramping-arrival-rate", "preAllocatedVUs": 1, "startRate": -1})
        ),
        problem("s", "the startRate value shouldn't be negative")
    );
    assert_eq!(
        scenario_err(json!({"executor": "externally-controlled"})),
        problem(
            "s",
            "the duration should be specified, for infinite duration use 0"
        )
    );
    assert_eq!(
        scenario_err(
            json!({"executor": "externally-controlled", "vus": 5, "maxVUs": 2, "duration": 0})
        ),
        problem(
            "s",
            "the number of active VUs (5) must be less than or equal to the number of maxVUs (2)"
        )
    );
    assert_eq!(
        scenario_err(json!({"executor": "ramping-vus", "stages": [{"duration": "1s"}]})),
        problem("s", "stage 1 doesn't have a target")
    );
    assert_eq!(
        scenario_err(
            json!({"executor": "ramping-vus", "stages": [{"duration": "1s", "target": 1}, {"target": 1}]})
        ),
        problem("s", "stage 2 doesn't have a duration")
    );
    assert_eq!(
        scenario_err(
            json!({"executor": "ramping-vus", "stages": [{"duration": "-1s", "target": 1}]})
        ),
        problem("s", "the duration for stage 1 shouldn't be negative")
    );
    assert_eq!(
        scenario_err(
            json!({"executor": "ramping-vus", "stages": [{"duration": "1s", "target": -1}]})
        ),
        problem("s", "the target for stage 1 shouldn't be negative")
    );
    assert_eq!(
        scenario_err(json!({"executor": "constant-vus", "duration": "1s", "vus": "ten"})),
        "options.scenarios.s.vus must be a non-negative integer, got \"ten\""
    );
    assert_eq!(
        scenario_err(json!({"executor": "constant-vus", "duration": "1s", "env": {"A": 1}})),
        "options.scenarios.s.env.A must be a string, got 1"
    );
    assert_eq!(
        scenario_err(json!([])),
        "options.scenarios.s must be an object, got []"
    );
}

#[test]
fn scenario_validation_errors() {
    let check = |v: Value, msg: &str| {
        assert_eq!(err(json!({"scenarios": {"s": v}})), problem("s", msg));
    };
    check(
        json!({"executor": "shared-iterations", "vus": 5, "iterations": 2}),
        "the number of iterations (2) can't be less than the number of VUs (5)",
    );
    check(
        json!({"executor": "shared-iterations", "vus": 0}),
        "the number of VUs must be more than 0",
    );
    check(
        json!({"executor": "per-vu-iterations", "iterations": 0}),
        "the number of iterations must be more than 0",
    );
    check(
        json!({"executor": "per-vu-iterations", "maxDuration": "0.5s"}),
        "the maxDuration must be at least 1s, but is 500ms",
    );
    check(
        json!({"executor": "constant-vus", "duration": "999ms"}),
        "the duration must be at least 1s, but is 999ms",
    );
    check(
        json!({"executor": "constant-arrival-rate", "rate": 10, "duration": "10s", "preAllocatedVUs": 10, "maxVUs": 5}),
        "maxVUs shouldn't be less than preAllocatedVUs",
    );
    check(
        json!({"executor": "constant-arrival-rate", "rate": 0, "duration": "10s", "preAllocatedVUs": 1}),
        "the iteration rate must be more than 0",
    );
    check(
        json!({"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "1s", "target": 0}]}),
        "either startVUs or one of the stages' target values must be greater than 0",
    );
    check(
        json!({"executor": "ramping-vus", "stages": []}),
        "at least one stage has to be specified",
    );
    check(
        json!({"executor": "ramping-arrival-rate", "preAllocatedVUs": 1}),
        "at least one stage has to be specified",
    );
    check(
        json!({"executor": "externally-controlled", "vus": 3, "duration": "1m"}),
        "the number of active VUs (3) must be less than or equal to the number of maxVUs (0)",
    );
    // Several problems are all listed, one per line.
    let e = err(json!({"scenarios": {
        "a": {"executor": "constant-vus", "vus": 0, "duration": "1s"},
        "b": {"executor": "per-vu-iterations", "iterations": 0}
    }}));
    assert_eq!(
        e,
        format!(
            "{CONFIG_PROBLEMS_HEADER}\n\t- scenario a has configuration errors: the number of VUs must be more than 0\
             \n\t- scenario b has configuration errors: the number of iterations must be more than 0"
        )
    );
}

#[test]
fn scenario_names_are_whitelisted() {
    let ok = resolve(json!({"scenarios": {"api_v2-Load9": {"executor": "shared-iterations"}}}));
    assert!(ok.is_ok());
    assert_eq!(
        err(json!({"scenarios": {"my scenario": {"executor": "shared-iterations"}}})),
        problem(
            "my scenario",
            "the scenario name should contain only numbers, latin letters, underscores, and dashes"
        )
    );
    assert!(
        err(json!({"scenarios": {"": {"executor": "shared-iterations"}}}))
            .contains("scenario name can't be empty")
    );
}

#[test]
fn resolved_scenarios_are_sorted_by_start_time_then_name() {
    let r = resolve(json!({"scenarios": {
        "zeta": {"executor": "shared-iterations"},
        "late": {"executor": "shared-iterations", "startTime": "40s"},
        "mid": {"executor": "shared-iterations", "startTime": "10s"},
        "alpha": {"executor": "shared-iterations"}
    }}))
    .unwrap();
    let names: Vec<&str> = r.scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["alpha", "zeta", "mid", "late"]);
    // the script order stays in Options
    let names: Vec<&str> = r
        .options
        .scenarios
        .as_ref()
        .unwrap()
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["zeta", "late", "mid", "alpha"]);
    assert_eq!(r.max_duration_incl_graceful_stop(), secs(40 + 600 + 30));
    assert_eq!(r.scenario("mid").map(|s| s.start_time), Some(secs(10)));
    assert!(r.scenario("nope").is_none());
}

// --- descriptions ---

#[test]
fn descriptions_match_k6() {
    let d = |v: Value| scenario(v).description();
    assert_eq!(
        d(json!({"executor": "per-vu-iterations", "vus": 20, "iterations": 100})),
        "100 iterations for each of 20 VUs (maxDuration: 10m0s, gracefulStop: 30s)"
    );
    assert_eq!(
        d(
            json!({"executor": "per-vu-iterations", "vus": 6, "iterations": 4, "maxDuration": "10m", "gracefulStop": 0})
        ),
        "4 iterations for each of 6 VUs (maxDuration: 10m0s, gracefulStop: 0s)"
    );
    assert_eq!(
        d(
            json!({"executor": "constant-arrival-rate", "rate": 100, "duration": "10s", "preAllocatedVUs": 10})
        ),
        "100.00 iterations/s for 10s (maxVUs: 10, gracefulStop: 30s)"
    );
    assert_eq!(
        d(
            json!({"executor": "constant-arrival-rate", "rate": 500, "duration": "30s",
                 "preAllocatedVUs": 100, "maxVUs": 1000, "gracefulStop": "5s"})
        ),
        "500.00 iterations/s for 30s (maxVUs: 100-1000, gracefulStop: 5s)"
    );
    assert_eq!(
        d(
            json!({"executor": "constant-arrival-rate", "rate": 1000, "timeUnit": "3s", "duration": "1m",
                 "preAllocatedVUs": 20, "maxVUs": 40, "exec": "produce"})
        ),
        "333.33 iterations/s for 1m0s (maxVUs: 20-40, exec: produce, gracefulStop: 30s)"
    );
    assert_eq!(
        d(
            json!({"executor": "constant-arrival-rate", "rate": 30, "timeUnit": "1m", "duration": "1m",
                 "preAllocatedVUs": 1, "startTime": "10s"})
        ),
        "0.50 iterations/s for 1m0s (maxVUs: 1, startTime: 10s, gracefulStop: 30s)"
    );
    assert_eq!(
        d(
            json!({"executor": "ramping-arrival-rate", "startRate": 10, "preAllocatedVUs": 50,
                 "stages": [{"duration": "5s", "target": 100}, {"duration": "5s", "target": 0}]})
        ),
        "Up to 100.00 iterations/s for 10s over 2 stages (maxVUs: 50, gracefulStop: 30s)"
    );
    assert_eq!(
        d(json!({"executor": "ramping-vus", "startVUs": 0, "gracefulRampDown": "10s", "exec": "loginScenario",
                 "stages": [{"duration": "1m", "target": 5}, {"duration": "3m", "target": 5}]})),
        "Up to 5 looping VUs for 4m0s over 2 stages (gracefulRampDown: 10s, exec: loginScenario, gracefulStop: 30s)"
    );
    assert_eq!(
        d(json!({"executor": "externally-controlled", "vus": 2, "maxVUs": 10, "duration": "5m"})),
        "Externally controlled execution with 2 VUs, 10 max VUs, 5m0s duration"
    );
    assert_eq!(
        d(
            json!({"executor": "shared-iterations", "vus": 10, "iterations": 200, "maxDuration": "30s"})
        ),
        "200 iterations shared among 10 VUs (maxDuration: 30s, gracefulStop: 30s)"
    );
}

#[test]
fn rate_rounds_half_away_from_zero() {
    assert_eq!(rate_per_second(1, Duration::from_secs(3)), "0.33");
    assert_eq!(rate_per_second(2, Duration::from_secs(3)), "0.67");
    assert_eq!(rate_per_second(1, Duration::from_secs(8)), "0.13"); // 0.125
    assert_eq!(rate_per_second(5, Duration::from_millis(100)), "50.00");
    assert_eq!(rate_per_second(1, Duration::ZERO), "0.00");
}

#[test]
fn max_duration_per_executor() {
    let md = |v: Value| scenario(v).max_duration();
    assert_eq!(
        md(json!({"executor": "shared-iterations", "maxDuration": "1m"})),
        secs(60)
    );
    assert_eq!(
        md(
            json!({"executor": "ramping-arrival-rate", "preAllocatedVUs": 1,
                  "stages": [{"duration": "1m", "target": 1}, {"duration": "2s", "target": 1}]})
        ),
        secs(62)
    );
    assert_eq!(
        md(json!({"executor": "externally-controlled", "duration": 0})),
        Duration::ZERO
    );
    let r = resolve(json!({"scenarios": {"e": {"executor": "externally-controlled", "vus": 2, "maxVUs": 10, "duration": "5m"}}}))
        .unwrap();
    assert_eq!(format_duration(r.max_duration_incl_graceful_stop()), "5m0s");
}

// --- top-level options ---

#[test]
fn type_errors_name_the_option() {
    let e = |v: Value| Options::from_script_json(&v).unwrap_err().to_string();
    assert_eq!(
        e(json!({"vus": "ten"})),
        "options.vus must be a non-negative integer, got \"ten\""
    );
    assert_eq!(
        e(json!({"vus": 1.5})),
        "options.vus must be a non-negative integer, got 1.5"
    );
    assert_eq!(
        e(json!({"maxRedirects": -1})),
        "options.maxRedirects must be a non-negative integer, got -1"
    );
    assert_eq!(
        e(json!({"throw": "yes"})),
        "options.throw must be true or false, got \"yes\""
    );
    assert_eq!(
        e(json!({"userAgent": 5})),
        "options.userAgent must be a string, got 5"
    );
    assert_eq!(
        e(json!({"tags": {"a": 1}})),
        "options.tags.a must be a string, got 1"
    );
    assert_eq!(
        e(json!({"summaryTrendStats": "avg"})),
        "options.summaryTrendStats must be an array of strings, got \"avg\""
    );
    assert_eq!(
        e(json!({"setupTimeout": "-5s"})),
        "options.setupTimeout must not be negative, got \"-5s\""
    );
    assert!(e(json!({"setupTimeout": "soon"}))
        .starts_with("options.setupTimeout is not a valid duration"));
    assert_eq!(e(json!("x")), "options must be an object, got \"x\"");
    assert_eq!(
        e(json!({"scenarios": []})),
        "options.scenarios must be an object of named scenarios, got []"
    );
    assert!(e(json!({"stages": [{"duration": "1s"}]})).contains("stage 1 doesn't have a target"));
    assert!(e(json!({"dns": {"select": "fastest"}})).contains("options.dns.select must be one of"));
    // integral floats are integers to JavaScript
    assert_eq!(
        Options::from_script_json(&json!({"vus": 10.0}))
            .unwrap()
            .vus,
        Some(10)
    );
}

#[test]
fn all_modelled_fields_parse_and_round_trip() {
    let v: Value = serde_json::from_str(
        r#"{
        "vus": 5, "duration": "1m30s",
        "setupTimeout": "2m", "teardownTimeout": 5000, "summaryTimeout": "30s",
        "discardResponseBodies": true, "noConnectionReuse": true, "noVUConnectionReuse": false,
        "userAgent": "me/1.0", "insecureSkipTLSVerify": true,
        "summaryTrendStats": ["avg", "p(99.9)", "count"], "summaryTimeUnit": "ms",
        "tags": {"env": "staging"}, "thresholds": {"http_req_duration": ["p(95)<200"]},
        "executionSegment": "0:1/2", "executionSegmentSequence": "0,1/2,1",
        "maxRedirects": 3, "batch": 10, "batchPerHost": 2, "rps": 100, "httpDebug": "full", "throw": true,
        "minIterationDuration": "1s", "noCookiesReset": true, "localIPs": "192.168.0.1-192.168.0.10",
        "hosts": {"test.k6.io": "1.2.3.4"}, "dns": {"ttl": "1m", "select": "first", "policy": "any"},
        "paused": false, "linger": true, "noSetup": true, "noTeardown": false,
        "blacklistIPs": ["10.0.0.0/8"], "blockHostnames": ["*.example.com"], "systemTags": ["status", "url"],
        "tlsVersion": {"min": "tls1.2", "max": "tls1.3"}, "tlsCipherSuites": ["TLS_AES_128_GCM_SHA256"],
        "tlsAuth": [{"domains": ["example.com"], "cert": "c", "key": "k"}],
        "includeSystemEnvVars": false, "consoleOutput": "out.log", "metricSamplesBufferSize": 2000,
        "cloud": {"distribution": {"eu": {"loadZone": "amazon:ie:dublin", "percent": 100}}},
        "ext": {"loadimpact": {"name": "x"}},
        "someFutureOption": {"keep": "me"}
    }"#,
    )
    .unwrap();
    let o = Options::from_script_json(&v).unwrap();
    assert_eq!(o.teardown_timeout, Some(secs(5)));
    assert_eq!(
        o.dns,
        Some(DnsOptions {
            ttl: Some(DnsTtl::For(secs(60))),
            select: Some(DnsSelect::First),
            policy: Some(DnsPolicy::Any)
        })
    );
    let out = o.to_json();
    assert_eq!(out["duration"], json!("1m30s"));
    assert_eq!(out["teardownTimeout"], json!("5s"));
    assert_eq!(out["someFutureOption"], json!({"keep": "me"}));
    assert_eq!(out["thresholds"], v["thresholds"]);
    let mut again = Options::from_script_json(&out).unwrap();
    again.raw = o.raw.clone();
    assert_eq!(again, o);

    let r = o.resolve().unwrap();
    assert_eq!(r.setup_timeout, secs(120));
    assert_eq!(r.summary_timeout, secs(30));
    assert_eq!(r.summary_time_unit.as_deref(), Some("ms"));
    assert_eq!(r.http_debug, HttpDebug::Full);
    assert_eq!(r.rps, Some(100));
    assert_eq!(r.system_tags, vec!["status", "url"]);
    assert_eq!(
        r.dns,
        ResolvedDns {
            ttl: DnsTtl::For(secs(60)),
            select: DnsSelect::First,
            policy: DnsPolicy::Any
        }
    );
}

#[test]
fn defaults_are_k6s() {
    let r = resolve(json!({})).unwrap();
    assert_eq!(r.setup_timeout, secs(60));
    assert_eq!(r.teardown_timeout, secs(60));
    assert_eq!(r.summary_timeout, secs(120));
    assert_eq!(
        r.summary_trend_stats,
        vec!["avg", "min", "med", "max", "p(90)", "p(95)"]
    );
    assert_eq!(r.summary_time_unit, None);
    assert_eq!(r.max_redirects, 10);
    assert_eq!(r.batch, 20);
    assert_eq!(r.batch_per_host, 6);
    assert_eq!(r.rps, None);
    assert_eq!(r.http_debug, HttpDebug::Off);
    assert_eq!(r.user_agent, DEFAULT_USER_AGENT);
    assert_eq!(r.metric_samples_buffer_size, 1000);
    assert_eq!(r.system_tags.len(), DEFAULT_SYSTEM_TAGS.len());
    assert_eq!(
        r.dns,
        ResolvedDns {
            ttl: DnsTtl::For(secs(300)),
            select: DnsSelect::Random,
            policy: DnsPolicy::PreferIpv4
        }
    );
    assert!(!r.discard_response_bodies && !r.throw && !r.paused && !r.linger);
    assert!(r.tags.is_empty() && r.hosts.is_empty() && r.thresholds.is_none());
    // an explicitly empty user agent means "send none"
    assert_eq!(resolve(json!({"userAgent": ""})).unwrap().user_agent, "");
    assert_eq!(
        resolve(json!({"httpDebug": true})).unwrap().http_debug,
        HttpDebug::Headers
    );
}

#[test]
fn global_validation_errors() {
    assert_eq!(
        err(json!({"summaryTrendStats": ["avg", "p(101)", "mean"]})),
        format!(
            "{CONFIG_PROBLEMS_HEADER}\
             \n\t- summaryTrendStats: stat 'p(101)' is unknown; use avg, min, med, max, count or p(N) with 0 <= N <= 100\
             \n\t- summaryTrendStats: stat 'mean' is unknown; use avg, min, med, max, count or p(N) with 0 <= N <= 100"
        )
    );
    assert!(err(json!({"summaryTimeUnit": "h"})).contains("summaryTimeUnit: invalid unit 'h'"));
    assert!(err(json!({"httpDebug": "all"})).contains("httpDebug: invalid value 'all'"));
    assert!(
        err(json!({"systemTags": ["status", "colour"]})).contains("unknown system tag 'colour'")
    );
    assert!(resolve(json!({"summaryTimeUnit": ""}))
        .unwrap()
        .summary_time_unit
        .is_none());
}

// --- env ---

#[test]
fn env_vars_parse() {
    let o = Options::from_env(&env(&[
        ("K6_VUS", "10"),
        ("K6_DURATION", "1m"),
        ("K6_ITERATIONS", "100"),
        ("K6_STAGES", "30s:10, 1m:0"),
        ("K6_SETUP_TIMEOUT", "2m"),
        ("K6_TEARDOWN_TIMEOUT", "90s"),
        ("K6_SUMMARY_TIMEOUT", "10s"),
        ("K6_DISCARD_RESPONSE_BODIES", "true"),
        ("K6_NO_CONNECTION_REUSE", "1"),
        ("K6_INSECURE_SKIP_TLS_VERIFY", "False"),
        ("K6_USER_AGENT", "agent/1"),
        ("K6_SUMMARY_TREND_STATS", "avg,p(99),max"),
        ("K6_SUMMARY_TIME_UNIT", "ms"),
        ("K6_TAGS", "env=prod,team:core"),
        ("K6_EXECUTION_SEGMENT", "1/3:2/3"),
        ("K6_MAX_REDIRECTS", "2"),
        ("K6_HTTP_DEBUG", "true"),
        ("K6_DNS", "ttl=inf,select=roundRobin"),
        ("K6_HOSTS", "{\"a.test\": \"127.0.0.1\"}"),
        ("K6_BLOCK_HOSTNAMES", "*.evil.com, bad.org"),
        ("K6_MIN_ITERATION_DURATION", "500ms"),
        ("K6_PAUSED", ""),
        ("UNRELATED", "x"),
    ]))
    .unwrap();
    assert_eq!(o.vus, Some(10));
    assert_eq!(o.duration, Some(secs(60)));
    assert_eq!(o.iterations, Some(100));
    assert_eq!(
        o.stages,
        Some(vec![
            Stage {
                duration: secs(30),
                target: 10
            },
            Stage {
                duration: secs(60),
                target: 0
            }
        ])
    );
    assert_eq!(o.setup_timeout, Some(secs(120)));
    assert_eq!(o.teardown_timeout, Some(secs(90)));
    assert_eq!(o.summary_timeout, Some(secs(10)));
    assert_eq!(o.discard_response_bodies, Some(true));
    assert_eq!(o.no_connection_reuse, Some(true));
    assert_eq!(o.insecure_skip_tls_verify, Some(false));
    assert_eq!(o.user_agent.as_deref(), Some("agent/1"));
    assert_eq!(
        o.summary_trend_stats,
        Some(vec!["avg".into(), "p(99)".into(), "max".into()])
    );
    assert_eq!(
        o.tags
            .as_ref()
            .and_then(|t| t.get("team"))
            .map(String::as_str),
        Some("core")
    );
    assert_eq!(
        o.tags
            .as_ref()
            .and_then(|t| t.get("env"))
            .map(String::as_str),
        Some("prod")
    );
    assert_eq!(o.execution_segment.as_deref(), Some("1/3:2/3"));
    assert_eq!(o.max_redirects, Some(2));
    assert_eq!(o.http_debug.as_deref(), Some("headers"));
    assert_eq!(
        o.dns,
        Some(DnsOptions {
            ttl: Some(DnsTtl::Infinite),
            select: Some(DnsSelect::RoundRobin),
            policy: None
        })
    );
    assert_eq!(
        o.hosts
            .as_ref()
            .and_then(|h| h.get("a.test"))
            .map(String::as_str),
        Some("127.0.0.1")
    );
    assert_eq!(
        o.block_hostnames,
        Some(vec!["*.evil.com".into(), "bad.org".into()])
    );
    assert_eq!(o.min_iteration_duration, Some(Duration::from_millis(500)));
    assert_eq!(o.paused, None, "empty values are unset");
    // K6_STAGE (singular, like the flag) works too
    let o = Options::from_env(&env(&[("K6_STAGE", "5s:1")])).unwrap();
    assert_eq!(
        o.stages,
        Some(vec![Stage {
            duration: secs(5),
            target: 1
        }])
    );
    assert_eq!(
        Options::from_env(&BTreeMap::new()).unwrap(),
        Options::default()
    );
}

#[test]
fn env_errors_name_the_variable() {
    let e = |pairs: &[(&str, &str)]| Options::from_env(&env(pairs)).unwrap_err().to_string();
    assert_eq!(
        e(&[("K6_VUS", "ten")]),
        "K6_VUS must be an integer, got \"ten\""
    );
    assert!(e(&[("K6_DURATION", "banana")])
        .contains("K6_DURATION is not a valid duration (time: invalid duration \"banana\")"));
    assert!(e(&[("K6_DURATION", "-5s")]).contains("should be more than 0"));
    assert!(e(&[("K6_STAGES", "30s")])
        .starts_with("K6_STAGES: stage 1 (\"30s\") doesn't have a target"));
    assert!(
        e(&[("K6_STAGES", "30s:10,x:1")]).starts_with("K6_STAGES: stage 2 has an invalid duration")
    );
    assert!(e(&[("K6_STAGES", "30s:-1")])
        .contains("the target of stage 1 must be a non-negative integer"));
    assert_eq!(
        e(&[("K6_THROW", "yes")]),
        "K6_THROW must be true or false (or 1/0), got \"yes\""
    );
    assert_eq!(
        e(&[("K6_BATCH", "-1")]),
        "K6_BATCH must be a non-negative integer, got \"-1\""
    );
    assert!(e(&[("K6_HOSTS", "nope")]).starts_with("K6_HOSTS must be a JSON object"));
    assert!(e(&[("K6_DNS", "ttl")]).starts_with("K6_DNS must look like"));
    assert!(e(&[("K6_DNS", "colour=red")]).contains("unknown field \"colour\""));
    assert!(e(&[("K6_TAGS", "novalue")]).starts_with("K6_TAGS must be NAME=VALUE pairs"));
    // negative vus pass parsing and fail in resolve, like k6's `--vus -1`
    let mut o = Options::from_env(&env(&[("K6_VUS", "-1"), ("K6_DURATION", "5s")])).unwrap();
    o.apply(&Options::default());
    assert_eq!(
        o.resolve().unwrap_err().to_string(),
        problem("default", VUS_MORE_THAN_ZERO)
    );
}

#[test]
fn parse_stages_flag_syntax() {
    assert_eq!(
        parse_stages("1m30s:10,2m:0", "--stage").unwrap(),
        vec![
            Stage {
                duration: secs(90),
                target: 10
            },
            Stage {
                duration: secs(120),
                target: 0
            }
        ]
    );
    assert!(parse_stages("", "--stage").is_err());
}

// --- layering ---

#[test]
fn layers_merge_cli_over_env_over_script() {
    let mut script = Options::from_script_json(
        &json!({"vus": 1, "duration": "10s", "userAgent": "script", "batch": 3}),
    )
    .unwrap();
    let env_layer = Options::from_env(&env(&[("K6_VUS", "2"), ("K6_USER_AGENT", "env")])).unwrap();
    let cli = Options {
        vus: Some(3),
        ..Options::default()
    };
    script.apply(&env_layer);
    script.apply(&cli);
    assert_eq!(script.vus, Some(3));
    assert_eq!(script.user_agent.as_deref(), Some("env"));
    assert_eq!(script.batch, Some(3));
    let r = script.resolve().unwrap();
    assert_eq!(
        only(&r).executor,
        ExecutorConfig::ConstantVus(ConstantVus::new(3, secs(10)))
    );
    assert_eq!(r.user_agent, "env");
}

#[test]
fn higher_layer_shortcuts_replace_script_scenarios() {
    let script = json!({"scenarios": {"api": {"executor": "constant-vus", "vus": 5, "duration": "1m", "exec": "api"}}});
    // --duration replaces the scenarios (k6 behaviour), keeping the script's vus if any
    let mut o = Options::from_script_json(&script).unwrap();
    o.apply(&Options {
        duration: Some(secs(10)),
        ..Options::default()
    });
    assert!(o.scenarios.is_none());
    let r = o.resolve().unwrap();
    assert_eq!(only(&r).name, "default");
    assert_eq!(
        only(&r).executor,
        ExecutorConfig::ConstantVus(ConstantVus::new(1, secs(10)))
    );
    assert_eq!(only(&r).exec, "default");

    // --iterations replaces them as well; --vus goes with it
    let mut o = Options::from_script_json(&script).unwrap();
    o.apply(&Options {
        iterations: Some(4),
        vus: Some(2),
        ..Options::default()
    });
    let r = o.resolve().unwrap();
    assert_eq!(
        only(&r).executor,
        ExecutorConfig::SharedIterations(SharedIterations::new(2, 4, secs(600)))
    );

    // a script's `duration` is dropped by env `K6_ITERATIONS`, so no conflict and no maxDuration
    let mut o = Options::from_script_json(&json!({"duration": "30s", "vus": 2})).unwrap();
    o.apply(&Options::from_env(&env(&[("K6_ITERATIONS", "8")])).unwrap());
    let r = o.resolve().unwrap();
    assert_eq!(
        only(&r).executor,
        ExecutorConfig::SharedIterations(SharedIterations::new(2, 8, secs(600)))
    );

    // --vus alone keeps the script's scenarios
    let mut o = Options::from_script_json(&script).unwrap();
    o.apply(&Options {
        vus: Some(9),
        ..Options::default()
    });
    let r = o.resolve().unwrap();
    assert_eq!(only(&r).name, "api");

    // a conflict inside one layer survives the merge and is reported
    let mut o = Options::default();
    o.apply(&Options {
        duration: Some(secs(5)),
        stages: Some(vec![Stage {
            duration: secs(1),
            target: 1,
        }]),
        ..Options::default()
    });
    assert!(o
        .resolve()
        .unwrap_err()
        .to_string()
        .contains("(`duration` and `stages`)"));
}

#[test]
fn dns_and_raw_merge_per_field() {
    let mut low = Options::from_script_json(
        &json!({"dns": {"ttl": "1m", "policy": "onlyIPv6"}, "custom": 1, "other": 2}),
    )
    .unwrap();
    let high = Options {
        dns: Some(DnsOptions {
            select: Some(DnsSelect::First),
            policy: Some(DnsPolicy::Any),
            ttl: None,
        }),
        raw: Some(json!({"custom": 5})),
        ..Options::default()
    };
    low.apply(&high);
    assert_eq!(
        low.dns,
        Some(DnsOptions {
            ttl: Some(DnsTtl::For(secs(60))),
            select: Some(DnsSelect::First),
            policy: Some(DnsPolicy::Any)
        })
    );
    let out = low.to_json();
    assert_eq!(out["custom"], json!(5));
    assert_eq!(out["other"], json!(2));
}

// --- JSON output ---

#[test]
fn to_json_is_k6_shaped_and_round_trips() {
    let v = json!({
        "stages": [{"duration": "30s", "target": 10}],
        "vus": 2,
        "tags": {"a": "b"},
        "scenarios": null
    });
    let o = Options::from_script_json(&v).unwrap();
    assert_eq!(
        o.to_json(),
        json!({"vus": 2, "stages": [{"duration": "30s", "target": 10}], "tags": {"a": "b"}})
    );
    let sc_json = json!({"scenarios": {
        "b": {"executor": "ramping-arrival-rate", "startRate": 1, "timeUnit": "1m", "preAllocatedVUs": 2, "maxVUs": 4,
              "stages": [{"duration": "10s", "target": 3}], "tags": {"t": "1"}, "env": {"E": "2"}},
        "a": {"executor": "externally-controlled", "vus": 1, "maxVUs": 2, "duration": "1h"},
        "c": {"executor": "shared-iterations", "startTime": "1s", "exec": "other", "options": {"browser": {}}}
    }});
    let o = Options::from_script_json(&sc_json).unwrap();
    let out = o.to_json();
    assert!(
        out["scenarios"]["a"].get("gracefulStop").is_none(),
        "externally-controlled has none"
    );
    assert_eq!(out["scenarios"]["b"]["timeUnit"], json!("1m0s"));
    let keys: Vec<&String> = out["scenarios"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["b", "a", "c"], "script order is kept");
    let again = Options::from_script_json(&out).unwrap();
    assert_eq!(again.scenarios, o.scenarios);
}

#[test]
fn resolved_to_json_replaces_shortcuts_with_scenarios() {
    let r = resolve(json!({"vus": 4, "duration": "20s", "userAgent": "x", "unknownKey": true}))
        .unwrap();
    let out = r.to_json();
    assert!(out.get("vus").is_none() && out.get("duration").is_none());
    assert_eq!(
        out["scenarios"]["default"]["executor"],
        json!("constant-vus")
    );
    assert_eq!(out["scenarios"]["default"]["vus"], json!(4));
    assert_eq!(out["userAgent"], json!("x"));
    assert_eq!(out["unknownKey"], json!(true));
    let again = resolve(out).unwrap();
    assert_eq!(again.scenarios, r.scenarios);
    assert_eq!(again.user_agent, "x");
}

#[test]
fn executor_list_is_in_k6_order() {
    // k6 lists executors sorted by name in its error messages.
    let mut sorted = EXECUTOR_NAMES;
    sorted.sort_unstable();
    assert_eq!(sorted, EXECUTOR_NAMES);
}

#[test]
fn cli_flags_name_known_options_once() {
    let mut longs = std::collections::BTreeSet::new();
    for f in CLI_FLAGS {
        assert!(KNOWN_KEYS.contains(&f.key), "{}", f.key);
        assert!(longs.insert(f.long), "--{} declared twice", f.long);
    }
    assert!(CLI_FLAGS
        .iter()
        .any(|f| f.long == "linger" && f.short == Some('l')));
}

#[test]
fn from_cli_parses_each_flag_with_its_format() {
    let given = |key: &str| match key {
        "duration" => Some(vec!["10s".to_string()]),
        "stages" => Some(vec!["1s:2".to_string(), "2s:0".to_string()]),
        "linger" => Some(vec![]),
        _ => None,
    };
    let o = Options::from_cli(given).unwrap();
    assert_eq!(o.duration, Some(secs(10)));
    assert_eq!(o.stages.as_ref().map(Vec::len), Some(2));
    assert_eq!(o.linger, Some(true));
    assert_eq!(o.vus, None);
    let bad = Options::from_cli(|key: &str| (key == "duration").then(|| vec!["x".to_string()]));
    assert!(bad
        .unwrap_err()
        .to_string()
        .starts_with("invalid --duration: "));
}
