//! The k6 features public scripts use, run by an agent from a submitted archive rather than by
//! `volley run` (docs/k6-compatibility.md#scripts-from-the-wild-the-ledger, item 10): an ES
//! module entry that imports a TypeScript module and requires a CommonJS file, a CSV file read
//! at init through `k6/experimental/fs` and `csv`, `k6/html`, timers, WebCrypto, a `k6/ws`
//! echo, a multipart body from `http.file()` and a gzip response. The agent reads files only
//! from the archive, so this shows `volley submit` bundled what the script opened and imported.
//! Everything is on 127.0.0.1 and bounded in time.

use std::time::Duration;

use volley_e2e::ws_server::WsServer;
use volley_e2e::{temp_dir, Cluster, Target};

const SCRIPT: &str = r#"
import http from 'k6/http';
import ws from 'k6/ws';
import { check } from 'k6';
import { parseHTML } from 'k6/html';
import { setTimeout } from 'k6/timers';
import { open } from 'k6/experimental/fs';
import csv from 'k6/experimental/csv';
import { label } from './lib/label.ts';

const helper = require('./lib/helper.js');
const users = await csv.parse(await open('./data/users.csv'), { skipFirstLine: true });

export const options = {
  scenarios: { wild: { executor: 'per-vu-iterations', vus: 1, iterations: 2, maxDuration: '30s' } },
  thresholds: { checks: ['rate==1'] },
};

export default async function () {
  const waited = await new Promise((resolve) => setTimeout(() => resolve('timer'), 20));
  const digest = await crypto.subtle.digest('SHA-256', new Uint8Array([97, 98, 99]));
  const doc = parseHTML('<ul><li class="u">ada</li><li class="u">bob</li></ul>');
  const form = http.post(`${__ENV.BASE_URL}/post`, { file: http.file('abc', 'a.txt', 'text/plain'), who: 'agent' });
  const gz = http.get(`${__ENV.BASE_URL}/gzip`, { headers: { 'Accept-Encoding': 'gzip' } });
  let echoed = '';
  const res = ws.connect(`${__ENV.WS_URL}/echo`, {}, (socket) => {
    socket.on('open', () => socket.send('from an agent'));
    socket.on('message', (m) => { echoed = m; socket.close(); });
    socket.setTimeout(() => socket.close(), 5000);
  });
  check(null, {
    'agent: TypeScript and CommonJS modules': () => label === 'ts-label' && helper.twice(21) === 42,
    'agent: the CSV file from the archive': () => users.length === 2 && users[1][0] === 'bob',
    'agent: timers': () => waited === 'timer',
    'agent: WebCrypto': () => new Uint8Array(digest)[0] === 0xba && crypto.randomUUID().length === 36,
    'agent: k6/html': () => doc.find('li.u').map((_, s) => s.text()).join(',') === 'ada,bob',
    'agent: multipart from http.file()': () => form.status === 200 && form.json('files.file') === 'abc' && form.json('form.who') === 'agent',
    'agent: gzip decoded': () => gz.status === 200 && gz.json('gzipped') === true,
    'agent: k6/ws echo': () => res.status === 101 && echoed === 'from an agent',
  });
}
"#;

#[test]
fn wild_features_run_on_an_agent_from_the_archive() {
    let dir = temp_dir("wild-on-agents");
    for (path, text) in [
        ("script.js", SCRIPT),
        ("lib/label.ts", "export const label: string = 'ts-label';\n"),
        (
            "lib/helper.js",
            "module.exports = { twice: (x) => 2 * x };\n",
        ),
        ("data/users.csv", "name,age\nada,36\nbob,41\n"),
    ] {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().expect("a folder")).expect("mkdir");
        std::fs::write(file, text).expect("write a script file");
    }
    let target = Target::start();
    let ws = WsServer::start();
    let cluster = Cluster::start("wild-on-agents", 1);
    let base = format!("BASE_URL={}", target.url);
    let ws_url = format!("WS_URL={}", ws.url);
    let mut submit = cluster.submit(&dir.join("script.js"), &["-e", &base, "-e", &ws_url]);
    let code = cluster.submit_exit_code(&mut submit, Duration::from_secs(90));
    // A failed check fails the threshold (exit 99); the summary says which one.
    if code != 0 {
        let summary = cluster
            .latest_run_id()
            .map(|id| cluster.summary(id).to_string())
            .unwrap_or_default();
        panic!(
            "the agent's run exited {code}\nsubmit: {}{}\nsummary: {summary}\nagents: {}",
            submit.stdout.text(),
            submit.stderr.text(),
            cluster.agent_logs()
        );
    }
}
