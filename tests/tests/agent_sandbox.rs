//! What a submitted script can reach on an agent (docs/agent-sandbox.md): a real controller and
//! agent on loopback, scripts written to a temporary folder and submitted with `volley submit`.
//! - `open()` and `import` see only the run's archive: absolute paths, `..` climbing out of it
//!   and the agent's own files (`/proc/self/environ`) are refused with a message naming the
//!   path, while the same script run locally opens them, as `k6 run` does;
//! - `__ENV` carries what the run sent, nothing of the agent's environment;
//! - the agent's work folder is private (0700);
//! - requests to the controller's own endpoints, to cloud-metadata addresses and to the
//!   operator's `--deny-target` are refused with k6's blocked-target codes, naming the rule,
//!   while loopback targets stay reachable; locally only `blacklistIPs` / `blockHostnames` apply.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use volley_e2e::{temp_dir, volley_run, Cluster, Target};

const RUN_TIMEOUT: Duration = Duration::from_secs(25);

/// Enough `../` to climb from any test folder to `/` (and, on an agent, out of the archive).
fn climb() -> String {
    "../".repeat(40)
}

/// The `console.log` messages of the cluster's agents, all together.
fn agent_messages(c: &Cluster) -> Vec<String> {
    c.console_messages()
        .into_iter()
        .flat_map(|(_, m)| m)
        .collect()
}

