//! Reading what `k6 archive` writes (k6 v1.1.0), so a k6 archive uploaded as is (by
//! `k6 cloud run`, or by hand) becomes a Volley [`Archive`]. The layout, as k6 v1.1.0 writes it
//! (learned from its output, see `docs/k6-cloud-client.md`):
//!
//! ```text
//! metadata.json          {"type": "js", "filename": "file:///abs/test.js", "pwd", "env",
//!                         "options", "compatibilityMode", "k6version", "goos"}
//! data                   the entry script's source
//! file/<abs path>        every local file (modules and open()ed files) by its absolute path;
//!                        the entry is a hard link to `data`
//! https/…                remote modules (not supported: Volley does not download modules)
//! ```
//!
//! The files keep their layout relative to each other ([`Archive::from_paths`] finds their common
//! folder), so relative imports and `open()` calls resolve as they did. k6 puts the cloud token
//! into the options it archives (`cloud.token`, `ext.loadimpact.token`); it is removed, so it is
//! never stored or shown with the test.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use serde_json::Value;

use super::{entry_kind_name, Archive, ArchiveError, MAX_ARCHIVE_BYTES, MAX_FILES, MAX_PATH_BYTES};

/// The entry holding the entry script's source.
const DATA_NAME: &str = "data";
/// The folder of local files, by absolute path.
const FILE_DIR: &str = "file/";

fn invalid(reason: impl Into<String>) -> ArchiveError {
    ArchiveError::InvalidMetadata {
        reason: format!("{} (a `k6 archive` tar)", reason.into()),
    }
}

/// Whether `bytes` is a tar whose `metadata.json` says k6 wrote it (has `k6version`). Cheap:
/// reads headers and the metadata only.
pub fn is_k6_archive(bytes: &[u8]) -> bool {
    let mut reader = tar::Archive::new(bytes);
    let Ok(entries) = reader.entries() else {
        return false;
    };
    for entry in entries {
        let Ok(mut entry) = entry else { return false };
        if entry.path_bytes().as_ref() != b"metadata.json" {
            continue;
        }
        if entry.size() > MAX_ARCHIVE_BYTES {
            return false;
        }
        let mut raw = Vec::new();
        if entry.read_to_end(&mut raw).is_err() {
            return false;
        }
        return serde_json::from_slice::<Value>(&raw)
            .is_ok_and(|m| m.get("k6version").is_some_and(Value::is_string));
    }
    false
}

