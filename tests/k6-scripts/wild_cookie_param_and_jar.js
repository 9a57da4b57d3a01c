// A storefront whose pages read a `theme` cookie: the login leaves `session` and `theme` in the
// VU's jar, and later requests bring a theme of their own, as the `cookies` param (with and
// without `replace`) and as a `Cookie` header, on a plain request and across a redirect. The
// server echoes the `Cookie` header it got.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'] },
};

const sent = (r) => r.json('headers.Cookie');
const listed = (r, name) => (r.request.cookies[name] || []).map((c) => c.value).join(',');

export default function () {
  const B = __ENV.BASE_URL;
  http.get(`${B}/cookies/set?session=abc123&theme=dark`);

  const param = http.get(`${B}/headers`, { cookies: { theme: 'light' } });
  check(param, {
    'a param cookie goes out before the jar cookie of its name': (r) =>
      sent(r) === 'theme=light; session=abc123; theme=dark',
    'both are listed in the request': (r) =>
      listed(r, 'theme') === 'light,dark' && listed(r, 'session') === 'abc123',
  });

  const kept = http.get(`${B}/headers`, { cookies: { theme: { value: 'light' } } });
  check(kept, {
    'an object param without replace also keeps the jar cookie': (r) =>
      sent(r) === 'theme=light; session=abc123; theme=dark',
  });

  const replaced = http.get(`${B}/headers`, { cookies: { theme: { value: 'light', replace: true } } });
  check(replaced, {
    'replace leaves the jar cookie of that name home': (r) => sent(r) === 'theme=light; session=abc123',
    'only the param value is listed': (r) => listed(r, 'theme') === 'light',
  });

  const header = http.get(`${B}/headers`, { headers: { Cookie: 'theme=light' } });
  check(header, {
    'a Cookie header goes out before every jar cookie': (r) =>
      sent(r) === 'theme=light; session=abc123; theme=dark',
    'the header and the jar values are listed': (r) => listed(r, 'theme') === 'light,dark',
  });

  const mixed = http.get(`${B}/headers`, {
    headers: { Cookie: 'theme=hdr; lang=en' },
    cookies: { theme: { value: 'light', replace: true } },
  });
  check(mixed, {
    'header, then param, then the jar; replace spares the header': (r) =>
      sent(r) === 'theme=hdr; lang=en; theme=light; session=abc123',
  });

  const hop = `${B}/redirect-to?url=${encodeURIComponent(`${B}/headers`)}`;
  const viaParam = http.get(hop, { cookies: { theme: 'light' } });
  check(viaParam, {
    'a redirect hop gets the param and the jar again': (r) =>
      r.status === 200 && sent(r) === 'theme=light; session=abc123; theme=dark',
  });
  const viaHeader = http.get(hop, { headers: { Cookie: 'theme=hdr' } });
  check(viaHeader, {
    'a redirect hop gets the jar but not the Cookie header': (r) =>
      r.status === 200 && sent(r) === 'session=abc123; theme=dark',
  });

  const after = http.get(`${B}/cookies`);
  check(after, {
    'the jar kept its own values': (r) =>
      r.json('cookies.theme') === 'dark' && r.json('cookies.session') === 'abc123',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
