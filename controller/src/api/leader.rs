//! Writes go to the Raft leader: on a follower, every state-changing request is forwarded to
//! the leader ([`super::forward`]), once this node's guard let it in, and the leader's answer
//! passed back; with `--follower-writes redirect` (or when the leader's `https://` API cannot
//! be trusted without `--raft-ca`) it is answered `307 Temporary Redirect` to the same path on
//! the leader's REST API instead. While no leader is known a write gets `503` with
//! `Retry-After`. Reads are served from the follower's own state, which may be behind the
//! leader's, except the live views of runs and agents ([`LEADER_READS`]), which only the
//! leader has and which are forwarded too (docs/ha.md#followers-forward-writes-to-the-leader).
//! A controller without Raft always leads, so nothing changes for it.
//!
//! Every answer of a group member names the leader it knows ([`LEADER_HEADER`], with the term
//! in [`TERM_HEADER`]), so a client that follows a run sees a leader change on its next
//! request, whichever controller answers it (docs/ha.md#clients-a-list-of-controllers).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::extract::AppState;
use super::forward::{ForwardTo, FORWARDED_BY_HEADER};
use super::ApiError;
use crate::store::Leadership;

/// Seconds a client waits before retrying while the controllers elect a leader.
const RETRY_AFTER_ELECTION_SECS: u32 = 1;

/// The node id of the Raft leader the answering controller knows (absent while none is known,
/// and on a controller without Raft).
pub const LEADER_HEADER: &str = "volley-raft-leader";
/// The Raft term of the answering controller, next to [`LEADER_HEADER`].
pub const TERM_HEADER: &str = "volley-raft-term";

/// Routes that change nothing although they are POSTs: any controller answers them.
const LOCAL_WRITES: &[&str] = &["/v1/validate-options"];

/// Reads of what only the leader holds: the agents (they link to the leader alone) and the
/// live data of running runs (the leader merges them). A follower forwards them.
pub(super) const LEADER_READS: &[&str] = &[
    "/v1/agents",
    "/v1/agents/wanted",
    "/v1/agents/{name}",
    "/v1/live/runs",
    "/v1/live/runs/{id}",
    "/v1/live/agents",
    "/v1/runs/{id}/agents",
    "/v1/runs/{id}/metrics",
    "/v1/test-runs/{id}/report",
];

/// The middleware: lets reads through, and writes only on the leader; names the leader in
/// every answer.
pub(super) async fn writes_to_leader(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let leader = state
        .svc
        .raft_status()
        .map(|s| (s.node.leader, s.node.term))
        .filter(|(leader, _)| *leader != 0);
    let mut resp = route(&state, req, next).await;
    let headers = resp.headers_mut();
    // A forwarded answer names the leader as the leader itself sees it.
    if let Some((leader, term)) = leader.filter(|_| !headers.contains_key(LEADER_HEADER)) {
        headers.insert(LEADER_HEADER, HeaderValue::from(leader));
        headers.insert(TERM_HEADER, HeaderValue::from(term));
    }
    resp
}

/// Reads to the handler; writes (and [`LEADER_READS`]) to the handler on the leader, else
/// forwarded, redirected or answered 503.
async fn route(state: &AppState, mut req: Request, next: Next) -> Response {
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let live = read
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| LEADER_READS.contains(&p.as_str()));
    if (read && !live) || LOCAL_WRITES.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let leadership = state.svc.leadership();
    if leadership != Leadership::Here && req.headers().contains_key(FORWARDED_BY_HEADER) {
        // Forwarded by a node that took this one for the leader: the two disagree for a
        // moment (a leader change); never pass it on again.
        return no_leader(
            "this controller was sent a forwarded request but is not the Raft leader: the \
             controllers are changing leaders; retry shortly",
        );
    }
    match leadership {
        Leadership::Here => next.run(req).await,
        Leadership::Elsewhere { id, api: Some(api) } => {
            if let Some(via) = state.svc.forwarder().filter(|f| f.reaches(&api)) {
                // Through this node's guard first (tokens, browser checks, its back-off per
                // client), then to the leader (`super::forward::to_leader`).
                req.extensions_mut().insert(ForwardTo {
                    leader: id,
                    api,
                    via,
                });
                return next.run(req).await;
            }
            if live {
                // Without forwarding, a follower shows what it has (nothing live).
                return next.run(req).await;
            }
            let target = format!(
                "{}{}",
                api.trim_end_matches('/'),
                req.uri().path_and_query().map_or("/", |p| p.as_str())
            );
            let message = format!(
                "this controller is a follower; node {id} is the Raft leader and takes writes: \
                 send them to {api}"
            );
            let mut resp = ApiError::new(StatusCode::TEMPORARY_REDIRECT, "not_leader", message)
                .into_response();
            match HeaderValue::from_str(&target) {
                Ok(v) => {
                    resp.headers_mut().insert(header::LOCATION, v);
                    resp
                }
                Err(_) => no_leader(&format!(
                    "node {id} leads but advertised an unusable API address; retry on it directly"
                )),
            }
        }
        _ if live => next.run(req).await,
        Leadership::Elsewhere { id, api: None } => no_leader(&format!(
            "node {id} is the Raft leader but has not told this controller its API address yet; \
             retry shortly"
        )),
        Leadership::Unknown => {
            no_leader("no Raft leader yet: the controllers are electing one; retry shortly")
        }
    }
}

fn no_leader(message: &str) -> Response {
    let mut resp =
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "no_leader", message).into_response();
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(RETRY_AFTER_ELECTION_SECS),
    );
    resp
}
