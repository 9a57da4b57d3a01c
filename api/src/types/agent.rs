//! Agents as the registry shows them, and their utilization over a run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Meta;

/// An agent with its live telemetry (`GET /v1/agents`, `volley agents`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `idle`, `busy`, `draining` (it got SIGTERM: it finishes its part of `run_id`, if any,
    /// and takes no new run; docs/cluster-runs.md#sigterm-drain) or `lost`.
    pub state: String,
    pub run_id: Option<u64>,
    pub version: String,
    pub max_vus: u64,
    pub cpus: u32,
    /// The host's CPU use, % of all its logical CPUs together (every process on the machine).
    pub cpu_percent: f64,
    /// The host's memory in use and its total.
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// The host's memory in use, %.
    pub memory_percent: f64,
    /// The agent process's own CPU use, % of all the host's logical CPUs together (one busy
    /// core of a 4-CPU host is 25); absent when the agent does not report it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_cpu_percent: Option<f64>,
    /// The agent process's resident memory.
    pub process_rss_bytes: u64,
    /// The agent process's resident memory, % of the host's memory.
    #[serde(default)]
    pub process_memory_percent: f64,
    pub active_vus: i64,
    pub requests_per_second: f64,
    pub iterations_per_second: f64,
    pub dropped_iterations: u64,
    /// Seconds since the last heartbeat.
    pub heartbeat_age_s: f64,
    /// `ok`, `warning` (≥ 80 % CPU or memory) or `overloaded` (≥ 90 %), judged on the agent
    /// process and on its host separately; the worse of the two.
    pub health: String,
    /// Which one `health` is about when it is not `ok`: `process` (the agent's own use) or
    /// `host` (the machine, with the agent process below the level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_cause: Option<String>,
    pub connected_since: String,
}

/// One telemetry sample of an agent during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UtilizationSample {
    /// RFC 3339 UTC.
    pub at: String,
    /// The host's CPU, % of all its CPUs.
    pub cpu_percent: f64,
    /// The host's memory in use, %.
    pub memory_percent: f64,
    /// The agent process's CPU, % of all the host's CPUs (absent: not reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_cpu_percent: Option<f64>,
    pub process_rss_bytes: u64,
    pub active_vus: i64,
    pub requests_per_second: f64,
    pub iterations_per_second: f64,
}

/// An agent's utilization over a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentUtilization {
    pub agent: String,
    pub segment: String,
    pub samples: Vec<UtilizationSample>,
}

/// The agents, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentList {
    pub agents: Vec<AgentView>,
    pub meta: Meta,
}

/// How many agents the runs need now, for autoscalers (`GET /v1/agents/wanted`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentsWanted {
    /// `busy` plus what every queued run wants: the replicas an autoscaler should run.
    pub wanted: u64,
    /// Agents busy with runs (they stay until their runs end).
    pub busy: u64,
    /// Runs waiting to be placed.
    pub queued_runs: u64,
    /// Agents the queued runs want together: each its VUs at `agent_max_vus` per agent, at
    /// least its `options.volley.agents` and one per `distribution` selector.
    pub queued_want: u64,
    /// VUs one agent takes (the controller's `--agent-max-vus`, else the smallest connected
    /// agent's `--max-vus`); 0: unknown, a queued run then wants one agent.
    pub agent_max_vus: u64,
    /// Agents connected now.
    pub connected: u64,
}

/// One agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentEnvelope {
    pub agent: AgentView,
}

/// One entry per agent of a run, with its telemetry samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunAgents {
    pub run_id: u64,
    pub agents: Vec<AgentUtilization>,
}
