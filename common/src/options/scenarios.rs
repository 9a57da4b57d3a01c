//! Scenarios: the fields every scenario has (`executor`, `startTime`, `gracefulStop`, `exec`,
//! `env`, `tags`, `options`); each executor's own fields are in [`super::executors`], stages in
//! [`super::stages`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

use super::executors::{ExecutorConfig, Fields, ScenarioBase};
use super::json::{
    dur_json, nanos_to_duration, read_raw, read_signed_duration, read_string, read_string_map,
    string_map_json, type_err, NULL,
};
use super::{OptionsError, DEFAULT_EXEC, DEFAULT_GRACEFUL_STOP, EXECUTOR_NAMES};

/// One named scenario, as k6 models it (common options plus its executor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioConfig {
    pub name: String,
    pub executor: ExecutorConfig,
    pub start_time: Duration,
    /// Zero (and not allowed to be set) for externally-controlled.
    pub graceful_stop: Duration,
    pub exec: String,
    pub env: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// The scenario's own `options` object (browser settings), passed through untouched.
    pub options: Option<Value>,
}

const COMMON_SCENARIO_FIELDS: [&str; 7] = [
    "executor",
    "startTime",
    "gracefulStop",
    "exec",
    "env",
    "tags",
    "options",
];

impl ScenarioConfig {
    /// A scenario with k6's common defaults: starts at 0, `gracefulStop` 30s (none for
    /// externally-controlled), runs `default`, no env or tags.
    pub fn new(name: impl Into<String>, executor: ExecutorConfig) -> Self {
        let graceful_stop = if ExecutorConfig::has_graceful_stop(executor.name()) {
            DEFAULT_GRACEFUL_STOP
        } else {
            Duration::ZERO
        };
        Self {
            name: name.into(),
            executor,
            start_time: Duration::ZERO,
            graceful_stop,
            exec: DEFAULT_EXEC.to_string(),
            env: BTreeMap::new(),
            tags: BTreeMap::new(),
            options: None,
        }
    }

    /// Parses one entry of `options.scenarios`. Like k6, unknown fields are errors here
    /// (a typo such as `vu` would otherwise silently run with defaults).
    pub fn from_json(name: &str, v: &Value) -> Result<Self, OptionsError> {
        let path = format!("options.scenarios.{name}");
        let Value::Object(obj) = v else {
            return Err(type_err(&path, "an object", v));
        };
        let problem = |msg: String| OptionsError::scenario_problem(name, msg);
        let field = |key: &str| obj.get(key).unwrap_or(&NULL);
        let fpath = |key: &str| format!("{path}.{key}");

        let executor_name = match field("executor") {
            Value::Null => {
                return Err(problem(format!(
                    "the executor is missing; set `executor` to one of: {}",
                    EXECUTOR_NAMES.join(", ")
                )))
            }
            Value::String(s) => s.as_str(),
            other => return Err(type_err(&fpath("executor"), "a string", other)),
        };
        if !EXECUTOR_NAMES.contains(&executor_name) {
            return Err(problem(format!(
                "unknown executor type '{executor_name}'; valid executors are: {}",
                EXECUTOR_NAMES.join(", ")
            )));
        }
        let has_graceful_stop = ExecutorConfig::has_graceful_stop(executor_name);
        let specific = ExecutorConfig::fields_of(executor_name);
        for (key, value) in obj {
            if key == "gracefulStop" && !has_graceful_stop {
                if !value.is_null() {
                    return Err(problem(format!(
                        "gracefulStop is not supported by the {} executor",
                        executor_name.replace('-', " ")
                    )));
                }
                continue;
            }
            if !COMMON_SCENARIO_FIELDS.contains(&key.as_str()) && !specific.contains(&key.as_str())
            {
                let mut valid: Vec<&str> = COMMON_SCENARIO_FIELDS.to_vec();
                if !has_graceful_stop {
                    valid.retain(|k| *k != "gracefulStop");
                }
                valid.extend_from_slice(specific);
                return Err(problem(format!(
                    "unknown option \"{key}\" for the {executor_name} executor; valid options are: {}",
                    valid.join(", ")
                )));
            }
        }

        let start_time = match read_signed_duration(field("startTime"), &fpath("startTime"))? {
            Some(n) if n < 0 => return Err(problem("the startTime can't be negative".to_string())),
            other => other.map(nanos_to_duration).unwrap_or(Duration::ZERO),
        };
        let graceful_stop = if !has_graceful_stop {
            Duration::ZERO
        } else {
            match read_signed_duration(field("gracefulStop"), &fpath("gracefulStop"))? {
                Some(n) if n < 0 => {
                    return Err(problem(
                        "the gracefulStop timeout can't be negative".to_string(),
                    ))
                }
                other => other
                    .map(nanos_to_duration)
                    .unwrap_or(DEFAULT_GRACEFUL_STOP),
            }
        };
        let exec = match read_string(field("exec"), &fpath("exec"))? {
            Some(e) if e.is_empty() => {
                return Err(problem("exec value cannot be empty".to_string()))
            }
            other => other.unwrap_or_else(|| DEFAULT_EXEC.to_string()),
        };
        let env = read_string_map(field("env"), &fpath("env"))?.unwrap_or_default();
        let tags = read_string_map(field("tags"), &fpath("tags"))?.unwrap_or_default();
        let options = read_raw(field("options"));

        let fields = Fields::new(name, path.clone(), obj);
        let executor = ExecutorConfig::from_json(executor_name, &fields)
            .expect("the executor name was checked against EXECUTOR_NAMES")?;

        Ok(Self {
            name: name.to_string(),
            executor,
            start_time,
            graceful_stop,
            exec,
            env,
            tags,
            options,
        })
    }

