// The `k6/websockets` module (also `k6/experimental/websockets`): the browser-like,
// event-based `WebSocket` class and `Blob`, as k6 v1.1.0 has them. Sockets are event sources
// of the VU's event loop (the natives are those of `k6/ws`, agent/src/js/modules/ws/mod.rs):
// the iteration ends only once every socket it opened has closed.
const V = globalThis.__volley;

// k6 raises these errors from Go: a GoError (`String(e)` is `GoError: message`).
class GoError extends Error {
  constructor(message) {
    super(message);
    Object.defineProperty(this, 'name', { value: 'GoError', writable: true, configurable: true });
  }
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

function bytesOf(part) {
  if (part instanceof Blob) return part._bytes;
  if (part instanceof ArrayBuffer || ArrayBuffer.isView(part)) return new Uint8Array(V.wsBytes(part));
  return new Uint8Array(V.wsBytes(String(part)));
}

export class Blob {
  constructor(parts, options) {
    const chunks = [];
    let size = 0;
    if (parts !== undefined && parts !== null) {
      if (typeof parts[Symbol.iterator] !== 'function') {
        throw new TypeError("Blob: the first argument must be an array of strings, ArrayBuffers, typed arrays or Blobs");
      }
      for (const p of parts) {
        const b = bytesOf(p);
        chunks.push(b);
        size += b.length;
      }
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    Object.defineProperty(this, '_bytes', { value: bytes, enumerable: false });
    this.size = size;
    this.type = options && options.type !== undefined ? String(options.type).toLowerCase() : '';
  }

  arrayBuffer() {
    return Promise.resolve(this._bytes.slice().buffer);
  }

  bytes() {
    return Promise.resolve(this._bytes.slice());
  }

  text() {
    return Promise.resolve(V.utf8Decode(this._bytes.slice().buffer));
  }

  slice(start, end, contentType) {
    const b = new Blob([this._bytes.slice(start, end)], { type: contentType === undefined ? '' : contentType });
    return b;
  }

  stream() {
    throw new Error('Blob.stream() is not supported by Volley');
  }
}

function event(type, target, extra) {
  const e = { type, target, timestamp: Date.now() };
  return extra ? Object.assign(e, extra) : e;
}

export class WebSocket {
  constructor(url, protocols, params) {
    if (url === undefined || url === null) throw new TypeError('WebSocket: a URL is required');
    const target = String(url);
    if (!/^wss?:\/\//i.test(target)) {
      // k6's text: the scheme it got ("" when the URL has none).
      const m = /^([a-z][a-z0-9+.-]*):/i.exec(target);
      const scheme = m ? m[1].toLowerCase() : '';
      throw new GoError(`WebSocket requires url with scheme ws or wss, but got "${scheme}"`);
    }
    const p = params || {};
    this.url = target;
    this.readyState = CONNECTING;
    this.bufferedAmount = 0;
    this.extensions = [];
    this.protocol = '';
    let binaryType = 'blob';
    Object.defineProperty(this, 'binaryType', {
      enumerable: true,
      get: () => binaryType,
      set: (v) => {
        if (v !== 'blob' && v !== 'arraybuffer') {
          throw new GoError(`unknown binaryType ${v}, the supported ones are "blob" and "arraybuffer"`);
        }
        binaryType = v;
      },
    });
    this.onmessage = null;
    this.onerror = null;
    this.onopen = null;
    this.onclose = null;
    this.onping = null;
    this.onpong = null;
    Object.defineProperty(this, '_listeners', { value: Object.create(null), enumerable: false });
    const id = V.wsOpen(target, p.headers, p.tags, true, (kind, a, b) => this._event(kind, a, b));
    Object.defineProperty(this, '_id', { value: id, enumerable: false });
  }

  addEventListener(type, listener) {
    if (typeof listener !== 'function') {
      throw new TypeError(`WebSocket.addEventListener('${type}', listener): listener must be a function`);
    }
    (this._listeners[type] || (this._listeners[type] = [])).push(listener);
  }

  send(data) {
    if (this.readyState !== OPEN) {
      throw new GoError('InvalidStateError: the WebSocket is not open');
    }
    if (typeof data === 'string') {
      V.wsSend(this._id, data, false);
    } else if (data instanceof Blob) {
      V.wsSend(this._id, data._bytes, true);
    } else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      V.wsSend(this._id, data, true);
    } else {
      throw new TypeError('WebSocket.send(data): data must be a string, an ArrayBuffer, a typed array or a Blob');
    }
  }

  ping() {
    if (this.readyState !== OPEN) {
      throw new GoError('InvalidStateError: the WebSocket is not open');
    }
    V.wsPing(this._id);
  }

  close(code, reason) {
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    this.readyState = CLOSING;
    V.wsClose(this._id, code === undefined ? 1000 : Number(code), reason === undefined ? '' : String(reason));
  }

  _dispatch(type, e) {
    const own = this['on' + type];
    if (typeof own === 'function') own.call(this, e);
    const ls = this._listeners[type];
    if (ls) for (const l of ls.slice()) l.call(this, e);
  }

  // A handler that throws fires `error` (with the exception's text) and `close` first, then
  // fails the iteration, as in k6.
  _event(kind, a, b) {
    try {
      this._handle(kind, a, b);
    } catch (e) {
      if (this.readyState !== CLOSED) {
        this.readyState = CLOSED;
        try {
          this._dispatch('error', event('error', this, { error: String(e) }));
          this._dispatch('close', event('close', this, { code: 1001, reason: '' }));
        } catch (_) {
          // The first exception is the one that fails the iteration.
        }
      }
      throw e;
    }
  }

  _handle(kind, a, b) {
    switch (kind) {
      case 'open':
        this.protocol = b.subprotocol;
        if (this.readyState === CONNECTING) this.readyState = OPEN;
        this._dispatch('open', event('open', this));
        break;
      case 'fail':
        this.readyState = CLOSED;
        this._dispatch('error', event('error', this, { error: a }));
        break;
      case 'message':
        // Messages that arrive once the script called close() are not delivered (k6 v1.1.0).
        if (this.readyState !== OPEN) break;
        this._dispatch('message', event('message', this, { data: a, origin: this.url }));
        break;
      case 'binary': {
        if (this.readyState !== OPEN) break;
        const data = this.binaryType === 'arraybuffer' ? a : new Blob([a]);
        this._dispatch('message', event('message', this, { data, origin: this.url }));
        break;
      }
      case 'ping':
        this._dispatch('ping', event('ping', this));
        break;
      case 'pong':
        this._dispatch('pong', event('pong', this));
        break;
      case 'close':
        this._closed = { code: a.code, reason: a.reason };
        if (a.error !== undefined) {
          // A close code other than 1000 and 1001, whoever sent it first, is an error in k6,
          // fired once the socket counts as closed.
          this.readyState = CLOSED;
          this._dispatch('error', event('error', this, { error: a.error }));
        } else if (this.readyState === OPEN) {
          this.readyState = CLOSING;
        }
        break;
      case 'error':
        // The connection broke (the session ends next): k6 fires it on a closed socket.
        this.readyState = CLOSED;
        this._dispatch('error', event('error', this, { error: a }));
        break;
      case 'end': {
        this.readyState = CLOSED;
        const c = this._closed || {};
        this._dispatch('close', event('close', this, { code: c.code, reason: c.reason }));
        break;
      }
    }
  }
}

export default { WebSocket, Blob };
