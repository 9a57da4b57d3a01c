//! The tools the browser tests need (Chromium, node, playwright-core), or why they are missing.

use std::path::PathBuf;
use std::process::Command;

use crate::paths::workspace_root;

/// What the browser tests need (`tests/browser/`): Chromium (`CHROMIUM`, else
/// `/usr/bin/chromium`), `playwright-core` installed by `npm ci` there, and node. Returns
/// Chromium and the folder of the scripts, or why they cannot run.
pub fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!(
            "no Chromium at {} (apt-get install chromium, or set CHROMIUM)",
            chromium.display()
        ));
    }
    let dir = workspace_root().join("tests/browser");
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Err(format!(
            "playwright-core is not installed (run `npm ci` in {})",
            dir.display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is not installed".into());
    }
    Ok((chromium, dir))
}

/// [`browser_tools`] for a test named `what`: None (after printing SKIP) when they are missing
/// outside CI; under `CI=true` a missing tool fails the test, since `.ci/run` installs them.
pub fn browser_tools_or_skip(what: &str) -> Option<(PathBuf, PathBuf)> {
    match browser_tools() {
        Ok(tools) => Some(tools),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{what} cannot run in CI: {why}; .ci/run installs it")
        }
        Err(why) => {
            eprintln!("SKIP {what}: {why}");
            None
        }
    }
}
