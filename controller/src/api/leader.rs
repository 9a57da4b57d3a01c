//! Writes go to the Raft leader: on a follower, every state-changing request is answered
//! `307 Temporary Redirect` to the same path on the leader's REST API (which resends the body:
//! the method and body are kept by 307), or `503` with `Retry-After` while no leader is known.
//! Reads are served from the follower's own state, which may be behind the leader's
//! (docs/ha.md#followers-redirect-writes-they-do-not-forward-them). A controller without Raft
//! always leads, so nothing changes for it.
//!
//! Every answer of a group member names the leader it knows ([`LEADER_HEADER`], with the term
//! in [`TERM_HEADER`]), so a client that follows a run sees a leader change on its next
//! request, whichever controller answers it (docs/ha.md#clients-a-list-of-controllers).

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::extract::AppState;
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
    if let Some((leader, term)) = leader {
        let headers = resp.headers_mut();
        headers.insert(LEADER_HEADER, HeaderValue::from(leader));
        headers.insert(TERM_HEADER, HeaderValue::from(term));
    }
    resp
}

/// Reads to the handler; writes to the handler on the leader, else a redirect or a 503.
async fn route(state: &AppState, req: Request, next: Next) -> Response {
    let read = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if read || LOCAL_WRITES.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    match state.svc.leadership() {
        Leadership::Here => next.run(req).await,
        Leadership::Elsewhere { id, api: Some(api) } => {
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
