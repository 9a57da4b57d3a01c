//! `volley tokens create | list | revoke`: an admin's API tokens. `create` prints the new
//! token's secret once (the controller keeps only its hash); rotation is create, switch the
//! clients over, revoke the old one. `create` sends an `Idempotency-Key`, the same on its
//! retries to another controller of the list, so a create whose answer was lost makes one
//! token (docs/ha.md#submits-sent-twice).

use volley_api::client::ClientError;
use volley_api::{CreateToken, Role};
use volley_common::exit::code;

use crate::cluster::{client, log_error, rest_failed, DEFAULT_REST};

/// The error code of a create sent again whose first attempt made the token.
const TOKEN_REPLAYED: &str = "token_already_created";

#[derive(clap::Args)]
pub struct TokensArgs {
    #[command(subcommand)]
    pub command: TokensCommand,
    /// The controller's REST URL (for a Raft group, every controller's, comma-separated).
    #[arg(long, global = true, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
    /// An admin API token, sent as `Authorization: Token …`.
    #[arg(long, global = true, env = "VOLLEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum TokensCommand {
    /// Create a token and print its secret (shown only this once).
    Create {
        /// What it may do: read, submit (create, start, stop runs) or admin (everything).
        #[arg(long)]
        role: Role,
        /// Its project: the only one a read or submit token sees, an admin token's default.
        #[arg(long, default_value_t = 0)]
        project: u64,
        /// A label: who or what uses it.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List the tokens (never their secrets).
    List,
    /// Revoke a token: it stops working at once.
    Revoke {
        /// The token's id (`volley tokens list`).
        id: u64,
    },
}

pub fn tokens(a: TokensArgs) -> i32 {
    let c = match client(&a.controller, &a.token) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match a.command {
        TokensCommand::Create {
            role,
            project,
            name,
        } => match c.create_token_keyed(
            &CreateToken {
                role,
                project_id: project,
                name,
            },
            &crate::submit::idempotency_key(),
        ) {
            Ok(t) => {
                eprintln!(
                    "token {} ({}, project {}) created; its secret is shown only now:",
                    t.view.id, t.view.role, t.view.project_id
                );
                println!("{}", t.token);
                0
            }
            Err(ClientError::Status { status: 409, body }) if replayed(&body).is_some() => {
                log_error(&replayed(&body).unwrap_or_default());
                code::SYSTEM
            }
            Err(e) => rest_failed(e, false),
        },
        TokensCommand::List => match c.tokens() {
            Ok(list) => {
                println!(
                    "{:>4} {:<7} {:>8}  {:<20}  {:<20}  NAME",
                    "ID", "ROLE", "PROJECT", "CREATED", "REVOKED"
                );
                for t in list.tokens {
                    println!(
                        "{:>4} {:<7} {:>8}  {:<20}  {:<20}  {}",
                        t.id,
                        t.role,
                        t.project_id,
                        t.created,
                        t.revoked.as_deref().unwrap_or("-"),
                        t.name
                    );
                }
                0
            }
            Err(e) => rest_failed(e, false),
        },
        TokensCommand::Revoke { id } => match c.revoke_token(id) {
            Ok(t) => {
                println!("token {} revoked", t.token.id);
                0
            }
            Err(e) => {
                log_error(&format!("cannot revoke token {id}"));
                rest_failed(e, false)
            }
        },
    }
}

/// What to tell the user when the controller answered a create sent again `409
/// token_already_created`: the first attempt made the token, and its secret was in the answer
/// that was lost. `None` for any other answer.
fn replayed(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    if v.pointer("/error/code")?.as_str()? != TOKEN_REPLAYED {
        return None;
    }
    let message = v.pointer("/error/message")?.as_str().unwrap_or_default();
    // The controller names the token: "... its first create made token 7, whose secret ...".
    let id = message
        .split("made token ")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|id| !id.is_empty());
    Some(match id {
        Some(id) => format!(
            "token {id} was created by the first attempt of this command, whose answer was lost \
             (its controller went away before answering); its secret was shown only in that \
             answer and cannot be shown again: revoke it (volley tokens revoke {id}) and create \
             another"
        ),
        None => format!(
            "the token was created by the first attempt of this command, whose answer was lost; \
             its secret cannot be shown again: {message}"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::replayed;

    #[test]
    fn a_create_sent_again_names_the_token_its_first_attempt_made() {
        let body = r#"{"error":{"code":"token_already_created","status":409,"message":"this Idempotency-Key was seen: its first create made token 12, whose secret was shown only in that answer and is not kept"}}"#;
        let said = replayed(body).expect("recognized");
        assert!(
            said.starts_with("token 12 was created by the first attempt"),
            "{said}"
        );
        assert!(said.contains("volley tokens revoke 12"), "{said}");
        let other = r#"{"error":{"code":"token_already_created","status":409,"message":"seen"}}"#;
        assert!(replayed(other).expect("recognized").contains("seen"));
        let conflict = r#"{"error":{"code":"membership","status":409,"message":"x"}}"#;
        assert_eq!(replayed(conflict), None);
        assert_eq!(replayed("not json"), None);
    }
}
