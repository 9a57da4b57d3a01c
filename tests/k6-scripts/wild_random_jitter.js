// Helpers pasted into many scripts: randomIntBetween, randomItem, a random string, think time
// with random jitter, and a weighted choice of user journeys.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter } from 'k6/metrics';

const journeys = new Counter('journeys');

function randomIntBetween(min, max) {
  return Math.floor(Math.random() * (max - min + 1) + min);
}
function randomItem(arr) {
  return arr[Math.floor(Math.random() * arr.length)];
}
function randomString(n) {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < n; i++) s += chars[randomIntBetween(0, chars.length - 1)];
  return s;
}
function thinkTime(base, jitter) {
  sleep(base + Math.random() * jitter);
}

export const options = { vus: 3, iterations: 9, thresholds: { journeys: ['count==9'] } };

export default function () {
  const n = randomIntBetween(1, 6);
  const user = randomString(10);
  const journey = randomItem(['browse', 'search', 'buy']);
  journeys.add(1, { journey });
  const res = http.post(`${__ENV.BASE_URL}/post`, { user, n: String(n) }, { tags: { journey } });
  check(res, {
    'int in range': () => n >= 1 && n <= 6 && Number.isInteger(n),
    'string length': (r) => r.json('form.user') === user && user.length === 10,
    'journey known': () => ['browse', 'search', 'buy'].includes(journey),
  });
  const before = Date.now();
  thinkTime(0.05, 0.1);
  const waited = Date.now() - before;
  check(waited, { 'slept with jitter': (w) => w >= 45 && w < 1000 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
