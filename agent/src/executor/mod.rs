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

pub use pool::{VuFactory, VuHandle, VuPool};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use volley_common::options::{ExecutorConfig, ScenarioConfig};
use volley_common::segment::ExecutionTuple;

use crate::run::RunControl;

/// What a scenario looks like at run time, shared by its executor and its VUs.
pub struct ScenarioRt {
    pub name: String,
    pub executor: &'static str,
    pub exec: String,
    pub env: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Striping of this instance's iterations into global iteration numbers.
    pub tuple: ExecutionTuple,
    /// No new iterations once set (the executor's time is up, or the run stops).
    pub stop: AtomicBool,
    /// Local iteration counter (`exec.scenario.iterationInInstance`) for executors that do not
    /// number iterations themselves.
    pub local_iter: AtomicU64,
    /// When the scenario started (wall clock), for `exec.scenario.startTime`.
    pub started_at: std::sync::OnceLock<(Instant, SystemTime)>,
    /// Planned length (without gracefulStop), for progress.
    pub planned: Duration,
    /// Iterations planned for iteration-based executors (progress by count).
    pub planned_iterations: Option<u64>,
    pub done_iterations: AtomicU64,
    /// Set when the scenario has finished (for the progress display).
    pub finished: AtomicBool,
    /// VUs currently running for this scenario (for the progress display).
    pub active_vus: AtomicU64,
    pub description: String,
    /// False when this instance's execution segment gets nothing of the scenario (k6's
    /// `HasWork`): the scenario is skipped here, as k6 skips it, and needs no VUs.
    pub has_work: bool,
}

impl ScenarioRt {
    pub fn new(
        cfg: &ScenarioConfig,
        tuple: ExecutionTuple,
        planned_iterations: Option<u64>,
    ) -> Self {
        ScenarioRt {
            name: cfg.name.clone(),
            executor: cfg.executor.name(),
            exec: cfg.exec.clone(),
            env: cfg.env.clone(),
            tags: cfg.tags.clone(),
            tuple,
            stop: AtomicBool::new(false),
            local_iter: AtomicU64::new(0),
            started_at: std::sync::OnceLock::new(),
            planned: cfg.max_duration(),
            planned_iterations,
            done_iterations: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            active_vus: AtomicU64::new(0),
            description: cfg.description(),
            has_work: true,
        }
    }

    /// `exec.scenario.iterationInTest` for the k-th iteration of this instance.
    pub fn iteration_in_test(&self, k: u64) -> u64 {
        self.tuple.global_index(k)
    }

    pub fn start_unix_ms(&self) -> f64 {
        self.started_at
            .get()
            .and_then(|(_, w)| w.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    }

    pub fn elapsed(&self) -> Duration {
        self.started_at
            .get()
            .map(|(i, _)| i.elapsed())
            .unwrap_or_default()
    }

    /// Progress from 0 to 1, as k6 shows it.
    pub fn progress(&self) -> f64 {
        if self.finished.load(Ordering::Relaxed) {
            return 1.0;
        }
        if self.started_at.get().is_none() {
            return 0.0;
        }
        let by_time = if self.planned.is_zero() {
            1.0
        } else {
            (self.elapsed().as_secs_f64() / self.planned.as_secs_f64()).min(1.0)
        };
        match self.planned_iterations {
            Some(total) if total > 0 => {
                let by_count = self.done_iterations.load(Ordering::Relaxed) as f64 / total as f64;
                by_count.max(by_time.min(by_count.max(0.0))).min(1.0)
            }
            _ => by_time,
        }
    }
}

/// Where a VU's next iteration comes from.
pub enum IterationSource {
    /// shared-iterations: a counter shared by the scenario's VUs, up to `total`.
    Shared { next: Arc<AtomicU64>, total: u64 },
    /// per-vu-iterations: each VU runs `count` iterations.
    PerVu { count: u64 },
    /// constant-vus: loop until the scenario stops.
    Loop,
    /// ramping-vus: loop while this VU is active in the ramp.
    Active(Arc<AtomicBool>),
    /// arrival-rate executors: exactly one iteration with this local number.
    Once(u64),
}

/// A unit of work for a VU: iterations of one scenario.
pub struct Job {
    pub scenario: Arc<ScenarioRt>,
    pub source: IterationSource,
}

impl Job {
    /// The local iteration number of the next iteration, or None when the VU should stop.
    /// `done_by_this_vu` counts the iterations this VU already ran in this job.
    pub fn next_iteration(&self, done_by_this_vu: u64) -> Option<u64> {
        let sc = &self.scenario;
        // An arrival-rate event was due before the scenario's end when it was handed out: it
        // runs even if the scenario stopped while the VU was picking it up (otherwise the event
        // due at the very end is lost to a race).
        if let IterationSource::Once(k) = &self.source {
            return (done_by_this_vu == 0).then_some(*k);
        }
        if sc.stop.load(Ordering::Relaxed) {
            return None;
        }
        let k = match &self.source {
            IterationSource::Shared { next, total } => {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= *total {
                    return None;
                }
                k
            }
            IterationSource::PerVu { count } => {
                if done_by_this_vu >= *count {
                    return None;
                }
                sc.local_iter.fetch_add(1, Ordering::Relaxed)
            }
            IterationSource::Loop => sc.local_iter.fetch_add(1, Ordering::Relaxed),
            IterationSource::Active(active) => {
                if !active.load(Ordering::Relaxed) {
                    return None;
                }
                sc.local_iter.fetch_add(1, Ordering::Relaxed)
            }
            IterationSource::Once(k) => *k,
        };
        Some(k)
    }
}

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
    let spans: Vec<(Duration, Duration, u64)> = scenarios
        .iter()
        .map(|s| {
            let start = s.start_time;
            let end = start + s.max_duration() + s.graceful_stop;
            (start, end, initial_vus(s, tuple))
        })
        .collect();
    let mut best = 0;
    for (start, _, _) in &spans {
        let at = *start;
        let sum: u64 = spans
            .iter()
            .filter(|(s, e, _)| *s <= at && at < *e)
            .map(|(_, _, n)| n)
            .sum();
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
    vus: Vec<VuHandle>,
    done_rx: &mut tokio::sync::mpsc::UnboundedReceiver<u64>,
    graceful: Duration,
    pool: &VuPool,
) {
    let mut running: Vec<VuHandle> = vus;
    let deadline = tokio::time::Instant::now() + graceful;
    let mut interrupted = false;
    let control = pool.control();
    while !running.is_empty() {
        tokio::select! {
            _ = control.aborted(), if !interrupted => {
                // A stopped run interrupts iterations at once (k6 cancels the run context).
                interrupted = true;
                for v in &running {
                    v.interrupt();
                }
            }
            id = done_rx.recv() => {
                match id {
                    Some(id) => {
                        if let Some(i) = running.iter().position(|v| v.id == id) {
                            pool.put(running.swap_remove(i));
                        }
                    }
                    None => break,
                }
            }
            _ = tokio::time::sleep_until(deadline), if !interrupted => {
                interrupted = true;
                for v in &running {
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
