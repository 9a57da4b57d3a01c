//! The cluster commands: `volley controller`, `volley agent`, `volley archive`, `volley submit`,
//! `volley runs | status | stop | agents` and `volley cluster up`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use volley_api::client::{Client, ClientError};
use volley_api::StopRun;
use volley_common::exit::code;

pub(crate) const DEFAULT_REST: &str = "http://127.0.0.1:6565";
const DEFAULT_GRPC: &str = "http://127.0.0.1:6566";

pub(crate) fn log_error(msg: &str) {
    volley_agent::console::log_error(msg, &[]);
}

pub(crate) fn parse_kv(items: &[String], what: &str) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for kv in items {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("invalid {what} {kv:?}: use KEY=VALUE"))?;
        m.insert(k.to_string(), v.to_string());
    }
    Ok(m)
}

/// `--config` and `--check` of `volley controller` and `volley agent` (docs/configuration.md).
#[derive(clap::Args)]
pub struct ConfigFlags {
    /// A TOML file of settings, one key per flag (`--data-dir` is `data_dir`); flags and
    /// VOLLEY_* variables win over it (docs/configuration.md).
    #[arg(long, env = "VOLLEY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check the configuration (file, variables and flags together), print the effective
    /// settings with secrets redacted and exit: 0 when it is valid.
    #[arg(long)]
    pub check: bool,
}

