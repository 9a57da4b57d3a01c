//! How much a run may declare: scenarios, thresholds, tags, env entries and stages, counted
//! before the options are parsed. Each is kept in the state (the test's and each run's
//! options), sent to every agent and parsed there and in every list of tests, so a test of
//! 20,000 scenarios (or thresholds) took ~60 MB of the controller's memory and was accepted.
//! k6 has no such limits; these are far above any real test
//! (docs/rest-api.md#what-a-test-may-declare).

use std::collections::BTreeMap;

use serde_json::Value;

/// Scenarios one test may declare.
pub const MAX_SCENARIOS: usize = 1_000;
/// Threshold expressions in all (over every metric of `thresholds`).
pub const MAX_THRESHOLDS: usize = 10_000;
/// Tags in all: `options.tags` and every scenario's `tags`.
pub const MAX_TAGS: usize = 10_000;
/// Env entries in all: every scenario's `env`, the archive's env, or a start's `env`.
pub const MAX_ENV: usize = 10_000;
/// Stages in all: `options.stages` and every scenario's `stages`.
pub const MAX_STAGES: usize = 10_000;

/// Refuses options that declare more than the limits above, naming the field, the count and
/// the limit. Values of the wrong type are left to the options' parser, which names them.
pub fn check_options(config: &Value) -> Result<(), String> {
    let scenarios = config.get("scenarios").and_then(Value::as_object);
    let n = scenarios.map_or(0, |s| s.len());
    over(
        "options.scenarios",
        n,
        "scenarios",
        MAX_SCENARIOS,
        "split the test",
    )?;
    let scenarios = || scenarios.into_iter().flat_map(|s| s.values());
    let entries = |v: Option<&Value>| v.and_then(Value::as_object).map_or(0, |m| m.len());
    let items = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, |a| a.len());
    let thresholds = config
        .get("thresholds")
        .and_then(Value::as_object)
        .map_or(0, |t| {
            t.values()
                .map(|list| list.as_array().map_or(1, |a| a.len()))
                .sum()
        });
    over(
        "options.thresholds",
        thresholds,
        "threshold expressions",
        MAX_THRESHOLDS,
        "keep the thresholds the test is judged by",
    )?;
    let tags =
        entries(config.get("tags")) + scenarios().map(|s| entries(s.get("tags"))).sum::<usize>();
    over(
        "options.tags and the scenarios' tags",
        tags,
        "tags in all",
        MAX_TAGS,
        "tag with fewer keys",
    )?;
    let env: usize = scenarios().map(|s| entries(s.get("env"))).sum();
    over(
        "the scenarios' env",
        env,
        "env entries in all",
        MAX_ENV,
        "pass fewer variables",
    )?;
    let stages =
        items(config.get("stages")) + scenarios().map(|s| items(s.get("stages"))).sum::<usize>();
    over(
        "options.stages and the scenarios' stages",
        stages,
        "stages in all",
        MAX_STAGES,
        "use fewer, longer stages",
    )
}

/// Refuses an env map (an archive's, or a start's `env`) of more than [`MAX_ENV`] entries.
pub fn check_env(field: &str, env: &BTreeMap<String, String>) -> Result<(), String> {
    over(
        field,
        env.len(),
        "env entries",
        MAX_ENV,
        "pass fewer variables",
    )
}

fn over(field: &str, count: usize, what: &str, max: usize, fix: &str) -> Result<(), String> {
    if count <= max {
        return Ok(());
    }
    Err(format!(
        "{field}: {count} {what}, more than the {max} a test may declare \
         (a controller's limit; k6 has none): {fix}"
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use super::*;

    fn scenarios(n: usize, each: Value) -> Value {
        let m: Map<String, Value> = (0..n).map(|i| (format!("s{i}"), each.clone())).collect();
        Value::Object(m)
    }

    fn map(n: usize) -> Value {
        Value::Object((0..n).map(|i| (format!("k{i}"), json!("v"))).collect())
    }

    fn refused(config: Value) -> String {
        check_options(&config).expect_err("refused")
    }

    #[test]
    fn counts_at_the_limits_pass_and_one_more_is_refused_naming_field_count_and_limit() {
        let one = json!({"executor": "shared-iterations", "iterations": 1});
        check_options(&json!({"scenarios": scenarios(MAX_SCENARIOS, one.clone())}))
            .unwrap_or_else(|e| panic!("{e}"));
        let e = refused(json!({"scenarios": scenarios(20_000, one)}));
        assert!(
            e.starts_with("options.scenarios: 20000 scenarios, more than the 1000"),
            "{e}"
        );

        let list = |n: usize| Value::Array(vec![json!("p(95)<500"); n]);
        let ok = json!({"thresholds": {"http_req_duration": list(MAX_THRESHOLDS - 1), "checks": "rate>0.9"}});
        check_options(&ok).unwrap_or_else(|e| panic!("{e}"));
        let mut t = Map::new();
        for i in 0..20_000 {
            t.insert(format!("m{i}"), list(1));
        }
        let e = refused(json!({ "thresholds": t }));
        assert!(
            e.starts_with("options.thresholds: 20000 threshold expressions, more than the 10000"),
            "{e}"
        );

        // Tags, env and stages are counted over the scenarios as well.
        let tagged = json!({"executor": "shared-iterations", "tags": map(10), "env": map(11)});
        let e = refused(json!({"tags": map(1), "scenarios": scenarios(1_000, tagged)}));
        assert!(
            e.starts_with("options.tags and the scenarios' tags: 10001 tags in all"),
            "{e}"
        );
        let env = json!({"executor": "shared-iterations", "env": map(11)});
        let e = refused(json!({"scenarios": scenarios(1_000, env)}));
        assert!(
            e.starts_with("the scenarios' env: 11000 env entries in all"),
            "{e}"
        );
        let stages = Value::Array(vec![json!({"duration": "1s", "target": 1}); 10_001]);
        let e = refused(json!({ "stages": stages }));
        assert!(
            e.starts_with("options.stages and the scenarios' stages: 10001 stages in all"),
            "{e}"
        );
        assert!(e.contains("k6 has none"), "{e}");
    }

    #[test]
    fn values_of_the_wrong_type_are_left_to_the_parser() {
        check_options(&json!({"scenarios": 3, "thresholds": [], "tags": "x", "stages": {}}))
            .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn an_env_map_past_the_limit_is_refused() {
        let env: BTreeMap<String, String> = (0..=MAX_ENV)
            .map(|i| (format!("K{i}"), String::new()))
            .collect();
        let e = check_env("env", &env).expect_err("refused");
        assert!(
            e.starts_with("env: 10001 env entries, more than the 10000"),
            "{e}"
        );
        check_env("env", &BTreeMap::new()).unwrap_or_else(|e| panic!("{e}"));
    }
}
