// k6/ws against a local echo server (__ENV.WS_URL): the socket's handlers in order (recorded in
// a check's name, so both tools must produce the same one), connect blocking until the socket
// has closed (running nothing else meanwhile), close codes from the client and from the
// server, socket timers, a refused connection, error texts, and the ws_* metrics with their
// tags (a submetric per tag checks the tags).
import ws from 'k6/ws';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

export const options = {
  scenarios: {
    sockets: { executor: 'per-vu-iterations', vus: 2, iterations: 2, maxDuration: '30s' },
  },
  thresholds: {
    'ws_msgs_sent{kind:echo}': ['count==32'],
    'ws_msgs_received{kind:echo}': ['count==24'],
    'ws_sessions{status:101}': ['count==24'],
    'ws_sessions{status:404}': ['count==4'],
    'ws_connecting{kind:refused}': ['max>=0'],
  },
};

const closes = new Counter('close_events');

export default function () {
  const log = [];
  // connect runs only its own socket: this job and this timer wait until it has returned.
  Promise.resolve().then(() => log.push('microtask'));
  setTimeout(() => log.push('global timeout'), 1);
  const start = Date.now();
  const res = ws.connect(`${__ENV.WS_URL}/hello`, { tags: { kind: 'echo' }, headers: { 'X-Test': '1' } }, (socket) => {
    log.push('callback');
    socket.on('open', () => {
      log.push('open');
      socket.send('one');
      socket.sendBinary(new Uint8Array([1, 2, 3]).buffer);
    });
    socket.on('message', (m) => {
      log.push('message ' + m);
      if (m === 'one') socket.send('ping-me');
    });
    socket.on('binaryMessage', (b) => log.push('binary ' + new Uint8Array(b).join('.')));
    socket.on('ping', () => {
      log.push('ping');
      socket.setTimeout(() => {
        log.push('timeout');
        socket.close();
      }, 150);
    });
    socket.on('close', (code) => {
      log.push('close ' + code);
      closes.add(1);
    });
  });
  log.push('returned ' + res.status + ' ' + (Date.now() - start >= 150));
  check(res, {
    'status is 101': (r) => r.status === 101,
    'url is kept': (r) => r.url === `${__ENV.WS_URL}/hello`,
    'no error': (r) => r.error === '',
    ['order: ' + log.join(',')]: () => true,
  });

  // The server closes: 1000 is normal, 4000 is also reported as an error.
  const codes = [];
  for (const code of [1000, 4000]) {
    ws.connect(`${__ENV.WS_URL}/echo`, { tags: { kind: 'echo' } }, (socket) => {
      socket.on('open', () => socket.send('close:' + code));
      socket.on('error', (e) => codes.push('error ' + e.error()));
      socket.on('close', (c) => {
        codes.push('close ' + c);
        closes.add(1);
      });
    });
  }
  // An interval that closes the socket with its own code.
  let ticks = 0;
  ws.connect(`${__ENV.WS_URL}/echo`, { tags: { kind: 'echo' } }, (socket) => {
    socket.on('open', () => {
      socket.setInterval(() => {
        ticks++;
        if (ticks <= 3) socket.send('tick' + ticks);
      }, 60);
    });
    socket.on('message', (m) => {
      codes.push(m);
      if (m === 'tick3') socket.close(4001);
    });
    socket.on('close', (c) => codes.push('close ' + c));
  });
  check(codes, { ['server and client closes: ' + codes.join(',')]: () => true });

  const refused = ws.connect('ws://127.0.0.1:1/nothing', { tags: { kind: 'refused' } }, () => {
    log.push('never');
  });
  check(refused, {
    'refused: status 0': (r) => r.status === 0,
    'refused: error says so': (r) => r.error.indexOf('connection refused') >= 0,
  });

  // Edge cases: a URL that is not ws://, a server that does not upgrade (its response, no
  // error), a connection dropped without a close frame, a socket timer of 0 ms.
  const edges = [];
  const notWs = ws.connect(`${__ENV.WS_URL}/echo`.replace('ws://', 'http://'), { tags: { kind: 'edge' } }, () => {});
  edges.push(`http: ${notWs.status} ${notWs.error}`);
  const notUpgraded = ws.connect(`${__ENV.WS_URL}/404`, { tags: { kind: 'edge' } }, () => edges.push('never'));
  edges.push(`404: ${notUpgraded.status} [${notUpgraded.error}] ${notUpgraded.body}`);
  ws.connect(`${__ENV.WS_URL}/echo`, { tags: { kind: 'edge' } }, (socket) => {
    socket.on('open', () => socket.send('drop'));
    socket.on('error', (e) => edges.push('error ' + e.error() + ' ' + Object.keys(e).join('+')));
    socket.on('close', (c) => edges.push('close ' + c));
  });
  try {
    ws.connect(`${__ENV.WS_URL}/echo`, { tags: { kind: 'edge' } }, (socket) => socket.setTimeout(() => {}, 0));
    edges.push('timeout 0: no throw');
  } catch (e) {
    edges.push('timeout 0: ' + (String(e).indexOf('setTimeout requires a >0 timeout parameter, received 0.00') >= 0));
  }
  check(edges, { ['edges: ' + edges.join(',')]: () => true });
  setTimeout(() => check(log, { ['then: ' + log.join(',')]: () => true }), 10);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
