//! The tunables of run coordination and failure handling: how often batches and checks come,
//! when an agent counts as lost or overloaded, and the limits a run must respect.

use std::time::Duration;

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

/// Limits a run must respect. What can be checked before the start is refused at submit; the
/// rest aborts the run with ABORTED_BY_LIMIT.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_groups: usize,
    pub max_series: usize,
    pub max_duration: Duration,
    /// Most VUs in one run (None = no limit).
    pub max_vus: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_groups: 40,
            max_series: 10_000,
            max_duration: Duration::from_secs(60 * 60),
            max_vus: None,
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
        }
    }
}
