//! The controller's store against big and many uploads and a full disk, on real processes:
//! - N starts of one test with a 2 MiB script keep the data dir and the run list small (the
//!   archive is stored once; runs and lists carry no copy of the script);
//! - a data dir on a small tmpfs filled up: writes answer 503, `/health` says the store is
//!   degraded; once space is freed the store reopens itself without a restart, and every test
//!   and run acknowledged before is there (also after a restart).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use volley_e2e::{temp_dir, volley_bin, Cluster, TempDir};

/// An archive of a script padded to `pad` bytes; `tag` (stored as an env var in the archive)
/// makes archives of the same script distinct.
fn archive(dir: &Path, pad: usize, tag: &str) -> Vec<u8> {
    let script = dir.join("big.js");
    if !script.exists() {
        let filler: String = (0..pad)
            .map(|i| (b'a' + (i * 7 % 26) as u8) as char)
            .collect();
        std::fs::write(
            &script,
            format!("export const options = {{ vus: 1, iterations: 1 }};\n// {filler}\nexport default function () {{}}\n"),
        )
        .expect("write the script");
    }
    let out = dir.join(format!("a-{tag}.tar"));
    let st = Command::new(volley_bin())
        .arg("archive")
        .arg(&script)
        .args(["-e", &format!("TAG={tag}"), "-O"])
        .arg(&out)
        .status()
        .expect("run volley archive");
    assert!(st.success(), "volley archive failed");
    let bytes = std::fs::read(&out).expect("read the archive");
    let _ = std::fs::remove_file(&out);
    bytes
}

fn create_test(c: &Cluster, name: &str, tar: &[u8]) -> (u16, Value) {
    let body = json!({
        "name": name,
        "k6_archive": base64::engine::general_purpose::STANDARD.encode(tar),
    });
    c.request("POST", "/loadtests/v2/tests", Some(&body))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

const STARTS: usize = 20;

#[test]
fn starts_of_one_test_stay_flat_on_disk_and_in_lists() {
    let c = Cluster::start("storage-flat", 0);
    let work = temp_dir("storage-flat-work");
    let tar = archive(&work, 2 << 20, "one");
    let (status, test) = create_test(&c, "big", &tar);
    assert_eq!(status, 201, "{test}");
    let id = test["k6-test"]["id"].as_u64().expect("test id");
    let start = |i: usize| {
        let (status, run) = c
            .request(
                "POST",
                &format!("/loadtests/v2/tests/{id}/start-testrun"),
                Some(&json!({"note": format!("start {i}")})),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, 200, "{run}");
        assert!(
            run["k6-run"]["script"]
                .as_str()
                .is_some_and(|s| s.len() > 2 << 20),
            "a single run shows its script"
        );
    };
    start(0);
    let pid = c.controller_pid().expect("controller pid");
    let (disk_one, rss_one) = (dir_bytes(&c.data_dir), rss_bytes(pid));
    for i in 1..STARTS {
        start(i);
    }
    // The same archive uploaded again is stored once too.
    for i in 0..5 {
        assert_eq!(create_test(&c, &format!("again {i}"), &tar).0, 201);
    }
    let (disk_all, rss_all) = (dir_bytes(&c.data_dir), rss_bytes(pid));
    let (status, list) = c
        .request("GET", "/loadtests/v2/runs", None)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status, 200);
    let list_bytes = list.to_string().len();
    eprintln!(
        "{STARTS} starts + 5 uploads of one {} byte archive: data dir {disk_one} -> {disk_all} \
         bytes, controller RSS {rss_one} -> {rss_all} bytes, run list {list_bytes} bytes",
        tar.len()
    );
    assert_eq!(list["meta"]["count"], STARTS);
    assert!(
        disk_all < disk_one + (tar.len() as u64) / 2,
        "the data dir grew from {disk_one} to {disk_all} bytes over {STARTS} starts"
    );
    assert!(
        list_bytes < 200_000,
        "listing {STARTS} runs answered {list_bytes} bytes"
    );
}

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = temp_dir("storage-tmpfs");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test needs a small filesystem to fill and mounts a tmpfs for it (run it as root, \
             or in a container allowed to mount): mount failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&*self.0).status();
        // The guard in `self.0` then removes the unmounted dir.
    }
}

