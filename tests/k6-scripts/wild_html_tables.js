// Scraping a page as tutorials do: `res.html()` and `parseHTML` over tables, lists and forms,
// `find`, `each`, `map`, `attr`, `text`, `children`, `eq`, `filter`, form values.
import http from 'k6/http';
import { parseHTML } from 'k6/html';
import { check } from 'k6';

const page = `<!DOCTYPE html><html><head><title> Orders </title><meta name="csrf" content="t0k3n"></head>
<body>
  <table id="orders">
    <thead><tr><th>Id</th><th>Item</th><th>Total</th></tr></thead>
    <tbody>
      <tr data-id="7" class="row paid"><td>7</td><td>Apple &amp; pear</td><td>3.50</td></tr>
      <tr data-id="8" class="row"><td>8</td><td>Plum</td><td>1.25</td></tr>
      <tr data-id="9" class="row paid"><td>9</td><td>Fig</td><td>2.00</td></tr>
    </tbody>
  </table>
  <ul class="nav"><li><a href="/a">A</a></li><li><a href="/b" rel="nofollow">B</a></li></ul>
  <form id="f" action="/post" method="post">
    <input name="q" value="x"><input type="checkbox" name="c" value="1" checked="checked">
    <select name="s"><option value="1">one</option><option value="2" selected>two</option></select>
    <textarea name="t">hello</textarea>
  </form>
</body></html>`;

export const options = { vus: 1, iterations: 1, thresholds: { checks: ['rate==1'] } };

export default function () {
  const doc = parseHTML(page);
  const rows = doc.find('#orders tbody tr');
  const totals = rows.map((i, tr) => Number(tr.find('td').eq(2).text()));
  const paid = rows.filter('.paid');
  check(doc, {
    'title trimmed by the script': (d) => d.find('title').text().trim() === 'Orders',
    'meta content': (d) => d.find('meta[name=csrf]').attr('content') === 't0k3n',
    'three rows': () => rows.size() === 3,
    'totals': () => totals.join('|') === '3.5|1.25|2',
    'entity decoded': () => rows.eq(0).find('td').eq(1).text() === 'Apple & pear',
    'paid rows': () => paid.size() === 2 && paid.last().attr('data-id') === '9',
    'data attribute typed': () => rows.first().data('id') === 7,
    'links': (d) => d.find('ul.nav a').toArray().map((a) => a.attr('href')).join(',') === '/a,/b',
    'each with index': (d) => {
      const seen = [];
      d.find('ul.nav li').each((i, li) => seen.push(`${i}:${li.textContent()}`));
      return seen.join(',') === '0:A,1:B';
    },
    'children and parent': (d) => d.find('thead tr').children().size() === 3 && d.find('th').first().parent().is('tr'),
    'form values': (d) => {
      const o = d.find('#f').serializeObject();
      return o.q === 'x' && o.c === '1' && o.s === '2' && o.t === 'hello';
    },
    'rel attribute': (d) => d.find('a[rel=nofollow]').text() === 'B',
    'map leaves out what throws': () => rows.map((i, tr) => {
      if (i === 1) throw new Error('no total');
      return tr.attr('data-id');
    }).join(',') === '7,9',
    'each stops at a throw with a GoError': () => {
      try {
        rows.each(() => { throw new TypeError('bad row'); });
        return false;
      } catch (e) {
        return e.name === 'GoError' && e.message.startsWith('the function passed to each() failed: TypeError: bad row at file://');
      }
    },
  });
  const res = http.get(`${__ENV.BASE_URL}/html`);
  check(res, {
    'response html': (r) => r.html('h1').text() === 'Volley target' || r.html('h1').size() === 1,
    'response form action': (r) => r.html().find('form').attr('action') === '/post',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
