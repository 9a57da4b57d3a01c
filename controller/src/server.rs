//! `volley controller`: the store, the coordinator, the agents' gRPC endpoint and the REST API
//! in one process, until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

use crate::api::ApiLimits;
use crate::coordinator::{Coordinator, CoordinatorConfig};
use crate::grpc::LinkService;
use crate::grpc_listener::GrpcLimits;
use crate::registry::Registry;
use crate::rest_listener::ListenerLimits;
use crate::service::Service;
use crate::store::{Db, StoreOptions};

#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// REST API address.
    pub listen: SocketAddr,
    /// gRPC address agents dial.
    pub grpc: SocketAddr,
    pub data_dir: PathBuf,
    /// Join token agents must present (optional).
    pub token: Option<String>,
    /// The bootstrap admin API token (`VOLLEY_ADMIN_TOKEN` / `--admin-token-file`), stored
    /// (hashed) on first start; see [`crate::auth::tokens::bootstrap`].
    pub admin_token: Option<String>,
    /// Serve the REST API and gRPC on non-loopback addresses without TLS or authentication.
    pub insecure: bool,
    /// TLS of the REST API (`--tls-cert`, `--tls-key`, `--client-ca`).
    pub rest_tls: Option<crate::tls::TlsFiles>,
    /// TLS of the gRPC port (`--grpc-tls-cert`/`--grpc-tls-key`, else the REST pair).
    pub grpc_tls: Option<crate::tls::TlsFiles>,
    pub coordinator: CoordinatorConfig,
    /// Connection cap and timeouts of the REST listener.
    pub rest_limits: ListenerLimits,
    /// Connection cap, handshake timeout and per-connection limits of the gRPC listener.
    pub grpc_limits: GrpcLimits,
    /// Body sizes and concurrent uploads of the REST API.
    pub api_limits: ApiLimits,
    /// Storage limits and tuning of the store.
    pub store: StoreOptions,
    /// This controller's Raft group (`--node-id`, `--raft`, `--peer`); `None`: it runs alone,
    /// without Raft, as it always did (docs/ha.md).
    pub raft: Option<crate::group::RaftConfig>,
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
    #[error(
        "refusing to serve {what} on {addr} without {needs}: anyone who can reach it could {risk}. \
         Configure {fix}, bind --{flag} to 127.0.0.1, or pass --insecure to accept that"
    )]
    Insecure {
        flag: &'static str,
        addr: SocketAddr,
        what: &'static str,
        needs: &'static str,
        risk: &'static str,
        fix: &'static str,
    },
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("cannot set up authentication in {}: {detail}", .dir.display())]
    Auth { dir: PathBuf, detail: String },
    #[error(transparent)]
    Group(#[from] crate::group::GroupError),
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
            Db::open_with(&cfg.data_dir, cfg.store.clone()).map_err(|source| {
                ServerError::Store {
                    dir: cfg.data_dir.clone(),
                    source: Box::new(source),
                }
            })?,
        );
        let stream_keys = crate::auth::stream_keys::StreamKeys::load_or_create(&cfg.data_dir)
            .map_err(|e| ServerError::Auth {
                dir: cfg.data_dir.clone(),
                detail: e.to_string(),
            })?;
        if cfg.raft.is_none() {
            crate::group::check_single(&cfg.data_dir)?;
        }
        let auth_on = setup_auth(&db, &cfg)?;
        let load = |files: &Option<crate::tls::TlsFiles>, port| {
            files
                .clone()
                .map(|f| crate::tls::ServerTls::load(f, port))
                .transpose()
        };
        let rest_tls = load(&cfg.rest_tls, crate::tls::Port::Rest)?;
        let grpc_tls = load(&cfg.grpc_tls, crate::tls::Port::Grpc)?;
        for tls in rest_tls.iter().chain(grpc_tls.iter()) {
            tls.watch(crate::tls::RELOAD_EVERY);
        }
        let mtls = grpc_tls.as_ref().is_some_and(|t| t.requires_client_cert());
        tokio::spawn(maintain_store(db.clone()));
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
        let grpc_scheme = if grpc_tls.is_some() { "https" } else { "http" };
        let rest_scheme = if rest_tls.is_some() { "https" } else { "http" };
        // With --peer, every command goes through the Raft group from here on.
        let driver = match &cfg.raft {
            Some(raft) => {
                let api = format!("{rest_scheme}://{rest_addr}");
                Some(crate::group::join(&db, raft, &cfg.data_dir, api).await?)
            }
            None => None,
        };
        // Runs' requests never reach the controller's own endpoints (crate::targets).
        let mut coordinator = cfg.coordinator.clone();
        let mut own = vec![
            (rest_addr, "the controller's REST API"),
            (grpc_addr, "the controller's gRPC endpoint for agents"),
        ];
        if let Some(raft) = &cfg.raft {
            own.push((raft.listen, "the controller's Raft port"));
        }
        crate::targets::deny_own_endpoints(&mut coordinator.targets, &own);
        coordinator.controller_ports = own.iter().map(|(a, _)| a.port()).collect();
        let registry = Arc::new(Registry::new());
        let co = Coordinator::new(db, registry, coordinator);
        // Alone, this controller drives runs at once; in a group, only while it leads.
        let deposed = match driver {
            None => {
                co.start();
                None
            }
            Some(_) => Some(tokio::spawn(crate::group::lead(
                co.clone(),
                cfg.admin_token.clone(),
            ))),
        };
        let link = LinkService::server(co.clone(), cfg.token.clone(), mtls);
        let grpc_limits = cfg.grpc_limits;
        let grpc_task = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::ReceiverStream::new(
                crate::grpc_listener::incoming(grpc, grpc_limits, grpc_tls),
            );
            if let Err(e) = grpc_limits
                .builder()
                .add_service(link)
                .serve_with_incoming(incoming)
                .await
            {
                tracing::error!("gRPC server: {e}");
            }
        });
        let forwarder = match &cfg.raft {
            Some(raft) if raft.follower_writes == crate::group::FollowerWrites::Forward => {
                let forwarder = crate::api::Forwarder::new(raft.tls.as_ref())?;
                forwarder.watch(crate::tls::RELOAD_EVERY);
                Some(Arc::new(forwarder))
            }
            _ => None,
        };
        let svc: Arc<dyn crate::api::ControllerService> = Arc::new(Service {
            co: co.clone(),
            stream_keys,
            forwarder,
            run_creates: Default::default(),
        });
        if !auth_on {
            tracing::warn!(
                "the REST API has no tokens, so it is open to anyone who can reach {rest_addr}: \
                 set VOLLEY_ADMIN_TOKEN or --admin-token-file to require tokens"
            );
        }
        let (limits, api_limits) = (cfg.rest_limits, cfg.api_limits);
        let rest_task = tokio::spawn(async move {
            let forever = std::future::pending::<()>();
            let served =
                crate::api::serve_with_shutdown(rest, svc, api_limits, limits, rest_tls, forever);
            if let Err(e) = served.await {
                tracing::error!("REST API: {e}");
            }
        });
        println!("volley controller REST API on {rest_scheme}://{rest_addr}");
        println!("volley controller gRPC for agents on {grpc_scheme}://{grpc_addr}");
        if let Some(raft) = &cfg.raft {
            println!(
                "volley controller Raft node {} on {}",
                raft.node_id, raft.listen
            );
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let outcome = match deposed {
            None => {
                wait_for_signal().await;
                Ok(())
            }
            Some(mut lead) => tokio::select! {
                _ = wait_for_signal() => Ok(()),
                why = &mut lead => Err(match why {
                    Ok(e) => ServerError::Group(e),
                    Err(e) => ServerError::Group(crate::group::GroupError::Stopped(e.to_string())),
                }),
            },
        };
        grpc_task.abort();
        rest_task.abort();
        outcome
    })
}

