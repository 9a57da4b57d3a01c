//! Volley's controller: it queues runs, places them on agents, coordinates their lifecycle,
//! merges their metrics exactly and serves the k6 legacy test-runs REST API.
//!
//! Every change of controller state is a [`state::Command`] applied to one deterministic
//! [`state::State`] (a log of commands → state), persisted by [`store`], so that the log can be
//! replicated with Raft: [`replication`] is that replication's core, and [`group`] makes a
//! controller started with `--peer` a member of a Raft group (docs/ha.md).

pub mod agent_recent;
pub mod api;
pub mod audit;
pub mod auth;
pub mod checkpoint;
pub mod coordinator;
pub mod demand;
pub mod group;
pub mod grpc;
pub mod grpc_listener;
pub mod link_limits;
pub mod link_out;
pub mod local_dashboard;
pub mod meters;
pub mod model;
pub mod placement;
pub mod registry;
pub mod replication;
pub mod rest_listener;
pub mod run;
pub mod secret;
pub mod server;
pub mod service;
pub mod service_error;
pub mod state;
pub mod store;
pub mod targets;
#[cfg(test)]
pub(crate) mod temp_dir;
pub mod tls;
pub mod utilization;
