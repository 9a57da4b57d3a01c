use super::*;
use serde_json::json;

/// A fresh, unique, empty-or-absent temp path (no tempfile crate in this crate).
fn temp_dir(name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "volley-archive-test-{}-{n}-{name}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn abs(p: &str) -> PathBuf {
    // Tests use Unix-style absolute paths; on Windows prefix a drive.
    if cfg!(windows) {
        PathBuf::from(format!("C:{p}"))
    } else {
        PathBuf::from(p)
    }
}

fn sample() -> Archive {
    let binary: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let mut archive = Archive::from_paths(
        &abs("/home/ann/tests/api/script.js"),
        &[
            (
                abs("/home/ann/tests/api/script.js"),
                "import { f } from './lib/helper.js';\nexport default function () { f(); }\n"
                    .to_string(),
            ),
            (
                abs("/home/ann/tests/api/lib/helper.js"),
                "export function f() {}\n".to_string(),
            ),
        ],
        &[
            (
                abs("/home/ann/tests/api/data/users.json"),
                br#"[{"name":"a"}]"#.to_vec(),
            ),
            (abs("/home/ann/tests/api/data/deep/er/blob.bin"), binary),
        ],
        json!({ "vus": 10, "duration": "30s" }),
        BTreeMap::from([("HOST".to_string(), "example.com".to_string())]),
    )
    .expect("sample archive");
    archive.metadata.created = "2025-01-02T03:04:05Z".into();
    archive
}

/// Hand-made tar with one raw entry (name bytes written directly, so unsafe names survive).
fn raw_entry(builder: &mut tar::Builder<Vec<u8>>, name: &[u8], kind: tar::EntryType, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    builder.append(&header, data).expect("append raw entry");
}

fn metadata_json(entry: &str, modules: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "format_version": 1,
        "volley_version": "0.1.0",
        "entry": entry,
        "options": {},
        "env": {},
        "modules": modules,
        "created": "2025-01-02T03:04:05Z",
    }))
    .expect("json")
}

