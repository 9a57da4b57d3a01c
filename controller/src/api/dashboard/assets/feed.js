// The API from the browser: the token (kept in sessionStorage, sent as the Authorization
// header the API accepts) and the live streams, read as Server-Sent Events over fetch so they
// carry that header (EventSource cannot). See docs/dashboard.md.

const TOKEN_KEY = 'volley-token';
/** The largest event the page accepts (a run's first `points` event is ~0.5 MB at most). */
const MAX_EVENT_BYTES = 16 * 1024 * 1024;

export const token = () => sessionStorage.getItem(TOKEN_KEY) || '';
export const setToken = (t) => (t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY));

export function authHeaders(extra = {}) {
  const h = { ...extra };
  if (token()) h.Authorization = `Token ${token()}`;
  return h;
}

/** One API call: `{status, body}` (body: parsed JSON or null). Never throws. */
export async function api(method, path, body) {
  try {
    const init = { method, headers: authHeaders({ Accept: 'application/json' }) };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const resp = await fetch(path, init);
    const json = await resp.json().catch(() => null);
    return { status: resp.status, body: json };
  } catch (e) {
    return { status: 0, body: { error: { message: String(e) } } };
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The events a run's HTML report carries for a stream (`[[event, data], ...]`, see
 * docs/dashboard.md#the-html-report), or null on a live page. */
function recorded(path) {
  const data = document.getElementById('volley-report-data');
  return data ? JSON.parse(data.textContent)[path] || [] : null;
}

/** A live stream: calls `on[eventName](data)` for each event; reconnects with back-off (the
 * server sends everything again on a new connection, so the page starts over from it). */
export class Feed {
  constructor(path, on, status) {
    this.path = path;
    this.on = on;
    this.status = status;
    this.ctrl = new AbortController();
    this.stopped = false;
    this.ended = false;
    const events = recorded(path);
    if (events) Promise.resolve().then(() => this.replay(events));
    else this.loop();
  }

  /** A report's recorded events, handed over as a live stream would have sent them. */
  replay(events) {
    this.status({ ok: true });
    for (const [name, data] of events) {
      if (name === 'end') this.ended = true;
      const handler = this.on[name];
      if (handler) handler(data);
    }
  }

  stop() {
    this.stopped = true;
    this.ctrl.abort();
  }

  async loop() {
    let delay = 1000;
    while (!this.stopped && !this.ended) {
      try {
        const resp = await fetch(this.path, {
          headers: authHeaders({ Accept: 'text/event-stream' }),
          signal: this.ctrl.signal,
          cache: 'no-store',
        });
        if (!resp.ok) {
          const body = await resp.json().catch(() => null);
          const message = body?.error?.message || `HTTP ${resp.status}`;
          this.status({ ok: false, code: resp.status, message });
          if ([400, 401, 403, 404].includes(resp.status)) return;
        } else {
          this.status({ ok: true });
          delay = 1000;
          await this.read(resp.body);
        }
      } catch (e) {
        if (this.stopped) return;
        this.status({ ok: false, code: 0, message: `connection lost (${e.message || e}); reconnecting` });
      }
      if (this.stopped || this.ended) return;
      await sleep(delay);
      delay = Math.min(delay * 2, 15000);
    }
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value.replace(/\r\n?/g, '\n');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let name = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) name = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (!data.length) continue;
        if (name === 'end') this.ended = true;
        const handler = this.on[name];
        if (handler) handler(JSON.parse(data.join('\n')));
      }
      if (buf.length > MAX_EVENT_BYTES) throw new Error('an event larger than 16 MiB');
    }
  }
}
