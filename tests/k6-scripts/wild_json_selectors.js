// res.json() with k6's selectors (gjson paths): nested fields, array indexes, counts, queries,
// wildcards, and a missing path; plus JSON.parse of the body for comparison.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/json`);
  const doc = JSON.parse(res.body);
  check(res, {
    'whole document': (r) => r.json().slideshow.author === doc.slideshow.author,
    'nested field': (r) => r.json('slideshow.title') === doc.slideshow.title,
    'array index': (r) => r.json('slideshow.slides.1.title') === doc.slideshow.slides[1].title,
    'array length': (r) => r.json('slideshow.slides.#') === 2,
    'field of every element': (r) => JSON.stringify(r.json('slideshow.slides.#.type')) === '["all","all"]',
    'first match': (r) => r.json('slideshow.slides.#(title=="Overview").type') === 'all',
    'every match': (r) => r.json('slideshow.slides.#(type=="all")#.title').length === 2,
    'like': (r) => r.json('slideshow.slides.#(title%"Wake*").title') === doc.slideshow.slides[0].title,
    'not like': (r) => r.json('slideshow.slides.#(title!%"Wake*")#').length === 1,
    'wildcard key': (r) => r.json('slide*.auth?r') === doc.slideshow.author,
    'no match': (r) => r.json('slideshow.slides.#(title=="none")') === undefined,
    'missing path is undefined': (r) => r.json('slideshow.nope') === undefined,
  });
  const posted = http.post(`${__ENV.BASE_URL}/post`, JSON.stringify({ user: { name: 'ada', roles: ['a', 'b'] }, 'dotted.key': 1, items: [{ n: 1 }, { n: 2 }, { n: 3 }] }), {
    headers: { 'Content-Type': 'application/json' },
  });
  check(posted, {
    'echoed json': (r) => r.json('json.user.name') === 'ada',
    'echoed array': (r) => r.json('json.user.roles.1') === 'b',
    'escaped dot': (r) => r.json('json.dotted\\.key') === 1,
    'numeric query': (r) => r.json('json.items.#(n>1)#.n').join() === '2,3',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
