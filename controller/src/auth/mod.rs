//! Who may use the controller's REST API, and for what.
//!
//! A caller presents an API token (`Authorization: Token <secret>`, as k6 Cloud's API takes it,
//! or `Bearer <secret>`). A token has a **role** — `read`, `submit` or `admin`, each including
//! the ones before — and a **project**: every test and run belongs to one project, and a `read`
//! or `submit` token sees only its own (other projects' tests and runs answer 404, as if they
//! did not exist); an `admin` token sees every project and manages agents and tokens.
//!
//! Secrets are 256 random bits, generated here, shown once and stored only as their SHA-256.
//! A slow password hash (argon2, bcrypt) protects low-entropy secrets chosen by people; for a
//! random 256-bit secret a preimage search is hopeless anyway, and a fast hash keeps the check
//! on every request cheap. Presented secrets are hashed and compared with every stored hash in
//! constant time ([`subtle`]), so timing says nothing about how close a guess was; failed
//! attempts are logged and slowed down per peer ([`backoff`]).
//!
//! With no token at all (no `VOLLEY_ADMIN_TOKEN` / `--admin-token-file`, none created), the
//! API is open: every caller is an admin. The controller then refuses to listen on anything but
//! loopback unless started with `--insecure` (see `crate::server`), so an open API is reachable
//! only from the same host. Once a token exists, authentication stays on for good.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use volley_api::Role;

use crate::state::TokenRecord;

pub mod backoff;
pub mod stream_keys;
pub mod tokens;

/// The prefix of every secret, so that secret scanners and people recognise one.
pub const SECRET_PREFIX: &str = "volley_";

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's id; `None` on an open API (no tokens configured).
    pub token_id: Option<u64>,
    pub role: Role,
    /// The token's project: the only one a `read` or `submit` token sees, an admin's default.
    pub project_id: u64,
}

impl Caller {
    /// Every caller of an open API (no tokens configured): an admin of the default project.
    pub fn open() -> Caller {
        Caller {
            token_id: None,
            role: Role::Admin,
            project_id: 0,
        }
    }

    pub fn from_token(t: &TokenRecord) -> Caller {
        Caller {
            token_id: Some(t.id),
            role: t.role,
            project_id: t.project_id,
        }
    }

    /// Whether the caller's role includes `role`.
    pub fn has(&self, role: Role) -> bool {
        self.role >= role
    }

    /// Whether the caller sees the tests and runs of `project`.
    pub fn sees(&self, project: u64) -> bool {
        self.role == Role::Admin || project == self.project_id
    }

    /// Recorded as a run's `user_id` and `stopped_by_id`: the token's id, 0 on an open API.
    pub fn user_id(&self) -> u64 {
        self.token_id.unwrap_or(0)
    }
}

/// A new random secret: the prefix and 64 hex digits (256 bits from the OS).
pub fn generate_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{SECRET_PREFIX}{}", hex(&bytes)))
}

/// The hex SHA-256 of a secret, as stored.
pub fn sha256_hex(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The token whose hash matches `secret`, revoked or not. Every stored hash is compared, in
/// constant time, whatever matches.
pub fn find<'a>(
    tokens: impl Iterator<Item = &'a TokenRecord>,
    secret: &str,
) -> Option<&'a TokenRecord> {
    let presented = sha256_hex(secret);
    let mut found = None;
    for t in tokens {
        if bool::from(t.sha256.as_bytes().ct_eq(presented.as_bytes())) {
            found = Some(t);
        }
    }
    found
}

/// Why a request's credentials were not accepted (the API answers 401 with the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "this controller requires an API token: send `Authorization: Token <token>` (volley: \
         --token or VOLLEY_TOKEN); an admin creates tokens with `volley tokens create`"
    )]
    Missing,
    #[error(
        "the Authorization header must be `Token <token>` or `Bearer <token>` (one header, \
         one token)"
    )]
    Malformed,
    #[error("the API token is not valid")]
    Unknown,
    #[error("the API token {0} was revoked; ask an admin for a new one")]
    Revoked(u64),
}

/// The secret in an `Authorization` header value: `Token <secret>` or `Bearer <secret>` (the
/// scheme in any case).
pub fn parse_authorization(value: &[u8]) -> Result<&str, AuthError> {
    let value = std::str::from_utf8(value).map_err(|_| AuthError::Malformed)?;
    let (scheme, secret) = value.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    let secret = secret.trim();
    if !(scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer"))
        || secret.is_empty()
        || secret.contains(char::is_whitespace)
    {
        return Err(AuthError::Malformed);
    }
    Ok(secret)
}

/// Checks a presented secret against the stored tokens.
pub fn authenticate<'a>(
    tokens: impl Iterator<Item = &'a TokenRecord>,
    secret: &str,
) -> Result<Caller, AuthError> {
    match find(tokens, secret) {
        Some(t) if t.is_active() => Ok(Caller::from_token(t)),
        Some(t) => Err(AuthError::Revoked(t.id)),
        None => Err(AuthError::Unknown),
    }
}

#[cfg(test)]
mod tests;
