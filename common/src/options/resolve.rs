//! Resolution: k6's execution shortcuts turned into scenarios, the checks that span options,
//! and the defaults that need more than a constant. The per-option part of
//! [`Options::resolve`] is generated from [`super::fields`].

use std::time::Duration;

use serde_json::{Map, Value};

use super::executors::{
    ConstantVus, ExecutorConfig, PerVuIterations, RampingVus, SharedIterations,
};
use super::{
    HttpDebug, Options, OptionsError, ResolvedOptions, ScenarioConfig, ALL_SYSTEM_TAGS,
    DEFAULT_GRACEFUL_RAMP_DOWN, DEFAULT_MAX_DURATION, DEFAULT_SCENARIO_NAME,
    DEFAULT_SUMMARY_TREND_STATS, DEFAULT_SYSTEM_TAGS, DURATION_MORE_THAN_ZERO, KNOWN_KEYS,
    VUS_MORE_THAN_ZERO,
};

impl Options {
    /// As in k6, setting any of `duration`, `iterations`, `stages` or `scenarios` in `higher`
    /// discards all four from this (lower) layer. `vus` alone does not.
    pub(super) fn clear_execution_overridden_by(&mut self, higher: &Options) {
        if higher.duration.is_some()
            || higher.iterations.is_some()
            || higher.stages.is_some()
            || higher.scenarios.is_some()
        {
            self.duration = None;
            self.iterations = None;
            self.stages = None;
            self.scenarios = None;
        }
    }

    /// The raw JSON of both layers, the higher one's keys winning.
    pub(super) fn merge_raw(&mut self, higher: &Options) {
        self.raw = match (self.raw.take(), &higher.raw) {
            (Some(Value::Object(mut low)), Some(Value::Object(high))) => {
                for (k, v) in high {
                    low.insert(k.clone(), v.clone());
                }
                Some(Value::Object(low))
            }
            (low, None) => low,
            (_, Some(high)) => Some(high.clone()),
        };
    }

    /// The keys of [`Options::raw`] that Volley does not model, as given.
    pub(super) fn unknown_keys(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(Value::Object(raw)) = &self.raw {
            for (k, v) in raw {
                if !KNOWN_KEYS.contains(&k.as_str()) {
                    m.insert(k.clone(), v.clone());
                }
            }
        }
        m
    }