/// A valid archive with `extra` raw entries appended.
fn tar_with(extra: &[(&[u8], tar::EntryType, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(
        &mut b,
        b"metadata.json",
        tar::EntryType::Regular,
        &metadata_json("script.js", &["script.js"]),
    );
    raw_entry(
        &mut b,
        b"files/script.js",
        tar::EntryType::Regular,
        b"export default function () {}",
    );
    for (name, kind, data) in extra {
        raw_entry(&mut b, name, *kind, data);
    }
    b.into_inner().expect("tar")
}

#[test]
fn round_trip_keeps_everything() {
    let archive = sample();
    let bytes = archive.to_tar().expect("to_tar");
    let back = Archive::from_tar(&bytes).expect("from_tar");
    assert_eq!(back, archive);
    assert_eq!(back.metadata.entry, "script.js");
    assert_eq!(back.metadata.modules, vec!["script.js", "lib/helper.js"]);
    assert_eq!(
        back.files.keys().collect::<Vec<_>>(),
        vec![
            "data/deep/er/blob.bin",
            "data/users.json",
            "lib/helper.js",
            "script.js"
        ]
    );
    assert_eq!(back.files["data/deep/er/blob.bin"].len(), 3000);
    assert_eq!(back.files["data/deep/er/blob.bin"][255], 255);
    assert_eq!(back.metadata.env["HOST"], "example.com");
    assert_eq!(back.metadata.options["vus"], 10);
    assert_eq!(
        back.source("lib/helper.js"),
        Some("export function f() {}\n")
    );
}

#[test]
fn layout_is_metadata_then_files_with_fixed_headers() {
    let bytes = sample().to_tar().expect("to_tar");
    let mut reader = tar::Archive::new(bytes.as_slice());
    let mut names = Vec::new();
    for entry in reader.entries().expect("entries") {
        let entry = entry.expect("entry");
        let h = entry.header();
        assert_eq!(h.mtime().expect("mtime"), 0);
        assert_eq!(h.mode().expect("mode"), 0o644);
        assert_eq!(h.uid().expect("uid"), 0);
        assert_eq!(h.gid().expect("gid"), 0);
        assert_eq!(h.username().expect("uname"), Some(""));
        names.push(String::from_utf8(entry.path_bytes().into_owned()).expect("utf8"));
    }
    assert_eq!(
        names,
        vec![
            "metadata.json",
            "files/data/deep/er/blob.bin",
            "files/data/users.json",
            "files/lib/helper.js",
            "files/script.js"
        ]
    );
}

#[test]
fn output_is_deterministic() {
    let a = sample().to_tar().expect("a");
    let b = sample().to_tar().expect("b");
    assert_eq!(a, b);
    // Built from the same inputs given in another order → same archive.
    let mut c = Archive::from_paths(
        &abs("/home/ann/tests/api/script.js"),
        &[
            (
                abs("/home/ann/tests/api/script.js"),
                "import { f } from './lib/helper.js';\nexport default function () { f(); }\n"
                    .to_string(),
            ),
            (
                abs("/home/ann/tests/api/lib/helper.js"),
                "export function f() {}\n".to_string(),
            ),
        ],
        &[
            (
                abs("/home/ann/tests/api/data/deep/er/blob.bin"),
                (0..=255u8).cycle().take(3000).collect(),
            ),
            (
                abs("/home/ann/tests/api/data/users.json"),
                br#"[{"name":"a"}]"#.to_vec(),
            ),
        ],
        json!({ "vus": 10, "duration": "30s" }),
        BTreeMap::from([("HOST".to_string(), "example.com".to_string())]),
    )
    .expect("c");
    c.metadata.created = "2025-01-02T03:04:05Z".into();
    assert_eq!(c.to_tar().expect("c tar"), a);
}

#[test]
fn long_paths_round_trip() {
    let long = format!("/t/{}/{}.js", "d".repeat(150), "m".repeat(120));
    let mut archive = Archive::from_paths(
        &abs(&long),
        &[(abs(&long), "export default () => {}".into())],
        &[],
        json!({}),
        BTreeMap::new(),
    )
    .expect("archive");
    archive.metadata.created = "x".into();
    let back = Archive::from_tar(&archive.to_tar().expect("tar")).expect("read");
    assert_eq!(back, archive);
    assert_eq!(back.metadata.entry, format!("{}.js", "m".repeat(120)));
}

#[test]
fn common_root_covers_parent_imports() {
    let archive = Archive::from_paths(
        &abs("/w/a/b/script.js"),
        &[
            (abs("/w/a/b/script.js"), "import '../lib/x.js';".into()),
            (abs("/w/a/b/../lib/x.js"), "export const x = 1;".into()),
        ],
        &[(abs("/w/a/b/./data/u.csv"), b"id\n1\n".to_vec())],
        json!({}),
        BTreeMap::new(),
    )
    .expect("archive");
    assert_eq!(archive.metadata.entry, "b/script.js");
    assert_eq!(archive.metadata.modules, vec!["b/script.js", "lib/x.js"]);
    assert_eq!(
        archive.files.keys().collect::<Vec<_>>(),
        vec!["b/data/u.csv", "b/script.js", "lib/x.js"]
    );
}

#[test]
fn common_root_of_a_single_script_is_its_folder() {
    let archive = Archive::from_paths(
        &abs("/w/a/b/script.js"),
        &[(abs("/w/a/b/script.js"), "export default () => {}".into())],
        &[],
        json!({}),
        BTreeMap::new(),
    )
    .expect("archive");
    assert_eq!(archive.metadata.entry, "script.js");
    assert_eq!(archive.metadata.format_version, FORMAT_VERSION);
    assert_eq!(archive.metadata.volley_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(archive.metadata.created.len(), "2025-01-02T03:04:05Z".len());
    assert!(archive.metadata.created.ends_with('Z'));
}

#[test]
fn common_root_can_be_the_filesystem_root() {
    let archive = Archive::from_paths(
        &abs("/home/s.js"),
        &[(abs("/home/s.js"), "export default () => {}".into())],
        &[(abs("/etc/data.txt"), b"x".to_vec())],
        json!({}),
        BTreeMap::new(),
    )
    .expect("archive");
    assert_eq!(archive.metadata.entry, "home/s.js");
    assert!(archive.files.contains_key("etc/data.txt"));
}

#[test]
fn from_paths_rejections() {
    let m = |p: &str| (abs(p), "export default () => {}".to_string());
    let build = |entry: &str, modules: &[(PathBuf, String)], files: &[(PathBuf, Vec<u8>)]| {
        Archive::from_paths(&abs(entry), modules, files, json!({}), BTreeMap::new())
    };
    // Relative input path.
    let err = Archive::from_paths(
        Path::new("s.js"),
        &[(PathBuf::from("s.js"), String::new())],
        &[],
        json!({}),
        BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::NotAbsolute { .. }), "{err}");
    // Entry not among modules.
    let err = build("/t/s.js", &[m("/t/other.js")], &[]).unwrap_err();
    assert!(matches!(err, ArchiveError::EntryNotAModule { .. }), "{err}");
    // Same path, different bytes.
    let err = build(
        "/t/s.js",
        &[m("/t/s.js")],
        &[(abs("/t/s.js"), b"other".to_vec())],
    )
    .unwrap_err();
    assert!(
        matches!(err, ArchiveError::Conflict { ref path } if path == "s.js"),
        "{err}"
    );
    // Same path, same bytes: fine, stored once.
    let ok = build(
        "/t/s.js",
        &[m("/t/s.js")],
        &[(abs("/t/s.js"), b"export default () => {}".to_vec())],
    )
    .expect("dedup");
    assert_eq!(ok.files.len(), 1);
    // A file that is also a folder.
    let err = build(
        "/t/s.js",
        &[m("/t/s.js")],
        &[
            (abs("/t/lib"), b"1".to_vec()),
            (abs("/t/lib/x"), b"2".to_vec()),
        ],
    )
    .unwrap_err();
    assert!(
        matches!(err, ArchiveError::FileFolderConflict { ref path } if path == "lib"),
        "{err}"
    );
    // Options must be an object.
    let err = Archive::from_paths(
        &abs("/t/s.js"),
        &[m("/t/s.js")],
        &[],
        json!([1]),
        BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::InvalidOptions { .. }), "{err}");
    // Bad env name.
    let err = Archive::from_paths(
        &abs("/t/s.js"),
        &[m("/t/s.js")],
        &[],
        json!({}),
        BTreeMap::from([("A=B".to_string(), "c".to_string())]),
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::InvalidEnvName { .. }), "{err}");
}