/// Writes `path` until the filesystem is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create the filler");
    let chunk = vec![0x5au8; 64 << 10];
    while f.write_all(&chunk).and_then(|()| f.flush()).is_ok() {}
    let _ = f.sync_all();
}

fn health(c: &Cluster) -> (u16, Value) {
    c.request("GET", "/health", None)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_full_disk_degrades_the_store_until_space_returns() {
    let fs = Tmpfs::mount("24m");
    let data = fs.0.join("data");
    let mut c = Cluster::start_in("storage-full", Some(&data), &[], 0);
    let work = temp_dir("storage-full-work");

    // Before: a test and two runs.
    let (status, first) = create_test(&c, "before", &archive(&work, 64 << 10, "before"));
    assert_eq!(status, 201, "{first}");
    let test_id = first["k6-test"]["id"].as_u64().expect("id");
    let mut runs = Vec::new();
    for _ in 0..2 {
        let run = c
            .post(
                &format!("/loadtests/v2/tests/{test_id}/start-testrun"),
                &json!({}),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        runs.push(run["k6-run"]["id"].as_u64().expect("run id"));
    }
    assert_eq!(health(&c).0, 200);

    // Fill the disk, then upload distinct archives until the store fails.
    let filler = fs.0.join("filler");
    fill(&filler);
    let mut acknowledged = vec![test_id];
    let mut refused = None;
    for i in 0..40 {
        let (status, body) = create_test(
            &c,
            &format!("fill {i}"),
            &archive(&work, 64 << 10, &i.to_string()),
        );
        match status {
            201 => acknowledged.push(body["k6-test"]["id"].as_u64().expect("id")),
            503 => {
                refused = Some(body);
                break;
            }
            other => panic!("upload {i} answered {other}: {body}"),
        }
    }
    let refused = refused.expect("uploads onto a full disk answer 503");
    assert_eq!(refused["error"]["code"], "storage_unavailable", "{refused}");
    let (status, h) = health(&c);
    assert_eq!(status, 503, "{h}");
    assert_eq!(h["error"]["code"], "store_degraded", "{h}");
    let msg = h["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("space") || msg.contains("I/O"), "{msg}");
    // Still full: writes keep failing, reads keep working.
    let (status, _) = create_test(&c, "still full", &archive(&work, 64 << 10, "x"));
    assert_eq!(status, 503);
    assert_eq!(c.run(runs[0]).map(|r| r["id"].clone()), Ok(json!(runs[0])));

    // Space returns: the store reopens itself.
    std::fs::remove_file(&filler).expect("remove the filler");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, h) = health(&c);
        if status == 200 {
            assert_eq!(h["store"]["status"], "ok");
            break;
        }
        assert!(Instant::now() < deadline, "the store did not recover: {h}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, after) = create_test(&c, "after", &archive(&work, 64 << 10, "after"));
    assert_eq!(status, 201, "{after}");
    acknowledged.push(after["k6-test"]["id"].as_u64().expect("id"));

    let check = |c: &Cluster| {
        for id in &acknowledged {
            let t = c
                .get(&format!("/loadtests/v2/tests/{id}"))
                .unwrap_or_else(|e| panic!("test {id} lost: {e}"));
            assert!(
                t["k6-test"]["script"]
                    .as_str()
                    .is_some_and(|s| s.len() > 64 << 10),
                "test {id} lost its archive"
            );
        }
        for id in &runs {
            let r = c.run(*id).unwrap_or_else(|e| panic!("run {id} lost: {e}"));
            assert_eq!(r["test_id"], test_id);
        }
    };
    check(&c);
    c.restart_controller();
    check(&c);
}