#[derive(clap::Args)]
pub struct ControllerArgs {
    #[command(flatten)]
    pub config: ConfigFlags,
    /// Address of the REST API (the k6 test-runs API, agents and runs views).
    #[arg(long, default_value = "127.0.0.1:6565", env = "VOLLEY_LISTEN")]
    pub listen: std::net::SocketAddr,
    /// Address agents dial (gRPC).
    #[arg(long, default_value = "127.0.0.1:6566", env = "VOLLEY_GRPC")]
    pub grpc: std::net::SocketAddr,
    /// Where runs, tests and archives are stored (redb).
    #[arg(long, default_value = "./volley-data", env = "VOLLEY_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Join token agents must present.
    #[arg(long, env = "VOLLEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the bootstrap admin API token (or set VOLLEY_ADMIN_TOKEN), stored
    /// (hashed) on first start; then `volley tokens create` makes more.
    #[arg(long, env = "VOLLEY_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Serve the REST API or gRPC on a non-loopback address without TLS or without tokens
    /// (anyone who can reach it, or read its traffic, may then run load and read scripts).
    #[arg(long, env = "VOLLEY_INSECURE")]
    pub insecure: bool,
    /// TLS certificate (PEM, with its chain) of the REST API, and of gRPC unless
    /// --grpc-tls-cert; reloaded when the file changes. `volley certs init` makes one.
    #[arg(
        long,
        requires = "tls_key",
        value_name = "FILE",
        env = "VOLLEY_TLS_CERT"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(
        long,
        requires = "tls_cert",
        value_name = "FILE",
        env = "VOLLEY_TLS_KEY"
    )]
    pub tls_key: Option<PathBuf>,
    /// A certificate of its own for the gRPC port (default: --tls-cert).
    #[arg(long, requires_all = ["grpc_tls_key", "tls_cert"], value_name = "FILE", env = "VOLLEY_GRPC_TLS_CERT")]
    pub grpc_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --grpc-tls-cert.
    #[arg(
        long,
        requires = "grpc_tls_cert",
        value_name = "FILE",
        env = "VOLLEY_GRPC_TLS_KEY"
    )]
    pub grpc_tls_key: Option<PathBuf>,
    /// CA (PEM) of agents' client certificates: gRPC then requires one (mTLS), and an agent's
    /// name is its certificate's (CN, else first DNS name). Needs --tls-cert.
    #[arg(
        long,
        requires = "tls_cert",
        value_name = "FILE",
        env = "VOLLEY_CLIENT_CA"
    )]
    pub client_ca: Option<PathBuf>,
    /// Refuse runs' requests to this target on every agent (repeatable): a CIDR, an address or
    /// a host name (`*.example.com`), each with an optional :port. The controller's own
    /// endpoints and link-local / cloud-metadata addresses are always refused.
    #[arg(
        long = "deny-target",
        value_name = "TARGET",
        env = "VOLLEY_DENY_TARGETS",
        value_delimiter = ','
    )]
    pub deny_targets: Vec<String>,
    /// Allow runs' requests only to these targets (repeatable; same forms as --deny-target).
    /// Given at least once, the list is exclusive; denies still win.
    #[arg(
        long = "allow-target",
        value_name = "TARGET",
        env = "VOLLEY_ALLOW_TARGETS",
        value_delimiter = ','
    )]
    pub allow_targets: Vec<String>,
    /// An agent of a running run silent this long is lost (e.g. 10s).
    #[arg(long, default_value = "10s", env = "VOLLEY_AGENT_LOST_AFTER")]
    pub agent_lost_after: String,
    /// What a lost agent does to its run: abort (ABORTED_BY_SYSTEM) or continue (degraded).
    #[arg(long, default_value = "abort", env = "VOLLEY_ON_AGENT_LOST")]
    pub on_agent_lost: String,
    /// CPU % of an agent's process (as a share of its host) or of its host that, sustained for
    /// --overload-after, aborts the run (the two are judged separately).
    #[arg(long, default_value_t = 90.0, env = "VOLLEY_OVERLOAD_CPU")]
    pub overload_cpu: f64,
    /// Memory % of an agent's process (RSS) or of its host that, sustained for
    /// --overload-after, aborts the run.
    #[arg(long, default_value_t = 90.0, env = "VOLLEY_OVERLOAD_MEMORY")]
    pub overload_memory: f64,
    /// How long --overload-cpu or --overload-memory must hold before the run is aborted.
    #[arg(long, default_value = "30s", env = "VOLLEY_OVERLOAD_AFTER")]
    pub overload_after: String,
    /// Most groups in a run.
    #[arg(long, default_value_t = 40, env = "VOLLEY_MAX_GROUPS")]
    pub max_groups: usize,
    /// Most metric series (metric × tag set) in a run.
    #[arg(long, default_value_t = 10_000, env = "VOLLEY_MAX_SERIES")]
    pub max_series: usize,
    /// Longest run (incl. graceful stop), checked at submit and during the run.
    #[arg(long, default_value = "60m", env = "VOLLEY_MAX_DURATION")]
    pub max_duration: String,
    /// Most VUs in one run (default: no limit).
    #[arg(long, env = "VOLLEY_MAX_VUS")]
    pub max_vus: Option<u64>,
    /// No data or heartbeat from any agent of a run for this long → TIMED_OUT.
    #[arg(long, default_value = "120s", env = "VOLLEY_DATA_TIMEOUT")]
    pub data_timeout: String,
    /// Most agents one run may ask for (options.volley.agents); more is refused at submit.
    #[arg(long, default_value_t = 1000, env = "VOLLEY_MAX_AGENTS")]
    pub max_agents: u64,
    /// Most runs one API token may have not finished (created, queued or running); another is
    /// refused with 429 `too_many_active_runs`.
    #[arg(long, default_value_t = volley_controller::run::config::DEFAULT_MAX_ACTIVE_RUNS_PER_TOKEN, env = "VOLLEY_MAX_ACTIVE_RUNS_PER_TOKEN")]
    pub max_active_runs_per_token: usize,
    /// Most finished runs kept: creating a run forgets the oldest finished runs beyond it
    /// (their records, summaries and events).
    #[arg(long, default_value_t = volley_controller::run::config::DEFAULT_MAX_FINISHED_RUNS, env = "VOLLEY_MAX_FINISHED_RUNS")]
    pub max_finished_runs: usize,
    /// VUs one agent takes, for the agents wanted (GET /v1/agents/wanted, the
    /// volley_agents_wanted metric an autoscaler follows); 0: the smallest --max-vus among the
    /// connected agents. Set it when agents scale to zero.
    #[arg(long, default_value_t = 0, env = "VOLLEY_AGENT_MAX_VUS")]
    pub agent_max_vus: u64,
    /// What starts agents when the agents wanted rise, e.g. "the KEDA ScaledObject
    /// volley-agent" (the Helm chart names its HPA or ScaledObject): a queued run waiting for
    /// agents then says it is waiting for it, and a run needing more VUs than the connected
    /// agents hold is queued for it rather than refused.
    #[arg(long, env = "VOLLEY_SCALER", value_name = "NAME")]
    pub scaler: Option<String>,
    /// Queue runs asking for labels no connected agent has (default: refuse them at submit).
    #[arg(long, env = "VOLLEY_ALLOW_UNKNOWN_LABELS")]
    pub allow_unknown_labels: bool,
    /// A run QUEUED this long ends TIMED_OUT with the reason it could not be placed
    /// (a run's options.volley.queueTimeout overrides it).
    #[arg(long, default_value = "60m", env = "VOLLEY_QUEUE_TIMEOUT")]
    pub queue_timeout: String,
    /// A queued run that has waited this long for busy agents holds the idle ones: runs
    /// queued after it no longer start before it.
    #[arg(long, default_value = "60s", env = "VOLLEY_QUEUE_RESERVE_AFTER")]
    pub queue_reserve_after: String,
    /// Longest VU init may take on every agent; then the run is ABORTED_BY_SYSTEM
    /// (a run's options.volley.initTimeout overrides it).
    #[arg(long, default_value = "60s", env = "VOLLEY_INIT_TIMEOUT")]
    pub init_timeout: String,
    /// Most REST connections open at once (default: half the open-files limit, at most
    /// 10,000); at the cap the longest-idle connection is closed to make room.
    #[arg(long, env = "VOLLEY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Longest a REST client may take to send a request's headers, and longest a kept-alive
    /// REST connection may stay idle.
    #[arg(long, default_value = "10s", env = "VOLLEY_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: String,
    /// Most gRPC (agent) connections open at once (default: a quarter of the open-files
    /// limit, at most 10,000); beyond, the least advanced connection without a registered
    /// agent (the oldest of those) is closed to make room, or the new one if every connection
    /// has an agent.
    #[arg(long, env = "VOLLEY_GRPC_MAX_CONNECTIONS")]
    pub grpc_max_connections: Option<usize>,
    /// Longest a new gRPC connection may take to start speaking HTTP/2 and register an agent;
    /// then it is closed.
    #[arg(long, default_value = "10s", env = "VOLLEY_GRPC_HANDSHAKE_TIMEOUT")]
    pub grpc_handshake_timeout: String,
    /// Most bytes of archives all tests may hold together (each distinct archive counts once),
    /// e.g. 20GiB; a test that would go over is refused with 507 (default: no limit).
    #[arg(long, env = "VOLLEY_MAX_STORAGE")]
    pub max_storage: Option<String>,
    /// Most bytes of archives the tests of one project may hold, e.g. 2GiB; a test that would
    /// go over is refused with 413 (default: no limit).
    #[arg(long, env = "VOLLEY_MAX_PROJECT_STORAGE")]
    pub max_project_storage: Option<String>,
    /// Most archive uploads (new tests, streamed runs) received at once; more are refused with
    /// 429 and Retry-After.
    #[arg(long, default_value_t = volley_controller::api::DEFAULT_MAX_CONCURRENT_UPLOADS, env = "VOLLEY_MAX_CONCURRENT_UPLOADS")]
    pub max_concurrent_uploads: usize,
    /// Most bytes of REST request bodies held at once, over every route (each body from its
    /// first byte until it is answered), e.g. 1GiB; a body that finds no room within 5 s is
    /// refused with 503 and Retry-After. At least the largest upload, 80 MiB.
    #[arg(long, default_value = "384MiB", env = "VOLLEY_MAX_BODY_MEMORY")]
    pub max_body_memory: String,
    /// This controller's id in its Raft group (1 or more, unique); with --raft, it makes the
    /// controller a member of a Raft group (of one without --peer).
    #[arg(long, env = "VOLLEY_NODE_ID")]
    pub node_id: Option<u64>,
    /// Address of this controller's Raft port, where the other controllers reach it; needed
    /// with --node-id.
    #[arg(long, value_name = "HOST:PORT", env = "VOLLEY_RAFT")]
    pub raft: Option<std::net::SocketAddr>,
    /// Another controller of the Raft group: ID=HOST:PORT of its Raft port (repeat for each).
    /// Without any (and without --node-id), the controller runs alone, without Raft
    /// (docs/ha.md).
    #[arg(
        long = "peer",
        value_name = "ID=HOST:PORT",
        env = "VOLLEY_PEERS",
        value_delimiter = ','
    )]
    pub peers: Vec<String>,
    /// The REST API URL the other controllers redirect writes to while this one leads
    /// (default: http(s)://--listen).
    #[arg(long, value_name = "URL", env = "VOLLEY_ADVERTISE_API")]
    pub advertise_api: Option<String>,
    /// The secret every controller of the group shares on its Raft port (required when --raft
    /// is not on loopback).
    #[arg(long, env = "VOLLEY_PEER_TOKEN", hide_env_values = true)]
    pub peer_token: Option<String>,
    /// Join a running group instead of forming one: this controller waits, as no voter, until
    /// `volley controllers add ID=HOST:PORT` adds it, then catches up from the leader. Give
    /// the group's current members with --peer (docs/ha.md#changing-the-membership).
    #[arg(long, env = "VOLLEY_JOIN")]
    pub join: bool,
    /// CA (PEM) of the group's controller certificates: the Raft port then speaks mutual TLS,
    /// accepting only controller certificates it signed, and peers are dialled with https://.
    /// Uses --tls-cert (or --raft-tls-cert), valid for server and client use as controller.crt.
    #[arg(long, value_name = "FILE", env = "VOLLEY_RAFT_CA")]
    pub raft_ca: Option<PathBuf>,
    /// A certificate of its own for the Raft port (default: --tls-cert); it must name both
    /// server and client use.
    #[arg(long, requires_all = ["raft_tls_key", "raft_ca"], value_name = "FILE", env = "VOLLEY_RAFT_TLS_CERT")]
    pub raft_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --raft-tls-cert.
    #[arg(
        long,
        requires = "raft_tls_cert",
        value_name = "FILE",
        env = "VOLLEY_RAFT_TLS_KEY"
    )]
    pub raft_tls_key: Option<PathBuf>,
    /// What this controller does with a write while it follows the Raft leader: forward
    /// (send it on to the leader and pass the answer back, so any one controller, a Service
    /// or a port-forward serves everything) or redirect (307 to the leader's
    /// --advertise-api, which the client must reach); docs/ha.md.
    #[arg(
        long,
        value_enum,
        default_value = "forward",
        env = "VOLLEY_FOLLOWER_WRITES"
    )]
    pub follower_writes: FollowerWrites,
}