#[test]
fn open_and_env_on_an_agent_see_only_the_run() {
    let dir = temp_dir("sandbox-open");
    let script = dir.join("probe.js");
    std::fs::write(dir.join("data.txt"), "bundled").unwrap();
    std::fs::write(
        &script,
        format!(
            r#"
const probes = ['./data.txt', '/etc/passwd', '/proc/self/environ', '{climb}etc/passwd',
                'file:///etc/hostname'];
for (const p of probes) {{
  try {{ const s = open(p); console.log(`OPENED ${{p}} ${{s.length > 0}}`); }}
  catch (e) {{ console.log(`REFUSED ${{e.message}}`); }}
}}
console.log(`ENV ${{JSON.stringify(__ENV)}}`);
export const options = {{ iterations: 1, vus: 1 }};
export default function () {{}}
"#,
            climb = climb()
        ),
    )
    .unwrap();

    // Locally, as with `k6 run`, the script reads what the user can read.
    let out = volley_run(&["-q", script.to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for p in ["/etc/passwd", "/proc/self/environ", "file:///etc/hostname"] {
        assert!(text.contains(&format!("OPENED {p} true")), "{p}: {text}");
    }

    let cluster = Cluster::start("sandbox-open", 1);
    let mut submit = cluster.submit(&script, &["-e", "FROM_RUN=yes"]);
    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 0);
    let msgs = agent_messages(&cluster);
    let has = |m: &str| msgs.iter().any(|x| x.contains(m));
    assert!(has("OPENED ./data.txt true"), "{msgs:?}");
    for p in ["/etc/passwd", "/proc/self/environ", "file:///etc/hostname"] {
        assert!(
            has(&format!(
                "REFUSED open() of {p:?} is an absolute path, and a script run by an agent reads \
                 only the files bundled in its archive"
            )),
            "{p}: {msgs:?}"
        );
    }
    assert!(
        has(&format!(
            "REFUSED open() of \"{}etc/passwd\" leads outside the run's archive",
            climb()
        )),
        "{msgs:?}"
    );
    assert!(!has("OPENED /"), "{msgs:?}");
    // The run's `-e` values, and nothing of the agent's environment (it has TMPDIR and PATH).
    let env = msgs
        .iter()
        .find_map(|m| m.strip_prefix("ENV "))
        .unwrap_or_else(|| panic!("no ENV line: {msgs:?}"));
    let env: serde_json::Value = serde_json::from_str(env).unwrap();
    assert_eq!(env, serde_json::json!({ "FROM_RUN": "yes" }));
}

#[test]
fn imports_on_an_agent_stay_inside_the_archive() {
    let dir = temp_dir("sandbox-import");
    std::fs::create_dir_all(dir.join("t")).unwrap();
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    let lib = dir.join("lib/helper.js");
    std::fs::write(&lib, "export const HELLO = 'hi';\n").unwrap();
    let lib_abs = lib.to_str().unwrap().to_string();
    // Three ways to name the same bundled module: only the relative one works on an agent.
    let refused = format!("{lib_abs}': outside the run's archive: a script run by an agent");
    let cases = [
        ("relative.js", "../lib/helper.js".to_string(), None),
        ("absolute.js", lib_abs.clone(), Some(refused.clone())),
        (
            "climbing.js",
            format!("{}{}", climb(), lib_abs.trim_start_matches('/')),
            Some(refused),
        ),
    ];
    let cluster = Cluster::start("sandbox-import", 1);
    for (name, spec, refused) in &cases {
        let script = dir.join("t").join(name);
        std::fs::write(
            &script,
            format!(
                "import {{ HELLO }} from '{spec}';\nconsole.log(`IMPORTED ${{HELLO}}`);\n\
                 export const options = {{ iterations: 1, vus: 1 }};\n\
                 export default function () {{}}\n"
            ),
        )
        .unwrap();
        // Locally every form loads (as in k6).
        let out = volley_run(&["-q", script.to_str().unwrap()], &[]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut submit = cluster.submit(&script, &[]);
        let code = cluster.submit_exit_code(&mut submit, RUN_TIMEOUT);
        let said = format!("{}{}", submit.stdout.text(), submit.stderr.text());
        match refused {
            None => assert_eq!(code, 0, "{name}: {said}"),
            Some(msg) => {
                assert_ne!(code, 0, "{name}: {said}");
                assert!(
                    said.contains(msg.as_str()),
                    "{name}: wanted {msg:?} in {said}"
                );
            }
        }
    }
}

#[test]
fn the_agent_work_folder_is_private() {
    let mut cluster = Cluster::start("sandbox-modes", 0);
    let tmp = temp_dir("sandbox-modes-tmp");
    let work = tmp.join("volley-agent-gen-1");
    // A folder left readable by an older version is tightened when the agent starts.
    std::fs::create_dir_all(&work).unwrap();
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o755)).unwrap();
    cluster.add_agent_with_tmp("gen-1", &tmp);
    cluster.wait_agents(1);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&work), 0o700);

    // A work folder planted as a symbolic link (someone else's folder under a shared /tmp) is
    // refused: the agent exits instead of writing archives there.
    let planted = temp_dir("sandbox-modes-planted");
    let elsewhere = planted.join("theirs");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, planted.join("volley-agent-gen-2")).unwrap();
    let mut agent = volley_e2e::Proc::spawn(
        std::process::Command::new(volley_e2e::volley_bin())
            .args([
                "agent",
                "--controller",
                &cluster.grpc_url,
                "--name",
                "gen-2",
            ])
            .env("TMPDIR", &planted),
    );
    assert_eq!(agent.exit_code(Duration::from_secs(10)), 1);
    let err = agent.stderr.text();
    assert!(
        err.contains("volley-agent-gen-2 is not a folder (a symbolic link or a file)"),
        "{err}"
    );
}

/// A script that requests each URL of `__ENV.URLS` (comma-separated) and logs
/// `GOT <url> <status> <error_code> <error>`.
const PROBE_URLS: &str = r#"
import http from 'k6/http';
export const options = { iterations: 1, vus: 1 };
export default function () {
  for (const u of __ENV.URLS.split(',')) {
    const r = http.get(u, { timeout: '5s' });
    console.log(`GOT ${u} ${r.status} ${r.error_code} ${r.error}`);
  }
}
"#;

