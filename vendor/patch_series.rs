//! Volley: applies a vendored crate's patch series (its `patches/`) to the copies of its
//! sources that its `build.rs` has made in `OUT_DIR`, so that the vendored sources stay exactly
//! as upstream ships them and an upgrade is a rebase of the series. Shared by the build scripts
//! of `vendor/rquickjs-sys` and `vendor/hyper` (each includes this file; see their VOLLEY.md).
//!
//! The patches are `git format-patch` files (a header saying what and why, then unified diffs
//! against the sources' directory, e.g. `quickjs/…` or `src/…`). They are applied in file-name
//! order and strictly: every hunk must match at its stated line, with no offset or fuzz, or
//! the build stops and names the hunk. The series is made against these exact sources, so a
//! hunk that does not match means the sources or the series changed and the series needs a
//! rebase, not a guess. Applying here, in Rust, keeps `cargo build` free of any tool beyond the
//! compiler (no `patch`, no `git`) and works offline.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// One hunk of a unified diff: where it starts in the old file and its lines, each with its
/// kind (' ', '-' or '+') and its text including the line terminator.
struct Hunk {
    old_start: usize,
    lines: Vec<(u8, String)>,
}

/// The hunks of one file of a patch, named by its path below the crate root (`quickjs/…`).
struct FileDiff {
    path: String,
    hunks: Vec<Hunk>,
}

/// The `.patch` files of `dir`, in the order they apply.
pub fn series(dir: &Path) -> Vec<PathBuf> {
    let mut patches: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read the patch series in {}: {e}", dir.display()))
        .map(|entry| entry.expect("patch directory entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "patch"))
        .collect();
    patches.sort();
    patches
}

/// Applies every patch of `dir` to the copies in `out_dir` of the sources below `prefix`
/// (with `prefix` `"quickjs/"`, `quickjs/x.c` is `out_dir/x.c`). A patch that touches a file
/// outside `prefix` stops the build.
pub fn apply(dir: &Path, prefix: &str, out_dir: &Path) {
    for patch in series(dir) {
        let text = fs::read_to_string(&patch)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", patch.display()));
        let name = patch.display().to_string();
        for file in parse(&text, &name) {
            let rel = file.path.strip_prefix(prefix).unwrap_or_else(|| {
                panic!("{name}: {} is not one of the patched sources ({prefix}…)", file.path)
            });
            let target = out_dir.join(rel);
            let old = fs::read_to_string(&target).unwrap_or_else(|e| {
                panic!(
                    "{name}: cannot read {} ({e}); is it a copied source?",
                    target.display()
                )
            });
            let new = apply_file(&old, &file, &name);
            fs::write(&target, new)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
        }
    }
}

/// Splits a text into lines that keep their `\n`.
fn lines_of(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// The file diffs of a patch; everything before the first `--- ` / `+++ ` pair (the header
/// and the diffstat) and after the last hunk (the signature, if any) is ignored.
fn parse(text: &str, name: &str) -> Vec<FileDiff> {
    let lines = lines_of(text);
    let mut files = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let is_file_header =
            lines[i].starts_with("--- ") && lines.get(i + 1).is_some_and(|l| l.starts_with("+++ "));
        if !is_file_header {
            i += 1;
            continue;
        }
        let path = lines[i + 1]["+++ ".len()..].trim_end();
        let path = path.strip_prefix("b/").unwrap_or(path).to_string();
        assert!(
            path != "/dev/null",
            "{name}: deleting files is not supported"
        );
        i += 2;
        let mut hunks = Vec::new();
        while i < lines.len() && lines[i].starts_with("@@ ") {
            let (old_start, old_count, new_count) = hunk_header(lines[i], name);
            i += 1;
            let (mut old_seen, mut new_seen) = (0, 0);
            let mut body: Vec<(u8, String)> = Vec::new();
            while old_seen < old_count || new_seen < new_count {
                let line = *lines
                    .get(i)
                    .unwrap_or_else(|| panic!("{name}: hunk at old line {old_start} is cut short"));
                i += 1;
                if line.starts_with('\\') {
                    // "\ No newline at end of file": the previous line has no terminator.
                    if let Some((_, prev)) = body.last_mut() {
                        prev.pop();
                    }
                    continue;
                }
                let kind = line.as_bytes()[0];
                match kind {
                    b' ' => (old_seen, new_seen) = (old_seen + 1, new_seen + 1),
                    b'-' => old_seen += 1,
                    b'+' => new_seen += 1,
                    // An empty context line whose leading space was lost.
                    b'\n' => (old_seen, new_seen) = (old_seen + 1, new_seen + 1),
                    _ => {
                        panic!("{name}: unexpected line in hunk at old line {old_start}: {line:?}")
                    }
                }
                let (kind, text) = if kind == b'\n' {
                    (b' ', line)
                } else {
                    (kind, &line[1..])
                };
                body.push((kind, text.to_string()));
            }
            if lines.get(i).is_some_and(|l| l.starts_with('\\')) {
                if let Some((_, prev)) = body.last_mut() {
                    prev.pop();
                }
                i += 1;
            }
            hunks.push(Hunk {
                old_start,
                lines: body,
            });
        }
        assert!(!hunks.is_empty(), "{name}: no hunks for {path}");
        files.push(FileDiff { path, hunks });
    }
    assert!(!files.is_empty(), "{name}: no diff found");
    files
}

/// `@@ -a,b +c,d @@ …` as (a, b, d); a missing count is 1.
fn hunk_header(line: &str, name: &str) -> (usize, usize, usize) {
    fn range(field: Option<&str>, sign: char) -> Option<(usize, usize)> {
        let mut parts = field?.strip_prefix(sign)?.splitn(2, ',');
        let start = parts.next()?.parse().ok()?;
        let count = match parts.next() {
            Some(count) => count.parse().ok()?,
            None => 1,
        };
        Some((start, count))
    }
    let mut fields = line.split_whitespace().skip(1);
    match (range(fields.next(), '-'), range(fields.next(), '+')) {
        (Some((old_start, old_count)), Some((_, new_count))) => (old_start, old_count, new_count),
        _ => panic!("{name}: bad hunk header {line:?}"),
    }
}

/// The text of `old` with the hunks of `file` applied, each exactly at its stated line.
fn apply_file(old: &str, file: &FileDiff, name: &str) -> String {
    let old_lines = lines_of(old);
    let mut out = String::with_capacity(old.len() + old.len() / 16);
    let mut pos = 0; // next line of `old` not yet copied (0-based)
    for hunk in &file.hunks {
        // A hunk that only adds to an empty file says line 0.
        let start = hunk.old_start.saturating_sub(1);
        assert!(
            start >= pos && start <= old_lines.len(),
            "{name}: hunk at line {} of {} is out of order or past the end",
            hunk.old_start,
            file.path
        );
        out.extend(old_lines[pos..start].iter().copied());
        pos = start;
        for (kind, text) in &hunk.lines {
            if *kind == b'+' {
                out.push_str(text);
                continue;
            }
            let found = old_lines.get(pos).copied();
            assert!(
                found == Some(text.as_str()),
                "{name}: hunk at line {} of {} does not apply: line {} is {:?}, the patch \
                 expects {:?}; rebase the series onto these sources (the crate's VOLLEY.md)",
                hunk.old_start,
                file.path,
                pos + 1,
                found.unwrap_or("<end of file>"),
                text
            );
            if *kind == b' ' {
                out.push_str(text);
            }
            pos += 1;
        }
    }
    out.extend(old_lines[pos..].iter().copied());
    out
}
