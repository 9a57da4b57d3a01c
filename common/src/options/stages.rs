//! Stages: the ramps of `ramping-vus` and `ramping-arrival-rate` scenarios, of the `stages`
//! shortcut option, `--stage` and `K6_STAGES` (reading, k6's wording for their problems,
//! export, length and peak).

use std::time::Duration;

use serde_json::{Map, Value};

use super::json::{dur_json, nanos_to_duration, read_i64, read_signed_duration, type_err, NULL};
use super::OptionsError;
use crate::duration::parse_duration;

/// One step of a ramp: reach `target` (VUs, or iterations per `timeUnit`) over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub duration: Duration,
    pub target: u64,
}

/// Reads `[{duration, target}]`. Problems use k6's wording ("stage 1 doesn't have a target");
/// type errors name the JSON path.
pub(super) fn read_stages(v: &Value, path: &str) -> Result<Option<Vec<Stage>>, StagesError> {
    let items = match v {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        _ => {
            return Err(StagesError::Type(type_err(
                path,
                "an array of {duration, target} objects",
                v,
            )))
        }
    };
    let mut stages = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let item_path = format!("{path}[{i}]");
        let Value::Object(obj) = item else {
            return Err(StagesError::Type(type_err(
                &item_path,
                "a {duration, target} object",
                item,
            )));
        };
        let duration = read_signed_duration(
            obj.get("duration").unwrap_or(&NULL),
            &format!("{item_path}.duration"),
        )
        .map_err(StagesError::Type)?;
        let duration = match duration {
            None => {
                return Err(StagesError::Problem(format!(
                    "stage {n} doesn't have a duration"
                )))
            }
            Some(d) if d < 0 => {
                return Err(StagesError::Problem(format!(
                    "the duration for stage {n} shouldn't be negative"
                )))
            }
            Some(d) => nanos_to_duration(d),
        };
        let target = read_i64(
            obj.get("target").unwrap_or(&NULL),
            &format!("{item_path}.target"),
        )
        .map_err(StagesError::Type)?;
        let target = match target {
            None => {
                return Err(StagesError::Problem(format!(
                    "stage {n} doesn't have a target"
                )))
            }
            Some(t) if t < 0 => {
                return Err(StagesError::Problem(format!(
                    "the target for stage {n} shouldn't be negative"
                )))
            }
            Some(t) => t as u64,
        };
        stages.push(Stage { duration, target });
    }
    Ok(Some(stages))
}

pub(super) enum StagesError {
    Type(OptionsError),
    Problem(String),
}

pub(super) fn stages_json(stages: &[Stage]) -> Value {
    Value::Array(
        stages
            .iter()
            .map(|s| {
                let mut m = Map::new();
                m.insert("duration".into(), dur_json(s.duration));
                m.insert("target".into(), Value::from(s.target));
                Value::Object(m)
            })
            .collect(),
    )
}

/// Parses stages written as `DURATION:TARGET[,DURATION:TARGET...]`, the syntax of k6's
/// `--stage` flag and `K6_STAGES`; `source` names the flag or variable in errors.
pub fn parse_stages(text: &str, source: &str) -> Result<Vec<Stage>, OptionsError> {
    let hint = "use DURATION:TARGET stages separated by commas, like \"30s:10,1m:0\"";
    let mut stages = Vec::new();
    for (i, part) in text.split(',').map(str::trim).enumerate() {
        let n = i + 1;
        let (dur_text, target_text) = part.split_once(':').ok_or_else(|| {
            OptionsError::new(format!(
                "{source}: stage {n} (\"{part}\") doesn't have a target; {hint}"
            ))
        })?;
        let duration = parse_duration(dur_text.trim()).map_err(|e| {
            OptionsError::new(format!(
                "{source}: stage {n} has an invalid duration ({e}); {hint}"
            ))
        })?;
        let target = target_text.trim().parse::<u64>().map_err(|_| {
            OptionsError::new(format!(
                "{source}: the target of stage {n} must be a non-negative integer, got \"{}\"; {hint}",
                target_text.trim()
            ))
        })?;
        stages.push(Stage { duration, target });
    }
    Ok(stages)
}

/// The sum of the stages' durations.
pub(super) fn stages_total(stages: &[Stage]) -> Duration {
    stages.iter().map(|s| s.duration).sum()
}

/// The most of `start` and the stages' targets.
pub(super) fn stages_peak(start: u64, stages: &[Stage]) -> u64 {
    stages.iter().map(|s| s.target).fold(start, u64::max)
}
