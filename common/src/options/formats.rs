//! The formats an option's value comes in: how one kind of value is read from the script's
//! JSON, written back, read from a `K6_*` variable and from a CLI flag. Each option in the
//! table of `fields.rs` names its format once; the layers are generated from it.
//!
//! Formats are marker types, so two options of the same Rust type can differ where k6 differs
//! (`K6_TAGS` is `NAME=VALUE,...` while `K6_HOSTS` is JSON, both maps of strings).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::json::{
    dur_json, nanos_to_duration, read_bool, read_duration, read_i64, read_raw,
    read_signed_duration, read_string, read_string_list, read_string_map, read_u64,
    string_list_json, string_map_json, type_err,
};
use super::scenarios::ScenarioConfig;
use super::stages::{parse_stages, read_stages, stages_json, Stage, StagesError};
use super::{OptionsError, DURATION_MORE_THAN_ZERO};
use crate::duration::{parse_duration, parse_duration_signed};

/// A kind of option value as it appears in the script's `options` object.
pub trait Format {
    type Value: Clone;
    /// `Ok(None)` when the key is absent or `null`; `path` names the option in errors.
    fn read_json(v: &Value, path: &str) -> Result<Option<Self::Value>, OptionsError>;
    /// The value in k6's JSON shape, re-readable by [`Format::read_json`].
    fn write_json(v: &Self::Value) -> Value;
    /// A higher layer's value replaces a lower one's, unless the format merges parts.
    fn merge(low: &mut Option<Self::Value>, high: &Option<Self::Value>) {
        if high.is_some() {
            low.clone_from(high);
        }
    }
}

/// A format that a `K6_*` variable can carry.
pub trait EnvFormat: Format {
    /// `text` is never empty (empty variables count as unset); `var` names it in errors.
    fn parse_env(text: &str, var: &str) -> Result<Self::Value, OptionsError>;
}

/// A format that a `volley run` flag can carry.
pub trait CliFormat: Format {
    const SHAPE: CliShape;
    /// `values` are the flag's values as given (none for a switch); `flag` is `--name`.
    fn parse_cli(values: &[String], flag: &str) -> Result<Self::Value, OptionsError>;
}

/// How a flag takes its value on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliShape {
    /// `--flag`, no value.
    Switch,
    /// `--flag VALUE`, once.
    Value,
    /// `--flag N`, once, a signed integer (checked by the argument parser).
    Int,
    /// `--flag VALUE`, repeatable.
    Repeated,
}

/// A `volley run` flag that sets an option (generated from the option table, `fields.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CliFlag {
    /// The option's k6 key, e.g. `"linger"`.
    pub key: &'static str,
    /// The option's Rust field name, e.g. `"no_setup"` (its value name in `--help`).
    pub field: &'static str,
    pub long: &'static str,
    pub short: Option<char>,
    pub help: &'static str,
    pub shape: CliShape,
}

/// `httpDebug`: log nothing, request/response headers, or headers and bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpDebug {
    Off,
    Headers,
    Full,
}

/// Reads the first of `vars` that is set and not empty.
pub(super) fn from_env<F: EnvFormat>(
    env: &BTreeMap<String, String>,
    vars: &[&str],
) -> Result<Option<F::Value>, OptionsError> {
    for var in vars {
        if let Some(text) = env.get(*var).filter(|v| !v.is_empty()) {
            return F::parse_env(text, var).map(Some);
        }
    }
    Ok(None)
}

/// Go's `strconv.ParseBool`, which k6 uses for boolean env vars.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A comma-separated list, items trimmed, empty items dropped.
pub(super) fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn single<'a>(values: &'a [String], flag: &str) -> Result<&'a str, OptionsError> {
    match values {
        [one] => Ok(one),
        _ => Err(OptionsError::new(format!("{flag} takes one value"))),
    }
}

/// A signed integer; k6 validates the range later (`vus: -1` fails with k6's own message).
pub struct Int;

impl Format for Int {
    type Value = i64;
    fn read_json(v: &Value, path: &str) -> Result<Option<i64>, OptionsError> {
        read_i64(v, path)
    }
    fn write_json(v: &i64) -> Value {
        Value::from(*v)
    }
}

impl EnvFormat for Int {
    fn parse_env(text: &str, var: &str) -> Result<i64, OptionsError> {
        text.trim()
            .parse::<i64>()
            .map_err(|_| OptionsError::new(format!("{var} must be an integer, got \"{text}\"")))
    }
}

