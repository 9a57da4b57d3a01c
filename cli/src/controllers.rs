//! `volley controllers`: the controllers of a Raft group, asked one by one (docs/ha.md): each
//! answers for itself (role, term, commit and applied index), and the leader says how far each
//! follower's log is behind. `add ID=HOST:PORT` and `remove ID` change the group's membership
//! through its leader (docs/ha.md#changing-the-membership).

use volley_api::client::Client;
use volley_api::{AddController, ControllerList, ControllerView};
use volley_common::exit::code;

use crate::cluster::{client, log_error, rest_failed, DEFAULT_REST};

#[derive(clap::Args)]
pub struct ControllersArgs {
    #[command(subcommand)]
    pub command: Option<ControllersCommand>,
    /// Every controller's REST URL, comma-separated.
    #[arg(long, global = true, env = "VOLLEY_CONTROLLER", default_value = DEFAULT_REST)]
    pub controller: String,
    /// The API token (`volley tokens create`, admin), sent as `Authorization: Token …`.
    #[arg(long, global = true, env = "VOLLEY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print each controller's answer (`GET /v1/controllers`) as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Subcommand)]
pub enum ControllersCommand {
    /// Add a controller to the group: ID=HOST:PORT of its Raft port. Start it first with
    /// `volley controller --node-id ID --raft HOST:PORT --join --peer …` (the current members).
    Add {
        /// ID=HOST:PORT: the new controller's --node-id and its Raft port as the others reach it.
        #[arg(value_name = "ID=HOST:PORT")]
        node: String,
    },
    /// Remove a controller (not the leader) from the group; stop its process afterwards.
    Remove {
        /// The controller's node id.
        id: u64,
    },
}

/// `add` or `remove` through the leader; prints the group as the leader then sees it.
fn change(a: &ControllersArgs, cmd: &ControllersCommand) -> i32 {
    let c = match client(&a.controller, &a.token) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (what, answer) = match cmd {
        ControllersCommand::Add { node } => {
            let parsed = node.split_once('=').and_then(|(id, raft)| {
                let id = id.trim().parse::<u64>().ok().filter(|&id| id > 0)?;
                let raft = raft.trim();
                (!raft.is_empty()).then(|| (id, raft.to_string()))
            });
            let Some((id, raft)) = parsed else {
                log_error(&format!(
                    "invalid controller {node:?}: give ID=HOST:PORT, e.g. 4=10.0.0.4:6567 (its --node-id and --raft)"
                ));
                return code::INVALID_CONFIG;
            };
            let body = AddController { node: id, raft };
            (format!("node {id} added"), c.add_controller(&body))
        }
        ControllersCommand::Remove { id } => (
            format!("node {id} removed; stop its process now"),
            c.remove_controller(*id),
        ),
    };
    match answer {
        Ok(list) => {
            let voters: Vec<String> = list
                .controllers
                .iter()
                .map(|c| c.node.to_string())
                .collect();
            println!("{what}: the group's voters are now {}", voters.join(", "));
            0
        }
        Err(e) => rest_failed(e, false),
    }
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
    if let Some(cmd) = &a.command {
        return change(&a, cmd);
    }
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
