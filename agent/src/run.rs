//! State shared by everything taking part in one run: VUs on every worker, executors and the
//! engine. Counters are atomics; the abort reason is set once (the first reason wins).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use volley_common::exit::AbortReason;

use crate::http::HttpShared;
use crate::js::Program;
use crate::metrics::{MetricsStore, Registry};

/// Per-run settings that VUs read.
#[derive(Clone, Debug, Default)]
pub struct VuSettings {
    /// `__ENV` (process env is not exposed; only `-e`/`--env` and the scenario's `env`).
    pub env: BTreeMap<String, String>,
    /// `options.tags`: added to every sample.
    pub global_tags: BTreeMap<String, String>,
    pub discard_response_bodies: bool,
    pub no_vu_connection_reuse: bool,
    pub no_cookies_reset: bool,
    pub throw: bool,
    pub min_iteration_duration: Option<std::time::Duration>,
    /// The consolidated options as k6-shaped JSON (`exec.test.options`).
    pub options_json: serde_json::Value,
    /// Whether `--out json` (or another raw output) wants every sample.
    pub keep_raw_samples: bool,
}

/// What test control reports to the engine.
pub struct RunControl {
    abort: Mutex<Option<AbortReason>>,
    aborted: AtomicBool,
    notify: tokio::sync::Notify,
    failed: Mutex<Option<String>>,
    pub started: Instant,
    pub complete_iterations: AtomicU64,
    pub interrupted_iterations: AtomicU64,
    pub active_vus: AtomicI64,
    pub initialized_vus: AtomicU64,
}

impl Default for RunControl {
    fn default() -> Self {
        RunControl {
            abort: Mutex::new(None),
            aborted: AtomicBool::new(false),
            notify: tokio::sync::Notify::new(),
            failed: Mutex::new(None),
            started: Instant::now(),
            complete_iterations: AtomicU64::new(0),
            interrupted_iterations: AtomicU64::new(0),
            active_vus: AtomicI64::new(0),
            initialized_vus: AtomicU64::new(0),
        }
    }
}

impl RunControl {
    /// Records an abort reason. Returns true if it was the first (the one that counts); later
    /// reasons are only logged.
    pub fn abort(&self, reason: AbortReason) -> bool {
        let mut a = self.abort.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(first) = a.as_ref() {
            tracing::debug!(
                ?reason,
                ?first,
                "run already aborted; keeping the first reason"
            );
            return false;
        }
        *a = Some(reason);
        self.aborted.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
        true
    }

    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }

    pub fn abort_reason(&self) -> Option<AbortReason> {
        self.abort.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Resolves when the run is aborted (at once if it already is).
    pub async fn aborted(&self) {
        loop {
            let n = self.notify.notified();
            if self.is_aborted() {
                return;
            }
            n.await;
        }
    }

    /// `exec.test.fail()`: the run goes on but ends with 110.
    pub fn mark_failed(&self, message: Option<String>) {
        let mut f = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            *f = Some(message.unwrap_or_default());
        }
    }

    pub fn failed(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Everything a VU needs from its run. One per run, shared by `Arc`.
pub struct RunShared {
    pub program: Arc<Program>,
    pub registry: Arc<Registry>,
    pub store: Arc<MetricsStore>,
    pub settings: VuSettings,
    pub http: Arc<HttpShared>,
    pub io: tokio::runtime::Handle,
    pub control: Arc<RunControl>,
    /// `SharedArray` contents by name: JSON text per element, built once.
    pub shared_arrays: Arc<Mutex<HashMap<String, Arc<Vec<String>>>>>,
    /// `setup()`'s result as JSON, once setup has run.
    pub setup_data: RwLock<Option<String>>,
    /// Raw-sample outputs (`--out json`), for samples the engine itself emits.
    pub raw_out: Option<Arc<dyn crate::metrics::SampleSink>>,
}

impl RunShared {
    /// Records a sample produced outside the VUs (vus, vus_max, dropped_iterations): into the
    /// store, and to the raw outputs.
    pub fn emit_engine_sample(
        &self,
        metric: crate::metrics::MetricId,
        tags: &volley_common::metrics::TagSet,
        value: f64,
    ) {
        self.store.add(&self.registry, metric, tags, value);
        if let Some(out) = &self.raw_out {
            out.write(vec![crate::metrics::SampleRecord {
                metric,
                time: std::time::SystemTime::now(),
                value,
                tags: tags.clone(),
            }]);
        }
    }
}
