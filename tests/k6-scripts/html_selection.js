// k6/html: parseHTML and res.html() with the Selection API and elements; every value a
// selection gives is recorded in a check's name, so both tools must give the same values.
import http from 'k6/http';
import { check } from 'k6';
import { parseHTML } from 'k6/html';

export const options = {
  scenarios: {
    scrape: { executor: 'shared-iterations', vus: 1, iterations: 2, maxDuration: '20s' },
  },
};

const PAGE = `<!DOCTYPE html>
<html><head><title>Shop &amp; more</title></head><body>
<div id="main" class="a b" data-id="42" data-cfg='{"x":[1,2]}' data-long-name="v" data-on="true">
  <h1>Products</h1>
  <p class="lead">Our <b>best</b> items: "cheap" &lt;really&gt;</p>
  <ul class="items">
    <li data-price="3.50"><a href="/p/1?ref=list">One</a></li>
    <li data-price="12"><a href="/p/2">Two</a><span class="sale">sale</span></li>
    <li class="last" data-price="7"><a href="http://shop.test:8080/p/3#top">Three</a></li>
  </ul>
  <img src="/logo.png" alt="logo" width="120"><br>
  <!-- a comment -->
</div>
<form id="order" action="/post" method="post">
  <input name="qty" value="2"><input type="hidden" name="token" value="t&k n">
  <input type="checkbox" name="gift" value="yes" checked="checked"><input type="checkbox" name="wrap" value="yes">
  <select name="size"><option>S</option><option value="m" selected>Medium</option></select>
  <select name="colors" multiple><option selected>red</option><option value="b" selected>blue</option><option>green</option></select>
  <textarea name="note">leave at door</textarea>
  <input type="radio" name="ship" value="fast"><input type="radio" name="ship" value="slow" checked="checked">
  <input type="submit" name="go" value="Order"><button name="btn">b</button>
</form>
</body></html>`;

function record(label, value) {
  check(null, { [`${label}: ${JSON.stringify(value)}`]: () => true });
}

export default function () {
  const doc = parseHTML(PAGE);
  const main = doc.find('#main');
  record('sizes', [doc.size(), doc.find('li').size(), doc.find('nope').size(), main.children().size()]);
  record('attr', [main.attr('class'), main.attr('missing'), main.attr('missing', 'dflt'), doc.find('img').attr('width')]);
  record('text', [doc.find('title').text(), doc.find('p.lead').text(), doc.find('li').text()]);
  record('html', [doc.find('p.lead').html(), doc.find('ul').children().first().html(), doc.find('#main').html().length]);
  record('data', [Object.entries(main.data()).sort(), main.data('longName'), doc.find('li').eq(0).data('price'), doc.find('li').map((i, s) => s.data('price'))]);
  record('each', (() => { const r = []; doc.find('li a').each((i, e) => r.push([i, e.nodeName(), e.textContent(), e.getAttribute('href')])); return r; })());
  record('map', doc.find('li').map((i, s) => `${i}:${s.find('a').text()}`));
  record('toArray/get', [doc.find('li').toArray().map((s) => s.attr('data-price')), doc.find('li').get(1).textContent(), doc.find('li').get(-1).className()]);
  record('eq/first/last/slice', [doc.find('li').eq(1).text(), doc.find('li').eq(-1).text(), doc.find('li').first().text(), doc.find('li').last().text(), doc.find('li').slice(1, 2).text()]);
  record('tree', [doc.find('b').parent().attr('class'), doc.find('b').parents().size(), doc.find('b').closest('div').attr('id'), doc.find('span.sale').closest('li').find('a').text(), doc.find('ul').children('.last').text()]);
  record('siblings', [doc.find('li').first().next().text(), doc.find('.last').prev().text(), doc.find('li').first().nextAll().size(), doc.find('.last').prevAll().size(), doc.find('h1').siblings().size(), doc.find('h1').nextUntil('img').size()]);
  record('filter/is/not/has', [doc.find('li').filter('.last').text(), doc.find('li').filter((i) => i !== 1).size(), doc.find('li').is('.last'), doc.find('li').is('.first'), doc.find('li').not('.last').size(), doc.find('li').has('span').text()]);
  record('contents', [doc.find('p.lead').contents().size(), doc.find('#main').contents().size()]);
  const form = doc.find('#order');
  record('val', ['input[name=qty]', 'select[name=size]', 'select[name=colors]', 'textarea', 'input[type=checkbox]', 'option'].map((s) => doc.find(s).val()));
  record('serialize', form.serialize());
  record('serializeArray', form.serializeArray());
  record('serializeObject', Object.entries(form.serializeObject()).sort());
  const p = doc.find('p.lead').get(0);
  record('element', [p.nodeName(), p.nodeType(), p.className(), p.classList(), p.innerHTML(), p.textContent(), p.childElementCount(), p.hasAttributes(), p.id(), String(p)]);
  record('element nav', [p.firstChild().nodeValue(), p.firstElementChild().nodeName(), p.parentElement().id(), p.nextElementSibling().nodeName(), p.previousElementSibling().nodeName(), p.childNodes().length, p.children().length]);
  record('element query', [p.querySelector('b').textContent(), p.querySelectorAll('b').length, p.matches('.lead'), p.contains(p.firstElementChild()), p.selection().find('b').text()]);
  const link = doc.find('li.last a').get(0);
  record('anchor', [link.href(), link.protocol(), link.host(), link.hostname(), link.port(), link.pathname(), link.hash(), link.text()]);
  const sel = doc.find('select[name=colors]').get(0);
  record('select', [sel.name(), sel.multiple(), sel.options().length, sel.selectedOptions().length, sel.type()]);
  const input = doc.find('input[name=qty]').get(0);
  record('input', [input.name(), input.value(), input.type(), input.form().id()]);
  record('form element', [form.get(0).method(), form.get(0).id()]);

  const res = http.get(`${__ENV.BASE_URL}/html`);
  const page = res.html();
  record('response', [page.url === res.url, res.html('h1').text(), page.find('a').get(0).href() === `${__ENV.BASE_URL}/json`, page.find('form').get(0).action() === `${__ENV.BASE_URL}/post`]);
  const sent = res.submitForm({ fields: { extra: 'x' } });
  record('submitForm', [sent.status, sent.request.method, Object.entries(sent.json('form')).sort()]);
  const followed = res.clickLink();
  record('clickLink', [followed.status, followed.url === `${__ENV.BASE_URL}/json`]);
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
