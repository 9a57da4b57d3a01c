//! The token routes (admin only): create (the answer is the only time a secret is shown),
//! list, and revoke — rotation is create, switch, revoke.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use volley_api::{CreateToken, ErrorBody, Role, TokenCreated, TokenEnvelope, TokenList};

use super::extract::{ok, optional_json, parse_id, AppState, CallerOf, PathParam};
use super::views::schema_fields;
use super::ApiError;
use crate::audit::AUDIT;

/// Create an API token
///
/// The answer holds the token's secret: it is shown this once and stored only as a hash.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens",
    request_body = CreateToken,
    responses(
        (status = 201, description = "The token, with its secret.", body = TokenCreated),
        (status = 400, description = "Invalid body.", body = ErrorBody),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 403, description = "Not an admin token.", body = ErrorBody),
    ))]
pub(super) async fn create(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    req: Request,
) -> Result<Response, ApiError> {
    let mut body = optional_json(req, "token", app.limits.max_body_bytes).await?;
    let role: Option<Role> = body.take("role", "\"read\", \"submit\" or \"admin\"")?;
    let project_id: u64 = body
        .take("project_id", "a non-negative integer")?
        .unwrap_or(0);
    let name: String = body.take("name", "a string")?.unwrap_or_default();
    body.finish(&schema_fields::<CreateToken>())?;
    let role = role.ok_or_else(|| {
        ApiError::bad_request(
            "missing_field",
            "the token's `role` is missing: \"read\", \"submit\" or \"admin\"",
        )
    })?;
    let created = app.svc.create_token(CreateToken {
        role,
        project_id,
        name,
    })?;
    tracing::info!(target: AUDIT, by = caller.user_id(), token = created.view.id, role = %role, project = project_id, "token created");
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// List API tokens
///
/// Every token, revoked ones too; never their secrets.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses(
        (status = 200, description = "The tokens, by id.", body = TokenList),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 403, description = "Not an admin token.", body = ErrorBody),
    ))]
pub(super) async fn list(State(app): State<AppState>) -> Response {
    ok(&TokenList {
        tokens: app.svc.tokens(),
    })
}

/// Revoke an API token
///
/// It stops working at once; it stays listed as revoked.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens",
    params(("id" = u64, Path, description = "The token's id.")),
    responses(
        (status = 200, description = "The revoked token.", body = TokenEnvelope),
        (status = 400, description = "Bad id.", body = ErrorBody),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 403, description = "Not an admin token.", body = ErrorBody),
        (status = 404, description = "No such token.", body = ErrorBody),
    ))]
pub(super) async fn revoke(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    PathParam(raw_id): PathParam,
) -> Result<Response, ApiError> {
    let id = parse_id(&raw_id, "token", "/v1/tokens/2")?;
    let token = app.svc.revoke_token(id)?;
    tracing::info!(target: AUDIT, by = caller.user_id(), token = id, "token revoked");
    Ok(ok(&TokenEnvelope { token }))
}
