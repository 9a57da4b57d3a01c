//! externally-controlled: `vus` (up to `maxVUs`) loop for `duration` (zero: until stopped),
//! changed while running through the REST API. It has no `gracefulStop`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{ScenarioBase, to_duration, Executor, Fields};
use crate::duration::format_duration;
use crate::options::json::dur_json;
use crate::options::OptionsError;
use crate::segment::ExecutionTuple;

/// `duration` zero means "until stopped".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternallyControlled {
    pub vus: u64,
    pub max_vus: u64,
    pub duration: Duration,
}

impl ExternallyControlled {
    /// The config with these settings (fields added later take k6's defaults, so the callers
    /// that build one, like the shortcut options, need no change).
    pub fn new(vus: u64, max_vus: u64, duration: Duration) -> Self {
        Self {
            vus,
            max_vus,
            duration,
        }
    }
}

impl Executor for ExternallyControlled {
    const NAME: &'static str = "externally-controlled";
    const FIELDS: &'static [&'static str] = &["vus", "maxVUs", "duration"];
    const GRACEFUL_STOP: bool = false;

    fn from_json(f: &Fields<'_>) -> Result<Self, OptionsError> {
        let vus = match f.int("vus")? {
            Some(n) if n < 0 => return Err(f.problem("the number of VUs shouldn't be negative")),
            other => other.unwrap_or(0),
        };
        let max_vus = match f.int("maxVUs")? {
            Some(n) if n < vus => {
                return Err(f.problem(format!(
                    "the number of active VUs ({vus}) must be less than or equal to the number of maxVUs ({n})"
                )))
            }
            other => other.unwrap_or(0),
        };
        let duration = match f.dur("duration")? {
            None => {
                return Err(f.problem(
                    "the duration should be specified, for infinite duration use 0",
                ))
            }
            Some(n) if n < 0 => return Err(f.problem("the duration shouldn't be negative")),
            Some(n) => to_duration(n),
        };
        Ok(Self {
            vus: vus as u64,
            max_vus: max_vus as u64,
            duration,
        })
    }

    fn write_json(&self, m: &mut Map<String, Value>) {
        m.insert("vus".into(), Value::from(self.vus));
        m.insert("maxVUs".into(), Value::from(self.max_vus));
        m.insert("duration".into(), dur_json(self.duration));
    }

    fn validate(&self, sc: &ScenarioBase<'_>, errors: &mut Vec<String>) {
        if self.vus > self.max_vus {
            errors.push(format!(
                "the number of active VUs ({}) must be less than or equal to the number of maxVUs ({})",
                self.vus, self.max_vus
            ));
        }
        if !sc.graceful_stop.is_zero() {
            errors.push(
                "gracefulStop is not supported by the externally controlled executor".to_string(),
            );
        }
    }

    fn max_duration(&self) -> Duration {
        self.duration
    }

    fn max_vus(&self) -> u64 {
        self.max_vus
    }

    fn description(&self, _sc: &ScenarioBase<'_>) -> String {
        format!(
            "Externally controlled execution with {} VUs, {} max VUs, {} duration",
            self.vus,
            self.max_vus,
            format_duration(self.duration)
        )
    }

    /// Runs in every segment: its VUs are set while it runs.
    fn has_work(&self, _tuple: &ExecutionTuple) -> bool {
        true
    }
}
