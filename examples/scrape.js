// Scraping a page: k6/html's selections on a response (res.html()), following its link and
// submitting its form, with a timer-based think time (the iteration waits for its timers).
import http from 'k6/http';
import { check, group } from 'k6';
import { parseHTML } from 'k6/html';
import { setTimeout } from 'k6/timers';

export { handleSummary } from './lib/summary.js';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8080';

export const options = {
  scenarios: {
    scrape: { executor: 'per-vu-iterations', vus: 2, iterations: 3 },
  },
  thresholds: {
    checks: ['rate==1'],
    http_reqs: ['count==30'],
  },
};

export default function () {
  let res;
  group('read the page', () => {
    res = http.get(`${BASE}/html`);
    const doc = res.html();
    const form = doc.find('form');
    check(doc, {
      'title': (d) => d.find('title').text() === 'Volley target',
      'heading': (d) => d.find('h1').text() === 'Volley target',
      'one link, resolved against the page': (d) => d.find('a').get(0).href() === `${BASE}/json`,
      'form fields': () => form.serialize() === 'name=volley',
      'form posts to /post': () => form.get(0).method() === 'post' && form.attr('action') === '/post',
    });
  });
  group('follow and submit', () => {
    const linked = res.clickLink();
    check(linked, { 'link followed': (r) => r.status === 200 && r.url === `${BASE}/json` });
    const posted = res.submitForm({ fields: { extra: 'yes' } });
    check(posted, {
      'form submitted': (r) => r.status === 200 && r.request.method === 'POST',
      'with its fields and ours': (r) => r.json('form.name') === 'volley' && r.json('form.extra') === 'yes',
    });
  });
  // A parsed fragment: the list's prices, summed.
  const prices = parseHTML('<ul><li data-p="2">a</li><li data-p="3">b</li></ul>')
    .find('li')
    .map((_, li) => li.data('p'));
  check(prices, { 'prices': (p) => p.reduce((a, b) => a + b, 0) === 5 });
  // Think time on the event loop: the iteration ends only after these requests are made.
  const started = Date.now();
  setTimeout(() => {
    const r = http.get(`${BASE}/get?after=timer`);
    check(r, { 'request from a timer': (x) => x.status === 200 && Date.now() - started >= 100 });
  }, 100);
  new Promise((resolve) => setTimeout(resolve, 50)).then(() => {
    const r = http.get(`${BASE}/get?after=promise`);
    check(r, { 'request after a promise': (x) => x.status === 200 });
  });
}
