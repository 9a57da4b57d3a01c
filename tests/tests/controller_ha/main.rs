//! Controllers in one Raft group, as real processes (docs/ha.md#tests), driven through
//! `volley_e2e::ha` and `volley_e2e::ha_runs`; one module per concern:
//!
//! - [`failover`]: three controllers and two agents on loopback: a run submitted with a
//!   follower first in the list is forwarded to the leader and finishes, and its records reach
//!   every node; the leader is killed with SIGKILL while a second run (a fixed number of
//!   requests to a counting target, over both agents) is RUNNING; the two others elect a new
//!   leader, which resumes the run from the last checkpoint a quorum committed: the agents
//!   follow it and replay what was not acknowledged, and the run FINISHES with its totals equal
//!   to the requests the target counted (every batch counted once), no agent lost; a new
//!   submission with the dead controller first in the list runs to the end. And three
//!   controllers and three agents, a shared-iterations run of about 20 s followed by `submit
//!   --wait` given all three controllers; the leader is killed with SIGKILL about 5 s in: a new
//!   leader within [`failover::ELECTION_BOUND`], the run FINISHES with exactly the planned
//!   iterations counted at the target and in the merged counters, and `submit --wait` exits 0
//!   after printing the leader change. The failover's phases are printed (`--nocapture`);
//! - [`stops`]: three controllers and two agents: a run is stopped through the leader, which is
//!   killed with SIGKILL right after its 200: the new leader resumes the run and stops it as
//!   the user asked (the stop was committed before it was acknowledged), ABORTED_BY_USER, and
//!   `submit --wait` exits 103;
//! - [`idempotency`]: three controllers: a test's create and a run's start, each sent twice
//!   with one `Idempotency-Key` — the second time to the next leader, the first one killed
//!   after answering — make one test and one run, the second answered with the first one's;
//!   the key with another request is refused; every node ends with the same state;
//! - [`rolling_restart`]: a rolling restart (SIGTERM, start again on the same data dir, caught
//!   up) of all three controllers one by one, the leader among them, during a run: it FINISHES
//!   with exact totals, and every node holds the same state;
//! - [`partition`]: each controller in its own network namespace on a private bridge
//!   (`10.253.1.0/24`), the agents and the target in the root namespace: the leader is cut off
//!   from both followers (a black hole, `volley_e2e::ha_lab::Links::cut`) during a run; it steps
//!   down (check-quorum) and stops its process, the majority elects a new leader and the run
//!   FINISHES with exact totals (the cut-off leader acknowledged no batch it could not
//!   commit); healed and started again, the old leader catches up, and every run's history
//!   (transitions and events with their times) and the whole state machine (`GET
//!   /v1/controllers/state`) are identical on the three nodes. Needs root (CAP_NET_ADMIN) and
//!   iproute2: skipped with a message without them, except under `CI`, where it fails;
//! - [`history`]: a history checker, Jepsen-style: three clients submit (each with a unique
//!   note) and stop runs through every controller for 40 s while leaders are killed and cut
//!   off and followers killed and cut off; then every run must end within 90 s (the queue
//!   drains: no agent stays busy with a run nobody drives, no run is left half submitted or
//!   half torn down), every acknowledged submit must exist exactly once with the run id its
//!   client was told, no submit may make two runs, an acknowledged stop must end its run
//!   (ABORTED_BY_USER, or it had ended before), and every node must hold the same state
//!   digest. Needs what [`partition`] needs.
//!
//! The tests run one at a time (`ha::serial`): each runs three controllers. About 160 s in all
//! on a loaded 2-core machine. A failing test prints the tail of every node's log and keeps
//! their data dirs (`volley_e2e::ha::Group`'s drop names where).

mod failover;
mod history;
mod idempotency;
mod partition;
mod rolling_restart;
mod stops;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

fn write_script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("script");
    p
}

/// Milliseconds from `since` to the RFC 3339 time `at` (a run event's), negative when earlier.
fn ms_after(since: SystemTime, at: &str) -> i64 {
    let unix_ms = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    };
    // 2026-12-06T06:40:01.123Z: the seconds of the day and the milliseconds are enough, the
    // date being today's.
    let time = at
        .split('T')
        .nth(1)
        .unwrap_or_default()
        .trim_end_matches('Z');
    let mut parts = time.split(':');
    let (h, m, rest) = (
        parts
            .next()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0),
        parts
            .next()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0),
        parts.next().unwrap_or("0"),
    );
    let secs: f64 = rest.parse().unwrap_or(0.0);
    let of_day = (h * 3600 + m * 60) * 1000 + (secs * 1000.0).round() as i64;
    let since_ms = unix_ms(since);
    let day_start = since_ms - since_ms.rem_euclid(86_400_000);
    day_start + of_day - since_ms
}

/// The RFC 3339 time `at` as a `SystemTime` (today's date assumed, as in [`ms_after`]).
fn at_time(at: &str) -> SystemTime {
    let now = SystemTime::now();
    let ms = ms_after(now, at);
    if ms >= 0 {
        now + Duration::from_millis(ms as u64)
    } else {
        now - Duration::from_millis(ms.unsigned_abs())
    }
}
