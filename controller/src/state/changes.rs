//! The optional field changes a `Transition` or `UpdateRun` command carries for a run.

use serde::{Deserialize, Serialize};

use crate::model::{AbortReason, ProcessingStatus, ResultStatus, Run, RunEvent, MAX_RUN_EVENTS};

/// Optional changes to a run's fields; `None` leaves a field as it is. There is no way to set a
/// field back to null: nothing in the run lifecycle needs it, and it keeps the log simple.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vus: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_status: Option<ResultStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing_status: Option<ProcessingStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_reason: Option<AbortReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// An event to append to the run's events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<RunEvent>,
}

impl RunChanges {
    /// True when no field would change.
    pub fn is_empty(&self) -> bool {
        self == &RunChanges::default()
    }

    pub(super) fn apply_to(&self, run: &mut Run) {
        if let Some(v) = self.vus {
            run.vus = v;
        }
        if let Some(v) = self.result_status {
            run.result_status = v;
        }
        if let Some(v) = self.processing_status {
            run.processing_status = v;
        }
        if let Some(v) = self.error_code {
            run.error_code = Some(v);
        }
        if let Some(v) = &self.error_detail {
            run.error_detail = Some(v.clone());
        }
        if let Some(v) = self.exit_code {
            run.exit_code = Some(v);
        }
        if let Some(v) = &self.abort_reason {
            run.abort_reason = Some(v.clone());
        }
        if let Some(v) = self.stopped_by_id {
            run.stopped_by_id = Some(v);
        }
        if let Some(v) = self.degraded {
            run.degraded = v;
        }
        if let Some(v) = &self.note {
            run.note = v.clone();
        }
        if let Some(e) = &self.event {
            if run.events.len() + 1 < MAX_RUN_EVENTS {
                run.events.push(e.clone());
            } else if run.events.len() + 1 == MAX_RUN_EVENTS {
                run.events.push(RunEvent {
                    at: e.at.clone(),
                    level: "warning".into(),
                    message: format!("more than {MAX_RUN_EVENTS} events: later ones are not kept"),
                    threshold: None,
                });
            }
        }
    }
}