/// Stores the bootstrap admin token, and refuses non-loopback addresses that would serve
/// without TLS or without authentication (unless `--insecure`). Returns whether the REST API
/// requires tokens.
fn setup_auth(db: &Db, cfg: &ControllerConfig) -> Result<bool, ServerError> {
    use crate::auth::tokens::{bootstrap, Bootstrap};
    // In a Raft group the leader stores it (crate::group::lead): a follower cannot write.
    if let Some(secret) = cfg.admin_token.as_deref().filter(|_| cfg.raft.is_none()) {
        let done = bootstrap(db, secret).map_err(|e| ServerError::Auth {
            dir: cfg.data_dir.clone(),
            detail: e.message,
        })?;
        match done {
            Bootstrap::Created(id) => {
                tracing::info!(target: crate::audit::AUDIT, token = id, "bootstrap admin token stored")
            }
            Bootstrap::Known(id) => {
                tracing::debug!(token = id, "bootstrap admin token already stored")
            }
            Bootstrap::Revoked(id) => {
                tracing::warn!(target: crate::audit::AUDIT, token = id, "the configured admin token was revoked; it is not restored")
            }
            Bootstrap::Ignored => {
                tracing::warn!(target: crate::audit::AUDIT, "the configured admin token is not stored: admin tokens exist already (create more with `volley tokens create --role admin`)")
            }
        }
    }
    let auth_on = db.read(|s| s.tokens().next().is_some())
        || (cfg.raft.is_some() && cfg.admin_token.is_some());
    if !cfg.insecure {
        // Mutual TLS (--raft-ca) both authenticates the peers and hides the traffic.
        let open_raft =
            |r: &&crate::group::RaftConfig| !r.listen.ip().is_loopback() && r.tls.is_none();
        if let Some(raft) = cfg.raft.as_ref().filter(open_raft) {
            return Err(ServerError::Insecure {
                flag: "raft",
                addr: raft.listen,
                what: "the Raft port",
                needs: "mutual TLS",
                risk: "rewrite the controllers' state (tokens, tests, runs) and read it in clear text",
                fix: "mutual TLS (--raft-ca with each controller's controller.crt of `volley certs init`, docs/security.md)",
            });
        }
        if !auth_on && !cfg.listen.ip().is_loopback() {
            return Err(ServerError::Insecure {
                flag: "listen",
                addr: cfg.listen,
                what: "the REST API",
                needs: "API tokens",
                risk: "create tests, start and stop runs and read every script",
                fix: "an admin token (VOLLEY_ADMIN_TOKEN or --admin-token-file)",
            });
        }
        let mtls = cfg.grpc_tls.as_ref().is_some_and(|t| t.client_ca.is_some());
        if cfg.token.is_none() && !mtls && !cfg.grpc.ip().is_loopback() {
            return Err(ServerError::Insecure {
                flag: "grpc",
                addr: cfg.grpc,
                what: "the agents' gRPC endpoint",
                needs: "a join token or client certificates",
                risk: "register as an agent and receive runs' scripts and secrets",
                fix: "a join token (--token or VOLLEY_TOKEN) or --client-ca for the agents",
            });
        }
        // Tokens and scripts in clear text on a network can be read and replayed.
        if cfg.rest_tls.is_none() && !cfg.listen.ip().is_loopback() {
            return Err(ServerError::Insecure {
                flag: "listen",
                addr: cfg.listen,
                what: "the REST API",
                needs: "TLS",
                risk: "read the API tokens and scripts it carries in clear text",
                fix: "TLS (--tls-cert and --tls-key; `volley certs init` makes them)",
            });
        }
        if cfg.grpc_tls.is_none() && !cfg.grpc.ip().is_loopback() {
            return Err(ServerError::Insecure {
                flag: "grpc",
                addr: cfg.grpc,
                what: "the agents' gRPC endpoint",
                needs: "TLS",
                risk: "read the join token, runs' scripts and secrets it carries in clear text",
                fix: "TLS (--tls-cert and --tls-key; `volley certs init` makes them)",
            });
        }
    }
    Ok(auth_on)
}

/// Gives a degraded store its reopen attempts even when nothing writes or asks `/health`.
async fn maintain_store(db: Arc<Db>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        if !db.health().is_ok() {
            let db = db.clone();
            let _ = tokio::task::spawn_blocking(move || db.recover_if_due()).await;
        }
    }
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