#[test]
fn from_paths_too_large_names_the_largest_files() {
    let big = vec![0u8; 40 * 1024 * 1024];
    let err = Archive::from_paths(
        &abs("/t/s.js"),
        &[(abs("/t/s.js"), "export default () => {}".into())],
        &[
            (abs("/t/data/a.bin"), big.clone()),
            (abs("/t/data/b.bin"), big),
        ],
        json!({}),
        BTreeMap::new(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{msg}");
    assert!(msg.contains("the archive is 80.0 MiB"), "{msg}");
    assert!(msg.contains("limited to 64 MiB"), "{msg}");
    assert!(msg.contains("data/a.bin 40 MiB"), "{msg}");
    assert!(msg.contains("move large data files"), "{msg}");
}

#[test]
fn from_paths_too_many_files() {
    let files: Vec<(PathBuf, Vec<u8>)> = (0..=MAX_FILES)
        .map(|i| (abs(&format!("/t/d/{i}.txt")), Vec::new()))
        .collect();
    let err = Archive::from_paths(
        &abs("/t/s.js"),
        &[(abs("/t/s.js"), String::new())],
        &files,
        json!({}),
        BTreeMap::new(),
    )
    .unwrap_err();
    assert!(
        matches!(err, ArchiveError::TooManyFiles { count } if count == MAX_FILES + 2),
        "{err}"
    );
    assert!(err.to_string().contains("limited to 10000"), "{err}");
}

#[test]
fn from_tar_rejects_too_big_input() {
    let bytes = vec![0u8; MAX_ARCHIVE_BYTES as usize + 1];
    let err = Archive::from_tar(&bytes).unwrap_err();
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err}");
}

#[test]
fn from_tar_rejects_a_file_larger_than_the_limit() {
    // A header claiming 65 MiB (the data is not there; the size alone must be refused).
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..11].copy_from_slice(b"files/big.b");
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(MAX_ARCHIVE_BYTES + 1024 * 1024);
    header.set_cksum();
    let mut bytes = tar_with(&[]);
    bytes.truncate(bytes.len() - 1024); // drop the end-of-archive blocks
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[7u8; 4096]);
    let err = Archive::from_tar(&bytes).unwrap_err();
    assert!(
        matches!(err, ArchiveError::FileTooLarge { ref path, .. } if path == "files/big.b"),
        "{err}"
    );
    assert!(err.to_string().contains("is 65 MiB"), "{err}");
}

