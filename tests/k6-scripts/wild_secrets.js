// Credentials kept out of the script, as recent k6 examples do: an API token from a mock
// source on the command line (the default one), database credentials from a file source named
// `vault`, read with `await` in setup and in the iteration; the token goes into a header, and
// the lookups k6 refuses are caught and counted.
import http from 'k6/http';
import secrets from 'k6/secrets';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const refused = new Counter('refused_lookups');

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'], refused_lookups: ['count==4'] },
};

export async function setup() {
  const user = await secrets.source('vault').get('db_user');
  return { user };
}

export default async function (data) {
  const token = await secrets.get('api_token');
  const res = http.get(`${__ENV.BASE_URL}/headers`, { headers: { Authorization: `Bearer ${token}` } });
  const password = await secrets.source('vault').get('db_password');
  check(res, {
    'the token reaches the server': (r) => r.json('headers.Authorization') === 'Bearer tok-123',
    'the setup read the file source': () => data.user === 'load-tester',
    'a value keeps its equals signs': () => password === 's3cr3t=with=equals',
  });
  let missing = null;
  try {
    await secrets.get('no_such_key');
  } catch (e) {
    refused.add(1);
    missing = e;
  }
  let unknown = null;
  await secrets.source('nope').get('x').catch((e) => { refused.add(1); unknown = e; });
  check(null, {
    'a missing key rejects with no value': () => String(missing) === 'no value',
    'the rejection is Go\'s error, not an Error': () => !(missing instanceof Error)
      && Object.keys(missing).join() === 'error' && missing.error() === 'no value',
    'an unknown source is named': () => `${unknown}` === 'no secret source with name "nope" is configured',
    'get returns a promise': () => {
      const p = secrets.get('api_token');
      return p instanceof Promise;
    },
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
