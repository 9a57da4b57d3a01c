//! ramping-vus: the number of looping VUs follows `stages`, starting at `startVUs`; VUs
//! leaving in a ramp-down get `gracefulRampDown` to finish their iteration.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{ScenarioBase, to_duration, Executor, Fields};
use crate::duration::format_duration;
use crate::options::json::dur_json;
use crate::options::stages::{stages_json, stages_peak, stages_total};
use crate::options::{OptionsError, Stage, DEFAULT_GRACEFUL_RAMP_DOWN};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RampingVus {
    pub start_vus: u64,
    pub stages: Vec<Stage>,
    pub graceful_ramp_down: Duration,
}

/// The most VUs a ramping-vus scenario may start or ramp to (k6 refuses more, exit 104).
const MAX_CONCURRENT_VUS: u64 = 100_000_000;

impl RampingVus {
    /// The config with these settings (fields added later take k6's defaults, so the callers
    /// that build one, like the shortcut options, need no change).
    pub fn new(start_vus: u64, stages: Vec<Stage>, graceful_ramp_down: Duration) -> Self {
        Self {
            start_vus,
            stages,
            graceful_ramp_down,
        }
    }
}

impl Executor for RampingVus {
    const NAME: &'static str = "ramping-vus";
    const FIELDS: &'static [&'static str] = &["startVUs", "stages", "gracefulRampDown"];

    fn from_json(f: &Fields<'_>) -> Result<Self, OptionsError> {
        let start_vus = f.int("startVUs")?.unwrap_or(1);
        if start_vus < 0 {
            return Err(f.problem("the number of start VUs shouldn't be negative"));
        }
        let stages = f.stages("stages")?;
        let graceful_ramp_down = match f.dur("gracefulRampDown")? {
            Some(n) if n < 0 => return Err(f.problem("the gracefulRampDown shouldn't be negative")),
            other => other.map(to_duration).unwrap_or(DEFAULT_GRACEFUL_RAMP_DOWN),
        };
        Ok(Self {
            start_vus: start_vus as u64,
            stages,
            graceful_ramp_down,
        })
    }

    fn write_json(&self, m: &mut Map<String, Value>) {
        m.insert("startVUs".into(), Value::from(self.start_vus));
        m.insert("stages".into(), stages_json(&self.stages));
        m.insert("gracefulRampDown".into(), dur_json(self.graceful_ramp_down));
    }

    fn validate(&self, _sc: &ScenarioBase<'_>, errors: &mut Vec<String>) {
        if self.stages.is_empty() {
            errors.push("at least one stage has to be specified".to_string());
        } else if stages_peak(self.start_vus, &self.stages) == 0 {
            errors.push(
                "either startVUs or one of the stages' target values must be greater than 0"
                    .to_string(),
            );
        }
        // k6's ceiling on one scenario's concurrent VUs, with its wording.
        if self.start_vus > MAX_CONCURRENT_VUS {
            errors.push(format!(
                "the startVUs exceed max limit of {MAX_CONCURRENT_VUS}"
            ));
        }
        for (i, stage) in self.stages.iter().enumerate() {
            if stage.target > MAX_CONCURRENT_VUS {
                errors.push(format!(
                    "target for stage {} exceeds max limit of {MAX_CONCURRENT_VUS}",
                    i + 1
                ));
            }
        }
    }

    fn max_duration(&self) -> Duration {
        stages_total(&self.stages)
    }

    fn max_vus(&self) -> u64 {
        stages_peak(self.start_vus, &self.stages)
    }

    fn description(&self, sc: &ScenarioBase<'_>) -> String {
        format!(
            "Up to {} looping VUs for {} over {} stages{}",
            self.max_vus(),
            format_duration(stages_total(&self.stages)),
            self.stages.len(),
            sc.base_info(&[format!(
                "gracefulRampDown: {}",
                format_duration(self.graceful_ramp_down)
            )])
        )
    }
}
