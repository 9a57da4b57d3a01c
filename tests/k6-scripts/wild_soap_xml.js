// A SOAP service test: an XML envelope posted with a SOAPAction header, the reply (the
// target's base64 endpoint serving an XML document) read with k6/html's parseHTML, as
// scripts without an XML library do, and the fault element checked.
import http from 'k6/http';
import { parseHTML } from 'k6/html';
import encoding from 'k6/encoding';
import { check, group } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { checks: ['rate==1'], 'http_req_duration{name:soap}': ['max<5000'] },
};

const envelope = (id) => `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body><GetOrder xmlns="urn:shop"><OrderId>${id}</OrderId></GetOrder></soap:Body>
</soap:Envelope>`;

const reply = `<?xml version="1.0"?><Envelope><Body><GetOrderResponse>
<Order id="42" status="shipped"><Item sku="A-1" qty="2">Widget</Item><Item sku="B-7" qty="1">Gadget</Item></Order>
</GetOrderResponse></Body></Envelope>`;

export default function () {
  group('soap call', () => {
    const res = http.post(`${__ENV.BASE_URL}/post`, envelope(42), {
      headers: { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: 'urn:shop/GetOrder' },
      tags: { name: 'soap' },
    });
    check(res, {
      'the envelope arrived': (r) => r.json('body').includes('<OrderId>42</OrderId>'),
      'the action header was sent': (r) => r.json('headers.Soapaction') === 'urn:shop/GetOrder',
    });
  });
  group('soap reply', () => {
    const res = http.get(`${__ENV.BASE_URL}/base64/${encoding.b64encode(reply, 'url')}`);
    const doc = parseHTML(res.body);
    const items = doc.find('item');
    check(doc, {
      'the order is shipped': (d) => d.find('order').attr('status') === 'shipped',
      'two items': () => items.size() === 2,
      'quantities add up': () => items.toArray().reduce((n, i) => n + Number(i.attr('qty')), 0) === 3,
      'names in order': () => items.map((_, i) => i.text()).join('|') === 'Widget|Gadget',
      'no fault': (d) => d.find('fault').size() === 0,
    });
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
