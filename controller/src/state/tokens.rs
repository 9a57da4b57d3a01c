//! API tokens as controller state: created and revoked by commands like everything else, so a
//! restarted (or, later, replicated) controller knows the same tokens. Only each token's
//! SHA-256 is kept (see `crate::auth` for why a plain hash is enough); revoked tokens stay
//! listed, with the time, so that a revoked secret cannot be brought back as a bootstrap token.

use serde::{Deserialize, Serialize};
use volley_api::Role;

use super::idempotency::{self, KeyKind};
use super::{canonical_timestamp, next_id, Effect, Prepared, State, StateError};

/// One token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: u64,
    pub name: String,
    pub role: Role,
    pub project_id: u64,
    /// Hex SHA-256 of the secret (64 lower-case hex digits).
    pub sha256: String,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339, once revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

impl TokenRecord {
    pub fn is_active(&self) -> bool {
        self.revoked.is_none()
    }
}

/// What a `CreateToken` asks for.
pub(super) struct NewToken<'a> {
    pub name: &'a str,
    pub role: Role,
    pub project_id: u64,
    pub sha256: &'a str,
    pub at: &'a str,
    /// The client's `Idempotency-Key`, if any.
    pub key: Option<&'a str>,
}

/// The first id of a counter.
pub(super) fn first_id() -> u64 {
    1
}

impl State {
    /// Every token ever created (revoked ones too), by id.
    pub fn tokens(&self) -> impl Iterator<Item = &TokenRecord> + '_ {
        self.tokens.values()
    }

    pub fn token(&self, id: u64) -> Option<&TokenRecord> {
        self.tokens.get(&id)
    }

    pub(super) fn prepare_create_token(
        &self,
        p: &mut Prepared,
        index: u64,
        new: NewToken<'_>,
    ) -> Result<(), StateError> {
        let NewToken {
            name,
            role,
            project_id,
            sha256,
            at,
            key,
        } = new;
        let id = self.next_token_id;
        let invalid = |problem: String| StateError::Invalid {
            subject: format!("token {id}"),
            problem,
        };
        let at = canonical_timestamp("CreateToken.at", at)?;
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                "its hash is not a SHA-256 in hex (64 hex digits)".into(),
            ));
        }
        if let Some(key) = key {
            let request = idempotency::token_request(role.name(), project_id, name);
            match self.key_seen(KeyKind::Token, key, request, &at, index, id)? {
                Ok(token_id) => {
                    p.effect = Effect::TokenReplayed { token_id };
                    return Ok(());
                }
                Err(change) => p.keys = Some(change),
            }
        }
        let sha256 = sha256.to_ascii_lowercase();
        if self.tokens.values().any(|t| t.sha256 == sha256) {
            return Err(invalid(
                "a token with the same secret exists already; generate another secret".into(),
            ));
        }
        if name.chars().count() > 256 || name.chars().any(char::is_control) {
            return Err(invalid(
                "its name must be at most 256 characters without control characters".into(),
            ));
        }
        p.next_token_id = next_id(id, "token")?;
        p.token = Some(TokenRecord {
            id,
            name: name.to_string(),
            role,
            project_id,
            sha256,
            created: at,
            revoked: None,
        });
        p.effect = Effect::TokenCreated { token_id: id };
        Ok(())
    }

    pub(super) fn prepare_revoke_token(
        &self,
        p: &mut Prepared,
        token_id: u64,
        at: &str,
    ) -> Result<(), StateError> {
        let mut token = self
            .tokens
            .get(&token_id)
            .cloned()
            .ok_or(StateError::UnknownToken(token_id))?;
        let at = canonical_timestamp("RevokeToken.at", at)?;
        // Revoking twice keeps the first time: the token stopped working then.
        if token.revoked.is_none() {
            token.revoked = Some(at);
        }
        p.token = Some(token);
        p.effect = Effect::TokenRevoked { token_id };
        Ok(())
    }
}
