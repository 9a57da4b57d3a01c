// `hosts` sends made-up names to the local target: an exact name with the target's port in
// the value, a wildcard with the URL's port kept, a host:port key; Host stays the URL's name.
import http from 'k6/http';
import { check } from 'k6';

const target = __ENV.BASE_URL.replace('http://', ''); // 127.0.0.1:PORT
const [ip, port] = target.split(':');

export const options = {
  vus: 2,
  iterations: 4,
  hosts: {
    'staging.volley.test': target,
    '*.apps.volley.test': ip,
    'Other.Volley.Test:80': target,
  },
};

export default function () {
  const exact = http.get('http://staging.volley.test/headers');
  check(exact, {
    'exact name reaches the target': (r) => r.status === 200,
    'Host stays the name': (r) => r.json().headers.Host === 'staging.volley.test',
    'remote is the mapped address': (r) => `${r.remote_ip}:${r.remote_port}` === target,
  });
  const wild = http.get(`http://api.apps.volley.test:${port}/get?via=wildcard`);
  check(wild, {
    'wildcard reaches the target': (r) => r.status === 200 && r.json().args.via === 'wildcard',
    'wildcard Host keeps the port': (r) => r.json().headers.Host === `api.apps.volley.test:${port}`,
  });
  const keyed = http.get('http://other.volley.test/status/201');
  check(keyed, { 'host:port key, any case': (r) => r.status === 201 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
