//! A script whose data outgrows the JS heap budget (`--max-js-heap`) ends its run with an
//! "out of JS memory" abort, ABORTED_BY_LIMIT, while the process that ran it goes on: an agent
//! stays registered and takes the next run, and `volley run` exits 97 with the reason instead of
//! being killed by the kernel.

use std::path::PathBuf;
use std::time::Duration;

use volley_e2e::{temp_dir, volley_run, Cluster};

/// Keeps every 16 MiB array it makes, 40 of them (640 MiB) if nothing stops it.
const HOARDER: &str = "const hoard = [];\n\
export const options = { vus: 1, iterations: 40 };\n\
export default function () { hoard.push(new Array(1 << 20).fill(1)); }\n";

fn write(dir: &std::path::Path, name: &str, js: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, js).expect("write script");
    path
}

#[test]
fn a_script_outgrowing_the_js_heap_aborts_its_run_and_the_agent_goes_on() {
    let mut cluster = Cluster::start("js-memory", 0);
    cluster.add_agent("gen-1", &["--max-js-heap", "64", "--workers", "1"]);
    cluster.wait_agents(1);
    let dir = temp_dir("js-memory-scripts");
    let hoarder = write(&dir, "hoarder.js", HOARDER);
    let mut submit = cluster.submit(&hoarder, &[]);
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(60), 97);
    let id = cluster.latest_run_id().expect("run");
    let run = cluster.run(id).expect("run");
    assert_eq!(run["run_status"], 9, "ABORTED_BY_LIMIT: {run}");
    let detail = run["error_detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("out of JS memory: the script's data outgrew the JS heap budget of 64 MiB per JS worker (64 MiB over 1 worker, agent gen-1 --max-js-heap)"),
        "{detail}"
    );
    // The agent is still registered and takes the next run.
    let agents = cluster.get("/v1/agents").expect("agents");
    assert_eq!(agents["agents"][0]["name"], "gen-1", "{agents}");
    let quick = write(
        &dir,
        "quick.js",
        "export const options = { vus: 1, iterations: 3 };\nexport default function () {}\n",
    );
    let mut submit = cluster.submit(&quick, &[]);
    cluster.assert_submit_exit(&mut submit, Duration::from_secs(30), 0);
}

#[test]
fn volley_run_ends_a_run_outgrowing_its_js_heap_with_the_reason() {
    let dir = temp_dir("js-memory-local");
    let hoarder = write(&dir, "hoarder.js", HOARDER);
    let out = volley_run(
        &[
            "--max-js-heap",
            "64",
            "--workers",
            "1",
            "-q",
            hoarder.to_str().unwrap(),
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(97), "{err}");
    assert!(
        err.contains("out of JS memory: the script's data outgrew the JS heap budget of 64 MiB per JS worker (64 MiB over 1 worker, volley run --max-js-heap)"),
        "{err}"
    );
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("iterations"), "the summary is printed: {out}");
}

/// The budget holds in every phase that runs JS: the first init (one runtime, the whole
/// budget), VU init (each worker's share) and setup().
#[test]
fn volley_run_ends_init_and_setup_outgrowing_the_js_heap_with_the_reason() {
    let dir = temp_dir("js-memory-phases");
    let cases = [
        (
            "first-init.js",
            "const a = [];\nwhile (true) a.push(new Array(1 << 20).fill(1));\n\
             export default function () {}\n",
            "100 MiB per JS worker (100 MiB over 1 worker, volley run --max-js-heap)",
        ),
        (
            // 32 MiB per VU, two VUs per worker: more than a worker's 50 MiB.
            "vu-init.js",
            "const big = new Array(1 << 21).fill(1);\n\
             export const options = { vus: 4, iterations: 4 };\n\
             export default function () {}\n",
            "50 MiB per JS worker (100 MiB over 2 workers, volley run --max-js-heap)",
        ),
        (
            "setup.js",
            "export const options = { vus: 1, iterations: 1 };\n\
             export function setup() { const a = []; while (true) a.push(new Array(1 << 20).fill(1)); }\n\
             export default function () {}\n",
            "50 MiB per JS worker (100 MiB over 2 workers, volley run --max-js-heap)",
        ),
    ];
    for (name, js, budget) in cases {
        let script = write(&dir, name, js);
        let out = volley_run(
            &[
                "--max-js-heap",
                "100",
                "--workers",
                "2",
                "-q",
                script.to_str().unwrap(),
            ],
            &[],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(97), "{name}: {err}");
        assert!(
            err.contains(&format!(
                "limit exceeded (max_js_heap): out of JS memory: the script's data outgrew the JS heap budget of {budget}"
            )),
            "{name}: {err}"
        );
    }
}
