//! The token routes (admin only): create (the answer is the only time a secret is shown),
//! list, and revoke — rotation is create, switch, revoke.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use volley_api::{CreateToken, ErrorBody, Role, TokenCreated, TokenEnvelope, TokenList};

use super::extract::{ok, optional_json, parse_id, AppState, CallerOf, PathParam};
use super::handlers::{idempotency_key, mark_replayed, IDEMPOTENCY_KEY};
use super::views::schema_fields;
use super::ApiError;
use crate::audit::AUDIT;
use crate::auth::tokens::TOKEN_REPLAYED;

/// Create an API token
///
/// The answer holds the token's secret: it is shown this once and stored only as a hash. Sent
/// again with the same `Idempotency-Key`, the create makes no second token: its answer (409
/// `token_already_created`, with `Idempotent-Replayed: true`) names the first one's token,
/// whose secret cannot be shown again.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens",
    params(("Idempotency-Key" = Option<String>, Header, description = IDEMPOTENCY_KEY)),
    request_body = CreateToken,
    responses(
        (status = 201, description = "The token, with its secret.", body = TokenCreated),
        (status = 400, description = "Invalid body, malformed `Idempotency-Key`.", body = ErrorBody),
        (status = 401, description = "No valid token.", body = ErrorBody),
        (status = 403, description = "Not an admin token.", body = ErrorBody),
        (status = 409, description = "The `Idempotency-Key` was seen (`token_already_created`, with `Idempotent-Replayed: true`): the first create made the token the message names; its secret was shown only in that answer. Revoke it if the secret was lost.", body = ErrorBody,
            headers(("Idempotent-Replayed" = String, description = "`true`."))),
        (status = 422, description = "The `Idempotency-Key` was sent with another request (`idempotency_key_reused`).", body = ErrorBody),
    ))]
pub(super) async fn create(
    State(app): State<AppState>,
    CallerOf(caller): CallerOf,
    req: Request,
) -> Result<Response, ApiError> {
    let key = idempotency_key(req.headers())?;
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
    let request = CreateToken {
        role,
        project_id,
        name,
    };
    let created = match app.svc.create_token(request, key) {
        Ok(created) => created,
        Err(e) if e.code == TOKEN_REPLAYED => {
            tracing::info!(target: AUDIT, by = caller.user_id(), "token create replayed (idempotency key seen)");
            let mut resp = ApiError::from(e).into_response();
            mark_replayed(&mut resp, true);
            return Ok(resp);
        }
        Err(e) => return Err(e.into()),
    };
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
