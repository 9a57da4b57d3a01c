use serde_json::json;

use super::*;

/// A run as the API serves it, with `status`/`result` and the rest typical.
fn run(id: u64, status: i32, result: i32, exit: Option<i32>) -> RunView {
    serde_json::from_value(json!({
        "config": {}, "created": "2026-12-05T04:00:00Z", "duration": 0.0, "ended": null,
        "error_code": null, "error_detail": null, "export": null, "id": id, "is_baseline": false,
        "k6_archive": "", "load_time": 0.0, "note": "", "organization_id": 0,
        "processing_status": 0, "project_id": 1, "public_id": null,
        "request_builder_config": null, "result_status": result, "run_process": "volley",
        "run_status": status, "script": "export default function () {}", "started": null,
        "stopped_by_id": null, "test_id": 3, "user_id": 1, "version": 2, "vus": 10,
        "vus_per_instance": 10, "transitions": [], "assignments": [], "exit_code": exit,
        "abort_reason": null, "degraded": false, "events": []
    }))
    .expect("a RunView document")
}

#[test]
fn only_ended_runs_have_a_result() {
    assert_eq!(result_label(&run(1, 2, 0, None)), "-", "RUNNING");
    assert_eq!(result_label(&run(1, 0, 0, None)), "-", "QUEUED");
    assert_eq!(result_label(&run(1, 3, 0, Some(0))), "PASSED");
    assert_eq!(result_label(&run(1, 3, 1, Some(99))), "FAILED");
    assert_eq!(
        result_label(&run(1, 8, 1, Some(99))),
        "FAILED",
        "ABORTED_BY_THRESHOLD"
    );
    assert_eq!(
        result_label(&run(1, 5, 0, Some(105))),
        "-",
        "ABORTED_BY_USER"
    );
}

#[test]
fn the_runs_table_lines_up_with_and_without_colour() {
    let runs = [
        run(7, 2, 0, None),
        run(12, 7, 0, Some(107)),
        run(1234, 3, 1, Some(99)),
    ];
    for style in [Style::plain(), Style { color: true }] {
        let text = runs_table(&runs, &style);
        let plain = strip_ansi(&text);
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(lines.len(), 4, "{plain}");
        // Every column starts at the same offset on every line.
        let col = |l: &str, what: &str| l.find(what).unwrap_or_else(|| panic!("{what} in {l:?}"));
        let status_at = col(lines[0], "STATUS");
        assert_eq!(col(lines[1], "RUNNING"), status_at);
        assert_eq!(col(lines[2], "ABORTED_BY_SCRIPT_ERROR"), status_at);
        assert_eq!(col(lines[3], "FINISHED"), status_at);
        let created_at = col(lines[0], "CREATED");
        for l in &lines[1..] {
            assert_eq!(col(l, "2026-12-05T04:00:00Z"), created_at, "{plain}");
        }
        assert!(
            lines[1].contains(" -  "),
            "a running run has no result: {}",
            lines[1]
        );
        assert!(lines[3].contains("FAILED"), "{}", lines[3]);
    }
    let coloured = runs_table(&runs, &Style { color: true });
    assert!(coloured.contains("\x1b[31mFAILED"), "{coloured:?}");
}

#[test]
fn a_queued_run_says_in_the_runs_table_what_it_waits_for() {
    let mut queued = run(8, 0, 0, None);
    queued.run_status = RunStatus::Queued;
    queued.events = serde_json::from_value(json!([
        {"at": "2026-12-05T04:00:01Z", "level": "info", "message": "queued: waiting for agents: the run needs 3 idle agents; 1 idle of 1 connected"},
        {"at": "2026-12-05T04:00:02Z", "level": "info", "message": "queued: waiting for the scaler (the KEDA ScaledObject volley-agent) to start agents: the run needs 3 idle agents; 1 idle of 1 connected"}
    ]))
    .expect("events");
    let mut noted = queued.clone();
    noted.note = "nightly".into();
    let mut running = queued.clone();
    running.run_status = RunStatus::Running;
    let text = runs_table(&[queued, noted, running], &Style::plain());
    let lines: Vec<&str> = text.lines().collect();
    let why = "waiting for the scaler (the KEDA ScaledObject volley-agent) to start agents: \
               the run needs 3 idle agents; 1 idle of 1 connected";
    assert!(lines[1].ends_with(why), "{text}");
    assert!(lines[2].ends_with(&format!("nightly ({why})")), "{text}");
    assert!(
        !lines[3].contains("waiting"),
        "a running run waits for nothing: {text}"
    );
}

#[test]
fn the_runs_table_says_who_started_each_run() {
    let mut ci = run(3, 3, 0, Some(0));
    ci.started_by = "ci-nightly".into();
    let open = run(4, 3, 0, Some(0));
    let text = runs_table(&[ci, open], &Style::plain());
    let lines: Vec<&str> = text.lines().collect();
    let at = lines[0].find("STARTED BY").expect("the column");
    assert_eq!(lines[1].find("ci-nightly"), Some(at), "{text}");
    assert_eq!(
        lines[2][at..].split_whitespace().next(),
        Some("-"),
        "an open API's run: {text}"
    );
}

