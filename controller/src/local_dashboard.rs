//! The web dashboard of one local run (`volley run --web-dashboard`, docs/dashboard.md#a-local-run):
//! a controller of its own inside the `volley run` process — its store in a temporary folder,
//! its REST API (with the dashboard) on the address asked for, no gRPC port and so no agents —
//! into which the run streams its results as `--out cloud` does. The page, its files and its
//! streams are therefore the cluster's own, and so is the HTML report
//! ([`crate::api::dashboard::report_html`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use thiserror::Error;

use crate::api::{ApiLimits, ControllerService};
use crate::auth::stream_keys::StreamKeys;
use crate::auth::Caller;
use crate::coordinator::{Coordinator, CoordinatorConfig, Limits};
use crate::registry::Registry;
use crate::rest_listener::ListenerLimits;
use crate::service::Service;
use crate::store::{Db, StoreOptions};

/// Far enough never to end a local run: the run itself decides when it ends, and a dashboard
/// must never stop it (the cluster's data timeout and duration limit do not apply).
const NEVER: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long stopping the dashboard may take.
const STOP_WITHIN: Duration = Duration::from_secs(2);

/// Why the dashboard could not start.
#[derive(Debug, Error)]
pub enum LocalDashboardError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot keep the run's data in {}: {detail}", .dir.display())]
    Store { dir: PathBuf, detail: String },
    #[error("cannot start the web dashboard's thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The folders of this process's dashboards, so that an exit that skips destructors still
/// removes them ([`remove_folders`]).
fn folders() -> &'static Mutex<Vec<PathBuf>> {
    static FOLDERS: OnceLock<Mutex<Vec<PathBuf>>> = OnceLock::new();
    FOLDERS.get_or_init(|| Mutex::new(Vec::new()))
}

/// The start of a dashboard folder's name; the rest is `{pid}-{nanos}`.
const FOLDER_PREFIX: &str = "volley-web-dashboard-";

/// Removes the folders of this process's dashboards now: what `volley run` calls before an
/// exit that drops nothing (`std::process::exit`, as on a second Ctrl+C or SIGTERM).
pub fn remove_folders() {
    let dirs = std::mem::take(&mut *folders().lock().unwrap_or_else(|e| e.into_inner()));
    for dir in dirs {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Removes the folders that dashboards of processes no longer running left in `tmp` (one
/// killed with SIGKILL cannot remove its own). Linux only: it asks `/proc` whether a process
/// runs; elsewhere nothing is removed.
fn remove_stale_folders(tmp: &std::path::Path) {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(FOLDER_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A running local dashboard; stopped (and its folder removed) when dropped.
pub struct LocalDashboard {
    addr: SocketAddr,
    svc: Arc<dyn ControllerService>,
    dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Told when the thread has stopped serving (a mutex only to make the dashboard `Sync`).
    stopped: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl LocalDashboard {
    /// Binds `addr` (port 0: any free port) and serves the dashboard there on a thread of its
    /// own.
    pub fn start(addr: SocketAddr) -> Result<LocalDashboard, LocalDashboardError> {
        let listen = |source| LocalDashboardError::Listen { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(listen)?;
        listener.set_nonblocking(true).map_err(listen)?;
        let bound = listener.local_addr().map_err(listen)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let tmp = std::env::temp_dir();
        remove_stale_folders(&tmp);
        let dir = tmp.join(format!("{FOLDER_PREFIX}{}-{nanos}", std::process::id()));
        folders()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(dir.clone());
        let store = |detail: String| LocalDashboardError::Store {
            dir: dir.clone(),
            detail,
        };
        let db = Arc::new(
            Db::open_with(&dir, StoreOptions::default()).map_err(|e| store(e.to_string()))?,
        );
        let stream_keys = StreamKeys::load_or_create(&dir).map_err(|e| store(e.to_string()))?;
        let config = CoordinatorConfig {
            data_timeout: NEVER,
            limits: Limits {
                max_duration: NEVER,
                max_groups: 100_000,
                max_series: 1_000_000,
                ..Limits::default()
            },
            ..CoordinatorConfig::default()
        };
        let co = Coordinator::new(db, Arc::new(Registry::new()), config);
        let svc: Arc<dyn ControllerService> = Arc::new(Service {
            co: co.clone(),
            stream_keys,
            forwarder: None,
            run_creates: Default::default(),
        });
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (stopped_tx, stopped) = std::sync::mpsc::channel::<()>();
        let served = svc.clone();
        std::thread::Builder::new()
            .name("volley-web-dashboard".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("the web dashboard could not start its runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    co.start();
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("the web dashboard cannot listen on {bound}: {e}");
                            return;
                        }
                    };
                    let shutdown = async move {
                        let _ = stop_rx.await;
                    };
                    if let Err(e) = crate::api::serve_with_shutdown(
                        listener,
                        served,
                        ApiLimits::default(),
                        ListenerLimits::default(),
                        None,
                        shutdown,
                    )
                    .await
                    {
                        tracing::error!("the web dashboard on {bound}: {e}");
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(500));
                let _ = stopped_tx.send(());
            })
            .map_err(LocalDashboardError::Thread)?;
        Ok(LocalDashboard {
            addr: bound,
            svc,
            dir,
            stop: Some(stop),
            stopped: std::sync::Mutex::new(stopped),
        })
    }

    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The HTML report of a run it holds (`None` if it holds no such run).
    pub fn report(&self, run_id: u64) -> Option<String> {
        crate::api::dashboard::report_html(&*self.svc, &Caller::open(), run_id)
    }

    /// Waits up to `timeout` for a run to have ended here with its summary (the run's stream
    /// has sent its end; the controller records it a moment later). False if it did not.
    pub fn wait_ended(&self, run_id: u64, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let ended = self
                .svc
                .get_run(run_id)
                .is_some_and(|r| r.run_status.is_terminal());
            if ended && self.svc.run_summary(run_id).is_some() {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many pages are open on it now (their live streams).
    pub fn open_pages(&self) -> usize {
        crate::api::dashboard::open_streams()
    }
}

impl Drop for LocalDashboard {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
            let stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
            let _ = stopped.recv_timeout(STOP_WITHIN);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        folders()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|d| *d != self.dir);
    }
}
