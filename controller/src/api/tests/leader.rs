//! Writes on a follower of the Raft group (`super::super::leader`): redirected to the leader's
//! API with the path and query kept, or 503 with `Retry-After` while no leader is known; reads
//! and option validation are answered here, and a leader handles everything itself.

use super::*;
use crate::store::Leadership;

fn follower_of(api: Option<&str>) -> Arc<Fake> {
    let fake = seeded();
    fake.with(|s| {
        s.leadership = Some(Leadership::Elsewhere {
            id: 2,
            api: api.map(String::from),
        })
    });
    fake
}

#[tokio::test]
async fn a_follower_redirects_writes_to_the_leader_and_answers_reads() {
    let fake = follower_of(Some("http://10.0.0.2:6565/"));
    let app = app(&fake);
    let r = post_json(&app, "/loadtests/v2/tests/1/start-testrun?x=1", json!({})).await;
    assert_eq!(assert_error(&r, 307), "not_leader");
    assert_eq!(
        r.headers.get(header::LOCATION).unwrap(),
        "http://10.0.0.2:6565/loadtests/v2/tests/1/start-testrun?x=1"
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("node 2 is the Raft leader"),
        "{}",
        r.body
    );
    assert!(fake.with(|s| s.started.is_empty()), "nothing started here");
    let r = send(
        &app,
        Request::delete("/v1/tokens/1")
            .header(header::AUTHORIZATION, "Token unit-test")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(assert_error(&r, 307), "not_leader");

    // Reads are this node's own.
    let r = get(&app, "/loadtests/v2/runs").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Validating options changes nothing: any controller answers.
    let r = post_json(&app, "/v1/validate-options", json!({"options": {"vus": 1}})).await;
    assert_ne!(r.status, StatusCode::TEMPORARY_REDIRECT, "{}", r.body);
    // Unknown routes stay 404.
    let r = post_json(&app, "/v1/no-such-route", json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_a_known_leader_writes_wait_for_the_election() {
    for fake in [follower_of(None), {
        let f = seeded();
        f.with(|s| s.leadership = Some(Leadership::Unknown));
        f
    }] {
        let app = app(&fake);
        let r = post_json(&app, "/loadtests/v2/tests/1/start-testrun", json!({})).await;
        assert_eq!(assert_error(&r, 503), "no_leader");
        assert_eq!(r.headers.get(header::RETRY_AFTER).unwrap(), "1");
        assert!(fake.with(|s| s.started.is_empty()));
    }
}

#[tokio::test]
async fn the_leader_takes_writes_itself() {
    let fake = seeded();
    fake.with(|s| s.leadership = Some(Leadership::Here));
    let app = app(&fake);
    let r = post_json(&app, "/loadtests/v2/tests/1/start-testrun", json!({})).await;
    assert!(r.status.is_success(), "{}", r.body);
    assert_eq!(fake.with(|s| s.started.len()), 1);
}

fn raft_status(id: u64, leader: u64, term: u64) -> crate::replication::DriverStatus {
    crate::replication::DriverStatus {
        node: crate::replication::NodeStatus {
            id,
            role: if id == leader {
                crate::replication::Role::Leader
            } else {
                crate::replication::Role::Follower
            },
            term,
            leader,
            commit: 0,
            applied: 0,
            snapshot_index: 0,
            last_index: 0,
            matched: Vec::new(),
            voters: vec![1, 2, 3],
        },
        stopped: None,
        leader_changes: 1,
        peers: Default::default(),
    }
}

#[tokio::test]
async fn every_answer_of_a_group_member_names_the_leader_it_knows() {
    let fake = follower_of(Some("http://10.0.0.2:6565"));
    fake.with(|s| s.raft = Some(raft_status(1, 2, 7)));
    let group = app(&fake);
    let read = get(&group, "/loadtests/v2/runs").await;
    let redirected = post_json(&group, "/loadtests/v2/tests/1/start-testrun", json!({})).await;
    for r in [&read, &redirected] {
        assert_eq!(r.headers.get("volley-raft-leader").unwrap(), "2");
        assert_eq!(r.headers.get("volley-raft-term").unwrap(), "7");
    }
    // No leader known (an election), or no Raft at all: no header.
    fake.with(|s| s.raft = Some(raft_status(1, 0, 8)));
    let r = get(&group, "/loadtests/v2/runs").await;
    assert!(r.headers.get("volley-raft-leader").is_none());
    let single = seeded();
    let r = get(&app(&single), "/loadtests/v2/runs").await;
    assert!(r.headers.get("volley-raft-leader").is_none());
    assert!(r.headers.get("volley-raft-term").is_none());
}
