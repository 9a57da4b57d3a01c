//! The agents routes: the registered agents with their live telemetry.
//! Each route's `#[utoipa::path]` attribute is its OpenAPI description.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use volley_api::{AgentEnvelope, AgentList, AgentsWanted, ErrorBody, Meta};
use volley_common::text::echo;

use super::extract::{ok, AppState, PathParam};
use super::handlers::{PAGE, PAGE_SIZE};
use super::page::Page;
use super::query::Query;
use super::ApiError;

/// Registered agents with live telemetry
#[utoipa::path(get, path = "/v1/agents", tag = "agents",
    params(
        ("page" = Option<u64>, Query, description = PAGE),
        ("page_size" = Option<u64>, Query, description = PAGE_SIZE),
    ),
    responses(
        (status = 200, description = "One page of the agents, by name.", body = AgentList),
        (status = 400, description = "Unexpected query parameter, bad `page` or `page_size`.", body = ErrorBody),
    ))]
pub(super) async fn list_agents(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut q = Query::parse(raw.as_deref())?;
    let page = Page::take(&mut q)?;
    q.finish(&["page", "page_size"])?;
    let mut agents = app.svc.agents();
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    let listed = page.collect(agents.iter());
    Ok(ok(&AgentList {
        meta: Meta {
            count: listed.count,
        },
        agents: listed.items,
    }))
}

/// How many agents the runs need now
///
/// For autoscalers: agents busy with runs plus what every queued run wants (its VUs at the
/// agents' capacity, at least its `options.volley.agents`), docs/rest-api.md#agents-wanted.
/// Also the `volley_agents_wanted` gauge of `GET /metrics`.
#[utoipa::path(get, path = "/v1/agents/wanted", tag = "agents",
    responses(
        (status = 200, description = "The agents wanted and what they are made of.", body = AgentsWanted),
        (status = 400, description = "Unexpected query parameter.", body = ErrorBody),
    ))]
pub(super) async fn agents_wanted(
    State(app): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?.finish(&[])?;
    let svc = app.svc.clone();
    let wanted = tokio::task::spawn_blocking(move || svc.agents_wanted())
        .await
        .map_err(|e| ApiError::internal(format!("agents wanted: {e}")))?;
    Ok(ok(&wanted))
}

/// One agent
#[utoipa::path(get, path = "/v1/agents/{name}", tag = "agents",
    params(("name" = String, Path, description = "The agent's name (`volley agent --name`).")),
    responses(
        (status = 200, description = "The agent.", body = AgentEnvelope),
        (status = 400, description = "Unexpected query parameter.", body = ErrorBody),
        (status = 404, description = "No such agent.", body = ErrorBody),
    ))]
pub(super) async fn get_agent(
    State(app): State<AppState>,
    PathParam(name): PathParam,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    Query::parse(raw.as_deref())?.finish(&[])?;
    let agent = app.svc.agent(&name).ok_or_else(|| {
        ApiError::not_found(
            "agent_not_found",
            format!(
                "no agent named `{}` is registered; GET /v1/agents lists them",
                echo(&name)
            ),
        )
    })?;
    Ok(ok(&AgentEnvelope { agent }))
}
