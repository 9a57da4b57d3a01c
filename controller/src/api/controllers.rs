//! `GET /v1/controllers`: the controllers' Raft group as this controller sees it: each node's
//! role, and for this one its term, commit and applied index; on the leader, how far each
//! follower's log is behind (docs/ha.md#observing-the-group).

use axum::extract::{RawQuery, State};
use axum::response::Response;
use volley_api::{ControllerList, ErrorBody};

use super::extract::{ok, AppState};
use super::query::Query;
use super::ApiError;

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
