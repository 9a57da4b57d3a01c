//! Executors: they decide when which VU runs which iteration of a scenario (k6's executors, one
//! file each). They run as tasks on the IO runtime and drive VUs with commands; a VU loops
//! through the iterations its [`Job`] hands out without asking the executor each time.
//!
//! Each executor's runtime is a `Runtime` implementation for its config struct, in the file
//! named after it; its config (fields, validation, description, segment split) is in
//! `common/src/options/executors/` under the same name. Both are hooked from the one list in
//! `volley_common::for_each_executor!`, so the dispatch below has no per-executor arm to keep.

mod arrival_rate;
mod constant_arrival_rate;
mod constant_vus;
mod externally_controlled;
mod iterations;
mod per_vu_iterations;
mod pool;
mod ramping_arrival_rate;
mod ramping_vus;
mod shared_iterations;
#[cfg(test)]
mod test_run;

pub use crate::scenario::{IterationSource, Job, ScenarioRt};
pub use pool::{VuFactory, VuHandle, VuPool};

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use volley_common::options::{ExecutorConfig, ScenarioConfig};
use volley_common::segment::ExecutionTuple;

use crate::run::RunControl;

/// What every executor needs.
pub struct ExecCtx {
    pub pool: Arc<VuPool>,
    pub control: Arc<RunControl>,
    pub tuple: ExecutionTuple,
    /// Records `dropped_iterations` (scenario name) for arrival-rate executors.
    pub dropped: Arc<dyn Fn(&str) + Send + Sync>,
}

/// Builds the run-time scenario for a config and this instance's tuple.
///
/// A scenario whose share in this instance's segment is empty (too few VUs or iterations to
/// split over every segment, e.g. 1 iteration over 2 agents) has no work here and is skipped,
/// as k6 skips it: an instance with nothing to do still takes part in the run and ends at once.
pub fn scenario_rt(
    cfg: &ScenarioConfig,
    tuple: &ExecutionTuple,
) -> Result<Arc<ScenarioRt>, String> {
    let (t, planned_iters) = cfg
        .executor
        .split(tuple)
        .map_err(|e| format!("scenario {}: {e}", cfg.name))?;
    let has_work = t.is_some() && has_work(cfg, tuple) && planned_iters != Some(0);
    let mut rt = ScenarioRt::new(cfg, t.unwrap_or_else(|| tuple.clone()), planned_iters);
    rt.has_work = has_work;
    Ok(Arc::new(rt))
}

/// k6's `HasWork`: whether this instance's segment gets any VUs (and, for the iteration-based
/// executors, any iterations) of the scenario.
pub fn has_work(cfg: &ScenarioConfig, tuple: &ExecutionTuple) -> bool {
    cfg.executor.has_work(tuple)
}

/// The most VUs this instance needs at once, over all scenarios (scenarios that do not overlap
/// in time share VUs), and per scenario.
pub fn max_concurrent_vus(scenarios: &[ScenarioConfig], tuple: &ExecutionTuple) -> u64 {
    most_at_once(scenarios, |s| initial_vus(s, tuple))
}

/// The most VUs this instance may ever hold at once: like [`max_concurrent_vus`], but counting
/// the VUs arrival-rate scenarios may add during the run (up to `maxVUs`).
pub fn peak_vus(scenarios: &[ScenarioConfig], tuple: &ExecutionTuple) -> u64 {
    most_at_once(scenarios, |s| {
        if has_work(s, tuple) {
            tuple.scale_u64(s.executor.max_vus())
        } else {
            0
        }
    })
}

/// The largest sum of `vus` over the scenarios running at the same time.
fn most_at_once(scenarios: &[ScenarioConfig], vus: impl Fn(&ScenarioConfig) -> u64) -> u64 {
    let spans: Vec<(Duration, Duration, u64)> = scenarios
        .iter()
        .map(|s| {
            let start = s.start_time;
            let end = start + s.max_duration() + s.graceful_stop;
            (start, end, vus(s))
        })
        .collect();
    let mut best = 0;
    for (start, _, _) in &spans {
        let at = *start;
        let sum: u64 = spans
            .iter()
            .filter(|(s, e, _)| *s <= at && at < *e)
            .map(|(_, _, n)| n)
            .fold(0u64, |a, n| a.saturating_add(*n));
        best = best.max(sum);
    }
    best
}

/// VUs a scenario needs initialized before the test starts (k6: pre-allocated ones for the
/// arrival-rate executors, the maximum for the others).
pub fn initial_vus(s: &ScenarioConfig, tuple: &ExecutionTuple) -> u64 {
    if !has_work(s, tuple) {
        return 0;
    }
    s.executor.initial_vus(tuple)
}

/// An executor's runtime: drives this instance's VUs through one scenario until it ends.
/// Implemented for each executor config, in the file named after the executor.
pub(crate) trait Runtime {
    async fn run(&self, cfg: &ScenarioConfig, sc: &Arc<ScenarioRt>, ctx: &ExecCtx);
}

/// Generates [`run_executor`] from the executor list: one arm per executor, each calling that
/// executor's [`Runtime`].
macro_rules! dispatch_runtime {
    ($($variant:ident => $module:ident),* $(,)?) => {
        /// Runs the scenario's executor until the scenario ends.
        async fn run_executor(cfg: &ScenarioConfig, sc: &Arc<ScenarioRt>, ctx: &ExecCtx) {
            match &cfg.executor {
                $( ExecutorConfig::$variant(c) => Runtime::run(c, cfg, sc, ctx).await, )*
            }
        }
    };
}