#[test]
fn the_status_view_is_for_people_not_the_raw_document() {
    let mut r = run(12, 2, 0, None);
    r.started = Some("2026-12-05T04:00:01Z".into());
    r.assignments = serde_json::from_value(json!([
        {"agent": "agent-1", "segment": "0:1/2", "sequence": "0,1/2,1"},
        {"agent": "agent-2", "segment": "1/2:1", "sequence": "0,1/2,1"}
    ]))
    .expect("assignments");
    let agents: Vec<AgentUtilization> = serde_json::from_value(json!([
        {"agent": "agent-1", "segment": "0:1/2", "samples": [
            {"at": "2026-12-05T04:00:02Z", "cpu_percent": 54.3, "memory_percent": 2.3,
             "process_rss_bytes": 104857600u64, "active_vus": 5, "requests_per_second": 812.5,
             "iterations_per_second": 812.5}
        ]}
    ]))
    .expect("agents");
    let metrics = json!({"metrics": {
        "http_reqs": {"values": {"count": 1625.0, "rate": 812.5}},
        "http_req_duration": {"values": {"avg": 1.2, "p(95)": 3.4}},
        "http_req_failed": {"values": {"rate": 0.0}}
    }});
    let text = status_text(
        &StatusParts {
            run: &r,
            metrics: Some(&metrics),
            agents: &agents,
            report: None,
        },
        &Style::plain(),
    );
    assert!(
        text.starts_with("run 12  RUNNING (2)  result -  exit code -"),
        "{text}"
    );
    assert!(text.contains("requests 1625 (812.5/s)"), "{text}");
    assert!(text.contains("p(95) 3.40ms"), "{text}");
    let a1 = text
        .lines()
        .find(|l| l.contains("agent-1"))
        .expect("agent-1 row");
    assert!(
        a1.contains("0:1/2") && a1.contains("100 MiB") && a1.contains("54.3"),
        "{a1}"
    );
    let a2 = text
        .lines()
        .find(|l| l.contains("agent-2"))
        .expect("agent-2 row");
    assert!(a2.contains(" - "), "no sample yet: {a2}");
    assert!(
        !text.contains("export default"),
        "the script is not shown: {text}"
    );
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The live block of a cluster run: the status line `volley run` draws (active VUs summed
/// over the agents' last samples, since the merged metrics carry no `vus` gauge), a line per
/// scenario at its share of its planned time, the figures and a row per agent.
#[test]
fn the_live_block_shows_progress_figures_and_agents() {
    let mut r = run(4, 2, 0, None);
    r.duration = 3.0;
    r.vus = 6;
    r.config = json!({"scenarios": {
        "a": {"executor": "constant-vus", "vus": 4, "duration": "6s"},
        "b": {"executor": "constant-vus", "vus": 2, "duration": "4s", "startTime": "2s"}
    }});
    r.assignments = serde_json::from_value(json!([
        {"agent": "gen-1", "segment": "0:1/2", "sequence": "0,1/2,1"},
        {"agent": "gen-2", "segment": "1/2:1", "sequence": "0,1/2,1"}
    ]))
    .expect("assignments");
    let sample = |vus: i64| {
        json!({"at": "2026-12-05T04:00:02Z", "cpu_percent": 50.0, "memory_percent": 2.0,
               "process_cpu_percent": 12.5, "process_rss_bytes": 41943040u64,
               "active_vus": vus, "requests_per_second": 100.0, "iterations_per_second": 10.0})
    };
    let agents: Vec<AgentUtilization> = serde_json::from_value(json!([
        {"agent": "gen-1", "segment": "0:1/2", "samples": [sample(3)]},
        {"agent": "gen-2", "segment": "1/2:1", "samples": [sample(2)]}
    ]))
    .expect("agents");
    let metrics = json!({"metrics": {
        "http_reqs": {"values": {"count": 600.0, "rate": 200.0}},
        "http_req_duration": {"values": {"p(95)": 12.3}},
        "http_req_failed": {"values": {"rate": 0.01}},
        "iterations": {"values": {"count": 60.0, "rate": 20.0}}
    }});
    let lines = live::live_lines(&r, Some(&metrics), &agents, &Style::plain());
    let text = lines.join("\n");
    assert_eq!(lines[0], "run 4 RUNNING (2)", "{text}");
    assert!(
        lines[1].starts_with("running (03.0s), 5/6 VUs, 60 complete"),
        "{text}"
    );
    let a = lines
        .iter()
        .find(|l| l.starts_with("a "))
        .expect("a's line");
    assert!(a.contains("[  50% ] 4 VUs  3.0s/6s"), "{a}");
    let b = lines
        .iter()
        .find(|l| l.starts_with("b "))
        .expect("b's line");
    assert!(b.contains("[  25% ] 2 VUs  1.0s/4s"), "{b}");
    assert!(
        text.contains("200.0 req/s  p(95) 12.30ms  errors 1.00%  20.0 iterations/s"),
        "{text}"
    );
    let gen1 = lines
        .iter()
        .find(|l| l.starts_with("gen-1"))
        .expect("gen-1");
    assert!(
        gen1.contains("0:1/2")
            && gen1.contains("  3  ")
            && gen1.contains("12.5")
            && gen1.contains("40 MiB"),
        "{gen1}"
    );
}

#[test]
fn a_note_cannot_drive_the_terminal_of_whoever_reads_the_run() {
    // A note stored before the API refused such notes, or by another controller.
    let mut r = run(5, 0, 0, None);
    r.note = "\u{1b}[2J\u{1b}[32mall good\rline 2\u{202e}".into();
    let status = status_text(
        &StatusParts {
            run: &r,
            metrics: None,
            agents: &[],
            report: None,
        },
        &Style::plain(),
    );
    let table = runs_table(&[r], &Style::plain());
    for text in [&status, &table] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{202e}'),
            "{text:?}"
        );
    }
    assert!(
        status.contains("note: \\u{1b}[2J\\u{1b}[32mall good\\u{d}line 2\\u{202e}"),
        "{status}"
    );
}
