//! Log lines as a user sees them: every subcommand has one log subscriber writing k6-style
//! lines on stderr. `volley run` prints k6's warning for a redirect chain cut at the default
//! limit — exactly when k6 does, in k6's words and quoting — and an agent that cannot reach its
//! controller says so instead of waiting silently.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let _ = std::fs::remove_dir_all(&dir);
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
