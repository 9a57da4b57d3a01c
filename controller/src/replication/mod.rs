//! Replication of the controller's state machine over Raft (TiKV's raft-rs), the foundation of
//! controller high availability: docs/ha.md describes the design; `crate::group` wires it
//! into `volley controller --peer`.
//!
//! * [`storage`] — raft-rs' `Storage` on redb: log, hard state, membership, snapshot; one fsync
//!   per Ready.
//! * [`node`] — one replica as a pure core stepped by inputs (tick, peer message, proposal);
//!   its Ready loop persists, applies committed [`crate::state::Command`]s to the one
//!   [`crate::state::State`] and returns the messages to send.
//! * [`payload`] — what an entry carries: a command, or an archive chunk or run checkpoint
//!   that every node writes to its store ([`SideStore`]).
//! * [`transport`] — the peer RPC (`proto/raft.proto`) on tonic, bounded and with timeouts.
//! * [`driver`] — the async task that runs a node on a real clock and network: ticks, inbox,
//!   Ready loop, one sending task per peer, proposals awaited with a timeout.
//!
//! The raft crate is built with its rust-protobuf codec, not prost: the prost codec's build
//! needs a `protoc` installed on the build machine (docs/ha.md#the-raft-library).

pub mod driver;
pub mod node;
pub mod payload;
pub mod storage;
pub mod transport;

pub use driver::{Driver, DriverConfig, DriverError, DriverHandle, DriverStatus};
pub use node::{Membership, Node, NodeConfig, NodeError, NodeStatus, Output, ProposalId, Role};
pub use payload::{Payload, SideStore};
pub use storage::{RaftStorage, RaftStoreError};

use std::fmt::Write as _;

/// raft-rs logs through `slog`; this drain forwards its records to `tracing` (target
/// `volley::raft`, with the node id and raft's key-value pairs in the message).
struct TracingDrain;

struct KvText(String);

impl slog::Serializer for KvText {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments<'_>) -> slog::Result {
        let _ = write!(self.0, " {key}={val}");
        Ok(())
    }
}

impl slog::Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(
        &self,
        record: &slog::Record<'_>,
        values: &slog::OwnedKVList,
    ) -> Result<(), slog::Never> {
        use slog::KV as _;
        let mut text = KvText(String::new());
        let _ = record.kv().serialize(record, &mut text);
        let _ = values.serialize(record, &mut text);
        let msg = record.msg();
        let kv = text.0;
        match record.level() {
            slog::Level::Critical | slog::Level::Error => {
                tracing::error!(target: "volley::raft", "{msg}{kv}")
            }
            slog::Level::Warning => tracing::warn!(target: "volley::raft", "{msg}{kv}"),
            slog::Level::Info => tracing::info!(target: "volley::raft", "{msg}{kv}"),
            slog::Level::Debug => tracing::debug!(target: "volley::raft", "{msg}{kv}"),
            slog::Level::Trace => tracing::trace!(target: "volley::raft", "{msg}{kv}"),
        }
        Ok(())
    }
}

/// The logger raft-rs gets for node `id`.
fn raft_logger(id: u64) -> slog::Logger {
    slog::Logger::root(TracingDrain, slog::o!("raft_node" => id))
}

#[cfg(test)]
mod driver_tests;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod starved_tests;
#[cfg(test)]
mod tests;
