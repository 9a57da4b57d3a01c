// Error handling as API tests write it: Error subclasses thrown and caught by type, an
// iteration that throws one uncaught (logged, counted as interrupted, the run still passes),
// and console output of objects, arrays and errors.
import http from 'k6/http';
import { check } from 'k6';

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}
class NotFoundError extends ApiError {
  constructor(path) {
    super(404, `not found: ${path}`);
    this.name = 'NotFoundError';
  }
}

function call(path) {
  const res = http.get(`${__ENV.BASE_URL}${path}`);
  if (res.status === 404) throw new NotFoundError(path);
  if (res.status >= 400) throw new ApiError(res.status, `failed: ${path}`);
  return res;
}

export const options = { vus: 1, iterations: 3 };

export default function () {
  let caught;
  try {
    call('/status/404');
  } catch (e) {
    caught = e;
  }
  check(caught, {
    'subclass caught': (e) => e instanceof NotFoundError && e instanceof ApiError && e instanceof Error,
    'name and message': (e) => e.name === 'NotFoundError' && e.message === 'not found: /status/404',
    'custom field': (e) => e.status === 404,
    'toString': (e) => String(e) === 'NotFoundError: not found: /status/404',
    'stack is a string': (e) => typeof e.stack === 'string',
  });
  console.log('caught', caught.name, caught.status, [1, { two: 2 }], { nested: { list: [caught.message] } });
  console.warn(JSON.stringify({ level: 'warn', iter: __ITER }));
  try {
    call('/status/500');
  } catch (e) {
    check(e, { 'base class only': (x) => x instanceof ApiError && !(x instanceof NotFoundError) && x.status === 500 });
  }
  if (__ITER === 1) {
    throw new ApiError(418, 'uncaught on purpose');
  }
  check(call('/get'), { 'plain call ok': (r) => r.status === 200 });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
