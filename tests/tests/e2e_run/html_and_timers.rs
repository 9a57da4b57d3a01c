//! k6/html and timers; handleSummary returning nothing.

use super::*;

#[test]
fn scraping_a_page_and_waiting_for_timers() {
    let t = Target::start();
    let r = run_example(&t, "scrape.js", &[]);
    r.assert_code(0);
    assert!(r.threshold_ok("checks", "rate==1"), "{}", r.stderr);
    // Per iteration: the page, the link, the form, and one request from a timer and one after
    // a promise, which the iteration waited for.
    assert_eq!(r.stat("http_reqs", "count"), 30.0);
    assert_eq!(r.stat("iterations", "count"), 6.0);
    let checks = r.data()["root_group"]["checks"].as_array().expect("checks");
    let names: Vec<&str> = checks.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        ["prices", "request after a promise", "request from a timer"],
        "{checks:?}"
    );
    assert!(r.stat("iteration_duration", "min") >= 100.0);
}

/// What handleSummary returns decides what is printed, as in k6 v1.1.0: `undefined` or `null`
/// print the default summary, `{}` prints nothing. The examples' helper (examples/lib/summary.js)
/// returns `undefined` without `-e OUT=...`, so running an example prints the usual summary.
#[test]
fn handle_summary_returning_nothing_prints_the_default_summary() {
    let dir = temp_dir("hs-returns");
    for (ret, want_summary) in [("undefined", true), ("null", true), ("{}", false)] {
        let path = dir.join("hs.js");
        std::fs::write(
            &path,
            format!(
                "export default function () {{}}\nexport function handleSummary() {{ return {ret}; }}\n"
            ),
        )
        .expect("write the script");
        let out = volley_run(&["-q", "-i", "1", path.to_str().expect("utf-8 path")], &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{ret}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            stdout.contains("TOTAL RESULTS"),
            want_summary,
            "handleSummary returning {ret}: {stdout}"
        );
    }
    let t = Target::start();
    let base = format!("BASE_URL={}", t.url);
    let out = volley_run(&["-q", "-e", &base, "examples/checks_groups.js"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("TOTAL RESULTS"), "{stdout}");
    assert!(!stdout.contains("\"root_group\""), "no JSON dump: {stdout}");
}
