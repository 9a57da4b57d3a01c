// The `k6/ws` module: `connect(url, params, callback)` opens a WebSocket and blocks until it
// has closed, running the socket's handlers (and timers) meanwhile, as k6 v1.1.0 does.
// The natives (`wsOpen`, `wsRun`, ...) are in mod.rs beside this file.
const V = globalThis.__volley;

// What an `error` handler receives: k6 passes an object whose `error()` gives the message.
class WebSocketError {
  constructor(message) {
    this._message = message;
  }
  error() {
    return this._message;
  }
  toString() {
    return this._message;
  }
}

class Socket {
  constructor() {
    this._id = 0;
    this._handlers = Object.create(null);
    this._timers = [];
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

  setTimeout(fn, ms) {
    if (typeof fn !== 'function') throw new TypeError('socket.setTimeout(fn, ms): fn must be a function');
    const id = setTimeout(() => this._guard(fn), ms);
    this._timers.push(id);
  }

  setInterval(fn, ms) {
    if (typeof fn !== 'function') throw new TypeError('socket.setInterval(fn, ms): fn must be a function');
    if (!(Number(ms) > 0)) throw new Error(`setInterval requires a positive interval, got ${ms}`);
    const id = setInterval(() => this._guard(fn), ms);
    this._timers.push(id);
  }

  _stopTimers() {
    for (const id of this._timers) clearTimeout(id);
    this._timers = [];
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
        res.error = a;
        res.status = b;
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
        if (a.error !== undefined) s._fire('error', new WebSocketError(a.error));
        s._fire('close', a.code);
        break;
      case 'error':
        if (s._state !== 'closed') s._fire('error', new WebSocketError(a));
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
  V.wsRun(s._id);
  if (s._thrown !== undefined) throw s._thrown;
  if (res.error && V.wsThrows()) throw new Error(res.error);
  return res;
}

export default { connect };
