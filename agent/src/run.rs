//! State shared by everything taking part in one run: VUs on every worker, executors and the
//! engine. Counters are atomics; the abort reason is set once (the first reason wins).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use volley_common::exit::AbortReason;

use crate::http::HttpShared;
use crate::metrics::{MetricsStore, Registry};
use crate::program::Program;

/// Per-run settings that VUs read.
#[derive(Clone, Debug, Default)]
pub struct VuSettings {
    /// `__ENV` (process env is not exposed; only `-e`/`--env` and the scenario's `env`). Shared
    /// by every VU of the run rather than copied into each (a map's first node alone is
    /// ~0.5 KiB: docs/benchmarks.md, "Memory per VU").
    pub env: Arc<BTreeMap<String, String>>,
    /// `options.tags`: added to every sample.
    pub global_tags: BTreeMap<String, String>,
    pub discard_response_bodies: bool,
    pub no_vu_connection_reuse: bool,
    pub no_cookies_reset: bool,
    pub throw: bool,
    pub min_iteration_duration: Option<std::time::Duration>,
    /// The consolidated options as k6-shaped JSON (`exec.test.options`).
    pub options_json: serde_json::Value,
    /// The memory limit of each worker's QuickJS runtime (None: no limit).
    pub js_heap: Option<crate::capacity::JsHeapBudget>,
    /// `--secret-source`s, read by `k6/secrets` (none on agents: docs/security.md#secrets).
    pub secrets: Arc<crate::secrets::SecretSources>,
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
    /// VUs initialized for the test (vus_max; VU 0 not counted).
    pub vus_max: AtomicU64,
    /// k6's execution status number (see `api::status`), for the REST API.
    phase: AtomicU32,
    /// Where the run is in its lifecycle, finer than `phase` (see [`Stage`]).
    stage: AtomicU32,
    /// `--paused` / `PATCH /v1/status {"paused": ...}`.
    paused: tokio::sync::watch::Sender<bool>,
    /// Set once setup() completed (or there is none): teardown runs iff this is set.
    pub setup_completed: AtomicBool,
    /// Ends `--linger` (Ctrl+C or an API stop while lingering).
    linger_end: tokio::sync::Notify,
    linger_ended: AtomicBool,
    /// The externally-controlled executor's live VU target, when one runs.
    external: Mutex<Option<ExternalVus>>,
}

/// The live VU control of an externally-controlled scenario.
#[derive(Clone)]
pub struct ExternalVus {
    pub vus: tokio::sync::watch::Sender<u64>,
    pub max_vus: u64,
}

/// Lifecycle stages, in order. Signals and the API act differently in each (docs/exit-codes.md#every-stop-method-in-every-phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Stage {
    Init = 0,
    VuInit = 1,
    Paused = 2,
    Setup = 3,
    Running = 4,
    Teardown = 5,
    Finishing = 6,
    HandleSummary = 7,
    Linger = 8,
    Done = 9,
}

impl Stage {
    fn from_u32(v: u32) -> Stage {
        match v {
            0 => Stage::Init,
            1 => Stage::VuInit,
            2 => Stage::Paused,
            3 => Stage::Setup,
            4 => Stage::Running,
            5 => Stage::Teardown,
            6 => Stage::Finishing,
            7 => Stage::HandleSummary,
            8 => Stage::Linger,
            _ => Stage::Done,
        }
    }
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
            vus_max: AtomicU64::new(0),
            phase: AtomicU32::new(0),
            stage: AtomicU32::new(0),
            paused: tokio::sync::watch::channel(false).0,
            setup_completed: AtomicBool::new(false),
            linger_end: tokio::sync::Notify::new(),
            linger_ended: AtomicBool::new(false),
            external: Mutex::new(None),
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

    /// Moves the run to a lifecycle stage and sets k6's execution status shown by the API.
    pub fn set_stage(&self, stage: Stage, k6_status: u32) {
        self.stage.store(stage as u32, Ordering::SeqCst);
        self.phase.store(k6_status, Ordering::SeqCst);
    }

    pub fn stage(&self) -> Stage {
        Stage::from_u32(self.stage.load(Ordering::SeqCst))
    }

    /// k6's execution status number.
    pub fn k6_status(&self) -> u32 {
        self.phase.load(Ordering::SeqCst)
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.send_replace(paused);
    }

    pub fn is_paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// Waits until the run is not paused (or is aborted).
    pub async fn wait_unpaused(&self) {
        let mut rx = self.paused.subscribe();
        loop {
            if !*rx.borrow_and_update() || self.is_aborted() {
                return;
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = self.aborted() => return,
            }
        }
    }

    /// Ends `--linger`.
    pub fn end_linger(&self) {
        self.linger_ended.store(true, Ordering::SeqCst);
        self.linger_end.notify_waiters();
    }

    pub fn linger_is_over(&self) -> bool {
        self.linger_ended.load(Ordering::SeqCst)
    }

    /// Waits for the end of `--linger`.
    pub async fn lingered(&self) {
        loop {
            let n = self.linger_end.notified();
            if self.linger_ended.load(Ordering::SeqCst) {
                return;
            }
            n.await;
        }
    }

    pub fn set_external(&self, ext: Option<ExternalVus>) {
        *self.external.lock().unwrap_or_else(|e| e.into_inner()) = ext;
    }

    pub fn external(&self) -> Option<ExternalVus> {
        self.external
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
