// A page with a link and a form: res.html() queries, res.clickLink() and res.submitForm()
// with extra fields, as browser-like scripts do.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const page = http.get(`${__ENV.BASE_URL}/html`);
  const doc = page.html();
  check(doc, {
    'title': (d) => d.find('title').text() === 'Volley target',
    'heading': (d) => d.find('h1').first().text() === 'Volley target',
    'link href': (d) => d.find('a').attr('href') === '/json',
    'form action': (d) => d.find('form').attr('action') === '/post',
  });
  const followed = page.clickLink({ selector: 'a' });
  check(followed, {
    'link followed': (r) => r.status === 200 && r.url.endsWith('/json'),
  });
  const sent = page.submitForm({ formSelector: 'form', fields: { extra: 'yes' } });
  check(sent, {
    'form submitted': (r) => r.status === 200 && r.json('method') === 'POST',
    'form fields': (r) => r.json('form.name') === 'volley' && r.json('form.extra') === 'yes',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
