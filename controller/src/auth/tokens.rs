//! Tokens in the store: create, list, revoke through commands, the bootstrap admin token of a
//! first start, and which project a submitted script asks for.

use volley_api::{CreateToken, Role, TokenCreated, TokenView};

use super::{generate_secret, sha256_hex, Caller};
use crate::service_error::ServiceError;
use crate::state::{Command, Effect, TokenRecord};
use crate::store::Db;

pub fn view(t: &TokenRecord) -> TokenView {
    TokenView {
        id: t.id,
        name: t.name.clone(),
        role: t.role,
        project_id: t.project_id,
        created: t.created.clone(),
        revoked: t.revoked.clone(),
    }
}

fn store_failed(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::new(
        503,
        "storage_unavailable",
        format!("the controller's store failed: {e}"),
    )
}

/// The error code of a token create sent again under an `Idempotency-Key` already seen (409):
/// the first create made the token, and its secret, shown only in that answer, is not kept
/// (docs/rest-api.md#idempotency-keys).
pub const TOKEN_REPLAYED: &str = "token_already_created";

/// Creates a token with a new random secret; the answer is the only place the secret appears.
/// Under a `key` seen before nothing is created, and the answer names the first one's token.
pub fn create(
    db: &Db,
    req: CreateToken,
    key: Option<String>,
) -> Result<TokenCreated, ServiceError> {
    let secret = generate_secret()
        .map_err(|e| ServiceError::internal(format!("no randomness for a token: {e}")))?;
    match insert(db, &secret, req.role, req.project_id, &req.name, key)? {
        Ok(record) => Ok(TokenCreated {
            token: secret,
            view: view(&record),
        }),
        Err(id) => Err(ServiceError::conflict(
            TOKEN_REPLAYED,
            format!(
                "this Idempotency-Key was seen: its first create made token {id}, whose secret \
                 was shown only in that answer and is not kept; if it was lost, revoke token \
                 {id} (DELETE /v1/tokens/{id}) and create another with a new key"
            ),
        )),
    }
}

/// Stores a token: the new record, or `Err(id)` of the token a create with the same `key`
/// made before.
fn insert(
    db: &Db,
    secret: &str,
    role: Role,
    project_id: u64,
    name: &str,
    key: Option<String>,
) -> Result<Result<TokenRecord, u64>, ServiceError> {
    let applied = db
        .execute(Command::CreateToken {
            name: name.to_string(),
            role,
            project_id,
            sha256: sha256_hex(secret),
            at: crate::state::timestamp::now_rfc3339(),
            idempotency_key: key,
        })
        .map_err(|e| match e.rejection() {
            Some(r @ crate::state::StateError::KeyReused { .. }) => {
                ServiceError::new(422, "idempotency_key_reused", r.to_string())
            }
            Some(r) => ServiceError::bad_request("invalid_token", r.to_string()),
            None => store_failed(e),
        })?;
    let token_id = match applied.effect {
        Effect::TokenCreated { token_id } => token_id,
        Effect::TokenReplayed { token_id } => return Ok(Err(token_id)),
        _ => return Err(store_failed("unexpected effect")),
    };
    db.read(|s| s.token(token_id).cloned())
        .map(Ok)
        .ok_or_else(|| store_failed("token vanished"))
}

pub fn list(db: &Db) -> Vec<TokenView> {
    db.read(|s| s.tokens().map(view).collect())
}

pub fn revoke(db: &Db, id: u64) -> Result<TokenView, ServiceError> {
    db.execute(Command::RevokeToken {
        token_id: id,
        at: crate::state::timestamp::now_rfc3339(),
    })
    .map_err(|e| match e.rejection() {
        Some(_) => ServiceError::not_found(
            "token_not_found",
            format!("no token with id {id}; GET /v1/tokens lists them"),
        ),
        None => store_failed(e),
    })?;
    db.read(|s| s.token(id).map(view))
        .ok_or_else(|| store_failed("token vanished"))
}

