// Configuration through __ENV with defaults, some set with -e on the command line (the case
// passes `-e API_VERSION=v2 -e USERS=3 -e DEBUG=`), the shape of CI pipelines.
import http from 'k6/http';
import { check } from 'k6';

const API_VERSION = __ENV.API_VERSION || 'v1';
const USERS = parseInt(__ENV.USERS || '1', 10);
const REGION = __ENV.REGION || 'eu-west';
const DEBUG = __ENV.DEBUG === 'true';

export const options = {
  vus: USERS,
  iterations: USERS * 2,
  tags: { api_version: API_VERSION },
  thresholds: { [`http_reqs{api_version:${API_VERSION}}`]: [`count==${USERS * 2}`] },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/anything/${API_VERSION}/users?region=${REGION}`);
  check(res, {
    'version from -e': () => API_VERSION === 'v2',
    'number from -e': () => USERS === 3,
    'default kept': (r) => r.json('args.region') === 'eu-west',
    'empty value is set': () => __ENV.DEBUG === '' && !DEBUG,
    'unset is undefined': () => __ENV.NOT_SET === undefined && !('NOT_SET' in __ENV),
    'path': (r) => r.json('path') === '/anything/v2/users',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
