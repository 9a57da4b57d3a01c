//! `volley controller`: the store, the coordinator, the agents' gRPC endpoint and the REST API
//! in one process, until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use crate::coordinator::{Coordinator, CoordinatorConfig};
use crate::grpc::LinkService;
use crate::registry::Registry;
use crate::rest_listener::ListenerLimits;
use crate::service::Service;
use crate::store::Db;

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// REST API address.
    pub listen: SocketAddr,
    /// gRPC address agents dial.
    pub grpc: SocketAddr,
    pub data_dir: PathBuf,
    /// Join token agents must present (optional).
    pub token: Option<String>,
    pub coordinator: CoordinatorConfig,
    /// Connection cap and timeouts of the REST listener.
    pub rest_limits: ListenerLimits,
}

/// Why the controller could not start.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot create --data-dir {}: {source}", .dir.display())]
    DataDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the store in {}: {source}", .dir.display())]
    Store {
        dir: PathBuf,
        #[source]
        source: Box<crate::store::StoreError>,
    },
    #[error("cannot listen on --{flag} {addr}: {source}")]
    Listen {
        flag: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl ServerError {
    /// The exit code of `volley controller` when it cannot start. Not one of k6's run exit codes
    /// (no run exists): the conventional 1 of a daemon that failed to start.
    pub fn exit_code(&self) -> i32 {
        1
    }
}

/// Runs the controller until a signal. Prints one line per endpoint when ready (tests and
/// `volley cluster up` wait for them).
pub fn run_controller(cfg: ControllerConfig) -> Result<(), ServerError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("volley-controller")
        .build()
        .map_err(ServerError::Runtime)?;
    rt.block_on(async move {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|source| ServerError::DataDir {
            dir: cfg.data_dir.clone(),
            source,
        })?;
        let db = Arc::new(
            Db::open(&cfg.data_dir).map_err(|source| ServerError::Store {
                dir: cfg.data_dir.clone(),
                source: Box::new(source),
            })?,
        );
        let registry = Arc::new(Registry::new());
        let co = Coordinator::new(db, registry, cfg.coordinator.clone());
        co.start();
        let listen_err = |flag, addr| move |source| ServerError::Listen { flag, addr, source };
        let rest = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(listen_err("listen", cfg.listen))?;
        let grpc = tokio::net::TcpListener::bind(cfg.grpc)
            .await
            .map_err(listen_err("grpc", cfg.grpc))?;
        let rest_addr = rest
            .local_addr()
            .map_err(listen_err("listen", cfg.listen))?;
        let grpc_addr = grpc.local_addr().map_err(listen_err("grpc", cfg.grpc))?;
        let link = LinkService::server(co.clone(), cfg.token.clone());
        let grpc_task = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(grpc);
            if let Err(e) = tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .add_service(link)
                .serve_with_incoming(incoming)
                .await
            {
                tracing::error!("gRPC server: {e}");
            }
        });
        let svc: Arc<dyn crate::api::ControllerService> = Arc::new(Service { co: co.clone() });
        let limits = cfg.rest_limits;
        let rest_task = tokio::spawn(async move {
            let forever = std::future::pending::<()>();
            if let Err(e) = crate::api::serve_with_shutdown(rest, svc, limits, forever).await {
                tracing::error!("REST API: {e}");
            }
        });
        println!("volley controller REST API on http://{rest_addr}");
        println!("volley controller gRPC for agents on http://{grpc_addr}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        wait_for_signal().await;
        grpc_task.abort();
        rest_task.abort();
        Ok(())
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut i), Ok(mut t)) => {
            tokio::select! {
                _ = i.recv() => {}
                _ = t.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}
