//! `--out cloud=http://controller:6565`: streams a local run's results to a Volley controller
//! (k6's `-o cloud`). The run shows there as RUNNING while it goes, with the same
//! merged metrics, thresholds and summary views as a cluster run.
//!
//! Every interval the run's aggregates since the last batch are posted as one protobuf
//! `MetricBatch` with a sequence number; batches are kept until the controller says they are
//! durable (it merges each sequence number once, so resending is safe). When the controller
//! cannot be reached the run goes on locally, warning once per outage and keeping its batches
//! (bounded); the controller, hearing nothing for `data_timeout`, marks the run TIMED_OUT. A stop
//! decided on the controller (API stop, a limit) stops the local run. At the end, the rest is
//! shipped and the run finished there: a local Ctrl+C shows as FINISHED on the controller, while
//! the local exit code follows the usual contract.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use volley_api::client::Client;
use volley_api::{StreamFinish, StreamStatus, StreamedRunRequest};
use volley_common::exit::{code, AbortReason};
use volley_common::status::RunStatus;
use volley_proto::{self as pb, Message as _};

use super::{MetricsStream, StreamStart};
use crate::console;
use crate::metrics::batch;
use crate::metrics::{MetricsStore, Registry};
use crate::run::RunControl;

/// How often batches are shipped.
const INTERVAL: Duration = Duration::from_secs(1);
/// One request's connect/read/write timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the end of the run may wait for the controller.
const FINISH_WITHIN: Duration = Duration::from_secs(10);
/// Batches kept while the controller cannot be reached (bytes); beyond, the oldest go.
const MAX_KEPT_BYTES: usize = 256 * 1024 * 1024;
/// The largest script sent along (the controller keeps it with the test, for display).
const MAX_SCRIPT_BYTES: u64 = 16 * 1024 * 1024;

/// Parses `cloud=URL` (`URL` = the controller's REST API, `http://host:port`).
pub fn parse(spec: &str) -> Option<Result<CloudStream, String>> {
    let url = spec.strip_prefix("cloud")?;
    let url = match url.strip_prefix('=') {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => match std::env::var("VOLLEY_CONTROLLER") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                return Some(Err(
                    "--out cloud needs the controller's URL: --out cloud=http://HOST:6565 (or set VOLLEY_CONTROLLER)".into(),
                ))
            }
        },
    };
    // The API token, as `volley submit` takes it (k6's own variable for `-o cloud` too).
    let token = ["VOLLEY_TOKEN", "K6_CLOUD_TOKEN"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|t| !t.is_empty()));
    Some(
        Client::new(&url)
            .and_then(|c| c.with_timeout(REQUEST_TIMEOUT))
            .map(|c| c.with_token(token))
            .map(CloudStream::new)
            .map_err(|e| format!("invalid --out cloud: {e}")),
    )
}

/// The `--out cloud` stream of one run.
pub struct CloudStream {
    client: Client,
    inner: Mutex<Option<Arc<Shipper>>>,
    /// The run's id on the controller, once created (0 before).
    run_id: AtomicU64,
    /// Say where the results go when the run is created (not for a dashboard's own controller).
    announce: bool,
}

impl CloudStream {
    pub fn new(client: Client) -> CloudStream {
        CloudStream {
            client,
            inner: Mutex::new(None),
            run_id: AtomicU64::new(0),
            announce: true,
        }
    }

    /// The stream into `volley run --web-dashboard`'s own controller at `url`: it says nothing
    /// when the run is created (the banner shows the dashboard's address instead).
    pub fn to_dashboard(url: &str) -> Result<CloudStream, String> {
        let client = Client::new(url)
            .and_then(|c| c.with_timeout(REQUEST_TIMEOUT))
            .map_err(|e| format!("the web dashboard at {url}: {e}"))?;
        Ok(CloudStream {
            announce: false,
            ..CloudStream::new(client)
        })
    }

    /// The run's id on the controller, once it was created.
    pub fn run_id(&self) -> Option<u64> {
        Some(self.run_id.load(Ordering::SeqCst)).filter(|id| *id > 0)
    }
}

