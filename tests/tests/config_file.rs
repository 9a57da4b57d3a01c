//! `volley controller --config FILE.toml` and `volley agent --config FILE.toml`
//! (docs/configuration.md): flags win over `VOLLEY_*` variables, which win over the file,
//! which wins over the defaults; `--check` prints the effective settings (secrets redacted) and
//! exits 0, or names every mistake and exits 104; the processes really take their files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use volley_e2e::{temp_dir, volley_bin, Cluster};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `volley SUB --config FILE --check ARGS` with `env` (and no other VOLLEY_* variable that
/// could change the outcome): exit code, stdout, stderr (its `\"` unescaped).
fn check(sub: &str, file: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(volley_bin());
    cmd.arg(sub)
        .arg("--config")
        .arg(file)
        .arg("--check")
        .args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("VOLLEY_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("volley runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        // Log lines quote their message: unquoted, the test reads what a user reads.
        String::from_utf8_lossy(&out.stderr).replace("\\\"", "\""),
    )
}

/// The `key = value` lines of a `--check` output, by key.
fn settings(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (kv, _) = l.rsplit_once("  # ")?;
            let (k, v) = kv.split_once(" = ")?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

#[test]
fn check_layers_flags_over_variables_over_the_file_over_defaults() {
    let dir = temp_dir("config-layers");
    let file = write(
        &dir,
        "controller.toml",
        "# a controller\nmax_groups = 12\nmax_series = 99\nmax_agents = 5\nlisten = \"127.0.0.1:7001\"\n\
         deny_targets = [\"10.0.0.0/8\", \"db.internal\"]\ntoken = \"file-secret-0123456789\"\n\
         on_agent_lost = \"continue\"\n",
    );
    let (code, out, err) = check(
        "controller",
        &file,
        &["--max-series", "7"],
        &[("VOLLEY_MAX_GROUPS", "13"), ("VOLLEY_MAX_AGENTS", "")],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    for line in [
        "max_series = 7  # flag",
        "max_groups = 13  # variable VOLLEY_MAX_GROUPS",
        "max_agents = 5  # file",
        "listen = \"127.0.0.1:7001\"  # file",
        "deny_targets = [\"10.0.0.0/8\", \"db.internal\"]  # file",
        "on_agent_lost = \"continue\"  # file",
        "max_duration = \"60m\"  # default",
        "insecure = false  # default",
        "token = \"<redacted>\"  # file",
        "# max_storage is not set",
        "# the configuration is valid",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "no line {line:?} in:\n{out}"
        );
    }
    assert!(!out.contains("file-secret"), "{out}");
    // The output, secret aside, is a configuration file giving the same settings.
    let again = write(
        &dir,
        "again.toml",
        &out.lines()
            .filter(|l| !l.starts_with("token ="))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let (code, out2, err) = check("controller", &again, &[], &[]);
    assert_eq!(code, 0, "{out2}\n{err}");
    let (mut first, second) = (settings(&out), settings(&out2));
    first.remove("token");
    assert_eq!(first, second);
    assert!(out2.contains("max_series = 7  # file"), "{out2}");
    // The agent's file, its variables and a secret from a variable.
    let file = write(
        &dir,
        "agent.toml",
        "labels = [\"zone=eu\", \"pool=big\"]\nmax_vus = 40\ndrain_grace = \"50m\"\n",
    );
    let (code, out, err) = check(
        "agent",
        &file,
        &[],
        &[
            ("VOLLEY_TOKEN", "var-secret-0123456789"),
            ("VOLLEY_AGENT_WORKERS", "3"),
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    for line in [
        "labels = [\"zone=eu\", \"pool=big\"]  # file",
        "max_vus = 40  # file",
        "drain_grace = \"50m\"  # file",
        "workers = 3  # variable VOLLEY_AGENT_WORKERS",
        "token = \"<redacted>\"  # variable VOLLEY_TOKEN",
        "controller = \"http://127.0.0.1:6566\"  # default",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "no line {line:?} in:\n{out}"
        );
    }
    assert!(!out.contains("var-secret"), "{out}");
}

#[test]
fn mistakes_are_named_and_exit_104() {
    let dir = temp_dir("config-mistakes");
    for (sub, toml, wants) in [
        (
            "controller",
            "max_group = 3\nagent_lost_after = 10\n",
            &[
                "unknown key `max_group` for volley controller; the nearest valid key is `max_groups`",
                "agent_lost_after = 10: expected a string in quotes, e.g. agent_lost_after = \"10s\"",
            ][..],
        ),
        (
            "controller",
            "agent_lost_after = \"soon\"\n",
            &["invalid --agent-lost-after \"soon\""][..],
        ),
        (
            "controller",
            "tls_key = \"/k.pem\"\n",
            &["--tls-cert", "docs/configuration.md"][..],
        ),
        (
            "agent",
            "data_dir = \"/x\"\nlabels = [\"zone\"]\n",
            &["unknown key `data_dir` for volley agent"][..],
        ),
        ("agent", "labels = [\"zone\"]\n", &["--label \"zone\": use KEY=VALUE"][..]),
        ("agent", "max_vus = [1\n", &["cannot read --config"][..]),
    ] {
        let file = write(&dir, "bad.toml", toml);
        let (code, out, err) = check(sub, &file, &[], &[]);
        assert_eq!(code, 104, "{sub} {toml:?}\n{out}\n{err}");
        for want in wants {
            assert!(err.contains(want), "{sub} {toml:?}: no {want:?} in:\n{err}");
        }
        assert!(!out.contains("the configuration is valid"), "{out}");
    }
    let (code, _, err) = check("agent", &dir.join("missing.toml"), &[], &[]);
    assert_eq!(code, 104, "{err}");
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn a_controller_and_an_agent_take_their_files() {
    let dir = temp_dir("config-run");
    let ctl = write(
        &dir,
        "controller.toml",
        "agent_max_vus = 3\nmax_groups = 12\n",
    );
    let agent = write(
        &dir,
        "agent.toml",
        "labels = [\"pool=from-file\"]\nmax_vus = 7\n# the flag --controller wins\ncontroller = \"http://127.0.0.1:1\"\n",
    );
    let mut c = Cluster::start_with("config-run", &["--config", ctl.to_str().unwrap()], 0);
    c.add_agent("gen-1", &["--config", agent.to_str().unwrap()]);
    let agents = c.wait_agents(1);
    let a = &agents["agents"][0];
    assert_eq!(a["labels"]["pool"], "from-file", "{a}");
    assert_eq!(a["max_vus"], 7, "{a}");
    let wanted = c.get("/v1/agents/wanted").unwrap();
    assert_eq!(wanted["agent_max_vus"], 3, "{wanted}");
}