/// `--follower-writes` (docs/ha.md#followers-forward-writes-to-the-leader).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerWrites {
    Forward,
    Redirect,
}

/// The Raft group of `volley controller` from --node-id, --raft, --peer and --join (`None`
/// without any of them: a single controller, without Raft).
fn raft_config(a: &ControllerArgs) -> Result<Option<volley_controller::group::RaftConfig>, String> {
    if a.peers.is_empty() && a.node_id.is_none() && a.raft.is_none() {
        if a.join {
            return Err(
                "--join needs --node-id N, --raft HOST:PORT and a --peer ID=HOST:PORT for each current member of the group"
                    .into(),
            );
        }
        if a.raft_ca.is_some() {
            return Err(
                "--raft-ca is for the Raft port of a controller group: it needs --node-id N and --raft HOST:PORT (docs/ha.md)"
                    .into(),
            );
        }
        return Ok(None);
    }
    let flag = if a.peers.is_empty() {
        "--raft"
    } else {
        "--peer"
    };
    let node_id = match a.node_id {
        Some(0) => return Err("invalid --node-id 0: node ids start at 1".into()),
        Some(n) => n,
        None => {
            return Err(format!(
                "{flag} needs --node-id N, this controller's id in the group"
            ))
        }
    };
    let listen = a
        .raft
        .ok_or("--node-id needs --raft HOST:PORT, the address of this controller's Raft port")?;
    if a.join && a.peers.is_empty() {
        return Err(
            "--join needs a --peer ID=HOST:PORT for each current member of the group, so this controller can answer the leader"
                .into(),
        );
    }
    let tls = raft_tls(a)?;
    let mut peers = BTreeMap::new();
    let mut listed_self = false;
    for p in &a.peers {
        let (id, addr) = p.split_once('=').ok_or_else(|| {
            format!("invalid --peer {p:?}: use ID=HOST:PORT, e.g. 2=10.0.0.2:6567")
        })?;
        let id: u64 =
            id.trim().parse().ok().filter(|&id| id > 0).ok_or_else(|| {
                format!("invalid --peer {p:?}: the id must be a number from 1 up")
            })?;
        let addr = addr.trim();
        let url = match (addr.split_once("://").map(|(scheme, _)| scheme), &tls) {
            (Some("http"), None) | (Some("https"), Some(_)) => addr.to_string(),
            (Some("http"), Some(_)) => {
                return Err(format!(
                    "invalid --peer {p:?}: the Raft port speaks TLS (--raft-ca): write the peer as ID=HOST:PORT or ID=https://HOST:PORT"
                ))
            }
            (Some("https"), None) => {
                return Err(format!(
                    "invalid --peer {p:?}: an https:// peer needs TLS on this controller's Raft port too: give --raft-ca (docs/security.md#the-raft-port)"
                ))
            }
            (None, None) => format!("http://{addr}"),
            (None, Some(_)) => format!("https://{addr}"),
            (Some(other), _) => {
                return Err(format!(
                    "invalid --peer {p:?}: unknown scheme {other}://; use ID=HOST:PORT"
                ))
            }
        };
        let host_port = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        let port_ok = host_port.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !port_ok {
            return Err(format!(
                "invalid --peer {p:?}: give the peer's Raft port as HOST:PORT, e.g. 2=10.0.0.2:6567"
            ));
        }
        if id == node_id {
            // The whole group may be listed, this node included, so that every node of a
            // StatefulSet takes the same flags (helm/volley/values-ha.yaml).
            if std::mem::replace(&mut listed_self, true) {
                return Err(format!("--peer names node {id} twice"));
            }
            continue;
        }
        if peers.insert(id, url).is_some() {
            return Err(format!("--peer names node {id} twice"));
        }
    }
    if peers.is_empty() && !a.peers.is_empty() {
        return Err(format!(
            "--peer lists only this controller (node {node_id}): add the other controllers of the group"
        ));
    }
    if let Some(api) = &a.advertise_api {
        if !(api.starts_with("http://") || api.starts_with("https://")) {
            return Err(format!(
                "invalid --advertise-api {api:?}: give this controller's REST API URL, e.g. https://c1.example:6565"
            ));
        }
    }
    Ok(Some(volley_controller::group::RaftConfig {
        node_id,
        listen,
        peers,
        advertise_api: a.advertise_api.clone(),
        peer_token: a.peer_token.clone().filter(|t| !t.is_empty()),
        join: a.join,
        tls,
        follower_writes: match a.follower_writes {
            FollowerWrites::Forward => volley_controller::group::FollowerWrites::Forward,
            FollowerWrites::Redirect => volley_controller::group::FollowerWrites::Redirect,
        },
    }))
}

