//! `GET /v1/controllers`: the controllers' Raft group as this controller sees it: each node's
//! role, and for this one its term, commit and applied index; on the leader, how far each
//! follower's log is behind (docs/ha.md#observing-the-group). On the leader, `POST` adds a
//! controller and `DELETE …/{id}` removes one (docs/ha.md#changing-the-membership); a
//! follower redirects them as every write. `GET /v1/controllers/state`: a digest of this
//! controller's state machine, to compare the nodes of a group.

use axum::extract::{RawQuery, Request, State};
use axum::response::Response;
use volley_api::{AddController, ControllerList, ErrorBody, StateDigest};

use super::extract::{ok, optional_json, parse_id, AppState, CallerOf, PathParam};
use super::query::Query;
use super::views::schema_fields;
use super::ApiError;
use crate::audit::AUDIT;

/// The controllers of the Raft group (Volley)
#[utoipa::path(get, path = "/v1/controllers", tag = "agents",
    responses(
        (status = 200, description = "The answering controller's view of its group; a controller without `--peer` lists only itself.", body = ControllerList),
        (status = 400, description = "Unexpected query parameter.", body = ErrorBody),
    ))]
pub(super) async fn list_controllers(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?.finish(&[])?;
    Ok(ok(&app.svc.controllers()))
}

/// Add a controller to the Raft group (Volley)
///
/// The new controller runs with `--join` and answers on its Raft port; the leader checks that,
/// adds it as a voter (one change at a time) and answers once the change is applied. The new
/// controller then catches up from a snapshot and the log.
#[utoipa::path(post, path = "/v1/controllers", tag = "agents",
    request_body = AddController,
    responses(
        (status = 200, description = "Added: the group as the leader now sees it.", body = ControllerList),
        (status = 307, description = "This controller is a follower: the leader's address is in `Location`.", body = ErrorBody),
        (status = 400, description = "Invalid body.", body = ErrorBody),
        (status = 409, description = "The group cannot make this change (the id is a voter, a change is under way, or no Raft group).", body = ErrorBody),
        (status = 502, description = "The new controller did not answer on its Raft port in time.", body = ErrorBody),
        (status = 504, description = "The change was not committed in time; it may still be applied.", body = ErrorBody),
    ))]
pub(super) async fn add_controller(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    req: Request,
) -> Result<Response, ApiError> {
    let mut body = optional_json(req, "controller", app.limits.max_body_bytes).await?;
    let node: Option<u64> = body.take("node", "the new controller's --node-id, from 1 up")?;
    let raft: Option<String> = body.take("raft", "HOST:PORT of its Raft port")?;
    body.finish(&schema_fields::<AddController>())?;
    let (Some(node), Some(raft)) = (node, raft) else {
        return Err(ApiError::bad_request(
            "missing_field",
            "give `node` (the new controller's --node-id) and `raft` (HOST:PORT of its Raft port)",
        ));
    };
    let list = app.svc.add_controller(node, &raft)?;
    tracing::info!(target: AUDIT, by = caller.user_id(), node, raft = %raft, "controller added to the Raft group");
    Ok(ok(&list))
}

/// Remove a controller from the Raft group (Volley)
///
/// Only a follower can be removed: the leader refuses to remove itself, with the way to do it.
/// The last voter cannot be removed. Stop the removed controller's process afterwards.
#[utoipa::path(delete, path = "/v1/controllers/{id}", tag = "agents",
    params(("id" = u64, Path, description = "The controller's node id.")),
    responses(
        (status = 200, description = "Removed: the group as the leader now sees it.", body = ControllerList),
        (status = 307, description = "This controller is a follower: the leader's address is in `Location`.", body = ErrorBody),
        (status = 400, description = "Bad id.", body = ErrorBody),
        (status = 409, description = "The group cannot make this change (not a voter, the last one, the leader itself, a change under way).", body = ErrorBody),
        (status = 504, description = "The change was not committed in time; it may still be applied.", body = ErrorBody),
    ))]
pub(super) async fn remove_controller(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw_id): PathParam,
) -> Result<Response, ApiError> {
    let id = parse_id(&raw_id, "controller", "/v1/controllers/2")?;
    let list = app.svc.remove_controller(id)?;
    tracing::info!(target: AUDIT, by = caller.user_id(), node = id, "controller removed from the Raft group");
    Ok(ok(&list))
}

/// A digest of this controller's state machine (Volley)
#[utoipa::path(get, path = "/v1/controllers/state", tag = "agents",
    responses(
        (status = 200, description = "The index of the last command applied here and the SHA-256 of the state's serialized form: equal on every node of a group that applied the same commands.", body = StateDigest),
        (status = 400, description = "Unexpected query parameter.", body = ErrorBody),
        (status = 500, description = "The state could not be serialized.", body = ErrorBody),
    ))]
pub(super) async fn state_digest(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?.finish(&[])?;
    let digest = app.svc.state_digest().ok_or_else(|| {
        ApiError::internal("this controller's state could not be serialized (see its log)")
    })?;
    Ok(ok(&digest))
}