/// What [`bootstrap`] did with the configured admin token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// It was stored as a new admin token with this id.
    Created(u64),
    /// It is already a valid token with this id.
    Known(u64),
    /// It was revoked: it is not brought back.
    Revoked(u64),
    /// Admin tokens exist already: a new secret is not added behind their back.
    Ignored,
}

/// Stores the configured admin secret as an admin token on first start — or whenever no valid
/// admin token is left (to recover from losing them all). A revoked secret is never restored.
pub fn bootstrap(db: &Db, secret: &str) -> Result<Bootstrap, ServiceError> {
    let hash = sha256_hex(secret);
    let (known, any_admin) = db.read(|s| {
        let known = s.tokens().find(|t| t.sha256 == hash).cloned();
        let any_admin = s.tokens().any(|t| t.is_active() && t.role == Role::Admin);
        (known, any_admin)
    });
    Ok(match known {
        Some(t) if t.is_active() => Bootstrap::Known(t.id),
        Some(t) => Bootstrap::Revoked(t.id),
        None if any_admin => Bootstrap::Ignored,
        None => match insert(db, secret, Role::Admin, 0, "bootstrap admin", None)? {
            Ok(record) => Bootstrap::Created(record.id),
            Err(id) => Bootstrap::Known(id),
        },
    })
}

/// The project a script's options ask for: `cloud.projectID` (k6's), or the older
/// `ext.loadimpact.projectID`; a number or a numeric string.
pub fn project_of_options(options: &serde_json::Value) -> Result<Option<u64>, String> {
    let v = options
        .pointer("/cloud/projectID")
        .or_else(|| options.pointer("/ext/loadimpact/projectID"));
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            format!("options.cloud.projectID must be a non-negative integer, got {n}")
        }),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| {
            format!("options.cloud.projectID must be a non-negative integer, got {s:?}")
        }),
        Some(other) => Err(format!(
            "options.cloud.projectID must be a non-negative integer, got {other}"
        )),
    }
}

/// The project of a new test: the request's `project_id`, else the script's, else the
/// caller's; refused (403) when the caller does not work in it.
pub fn choose_project(
    explicit: Option<u64>,
    options: &serde_json::Value,
    caller: &Caller,
) -> Result<u64, ServiceError> {
    let script =
        project_of_options(options).map_err(|e| ServiceError::bad_request("invalid_options", e))?;
    let (project, from) = match (explicit, script) {
        (Some(p), _) => (p, "the request's project_id"),
        (None, Some(p)) => (p, "the script's options.cloud.projectID"),
        (None, None) => (caller.project_id, "the token's project"),
    };
    if !caller.sees(project) {
        return Err(ServiceError::new(
            403,
            "project_forbidden",
            format!(
                "this token works in project {} only; the test asks for project {project} ({from})",
                caller.project_id
            ),
        ));
    }
    Ok(project)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn submitter(project: u64) -> Caller {
        Caller {
            token_id: Some(4),
            role: Role::Submit,
            project_id: project,
        }
    }

    #[test]
    fn the_project_comes_from_the_request_the_script_or_the_token() {
        let c = submitter(7);
        assert_eq!(choose_project(None, &json!({}), &c).unwrap(), 7);
        assert_eq!(
            choose_project(None, &json!({"cloud": {"projectID": 7}}), &c).unwrap(),
            7
        );
        assert_eq!(
            choose_project(None, &json!({"cloud": {"projectID": 8}}), &c)
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            choose_project(Some(9), &json!({}), &c).unwrap_err().status,
            403
        );
        let admin = Caller::open();
        assert_eq!(
            choose_project(
                None,
                &json!({"ext": {"loadimpact": {"projectID": "12"}}}),
                &admin
            )
            .unwrap(),
            12
        );
        assert_eq!(
            choose_project(None, &json!({"cloud": {"projectID": -1}}), &admin)
                .unwrap_err()
                .status,
            400
        );
    }
}
