// k6/experimental/websockets (the path k6 v1.1.0 has; Volley also has k6/websockets) against a
// local echo and broadcast server (__ENV.WS_URL): event order across handlers and listeners
// (recorded in a check's name), binaryType, ping/pong, client close codes, a refused
// connection, error events, iterations that end only when every socket has closed, and the
// ws_* metrics with their tags (a submetric per tag checks them).
import { WebSocket } from 'k6/experimental/websockets';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import exec from 'k6/execution';

export const options = {
  scenarios: {
    sockets: { executor: 'per-vu-iterations', vus: 2, iterations: 2, maxDuration: '30s' },
  },
  thresholds: {
    'ws_msgs_sent{kind:echo}': ['count==20'],
    'ws_msgs_received{kind:echo}': ['count==16'],
    'ws_sessions{kind:refused}': ['count==4'],
    'ws_ping{kind:echo}': ['max>=0'],
  },
};

const closed = new Counter('sockets_closed');

export default function () {
  const log = [];
  const ws = new WebSocket(`${__ENV.WS_URL}/hello`, null, { tags: { kind: 'echo' } });
  log.push('created ' + ws.readyState + ' ' + ws.binaryType);
  ws.addEventListener('open', () => log.push('listener open'));
  ws.onopen = (e) => {
    log.push('open ' + e.type + ' ' + ws.readyState);
    ws.send('one');
    ws.send(new Uint8Array([1, 2, 3]).buffer);
    ws.ping();
  };
  let n = 0;
  ws.onmessage = (e) => {
    n++;
    if (typeof e.data === 'string') {
      log.push('text ' + e.data);
    } else {
      log.push('binary ' + (e.data.size === undefined ? 'arraybuffer' : e.data.size));
      if (n === 3) {
        ws.binaryType = 'arraybuffer';
        ws.send(new Uint8Array([9, 8]));
      }
    }
    if (n === 4) {
      log.push('arraybuffer ' + new Uint8Array(e.data).join('.'));
      setTimeout(() => ws.close(4005), 100);
    }
  };
  ws.addEventListener('message', () => log.push('listener message'));
  ws.onpong = () => log.push('pong');
  ws.onclose = () => {
    log.push('close ' + ws.readyState);
    closed.add(1);
    check(log, { ['order: ' + log.join(',')]: () => true });
  };
  log.push('script end');

  const bad = new WebSocket('ws://127.0.0.1:1/nothing', null, { tags: { kind: 'refused' } });
  bad.onerror = (e) => {
    check(e, {
      'refused: an error event': (ev) => ev.type === 'error',
      'refused: closed': () => bad.readyState === 3,
    });
  };
  bad.onclose = () => closed.add(1);

  // Two clients of the broadcast room: each gets b's message; both close once both have it.
  const got = [];
  const room = `${__ENV.WS_URL}/broadcast/vu${exec.vu.idInTest}-${exec.vu.iterationInScenario}`;
  const a = new WebSocket(room, null, { tags: { kind: 'room' } });
  let b;
  const gotIt = (who, e) => {
    got.push(who + ' got ' + e.data.slice(0, 8));
    if (got.length === 2) {
      a.close();
      b.close();
    }
  };
  a.onopen = () => {
    b = new WebSocket(room, null, { tags: { kind: 'room' } });
    b.onopen = () => b.send('from b');
    b.onmessage = (e) => gotIt('b', e);
    b.onclose = () => closed.add(1);
  };
  a.onmessage = (e) => gotIt('a', e);

  // Errors: a close code other than 1000/1001 (from the server, or echoed), a dropped
  // connection, a refused upgrade, a URL that is not ws://; readyState is 3 in each error.
  const edges = [];
  const edge = (name, path, onopen) => {
    const s = new WebSocket(`${__ENV.WS_URL}${path}`, null, { tags: { kind: 'edge' } });
    s.onopen = () => onopen(s);
    s.onerror = (e) => edges.push(`${name} error ${e.error} ${s.readyState}`);
    s.onclose = () => {
      edges.push(`${name} close ${s.readyState}`);
      if (edges.length === 8) check(edges, { ['edges: ' + edges.sort().join(',')]: () => true });
    };
  };
  edge('server4000', '/echo', (s) => s.send('close:4000'));
  edge('client4005', '/echo', (s) => s.close(4005, 'why'));
  edge('dropped', '/echo', (s) => s.send('drop'));
  edge('404', '/404', () => {});
  try {
    new WebSocket(`${__ENV.WS_URL}/echo`.replace('ws://', 'http://'));
  } catch (e) {
    check(e, { 'http: throws k6 text': () => String(e).indexOf('WebSocket requires url with scheme ws or wss, but got "http"') >= 0 });
  }
  a.onclose = () => {
    closed.add(1);
    check(got, { ['broadcast: ' + got.sort().join(',')]: () => true });
  };
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