#[test]
fn from_tar_rejects_truncated_data() {
    let mut bytes = tar_with(&[(b"files/data.bin", tar::EntryType::Regular, &[1u8; 5000])]);
    bytes.truncate(bytes.len() - 1024 - 2048);
    let err = Archive::from_tar(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::Truncated { .. } | ArchiveError::Malformed { .. }
        ),
        "{err}"
    );
}

#[test]
fn from_tar_rejects_too_many_files() {
    let names: Vec<String> = (0..=MAX_FILES).map(|i| format!("files/d/{i}")).collect();
    let extra: Vec<(&[u8], tar::EntryType, &[u8])> = names
        .iter()
        .map(|n| (n.as_bytes(), tar::EntryType::Regular, &b""[..]))
        .collect();
    let err = Archive::from_tar(&tar_with(&extra)).unwrap_err();
    // script.js + 10001 more.
    assert!(
        matches!(err, ArchiveError::TooManyFiles { count } if count == MAX_FILES + 2),
        "{err}"
    );
}

#[test]
fn from_tar_rejects_path_traversal() {
    for name in [
        &b"files/../../etc/passwd"[..],
        b"../x",
        b"files/a/../../b",
        b"files/./a",
        b"files//a",
        b"files\\..\\x",
    ] {
        let err =
            Archive::from_tar(&tar_with(&[(name, tar::EntryType::Regular, b"x")])).unwrap_err();
        assert!(
            matches!(err, ArchiveError::UnsafePath { .. }),
            "{name:?}: {err}"
        );
    }
    let err = Archive::from_tar(&tar_with(&[(b"files/../x", tar::EntryType::Regular, b"x")]))
        .unwrap_err();
    assert!(err.to_string().contains("`..` component"), "{err}");
    // A directory entry with `..` too.
    let err = Archive::from_tar(&tar_with(&[(b"files/../", tar::EntryType::Directory, b"")]))
        .unwrap_err();
    assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err}");
}

/// An 8 MiB entry name is named in the error by its first bytes and its size, not whole.
#[test]
fn errors_quote_huge_entry_names_bounded() {
    let mut b = tar::Builder::new(Vec::new());
    let name = format!("outside/{}", "n".repeat(8 << 20));
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(1);
    header.set_mode(0o644);
    b.append_data(&mut header, &name, &b"x"[..])
        .expect("append a long name");
    let err = Archive::from_tar(&b.into_inner().expect("tar")).unwrap_err();
    assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err:.200}");
    let msg = err.to_string();
    assert!(msg.len() < 1000, "{} bytes: {msg:.300}", msg.len());
    assert!(msg.contains(&format!("…({} bytes)", name.len())), "{msg}");
    assert!(msg.contains("\"outside/nnn"), "{msg}");
}

#[test]
fn from_tar_rejects_absolute_paths() {
    for name in [&b"/etc/passwd"[..], b"/files/x", b"C:/x", b"c:x"] {
        let err =
            Archive::from_tar(&tar_with(&[(name, tar::EntryType::Regular, b"x")])).unwrap_err();
        assert!(
            matches!(err, ArchiveError::UnsafePath { .. }),
            "{name:?}: {err}"
        );
        assert!(err.to_string().contains("absolute"), "{err}");
    }
}

#[test]
fn from_tar_rejects_links_and_devices() {
    for (kind, word) in [
        (tar::EntryType::Symlink, "symbolic link"),
        (tar::EntryType::Link, "hard link"),
        (tar::EntryType::Char, "character device"),
        (tar::EntryType::Block, "block device"),
        (tar::EntryType::Fifo, "FIFO"),
    ] {
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(
            &mut b,
            b"metadata.json",
            tar::EntryType::Regular,
            &metadata_json("s.js", &["s.js"]),
        );
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..11].copy_from_slice(b"files/s.js\0");
        header.set_entry_type(kind);
        header.set_size(0);
        header.set_link_name("/etc/passwd").expect("link name");
        header.set_cksum();
        b.append(&header, &b""[..]).expect("append");
        let bytes = b.into_inner().expect("tar");
        let err = Archive::from_tar(&bytes).unwrap_err();
        assert!(
            matches!(err, ArchiveError::UnsupportedEntryType { ref path, .. } if path == "files/s.js"),
            "{word}: {err}"
        );
        assert!(err.to_string().contains(word), "{err}");
    }
}

