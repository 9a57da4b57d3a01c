//! What the harness asks the controller's REST API besides the poller's totals (`probe`): the
//! tests it submits, a run's final status, and the checkpoints' counters of `GET /metrics`.

use anyhow::{Context, Result};
use base64::Engine as _;
use volley_api::client::Client;

/// A test whose options ask for `agents` agents with one VU each for `duration` seconds.
pub fn create_test(client: &Client, agents: usize, duration: u64) -> Result<u64> {
    create_test_of(client, agents, duration, "export default function () {}\n")
}

/// [`create_test`] with `script` as its entry.
pub fn create_test_of(client: &Client, agents: usize, duration: u64, script: &str) -> Result<u64> {
    create_test_vus(client, agents, agents as u64, duration, script)
}

/// [`create_test_of`] with `vus` VUs over the agents.
pub fn create_test_vus(
    client: &Client,
    agents: usize,
    vus: u64,
    duration: u64,
    script: &str,
) -> Result<u64> {
    use volley_common::archive::{Archive, Metadata, FORMAT_VERSION};
    let entry = "scale.js".to_string();
    let options = serde_json::json!({
        "vus": vus,
        "duration": format!("{duration}s"),
        "volley": {"agents": agents},
    });
    let archive = Archive {
        metadata: Metadata {
            format_version: FORMAT_VERSION,
            volley_version: env!("CARGO_PKG_VERSION").to_string(),
            entry: entry.clone(),
            options,
            env: Default::default(),
            modules: vec![entry.clone()],
            created: volley_common::time::now_rfc3339(),
            remote_modules: Default::default(),
        },
        files: [(entry, script.as_bytes().to_vec())].into_iter().collect(),
    };
    let tar = archive.to_tar().context("building the test archive")?;
    let test = client.create_test(&volley_api::CreateTestJson {
        name: format!("controller-scale {agents} agents"),
        project_id: None,
        k6_archive: base64::engine::general_purpose::STANDARD.encode(tar),
    })?;
    Ok(test.test.id)
}

/// The status of run `id` (`FINISHED`, `ABORTED_BY_SYSTEM`, …) once it has ended. Alone on
/// its controller (`alone`), from `GET /metrics`, a lighter read than the run's record; with
/// the submits' runs beside it, from its record.
pub fn final_status(client: &Client, id: u64, alone: bool) -> Result<Option<String>> {
    if alone {
        return only_run_status(client);
    }
    let status = client.run(id)?.run_status;
    if !status.is_terminal() {
        return Ok(None);
    }
    Ok(Some(screaming_snake(&format!("{status:?}"))))
}

/// `AbortedBySystem` → `ABORTED_BY_SYSTEM`, as the API's documentation names the statuses.
fn screaming_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The status of the one run this controller has (from `GET /metrics`), once it has ended.
fn only_run_status(client: &Client) -> Result<Option<String>> {
    let text = client.request("GET", "/metrics", None)?;
    Ok(ended_run(&String::from_utf8_lossy(&text.body)))
}

/// The status of the ended run that `volley_runs{status="…"}` of a `/metrics` document counts.
fn ended_run(metrics: &str) -> Option<String> {
    const LIVE: [&str; 5] = ["created", "validated", "queued", "initializing", "running"];
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("volley_runs{status=\"") else {
            continue;
        };
        let Some((status, count)) = rest.split_once("\"} ") else {
            continue;
        };
        if count.trim() != "0" && !LIVE.contains(&status) {
            return Some(status.to_ascii_uppercase());
        }
    }
    None
}

/// The checkpoints written so far by a controller (its `GET /metrics`): bytes, count,
/// seconds spent writing them, and seconds they held their runs' tasks (the write runs beside
/// the task: docs/failures.md#controller-restart-and-resume).
pub fn checkpoints(client: &Client) -> Result<(f64, f64, f64, f64)> {
    let text = client.request("GET", "/metrics", None)?;
    let text = String::from_utf8_lossy(&text.body).to_string();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok((
        value("volley_checkpoint_size_bytes_sum"),
        value("volley_checkpoint_size_bytes_count"),
        value("volley_checkpoint_duration_seconds_sum"),
        value("volley_checkpoint_task_seconds_total"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_named_as_the_api_documents_them() {
        assert_eq!(screaming_snake("AbortedBySystem"), "ABORTED_BY_SYSTEM");
        assert_eq!(screaming_snake("Finished"), "FINISHED");
    }

    #[test]
    fn the_ended_run_is_the_one_status_counted_that_is_not_live() {
        let running = "volley_runs{status=\"running\"} 1\nvolley_runs{status=\"finished\"} 0\n";
        assert_eq!(ended_run(running), None);
        let ended = "# HELP volley_runs runs\nvolley_runs{status=\"running\"} 0\nvolley_runs{status=\"aborted_by_system\"} 1\n";
        assert_eq!(ended_run(ended).as_deref(), Some("ABORTED_BY_SYSTEM"));
    }
}