    /// Turns the shortcut options into scenarios (k6's rules, v1.1.0). Conflicts are plain
    /// errors; negative shortcut values are reported as problems of the `default` scenario.
    pub(super) fn derive_scenarios(
        &self,
        warnings: &mut Vec<String>,
    ) -> Result<Vec<ScenarioConfig>, OptionsError> {
        let has_stages = self.stages.as_ref().is_some_and(|s| !s.is_empty());
        let conflict = |shortcut: &str| {
            OptionsError::new(format!(
                "using an execution configuration shortcut (`{shortcut}`) and `scenarios` simultaneously is not allowed"
            ))
        };
        let default_problems = |problems: Vec<String>| {
            OptionsError::config_problems(
                &problems
                    .into_iter()
                    .map(|p| {
                        format!("scenario {DEFAULT_SCENARIO_NAME} has configuration errors: {p}")
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let vus = self.vus.unwrap_or(1);
        let scenario = |executor| ScenarioConfig::new(DEFAULT_SCENARIO_NAME, executor);

        if let Some(iterations) = self.iterations {
            if has_stages {
                return Err(OptionsError::new(
                    "using multiple execution config shortcuts (`iterations` and `stages`) simultaneously is not allowed",
                ));
            }
            if self.scenarios.is_some() {
                return Err(conflict("iterations"));
            }
            let mut problems = Vec::new();
            if vus < 0 {
                problems.push(VUS_MORE_THAN_ZERO.to_string());
            }
            if iterations < 0 {
                problems.push(format!(
                    "the number of iterations ({iterations}) can't be less than the number of VUs ({vus})"
                ));
            }
            if !problems.is_empty() {
                return Err(default_problems(problems));
            }
            return Ok(vec![scenario(ExecutorConfig::SharedIterations(
                SharedIterations::new(
                    vus as u64,
                    iterations as u64,
                    self.duration.unwrap_or(DEFAULT_MAX_DURATION),
                ),
            ))]);
        }
        if let Some(duration) = self.duration {
            if has_stages {
                return Err(OptionsError::new(
                    "using multiple execution config shortcuts (`duration` and `stages`) simultaneously is not allowed",
                ));
            }
            if self.scenarios.is_some() {
                return Err(conflict("duration"));
            }
            if duration.is_zero() {
                return Err(OptionsError::new(DURATION_MORE_THAN_ZERO));
            }
            if vus < 0 {
                return Err(default_problems(vec![VUS_MORE_THAN_ZERO.to_string()]));
            }
            return Ok(vec![scenario(ExecutorConfig::ConstantVus(
                ConstantVus::new(vus as u64, duration),
            ))]);
        }
        if has_stages {
            if self.scenarios.is_some() {
                return Err(conflict("stages"));
            }
            if vus < 0 {
                return Err(default_problems(vec![
                    "the number of start VUs shouldn't be negative".to_string(),
                ]));
            }
            return Ok(vec![scenario(ExecutorConfig::RampingVus(RampingVus::new(
                vus as u64,
                self.stages.clone().unwrap_or_default(),
                DEFAULT_GRACEFUL_RAMP_DOWN,
            )))]);
        }
        if let Some(scenarios) = self.scenarios.as_ref().filter(|s| !s.is_empty()) {
            return Ok(scenarios.iter().map(|(_, sc)| sc.clone()).collect());
        }
        if let Some(v) = self.vus.filter(|v| *v != 1) {
            warnings.push(format!(
                "the `vus={v}` option will be ignored, it only works in conjunction with `iterations`, `duration`, or `stages`"
            ));
        }
        if self.stages.as_ref().is_some_and(|s| s.is_empty()) {
            warnings.push(
                "`stages` was explicitly set to an empty value, running the script with 1 iteration in 1 VU".to_string(),
            );
        }
        if self.scenarios.as_ref().is_some_and(|s| s.is_empty()) {
            warnings.push(
                "`scenarios` was explicitly set to an empty value, running the script with 1 iteration in 1 VU"
                    .to_string(),
            );
        }
        Ok(vec![scenario(ExecutorConfig::PerVuIterations(
            PerVuIterations::new(1, 1, DEFAULT_MAX_DURATION),
        ))])
    }
}

/// Each scenario's problems, prefixed with its name as k6 does.
pub(super) fn scenario_problems(scenarios: &[ScenarioConfig]) -> Vec<String> {
    let mut problems = Vec::new();
    for sc in scenarios {
        for e in sc.validate() {
            problems.push(format!(
                "scenario {} has configuration errors: {e}",
                sc.name
            ));
        }
    }
    problems
}

/// k6 lists (and starts) scenarios by start time, then name.
pub(super) fn sort_scenarios(scenarios: &mut [ScenarioConfig]) {
    scenarios.sort_by(|a, b| {
        a.start_time
            .cmp(&b.start_time)
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// The layered value, or `default()` when no layer set it.
pub(super) fn or_default<T: Clone>(v: &Option<T>, default: impl FnOnce() -> T) -> T {
    match v {
        Some(v) => v.clone(),
        None => default(),
    }
}

/// `summaryTrendStats`, each `avg`, `min`, `med`, `max`, `count` or `p(N)`.
pub(super) fn summary_trend_stats(
    v: &Option<Vec<String>>,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let stats = v.clone().unwrap_or_else(|| {
        DEFAULT_SUMMARY_TREND_STATS
            .iter()
            .map(|s| s.to_string())
            .collect()
    });
    for stat in &stats {
        if !is_valid_trend_stat(stat) {
            problems.push(format!(
                "summaryTrendStats: stat '{stat}' is unknown; use avg, min, med, max, count or p(N) with 0 <= N <= 100"
            ));
        }
    }
    stats
}

/// `summaryTimeUnit`: `s`, `ms` or `us`; empty lets the summary pick.
pub(super) fn summary_time_unit(v: &Option<String>, problems: &mut Vec<String>) -> Option<String> {
    let unit = v.clone().filter(|u| !u.is_empty());
    if let Some(unit) = &unit {
        if !["s", "ms", "us"].contains(&unit.as_str()) {
            problems.push(format!(
                "summaryTimeUnit: invalid unit '{unit}'; use 's', 'ms' or 'us'"
            ));
        }
    }
    unit
}

/// `rps`: `0` (k6's "unlimited") is no limit.
pub(super) fn rps(v: &Option<u64>, _problems: &mut Vec<String>) -> Option<u64> {
    v.filter(|r| *r > 0)
}

/// `httpDebug`: `""`, `"headers"` or `"full"`.
pub(super) fn http_debug(v: &Option<String>, problems: &mut Vec<String>) -> HttpDebug {
    match v.as_deref().unwrap_or("") {
        "" => HttpDebug::Off,
        "headers" => HttpDebug::Headers,
        "full" => HttpDebug::Full,
        other => {
            problems.push(format!(
                "httpDebug: invalid value '{other}'; use \"headers\" or \"full\""
            ));
            HttpDebug::Off
        }
    }
}

/// `systemTags`, each one of [`ALL_SYSTEM_TAGS`]; k6's default set when unset.
pub(super) fn system_tags(v: &Option<Vec<String>>, problems: &mut Vec<String>) -> Vec<String> {
    let tags = v
        .clone()
        .unwrap_or_else(|| DEFAULT_SYSTEM_TAGS.iter().map(|s| s.to_string()).collect());
    for tag in &tags {
        if !ALL_SYSTEM_TAGS.contains(&tag.as_str()) {
            problems.push(format!(
                "systemTags: unknown system tag '{tag}'; valid tags are: {}",
                ALL_SYSTEM_TAGS.join(", ")
            ));
        }
    }
    tags
}

/// `avg`, `min`, `med`, `max`, `count` or `p(N)` with `0 <= N <= 100`.
fn is_valid_trend_stat(stat: &str) -> bool {
    if ["avg", "min", "med", "max", "count"].contains(&stat) {
        return true;
    }
    stat.strip_prefix("p(")
        .and_then(|s| s.strip_suffix(')'))
        .and_then(|n| n.parse::<f64>().ok())
        .is_some_and(|n| (0.0..=100.0).contains(&n))
}

impl ResolvedOptions {
    /// The scenario with this name, if any.
    pub fn scenario(&self, name: &str) -> Option<&ScenarioConfig> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// The banner's "max duration (incl. graceful stop)": the latest any scenario can end.
    pub fn max_duration_incl_graceful_stop(&self) -> Duration {
        self.scenarios
            .iter()
            .map(|s| s.start_time + s.max_duration() + s.graceful_stop)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// The consolidated options for archives: the set options plus the derived `scenarios`
    /// (in place of the shortcuts, so re-reading them resolves to the same run).
    pub fn to_json(&self) -> Value {
        let mut opts = self.options.clone();
        opts.vus = None;
        opts.duration = None;
        opts.iterations = None;
        opts.stages = None;
        opts.scenarios = Some(
            self.scenarios
                .iter()
                .map(|s| (s.name.clone(), s.clone()))
                .collect(),
        );
        opts.to_json()
    }
}
