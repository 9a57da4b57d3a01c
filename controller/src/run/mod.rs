//! One run across agents, its pure parts split by job: the lifecycle state machine
//! ([`machine`], with its input handling in `inputs` and its health checks in `checks`), when
//! each agent was last heard from ([`arrivals`]), the queue policy ([`queue`]), the exact merge
//! of metric batches ([`merge`]), the thresholds' crossings during the run ([`crossings`]),
//! the end-of-run summary ([`finish`]), the tunables ([`config`]), how much a run may declare
//! ([`declared`]), the messages to agents ([`messages`]) and each agent's heartbeats over the
//! run, bounded ([`utilization_log`]).
//! [`crate::coordinator`] is the front the rest of the controller talks to, with the tasks
//! that carry runs out (the driver of each run, the scheduler, streamed runs).

pub mod arrivals;
mod checks;
pub mod config;
pub mod crossings;
pub mod declared;
pub mod finish;
mod inputs;
pub mod machine;
pub mod merge;
pub mod messages;
pub mod metric_series;
pub mod queue;
pub mod series_keys;
pub mod utilization_log;

#[cfg(test)]
mod tests;
