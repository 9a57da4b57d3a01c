// shared-iterations with checks inside nested groups (and one deliberately failing check).
import http from 'k6/http';
import { check, group } from 'k6';

export const options = {
  scenarios: {
    main: { executor: 'shared-iterations', vus: 2, iterations: 8, maxDuration: '10s' },
  },
};

export default function () {
  check(null, { 'top-level check': () => true });
  group('api', function () {
    const res = http.get(`${__ENV.BASE_URL}/json`);
    check(res, {
      'status is 200': (r) => r.status === 200,
      'is json': (r) => (r.headers['Content-Type'] || '').includes('json'),
    });
    group('nested', function () {
      const r2 = http.get(`${__ENV.BASE_URL}/get?x=1`);
      check(r2, { 'echoed arg': (r) => r.json('args.x') === '1' });
    });
  });
  group('errors', function () {
    check(1, { 'always fails': (v) => v === 2 });
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
