// API contract checks: a response validated against a JSON schema with ajv, and fields picked
// with JSONPath queries, both browserify UMD bundles from jslib.
import http from 'k6/http';
import { check } from 'k6';
import Ajv from 'https://jslib.k6.io/ajv/6.12.5/index.js';
import jsonpath from 'https://jslib.k6.io/jsonpath/1.1.1/index.js';

const ajv = new Ajv({ allErrors: true });
const slideshow = ajv.compile({
  type: 'object',
  required: ['slideshow'],
  properties: {
    slideshow: {
      type: 'object',
      required: ['author', 'slides', 'title'],
      properties: {
        author: { type: 'string' },
        slides: {
          type: 'array',
          minItems: 1,
          items: { type: 'object', required: ['title', 'type'], properties: { items: { type: 'array', items: { type: 'string' } } } },
        },
      },
    },
  },
});
const strict = ajv.compile({ type: 'object', properties: { id: { type: 'integer', minimum: 1 }, email: { type: 'string', pattern: '^[^@]+@[^@]+$' } }, required: ['id', 'email'] });

export const options = { vus: 2, iterations: 4 };

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/json`);
  const body = res.json();
  check(body, {
    'matches the schema': (b) => slideshow(b) === true,
    'titles by JSONPath': (b) => jsonpath.query(b, '$.slideshow.slides[*].title').join('|') === 'Wake up to WonderWidgets!|Overview',
    'recursive descent': (b) => jsonpath.query(b, '$..items[1]')[0] === 'Who <em>buys</em> WonderWidgets',
    'filter expression': (b) => jsonpath.query(b, '$.slideshow.slides[?(@.items)].title')[0] === 'Overview',
    'paths': (b) => jsonpath.paths(b, '$..author').map((p) => jsonpath.stringify(p)).join() === '$.slideshow.author',
    'value': (b) => jsonpath.value(b, '$.slideshow.title') === 'Sample Slide Show',
  });
  const bad = strict({ id: 0, email: 'nope' });
  check(strict.errors, {
    'invalid data is refused': () => bad === false,
    'every error is listed': (e) => e.map((x) => `${x.dataPath} ${x.keyword}`).sort().join() === '.email pattern,.id minimum',
    'error text': () => ajv.errorsText(strict.errors).includes('should be >= 1'),
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