/// The Raft port's TLS files from --raft-ca and the controller's certificate (--raft-tls-cert,
/// else --tls-cert); `None` without --raft-ca.
fn raft_tls(a: &ControllerArgs) -> Result<Option<volley_controller::tls::TlsFiles>, String> {
    let Some(ca) = &a.raft_ca else {
        return Ok(None);
    };
    let (cert, cert_flag, key, key_flag) =
        match (&a.raft_tls_cert, &a.raft_tls_key, &a.tls_cert, &a.tls_key) {
            (Some(c), Some(k), _, _) => (c, "--raft-tls-cert", k, "--raft-tls-key"),
            (None, None, Some(c), Some(k)) => (c, "--tls-cert", k, "--tls-key"),
            _ => {
                return Err(
                    "--raft-ca needs this controller's certificate: give --tls-cert and --tls-key \
                 (controller.crt and controller.key of `volley certs init`), or --raft-tls-cert \
                 and --raft-tls-key"
                        .into(),
                )
            }
        };
    Ok(Some(volley_controller::tls::TlsFiles {
        cert: cert.clone(),
        cert_flag,
        key: key.clone(),
        key_flag,
        client_ca: Some(ca.clone()),
    }))
}

/// A size flag: `20GiB`, `500MB`, `1048576`.
fn size(flag: &str, v: &str) -> Result<u64, String> {
    v.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("invalid {flag} {v:?}: {e}; give a size such as 20GiB or 500MB"))
}

