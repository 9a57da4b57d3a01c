//! Remote modules end to end: a local HTTPS server (`volley_e2e::module_server`, its
//! certificate signed by a test CA that is trusted through `SSL_CERT_FILE`, as k6 trusts extra
//! CAs on Linux) serves an ES module, the CommonJS file it imports relative to its URL, and a
//! TypeScript module. `volley run` fetches each once and reads it from the on-disk cache after
//! that; `volley submit` bundles them into the archive and agents (which have no CA and never
//! fetch) run them, with a TypeScript entry that requires a local CommonJS file. Unreachable
//! and untrusted servers fail the init with the URL in the message. A script importing the
//! vendored jslib libraries (`tests/fixtures/jslib/`) and using the `hosts` option runs on two
//! agents after the module server is gone, from an archive built out of the CLI's cache.
//! Everything is on 127.0.0.1 and bounded in time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use volley_e2e::module_server::ModuleServer;
use volley_e2e::{free_port, temp_dir, volley_bin, Cluster, Proc};

const RUN_TIMEOUT: Duration = Duration::from_secs(40);

/// The modules the server has, by path.
const MODULES: &[(&str, &str)] = &[
    (
        "/lib/1.0/index.js",
        "import { k } from './k.js';\nimport { label } from './fmt.ts';\n\
         export function twice(x) { return k * x; }\nexport { label };\n",
    ),
    ("/lib/1.0/k.js", "exports.k = 2;\n"),
    (
        "/lib/1.0/fmt.ts",
        "export const label: string = 'remote-ts';\n",
    ),
];

/// An HTTPS server for [`MODULES`] on 127.0.0.1 that counts requests per path.
fn module_server(dir: &Path) -> ModuleServer {
    let files = MODULES
        .iter()
        .map(|(p, body)| (p.to_string(), body.as_bytes().to_vec()))
        .collect();
    ModuleServer::start(dir, files)
}

/// A script importing the server's modules; its checks must all pass (thresholds: exit 99
/// otherwise). As TypeScript, it also requires a local CommonJS file.
fn write_script(dir: &Path, server: &ModuleServer, typescript: bool) -> PathBuf {
    let (name, local, annotation) = if typescript {
        std::fs::write(dir.join("local.js"), "exports.offset = 0;\n").expect("local module");
        (
            "remote.ts",
            "const { offset } = require('./local.js');\n",
            ": void",
        )
    } else {
        ("remote.js", "const offset = 0;\n", "")
    };
    let script = dir.join(name);
    std::fs::write(
        &script,
        format!(
            "import {{ check }} from 'k6';\nimport {{ twice, label }} from '{}';\n{local}\
             export const options = {{ vus: 2, iterations: 6, thresholds: {{ checks: ['rate==1'] }} }};\n\
             export default function (){annotation} {{\n\
               check(null, {{ 'remote modules work': () => twice(21) + offset === 42 && label === 'remote-ts' }});\n\
             }}\n",
            server.url("/lib/1.0/index.js")
        ),
    )
    .expect("script");
    script
}

/// `volley <args>` with the module cache in `cache` and, when given, the CA trusted.
fn volley(args: &[&str], cache: &Path, ca: Option<&Path>) -> std::process::Output {
    let mut cmd = Command::new(volley_bin());
    cmd.args(args).env("VOLLEY_MODULE_CACHE", cache);
    cmd.env_remove("SSL_CERT_FILE");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().to_ascii_uppercase().ends_with("_PROXY") {
            cmd.env_remove(k);
        }
    }
    if let Some(ca) = ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    cmd.output().expect("run volley")
}

fn each_fetched(server: &ModuleServer, times: usize) -> bool {
    let hits = server.hits();
    MODULES.iter().all(|(p, _)| hits.get(*p) == Some(&times)) && hits.len() == MODULES.len()
}

