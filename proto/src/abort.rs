//! [`AbortReason`] on the wire. The protocol's `AbortReason` message mirrors
//! `volley_common::exit::AbortReason` variant for variant, so that the exit code and run status
//! of a reason are decided in one place (`common`) and the wire only carries it; these
//! conversions are where the two meet.

use thiserror::Error;
use volley_common::exit::AbortReason;

use crate::v1;
use crate::v1::abort_reason::{self as wire, Reason};

/// A protocol `AbortReason` that names no reason (a peer left the `oneof` empty).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the abort reason names no reason")]
pub struct EmptyAbortReason;

impl From<&AbortReason> for v1::AbortReason {
    fn from(r: &AbortReason) -> v1::AbortReason {
        let text = |message: &String| wire::Text {
            message: message.clone(),
        };
        let reason = match r {
            AbortReason::Signal { signal } => Reason::Signal(wire::Signal {
                signal: signal.clone(),
            }),
            AbortReason::ApiStop => Reason::ApiStop(wire::ApiStop {}),
            AbortReason::ScriptAbort {
                message,
                exit_code,
                context,
            } => Reason::ScriptAbort(wire::ScriptAbort {
                message: message.clone(),
                exit_code: *exit_code,
                context_json: context.as_ref().map(|c| c.to_string()),
            }),
            AbortReason::ScriptException { phase, message } => {
                Reason::ScriptException(wire::ScriptException {
                    phase: phase.clone(),
                    message: message.clone(),
                })
            }
            AbortReason::ScriptRejection { phase, message } => {
                Reason::ScriptRejection(wire::ScriptException {
                    phase: phase.clone(),
                    message: message.clone(),
                })
            }
            AbortReason::Threshold { metrics } => Reason::Threshold(wire::Threshold {
                metrics: metrics.clone(),
            }),
            AbortReason::SetupTimeout { seconds } => {
                Reason::SetupTimeout(wire::Timeout { seconds: *seconds })
            }
            AbortReason::TeardownTimeout { seconds } => {
                Reason::TeardownTimeout(wire::Timeout { seconds: *seconds })
            }
            AbortReason::SummaryTimeout { seconds } => {
                Reason::SummaryTimeout(wire::Timeout { seconds: *seconds })
            }
            AbortReason::System { message } => Reason::System(text(message)),
            AbortReason::Limit { limit, message } => Reason::Limit(wire::Limit {
                limit: limit.clone(),
                message: message.clone(),
            }),
            AbortReason::TimedOut { message } => Reason::TimedOut(text(message)),
        };
        v1::AbortReason {
            reason: Some(reason),
        }
    }
}

impl From<AbortReason> for v1::AbortReason {
    fn from(r: AbortReason) -> v1::AbortReason {
        v1::AbortReason::from(&r)
    }
}

impl TryFrom<v1::AbortReason> for AbortReason {
    type Error = EmptyAbortReason;

    /// The reason; a `script_abort` context that is not valid JSON is dropped (it is only
    /// shown, never acted on).
    fn try_from(r: v1::AbortReason) -> Result<AbortReason, EmptyAbortReason> {
        Ok(match r.reason.ok_or(EmptyAbortReason)? {
            Reason::Signal(s) => AbortReason::Signal { signal: s.signal },
            Reason::ApiStop(_) => AbortReason::ApiStop,
            Reason::ScriptAbort(a) => AbortReason::ScriptAbort {
                message: a.message,
                exit_code: a.exit_code,
                context: a.context_json.and_then(|c| serde_json::from_str(&c).ok()),
            },
            Reason::ScriptException(e) => AbortReason::ScriptException {
                phase: e.phase,
                message: e.message,
            },
            Reason::ScriptRejection(e) => AbortReason::ScriptRejection {
                phase: e.phase,
                message: e.message,
            },
            Reason::Threshold(t) => AbortReason::Threshold { metrics: t.metrics },
            Reason::SetupTimeout(t) => AbortReason::SetupTimeout { seconds: t.seconds },
            Reason::TeardownTimeout(t) => AbortReason::TeardownTimeout { seconds: t.seconds },
            Reason::SummaryTimeout(t) => AbortReason::SummaryTimeout { seconds: t.seconds },
            Reason::System(t) => AbortReason::System { message: t.message },
            Reason::Limit(l) => AbortReason::Limit {
                limit: l.limit,
                message: l.message,
            },
            Reason::TimedOut(t) => AbortReason::TimedOut { message: t.message },
        })
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use serde_json::json;

    use super::*;

    /// Every variant survives a trip over the wire (encoded bytes included) unchanged.
    #[test]
    fn every_reason_round_trips() {
        let reasons = [
            AbortReason::Signal {
                signal: "interrupt".into(),
            },
            AbortReason::ApiStop,
            AbortReason::ScriptAbort {
                message: None,
                exit_code: None,
                context: None,
            },
            AbortReason::ScriptAbort {
                message: Some("backend is down".into()),
                exit_code: Some(42),
                context: Some(json!({"status": 400, "tags": ["a"]})),
            },
            AbortReason::ScriptAbort {
                message: Some(String::new()),
                exit_code: Some(0),
                context: Some(json!(null)),
            },
            AbortReason::ScriptException {
                phase: "setup".into(),
                message: "Error: no token".into(),
            },
            AbortReason::ScriptRejection {
                phase: "teardown".into(),
                message: "Uncaught (in promise) Error: boom".into(),
            },
            AbortReason::Threshold {
                metrics: vec!["http_req_duration".into(), "checks".into()],
            },
            AbortReason::SetupTimeout { seconds: 60.0 },
            AbortReason::TeardownTimeout { seconds: 0.5 },
            AbortReason::SummaryTimeout { seconds: 120.0 },
            AbortReason::System {
                message: "AGENT_LOST: gen-2".into(),
            },
            AbortReason::Limit {
                limit: "max_groups".into(),
                message: "41 > 40".into(),
            },
            AbortReason::TimedOut {
                message: "no data".into(),
            },
        ];
        for r in reasons {
            let bytes = v1::AbortReason::from(&r).encode_to_vec();
            let decoded = v1::AbortReason::decode(bytes.as_slice());
            let back = decoded
                .map_err(|e| e.to_string())
                .and_then(|w| AbortReason::try_from(w).map_err(|e| e.to_string()));
            assert_eq!(back, Ok(r.clone()), "{r:?}");
        }
    }

    #[test]
    fn an_empty_reason_is_an_error() {
        assert_eq!(
            AbortReason::try_from(v1::AbortReason::default()),
            Err(EmptyAbortReason)
        );
    }
}