#[test]
fn requests_on_an_agent_stay_off_the_controller_and_metadata() {
    let target = Target::start();
    let dir = temp_dir("sandbox-targets");
    let script = dir.join("probe.js");
    std::fs::write(&script, PROBE_URLS).unwrap();
    let cluster = Cluster::start_with("sandbox-targets", &["--deny-target", "*.blocked.test"], 1);
    let grpc = cluster.grpc_url.clone();
    let rest = cluster.rest_url.clone();
    let refused_addr = [
        format!("{rest}/v1/agents"),
        format!("{grpc}/"),
        // The same REST port by another loopback spelling.
        format!("http://localhost:{}/v1/agents", cluster.rest_port),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[fd00:ec2::254]/".to_string(),
    ];
    let mut urls = vec![format!("{}/", target.url)];
    urls.extend(refused_addr.iter().cloned());
    urls.push("http://api.blocked.test/".to_string());
    let env = format!("URLS={}", urls.join(","));
    let mut submit = cluster.submit(&script, &["-e", &env]);
    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 0);
    let msgs = agent_messages(&cluster);
    let got = |u: &str| {
        msgs.iter()
            .find(|m| m.starts_with(&format!("GOT {u} ")))
            .unwrap_or_else(|| panic!("no answer for {u}: {msgs:?}"))
            .clone()
    };
    assert!(
        got(&urls[0]).starts_with(&format!("GOT {} 200 0", urls[0])),
        "a loopback target stays reachable: {msgs:?}"
    );
    for u in &refused_addr {
        assert_eq!(
            got(u),
            format!("GOT {u} 0 1110 target refused by the agent's target policy"),
            "{msgs:?}"
        );
    }
    assert_eq!(
        got("http://api.blocked.test/"),
        "GOT http://api.blocked.test/ 0 1111 target refused by the agent's target policy"
    );
    // The warning names the rule and why it is there.
    let logs = cluster.agent_log("gen-1").expect("gen-1's log").text();
    for rule in [
        format!(
            "matches \\\"127.0.0.1:{}\\\" (the controller's REST API)",
            cluster.rest_port
        ),
        "matches \\\"169.254.0.0/16\\\" (link-local and cloud metadata addresses".to_string(),
        "matches \\\"*.blocked.test\\\" (--deny-target)".to_string(),
    ] {
        assert!(logs.contains(&rule), "{rule}: {logs}");
    }

    // Locally there is no policy, as with `k6 run`: the controller's API answers.
    let local = volley_run(
        &[
            "-q",
            "-e",
            &format!("URLS={rest}/v1/agents"),
            script.to_str().unwrap(),
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&local.stderr);
    assert!(local.status.success(), "{text}");
    assert!(
        !text.contains("target policy") && !text.contains(&format!("GOT {rest}/v1/agents 0 ")),
        "a local run reaches the controller: {text}"
    );
}

#[test]
fn blacklist_ips_and_block_hostnames_refuse_as_in_k6() {
    let target = Target::start();
    let dir = temp_dir("sandbox-blacklist");
    let script = dir.join("probe.js");
    std::fs::write(
        &script,
        PROBE_URLS.replace(
            "{ iterations: 1, vus: 1 }",
            "{ iterations: 1, vus: 1, blacklistIPs: ['127.0.0.0/8'], blockHostnames: ['*.example.com'] }",
        ),
    )
    .unwrap();
    let urls = format!("{}/,http://a.example.com/", target.url);
    let out = volley_run(
        &[
            "-q",
            "-e",
            &format!("URLS={urls}"),
            script.to_str().unwrap(),
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let host = target.url.trim_start_matches("http://");
    let ip = host.split(':').next().unwrap();
    for want in [
        format!("GOT {}/ 0 1110 ip is blacklisted", target.url),
        "GOT http://a.example.com/ 0 1111 hostname is blocked".to_string(),
        format!(
            "Get \\\"{}/\\\": IP ({ip}) is in a blacklisted range (127.0.0.0/8)",
            target.url
        ),
        "hostname (a.example.com) is in a blocked pattern (*.example.com)".to_string(),
    ] {
        assert!(text.contains(&want), "{want}: {text}");
    }

    // A CIDR that does not parse stops the run before it starts, in k6's words.
    std::fs::write(
        &script,
        PROBE_URLS.replace("vus: 1 }", "vus: 1, blacklistIPs: ['nope'] }"),
    )
    .unwrap();
    let out = volley_run(
        &[
            "-q",
            "-e",
            "URLS=http://127.0.0.1:1/",
            script.to_str().unwrap(),
        ],
        &[],
    );
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("failed to parse CIDR 'nope': invalid CIDR address: nope"),
        "{text}"
    );
}
