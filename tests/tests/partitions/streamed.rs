//! A local run streamed to a controller whose port is blocked: TIMED_OUT there, while the local
//! run goes on with its own exit code.

use super::*;

/// `volley run --out cloud=URL` in a namespace of its own, streaming to a controller on the
/// bridge; the controller's port is blocked mid-run (the run's veth goes down): the run there
/// becomes TIMED_OUT after `data_timeout`, while the local run goes on; once the port opens
/// again it hears so, and it exits with its own code (0) when its script is done.
#[test]
fn streamed_run_with_the_controller_blocked_times_out() {
    let Some(_lab) = lab("streamed_run") else {
        return;
    };
    const DATA_TIMEOUT: Duration = Duration::from_secs(3);
    let net = Net::create(5, 1);
    let seat = &net.seats[0];
    let dir = temp_dir("partition-5");
    let listen = format!("127.0.0.1:{TARGET_PORT}");
    let mut cmd = in_netns(&seat.ns);
    cmd.args(["target", "--listen", &listen]);
    let mut target = Proc::spawn(&mut cmd);
    assert!(
        target
            .stdout
            .wait_for(|l| l.ends_with(&format!("http://{listen}")), START_TIMEOUT)
            .is_some(),
        "the target did not start: {}",
        target.stderr.text()
    );
    let mut cmd = Command::new(volley_bin());
    // The REST API on the bridge without tokens: an isolated lab, so --insecure says so.
    cmd.args(["controller", "--insecure", "--listen"])
        .arg(format!("{}:0", net.controller_ip))
        .args(["--grpc", "127.0.0.1:0", "--data-timeout"])
        .arg(format!("{}s", DATA_TIMEOUT.as_secs()))
        .arg("--data-dir")
        .arg(dir.join("data"));
    let mut controller = Proc::spawn(&mut cmd);
    let rest_url = printed_url(&controller, "REST API on");
    let rest_addr = rest_url.trim_start_matches("http://").to_string();
    let get_run = |id: u64| -> Option<Value> {
        let (code, text) = volley_e2e::http_request_to(
            &rest_addr,
            "GET",
            &format!("/loadtests/v2/runs/{id}"),
            None,
            Duration::from_secs(3),
        )
        .ok()?;
        (code == 200)
            .then(|| serde_json::from_str::<Value>(&text).ok())
            .flatten()
            .map(|v| v["k6-run"].clone())
    };

    let mut cmd = in_netns(&seat.ns);
    cmd.args(["run", "--out"])
        .arg(format!("cloud={rest_url}"))
        .args([
            "-e",
            &format!("BASE_URL=http://{listen}"),
            "-e",
            "DURATION=12s",
        ])
        .arg(script("streamed.js"))
        .current_dir(workspace_root());
    let mut local = Proc::spawn(&mut cmd);
    let deadline = Instant::now() + START_TIMEOUT;
    let running = loop {
        if let Some(r) = get_run(1).filter(|r| r["run_status"] == 2) {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the streamed run was not RUNNING on the controller within {START_TIMEOUT:?}: {:?}\n{}",
            get_run(1),
            local.stderr.text()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        running["run_process"], "Volley run to controller",
        "{running}"
    );
    std::thread::sleep(Duration::from_secs(2));

    let (cut_at, _) = net.cut(&seat.name, Cut::LinkDown);
    let iters_at_cut = count_iter(&local);
    let deadline = cut_at + DATA_TIMEOUT + Duration::from_secs(5);
    let run = loop {
        if let Some(r) = get_run(1).filter(|r| r["run_status"].as_i64().is_some_and(|s| s >= 3)) {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the blocked streamed run did not end on the controller: {:?}",
            get_run(1)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let detection = cut_at.elapsed();
    println!(
        "streamed run TIMED_OUT {:.2} s after its controller was blocked (data_timeout {} s)",
        secs(detection),
        DATA_TIMEOUT.as_secs()
    );
    assert_eq!(run["run_status"], 4, "TIMED_OUT: {run}");
    assert_eq!(run["exit_code"], 97, "{run}");
    assert!(
        detection >= DATA_TIMEOUT - Duration::from_millis(1100),
        "timed out after {detection:?}, well before data_timeout"
    );
    // The port opens again: the local run hears that its run timed out there, goes on, and
    // ends by itself with its own code.
    net.restore(&seat.name, Cut::LinkDown);
    let code = local.exit_code(Duration::from_secs(30));
    let iters_after = count_iter(&local);
    assert!(
        iters_after > iters_at_cut + 20,
        "the local run kept going while its controller was blocked ({iters_at_cut} → {iters_after})"
    );
    assert_eq!(
        code,
        0,
        "the local run's own exit code\n{}",
        local.stderr.text()
    );
    let log = local.stderr.text();
    assert!(
        log.contains("--out cloud") && log.contains("TIMED_OUT"),
        "the local run says its controller timed the run out:\n{log}"
    );
    local.kill();
    target.kill();
    controller.kill();
    // Passed: its data is of no use to anyone (a failure keeps it for reading).
}

/// How many iterations a `streamed.js` run logged so far.
fn count_iter(p: &Proc) -> usize {
    p.stderr
        .lines()
        .iter()
        .filter(|(_, l)| console_message(l).as_deref() == Some("ITER"))
        .count()
}
