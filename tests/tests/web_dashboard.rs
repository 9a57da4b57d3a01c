//! `volley run --web-dashboard` (docs/dashboard.md#a-local-run): the run page of a local run
//! in real headless Chromium (`tests/browser/local.mjs`) while it runs and after, where its
//! figures must equal the run's own end-of-test summary, and the exported HTML report opened
//! from disk with the network off. Screenshots go to `target/dashboard-screenshots/local-*.png`.
//! Also, without a browser: a taken port and invalid variables stop the run before it starts,
//! naming what to change; a run stopped by SIGINT or SIGTERM (once, or twice to exit at once)
//! removes the dashboard's folder, and one killed with SIGKILL leaves it for the next run to
//! remove.
//!
//! The browser part needs `chromium` and `npm ci` in `tests/browser/` (`.ci/run` installs
//! both); without them it fails under `CI=true` and says SKIP otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use volley_e2e::{free_port, send_signal, temp_dir, volley_bin, workspace_root, Proc, Target};

/// 2 VUs for 6 s against the target, with a custom trend.
const SCRIPT: &str = "import http from 'k6/http';\n\
import { sleep } from 'k6';\n\
import { Trend } from 'k6/metrics';\n\
const think = new Trend('think_time', true);\n\
export const options = {\n\
  scenarios: { load: { executor: 'constant-vus', vus: 2, duration: '6s' } },\n\
  thresholds: { http_req_duration: ['p(95)<5000'] },\n\
};\n\
export default function () {\n\
  think.add(http.get(__ENV.TARGET + '/').timings.duration + 1);\n\
  sleep(0.1);\n\
}\n";

/// How long the browser part may take (the run, then the report).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(150);

#[test]
fn volley_run_serves_its_run_page_live_and_writes_a_report_that_opens_offline() {
    let Some((chromium, dir)) =
        volley_e2e::browser_tools_or_skip("the web dashboard's browser test")
    else {
        return;
    };
    let target = Target::start();
    let work = temp_dir("web-dashboard");
    let script = work.join("load.js");
    std::fs::write(&script, SCRIPT).expect("write the script");
    let (summary, report) = (work.join("summary.json"), work.join("report.html"));
    let port = free_port();
    let mut cmd = Command::new(volley_bin());
    cmd.arg("run")
        .arg("--linger")
        .arg("--web-dashboard-export")
        .arg(&report)
        .arg("--summary-export")
        .arg(&summary)
        .args(["-e", &format!("TARGET={}", target.url)])
        .arg(&script)
        .env("K6_WEB_DASHBOARD_PORT", port.to_string())
        .current_dir(&work);
    let mut run = Proc::spawn(&mut cmd);
    let url = format!("http://127.0.0.1:{port}/#/runs/1");
    let banner = run
        .stdout
        .wait_for(|l| l.contains("web dashboard:"), Duration::from_secs(60));
    assert!(
        banner.is_some()
            && run
                .stdout
                .text()
                .contains(&format!(" web dashboard: {url}")),
        "the banner names the run's page {url}\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout.text(),
        run.stderr.text()
    );

    let shots = workspace_root().join("target/dashboard-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot folder");
    let mut node = Command::new("node");
    node.arg("local.mjs")
        .current_dir(&dir)
        .env("DASH_URL", &url)
        .env("DASH_SUMMARY", &summary)
        .env("DASH_REPORT", &report)
        .env("DASH_SHOTS", &shots)
        .env("DASH_CHROMIUM", &chromium);
    let mut page = Proc::spawn(&mut node);
    let status = page.wait_exit(BROWSER_TIMEOUT);
    let (stdout, stderr) = (page.stdout.text(), page.stderr.text());
    assert!(
        status.is_some_and(|s| s.success()) && stdout.contains("LOCAL-DASHBOARD-OK"),
        "the browser test failed (exit {status:?}; screenshots so far in {}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- volley stdout\n{}\n--- volley stderr\n{}",
        shots.display(),
        run.stdout.text(),
        run.stderr.text()
    );

    // --linger kept the page up; Ctrl+C ends it with the run's own exit code.
    let lingering = run.stderr.wait_for(
        |l| l.contains("--linger was enabled"),
        Duration::from_secs(20),
    );
    assert!(lingering.is_some(), "--- stderr\n{}", run.stderr.text());
    assert!(send_signal(run.id(), "INT"), "volley run is still there");
    assert_eq!(
        run.exit_code(Duration::from_secs(20)),
        0,
        "--- stderr\n{}",
        run.stderr.text()
    );
    for shot in ["local-live.png", "local-finished.png", "local-report.png"] {
        let p = shots.join(shot);
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "screenshot {} was saved", p.display());
    }
    let size = std::fs::metadata(&report).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "the run page matched the summary live and after; report {} ({size} bytes) opened offline; screenshots in {}",
        report.display(),
        shots.display()
    );
}

