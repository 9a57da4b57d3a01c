//! The Prometheus metrics route.

use super::*;

#[test]
fn metrics_count_runs_queue_and_agents_as_the_api_lists_them() {
    let fake = seeded();
    fake.with(|s| s.agents[1].state = "busy".into());
    // Every seeded run was created at 2026-01-01T00:00:00Z; the scrape is 90 s later.
    let now = crate::state::timestamp::parse_rfc3339("2026-01-01T00:01:30Z").unwrap();
    let text = crate::api::metrics::render(&*fake, now);
    for line in [
        "# TYPE volley_runs gauge",
        "volley_runs{status=\"created\"} 1",
        "volley_runs{status=\"queued\"} 1",
        "volley_runs{status=\"running\"} 1",
        "volley_runs{status=\"finished\"} 1",
        "volley_runs{status=\"aborted_by_user\"} 0",
        "volley_run_queue_length 2",
        "# TYPE volley_run_queue_oldest_wait_seconds gauge",
        "volley_run_queue_oldest_wait_seconds 90.0",
        "volley_agents{state=\"idle\"} 1",
        "volley_agents{state=\"busy\"} 1",
        "volley_agents{state=\"lost\"} 0",
        "volley_agent_heartbeat_age_seconds{agent=\"gen-2\"} 0.4",
        "volley_agent_heartbeat_age_seconds{agent=\"gen 1\"} 0.4",
        "# TYPE volley_agents_wanted gauge",
        "volley_agents_wanted 3",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
    // No run waits: the oldest wait is 0, not the age of a finished run.
    fake.with(|s| s.runs.retain(|_, r| r.run_status == RunStatus::Finished));
    let text = crate::api::metrics::render(&*fake, now);
    assert!(
        text.lines()
            .any(|l| l == "volley_run_queue_oldest_wait_seconds 0.0"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l == "volley_run_queue_length 0"),
        "{text}"
    );
}

#[tokio::test]
async fn agents_wanted_route_serves_the_service_figure() {
    let a = app(&seeded());
    let r = get(&a, "/v1/agents/wanted").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["wanted"], 3, "{:?}", r.body);
    assert_eq!(r.body["busy"], 1);
    assert_eq!(r.body["queued_want"], 2);
    assert_eq!(r.body["agent_max_vus"], 100);
    assert_eq!(
        get(&a, "/v1/agents/wanted?x=1").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn metrics_route_serves_the_text_format() {
    let a = app(&seeded());
    let r = get(&a, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.body.as_str().unwrap_or("");
    assert!(text.contains("volley_run_queue_length 2\n"), "{text}");
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
}

#[test]
fn a_group_member_exposes_its_raft_term_indexes_leader_changes_and_lag() {
    let fake = seeded();
    let now = crate::state::timestamp::parse_rfc3339("2026-01-01T00:01:30Z").unwrap();
    let text = crate::api::metrics::render(&*fake, now);
    assert!(
        !text.contains("volley_raft"),
        "no Raft, no Raft metrics:\n{text}"
    );
    fake.with(|s| {
        s.raft = Some(crate::replication::DriverStatus {
            node: crate::replication::NodeStatus {
                id: 2,
                role: crate::replication::Role::Leader,
                term: 7,
                leader: 2,
                commit: 40,
                applied: 39,
                snapshot_index: 0,
                last_index: 41,
                matched: vec![(1, 41), (2, 41), (3, 30)],
                voters: vec![1, 2, 3],
            },
            stopped: None,
            leader_changes: 3,
            peers: Default::default(),
        })
    });
    let text = crate::api::metrics::render(&*fake, now);
    for line in [
        "volley_raft_term 7",
        "volley_raft_commit_index 40",
        "volley_raft_applied_index 39",
        "volley_raft_leader 1",
        "# TYPE volley_raft_leader_changes_total counter",
        "volley_raft_leader_changes_total 3",
        "volley_raft_peer_lag{node=\"3\"} 11",
        "volley_raft_peer_lag{node=\"1\"} 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
}

#[test]
fn each_agents_heartbeat_age_is_one_line_with_its_name_escaped() {
    let fake = seeded();
    fake.with(|s| {
        s.agents[0].name = "a\"b\\c\nd".into();
        s.agents[0].heartbeat_age_s = 90.0;
    });
    let text = crate::api::metrics::render(&*fake, 0);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("volley_agent_heartbeat_age_seconds"))
        .collect();
    assert_eq!(
        lines,
        [
            "# HELP volley_agent_heartbeat_age_seconds Time since each agent's last heartbeat.",
            "# TYPE volley_agent_heartbeat_age_seconds gauge",
            "volley_agent_heartbeat_age_seconds{agent=\"a\\\"b\\\\c\\nd\"} 90.0",
            "volley_agent_heartbeat_age_seconds{agent=\"gen 1\"} 0.4",
        ],
        "{text}"
    );
}