#[test]
fn from_tar_rejects_missing_metadata() {
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, b"files/s.js", tar::EntryType::Regular, b"1");
    let err = Archive::from_tar(&b.into_inner().expect("tar")).unwrap_err();
    assert!(matches!(err, ArchiveError::MissingMetadata), "{err}");
    // An empty input is an empty tar: no metadata either.
    let err = Archive::from_tar(&[]).unwrap_err();
    assert!(matches!(err, ArchiveError::MissingMetadata), "{err}");
}

#[test]
fn from_tar_rejects_invalid_metadata() {
    let build = |meta: &[u8]| {
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, b"metadata.json", tar::EntryType::Regular, meta);
        raw_entry(&mut b, b"files/s.js", tar::EntryType::Regular, b"1");
        Archive::from_tar(&b.into_inner().expect("tar"))
    };
    for meta in [
        &b"not json"[..],
        b"[1]",
        b"{}",
        br#"{"format_version":1}"#,
        br#"{"format_version":"1"}"#,
    ] {
        let err = build(meta).unwrap_err();
        assert!(matches!(err, ArchiveError::InvalidMetadata { .. }), "{err}");
    }
}

#[test]
fn from_tar_rejects_unsupported_version() {
    let mut meta: Value = serde_json::from_slice(&metadata_json("s.js", &["s.js"])).expect("json");
    meta["format_version"] = json!(2);
    // A newer format may drop fields; the version error must come first.
    meta.as_object_mut().expect("object").remove("modules");
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(
        &mut b,
        b"metadata.json",
        tar::EntryType::Regular,
        &serde_json::to_vec(&meta).expect("json"),
    );
    raw_entry(&mut b, b"files/s.js", tar::EntryType::Regular, b"1");
    let err = Archive::from_tar(&b.into_inner().expect("tar")).unwrap_err();
    assert!(
        matches!(err, ArchiveError::UnsupportedVersion { found: 2 }),
        "{err}"
    );
    assert!(err.to_string().contains("reads version 1"), "{err}");
}

#[test]
fn from_tar_rejects_missing_entry_and_modules() {
    let build = |meta: Vec<u8>| {
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, b"metadata.json", tar::EntryType::Regular, &meta);
        raw_entry(&mut b, b"files/s.js", tar::EntryType::Regular, b"1");
        Archive::from_tar(&b.into_inner().expect("tar"))
    };
    let err = build(metadata_json("main.js", &["main.js"])).unwrap_err();
    assert!(
        matches!(err, ArchiveError::EntryMissing { ref entry } if entry == "main.js"),
        "{err}"
    );
    let err = build(metadata_json("s.js", &["s.js", "lib.js"])).unwrap_err();
    assert!(
        matches!(err, ArchiveError::ModuleMissing { ref module } if module == "lib.js"),
        "{err}"
    );
    let err = build(metadata_json("s.js", &[])).unwrap_err();
    assert!(matches!(err, ArchiveError::EntryNotAModule { .. }), "{err}");
    let err = build(metadata_json("s.js", &["s.js", "s.js"])).unwrap_err();
    assert!(matches!(err, ArchiveError::DuplicateModule { .. }), "{err}");
    let err = build(metadata_json("../s.js", &["../s.js"])).unwrap_err();
    assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err}");
}

#[test]
fn from_tar_rejects_duplicates_and_strays() {
    let err = Archive::from_tar(&tar_with(&[(
        b"files/script.js",
        tar::EntryType::Regular,
        b"x",
    )]))
    .unwrap_err();
    assert!(matches!(err, ArchiveError::DuplicateEntry { .. }), "{err}");
    let err = Archive::from_tar(&tar_with(&[(
        b"metadata.json",
        tar::EntryType::Regular,
        b"{}",
    )]))
    .unwrap_err();
    assert!(matches!(err, ArchiveError::DuplicateEntry { .. }), "{err}");
    let err =
        Archive::from_tar(&tar_with(&[(b"data", tar::EntryType::Regular, b"x")])).unwrap_err();
    assert!(matches!(err, ArchiveError::UnexpectedEntry { .. }), "{err}");
    let err =
        Archive::from_tar(&tar_with(&[(b"other/", tar::EntryType::Directory, b"")])).unwrap_err();
    assert!(matches!(err, ArchiveError::UnexpectedEntry { .. }), "{err}");
}