fn store_options(a: &ControllerArgs) -> Result<volley_controller::store::StoreOptions, String> {
    let max_total_bytes = a
        .max_storage
        .as_deref()
        .map(|v| size("--max-storage", v))
        .transpose()?;
    let max_project_bytes = a
        .max_project_storage
        .as_deref()
        .map(|v| size("--max-project-storage", v))
        .transpose()?;
    Ok(volley_controller::store::StoreOptions {
        max_total_bytes,
        max_project_bytes,
        ..Default::default()
    })
}

/// A count that must allow at least one.
fn at_least_one(flag: &str, n: usize) -> Result<usize, String> {
    if n == 0 {
        return Err(format!("invalid {flag} 0: give 1 or more"));
    }
    Ok(n)
}

fn dur(flag: &str, v: &str) -> Result<Duration, String> {
    volley_common::duration::parse_duration(v).map_err(|e| format!("invalid {flag} {v:?}: {e}"))
}

fn positive(flag: &str, v: &str) -> Result<Duration, String> {
    match dur(flag, v)? {
        d if d.is_zero() => Err(format!(
            "invalid {flag} {v:?}: give a positive duration, e.g. 60s"
        )),
        d => Ok(d),
    }
}

fn coordinator_config(
    a: &ControllerArgs,
) -> Result<volley_controller::coordinator::CoordinatorConfig, String> {
    use volley_controller::coordinator::{CoordinatorConfig, Limits};
    Ok(CoordinatorConfig {
        agent_lost_after: dur("--agent-lost-after", &a.agent_lost_after)?,
        on_agent_lost: a
            .on_agent_lost
            .parse()
            .map_err(|e| format!("--on-agent-lost: {e}"))?,
        overload_cpu_percent: a.overload_cpu,
        overload_memory_percent: a.overload_memory,
        overload_after: dur("--overload-after", &a.overload_after)?,
        data_timeout: dur("--data-timeout", &a.data_timeout)?,
        queue_timeout: positive("--queue-timeout", &a.queue_timeout)?,
        queue_reserve_after: dur("--queue-reserve-after", &a.queue_reserve_after)?,
        init_timeout: positive("--init-timeout", &a.init_timeout)?,
        limits: Limits {
            max_groups: a.max_groups,
            max_series: a.max_series,
            max_duration: dur("--max-duration", &a.max_duration)?,
            max_vus: a.max_vus,
            max_agents: a.max_agents,
            allow_unknown_labels: a.allow_unknown_labels,
            max_active_runs_per_token: at_least_one(
                "--max-active-runs-per-token",
                a.max_active_runs_per_token,
            )?,
            max_finished_runs: at_least_one("--max-finished-runs", a.max_finished_runs)?,
        },
        targets: volley_controller::targets::operator_policy(&a.deny_targets, &a.allow_targets)?,
        agent_max_vus: a.agent_max_vus,
        scaler: a.scaler.clone().filter(|s| !s.trim().is_empty()),
        ..CoordinatorConfig::default()
    })
}

/// `volley controller`: checks the configuration, then (without `--check`) serves.
pub fn controller(a: ControllerArgs, effective: Option<&crate::config_file::Effective>) -> i32 {
    let check = a.config.check;
    let cfg = match controller_config(a) {
        Ok(c) => c,
        Err(e) => {
            log_error(&e);
            return code::INVALID_CONFIG;
        }
    };
    if check {
        return print_check(effective);
    }
    match volley_controller::server::run_controller(cfg) {
        Ok(()) => 0,
        Err(e) => {
            log_error(&e.to_string());
            e.exit_code()
        }
    }
}

/// `--check`: the effective configuration on stdout, exit 0.
fn print_check(effective: Option<&crate::config_file::Effective>) -> i32 {
    if let Some(e) = effective {
        print!("{}", e.render());
    }
    println!("# the configuration is valid");
    0
}

