//! Volley's shared vocabulary, used by the CLI, the agent (load generator) and the
//! controller: test options, execution segments, metrics and their mergeable aggregates,
//! thresholds, end-of-test summaries and exit codes.

pub mod archive;
pub mod duration;
pub mod exit;
pub mod hosts;
pub mod metrics;
pub mod names;
pub mod options;
pub mod segment;
pub mod status;
pub mod summary;
pub mod target;
pub mod text;
pub mod threshold;
pub mod time;

#[cfg(test)]
mod test_rng;
