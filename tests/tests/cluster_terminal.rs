//! The cluster's live views on a terminal (a pty): `submit --wait` and `status RUN --follow`
//! redraw the progress `volley run` draws (status line, a line per scenario, figures, a row per
//! agent), print events as they happen, colour the final summary exactly as `volley run` does
//! (plain under `NO_COLOR`), Ctrl+C in `--follow` detaches, and a `--follow` that loses the
//! controller exits 98 as `submit --wait` does.

use std::process::Command;
use std::time::{Duration, Instant};

use volley_e2e::pty::PtyProc;
use volley_e2e::{send_signal, temp_dir, volley_bin, Cluster, Proc};

/// Two agents' worth of VUs for a few seconds, with a check (the summary's ✓ line) and a
/// threshold (its ✓ mark).
const SCRIPT: &str = "import { check, sleep } from 'k6';\n\
    export const options = { vus: 2, duration: '3s', thresholds: { checks: ['rate>0.9'] } };\n\
    export default function () { check(1, { 'one is one': (v) => v === 1 }); sleep(0.2); }\n";

/// A run long enough to follow, detach from, and lose the controller of.
const LONG: &str = "import { sleep } from 'k6';\n\
    export const options = { vus: 1, duration: '40s' };\n\
    export default function () { sleep(0.2); }\n";

/// The line of `text` holding `needle`, with the pty's `\r` removed.
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .map(|l| l.trim_end_matches('\r'))
        .unwrap_or_else(|| panic!("a line with {needle:?} in:\n{text}"))
}

/// `line` with its counts and rates (which differ from run to run) as `N`, and its escape
/// codes kept.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut in_escape = false;
    let mut last_digit = false;
    for c in line.chars() {
        if c == '\x1b' {
            in_escape = true;
        }
        if in_escape {
            out.push(c);
            in_escape = c != 'm';
            continue;
        }
        if c.is_ascii_digit() || (last_digit && c == '.') {
            if !last_digit {
                out.push('N');
            }
            last_digit = true;
        } else {
            last_digit = false;
            out.push(c);
        }
    }
    out
}

#[test]
fn submit_wait_on_a_terminal_draws_live_progress_and_colours_the_summary_as_volley_run() {
    let cluster = Cluster::start("terminal", 2);
    let dir = temp_dir("terminal");
    let script = dir.join("checked.js");
    std::fs::write(&script, SCRIPT).unwrap();

    let mut cmd = cluster.volley();
    cmd.args(["submit", "--wait", "--controller", &cluster.rest_url])
        .arg(&script);
    let mut submit = PtyProc::spawn(cmd, false);
    assert_eq!(
        submit.exit_code(Duration::from_secs(60)),
        0,
        "{}",
        submit.text()
    );
    let text = submit.text();

    // The live block was drawn, then redrawn in place (indicatif clears the lines it drew).
    let frames = text.matches("running (").count();
    assert!(
        frames >= 2,
        "the progress was redrawn ({frames} frames):\n{text:?}"
    );
    assert!(
        text.contains("\x1b[2K"),
        "lines cleared in place:\n{text:?}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("default ") && l.contains("% ] 2 VUs")),
        "a line per scenario:\n{text}"
    );
    assert!(
        text.contains("1/2 VUs") || text.contains("2/2 VUs"),
        "the active VUs, summed over the agents:\n{text}"
    );
    assert!(
        text.contains("PROC CPU%") && text.contains("gen-1") && text.contains("gen-2"),
        "a row per agent with its process CPU:\n{text}"
    );
    assert!(
        text.contains("run 1: RUNNING (2)"),
        "status changes as lines:\n{text}"
    );

    // The summary is coloured exactly as `volley run` colours the same script's.
    let mut local = Command::new(volley_bin());
    local.arg("run").arg("-q").arg(&script);
    let mut local = PtyProc::spawn(local, false);
    assert_eq!(
        local.exit_code(Duration::from_secs(60)),
        0,
        "{}",
        local.text()
    );
    let local = local.text();
    for needle in ["one is one", "checks_succeeded", "rate>0.9"] {
        let cluster_line = line_with(&text, needle);
        assert!(cluster_line.contains("\x1b["), "coloured: {cluster_line:?}");
        assert_eq!(
            shape(cluster_line),
            shape(line_with(&local, needle)),
            "the {needle} line as volley run colours it"
        );
    }

    // NO_COLOR: the same summary without colours (the live block still moves the cursor).
    let mut cmd = cluster.volley();
    cmd.args(["submit", "--wait", "--controller", &cluster.rest_url])
        .arg(&script)
        .env("NO_COLOR", "1");
    let mut plain = PtyProc::spawn(cmd, true);
    assert_eq!(
        plain.exit_code(Duration::from_secs(60)),
        0,
        "{}",
        plain.text()
    );
    let plain = plain.text();
    let check = line_with(&plain, "one is one");
    assert!(!check.contains("\x1b["), "NO_COLOR: {check:?}");
    assert!(
        !plain.contains("\x1b[32m"),
        "no green anywhere under NO_COLOR:\n{plain:?}"
    );

    // Not a terminal: lines only, no escape codes, the summary plain.
    let mut piped = Proc::spawn(
        cluster
            .volley()
            .args(["submit", "--wait", "--controller", &cluster.rest_url])
            .arg(&script),
    );
    assert_eq!(piped.exit_code(Duration::from_secs(60)), 0);
    let (out, err) = (piped.stdout.text(), piped.stderr.text());
    assert!(
        !out.contains('\x1b') && !err.contains('\x1b'),
        "{out:?}\n{err:?}"
    );
    assert!(
        !err.contains("running ("),
        "no live block off a terminal: {err}"
    );
    assert!(out.contains("✓ one is one"), "{out}");
}

