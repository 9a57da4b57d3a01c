//! Log lines as a user sees them: every subcommand has one log subscriber writing k6-style
//! lines on stderr. `volley run` prints k6's warning for a redirect chain cut at the default
//! limit — exactly when k6 does, in k6's words and quoting — and an agent that cannot reach its
//! controller says so instead of waiting silently. `--log-format` and `--log-level` (or
//! `RUST_LOG`) work for every subcommand, and on a terminal the lines take k6's coloured form.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use volley_e2e::pty::PtyProc;
use volley_e2e::{temp_dir, volley_bin, volley_run, LineLog, Target};

#[test]
fn a_redirect_chain_cut_at_the_default_limit_warns_as_k6_does() {
    let target = Target::start();
    let dir = temp_dir("logging-redirects");
    let script = dir.join("redirects.js");
    std::fs::write(
        &script,
        "import http from 'k6/http';\n\
         export const options = { iterations: 1 };\n\
         export default function () {\n\
           http.get(`${__ENV.BASE}/redirect/12`);\n\
           http.get(`${__ENV.BASE}/redirect/3`, { redirects: 1 });\n\
         }\n",
    )
    .unwrap();
    let base = format!("BASE={}", target.url);
    let out = volley_run(&["-q", "-e", &base, script.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // (Other warnings, e.g. a REST API port taken by a parallel test, are not the point.)
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("level=warning") && l.contains("redirect"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one warning, for the default limit only:\n{stderr}"
    );
    let want = format!(
        "level=warning msg=\"Stopped after 11 redirects and returned the redirection; pass {{ redirects: n }} in request params or set global maxRedirects to silence this\" url=\"{}/redirect/12\"",
        target.url
    );
    assert!(
        warnings[0].ends_with(&want),
        "got {}\nwant …{want}",
        warnings[0]
    );

    // A global maxRedirects silences it too.
    std::fs::write(
        &script,
        "import http from 'k6/http';\n\
         export const options = { iterations: 1, maxRedirects: 2 };\n\
         export default function () { http.get(`${__ENV.BASE}/redirect/12`); }\n",
    )
    .unwrap();
    let out = volley_run(&["-q", "-e", &base, script.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("Stopped after"), "{stderr}");
}

#[test]
fn an_agent_that_cannot_reach_its_controller_says_so() {
    let mut agent = Command::new(volley_bin())
        .args([
            "agent",
            "--controller",
            "http://127.0.0.1:9",
            "--name",
            "gen-x",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start volley agent");
    let log = LineLog::capture(agent.stderr.take().unwrap());
    let t0 = Instant::now();
    let seen = log.wait_for(
        |l| l.contains("level=warning") && l.contains("cannot connect to http://127.0.0.1:9"),
        Duration::from_secs(10),
    );
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(
        seen.is_some(),
        "no warning within {:?}:\n{}",
        t0.elapsed(),
        log.text()
    );
}

/// An agent at an address nothing listens on, with extra flags and environment: its stderr
/// while it retries, for `wait`.
fn unreachable_agent(extra: &[&str], envs: &[(&str, &str)], wait: Duration) -> String {
    let mut cmd = Command::new(volley_bin());
    cmd.args([
        "agent",
        "--controller",
        "http://127.0.0.1:9",
        "--name",
        "gen-x",
    ])
    .args(extra)
    .env_remove("VOLLEY_LOG")
    .env_remove("RUST_LOG")
    .stderr(Stdio::piped())
    .stdout(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut agent = cmd.spawn().expect("start volley agent");
    let log = LineLog::capture(agent.stderr.take().unwrap());
    let _ = log.wait_for(|l| l.contains("cannot connect"), wait);
    let _ = agent.kill();
    let _ = agent.wait();
    log.text()
}

/// `--log-format json` gives one JSON object a line with logrus's keys; `--log-level` and
/// `RUST_LOG` choose the level, the flag first.
#[test]
fn every_subcommand_takes_log_format_and_log_level() {
    let text = unreachable_agent(&["--log-format", "json"], &[], Duration::from_secs(10));
    let warning = text
        .lines()
        .find(|l| l.contains("cannot connect"))
        .unwrap_or_else(|| panic!("a warning in JSON:\n{text}"));
    let v: serde_json::Value = serde_json::from_str(warning)
        .unwrap_or_else(|e| panic!("{e}: not one JSON object: {warning}"));
    assert_eq!(v["level"], "warning", "{v}");
    assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "logrus's key order: {warning}");
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "every line is JSON:\n{text}"
    );

    // RUST_LOG=error silences the agent's warnings; --log-level beats it.
    let quiet = unreachable_agent(&[], &[("RUST_LOG", "error")], Duration::from_secs(3));
    assert!(
        !quiet.contains("cannot connect"),
        "RUST_LOG=error:\n{quiet}"
    );
    let loud = unreachable_agent(
        &["--log-level", "warn"],
        &[("RUST_LOG", "error")],
        Duration::from_secs(10),
    );
    assert!(
        loud.contains("level=warning") && loud.contains("cannot connect"),
        "--log-level warn beats RUST_LOG=error:\n{loud}"
    );

    // A client command takes them too, and a level that is none is refused with the fix.
    let out = Command::new(volley_bin())
        .args([
            "runs",
            "--controller",
            "http://127.0.0.1:9",
            "--log-level",
            "loud",
        ])
        .output()
        .expect("volley runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(104), "{err}");
    assert!(
        err.contains("invalid --log-level") && err.contains("loud") && err.contains("debug"),
        "{err}"
    );
    let out = Command::new(volley_bin())
        .args([
            "runs",
            "--controller",
            "http://127.0.0.1:9",
            "--log-format",
            "json",
        ])
        .output()
        .expect("volley runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().next().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(
        v["level"], "error",
        "the CLI's own errors follow the format: {err}"
    );
}

/// On a terminal, log lines take k6's coloured form (`k6 run` v1.1.0 prints
/// `console.warn('careful', 1)` as `\x1b[33mWARN\x1b[0m[0000] careful 1 …`); NO_COLOR turns it
/// back into the plain text form.
#[test]
fn log_lines_on_a_terminal_take_k6s_coloured_form() {
    let dir = temp_dir("logging-tty");
    let script = dir.join("console.js");
    std::fs::write(
        &script,
        "export const options = { iterations: 1 };\n\
         export default function () { console.warn('careful', 1); }\n",
    )
    .unwrap();
    let run = |no_color: bool| {
        let mut cmd = Command::new(volley_bin());
        cmd.args(["run", "-q", "--no-summary"]).arg(&script);
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let mut p = PtyProc::spawn(cmd, no_color);
        assert_eq!(p.exit_code(Duration::from_secs(60)), 0, "{}", p.text());
        p.text()
    };
    let text = run(false);
    let line = text
        .lines()
        .find(|l| l.contains("careful 1"))
        .unwrap_or_else(|| panic!("{text:?}"));
    assert!(line.starts_with("\x1b[33mWARN\x1b[0m[000"), "{line:?}");
    assert!(
        line.trim_end_matches('\r').ends_with(&format!(
            "] careful 1{}\x1b[33msource\x1b[0m=console",
            " ".repeat(37)
        )),
        "{line:?}"
    );
    let plain = run(true);
    assert!(
        plain.contains("level=warning msg=\"careful 1\" source=console"),
        "{plain:?}"
    );
}

/// On a terminal, `volley run`'s log lines (`console.log` in a VU) are printed above its live
/// progress, as k6 prints them: the progress lines are erased first, so that no log line is
/// written onto them and overwritten by the next frame.
#[test]
fn log_lines_go_above_volley_runs_live_progress() {
    let dir = temp_dir("logging-above");
    let script = dir.join("tick.js");
    std::fs::write(
        &script,
        "import { sleep } from 'k6';\n\
         export const options = { vus: 1, iterations: 8 };\n\
         export default function () { console.log('tick ' + __ITER); sleep(0.3); }\n",
    )
    .unwrap();
    let mut cmd = Command::new(volley_bin());
    cmd.args(["run", "--no-summary"]).arg(&script);
    let mut p = PtyProc::spawn(cmd, false);
    assert_eq!(p.exit_code(Duration::from_secs(60)), 0, "{}", p.text());
    let text = p.text();
    assert!(text.contains("running ("), "a live progress: {text:?}");
    for i in 0..8 {
        let needle = format!("tick {i} ");
        let at = text
            .find(&needle)
            .unwrap_or_else(|| panic!("{needle:?} in {text:?}"));
        // What the terminal's cursor line held before the log line: if the progress was
        // drawn there, it must have been erased before the log line was written.
        let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
        let before = &text[line_start..at];
        if let Some(vus) = before.rfind("VUs") {
            assert!(
                before[vus..].contains("\x1b[2K"),
                "tick {i} written onto the progress line: {before:?}"
            );
        }
    }
}
