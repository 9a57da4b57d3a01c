//! `volley controllers`: the controllers of a Raft group, asked one by one (docs/ha.md): each
//! answers for itself (role, term, commit and applied index), and the leader says how far each
//! follower's log is behind.

use volley_api::client::Client;
use volley_api::{ControllerList, ControllerView};
use volley_common::exit::code;

use crate::cluster::{log_error, DEFAULT_REST};

#[derive(clap::Args)]
pub struct ControllersArgs {
    /// Every controller's REST URL, comma-separated.
    #[arg(long, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
    /// The API token (`volley tokens create`, admin), sent as `Authorization: Token …`.
    #[arg(long, env = "VOLLEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print each controller's answer (`GET /v1/controllers`) as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// One row: what a controller says of itself, and the leader's view of its lag.
fn row(url: &str, own: Option<&ControllerView>, lag: Option<u64>) -> Vec<String> {
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
    match own {
        Some(v) => vec![
            v.node.to_string(),
            v.role.clone(),
            opt(v.term),
            opt(v.commit),
            opt(v.applied),
            opt(lag.or(v.lag)),
            url.to_string(),
        ],
        None => vec![
            "?".into(),
            "unreachable".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            opt(lag),
            url.to_string(),
        ],
    }
}

pub fn controllers(a: ControllersArgs) -> i32 {
    let urls: Vec<&str> = a
        .controller
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect();
    let mut answers: Vec<(&str, Option<ControllerList>)> = Vec::new();
    for url in &urls {
        let client = match Client::new(url) {
            Ok(c) => c.with_token(a.token.clone()),
            Err(e) => {
                log_error(&e.to_string());
                return code::INVALID_CONFIG;
            }
        };
        match client.controllers() {
            Ok(list) => answers.push((url, Some(list))),
            Err(e) => {
                log_error(&format!("{url}: {e}"));
                answers.push((url, None));
            }
        }
    }
    if a.json {
        let docs: Vec<serde_json::Value> = answers
            .iter()
            .map(|(url, l)| serde_json::json!({"url": url, "answer": l}))
            .collect();
        return match serde_json::to_string_pretty(&docs) {
            Ok(s) => {
                println!("{s}");
                0
            }
            Err(e) => {
                log_error(&format!("cannot print the answers as JSON: {e}"));
                code::SYSTEM
            }
        };
    }
    // The leader's view gives each node's lag.
    let leader = answers.iter().filter_map(|(_, l)| l.as_ref()).find(|l| {
        l.controllers
            .iter()
            .any(|c| c.node == l.node && c.role == "leader")
    });
    let lag_of =
        |node: u64| leader.and_then(|l| l.controllers.iter().find(|c| c.node == node)?.lag);
    let mut rows = vec![["NODE", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "URL"]
        .map(String::from)
        .to_vec()];
    for (url, list) in &answers {
        let own = list
            .as_ref()
            .and_then(|l| l.controllers.iter().find(|c| c.node == l.node));
        rows.push(row(url, own, own.and_then(|v| lag_of(v.node))));
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    if answers.iter().all(|(_, l)| l.is_none()) {
        return code::CONTROLLER_LOST;
    }
    0
}
