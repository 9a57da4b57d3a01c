//! A scenario at run time as its executor and its VUs share it, and the jobs an executor hands
//! to VUs (where each VU's next iteration comes from). Executors (`crate::executor`) make
//! them; VUs (`crate::vu`) run them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use volley_common::options::ScenarioConfig;
use volley_common::segment::ExecutionTuple;

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
