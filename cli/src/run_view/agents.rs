//! `volley agents`: one aligned row per agent, the agent **process**'s own CPU and RSS next to
//! its **host**'s CPU and memory, under headers that say which is which (several agents on one
//! machine share the host's figures, never the process's).

use std::fmt::Write as _;

use volley_api::AgentView;

use super::{Style, BOLD, CYAN, FAINT, GREEN, RED, YELLOW};

/// The table's columns.
const HEADERS: [&str; 11] = [
    "NAME",
    "STATE",
    "RUN",
    "VUS",
    "REQ/S",
    "PROC CPU%",
    "PROC RSS",
    "HOST CPU%",
    "HOST MEM%",
    "HEARTBEAT",
    "HEALTH",
];

/// Columns aligned to the right (numbers).
const RIGHT: [bool; 11] = [
    false, false, true, true, true, true, true, true, true, true, false,
];

fn health_color(health: &str) -> &'static str {
    match health {
        "ok" => GREEN,
        "warning" => YELLOW,
        _ => RED,
    }
}

fn row(a: &AgentView) -> [String; 11] {
    [
        a.name.clone(),
        a.state.clone(),
        a.run_id.map_or_else(|| "-".into(), |x| x.to_string()),
        a.active_vus.max(0).to_string(),
        format!("{:.1}", a.requests_per_second),
        a.process_cpu_percent
            .map_or_else(|| "-".into(), |c| format!("{c:.1}")),
        format!("{:.0} MiB", a.process_rss_bytes as f64 / (1024.0 * 1024.0)),
        format!("{:.1}", a.cpu_percent),
        format!("{:.1}", a.memory_percent),
        format!("{:.1}s ago", a.heartbeat_age_s),
        match &a.health_cause {
            Some(part) if a.health != "ok" => format!("{} ({part})", a.health),
            _ => a.health.clone(),
        },
    ]
}

/// The table, a legend of the two kinds of figures, and a hint when there is no agent.
pub fn agents_table(agents: &[AgentView], style: &Style) -> String {
    let rows: Vec<[String; 11]> = agents.iter().map(row).collect();
    let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, v) in widths.iter_mut().zip(r) {
            *w = (*w).max(v.chars().count());
        }
    }
    let pad = |text: &str, i: usize| -> String {
        let w = widths[i];
        if RIGHT[i] {
            format!("{text:>w$}")
        } else {
            format!("{text:<w$}")
        }
    };
    let mut out = String::new();
    let head: Vec<String> = HEADERS
        .iter()
        .enumerate()
        .map(|(i, h)| style.paint(BOLD, &pad(h, i)))
        .collect();
    let _ = writeln!(out, "{}  {}", head.join("  "), style.paint(BOLD, "LABELS"));
    for (r, a) in rows.iter().zip(agents) {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let code = match i {
                    1 if a.state == "busy" => CYAN,
                    1 if a.state == "draining" => YELLOW,
                    9 => FAINT,
                    10 => health_color(&a.health),
                    _ => "",
                };
                style.paint(code, &pad(v, i))
            })
            .collect();
        let labels = a
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let line = format!("{}  {labels}", cells.join("  "));
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if agents.is_empty() {
        let _ = writeln!(
            out,
            "(no agents connected: start one with `volley agent --controller http://HOST:6566`)"
        );
    } else {
        let _ = writeln!(
            out,
            "{}",
            style.paint(
                FAINT,
                "PROC: the agent process alone (CPU as % of all its host's CPUs); HOST: the whole machine, every process on it"
            )
        );
    }
    out
}

/// Draws `text` over the previous frame of a view that refreshes in place: home the cursor,
/// clear each line's rest as it is written, then clear whatever an older, longer frame left
/// below (no blank flash, unlike clearing the screen first).
pub fn in_place(text: &str) -> String {
    let mut out = String::from("\x1b[H");
    for line in text.lines() {
        out.push_str(line);
        out.push_str("\x1b[K\n");
    }
    out.push_str("\x1b[J");
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn agent(name: &str, process_cpu: Option<f64>, health: &str, cause: Option<&str>) -> AgentView {
        AgentView {
            name: name.into(),
            labels: BTreeMap::from([("zone".to_string(), "eu".to_string())]),
            state: "busy".into(),
            run_id: Some(7),
            version: "0.1.0".into(),
            max_vus: 100,
            cpus: 2,
            cpu_percent: 97.25,
            memory_used_bytes: 1 << 30,
            memory_total_bytes: 4 << 30,
            memory_percent: 25.0,
            process_cpu_percent: process_cpu,
            process_rss_bytes: 120 << 20,
            process_memory_percent: 2.9,
            active_vus: 10,
            requests_per_second: 812.5,
            iterations_per_second: 81.0,
            dropped_iterations: 0,
            heartbeat_age_s: 0.42,
            health: health.into(),
            health_cause: cause.map(str::to_string),
            connected_since: "2026-12-05T06:00:00Z".into(),
        }
    }

    #[test]
    fn process_and_host_figures_sit_under_their_own_headers() {
        let text = agents_table(
            &[
                agent("gen-1", Some(48.5), "overloaded", Some("host")),
                agent("gen-2", None, "ok", None),
            ],
            &Style::plain(),
        );
        let lines: Vec<&str> = text.lines().collect();
        let want = [
            "NAME   STATE  RUN  VUS  REQ/S  PROC CPU%  PROC RSS  HOST CPU%  HOST MEM%  HEARTBEAT  HEALTH             LABELS",
            "gen-1  busy     7   10  812.5       48.5   120 MiB       97.2       25.0   0.4s ago  overloaded (host)  zone=eu",
            "gen-2  busy     7   10  812.5          -   120 MiB       97.2       25.0   0.4s ago  ok                 zone=eu",
        ];
        assert_eq!(lines[..3], want, "\n{text}");
        assert!(lines[3].starts_with("PROC: the agent process alone"));
    }

    #[test]
    fn colour_pads_first_and_an_empty_cluster_says_what_to_do() {
        let text = agents_table(
            &[agent("gen-1", Some(1.0), "ok", None)],
            &Style { color: true },
        );
        assert!(text.contains("\x1b[32mok    \x1b[0m"), "{text:?}");
        let empty = agents_table(&[], &Style::plain());
        assert!(empty.contains("no agents connected"), "{empty}");
    }

    #[test]
    fn a_frame_clears_what_the_previous_one_left() {
        assert_eq!(in_place("a\nb\n"), "\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J");
    }
}