impl CliFormat for Int {
    const SHAPE: CliShape = CliShape::Int;
    fn parse_cli(values: &[String], flag: &str) -> Result<i64, OptionsError> {
        let text = single(values, flag)?;
        text.parse()
            .map_err(|_| OptionsError::new(format!("invalid {flag}: {text:?} is not an integer")))
    }
}

/// A non-negative integer.
pub struct Count;

impl Format for Count {
    type Value = u64;
    fn read_json(v: &Value, path: &str) -> Result<Option<u64>, OptionsError> {
        read_u64(v, path)
    }
    fn write_json(v: &u64) -> Value {
        Value::from(*v)
    }
}

impl EnvFormat for Count {
    fn parse_env(text: &str, var: &str) -> Result<u64, OptionsError> {
        text.trim().parse::<u64>().map_err(|_| {
            OptionsError::new(format!(
                "{var} must be a non-negative integer, got \"{text}\""
            ))
        })
    }
}

/// `true`/`false`; Go's spellings (`1`, `t`, `FALSE`...) in env vars; a switch as a flag.
pub struct Flag;

impl Format for Flag {
    type Value = bool;
    fn read_json(v: &Value, path: &str) -> Result<Option<bool>, OptionsError> {
        read_bool(v, path)
    }
    fn write_json(v: &bool) -> Value {
        Value::from(*v)
    }
}

impl EnvFormat for Flag {
    fn parse_env(text: &str, var: &str) -> Result<bool, OptionsError> {
        parse_go_bool(text.trim()).ok_or_else(|| {
            OptionsError::new(format!(
                "{var} must be true or false (or 1/0), got \"{text}\""
            ))
        })
    }
}

impl CliFormat for Flag {
    const SHAPE: CliShape = CliShape::Switch;
    fn parse_cli(_values: &[String], _flag: &str) -> Result<bool, OptionsError> {
        Ok(true)
    }
}

/// A string, as given.
pub struct Text;

impl Format for Text {
    type Value = String;
    fn read_json(v: &Value, path: &str) -> Result<Option<String>, OptionsError> {
        read_string(v, path)
    }
    fn write_json(v: &String) -> Value {
        Value::from(v.clone())
    }
}

impl EnvFormat for Text {
    fn parse_env(text: &str, _var: &str) -> Result<String, OptionsError> {
        Ok(text.to_string())
    }
}

impl CliFormat for Text {
    const SHAPE: CliShape = CliShape::Value;
    fn parse_cli(values: &[String], flag: &str) -> Result<String, OptionsError> {
        single(values, flag).map(str::to_string)
    }
}

/// A list of strings: a JSON array, or comma-separated in env vars and flags.
pub struct TextList;

impl Format for TextList {
    type Value = Vec<String>;
    fn read_json(v: &Value, path: &str) -> Result<Option<Vec<String>>, OptionsError> {
        read_string_list(v, path)
    }
    fn write_json(v: &Vec<String>) -> Value {
        string_list_json(v)
    }
}

impl EnvFormat for TextList {
    fn parse_env(text: &str, _var: &str) -> Result<Vec<String>, OptionsError> {
        Ok(split_list(text))
    }
}

impl CliFormat for TextList {
    const SHAPE: CliShape = CliShape::Value;
    fn parse_cli(values: &[String], flag: &str) -> Result<Vec<String>, OptionsError> {
        Ok(single(values, flag)?
            .split(',')
            .map(|x| x.trim().to_string())
            .collect())
    }
}

/// A non-negative duration: `"30s"` or a number of milliseconds.
pub struct Dur;

impl Format for Dur {
    type Value = Duration;
    fn read_json(v: &Value, path: &str) -> Result<Option<Duration>, OptionsError> {
        read_duration(v, path)
    }
    fn write_json(v: &Duration) -> Value {
        dur_json(*v)
    }
}

impl EnvFormat for Dur {
    fn parse_env(text: &str, var: &str) -> Result<Duration, OptionsError> {
        parse_duration(text.trim()).map_err(|e| {
            OptionsError::new(format!(
                "{var} is not a valid duration ({e}); use a value like \"30s\""
            ))
        })
    }
}

impl CliFormat for Dur {
    const SHAPE: CliShape = CliShape::Value;
    fn parse_cli(values: &[String], flag: &str) -> Result<Duration, OptionsError> {
        let text = single(values, flag)?;
        // A flag's duration needs a unit, as k6's flags do (a bare number in a script's options
        // is milliseconds; on the command line `-d 1` is far likelier a mistake for 1s).
        if !text.trim().is_empty() && text.trim().parse::<f64>().is_ok() {
            return Err(OptionsError::new(format!(
                "invalid {flag}: missing unit in duration {text:?}; write it with a unit, e.g. {}s or 1m30s",
                text.trim()
            )));
        }
        parse_duration(text).map_err(|e| OptionsError::new(format!("invalid {flag}: {e}")))
    }
}

