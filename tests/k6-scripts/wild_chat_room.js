// The chat-room demo many WebSocket tutorials load-test: each VU opens two sockets to one room,
// one posts JSON messages on a timer, the other counts what the room broadcasts (the sender
// hears itself too), and both close when the conversation is over.
// k6/experimental/websockets with k6/timers.
import { WebSocket } from 'k6/experimental/websockets';
import { setTimeout, setInterval, clearInterval } from 'k6/timers';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import exec from 'k6/execution';

const received = new Counter('chat_messages_received');

export const options = {
  vus: 2,
  iterations: 2,
  thresholds: {
    chat_messages_received: ['count==6'],
    'ws_sessions{room:chat}': ['count==4'],
    checks: ['rate==1'],
  },
};

export default function () {
  const room = `${__ENV.WS_URL}/broadcast/room-${exec.vu.idInTest}`;
  const params = { tags: { room: 'chat' } };
  const listener = new WebSocket(room, null, params);
  const seen = [];
  // The room prefixes each message with its number of members: `2:{...}`.
  const parse = (data) => JSON.parse(data.slice(data.indexOf(':') + 1));
  listener.addEventListener('message', (e) => {
    const msg = parse(e.data);
    seen.push(msg.n);
    received.add(1);
    if (seen.length === 3) {
      check(seen, { 'messages in order': (s) => s.join(',') === '1,2,3' });
      listener.close();
    }
  });
  listener.onopen = () => {
    const talker = new WebSocket(room, null, params);
    let echoes = 0;
    talker.onmessage = (e) => {
      echoes += 1;
      if (echoes === 3) {
        check(e, { 'the sender hears itself': (m) => m.data.startsWith('2:') && parse(m.data).n === 3 });
        setTimeout(() => talker.close(), 5);
      }
    };
    talker.onopen = () => {
      let n = 0;
      const id = setInterval(() => {
        n += 1;
        talker.send(JSON.stringify({ user: `vu${exec.vu.idInTest}`, n }));
        if (n === 3) clearInterval(id);
      }, 5);
    };
    talker.onclose = () => check(talker, { 'talker closed': (t) => t.readyState === 3 });
  };
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
