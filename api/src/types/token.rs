//! API tokens: what `volley tokens create | list | revoke` send and read. A token's secret is
//! shown once, in [`TokenCreated`]; the controller keeps only its hash.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a token may do. Each role includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read the tests and runs of the token's project.
    Read,
    /// Also create tests, start, stop and stream runs in the token's project.
    Submit,
    /// Everything: every project, the agents and the tokens.
    Admin,
}

impl Role {
    /// `read`, `submit` or `admin`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Submit => "submit",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "read" => Ok(Role::Read),
            "submit" => Ok(Role::Submit),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}: use read, submit or admin")),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `POST /v1/tokens`: a new token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub role: Role,
    /// The project the token works in (its tests and runs, and the default of what it
    /// submits). Admin tokens see every project; this is only their default.
    #[serde(default)]
    pub project_id: u64,
    /// A label for people (who or what uses the token).
    #[serde(default)]
    pub name: String,
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// The token's id: runs it started or stopped show it as `user_id` / `stopped_by_id`.
    pub id: u64,
    pub name: String,
    pub role: Role,
    pub project_id: u64,
    /// RFC 3339.
    pub created: String,
    /// When it was revoked (RFC 3339); null while it is valid.
    pub revoked: Option<String>,
}

/// The token just created, with its secret: shown this once, stored only as a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    /// Send it as `Authorization: Token <token>` (or `Bearer <token>`).
    pub token: String,
    #[serde(flatten)]
    pub view: TokenView,
}

/// `GET /v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// `DELETE /v1/tokens/{id}` and `GET /v1/tokens/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenEnvelope {
    pub token: TokenView,
}
