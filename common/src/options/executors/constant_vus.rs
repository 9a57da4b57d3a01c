//! constant-vus: a fixed number of VUs loop for `duration`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{ScenarioBase, to_duration, too_short, Executor, Fields};
use crate::duration::format_duration;
use crate::options::json::dur_json;
use crate::options::{OptionsError, VUS_MORE_THAN_ZERO};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstantVus {
    pub vus: u64,
    pub duration: Duration,
}

impl ConstantVus {
    /// The config with these settings (fields added later take k6's defaults, so the callers
    /// that build one, like the shortcut options, need no change).
    pub fn new(vus: u64, duration: Duration) -> Self {
        Self {
            vus,
            duration,
        }
    }
}

impl Executor for ConstantVus {
    const NAME: &'static str = "constant-vus";
    const FIELDS: &'static [&'static str] = &["vus", "duration"];

    fn from_json(f: &Fields<'_>) -> Result<Self, OptionsError> {
        let vus = f.int("vus")?.unwrap_or(1);
        if vus < 0 {
            return Err(f.problem(VUS_MORE_THAN_ZERO));
        }
        let duration = match f.dur("duration")? {
            None => return Err(f.problem("the duration is unspecified")),
            Some(n) if n < 0 => return Err(f.too_short("duration", n)),
            Some(n) => to_duration(n),
        };
        Ok(Self {
            vus: vus as u64,
            duration,
        })
    }

    fn write_json(&self, m: &mut Map<String, Value>) {
        m.insert("vus".into(), Value::from(self.vus));
        m.insert("duration".into(), dur_json(self.duration));
    }

    fn validate(&self, _sc: &ScenarioBase<'_>, errors: &mut Vec<String>) {
        if self.vus == 0 {
            errors.push(VUS_MORE_THAN_ZERO.to_string());
        }
        errors.extend(too_short("duration", self.duration));
    }

    fn max_duration(&self) -> Duration {
        self.duration
    }

    fn max_vus(&self) -> u64 {
        self.vus
    }

    fn description(&self, sc: &ScenarioBase<'_>) -> String {
        format!(
            "{} looping VUs for {}{}",
            self.vus,
            format_duration(self.duration),
            sc.base_info(&[])
        )
    }
}