/// Reads a k6 archive (the bytes `k6 archive` wrote) into a Volley archive, with the same limits
/// as [`Archive::from_tar`]: total size, file count, path length, regular files only (plus the
/// entry's hard link to `data`).
pub fn from_k6_tar(bytes: &[u8]) -> Result<Archive, ArchiveError> {
    if bytes.len() as u64 > MAX_ARCHIVE_BYTES {
        return Err(ArchiveError::TooLarge {
            size: bytes.len() as u64,
            largest: String::new(),
        });
    }
    let malformed = |source: std::io::Error| ArchiveError::Malformed { source };
    let mut metadata: Option<Vec<u8>> = None;
    let mut data: Option<Vec<u8>> = None;
    // Absolute path → contents; `None` for a hard link to `data`.
    let mut files: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let mut total: u64 = 0;
    let mut reader = tar::Archive::new(bytes);
    for entry in reader.entries().map_err(malformed)? {
        let mut entry = entry.map_err(malformed)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_dir() {
            continue;
        }
        let name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|e| {
            ArchiveError::NotUtf8Path {
                path: String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }
        })?;
        if name.len() > MAX_PATH_BYTES {
            return Err(ArchiveError::UnsafePath {
                path: name.chars().take(80).collect(),
                reason: "it is longer than 1024 bytes",
            });
        }
        if name.starts_with("https/") || name.starts_with("http/") {
            return Err(ArchiveError::UnexpectedEntry {
                path: format!(
                    "{name} (a remote module: Volley does not download modules; vendor it next to the script and import it by a relative path)"
                ),
            });
        }
        let abs = name.strip_prefix(FILE_DIR).map(|p| format!("/{p}"));
        if kind.is_hard_link() {
            let target = entry.link_name_bytes().unwrap_or_default();
            match &abs {
                Some(abs) if target.as_ref() == DATA_NAME.as_bytes() => {
                    files.insert(abs.clone(), None);
                    continue;
                }
                _ => {
                    return Err(ArchiveError::UnsupportedEntryType {
                        path: name,
                        kind: "hard link",
                    })
                }
            }
        }
        if !kind.is_file() {
            return Err(ArchiveError::UnsupportedEntryType {
                path: name,
                kind: entry_kind_name(kind),
            });
        }
        let size = entry.size();
        if size > MAX_ARCHIVE_BYTES - total {
            return Err(ArchiveError::FileTooLarge { path: name, size });
        }
        if files.len() >= MAX_FILES {
            return Err(ArchiveError::TooManyFiles {
                count: files.len() + 1,
            });
        }
        // Bounded by MAX_ARCHIVE_BYTES above.
        let mut buf = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut buf).map_err(malformed)?;
        if buf.len() as u64 != size {
            return Err(ArchiveError::Truncated {
                path: name,
                expected: size,
                found: buf.len() as u64,
            });
        }
        total += size;
        let slot = match (name.as_str(), abs) {
            ("metadata.json", _) => &mut metadata,
            (DATA_NAME, _) => &mut data,
            (_, Some(abs)) => {
                if files.insert(abs, Some(buf)).is_some() {
                    return Err(ArchiveError::DuplicateEntry { path: name });
                }
                continue;
            }
            _ => return Err(ArchiveError::UnexpectedEntry { path: name }),
        };
        if slot.replace(buf).is_some() {
            return Err(ArchiveError::DuplicateEntry { path: name });
        }
    }
    let meta: Value = serde_json::from_slice(&metadata.ok_or(ArchiveError::MissingMetadata)?)
        .map_err(|e| invalid(format!("metadata.json is not JSON: {e}")))?;
    let data = data.ok_or_else(|| invalid("the entry script's source `data` is missing"))?;
    let entry = entry_path(&meta)?;
    match meta.get("type").and_then(Value::as_str) {
        Some("js") | None => {}
        Some(other) => {
            return Err(invalid(format!(
                "metadata.json `type` is {other:?}; Volley runs JavaScript tests (\"js\")"
            )))
        }
    }
    let options = options_from_k6(meta.get("options").cloned().unwrap_or(Value::Null));
    let env = match meta.get("env") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| invalid("metadata.json `env` must map names to strings"))?,
    };
    let source = String::from_utf8(data).map_err(|_| ArchiveError::ModuleNotUtf8 {
        module: entry.clone(),
    })?;
    let mut modules = vec![(PathBuf::from(&entry), source.clone())];
    let mut other = Vec::new();
    for (path, contents) in files {
        if path == entry {
            continue; // the hard link to `data` (or a copy of it)
        }
        let contents = contents.unwrap_or_else(|| source.as_bytes().to_vec());
        let is_js = [".js", ".mjs", ".cjs"].iter().any(|e| path.ends_with(e));
        match String::from_utf8(contents) {
            Ok(text) if is_js => modules.push((PathBuf::from(path), text)),
            Ok(text) => other.push((PathBuf::from(path), text.into_bytes())),
            Err(e) => other.push((PathBuf::from(path), e.into_bytes())),
        }
    }
    Archive::from_paths(&PathBuf::from(&entry), &modules, &other, options, env)
}

/// The entry script's absolute path, from metadata.json's `filename` (`file:///abs/test.js`).
fn entry_path(meta: &Value) -> Result<String, ArchiveError> {
    let url = meta
        .get("filename")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("metadata.json has no `filename` (the entry script's URL)"))?;
    let path = url.strip_prefix("file://").ok_or_else(|| {
        invalid(format!(
            "metadata.json `filename` is {url:?}; Volley runs local scripts (file:// URLs)"
        ))
    })?;
    let path = percent_decode(path);
    if !path.starts_with('/') {
        return Err(invalid(format!(
            "metadata.json `filename` {url:?} is not an absolute file:// URL"
        )));
    }
    Ok(path)
}

/// `%20` → ` `: file URLs escape what is not allowed in a URL; anything malformed stays as is.
fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_string())
}

/// The options as Volley reads them from the options k6 writes (into its archive, or to
/// `validate-options`): k6 writes every option, `null` for the unset ones (`"thresholds": null`),
/// which Volley reads as unset by leaving them out; the cloud token is removed. `null` (no
/// options) gives `{}`.
pub fn options_from_k6(mut options: Value) -> Value {
    if options.is_null() {
        return Value::Object(Default::default());
    }
    strip_tokens(&mut options);
    drop_nulls(&mut options);
    options
}

