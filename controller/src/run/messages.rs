//! The messages the run machine sends to agents, and the abort reasons agents report, in the
//! protocol's shapes.

use volley_common::exit::AbortReason;
use volley_proto as pb;

use pb::controller_message::Body;

/// Wraps a body in a message of the current protocol version.
pub fn envelope(body: Body) -> pb::ControllerMessage {
    pb::ControllerMessage {
        version: pb::PROTOCOL_VERSION,
        body: Some(body),
    }
}

/// Stops an agent's part of a run (`immediate`: skip teardown and interrupt iterations).
pub fn stop(run_id: u64, reason: Option<&AbortReason>, immediate: bool) -> Body {
    Body::Stop(pb::Stop {
        run_id,
        reason: reason.map(pb::AbortReason::from),
        immediate,
    })
}

/// Acknowledges an agent's metric batches up to `seq`.
pub fn ack(run_id: u64, seq: u64) -> Body {
    Body::Ack(pb::Ack {
        run_id,
        batch_seq: seq,
    })
}

/// An abort reason an agent reported (None: none); `fallback` when it is empty.
pub fn reported_reason(
    wire: Option<pb::AbortReason>,
    fallback: impl FnOnce() -> String,
) -> Option<AbortReason> {
    let wire = wire?;
    Some(
        AbortReason::try_from(wire).unwrap_or_else(|_| AbortReason::System {
            message: fallback(),
        }),
    )
}

/// The abort reason of a failed setup() (missing or empty: `fallback`).
pub fn setup_failure(
    wire: Option<pb::AbortReason>,
    fallback: impl FnOnce() -> String,
) -> AbortReason {
    wire.and_then(|w| AbortReason::try_from(w).ok())
        .unwrap_or_else(|| AbortReason::System {
            message: fallback(),
        })
}
