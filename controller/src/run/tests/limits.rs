//! Overloaded agents or hosts, and the run's own limits, abort the run.

use super::*;

#[test]
fn overload_aborts_only_when_sustained() {
    // An agent that reports no process CPU (older than that field) is judged on its host.
    for (cpu, mem) in [(95.0, 10), (10.0, 95)] {
        let mut h = Harness::new(&["a"], config());
        h.running(1);
        let first = h.after(1, heartbeat("a", cpu, mem));
        let levels: Vec<_> = events(&first).into_iter().map(|(l, _)| l).collect();
        assert_eq!(levels, ["warning", "warning"], "busy, then overloaded");
        assert!(events(&first)[1]
            .1
            .starts_with("the host of agent a is overloaded"));
        // Transient: it drops below the level, so the 30 s start over.
        h.after(20, heartbeat("a", 50.0, 50));
        h.after(1, heartbeat("a", cpu, mem));
        assert!(stops(&h.after(29, heartbeat("a", cpu, mem))).is_empty());
        let over = stops(&h.after(1, heartbeat("a", cpu, mem)));
        let [(agent, AbortReason::System { message }, false)] = over.as_slice() else {
            panic!("{over:?}")
        };
        assert_eq!(agent, "a");
        assert!(
            message.starts_with(&format!(
                "AGENT_OVERLOADED: the host of agent a at {cpu:.0} % CPU, {mem} % memory (the agent process ? % CPU, 0 % memory) for 30 s"
            )),
            "{message}"
        );
    }
}

/// The agent process and its host are judged separately, and the words say which: a host
/// saturated by other processes while the agent idles names the host (with the process's
/// figures); an agent process that saturates its host names the process.
#[test]
fn overload_names_the_agent_process_or_its_host() {
    let cases = [
        (
            12.0,
            97.0,
            "the host of agent a is busy: 97 % CPU, 40 % memory (the agent process 12 % CPU, 5 % memory)",
            "AGENT_OVERLOADED: the host of agent a at 97 % CPU, 40 % memory (the agent process 12 % CPU, 5 % memory) for 30 s; results would measure the load generator, not the system under test. Other processes load that machine",
        ),
        (
            96.0,
            98.0,
            "agent a's process is busy: 96 % CPU, 5 % memory",
            "AGENT_OVERLOADED: agent a's process at 96 % CPU, 5 % memory for 30 s; results would measure the load generator, not the system under test. Add agents",
        ),
    ];
    for (process_cpu, host_cpu, warning, abort) in cases {
        let mut h = Harness::new(&["a"], config());
        h.running(1);
        let beat = || process_heartbeat("a", process_cpu, host_cpu);
        let first = h.after(1, beat());
        let msgs: Vec<_> = events(&first).into_iter().map(|(_, m)| m).collect();
        assert!(msgs[0].starts_with(warning), "{msgs:?}");
        assert!(msgs[1].contains("is overloaded"), "{msgs:?}");
        let over = stops(&h.after(30, beat()));
        let [(_, AbortReason::System { message }, false)] = over.as_slice() else {
            panic!("{over:?}")
        };
        assert!(message.starts_with(abort), "{message}");
    }
    // Both below the levels: nothing said, nothing stopped.
    let mut h = Harness::new(&["a"], config());
    h.running(1);
    assert!(events(&h.after(1, process_heartbeat("a", 50.0, 70.0))).is_empty());
    assert!(stops(&h.after(40, process_heartbeat("a", 50.0, 70.0))).is_empty());
}

#[test]
fn limits_abort_the_run() {
    let limit = |r: &AbortReason| match r {
        AbortReason::Limit { limit, .. } => limit.clone(),
        other => panic!("{other:?}"),
    };
    // Groups.
    let mut cfg = config();
    cfg.limits.max_groups = 1;
    let mut h = Harness::new(&["a"], cfg);
    h.running(1);
    let grouped = |g| series("checks", MetricType::Rate, 1.0, &[("group", g)]);
    assert!(stops(&h.step(batch("a", 1, vec![grouped("::x")]))).is_empty());
    let over = h.step(batch("a", 2, vec![grouped("::y")]));
    assert_eq!(limit(&stops(&over)[0].1), "max_groups");

    // Series.
    let mut cfg = config();
    cfg.limits.max_series = 2;
    let mut h = Harness::new(&["a"], cfg);
    h.running(1);
    let tagged = |n| series("iterations", MetricType::Counter, 1.0, &[("n", n)]);
    assert!(stops(&h.step(batch("a", 1, vec![tagged("1"), tagged("2")]))).is_empty());
    let over = stops(&h.step(batch("a", 2, vec![tagged("3")])));
    let [(_, AbortReason::Limit { limit, message }, _)] = over.as_slice() else {
        panic!("{over:?}")
    };
    assert_eq!(limit, "max_series");
    assert!(
        message.starts_with("the run has 3 metric series"),
        "{message}"
    );

    // Duration.
    let mut cfg = config();
    cfg.limits.max_duration = Duration::from_secs(60);
    let mut h = Harness::new(&["a"], cfg);
    h.running(1);
    assert!(stops(&h.after(60, heartbeat("a", 1.0, 1))).is_empty());
    let over = h.after(1, heartbeat("a", 1.0, 1));
    assert_eq!(
        stops(&over),
        [(
            "a".into(),
            AbortReason::Limit {
                limit: "max_duration".into(),
                message: "the run went on longer than 60 s".into()
            },
            false
        )]
    );
    let end = h.all_done(0);
    assert_eq!(finish(&end), Some((RunStatus::AbortedByLimit, 97)));
}