/// The controller's configuration from its flags, or the first thing wrong with them.
fn controller_config(
    a: ControllerArgs,
) -> Result<volley_controller::server::ControllerConfig, String> {
    let coordinator = coordinator_config(&a)?;
    let mut rest_limits = volley_controller::rest_listener::ListenerLimits::from_env();
    if let Some(n) = a.max_connections {
        if n == 0 {
            return Err("invalid --max-connections 0: allow at least 1 connection".into());
        }
        rest_limits.max_connections = n;
    }
    rest_limits.header_read_timeout = positive("--header-read-timeout", &a.header_read_timeout)?;
    let mut grpc_limits = volley_controller::grpc_listener::GrpcLimits::from_env();
    if let Some(n) = a.grpc_max_connections {
        if n == 0 {
            return Err("invalid --grpc-max-connections 0: allow at least 1 connection".into());
        }
        grpc_limits.max_connections = n;
    }
    grpc_limits.handshake_timeout =
        positive("--grpc-handshake-timeout", &a.grpc_handshake_timeout)?;
    let admin_token = admin_token(a.admin_token_file.as_deref())?;
    let store = store_options(&a)?;
    if a.max_concurrent_uploads == 0 {
        return Err("invalid --max-concurrent-uploads 0: allow at least 1 upload at a time".into());
    }
    let mut api_limits = volley_controller::api::ApiLimits {
        max_concurrent_uploads: a.max_concurrent_uploads,
        ..Default::default()
    };
    let body_memory = size("--max-body-memory", &a.max_body_memory)?;
    if body_memory < api_limits.max_upload_bytes as u64 {
        return Err(format!(
            "invalid --max-body-memory {}: it must hold at least the largest upload, {} bytes \
             (80 MiB); give e.g. 384MiB",
            a.max_body_memory, api_limits.max_upload_bytes
        ));
    }
    api_limits.max_body_memory = usize::try_from(body_memory).unwrap_or(usize::MAX);
    let raft = raft_config(&a)?;
    let (rest_tls, grpc_tls) = controller_tls(&a);
    Ok(volley_controller::server::ControllerConfig {
        raft,
        rest_tls,
        grpc_tls,
        listen: a.listen,
        grpc: a.grpc,
        data_dir: a.data_dir,
        token: a.token,
        admin_token,
        insecure: a.insecure,
        coordinator,
        rest_limits,
        grpc_limits,
        api_limits,
        store,
    })
}

/// The TLS files of the REST API and of gRPC (`--grpc-tls-*`, else the REST pair).
fn controller_tls(
    a: &ControllerArgs,
) -> (
    Option<volley_controller::tls::TlsFiles>,
    Option<volley_controller::tls::TlsFiles>,
) {
    use volley_controller::tls::TlsFiles;
    let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) else {
        return (None, None);
    };
    let rest = TlsFiles {
        cert: cert.clone(),
        cert_flag: "--tls-cert",
        key: key.clone(),
        key_flag: "--tls-key",
        client_ca: a.client_ca.clone(),
    };
    let grpc = match (&a.grpc_tls_cert, &a.grpc_tls_key) {
        (Some(cert), Some(key)) => TlsFiles {
            cert: cert.clone(),
            cert_flag: "--grpc-tls-cert",
            key: key.clone(),
            key_flag: "--grpc-tls-key",
            client_ca: a.client_ca.clone(),
        },
        _ => rest.clone(),
    };
    (Some(rest), Some(grpc))
}

/// The bootstrap admin token: `--admin-token-file` (trimmed), else `VOLLEY_ADMIN_TOKEN`.
fn admin_token(file: Option<&std::path::Path>) -> Result<Option<String>, String> {
    let token = match file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read --admin-token-file {}: {e}", f.display()))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("VOLLEY_ADMIN_TOKEN").ok(),
    };
    match token {
        Some(t) if t.len() < 16 || t.contains(char::is_whitespace) => Err(
            "the admin token must be at least 16 characters without spaces; make one with e.g. `openssl rand -hex 32`".into(),
        ),
        other => Ok(other),
    }
}

#[derive(clap::Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub config: ConfigFlags,
    /// The controller's gRPC URL (`https://…` when the controller has --tls-cert); for a Raft
    /// group, every controller's, comma-separated: the agent links to the leader.
    #[arg(long, env = "VOLLEY_CONTROLLER_GRPC", default_value = DEFAULT_GRPC)]
    pub controller: String,
    /// This agent's name (unique in the cluster). Default: the name of its --cert, else host
    /// name and process id.
    #[arg(long, env = "VOLLEY_AGENT_NAME")]
    pub name: Option<String>,
    /// A label KEY=VALUE for placement (repeatable).
    #[arg(long = "label", env = "VOLLEY_AGENT_LABELS", value_delimiter = ',')]
    pub labels: Vec<String>,
    /// The most VUs this agent holds at once (0 = no limit); used for placement, weights and
    /// the capacity check at submit. Default: what its memory (or its cgroup's limit) allows
    /// at 128 KiB per VU, reported to the controller when the agent registers.
    #[arg(long, env = "VOLLEY_AGENT_MAX_VUS")]
    pub max_vus: Option<u64>,
    /// The JavaScript heap (MiB) a run's VUs may use together on this agent (0 = no limit);
    /// a script whose data outgrows it ends its run ABORTED_BY_LIMIT ("out of JS memory")
    /// while the agent goes on. Default: half its memory (or its cgroup's limit).
    #[arg(long, env = "VOLLEY_AGENT_MAX_JS_HEAP")]
    pub max_js_heap: Option<u64>,
    /// JS worker threads (0 = one per core).
    #[arg(long, default_value_t = 0, env = "VOLLEY_AGENT_WORKERS")]
    pub workers: usize,
    /// Join token.
    #[arg(long, env = "VOLLEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Dead-man switch: with no word from the controller for this long, stop the load.
    #[arg(long, default_value = "30s", env = "VOLLEY_AGENT_ORPHAN_AFTER")]
    pub orphan_after: String,
    /// Serve GET /healthz, /readyz (registered and not draining) and /metrics (Prometheus) on
    /// this address, e.g. 0.0.0.0:6567. Off by default.
    #[arg(long, env = "VOLLEY_AGENT_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// After SIGTERM, how long the agent may go on with its part of a run before it stops it
    /// ("agent terminated (SIGTERM)"); idle, it exits at once. Keep it under the time its
    /// supervisor waits before SIGKILL (Kubernetes: terminationGracePeriodSeconds).
    #[arg(long, default_value = "30s", env = "VOLLEY_AGENT_DRAIN_GRACE")]
    pub drain_grace: String,
}

