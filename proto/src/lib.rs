//! The controller⇄agent protocol: `proto/volley.proto` compiled with tonic/prost.
//!
//! One bidirectional stream per agent (`AgentLink.Link`): the agent registers, sends
//! heartbeats with telemetry, run events and metric batches; the controller assigns runs,
//! coordinates setup/start/teardown and stops them. Abort reasons travel as a message that
//! converts to and from `volley_common::exit::AbortReason` (see `abort.rs`), metric aggregates
//! as typed messages that convert to and from `volley_common::metrics::Sink` (`sinks.rs`).

#![allow(clippy::large_enum_variant)]

/// Generated types and service stubs.
pub mod v1 {
    tonic::include_proto!("volley.v1");
}

pub use v1::*;

/// The metric pushes of `k6 run --out cloud` (k6 v1.1.0), which the controller decodes into
/// Volley's metric batches (`proto/cloud_push.proto`).
pub mod cloud_push {
    tonic::include_proto!("volley.cloudpush.v1");
}

/// Controller⇄controller replication: `proto/raft.proto`, raft-rs messages carried as bytes
/// (docs/ha.md).
pub mod raft {
    tonic::include_proto!("volley.raft.v1");

    /// The replication protocol version this build speaks; a peer with another is refused.
    pub const RAFT_PROTOCOL_VERSION: u32 = 1;

    /// Largest `RaftBatch` either side accepts: a snapshot (the controller state) travels in
    /// one message, so this bounds the state a group can replicate (docs/ha.md).
    pub const MAX_RAFT_BATCH_BYTES: usize = 256 * 1024 * 1024;
}

mod abort;
mod batch;
pub mod batch_clock;
mod sinks;
mod target;
// The one copy of the property tests' random source is common's (see that file).
#[cfg(test)]
#[path = "../../common/src/test_rng.rs"]
mod test_rng;
pub use abort::EmptyAbortReason;
pub use batch::{MetricBatch, SeriesList, SeriesReader, SeriesView};
pub use sinks::SeriesError;

/// The protocol version this build speaks. A peer with another version is refused at
/// registration, so agents and controllers upgrade together. (2: run ids as integers, abort
/// reasons and env as messages instead of JSON strings; 3: metric series as typed sinks instead
/// of JSON.)
pub const PROTOCOL_VERSION: u32 = 3;

/// Largest message either side accepts (archives dominate; see the archive size limit).
pub const MAX_MESSAGE_BYTES: usize = 80 * 1024 * 1024;

/// Protobuf encoding and decoding of the messages (metric batches of a run streamed from a
/// local `volley run --out cloud` travel over HTTP in this encoding).
pub use prost::Message;
