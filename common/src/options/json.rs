//! Reading and writing the JSON values of options. `path` is the option as the user wrote it,
//! e.g. `options.scenarios.api.vus`, so a type error tells them exactly what to fix.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::OptionsError;
use crate::duration::{duration_from_json_signed, format_duration};

pub(super) const NULL: Value = Value::Null;

pub(super) fn show(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(77).collect();
        format!("{cut}...")
    } else {
        text
    }
}

pub(super) fn type_err(path: &str, expected: &str, got: &Value) -> OptionsError {
    OptionsError::new(format!("{path} must be {expected}, got {}", show(got)))
}

pub(super) fn read_i64(v: &Value, path: &str) -> Result<Option<i64>, OptionsError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(i));
            }
            match n.as_f64() {
                // JSON.stringify writes 1e21 and up in exponent form; anything integral and in
                // range is an integer to k6 too.
                Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
                _ => Err(type_err(path, "a non-negative integer", v)),
            }
        }
        _ => Err(type_err(path, "a non-negative integer", v)),
    }
}

pub(super) fn read_u64(v: &Value, path: &str) -> Result<Option<u64>, OptionsError> {
    match read_i64(v, path)? {
        Some(i) if i < 0 => Err(type_err(path, "a non-negative integer", v)),
        other => Ok(other.map(|i| i as u64)),
    }
}

pub(super) fn read_bool(v: &Value, path: &str) -> Result<Option<bool>, OptionsError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(type_err(path, "true or false", v)),
    }
}

pub(super) fn read_string(v: &Value, path: &str) -> Result<Option<String>, OptionsError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(type_err(path, "a string", v)),
    }
}

pub(super) fn read_string_list(v: &Value, path: &str) -> Result<Option<Vec<String>>, OptionsError> {
    match v {
        Value::Null => Ok(None),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(type_err(&format!("{path}[{i}]"), "a string", item)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Err(type_err(path, "an array of strings", v)),
    }
}

pub(super) fn read_string_map(
    v: &Value,
    path: &str,
) -> Result<Option<BTreeMap<String, String>>, OptionsError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(map) => map
            .iter()
            .map(|(k, item)| match item {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(type_err(&format!("{path}.{k}"), "a string", item)),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
            .map(Some),
        _ => Err(type_err(path, "an object of strings", v)),
    }
}

/// A duration that may be negative (k6 reports negative ones with its own wording).
pub(super) fn read_signed_duration(v: &Value, path: &str) -> Result<Option<i128>, OptionsError> {
    if v.is_null() {
        return Ok(None);
    }
    duration_from_json_signed(v).map(Some).map_err(|e| {
        OptionsError::new(format!(
            "{path} is not a valid duration ({e}); use a string like \"30s\" or a number of milliseconds"
        ))
    })
}

pub(super) fn nanos_to_duration(nanos: i128) -> Duration {
    let n = nanos.max(0) as u128;
    Duration::new((n / 1_000_000_000) as u64, (n % 1_000_000_000) as u32)
}

pub(super) fn read_duration(v: &Value, path: &str) -> Result<Option<Duration>, OptionsError> {
    match read_signed_duration(v, path)? {
        Some(n) if n < 0 => Err(OptionsError::new(format!(
            "{path} must not be negative, got {}",
            show(v)
        ))),
        other => Ok(other.map(nanos_to_duration)),
    }
}

pub(super) fn read_raw(v: &Value) -> Option<Value> {
    (!v.is_null()).then(|| v.clone())
}

pub(super) fn dur_json(d: Duration) -> Value {
    Value::String(format_duration(d))
}

pub(super) fn string_map_json(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect(),
    )
}

pub(super) fn string_list_json(l: &[String]) -> Value {
    Value::Array(l.iter().map(|s| Value::from(s.clone())).collect())
}
