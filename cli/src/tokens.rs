//! `volley tokens create | list | revoke`: an admin's API tokens. `create` prints the new
//! token's secret once (the controller keeps only its hash); rotation is create, switch the
//! clients over, revoke the old one.

use volley_api::{CreateToken, Role};

use crate::cluster::{client, log_error, rest_failed, DEFAULT_REST};

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
        } => match c.create_token(&CreateToken {
            role,
            project_id: project,
            name,
        }) {
            Ok(t) => {
                eprintln!(
                    "token {} ({}, project {}) created; its secret is shown only now:",
                    t.view.id, t.view.role, t.view.project_id
                );
                println!("{}", t.token);
                0
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
