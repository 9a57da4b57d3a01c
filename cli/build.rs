//! Build facts for `volley version`: the commit (from `VOLLEY_COMMIT`, else `git`, else
//! "unknown"), the embedded QuickJS-ng version (read from the vendored header) and the target.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=VOLLEY_COMMIT");
    let commit = std::env::var("VOLLEY_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=VOLLEY_COMMIT={commit}");

    let header =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../vendor/rquickjs-sys/quickjs/quickjs.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let text = std::fs::read_to_string(&header).unwrap_or_default();
    let part = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("#define QJS_VERSION_{name} ")))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_else(|| "?".into())
    };
    println!(
        "cargo:rustc-env=VOLLEY_QUICKJS_VERSION={}.{}.{}{}",
        part("MAJOR"),
        part("MINOR"),
        part("PATCH"),
        part("SUFFIX")
    );
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    println!("cargo:rustc-env=VOLLEY_TARGET={os}/{arch}");
}

/// The short commit of the checkout, when built from one.
fn git_commit() -> Option<String> {
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("git")
        .args(["-C", dir, "rev-parse", "--short=10", "HEAD"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    // A new commit changes HEAD or the branch it names: rebuild the version then.
    let git = |args: &[&str]| {
        Command::new("git")
            .args(["-C", dir])
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let mut watched = vec!["HEAD".to_string()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            let path = Path::new(dir).join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
