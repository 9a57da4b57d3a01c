//! The controllers of a Raft group as one of them sees them (`GET /v1/controllers`,
//! `volley controllers`; docs/ha.md).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /v1/controllers`: the answering controller and the group it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ControllerList {
    /// Whether this controller is in a Raft group (`--peer`); false: it runs alone and the
    /// list holds only itself, as the leader of a group of one.
    pub replicated: bool,
    /// The node id of the controller that answered (0 alone).
    pub node: u64,
    /// Every voter of the group, by node id.
    pub controllers: Vec<ControllerView>,
}

/// One controller of the group. Term and indexes are known for the answering controller;
/// the lag of each follower only to the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ControllerView {
    pub node: u64,
    /// `leader`, `follower`, `candidate` or `pre-candidate` for the answering controller;
    /// `leader` or `follower` for the others as it sees them, `unknown` when it knows no leader.
    pub role: String,
    /// The REST API URL it advertised (`--advertise-api`), when known here.
    pub api: Option<String>,
    pub term: Option<u64>,
    /// The highest log index known committed by a quorum.
    pub commit: Option<u64>,
    /// The highest log index applied to its state.
    pub applied: Option<u64>,
    /// Log entries it is behind the leader's log (the leader's view).
    pub lag: Option<u64>,
}

/// `POST /v1/controllers`: a controller to add to the group (`volley controllers add
/// ID=HOST:PORT`). It must be running with `--join` and answer on its Raft port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddController {
    /// Its node id (`--node-id`), one no voter has.
    pub node: u64,
    /// Its Raft port as the other controllers reach it: `HOST:PORT` (its `--raft`).
    pub raft: String,
}

/// `GET /v1/controllers/state`: what the answering controller's state machine holds, in
/// short: two controllers that applied the same commands give the same digest, so a group's
/// nodes can be compared byte for byte without shipping their states (docs/ha.md#observing-the-group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StateDigest {
    /// The node id of the controller that answered (0 alone).
    pub node: u64,
    /// The index of the last command applied to the state.
    pub applied: u64,
    /// The length of the state's serialized form, the bytes a snapshot stores.
    pub bytes: u64,
    /// SHA-256 of those bytes, in lowercase hex.
    pub sha256: String,
}