#[test]
fn from_tar_accepts_folder_entries_and_binary_modules_are_refused() {
    let ok = Archive::from_tar(&tar_with(&[
        (b"files/", tar::EntryType::Directory, b""),
        (b"files/lib/", tar::EntryType::Directory, b""),
    ]))
    .expect("folders are fine");
    assert_eq!(ok.files.len(), 1);
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(
        &mut b,
        b"metadata.json",
        tar::EntryType::Regular,
        &metadata_json("s.js", &["s.js"]),
    );
    raw_entry(
        &mut b,
        b"files/s.js",
        tar::EntryType::Regular,
        &[0xff, 0xfe, 0x00],
    );
    let err = Archive::from_tar(&b.into_inner().expect("tar")).unwrap_err();
    assert!(matches!(err, ArchiveError::ModuleNotUtf8 { .. }), "{err}");
}

#[test]
fn from_tar_rejects_garbage() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let err = Archive::from_tar(&garbage).unwrap_err();
    assert!(matches!(err, ArchiveError::Malformed { .. }), "{err}");
    assert!(err.to_string().contains("not a valid tar archive"), "{err}");
    let err = Archive::from_tar(b"hello").unwrap_err();
    assert!(
        matches!(
            err,
            ArchiveError::Malformed { .. } | ArchiveError::MissingMetadata
        ),
        "{err}"
    );
    // A valid archive with one header byte flipped fails its checksum.
    let mut bytes = sample().to_tar().expect("tar");
    bytes[5] ^= 0x20;
    let err = Archive::from_tar(&bytes).unwrap_err();
    assert!(matches!(err, ArchiveError::Malformed { .. }), "{err}");
}

#[test]
fn to_tar_validates_hand_built_archives() {
    let mut archive = sample();
    archive.files.insert("../escape.js".into(), b"x".to_vec());
    let err = archive.to_tar().unwrap_err();
    assert!(matches!(err, ArchiveError::UnsafePath { .. }), "{err}");
    let mut archive = sample();
    archive.metadata.format_version = 9;
    assert!(matches!(
        archive.to_tar().unwrap_err(),
        ArchiveError::UnsupportedVersion { found: 9 }
    ));
}