#[test]
fn run_fetches_each_module_once_then_uses_the_cache() {
    let dir = temp_dir("remote-run");
    let server = module_server(&dir);
    let script = write_script(&dir, &server, false);
    let cache = dir.join("cache");
    let script_arg = script.to_string_lossy().into_owned();

    let out = volley(&["run", "-q", &script_arg], &cache, Some(&server.ca_file));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(each_fetched(&server, 1), "{:?}", server.hits());

    // The second run reads the cache: nothing is downloaded again.
    let out = volley(&["run", "-q", &script_arg], &cache, Some(&server.ca_file));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(each_fetched(&server, 1), "{:?}", server.hits());

    // Without the CA the certificate is refused, and the error names the URL.
    let out = volley(&["run", "-q", &script_arg], &dir.join("cache2"), None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(107), "{stderr}");
    assert!(
        stderr.contains(&server.url("/lib/1.0/index.js")) && stderr.contains("certificate"),
        "{stderr}"
    );

    // An unreachable server: the URL and the reason.
    let port = free_port();
    let unreachable = dir.join("unreachable.js");
    let url = format!("https://127.0.0.1:{port}/gone.js");
    std::fs::write(
        &unreachable,
        format!("import {{ x }} from '{url}';\nexport default function () {{}}\n"),
    )
    .expect("script");
    let out = volley(
        &["run", "-q", &unreachable.to_string_lossy()],
        &cache,
        Some(&server.ca_file),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(107), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot download remote module {url}")),
        "{stderr}"
    );

    // Offline (as with jslib.k6.io URLs on a machine without internet): the error names the
    // cache file a copy is read from, and a copy saved there runs without any download.
    let marker = "a copy saved as ";
    let at = stderr.find(marker).expect("the cache file in the error") + marker.len();
    let file = &stderr[at..at + stderr[at..].find(" is used").expect("end of the file name")];
    assert!(
        Path::new(file).starts_with(&cache),
        "{file} is not in {}",
        cache.display()
    );
    std::fs::write(file, "export const x = 1;\n").expect("save a copy in the cache");
    let out = volley(
        &["run", "-q", &unreachable.to_string_lossy()],
        &cache,
        Some(&server.ca_file),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn submit_bundles_remote_modules_and_agents_never_fetch() {
    let dir = temp_dir("remote-cluster");
    let server = module_server(&dir);
    // A TypeScript entry that also requires a local CommonJS file.
    let script = write_script(&dir, &server, true);
    let cache = dir.join("cache");

    // The archive carries the three modules.
    let archive = dir.join("remote.tar");
    let out = volley(
        &[
            "archive",
            "-O",
            &archive.to_string_lossy(),
            &script.to_string_lossy(),
        ],
        &cache,
        Some(&server.ca_file),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tar = std::fs::read(&archive).expect("archive");
    let parsed = volley_common_archive_urls(&tar);
    for (p, _) in MODULES {
        assert!(parsed.contains(&server.url(p)), "{parsed:?}");
    }
    assert!(each_fetched(&server, 1), "{:?}", server.hits());

    // Agents run it from the archive: no agent has the CA, and no request reaches the server.
    let cluster = Cluster::start("remote-modules", 2);
    let mut cmd = cluster.volley();
    cmd.args(["submit", "--wait", "--controller", &cluster.rest_url])
        .arg(&script)
        .env("VOLLEY_MODULE_CACHE", &cache)
        .env("SSL_CERT_FILE", &server.ca_file);
    let mut submit = Proc::spawn(&mut cmd);
    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 0);
    assert!(each_fetched(&server, 1), "{:?}", server.hits());
}

/// The URLs in an archive's `metadata.json` `remote_modules`.
fn volley_common_archive_urls(tar: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(tar);
    let start = text
        .find("\"remote_modules\"")
        .expect("remote_modules in metadata");
    let end = start + text[start..].find('}').expect("end of remote_modules");
    text[start..end]
        .split('"')
        .filter(|s| s.starts_with("https://"))
        .map(str::to_string)
        .collect()
}

/// A script in the style of public ones: jslib libraries (papaparse, chai through a
/// k6chaijs-style `describe`, ajv, jsonpath) and a made-up host name that the `hosts` option
/// sends to `target` (`127.0.0.1:PORT`). Every check passes or the checks threshold fails.
const JSLIB_HOSTS_SCRIPT: &str = r#"import http from 'k6/http';
import { check } from 'k6';
import papaparse from 'https://jslib.k6.io/papaparse/5.1.1/index.js';
import { describe, expect } from 'https://jslib.k6.io/describe-expect/0.1.0/index.js';
import Ajv from 'https://jslib.k6.io/ajv/6.12.5/index.js';
import jsonpath from 'https://jslib.k6.io/jsonpath/1.1.1/index.js';

const rows = papaparse.parse('name,n\nann,1\nbob,2\n', { header: true, dynamicTyping: true, skipEmptyLines: true }).data;
const valid = new Ajv().compile({ type: 'object', required: ['slideshow'] });

export const options = {
  vus: 2,
  iterations: 8,
  hosts: { 'api.jslib.test': 'TARGET' },
  thresholds: { checks: ['rate==1'] },
};

export default function () {
  describe('slideshow through hosts', () => {
    const res = http.get('http://api.jslib.test/json');
    expect(res.status, 'status').to.equal(200);
    expect(res.json('slideshow.author')).to.equal('Yours Truly');
    expect(valid(res.json()), 'schema').to.equal(true);
    expect(jsonpath.query(res.json(), '$..slides[*].title')).to.have.lengthOf(2);
  });
  check(rows, { 'csv rows': (r) => r.length === 2 && r[1].n === 2 });
}
"#;

#[test]
fn jslib_modules_and_hosts_run_on_agents_without_the_module_server() {
    let dir = temp_dir("remote-jslib-cluster");
    let target = volley_e2e::Target::start();
    let target_addr = target.url.trim_start_matches("http://");
    let server = ModuleServer::jslib(&dir);
    let script = dir.join("jslib.js");
    let text = JSLIB_HOSTS_SCRIPT.replace("TARGET", target_addr);
    std::fs::write(&script, server.localize(&text)).expect("script");
    let cache = dir.join("cache");

    // `volley archive` downloads the four libraries and the chai bundle that one of them
    // requires by its relative URL, and keeps them in the cache.
    let archive = dir.join("jslib.tar");
    let out = volley(
        &[
            "archive",
            "-O",
            &archive.to_string_lossy(),
            &script.to_string_lossy(),
        ],
        &cache,
        Some(&server.ca_file),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let urls = volley_common_archive_urls(&std::fs::read(&archive).expect("archive"));
    for lib in [
        "/papaparse/5.1.1/index.js",
        "/describe-expect/0.1.0/index.js",
        "/chai/4.3.4/index.js",
        "/ajv/6.12.5/index.js",
        "/jsonpath/1.1.1/index.js",
    ] {
        assert!(urls.contains(&server.url(lib)), "{lib} not in {urls:?}");
    }

    // The module server goes away: nothing can fetch from it any more. `volley submit` builds
    // the archive from the cache, and the agents run it with no CA and nothing to reach.
    let port = server.port;
    drop(server);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the module server still listens"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let cluster = Cluster::start("remote-jslib", 2);
    let mut cmd = cluster.volley();
    cmd.args(["submit", "--wait", "--controller", &cluster.rest_url])
        .arg(&script)
        .env("VOLLEY_MODULE_CACHE", &cache)
        .env_remove("SSL_CERT_FILE");
    let mut submit = Proc::spawn(&mut cmd);
    cluster.assert_submit_exit(&mut submit, RUN_TIMEOUT, 0);

    // Both agents ran iterations, and every request went to the target through `hosts`.
    let id = cluster.latest_run_id().expect("a run");
    let run = cluster.run(id).expect("run");
    assert_eq!(volley_e2e::assigned_agents(&run).len(), 2, "{run}");
    let summary = cluster.summary(id);
    assert_eq!(
        volley_e2e::summary_stat(&summary, "http_reqs", "count"),
        8.0
    );
    assert_eq!(volley_e2e::summary_stat(&summary, "checks", "passes"), 16.0);
    assert_eq!(volley_e2e::summary_stat(&summary, "checks", "fails"), 0.0);
}