/// `volley agent`: checks the configuration, then (without `--check`) dials the controller.
pub fn agent(a: AgentArgs, effective: Option<&crate::config_file::Effective>) -> i32 {
    let check = a.config.check;
    let cfg = match agent_config(a) {
        Ok(c) => c,
        Err(e) => {
            log_error(&e);
            return code::INVALID_CONFIG;
        }
    };
    if check {
        return print_check(effective);
    }
    match volley_agent::cluster::client::run_agent(cfg) {
        Ok(()) => 0,
        Err(e) => {
            log_error(&e);
            1
        }
    }
}

/// The agent's configuration from its flags, or the first thing wrong with them.
fn agent_config(a: AgentArgs) -> Result<volley_agent::cluster::client::AgentConfig, String> {
    let orphan_after = dur("--orphan-after", &a.orphan_after)?;
    let drain_grace = dur("--drain-grace", &a.drain_grace)?;
    let labels = parse_kv(&a.labels, "--label")?;
    let tls = crate::client_tls()?;
    // Under mTLS the controller knows an agent by its certificate's name: the default name.
    let cert_name = tls
        .client_cert()
        .and_then(volley_controller::tls::cert_name);
    let name = a.name.or(cert_name).unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "agent".into());
        format!("{host}-{}", std::process::id())
    });
    volley_common::names::check_agent_name(&name)
        .and_then(|()| volley_common::names::check_labels(labels.iter()))
        .map_err(|e| e.to_string())?;
    let work_dir = std::env::temp_dir().join(format!("volley-agent-{}", sanitize(&name)));
    Ok(volley_agent::cluster::client::AgentConfig {
        controller: a.controller,
        name,
        labels,
        max_vus: a
            .max_vus
            .unwrap_or_else(|| volley_agent::capacity::default_max_vus().unwrap_or(0)),
        max_js_heap: a
            .max_js_heap
            .map(|mib| mib.saturating_mul(1 << 20))
            .unwrap_or_else(|| volley_agent::capacity::default_js_heap().unwrap_or(0)),
        workers: a.workers,
        token: a.token,
        work_dir,
        orphan_after,
        tls,
        listen: a.listen,
        drain_grace,
    })
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A client of the controller at `url`, authenticating with `token`.
pub(crate) fn client(url: &str, token: &Option<String>) -> Result<Client, i32> {
    Client::new(url)
        .map(|c| c.with_token(token.clone()))
        .map_err(|e| {
            log_error(&e.to_string());
            code::INVALID_CONFIG
        })
}

pub(crate) fn rest_failed(e: ClientError, following: bool) -> i32 {
    log_error(&e.to_string());
    match e {
        ClientError::Unreachable(_) if following => code::CONTROLLER_LOST,
        ClientError::Status { status, .. } if (400..500).contains(&status) => code::INVALID_CONFIG,
        _ => code::SYSTEM,
    }
}

#[derive(clap::Args)]
pub struct RunIdArgs {
    /// The run's id (`volley runs` lists them).
    pub run: u64,
    /// The controller's REST URL (for a Raft group, every controller's, comma-separated).
    #[arg(long, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
    /// The API token (`volley tokens create`), sent as `Authorization: Token …`.
    #[arg(long, env = "VOLLEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub fn stop(a: RunIdArgs) -> i32 {
    let c = match client(&a.controller, &a.token) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match c.stop_run(a.run, &StopRun::default()) {
        Ok(_) => {
            println!("run {} is stopping", a.run);
            0
        }
        Err(e) => rest_failed(e, false),
    }
}