/// The `duration` shortcut: negative values get k6's "should be more than 0" wording.
pub struct ShortcutDuration;

impl Format for ShortcutDuration {
    type Value = Duration;
    fn read_json(v: &Value, path: &str) -> Result<Option<Duration>, OptionsError> {
        match read_signed_duration(v, path)? {
            Some(n) if n < 0 => Err(OptionsError::new(DURATION_MORE_THAN_ZERO)),
            other => Ok(other.map(nanos_to_duration)),
        }
    }
    fn write_json(v: &Duration) -> Value {
        dur_json(*v)
    }
}

impl EnvFormat for ShortcutDuration {
    fn parse_env(text: &str, var: &str) -> Result<Duration, OptionsError> {
        match parse_duration_signed(text.trim()) {
            Ok(n) if n < 0 => Err(OptionsError::new(DURATION_MORE_THAN_ZERO)),
            Ok(n) => Ok(nanos_to_duration(n)),
            Err(e) => Err(OptionsError::new(format!(
                "{var} is not a valid duration ({e}); use a value like \"30s\""
            ))),
        }
    }
}

impl CliFormat for ShortcutDuration {
    const SHAPE: CliShape = CliShape::Value;
    fn parse_cli(values: &[String], flag: &str) -> Result<Duration, OptionsError> {
        Dur::parse_cli(values, flag)
    }
}

/// `[{duration, target}]`; `DURATION:TARGET,...` in `K6_STAGES` and `--stage` (repeatable).
pub struct Stages;

impl Format for Stages {
    type Value = Vec<Stage>;
    fn read_json(v: &Value, path: &str) -> Result<Option<Vec<Stage>>, OptionsError> {
        match read_stages(v, path) {
            Ok(s) => Ok(s),
            Err(StagesError::Type(e)) => Err(e),
            Err(StagesError::Problem(p)) => Err(OptionsError::new(format!(
                "{path}: {p}; each stage needs a duration and a target, like {{duration: '30s', target: 10}}"
            ))),
        }
    }
    fn write_json(v: &Vec<Stage>) -> Value {
        stages_json(v)
    }
}

impl EnvFormat for Stages {
    fn parse_env(text: &str, var: &str) -> Result<Vec<Stage>, OptionsError> {
        parse_stages(text, var)
    }
}

impl CliFormat for Stages {
    const SHAPE: CliShape = CliShape::Repeated;
    fn parse_cli(values: &[String], flag: &str) -> Result<Vec<Stage>, OptionsError> {
        parse_stages(&values.join(","), flag)
    }
}

/// `options.scenarios`: named scenarios, in the order the script declared them.
pub struct Scenarios;

impl Format for Scenarios {
    type Value = Vec<(String, ScenarioConfig)>;
    fn read_json(v: &Value, path: &str) -> Result<Option<Self::Value>, OptionsError> {
        match v {
            Value::Null => Ok(None),
            Value::Object(map) => map
                .iter()
                .map(|(name, sc)| ScenarioConfig::from_json(name, sc).map(|c| (name.clone(), c)))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            other => Err(type_err(path, "an object of named scenarios", other)),
        }
    }
    fn write_json(v: &Self::Value) -> Value {
        Value::Object(
            v.iter()
                .map(|(name, sc)| (name.clone(), sc.to_json()))
                .collect(),
        )
    }
}

/// `tags`: an object of strings; `NAME=VALUE,...` in `K6_TAGS`; `--tag NAME=VALUE` (repeatable).
pub struct Tags;

impl Format for Tags {
    type Value = BTreeMap<String, String>;
    fn read_json(v: &Value, path: &str) -> Result<Option<Self::Value>, OptionsError> {
        read_string_map(v, path)
    }
    fn write_json(v: &Self::Value) -> Value {
        string_map_json(v)
    }
}