#[test]
fn a_taken_port_or_an_invalid_variable_stops_the_run_before_it_starts() {
    let work = temp_dir("web-dashboard-refused");
    let script = work.join("quick.js");
    std::fs::write(&script, "export default function () {}\n").expect("write the script");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let port = taken.local_addr().expect("its address").port().to_string();
    let script = script.to_string_lossy().into_owned();
    for (vars, want, says) in [
        (
            vec![
                ("K6_WEB_DASHBOARD", "true"),
                ("K6_WEB_DASHBOARD_PORT", &*port),
            ],
            106,
            "set K6_WEB_DASHBOARD_PORT to a free port",
        ),
        (vec![("K6_WEB_DASHBOARD", "1")], 104, "give true or false"),
        (
            vec![
                ("K6_WEB_DASHBOARD", "true"),
                ("K6_WEB_DASHBOARD_PORT", "abc"),
            ],
            104,
            "give a port number",
        ),
    ] {
        let out = volley_e2e::volley_run(&["-q", &script], &vars);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want), "{vars:?}: {stderr}");
        assert!(stderr.contains(says), "{vars:?} says {says:?}: {stderr}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("TOTAL RESULTS"),
            "{vars:?}: the run did not start"
        );
    }
    drop(taken);
}

/// Runs until stopped; its teardown sleeps `TEARDOWN` seconds, so that a second signal finds the
/// first one's graceful stop still under way.
const STOPPABLE: &str = "import { sleep } from 'k6';\n\
export const options = { scenarios: { s: { executor: 'constant-vus', vus: 1, duration: '90s' } } };\n\
export default function () { sleep(0.2); }\n\
export function teardown() { sleep(Number(__ENV.TEARDOWN || 0)); }\n";

/// The dashboards' folders in `tmp`.
fn dashboard_folders(tmp: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(tmp)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with("volley-web-dashboard-")
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// `volley run --web-dashboard` of [`STOPPABLE`] with its temporary files in `tmp`, once its
/// dashboard is up.
fn start_stoppable(work: &Path, tmp: &Path, teardown_s: u32) -> Proc {
    let mut cmd = Command::new(volley_bin());
    cmd.args(["run", "--web-dashboard", "-e"])
        .arg(format!("TEARDOWN={teardown_s}"))
        .arg(work.join("stoppable.js"))
        .env("TMPDIR", tmp)
        .env("K6_WEB_DASHBOARD_PORT", "0")
        .current_dir(work);
    let run = Proc::spawn(&mut cmd);
    let up = run
        .stdout
        .wait_for(|l| l.contains("web dashboard:"), Duration::from_secs(60));
    assert!(
        up.is_some(),
        "the dashboard is up\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout.text(),
        run.stderr.text()
    );
    run
}

#[test]
fn a_run_stopped_by_a_signal_removes_its_dashboard_folder_and_a_killed_ones_is_removed_next_time() {
    let work = temp_dir("web-dashboard-signals");
    let tmp = work.join("tmp");
    std::fs::create_dir_all(&tmp).expect("the run's TMPDIR");
    std::fs::write(work.join("stoppable.js"), STOPPABLE).expect("write the script");
    for (signals, teardown_s, what) in [
        (&["INT"][..], 0, "SIGINT"),
        (&["TERM"][..], 0, "SIGTERM"),
        (&["INT", "INT"][..], 30, "a second SIGINT (exit at once)"),
        (&["TERM", "TERM"][..], 30, "a second SIGTERM (exit at once)"),
    ] {
        let mut run = start_stoppable(&work, &tmp, teardown_s);
        let folders = dashboard_folders(&tmp);
        let mine = format!("volley-web-dashboard-{}-", run.id());
        assert!(
            folders.len() == 1 && folders[0].to_string_lossy().contains(&mine),
            "{what}: the running dashboard's folder {mine}… in {folders:?}"
        );
        for (i, signal) in signals.iter().enumerate() {
            if i > 0 {
                // The second one while the first one's stop is under way.
                let stopping = run.stderr.wait_for(
                    |l| l.contains("Stopping: received"),
                    Duration::from_secs(20),
                );
                assert!(
                    stopping.is_some(),
                    "{what}: --- stderr\n{}",
                    run.stderr.text()
                );
            }
            assert!(send_signal(run.id(), signal), "{what}: volley run is there");
        }
        assert_eq!(
            run.exit_code(Duration::from_secs(30)),
            105,
            "{what}: --- stderr\n{}",
            run.stderr.text()
        );
        if signals.len() > 1 {
            assert!(
                run.stderr.text().contains("in response to a second"),
                "{what} exited at once: --- stderr\n{}",
                run.stderr.text()
            );
        }
        let left = dashboard_folders(&tmp);
        assert!(left.is_empty(), "{what}: the folder was removed: {left:?}");
    }

    // SIGKILL: nothing can run, the folder stays; the next dashboard removes it.
    let mut killed = start_stoppable(&work, &tmp, 0);
    assert!(send_signal(killed.id(), "KILL"), "volley run is there");
    assert!(
        killed.wait_exit(Duration::from_secs(10)).is_some(),
        "SIGKILL ends it"
    );
    assert_eq!(
        dashboard_folders(&tmp).len(),
        1,
        "a killed run leaves its folder"
    );
    let mut next = start_stoppable(&work, &tmp, 0);
    let folders = dashboard_folders(&tmp);
    let mine = format!("volley-web-dashboard-{}-", next.id());
    assert!(
        folders.len() == 1 && folders[0].to_string_lossy().contains(&mine),
        "only the next run's folder {mine}… is left: {folders:?}"
    );
    assert!(send_signal(next.id(), "INT"), "volley run is there");
    assert_eq!(next.exit_code(Duration::from_secs(30)), 105);
    assert!(dashboard_folders(&tmp).is_empty());
}
