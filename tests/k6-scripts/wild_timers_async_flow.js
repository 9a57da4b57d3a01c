// Polling for a job with timers and promises: `setTimeout` wrapped in a promise, an interval
// cleared after three ticks, `async` helpers awaiting requests, `Promise.all` and
// `Promise.race` over timers.
import http from 'k6/http';
import { check } from 'k6';
import { setTimeout, clearTimeout, setInterval, clearInterval } from 'k6/timers';

export const options = { vus: 1, iterations: 2, thresholds: { checks: ['rate==1'], http_reqs: ['count==8'] } };

const sleepMs = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function poll(url, times) {
  let last;
  for (let i = 0; i < times; i++) {
    last = await http.asyncRequest('GET', `${url}?attempt=${i}`);
    await sleepMs(5);
  }
  return last;
}

export default async function () {
  const order = [];
  const cancelled = setTimeout(() => order.push('never'), 1);
  clearTimeout(cancelled);
  await new Promise((resolve) => {
    let ticks = 0;
    const id = setInterval(() => {
      ticks += 1;
      order.push(`tick${ticks}`);
      if (ticks === 3) {
        clearInterval(id);
        resolve();
      }
    }, 2);
  });
  const last = await poll(`${__ENV.BASE_URL}/get`, 3);
  const [a, b] = await Promise.all([sleepMs(3).then(() => 'a'), Promise.resolve('b')]);
  const winner = await Promise.race([sleepMs(30).then(() => 'slow'), sleepMs(1).then(() => 'fast')]);
  Promise.resolve().then(() => order.push('micro'));
  order.push('sync');
  await null;
  check(null, {
    'interval ticked three times, cleared timeout never fired': () => order.slice(0, 3).join(',') === 'tick1,tick2,tick3' && !order.includes('never'),
    'sync before micro': () => order.slice(3).join(',') === 'sync,micro',
    'last poll': () => last.json('args.attempt') === '2',
    'all': () => a + b === 'ab',
    'race': () => winner === 'fast',
  });
  const res = await http.asyncRequest('POST', `${__ENV.BASE_URL}/post`, 'done');
  check(res, { 'async post': (r) => r.json('body') === 'done' });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
