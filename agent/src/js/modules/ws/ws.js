// The `k6/ws` module: `connect(url, params, callback)` opens a WebSocket and blocks until it
// has closed, running the socket's handlers and timers (only those) meanwhile, as k6 v1.1.0
// does. The natives (`wsOpen`, `wsStep`, ...) are in mod.rs beside this file.
const V = globalThis.__volley;

// What an `error` handler receives, as in k6: an object whose `error()` gives the message,
// with the close code and its text before it when a close caused the error.
class WebSocketError {
  constructor(message, close) {
    if (close !== undefined) {
      this.code = close.code;
      this.text = close.text;
    }
    this.error = () => message;
  }
  toString() {
    return this.error();
  }
}

// k6 raises these errors from Go: a GoError (`String(e)` is `GoError: message`).
class GoError extends Error {
  constructor(message) {
    super(message);
    Object.defineProperty(this, 'name', { value: 'GoError', writable: true, configurable: true });
  }
}

// k6 refuses socket timers that would fire at once (its text, with the delay as Go's %.2f).
function checkDelay(what, ms) {
  const n = Number(ms);
  if (!(n > 0)) throw new GoError(`${what} requires a >0 timeout parameter, received ${n.toFixed(2)}`);
}

class Socket {
  constructor() {
    this._id = 0;
    this._handlers = Object.create(null);
    this._timers = [];
    this._seq = 0;
    this._state = 'connecting';
    this._thrown = undefined;
  }

  on(event, handler) {
    if (typeof handler !== 'function') {
      throw new TypeError(`socket.on('${event}', handler): the handler must be a function`);
    }
    (this._handlers[event] || (this._handlers[event] = [])).push(handler);
  }

  send(message) {
    if (this._state !== 'open') {
      this._fire('error', new WebSocketError('websocket: close sent'));
      return;
    }
    V.wsSend(this._id, String(message), false);
  }

  sendBinary(data) {
    if (!(data instanceof ArrayBuffer)) {
      throw new TypeError('socket.sendBinary(data): data must be an ArrayBuffer');
    }
    if (this._state !== 'open') {
      this._fire('error', new WebSocketError('websocket: close sent'));
      return;
    }
    V.wsSend(this._id, data, true);
  }

  ping() {
    if (this._state === 'open') V.wsPing(this._id);
  }

  close(code) {
    if (this._state === 'closed') return;
    const c = code === undefined || code === null ? 1001 : Number(code);
    this._state = 'closed';
    V.wsClose(this._id, c, '');
    this._stopTimers();
    this._fire('close', c);
  }

  // Socket timers belong to connect's own loop (below), not to the VU's event loop.
  setTimeout(fn, ms) {
    if (typeof fn !== 'function') throw new TypeError('socket.setTimeout(fn, ms): fn must be a function');
    checkDelay('setTimeout', ms);
    this._timers.push({ at: Date.now() + Number(ms), fn, every: 0, seq: this._seq++ });
  }

  setInterval(fn, ms) {
    if (typeof fn !== 'function') throw new TypeError('socket.setInterval(fn, ms): fn must be a function');
    checkDelay('setInterval', ms);
    // At least a millisecond, so that an interval cannot fire without the clock moving.
    const every = Math.max(1, Number(ms));
    this._timers.push({ at: Date.now() + every, fn, every, seq: this._seq++ });
  }

  _stopTimers() {
    this._timers = [];
  }

  // The timer due first (creation order among equals), or undefined.
  _next() {
    let next;
    for (const t of this._timers) {
      if (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq)) next = t;
    }
    return next;
  }

  // Fires the timers due now, in order; an interval is due again one period later.
  _fireDue() {
    for (;;) {
      const t = this._next();
      if (t === undefined || t.at > Date.now()) return;
      if (t.every > 0) {
        t.at = Math.max(t.at + t.every, Date.now());
      } else {
        this._timers = this._timers.filter((x) => x !== t);
      }
      this._guard(t.fn);
    }
  }

  // Calls the handlers of `event`; an exception closes the socket and fails `connect`.
  _fire(event, ...args) {
    const hs = this._handlers[event];
    if (!hs) return;
    for (const h of hs.slice()) this._guard(() => h.apply(this, args));
  }

  _guard(fn) {
    try {
      fn();
    } catch (e) {
      if (this._thrown === undefined) this._thrown = e;
      if (this._state !== 'closed') this.close();
    }
  }
}

export function connect(url, params, callback) {
  if (callback === undefined && typeof params === 'function') {
    callback = params;
    params = undefined;
  }
  if (typeof callback !== 'function') {
    throw new TypeError('ws.connect(url, params, callback): callback must be a function');
  }
  if (url === undefined || url === null) {
    throw new TypeError('ws.connect(url, params, callback): url is required');
  }
  const p = params || {};
  const res = { url: '', status: 0, headers: {}, body: '', error: '' };
  const s = new Socket();
  const target = String(url);
  s._id = V.wsOpen(target, p.headers, p.tags, false, (kind, a, b) => {
    switch (kind) {
      case 'open':
        res.url = target;
        res.status = a;
        res.headers = b.headers;
        s._state = 'open';
        s._guard(() => callback(s));
        if (s._state === 'open') s._fire('open');
        break;
      case 'fail':
        // A server that answered without upgrading: k6 returns its response and no error.
        res.status = b.status;
        if (b.status !== 0) {
          res.headers = b.headers;
          res.body = b.body;
        } else {
          res.error = a;
        }
        s._state = 'closed';
        break;
      case 'message':
        if (s._state === 'open') s._fire('message', a);
        break;
      case 'binary':
        if (s._state === 'open') s._fire('binaryMessage', a);
        break;
      case 'ping':
        if (s._state === 'open') s._fire('ping');
        break;
      case 'pong':
        if (s._state === 'open') s._fire('pong');
        break;
      case 'close':
        if (s._state === 'closed') break;
        s._state = 'closed';
        s._stopTimers();
        if (a.error !== undefined) s._fire('error', new WebSocketError(a.error, { code: a.code, text: a.reason }));
        s._fire('close', a.code);
        break;
      case 'error':
        if (s._state !== 'closed') s._fire('error', new WebSocketError(a, b));
        break;
      case 'end':
        s._stopTimers();
        if (s._state !== 'closed') {
          s._state = 'closed';
          s._fire('close', 1006);
        }
        break;
    }
  });
  // connect's own loop: this socket's events and timers only, until the socket has ended.
  for (;;) {
    const next = s._next();
    const wait = next === undefined ? -1 : Math.max(0, next.at - Date.now());
    if (!V.wsStep(s._id, wait)) break;
    s._fireDue();
  }
  if (s._thrown !== undefined) throw s._thrown;
  if (res.error && V.wsThrows()) throw new GoError(res.error);
  return res;
}

export default { connect };