impl EnvFormat for Tags {
    /// `NAME=VALUE` pairs separated by commas (`NAME:VALUE` also works).
    fn parse_env(text: &str, var: &str) -> Result<Self::Value, OptionsError> {
        let mut tags = BTreeMap::new();
        for pair in split_list(text) {
            let (k, v) = pair
                .split_once('=')
                .or_else(|| pair.split_once(':'))
                .ok_or_else(|| {
                    OptionsError::new(format!(
                        "{var} must be NAME=VALUE pairs separated by commas, got \"{pair}\""
                    ))
                })?;
            tags.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(tags)
    }
}

impl CliFormat for Tags {
    const SHAPE: CliShape = CliShape::Repeated;
    fn parse_cli(values: &[String], flag: &str) -> Result<Self::Value, OptionsError> {
        let mut m = BTreeMap::new();
        for t in values {
            let (k, v) = t.split_once('=').ok_or_else(|| {
                OptionsError::new(format!("invalid {flag} {t:?}: use NAME=VALUE"))
            })?;
            m.insert(k.to_string(), v.to_string());
        }
        Ok(m)
    }
}

/// `hosts`: an object of host name to address; a JSON object in `K6_HOSTS`.
pub struct Hosts;

impl Format for Hosts {
    type Value = BTreeMap<String, String>;
    fn read_json(v: &Value, path: &str) -> Result<Option<Self::Value>, OptionsError> {
        let map = read_string_map(v, path)?;
        if let Some(m) = &map {
            check_hosts(m)?;
        }
        Ok(map)
    }
    fn write_json(v: &Self::Value) -> Value {
        string_map_json(v)
    }
}

/// Bad `hosts` entries are refused with the options, before any VU starts.
fn check_hosts(m: &BTreeMap<String, String>) -> Result<(), OptionsError> {
    crate::hosts::HostsMap::new(m)
        .map(drop)
        .map_err(OptionsError::new)
}

impl EnvFormat for Hosts {
    fn parse_env(text: &str, var: &str) -> Result<Self::Value, OptionsError> {
        let parsed: Value = serde_json::from_str(text).map_err(|e| {
            OptionsError::new(format!(
                "{var} must be a JSON object like {{\"test.k6.io\": \"1.2.3.4\"}} ({e})"
            ))
        })?;
        let map = read_string_map(&parsed, var)?.unwrap_or_default();
        check_hosts(&map)?;
        Ok(map)
    }
}

/// `httpDebug`: `""`, `"headers"` or `"full"` (checked when resolving); `true` means
/// `"headers"`, as `--http-debug` without a value does.
pub struct HttpDebugText;

impl Format for HttpDebugText {
    type Value = String;
    fn read_json(v: &Value, path: &str) -> Result<Option<String>, OptionsError> {
        match v {
            Value::Bool(true) => Ok(Some("headers".to_string())),
            Value::Bool(false) => Ok(Some(String::new())),
            other => read_string(other, path),
        }
    }
    fn write_json(v: &String) -> Value {
        Value::from(v.clone())
    }
}

impl EnvFormat for HttpDebugText {
    fn parse_env(text: &str, _var: &str) -> Result<String, OptionsError> {
        Ok(match parse_go_bool(text) {
            Some(true) => "headers".to_string(),
            Some(false) => String::new(),
            None => text.to_string(),
        })
    }
}

/// Any JSON, kept as given (`thresholds`, `cloud`, `ext`).
pub struct Json;

impl Format for Json {
    type Value = Value;
    fn read_json(v: &Value, _path: &str) -> Result<Option<Value>, OptionsError> {
        Ok(read_raw(v))
    }
    fn write_json(v: &Value) -> Value {
        v.clone()
    }
}

/// `tlsVersion`: a version string (`"tls1.2"`) or `{min, max}`, kept as given.
pub struct TlsVersion;

impl Format for TlsVersion {
    type Value = Value;
    fn read_json(v: &Value, path: &str) -> Result<Option<Value>, OptionsError> {
        match v {
            Value::Null => Ok(None),
            Value::String(_) | Value::Object(_) => Ok(Some(v.clone())),
            other => Err(type_err(path, "a string or {min, max}", other)),
        }
    }
    fn write_json(v: &Value) -> Value {
        v.clone()
    }
}

impl EnvFormat for TlsVersion {
    fn parse_env(text: &str, _var: &str) -> Result<Value, OptionsError> {
        Ok(Value::from(text.to_string()))
    }
}

/// `tlsAuth`: `[{domains, cert, key, password}]`, kept as given.
pub struct TlsAuth;

impl Format for TlsAuth {
    type Value = Value;
    fn read_json(v: &Value, path: &str) -> Result<Option<Value>, OptionsError> {
        match v {
            Value::Null => Ok(None),
            Value::Array(_) => Ok(Some(v.clone())),
            other => Err(type_err(path, "an array of {domains, cert, key}", other)),
        }
    }
    fn write_json(v: &Value) -> Value {
        v.clone()
    }
}