volley_common::for_each_executor!(dispatch_runtime);

/// Runs one scenario to its end. `t0` is when the executors started (startTime counts from it).
pub async fn run_scenario(
    cfg: ScenarioConfig,
    sc: Arc<ScenarioRt>,
    ctx: Arc<ExecCtx>,
    t0: Instant,
) {
    if !sc.has_work {
        sc.finished.store(true, Ordering::Relaxed);
        return;
    }
    let start_at = t0 + cfg.start_time;
    tokio::select! {
        _ = tokio::time::sleep_until(start_at.into()) => {}
        _ = ctx.control.aborted() => {
            sc.finished.store(true, Ordering::Relaxed);
            return;
        }
    }
    let _ = sc.started_at.set((Instant::now(), SystemTime::now()));
    run_executor(&cfg, &sc, &ctx).await;
    sc.finished.store(true, Ordering::Relaxed);
}

/// Waits for `n` VUs to report done; after `graceful` (from when this is called), interrupts
/// the ones still running and waits for them too. Returns the VUs to the pool.
pub(crate) async fn drain(
    vus: impl IntoIterator<Item = VuHandle>,
    done_rx: &mut tokio::sync::mpsc::UnboundedReceiver<u64>,
    graceful: Duration,
    pool: &VuPool,
) {
    // By id, as in `iterations::run_iterations`: a finished VU is found in O(log n).
    let mut running: BTreeMap<u64, VuHandle> = vus.into_iter().map(|vu| (vu.id, vu)).collect();
    let deadline = tokio::time::Instant::now() + graceful;
    let mut interrupted = false;
    let control = pool.control();
    while !running.is_empty() {
        tokio::select! {
            _ = control.aborted(), if !interrupted => {
                // A stopped run interrupts iterations at once (k6 cancels the run context).
                interrupted = true;
                for v in running.values() {
                    v.interrupt();
                }
            }
            id = done_rx.recv() => {
                match id {
                    Some(id) => {
                        if let Some(vu) = running.remove(&id) {
                            pool.put(vu);
                        }
                    }
                    None => break,
                }
            }
            _ = tokio::time::sleep_until(deadline), if !interrupted => {
                interrupted = true;
                for v in running.values() {
                    v.interrupt();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The tuple of segment `seg` of the sequence `seq`.
    fn tuple(seg: &str, seq: &str) -> ExecutionTuple {
        ExecutionTuple::new(Some(&seg.parse().unwrap()), Some(&seq.parse().unwrap())).unwrap()
    }

    fn cfg(v: serde_json::Value) -> ScenarioConfig {
        ScenarioConfig::from_json("s", &v).unwrap()
    }

    #[test]
    fn a_segment_without_vus_or_iterations_skips_the_scenario() {
        let halves = ["0:1/2", "1/2:1"].map(|s| tuple(s, "0,1/2,1"));
        let cases = [
            // (scenario, has work in the first half, has work in the second half)
            (
                json!({"executor": "shared-iterations", "vus": 1, "iterations": 1}),
                true,
                false,
            ),
            (
                json!({"executor": "shared-iterations", "vus": 2, "iterations": 2}),
                true,
                true,
            ),
            (
                json!({"executor": "per-vu-iterations", "vus": 1, "iterations": 3}),
                true,
                false,
            ),
            (
                json!({"executor": "constant-vus", "vus": 1, "duration": "1s"}),
                true,
                false,
            ),
            (
                json!({"executor": "ramping-vus", "stages": [{"target": 1, "duration": "1s"}]}),
                true,
                false,
            ),
            (
                json!({"executor": "constant-arrival-rate", "rate": 10, "duration": "1s", "preAllocatedVUs": 1, "maxVUs": 1}),
                true,
                false,
            ),
            (
                json!({"executor": "ramping-arrival-rate", "stages": [{"target": 10, "duration": "1s"}], "preAllocatedVUs": 1, "maxVUs": 1}),
                true,
                false,
            ),
            (
                json!({"executor": "externally-controlled", "vus": 1, "maxVUs": 1, "duration": "1s"}),
                true,
                true,
            ),
        ];
        for (v, first, second) in cases {
            let c = cfg(v.clone());
            for (t, want) in halves.iter().zip([first, second]) {
                let rt = scenario_rt(&c, t).unwrap_or_else(|e| panic!("{v}: {e}"));
                assert_eq!(rt.has_work, want, "{v} in {t:?}");
                assert_eq!(has_work(&c, t), want, "{v} in {t:?}");
                if !want {
                    assert_eq!(initial_vus(&c, t), 0, "{v}: no VU is initialized");
                    assert_eq!(max_concurrent_vus(std::slice::from_ref(&c), t), 0);
                }
            }
        }
    }

    #[test]
    fn a_skipped_shared_iterations_scenario_plans_no_iteration() {
        let c = cfg(json!({"executor": "shared-iterations", "vus": 1, "iterations": 5}));
        let rt = scenario_rt(&c, &tuple("1/2:1", "0,1/2,1")).unwrap();
        assert_eq!(rt.planned_iterations, Some(0));
        let rt = scenario_rt(&c, &tuple("0:1/2", "0,1/2,1")).unwrap();
        assert_eq!(rt.planned_iterations, Some(5));
    }
}
