//! per-vu-iterations: each of a fixed number of VUs runs the same number of iterations,
//! within `maxDuration`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{ScenarioBase, to_duration, too_short, Executor, Fields, Split};
use crate::duration::format_duration;
use crate::options::json::dur_json;
use crate::options::{
    OptionsError, DEFAULT_MAX_DURATION, VUS_MORE_THAN_ZERO,
};
use crate::segment::{ExecutionTuple, SegmentError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerVuIterations {
    pub vus: u64,
    pub iterations: u64,
    pub max_duration: Duration,
}

impl PerVuIterations {
    /// The config with these settings (fields added later take k6's defaults, so the callers
    /// that build one, like the shortcut options, need no change).
    pub fn new(vus: u64, iterations: u64, max_duration: Duration) -> Self {
        Self {
            vus,
            iterations,
            max_duration,
        }
    }
}

impl Executor for PerVuIterations {
    const NAME: &'static str = "per-vu-iterations";
    const FIELDS: &'static [&'static str] = &["vus", "iterations", "maxDuration"];

    fn from_json(f: &Fields<'_>) -> Result<Self, OptionsError> {
        let vus = f.int("vus")?.unwrap_or(1);
        let iterations = f.int("iterations")?.unwrap_or(1);
        let max_duration = f.dur("maxDuration")?;
        if vus < 0 {
            return Err(f.problem(VUS_MORE_THAN_ZERO));
        }
        if iterations < 0 {
            return Err(f.problem("the number of iterations must be more than 0"));
        }
        let max_duration = match max_duration {
            Some(n) if n < 0 => return Err(f.too_short("maxDuration", n)),
            other => other.map(to_duration).unwrap_or(DEFAULT_MAX_DURATION),
        };
        Ok(Self {
            vus: vus as u64,
            iterations: iterations as u64,
            max_duration,
        })
    }

    fn write_json(&self, m: &mut Map<String, Value>) {
        m.insert("vus".into(), Value::from(self.vus));
        m.insert("iterations".into(), Value::from(self.iterations));
        m.insert("maxDuration".into(), dur_json(self.max_duration));
    }

    fn validate(&self, _sc: &ScenarioBase<'_>, errors: &mut Vec<String>) {
        if self.vus == 0 {
            errors.push(VUS_MORE_THAN_ZERO.to_string());
        }
        if self.iterations == 0 {
            errors.push("the number of iterations must be more than 0".to_string());
        }
        errors.extend(too_short("maxDuration", self.max_duration));
    }

    fn max_duration(&self) -> Duration {
        self.max_duration
    }

    fn max_vus(&self) -> u64 {
        self.vus
    }

    fn description(&self, sc: &ScenarioBase<'_>) -> String {
        format!(
            "{} iterations for each of {} VUs{}",
            self.iterations,
            self.vus,
            sc.base_info(&[format!(
                "maxDuration: {}",
                format_duration(self.max_duration)
            )])
        )
    }

    /// Each of this instance's VUs runs all its iterations.
    fn split(&self, tuple: &ExecutionTuple) -> Result<Split, SegmentError> {
        Ok((
            Some(tuple.clone()),
            Some(tuple.scale_u64(self.vus) * self.iterations),
        ))
    }

    fn has_work(&self, tuple: &ExecutionTuple) -> bool {
        tuple.scale_u64(self.vus) > 0 && self.iterations > 0
    }
}
