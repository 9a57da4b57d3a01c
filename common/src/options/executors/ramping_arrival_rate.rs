//! ramping-arrival-rate: the iteration start rate follows `stages` (per `timeUnit`), starting
//! at `startRate`, whatever the VUs are doing, taken from `preAllocatedVUs` (up to `maxVUs`).

use std::time::Duration;

use serde_json::{Map, Value};

use super::{ScenarioBase, 
    max_vus_fact, rate_per_second, read_arrival_rate_vus, resegment, Split, Executor,
    Fields,
};
use crate::duration::format_duration;
use crate::options::json::dur_json;
use crate::options::stages::{stages_json, stages_peak, stages_total};
use crate::options::{OptionsError, Stage};
use crate::segment::{ExecutionTuple, SegmentError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RampingArrivalRate {
    pub start_rate: u64,
    pub time_unit: Duration,
    pub stages: Vec<Stage>,
    pub pre_allocated_vus: u64,
    pub max_vus: u64,
}

impl RampingArrivalRate {
    /// The config with these settings (fields added later take k6's defaults, so the callers
    /// that build one, like the shortcut options, need no change).
    pub fn new(start_rate: u64, time_unit: Duration, stages: Vec<Stage>, pre_allocated_vus: u64, max_vus: u64) -> Self {
        Self {
            start_rate,
            time_unit,
            stages,
            pre_allocated_vus,
            max_vus,
        }
    }
}

impl Executor for RampingArrivalRate {
    const NAME: &'static str = "ramping-arrival-rate";
    const FIELDS: &'static [&'static str] = &[
        "startRate",
        "timeUnit",
        "stages",
        "preAllocatedVUs",
        "maxVUs",
    ];

    fn from_json(f: &Fields<'_>) -> Result<Self, OptionsError> {
        let (time_unit, pre_allocated_vus, max_vus) = read_arrival_rate_vus(f)?;
        let start_rate = match f.int("startRate")? {
            Some(n) if n < 0 => return Err(f.problem("the startRate value shouldn't be negative")),
            other => other.unwrap_or(0) as u64,
        };
        let stages = f.stages("stages")?;
        Ok(Self {
            start_rate,
            time_unit,
            stages,
            pre_allocated_vus,
            max_vus,
        })
    }

    fn write_json(&self, m: &mut Map<String, Value>) {
        m.insert("startRate".into(), Value::from(self.start_rate));
        m.insert("timeUnit".into(), dur_json(self.time_unit));
        m.insert("stages".into(), stages_json(&self.stages));
        m.insert("preAllocatedVUs".into(), Value::from(self.pre_allocated_vus));
        m.insert("maxVUs".into(), Value::from(self.max_vus));
    }

    fn validate(&self, _sc: &ScenarioBase<'_>, errors: &mut Vec<String>) {
        if self.time_unit.is_zero() {
            errors.push("the timeUnit must be more than 0".to_string());
        }
        if self.stages.is_empty() {
            errors.push("at least one stage has to be specified".to_string());
        }
        if self.max_vus < self.pre_allocated_vus {
            errors.push("maxVUs shouldn't be less than preAllocatedVUs".to_string());
        }
    }

    fn max_duration(&self) -> Duration {
        stages_total(&self.stages)
    }

    fn max_vus(&self) -> u64 {
        self.pre_allocated_vus.max(self.max_vus)
    }

    fn description(&self, sc: &ScenarioBase<'_>) -> String {
        format!(
            "Up to {} iterations/s for {} over {} stages{}",
            rate_per_second(stages_peak(self.start_rate, &self.stages), self.time_unit),
            format_duration(stages_total(&self.stages)),
            self.stages.len(),
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
