// Assertions with chai from a jslib-style bundle: `describe` groups whose `expect` failures fail
// a check instead of the iteration (the way k6chaijs is used), and chai's own `expect` and
// `assert` on a response. The bundle is CommonJS in webpack's layout and requires both `k6`
// and chai (a browserify UMD bundle) relative to its own URL.
import http from 'k6/http';
import { check } from 'k6';
import { describe, expect, chai } from 'https://jslib.k6.io/describe-expect/0.1.0/index.js';

export const options = { vus: 2, iterations: 4 };

export default function () {
  describe('fetch the slideshow', () => {
    const res = http.get(`${__ENV.BASE_URL}/json`);
    expect(res.status, 'status').to.equal(200);
    const show = res.json('slideshow');
    expect(show).to.have.property('author', 'Yours Truly');
    expect(show.slides).to.be.an('array').with.lengthOf(2);
    expect(show.slides[1].items).to.deep.include('Who <em>buys</em> WonderWidgets');
  });

  // A failing expectation: the check fails, the iteration goes on.
  const ok = describe('a wrong expectation', () => {
    expect({ a: 1 }).to.deep.equal({ a: 2 });
  });

  let message = '';
  try {
    chai.assert.strictEqual(1, '1', 'strict');
  } catch (e) {
    message = `${e.name}: ${e.message}`;
  }
  check(null, {
    'describe returned false': () => ok === false,
    'assert throws an AssertionError': () => message === "AssertionError: strict: expected 1 to equal '1'",
    'chai is one instance': () => chai.expect === expect && typeof chai.use === 'function',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