#[derive(clap::Args)]
pub struct AgentsArgs {
    /// The controller's REST URL (for a Raft group, every controller's, comma-separated).
    #[arg(long, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
    /// The API token (`volley tokens create`), sent as `Authorization: Token …`.
    #[arg(long, env = "VOLLEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Refresh every second until Ctrl+C (in place on a terminal).
    #[arg(short = 'w', long, conflicts_with = "json")]
    pub watch: bool,
    /// Print the API's JSON document (`GET /v1/agents`) instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn agents(a: AgentsArgs) -> i32 {
    use std::io::{IsTerminal, Write};
    let c = match client(&a.controller, &a.token) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let style = crate::run_view::Style::for_stdout();
    let in_place = a.watch && std::io::stdout().is_terminal();
    loop {
        match c.agents() {
            Ok(list) if a.json => {
                return match serde_json::to_string_pretty(&list) {
                    Ok(s) => {
                        println!("{s}");
                        0
                    }
                    Err(e) => {
                        log_error(&format!("cannot print the answer as JSON: {e}"));
                        code::SYSTEM
                    }
                };
            }
            Ok(list) => {
                let table = crate::run_view::agents_table(&list.agents, &style);
                let mut out = std::io::stdout().lock();
                let _ = if in_place {
                    out.write_all(crate::run_view::in_place(&table).as_bytes())
                } else if a.watch {
                    // Not a terminal: one table per refresh, a blank line apart.
                    writeln!(out, "{table}")
                } else {
                    out.write_all(table.as_bytes())
                };
                let _ = out.flush();
            }
            Err(e) => return rest_failed(e, false),
        }
        if !a.watch {
            return 0;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Controller {
        #[command(flatten)]
        args: super::ControllerArgs,
    }

    fn raft(flags: &[&str]) -> Result<Option<volley_controller::group::RaftConfig>, String> {
        let mut argv = vec!["controller", "--node-id", "2", "--raft", "0.0.0.0:6568"];
        argv.extend_from_slice(flags);
        super::raft_config(&Controller::parse_from(argv).args)
    }

    #[test]
    fn every_node_may_be_given_the_whole_group() {
        let group = "--peer=1=c-1.h:6568,2=c-2.h:6568,3=c-3.h:6568";
        let cfg = raft(&[group]).unwrap().expect("a Raft group");
        assert_eq!(cfg.node_id, 2);
        let peers: Vec<(u64, &str)> = cfg.peers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(peers, [(1, "http://c-1.h:6568"), (3, "http://c-3.h:6568")]);
        // Only the others, as before, is the same group.
        let others = raft(&["--peer=1=c-1.h:6568,3=c-3.h:6568"])
            .unwrap()
            .unwrap();
        assert_eq!(others.peers, cfg.peers);
    }

    #[test]
    fn max_body_memory_is_a_size_of_at_least_the_largest_upload() {
        let config = |v: &str| {
            super::controller_config(
                Controller::parse_from(["controller", "--max-body-memory", v]).args,
            )
        };
        let cfg = config("1GiB").unwrap();
        assert_eq!(cfg.api_limits.max_body_memory, 1 << 30);
        let Err(err) = config("1MiB") else {
            panic!("1MiB is smaller than an upload")
        };
        assert!(
            err.contains("--max-body-memory") && err.contains("largest upload"),
            "{err}"
        );
        let Err(err) = config("lots") else {
            panic!("`lots` is not a size")
        };
        assert!(err.contains("give a size such as"), "{err}");
        let default = super::controller_config(Controller::parse_from(["controller"]).args);
        assert_eq!(
            default.unwrap().api_limits.max_body_memory,
            volley_controller::api::DEFAULT_MAX_BODY_MEMORY
        );
    }

    #[test]
    fn a_group_of_this_node_alone_or_named_twice_is_refused() {
        let err = raft(&["--peer=2=c-2.h:6568"]).unwrap_err();
        assert!(err.contains("lists only this controller (node 2)"), "{err}");
        let err = raft(&["--peer=1=c-1.h:6568,2=c-2.h:6568,2=x.h:6568"]).unwrap_err();
        assert!(err.contains("names node 2 twice"), "{err}");
    }
}

#[cfg(test)]
mod raft_flag_tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        a: super::ControllerArgs,
    }

    fn raft(args: &[&str]) -> Result<Option<volley_controller::group::RaftConfig>, String> {
        let base = ["controller", "--node-id", "1", "--raft", "127.0.0.1:7001"];
        let c = Cmd::try_parse_from(base.iter().chain(args)).map_err(|e| e.to_string())?;
        super::raft_config(&c.a)
    }

    /// `--raft-ca` makes the peers `https://` and takes the controller's certificate; the
    /// schemes cannot be mixed, and the CA needs a certificate.
    #[test]
    fn raft_tls_flags_choose_the_peers_scheme() {
        let plain = raft(&["--peer", "2=127.0.0.1:7002"]).unwrap().unwrap();
        assert_eq!(plain.peers[&2], "http://127.0.0.1:7002");
        assert_eq!(plain.tls, None);
        let tls = [
            "--tls-cert",
            "c.crt",
            "--tls-key",
            "c.key",
            "--raft-ca",
            "ca.crt",
        ];
        let with = |peer: &str| raft(&[&tls[..], &["--peer", peer]].concat());
        let cfg = with("2=127.0.0.1:7002").unwrap().unwrap();
        assert_eq!(cfg.peers[&2], "https://127.0.0.1:7002");
        let files = cfg.tls.expect("TLS files");
        assert_eq!(
            (files.cert_flag, files.client_ca.as_deref()),
            ("--tls-cert", Some(std::path::Path::new("ca.crt")))
        );
        let e = with("2=http://127.0.0.1:7002").unwrap_err();
        assert!(e.contains("speaks TLS (--raft-ca)"), "{e}");
        let e = raft(&["--peer", "2=https://127.0.0.1:7002"]).unwrap_err();
        assert!(e.contains("give --raft-ca"), "{e}");
        let e = raft(&["--raft-ca", "ca.crt", "--peer", "2=127.0.0.1:7002"]).unwrap_err();
        assert!(
            e.contains("--raft-ca needs this controller's certificate"),
            "{e}"
        );
        let own = raft(&[
            "--raft-ca",
            "ca.crt",
            "--raft-tls-cert",
            "p.crt",
            "--raft-tls-key",
            "p.key",
            "--peer",
            "2=127.0.0.1:7002",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(own.tls.expect("TLS files").cert_flag, "--raft-tls-cert");
    }
}