/// Ships batches of one run (a thread every interval, and the end).
struct Shipper {
    client: Client,
    run_id: u64,
    store: Arc<MetricsStore>,
    registry: Arc<Registry>,
    control: Arc<RunControl>,
    seq: AtomicU64,
    /// Batches not yet durable on the controller, by sequence number (encoded).
    kept: Mutex<BTreeMap<u64, Vec<u8>>>,
    /// Set by the controller's answers.
    acked: AtomicU64,
    /// The controller could not be reached the last time (to warn once per outage).
    unreachable: AtomicBool,
    /// The controller stopped the run or ended it (warned once).
    told: AtomicBool,
    /// The run has ended on the controller: nothing more to send.
    ended_there: AtomicBool,
    stopping: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Say how the run ended there (see [`CloudStream::to_dashboard`]).
    announce: bool,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

impl MetricsStream for CloudStream {
    fn start(&self, s: StreamStart) -> Result<(), (i32, String)> {
        let script = read_script(&s.script).map_err(|e| (code::INVALID_CONFIG, e))?;
        let entry = s
            .script
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("script.js")
            .to_string();
        let body = StreamedRunRequest {
            name: entry.clone(),
            entry,
            script,
            options: s.options,
            source: hostname(),
        };
        let client = self.client.clone();
        let created =
            off_runtime(move || client.create_streamed_run(&body)).map_err(|e| {
                match e.status() {
                    Some(status) if (400..500).contains(&status) => (
                        code::INVALID_CONFIG,
                        format!("--out cloud: the controller refused the run: {e}"),
                    ),
                    _ => (
                        code::SYSTEM,
                        format!("--out cloud: could not create the run on the controller: {e}"),
                    ),
                }
            })?;
        let run_id = created.id;
        self.run_id.store(run_id, Ordering::SeqCst);
        if self.announce {
            console::log(
                "info",
                &format!(
                    "streaming results to the controller: run {run_id} ({}/loadtests/v2/runs/{run_id})",
                    self.client.base_url()
                ),
                &[],
            );
        }
        let shipper = Arc::new(Shipper {
            // Batches and the finish prove the run's own secret.
            client: self
                .client
                .clone()
                .with_stream_secret(created.secret.clone()),
            run_id,
            store: s.store,
            registry: s.registry,
            control: s.control,
            seq: AtomicU64::new(0),
            kept: Mutex::new(BTreeMap::new()),
            acked: AtomicU64::new(0),
            unreachable: AtomicBool::new(false),
            told: AtomicBool::new(false),
            ended_there: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            thread: Mutex::new(None),
            announce: self.announce,
        });
        let worker = shipper.clone();
        let handle = std::thread::Builder::new()
            .name("volley-cloud-out".into())
            .spawn(move || {
                while !worker.stopping.load(Ordering::SeqCst) {
                    let next = Instant::now() + INTERVAL;
                    worker.ship_delta();
                    worker.deliver();
                    while Instant::now() < next && !worker.stopping.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            })
            .map_err(|e| (code::SYSTEM, format!("--out cloud: {e}")))?;
        *shipper.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Some(shipper);
        Ok(())
    }

    fn finish(&self, control: &RunControl) {
        let Some(shipper) = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let fin = StreamFinish {
            last_batch_seq: 0,
            abort_reason: control.abort_reason(),
            marked_failed: control.failed(),
            iterations: control.complete_iterations.load(Ordering::Relaxed),
        };
        off_runtime(|| shipper.finish(fin));
    }
}

/// Runs blocking controller calls on a thread of their own: the engine calls a stream's
/// `start` and `finish` from an async task, where the blocking client must not run.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

fn read_script(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_SCRIPT_BYTES {
        return Err(format!(
            "--out cloud: {} is larger than {} MiB",
            path.display(),
            MAX_SCRIPT_BYTES >> 20
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

impl Shipper {
    /// Ships the rest and ends the run on the controller (within [`FINISH_WITHIN`]).
    fn finish(&self, mut fin: StreamFinish) {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
        self.ship_delta();
        fin.last_batch_seq = self.seq.load(Ordering::SeqCst);
        let deadline = Instant::now() + FINISH_WITHIN;
        let mut last_err;
        loop {
            if self.ended_there.load(Ordering::SeqCst) {
                self.report_end();
                return;
            }
            if self.deliver() {
                match self.client.finish_streamed_run(self.run_id, &fin) {
                    Ok(_) => {
                        self.report_end();
                        return;
                    }
                    Err(e) => last_err = e.to_string(),
                }
            } else {
                last_err = "the controller cannot be reached".into();
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        console::log(
            "warning",
            &format!(
                "--out cloud: could not end run {} on the controller within {} s ({last_err}); it will show as TIMED_OUT there, with the data that arrived",
                self.run_id,
                FINISH_WITHIN.as_secs()
            ),
            &[],
        );
    }

    /// Takes the interval's delta as the next batch (an empty batch too: it tells the
    /// controller the run is alive).
    fn ship_delta(&self) {
        let series = batch::take_series(&self.store, &self.registry);
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        let now = unix_ms();
        let b = pb::MetricBatch {
            run_id: self.run_id,
            seq,
            start_unix_ms: now.saturating_sub(INTERVAL.as_millis() as u64),
            end_unix_ms: now,
            series: series.into(),
        };
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.insert(seq, b.encode_to_vec());
        let mut total: usize = kept.values().map(Vec::len).sum();
        while total > MAX_KEPT_BYTES {
            let Some((old, bytes)) = kept.pop_first() else {
                break;
            };
            total -= bytes.len();
            console::log(
                "warning",
                &format!("--out cloud: dropping metric batch {old}: too much kept while the controller is unreachable"),
                &[],
            );
        }
    }

    /// Sends every batch not yet durable, oldest first; stops at the first failure. True when
    /// all went.
    fn deliver(&self) -> bool {
        if self.ended_there.load(Ordering::SeqCst) {
            self.kept.lock().unwrap_or_else(|e| e.into_inner()).clear();
            return true;
        }
        let pending: Vec<(u64, Vec<u8>)> = self
            .kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for (_, bytes) in pending {
            match self.client.stream_batch(self.run_id, bytes) {
                Ok(st) => {
                    if self.unreachable.swap(false, Ordering::SeqCst) {
                        console::log(
                            "info",
                            "--out cloud: the controller is reachable again; sending the kept results",
                            &[],
                        );
                    }
                    self.on_status(&st);
                }
                Err(e) => {
                    if !self.unreachable.swap(true, Ordering::SeqCst) {
                        console::log(
                            "warning",
                            &format!("--out cloud: {e}; the run goes on and its results are kept to send later"),
                            &[],
                        );
                    }
                    return false;
                }
            }
        }
        true
    }

    /// The controller's answer: forget durable batches; obey a stop decided there.
    fn on_status(&self, st: &StreamStatus) {
        self.acked.fetch_max(st.acked_seq, Ordering::SeqCst);
        let acked = self.acked.load(Ordering::SeqCst);
        {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            let rest = kept.split_off(&(acked + 1));
            *kept = rest;
        }
        if st.run_status.is_terminal() {
            self.ended_there.store(true, Ordering::SeqCst);
            self.kept.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        let Some(reason) = &st.stop else {
            return;
        };
        if self.told.swap(true, Ordering::SeqCst) {
            return;
        }
        if matches!(reason, AbortReason::TimedOut { .. }) {
            // The controller gave up on the run (no data for data_timeout); the local run and
            // its own results are intact, so it goes on.
            console::log(
                "warning",
                &format!(
                    "--out cloud: the controller ended run {} as TIMED_OUT ({}); the local run goes on, its results there are incomplete",
                    self.run_id,
                    reason.message()
                ),
                &[],
            );
            return;
        }
        console::log(
            "warning",
            &format!(
                "--out cloud: the controller stopped run {}: {}",
                self.run_id,
                reason.message()
            ),
            &[],
        );
        self.control.abort(reason.clone());
    }

    /// Says how the run ended on the controller (waiting briefly for its final status).
    fn report_end(&self) {
        if !self.announce {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut status = None;
        loop {
            if let Ok(run) = self.client.run(self.run_id) {
                status = Some(run.run_status).filter(|s| s.is_terminal());
            }
            if status.is_some() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let name = status.map_or("ending", RunStatus::name);
        console::log(
            "info",
            &format!(
                "--out cloud: run {} on the controller: {name} ({}/loadtests/v2/runs/{})",
                self.run_id,
                self.client.base_url(),
                self.run_id
            ),
            &[],
        );
    }
}