    /// The scenario as k6 writes it in `options.scenarios` (re-parseable by [`Self::from_json`]).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("executor".into(), Value::from(self.executor.name()));
        m.insert("startTime".into(), dur_json(self.start_time));
        if ExecutorConfig::has_graceful_stop(self.executor.name()) {
            m.insert("gracefulStop".into(), dur_json(self.graceful_stop));
        }
        m.insert("exec".into(), Value::from(self.exec.clone()));
        if !self.env.is_empty() {
            m.insert("env".into(), string_map_json(&self.env));
        }
        if !self.tags.is_empty() {
            m.insert("tags".into(), string_map_json(&self.tags));
        }
        if let Some(o) = &self.options {
            m.insert("options".into(), o.clone());
        }
        self.executor.write_json(&mut m);
        Value::Object(m)
    }

    /// k6's checks that need the whole scenario (ranges and relations between fields).
    /// Returns the problems in k6's wording, without the `scenario X has...` prefix.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.name.is_empty() {
            errors.push("scenario name can't be empty".to_string());
        } else if !self
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            errors.push(
                "the scenario name should contain only numbers, latin letters, underscores, and dashes"
                    .to_string(),
            );
        }
        if self.exec.is_empty() {
            errors.push("exec value cannot be empty".to_string());
        }
        self.executor.validate(&self.base(), &mut errors);
        errors
    }

    /// The executor's own length, without `gracefulStop` or `startTime`; zero for an
    /// externally-controlled scenario that runs until stopped.
    pub fn max_duration(&self) -> Duration {
        self.executor.max_duration()
    }

    /// The most VUs this scenario can use (before execution-segment scaling).
    pub fn max_vus(&self) -> u64 {
        self.executor.max_vus()
    }

    /// What its executor sees of it: the common fields its checks and description use.
    fn base(&self) -> ScenarioBase<'_> {
        ScenarioBase {
            exec: &self.exec,
            start_time: self.start_time,
            graceful_stop: self.graceful_stop,
        }
    }

    /// k6's one-line description from the banner, e.g. `2 looping VUs for 3s (gracefulStop: 30s)`.
    /// Values are unscaled (the whole test, not one execution segment).
    pub fn description(&self) -> String {
        self.executor.description(&self.base())
    }
}
