//! Volley: builds hyper from upstream's untouched `src/` with Volley's patch series (VOLLEY.md).
//!
//! `src/` is copied to `OUT_DIR/src`, the series in `patches/` is applied to the copy strictly
//! (`vendor/patch_series.rs`, shared with `vendor/rquickjs-sys`), and the crate root
//! `volley/lib.rs` includes the copy's `lib.rs`. An included file cannot hold inner attributes,
//! so the copy's leading `#![…]` lines and `//!` documentation move out: the documentation to
//! `OUT_DIR/crate-doc.md`, which `volley/lib.rs` uses as the crate's, and each attribute must be
//! repeated verbatim in `volley/lib.rs`, or the build stops (an upgrade that changes them must
//! change `volley/lib.rs` too).

use std::{
    env, fs,
    path::{Path, PathBuf},
};

#[path = "../../patch_series.rs"]
mod patch_series;

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    for watched in ["src", "patches", "volley/lib.rs", "../patch_series.rs"] {
        println!("cargo:rerun-if-changed={watched}");
    }

    let copy = out_dir.join("src");
    if copy.exists() {
        fs::remove_dir_all(&copy)
            .unwrap_or_else(|e| panic!("cannot remove the old copy {}: {e}", copy.display()));
    }
    copy_dir(&root.join("src"), &copy);
    patch_series::apply(&root.join("patches"), "src/", &copy);

    let lib = copy.join("lib.rs");
    let text = fs::read_to_string(&lib).unwrap_or_else(|e| panic!("cannot read {}: {e}", lib.display()));
    let root_rs = root.join("volley/lib.rs");
    let ours = fs::read_to_string(&root_rs)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root_rs.display()));
    let (doc, body) = split_crate_attributes(&text, &ours);
    fs::write(out_dir.join("crate-doc.md"), doc).expect("write crate-doc.md");
    fs::write(&lib, body).unwrap_or_else(|e| panic!("cannot write {}: {e}", lib.display()));
}

/// Copies the directory `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    let entries =
        fs::read_dir(from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("directory entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&src, &dst);
        } else {
            fs::copy(&src, &dst)
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", src.display()));
        }
    }
}

/// Splits the lines before `lib.rs`'s first item into the crate documentation (its `//!`
/// lines, without the marker) and the rest of the file without them and without the `#![…]`
/// lines, each of which must appear verbatim in `ours` (the crate root that repeats them).
fn split_crate_attributes(text: &str, ours: &str) -> (String, String) {
    let mut doc = String::new();
    let mut body = String::with_capacity(text.len());
    let mut in_header = true;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if in_header {
            if let Some(rest) = trimmed.strip_prefix("//!") {
                doc.push_str(rest.strip_prefix(' ').unwrap_or(rest));
                doc.push('\n');
                // Keep the line count, so that line numbers in errors match upstream's file.
                body.push('\n');
                continue;
            }
            if trimmed.starts_with("#![") {
                assert!(
                    ours.lines().any(|l| l.trim_end() == trimmed),
                    "upstream's src/lib.rs has the crate attribute `{trimmed}`, which \
                     vendor/hyper/volley/lib.rs does not repeat; add it there (VOLLEY.md)"
                );
                body.push('\n');
                continue;
            }
            if !trimmed.is_empty() && !trimmed.starts_with("//") {
                in_header = false;
            }
        }
        body.push_str(line);
    }
    assert!(!doc.is_empty(), "upstream's src/lib.rs has no crate documentation (//! lines)");
    (doc, body)
}
