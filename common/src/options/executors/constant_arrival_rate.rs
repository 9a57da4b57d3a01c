//! constant-arrival-rate: `rate` iterations start every `timeUnit` for `duration`, whatever
//! the VUs are doing, taken from `preAllocatedVUs` (up to `maxVUs`).

use std::time::Duration;

use serde_json::{Map, Value};

use super::{ScenarioBase, 
    max_vus_fact, rate_per_second, read_arrival_rate_vus, resegment, Split, to_duration, too_short, Executor,
    Fields,
};
use crate::duration::format_duration;
use crate::options::json::dur_json;
use crate::options::OptionsError;
use crate::segment::{ExecutionTuple, SegmentError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstantArrivalRate {
    pub rate: u64,
    pub time_unit: Duration,
    pub duration: Duration,
    pub pre_allocated_vus: u64,
    pub max_vus: u64,
}

impl ConstantArrivalRate {
    /// The config with these settings (fields added later take k6's defaults, so the callers
    /// that build one, like the shortcut options, need no change).
    pub fn new(rate: u64, time_unit: Duration, duration: Duration, pre_allocated_vus: u64, max_vus: u64) -> Self {
        Self {
            rate,
            time_unit,
            duration,
            pre_allocated_vus,
            max_vus,
        }
    }
}

impl Executor for ConstantArrivalRate {
    const NAME: &'static str = "constant-arrival-rate";
    const FIELDS: &'static [&'static str] =
        &["rate", "timeUnit", "duration", "preAllocatedVUs", "maxVUs"];

    fn from_json(f: &Fields<'_>) -> Result<Self, OptionsError> {
        let (time_unit, pre_allocated_vus, max_vus) = read_arrival_rate_vus(f)?;
        let rate = match f.int("rate")? {
            None => return Err(f.problem("the iteration rate isn't specified")),
            Some(n) if n < 0 => return Err(f.problem("the iteration rate must be more than 0")),
            Some(n) => n as u64,
        };
        let duration = match f.dur("duration")? {
            None => return Err(f.problem("the duration is unspecified")),
            Some(n) if n < 0 => return Err(f.too_short("duration", n)),
            Some(n) => to_duration(n),
        };
        Ok(Self {
            rate,
            time_unit,
            duration,
            pre_allocated_vus,
            max_vus,
        })
    }

    fn write_json(&self, m: &mut Map<String, Value>) {
        m.insert("rate".into(), Value::from(self.rate));
        m.insert("timeUnit".into(), dur_json(self.time_unit));
        m.insert("duration".into(), dur_json(self.duration));
        m.insert("preAllocatedVUs".into(), Value::from(self.pre_allocated_vus));
        m.insert("maxVUs".into(), Value::from(self.max_vus));
    }

    fn validate(&self, _sc: &ScenarioBase<'_>, errors: &mut Vec<String>) {
        if self.rate == 0 {
            errors.push("the iteration rate must be more than 0".to_string());
        }
        if self.time_unit.is_zero() {
            errors.push("the timeUnit must be more than 0".to_string());
        }
        errors.extend(too_short("duration", self.duration));
        if self.max_vus < self.pre_allocated_vus {
            errors.push("maxVUs shouldn't be less than preAllocatedVUs".to_string());
        }
    }

    fn max_duration(&self) -> Duration {
        self.duration
    }

    fn max_vus(&self) -> u64 {
        self.pre_allocated_vus.max(self.max_vus)
    }

    fn description(&self, sc: &ScenarioBase<'_>) -> String {
        format!(
            "{} iterations/s for {}{}",
            rate_per_second(self.rate, self.time_unit),
            format_duration(self.duration),
            sc.base_info(&[max_vus_fact(self.pre_allocated_vus, self.max_vus)])
        )
    }

    /// Only the pre-allocated VUs are initialized up front; the rest start when needed.
    fn initial_vus(&self, tuple: &ExecutionTuple) -> u64 {
        tuple.scale_u64(self.pre_allocated_vus)
    }

    /// Events are striped over the instances by `maxVUs`.
    fn split(&self, tuple: &ExecutionTuple) -> Result<Split, SegmentError> {
        Ok((resegment(tuple, self.max_vus)?, None))
    }
}