/// Removes `null` members of objects, at any depth, and the objects left empty by that.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| {
                let was_empty = x.as_object().is_some_and(|o| o.is_empty());
                drop_nulls(x);
                !x.is_null() && (was_empty || !x.as_object().is_some_and(|o| o.is_empty()))
            });
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Removes the cloud token k6 archives with the options (`cloud.token`,
/// `ext.loadimpact.token`).
fn strip_tokens(options: &mut Value) {
    // Set to null, so `drop_nulls` also removes the objects this leaves empty.
    for path in ["/cloud/token", "/ext/loadimpact/token"] {
        if let Some(t) = options.pointer_mut(path) {
            *t = Value::Null;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar laid out as `k6 archive` v1.1.0 writes it.
    fn k6_tar(meta: &Value, data: &str, files: &[(&str, &[u8])], link: Option<&str>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, bytes: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append_data(&mut h, name, bytes).expect("append");
        };
        add("metadata.json", meta.to_string().as_bytes());
        add("data", data.as_bytes());
        for (name, bytes) in files {
            add(name, bytes);
        }
        if let Some(l) = link {
            let mut h = tar::Header::new_ustar();
            h.set_size(0);
            h.set_entry_type(tar::EntryType::Link);
            h.set_cksum();
            b.append_link(&mut h, l, "data").expect("link");
        }
        b.into_inner().expect("tar")
    }

    fn meta(filename: &str) -> Value {
        serde_json::json!({
            "type": "js", "filename": filename, "pwd": "file:///home/nobody/t",
            "env": {"BASE": "http://127.0.0.1:1"}, "k6version": "1.1.0", "goos": "linux",
            "compatibilityMode": "extended",
            "options": {"vus": 2, "paused": null, "cloud": {"token": "secret", "name": "x"},
                        "ext": {"loadimpact": {"token": "secret"}}},
        })
    }

    #[test]
    fn reads_the_entry_modules_and_files_of_a_k6_archive() {
        let tar = k6_tar(
            &meta("file:///home/nobody/t/my%20test.js"),
            "import x from './lib/x.js'; export default function () {}",
            &[
                ("file/home/nobody/t/lib/x.js", b"export default 1;"),
                ("file/home/nobody/t/users.json", b"[1,2]"),
            ],
            Some("file/home/nobody/t/my test.js"),
        );
        assert!(is_k6_archive(&tar));
        let a = from_k6_tar(&tar).expect("a k6 archive is read");
        assert_eq!(a.metadata.entry, "my test.js");
        assert_eq!(a.metadata.modules, ["my test.js", "lib/x.js"]);
        assert_eq!(a.files["users.json"], b"[1,2]");
        assert_eq!(a.metadata.env["BASE"], "http://127.0.0.1:1");
        assert_eq!(a.metadata.options["vus"], 2);
        assert_eq!(
            a.metadata.options["cloud"],
            serde_json::json!({"name": "x"})
        );
        assert!(
            a.metadata.options.get("paused").is_none(),
            "unset options are left out"
        );
        assert!(
            a.metadata.options.get("ext").is_none(),
            "emptied by the token's removal"
        );
        // It becomes a Volley archive that reads back the same.
        let again = Archive::from_tar(&a.to_tar().expect("to tar")).expect("read back");
        assert_eq!(again.files, a.files);
        assert!(!is_k6_archive(&a.to_tar().expect("to tar")));
    }

    #[test]
    fn refuses_what_volley_cannot_run_naming_it() {
        let remote = k6_tar(
            &meta("file:///t/a.js"),
            "export default function () {}",
            &[("https/example.com/lib.js", b"x")],
            None,
        );
        let e = from_k6_tar(&remote).expect_err("remote module").to_string();
        assert!(e.contains("remote module"), "{e}");
        let url = k6_tar(&meta("https://example.com/a.js"), "x", &[], None);
        let e = from_k6_tar(&url).expect_err("remote entry").to_string();
        assert!(e.contains("file://"), "{e}");
        let mut m = meta("file:///t/a.js");
        m.as_object_mut().expect("object").remove("filename");
        let e = from_k6_tar(&k6_tar(&m, "x", &[], None))
            .expect_err("no filename")
            .to_string();
        assert!(e.contains("`filename`"), "{e}");
        let stray = k6_tar(&meta("file:///t/a.js"), "x", &[("other/x", b"1")], None);
        let e = from_k6_tar(&stray).expect_err("stray entry").to_string();
        assert!(e.contains("other/x"), "{e}");
        assert!(!is_k6_archive(b"not a tar"));
    }

    #[test]
    fn options_leave_out_what_k6_wrote_as_null() {
        let o = options_from_k6(serde_json::json!({
            "vus": 1, "thresholds": null, "dns": {"ttl": null, "select": null},
            "tags": {}, "stages": [{"duration": "1s", "target": null}],
            "cloud": {"token": "t"},
        }));
        assert_eq!(
            o,
            serde_json::json!({"vus": 1, "tags": {}, "stages": [{"duration": "1s"}]})
        );
        assert_eq!(options_from_k6(Value::Null), serde_json::json!({}));
    }

    #[test]
    fn percent_decoding_leaves_malformed_escapes() {
        assert_eq!(percent_decode("/a%20b"), "/a b");
        assert_eq!(percent_decode("/a%2"), "/a%2");
        assert_eq!(percent_decode("/a%zz"), "/a%zz");
        assert_eq!(percent_decode("%41"), "A");
    }
}