#[test]
fn status_follow_on_a_terminal_redraws_detaches_on_ctrl_c_and_exits_98_without_its_controller() {
    let mut cluster = Cluster::start("terminal-follow", 1);
    let dir = temp_dir("terminal-follow");
    let script = dir.join("long.js");
    std::fs::write(&script, LONG).unwrap();
    let submitted = cluster
        .volley()
        .args(["submit", "--controller", &cluster.rest_url])
        .arg(&script)
        .output()
        .expect("volley submit");
    assert!(submitted.status.success(), "{submitted:?}");
    let (id, _) = cluster.wait_new_run(0, &[2], Duration::from_secs(30));

    let follow_cmd = || {
        let mut cmd = cluster.volley();
        cmd.args([
            "status",
            &id.to_string(),
            "--follow",
            "--controller",
            &cluster.rest_url,
        ]);
        cmd
    };
    let mut follow = PtyProc::spawn(follow_cmd(), false);
    assert!(
        follow.wait_for(
            |t| t.matches("running (").count() >= 2,
            Duration::from_secs(15)
        ),
        "the live progress is redrawn:\n{}",
        follow.text()
    );
    assert!(follow.text().contains("gen-1"), "{}", follow.text());
    let sent = Instant::now();
    assert!(send_signal(follow.id(), "INT"));
    assert_eq!(
        follow.exit_code(Duration::from_secs(5)),
        0,
        "{}",
        follow.text()
    );
    assert!(sent.elapsed() < Duration::from_secs(3), "detached at once");
    assert!(
        follow.text().contains("detached from run") && follow.text().contains("goes on"),
        "{}",
        follow.text()
    );
    assert!(
        !follow.text().contains("Stopping"),
        "Ctrl+C in --follow stops nothing and does not say so:\n{}",
        follow.text()
    );
    assert_eq!(
        cluster.run(id).expect("the run")["run_status"],
        2,
        "the run goes on"
    );

    // Losing the controller while following: 98, as `submit --wait`.
    let mut follow = Proc::spawn(&mut follow_cmd());
    follow
        .stdout
        .wait_for(|l| l.contains("RUNNING"), Duration::from_secs(10))
        .unwrap_or_else(|| panic!("--follow printed the status: {}", follow.stderr.text()));
    cluster.kill_controller();
    assert_eq!(
        follow.exit_code(Duration::from_secs(30)),
        98,
        "{}",
        follow.stderr.text()
    );
    assert!(
        follow
            .stderr
            .text()
            .contains("lost the controller while following run"),
        "{}",
        follow.stderr.text()
    );
}
