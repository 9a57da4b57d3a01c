// A GraphQL API test: queries and a mutation posted as JSON with variables and an operation
// name, the echoed payload read back with `res.json(selector)` (arrays, `#` counts, nested
// keys), a query string with `operationName`, and a batch of two queries.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'], http_req_failed: ['rate==0'] },
};

const B = __ENV.BASE_URL;
const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };

function gql(query, variables, operationName) {
  return http.post(`${B}/anything/graphql`, JSON.stringify({ query, variables, operationName }), {
    headers,
    tags: { name: `gql:${operationName}` },
  });
}

export default function () {
  const q = gql('query Products($first: Int!) { products(first: $first) { id name } }', { first: 3, tags: ['a', 'b'] }, 'Products');
  check(q, {
    'the query is sent as JSON': (r) => r.json('json.operationName') === 'Products',
    'variables survive': (r) => r.json('json.variables.first') === 3 && r.json('json.variables.tags.#') === 2,
    'an array element by index': (r) => r.json('json.variables.tags.1') === 'b',
    'content type': (r) => r.json('headers.Content-Type') === 'application/json',
  });
  const m = gql('mutation AddItem($sku: String!) { addItem(sku: $sku) { ok } }', { sku: 'A-1' }, 'AddItem');
  check(m, { 'the mutation names its input': (r) => r.json('json.variables.sku') === 'A-1' });
  const viaGet = http.get(`${B}/anything/graphql?query=${encodeURIComponent('{ me { id } }')}&operationName=Me`);
  check(viaGet, {
    'a GET query is read back': (r) => r.json('args.query') === '{ me { id } }' && r.json('args.operationName') === 'Me',
  });
  const both = http.batch([
    ['POST', `${B}/anything/graphql`, JSON.stringify({ query: '{ a }' }), { headers }],
    ['POST', `${B}/anything/graphql`, JSON.stringify({ query: '{ b }' }), { headers }],
  ]);
  check(both, { 'batched queries come back in order': (rs) => rs[0].json('json.query') === '{ a }' && rs[1].json('json.query') === '{ b }' });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
