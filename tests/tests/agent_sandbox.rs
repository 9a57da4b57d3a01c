//! What a submitted script can reach on an agent (docs/agent-sandbox.md): a real controller and
//! agent on loopback, scripts written to a temporary folder and submitted with `volley submit`.
//! - `open()` and `import` see only the run's archive: absolute paths, `..` climbing out of it
//!   and the agent's own files (`/proc/self/environ`) are refused with a message naming the
//!   path, while the same script run locally opens them, as `k6 run` does;
//! - `__ENV` carries what the run sent, nothing of the agent's environment;
//! - the agent's work folder is private (0700).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use volley_e2e::{temp_dir, volley_run, Cluster};

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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_dir_all(&planted);
}
