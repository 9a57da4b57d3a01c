//! [`LiveRun`]: the REST API's backend for a run of this process, reading the run's control
//! block, metric store and thresholds.

use std::sync::{Arc, OnceLock};

use serde_json::{json, Value};
use volley_common::summary::build::ThresholdSet;

use super::{ApiBackend, ApiError, GroupView, MetricView, StatusView};

/// The REST API's view of a local run: the run control from the start, and the run's metrics
/// and thresholds once the engine attaches them (after the first init).
pub struct LiveRun {
    control: Arc<crate::run::RunControl>,
    run: OnceLock<Arc<crate::run::RunShared>>,
    thresholds: OnceLock<Arc<ThresholdSet>>,
    trend_stats: OnceLock<Vec<String>>,
}

impl LiveRun {
    pub fn new(control: Arc<crate::run::RunControl>) -> Self {
        LiveRun {
            control,
            run: OnceLock::new(),
            thresholds: OnceLock::new(),
            trend_stats: OnceLock::new(),
        }
    }

    /// Called by the engine once the run's state exists.
    pub fn attach(
        &self,
        run: Arc<crate::run::RunShared>,
        thresholds: Arc<ThresholdSet>,
        trend_stats: Vec<String>,
    ) {
        let _ = self.run.set(run);
        let _ = self.thresholds.set(thresholds);
        let _ = self.trend_stats.set(trend_stats);
    }

    fn elapsed_secs(&self) -> f64 {
        self.control.started.elapsed().as_secs_f64()
    }

    /// Threshold results per metric key, now.
    fn threshold_state(&self) -> Vec<(String, bool)> {
        let (Some(run), Some(ths)) = (self.run.get(), self.thresholds.get()) else {
            return Vec::new();
        };
        let secs = self.elapsed_secs();
        let series = run.store.to_series_store(&run.registry);
        ths.iter()
            .map(|(key, list)| {
                let failing = volley_common::summary::build::sink_for_key(&series, key, None)
                    .map(|sink| {
                        !sink.is_empty() && list.iter().any(|t| !t.evaluate(&sink, secs).ok)
                    })
                    .unwrap_or(false);
                (key.clone(), failing)
            })
            .collect()
    }
}

impl ApiBackend for LiveRun {
    fn status(&self) -> StatusView {
        use crate::run::Stage;
        use std::sync::atomic::Ordering;
        let stage = self.control.stage();
        StatusView {
            status: self.control.k6_status(),
            paused: self.control.is_paused(),
            vus: self.control.active_vus.load(Ordering::Relaxed).max(0),
            vus_max: self.control.vus_max.load(Ordering::Relaxed) as i64,
            stopped: self.control.is_aborted(),
            running: stage >= Stage::Setup,
            tainted: self.threshold_state().iter().any(|(_, f)| *f),
        }
    }

    fn stop(&self) {
        use crate::run::Stage;
        match self.control.stage() {
            // handleSummary finishes as it would; an API stop has no effect there.
            Stage::HandleSummary | Stage::Done => {}
            Stage::Linger => self.control.end_linger(),
            _ => {
                if self
                    .control
                    .abort(volley_common::exit::AbortReason::ApiStop)
                {
                    crate::console::log(
                        "info",
                        "Stopping the test run: stop requested through the REST API",
                        &[],
                    );
                }
            }
        }
    }

    fn set_paused(&self, paused: bool) -> Result<(), ApiError> {
        use crate::run::Stage;
        if paused {
            if self.control.stage() >= Stage::Setup {
                return Err(ApiError::new(
                    500,
                    "Pause error",
                    "the test run has started; Volley's executors cannot be paused and resumed after the start",
                ));
            }
            self.control.set_paused(true);
        } else {
            self.control.set_paused(false);
        }
        Ok(())
    }

    fn set_vus(&self, vus: i64, max_vus: Option<i64>) -> Result<(), ApiError> {
        let Some(ext) = self.control.external() else {
            return Err(ApiError::new(
                500,
                "Execution config error",
                "an externally-controlled executor needs to be configured for live configuration updates",
            ));
        };
        if let Some(m) = max_vus {
            if m as u64 != ext.max_vus {
                return Err(ApiError::new(
                    400,
                    "Config update error",
                    "changing vus-max during the run is not supported; set maxVUs in the scenario",
                ));
            }
        }
        if vus < 0 || vus as u64 > ext.max_vus {
            return Err(ApiError::new(
                400,
                "Config update error",
                format!(
                    "the number of active VUs ({vus}) must be between 0 and maxVUs ({})",
                    ext.max_vus
                ),
            ));
        }
        ext.vus.send_replace(vus as u64);
        Ok(())
    }

    fn metrics(&self) -> Vec<MetricView> {
        let Some(run) = self.run.get() else {
            return Vec::new();
        };
        let stats = self.trend_stats.get().cloned().unwrap_or_default();
        let secs = self.elapsed_secs();
        let ths = self.threshold_state();
        run.store
            .observed_metrics()
            .into_iter()
            .filter_map(|id| {
                let def = run.registry.get(id)?;
                let sink = run.store.aggregate(id, &[])?;
                let sample: serde_json::Map<String, Value> = sink
                    .values(&stats, secs)
                    .into_iter()
                    .map(|(k, v)| (k, json_number(v)))
                    .collect();
                let own: Vec<bool> = ths
                    .iter()
                    .filter(|(k, _)| *k == def.name)
                    .map(|(_, f)| *f)
                    .collect();
                Some(MetricView {
                    name: def.name.clone(),
                    metric_type: def.mtype.as_str().to_string(),
                    contains: def.contains.as_str().to_string(),
                    tainted: (!own.is_empty()).then(|| own.iter().any(|f| *f)),
                    sample: Value::Object(sample),
                })
            })
            .collect()
    }

    fn groups(&self) -> Vec<GroupView> {
        let root = match self.run.get() {
            Some(run) => run.store.to_series_store(&run.registry).group_tree(),
            None => volley_common::summary::GroupReport::default(),
        };
        let mut out = Vec::new();
        flatten(&root, None, &mut out);
        out
    }

    fn setup_data(&self) -> Option<Value> {
        let run = self.run.get()?;
        let s = run
            .setup_data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        serde_json::from_str(&s).ok()
    }
}

/// Whole numbers as JSON integers (as k6 prints them), others as floats.
pub fn json_number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn flatten(
    g: &volley_common::summary::GroupReport,
    parent: Option<String>,
    out: &mut Vec<GroupView>,
) {
    let id = g.id();
    let checks = (!g.checks.is_empty()).then(|| {
        json!(g
            .checks
            .iter()
            .map(|c| json!({"id": c.id(), "path": c.path, "name": c.name, "passes": c.passes, "fails": c.fails}))
            .collect::<Vec<_>>())
    });
    out.push(GroupView {
        id: id.clone(),
        path: g.path.clone(),
        name: g.name.clone(),
        checks,
        children: g.groups.iter().map(|c| c.id()).collect(),
        parent,
    });
    for c in &g.groups {
        flatten(c, Some(id.clone()), out);
    }
}
