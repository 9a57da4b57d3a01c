//! The tunables of run coordination and failure handling: how often batches and checks come,
//! when an agent counts as lost or overloaded, and the limits a run must respect.

use std::time::Duration;

use volley_common::duration::duration_from_json;

/// What happens to a run when one of its agents is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnAgentLost {
    /// ABORTED_BY_SYSTEM with AGENT_LOST (the default).
    Abort,
    /// The run goes on with the other agents; it is marked degraded and the lost segment noted.
    Continue,
}

impl std::str::FromStr for OnAgentLost {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "abort" => Ok(OnAgentLost::Abort),
            "continue" => Ok(OnAgentLost::Continue),
            other => Err(format!(
                "on_agent_lost must be 'abort' or 'continue', not {other:?}"
            )),
        }
    }
}

/// [`Limits::max_active_runs_per_token`] unless told otherwise.
pub const DEFAULT_MAX_ACTIVE_RUNS_PER_TOKEN: usize = 1000;

/// [`Limits::max_finished_runs`] unless told otherwise.
pub const DEFAULT_MAX_FINISHED_RUNS: usize = 10_000;

/// Limits a run must respect. What can be checked before the start is refused at submit; the
/// rest aborts the run with ABORTED_BY_LIMIT.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_groups: usize,
    pub max_series: usize,
    pub max_duration: Duration,
    /// Most VUs in one run (None = no limit).
    pub max_vus: Option<u64>,
    /// Most agents one run may ask for (`options.volley.agents`).
    pub max_agents: u64,
    /// Queue runs that ask for labels no connected agent has (else they are refused at submit).
    pub allow_unknown_labels: bool,
    /// Most runs one token may have not finished (created, queued, running); another is
    /// refused with 429 (`--max-active-runs-per-token`).
    pub max_active_runs_per_token: usize,
    /// Most finished runs kept; creating a run forgets the oldest finished ones beyond
    /// (`--max-finished-runs`). At ~25 KB a run (2,000 streamed runs took 50 MB), the default
    /// keeps ~250 MB of runs.
    pub max_finished_runs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_groups: 40,
            max_series: 10_000,
            max_duration: Duration::from_secs(60 * 60),
            max_vus: None,
            max_agents: 1000,
            allow_unknown_labels: false,
            max_active_runs_per_token: DEFAULT_MAX_ACTIVE_RUNS_PER_TOKEN,
            max_finished_runs: DEFAULT_MAX_FINISHED_RUNS,
        }
    }
}

/// Tunables of run coordination and failure handling.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// Metric batch interval agents use.
    pub metrics_interval: Duration,
    /// How far in the future the start barrier is set (all agents must get the Start first).
    pub start_delay: Duration,
    /// How often abortOnFail thresholds are evaluated on merged data (k6: every 2 s).
    pub threshold_interval: Duration,
    /// An agent of a running run silent this long is lost.
    pub agent_lost_after: Duration,
    pub on_agent_lost: OnAgentLost,
    /// CPU or memory at or above these, sustained for `overload_after`, aborts the run.
    pub overload_cpu_percent: f64,
    pub overload_memory_percent: f64,
    pub overload_after: Duration,
    /// At or above this, agents show a warning (views, run events, logs).
    pub warn_percent: f64,
    pub limits: Limits,
    /// No data or heartbeat from any of a run's agents for this long → TIMED_OUT.
    pub data_timeout: Duration,
    /// How often a running run's merged data is checkpointed (batches are acknowledged to
    /// agents only once checkpointed, so a restarted controller can resume the run).
    pub checkpoint_interval: Duration,
    /// A run QUEUED this long ends TIMED_OUT (a run's `options.volley.queueTimeout` overrides).
    pub queue_timeout: Duration,
    /// A run at the head of the queue that has waited this long for busy agents reserves the
    /// idle ones: runs behind it no longer start before it (no starvation of big runs).
    pub queue_reserve_after: Duration,
    /// Longest VU init may take on every agent before the run is ABORTED_BY_SYSTEM (a run's
    /// `options.volley.initTimeout` overrides).
    pub init_timeout: Duration,
    /// Where the requests of runs may go (sent to agents with every run): the operator's
    /// `--deny-target` / `--allow-target` and the controller's own endpoints (crate::targets).
    pub targets: volley_common::target::TargetPolicy,
    /// The controller's REST and gRPC ports, which agents deny on the address they reach it at.
    pub controller_ports: Vec<u16>,
    /// VUs one agent takes, for the agents wanted (`--agent-max-vus`; 0: the smallest limit
    /// among the connected agents).
    pub agent_max_vus: u64,
    /// What starts agents when the agents wanted rise (`--scaler`, e.g. "the KEDA
    /// ScaledObject volley-agent"): a run waiting for agents says it waits for it.
    pub scaler: Option<String>,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            metrics_interval: Duration::from_secs(1),
            start_delay: Duration::from_millis(300),
            threshold_interval: Duration::from_secs(2),
            agent_lost_after: Duration::from_secs(10),
            on_agent_lost: OnAgentLost::Abort,
            overload_cpu_percent: 90.0,
            overload_memory_percent: 90.0,
            overload_after: Duration::from_secs(30),
            warn_percent: 80.0,
            limits: Limits::default(),
            data_timeout: Duration::from_secs(120),
            checkpoint_interval: Duration::from_secs(1),
            queue_timeout: Duration::from_secs(60 * 60),
            queue_reserve_after: Duration::from_secs(60),
            init_timeout: Duration::from_secs(60),
            targets: Default::default(),
            controller_ports: Vec::new(),
            agent_max_vus: 0,
            scaler: None,
        }
    }
}

/// A run's own timeouts, from `options.volley` (`queueTimeout`, `initTimeout`): k6 durations
/// (`"90s"`, `"5m"`, or milliseconds as a number). Unset, the controller's flags apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunTimeouts {
    pub queue: Option<Duration>,
    pub init: Option<Duration>,
}

impl RunTimeouts {
    /// Reads them from a run's consolidated options; the error names the option.
    pub fn from_config(config: &serde_json::Value) -> Result<Self, String> {
        let volley = config.get("volley");
        let read = |key: &str| -> Result<Option<Duration>, String> {
            let Some(v) = volley.and_then(|v| v.get(key)).filter(|v| !v.is_null()) else {
                return Ok(None);
            };
            let d = duration_from_json(v).map_err(|e| {
                format!("options.volley.{key} must be a duration like \"90s\" or \"5m\": {e}")
            })?;
            if d.is_zero() {
                return Err(format!(
                    "options.volley.{key} must be longer than 0s (got {v}); leave it out for the controller's default"
                ));
            }
            Ok(Some(d))
        };
        Ok(RunTimeouts {
            queue: read("queueTimeout")?,
            init: read("initTimeout")?,
        })
    }

    /// The queue timeout of a run, and where it comes from (for messages).
    pub fn queue_timeout(&self, cfg: &CoordinatorConfig) -> (Duration, &'static str) {
        match self.queue {
            Some(d) => (d, "options.volley.queueTimeout"),
            None => (cfg.queue_timeout, "--queue-timeout"),
        }
    }

    /// The init timeout of a run, and where it comes from (for messages).
    pub fn init_timeout(&self, cfg: &CoordinatorConfig) -> (Duration, &'static str) {
        match self.init {
            Some(d) => (d, "options.volley.initTimeout"),
            None => (cfg.init_timeout, "--init-timeout"),
        }
    }
}