#[test]
fn extract_writes_files_and_returns_the_entry() {
    let dir = temp_dir("extract");
    let archive = Archive::from_tar(&sample().to_tar().expect("tar")).expect("read");
    let entry = archive.extract_to(&dir).expect("extract");
    assert!(entry.is_absolute());
    assert!(entry.ends_with("script.js"));
    assert_eq!(fs::read(&entry).expect("entry"), archive.files["script.js"]);
    let root = fs::canonicalize(&dir).expect("root");
    assert_eq!(
        fs::read(root.join("data").join("deep").join("er").join("blob.bin")).expect("blob"),
        archive.files["data/deep/er/blob.bin"]
    );
    assert_eq!(
        fs::read_to_string(root.join("lib").join("helper.js")).expect("helper"),
        "export function f() {}\n"
    );
    // Not again into the same (now non-empty) folder.
    let err = archive.extract_to(&dir).unwrap_err();
    assert!(matches!(err, ArchiveError::DirNotEmpty { .. }), "{err}");
    fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn extract_into_an_existing_empty_folder() {
    let dir = temp_dir("empty");
    fs::create_dir_all(&dir).expect("mkdir");
    let entry = sample().extract_to(&dir).expect("extract");
    assert!(entry.starts_with(fs::canonicalize(&dir).expect("root")));
    fs::remove_dir_all(&dir).expect("cleanup");
    // A file where the folder should be.
    let file = temp_dir("file");
    fs::write(&file, b"x").expect("write");
    let err = sample().extract_to(&file).unwrap_err();
    assert!(matches!(err, ArchiveError::NotAFolder { .. }), "{err}");
    fs::remove_file(&file).expect("cleanup");
}

#[test]
fn extract_never_escapes() {
    let parent = temp_dir("escape");
    let dir = parent.join("out");
    fs::create_dir_all(&parent).expect("mkdir");
    for bad in [
        "../escaped.js",
        "/tmp/escaped.js",
        "a/../../escaped.js",
        "a\\..\\..\\escaped.js",
    ] {
        let mut archive = sample();
        archive.files.insert(bad.into(), b"pwned".to_vec());
        let err = archive.extract_to(&dir).unwrap_err();
        assert!(
            matches!(err, ArchiveError::UnsafePath { .. }),
            "{bad}: {err}"
        );
        // Nothing written, not even the target folder.
        assert!(!dir.exists(), "{bad}");
        assert!(!parent.join("escaped.js").exists(), "{bad}");
    }
    // The entry itself pointing outside is refused too.
    let mut archive = sample();
    archive.metadata.entry = "../script.js".into();
    assert!(matches!(
        archive.extract_to(&dir).unwrap_err(),
        ArchiveError::UnsafePath { .. }
    ));
    assert_eq!(fs::read_dir(&parent).expect("list").count(), 0);
    fs::remove_dir_all(&parent).expect("cleanup");
}

#[cfg(unix)]
#[test]
fn extracted_folders_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let base = temp_dir("modes");
    let dir = base.join("work/run-1");
    let entry = sample().extract_to(&dir).expect("extract");
    let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    // The folders it created on the way too, not only the run's own.
    for d in [
        base.join("work"),
        dir.clone(),
        dir.join("lib"),
        dir.join("data/deep/er"),
    ] {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    for f in [
        entry,
        dir.join("lib/helper.js"),
        dir.join("data/deep/er/blob.bin"),
    ] {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    fs::remove_dir_all(&base).expect("cleanup");
}

#[cfg(unix)]
#[test]
fn extract_refuses_to_follow_symlinked_folders() {
    // Simulates a folder swapped for a symlink: the helper must refuse it.
    let base = temp_dir("symlink");
    let outside = base.join("outside");
    let dir = base.join("out");
    fs::create_dir_all(&outside).expect("mkdir outside");
    fs::create_dir_all(&dir).expect("mkdir out");
    std::os::unix::fs::symlink(&outside, dir.join("lib")).expect("symlink");
    let err = ensure_real_folder(&dir.join("lib")).unwrap_err();
    assert!(matches!(err, ArchiveError::NotAFolder { .. }), "{err}");
    // And extraction into a folder holding such a link is refused up front (not empty).
    let err = sample().extract_to(&dir).unwrap_err();
    assert!(matches!(err, ArchiveError::DirNotEmpty { .. }), "{err}");
    assert_eq!(fs::read_dir(&outside).expect("list").count(), 0);
    fs::remove_dir_all(&base).expect("cleanup");
}

#[test]
fn path_rules() {
    for ok in [
        "a",
        "a/b.js",
        "data/users.json",
        "ab:c/z",
        "..a/b..",
        ".hidden",
    ] {
        check_rel_path(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "", "/a", "a/", "a//b", "./a", "a/.", "..", "a/../b", "a\\b", "C:/a", "x:y/z", "a\0b",
    ] {
        assert!(check_rel_path(bad).is_err(), "{bad:?}");
    }
    assert!(check_rel_path(&"a".repeat(MAX_PATH_BYTES + 1)).is_err());
}

#[test]
fn rfc3339_known_dates() {
    assert_eq!(crate::time::rfc3339(0, 0, false), "1970-01-01T00:00:00Z");
    assert_eq!(
        crate::time::rfc3339(951_782_400, 0, false),
        "2000-02-29T00:00:00Z"
    );
    assert_eq!(
        crate::time::rfc3339(1_735_787_045, 0, false),
        "2025-01-02T03:04:05Z"
    );
    assert_eq!(crate::time::rfc3339(-1, 0, false), "1969-12-31T23:59:59Z");
}

#[test]
fn human_sizes() {
    assert_eq!(human_size(512), "512 bytes");
    assert_eq!(human_size(1536), "1.5 KiB");
    assert_eq!(human_size(MAX_ARCHIVE_BYTES), "64 MiB");
    assert_eq!(human_size(70 * 1024 * 1024 + 1), "70.0 MiB");
}
