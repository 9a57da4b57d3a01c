// The `k6/net/grpc` module: `Client` (load, loadProtoset, connect, invoke, asyncInvoke,
// close), `Stream` and the status constants, as k6 v1.1.0 has them. The natives (`grpcLoad`,
// `grpcInvoke`, ...) are in mod.rs and events.rs beside this file; a client is an id into the
// VU's table of clients, a stream an event source of the VU's event loop.
const V = globalThis.__volley;

// k6 raises its errors from Go: GoErrors (`String(e)` is `GoError: message`).
class GoError extends Error {
  constructor(message) {
    super(message);
    Object.defineProperty(this, 'name', { value: 'GoError', writable: true, configurable: true });
  }
}

// Runs a native, turning its plain errors into GoErrors (TypeErrors stay TypeErrors).
function go(f) {
  try {
    return f();
  } catch (e) {
    if (e instanceof Error && e.constructor === Error) throw new GoError(e.message);
    throw e;
  }
}

// A status code as k6 shows it: an object (Go's codes.Code) that compares equal (`==`) to its
// number, is the same object as the constant of its code (so `r.status === grpc.StatusOK`),
// prints as Go names it (`String(r.status)` is `OK`) and is its number in JSON.
class Code {
  constructor(n, name) {
    Object.defineProperty(this, '_n', { value: n });
    Object.defineProperty(this, '_name', { value: name });
  }
  valueOf() {
    return this._n;
  }
  toString() {
    return this._name;
  }
  toJSON() {
    return this._n;
  }
}
const CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound',
  'AlreadyExists', 'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted',
  'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated',
];
const CODES = CODE_NAMES.map((name, n) => new Code(n, name));
function code(n) {
  return CODES[n] || new Code(n, `Code(${n})`);
}

export const StatusOK = CODES[0];
export const StatusCanceled = CODES[1];
export const StatusUnknown = CODES[2];
export const StatusInvalidArgument = CODES[3];
export const StatusDeadlineExceeded = CODES[4];
export const StatusNotFound = CODES[5];
export const StatusAlreadyExists = CODES[6];
export const StatusPermissionDenied = CODES[7];
export const StatusResourceExhausted = CODES[8];
export const StatusFailedPrecondition = CODES[9];
export const StatusAborted = CODES[10];
export const StatusOutOfRange = CODES[11];
export const StatusUnimplemented = CODES[12];
export const StatusInternal = CODES[13];
export const StatusUnavailable = CODES[14];
export const StatusDataLoss = CODES[15];
export const StatusUnauthenticated = CODES[16];

function response(r) {
  r.status = code(r.status);
  return r;
}

// What `asyncInvoke` rejects with, as k6: an error value that prints as its message alone.
class RejectedCall {
  constructor(message) {
    Object.defineProperty(this, 'message', { value: message });
  }
  toString() {
    return this.message;
  }
}

export class Client {
  constructor() {
    Object.defineProperty(this, '_id', { value: V.grpcNew() });
  }

  load(importPaths, ...protoFiles) {
    return go(() => V.grpcLoad(this._id, importPaths, protoFiles.map(String)));
  }

  loadProtoset(protosetPath) {
    return go(() => V.grpcLoadProtoset(this._id, String(protosetPath)));
  }

  connect(address, params) {
    return go(() => V.grpcConnect(this._id, String(address), params));
  }

  invoke(url, request, params) {
    return response(go(() => V.grpcInvoke(this._id, String(url), request, params)));
  }

  asyncInvoke(url, request, params) {
    return new Promise((resolve, reject) => {
      try {
        V.grpcAsyncInvoke(this._id, String(url), request, params, (r) => resolve(response(r)));
      } catch (e) {
        reject(e instanceof Error && e.constructor === Error ? new RejectedCall(e.message) : e);
      }
    });
  }

  close() {
    V.grpcClose(this._id);
  }
}

// A stream's error, as k6 passes it to `error` handlers: `{code, details, message}` (the code
// a status object, as `r.status` is), printed as `code: N, message: M`.
class StreamError {
  constructor(e) {
    this.code = code(e.code);
    this.details = e.details;
    this.message = e.message;
  }
  toString() {
    return `code: ${Number(this.code)}, message: ${this.message}`;
  }
}

const STREAM_EVENTS = ['data', 'error', 'end'];

export class Stream {
  constructor(client, url, params) {
    if (!(client instanceof Client)) {
      throw new GoError('invalid GRPC Stream\'s client: the first argument must be a grpc.Client');
    }
    const handlers = { data: [], error: [], end: [] };
    Object.defineProperty(this, '_handlers', { value: handlers });
    const fire = (event, a, b) => {
      for (const h of handlers[event].slice()) h.call(this, a, b);
    };
    const id = go(() => V.grpcStreamOpen(client._id, String(url), params, (kind, a, b) => {
      if (kind === 'error') fire('error', new StreamError(a));
      else fire(kind, a, b);
    }));
    Object.defineProperty(this, '_id', { value: id });
  }

  on(event, handler) {
    if (!STREAM_EVENTS.includes(event)) {
      V.grpcWarn(`can't register ${event} event handler: unknown GRPC stream's event type: ${event}`);
      return;
    }
    if (typeof handler !== 'function') {
      throw new TypeError(`stream.on('${event}', handler): the handler must be a function`);
    }
    this._handlers[event].push(handler);
  }

  write(message) {
    go(() => V.grpcStreamWrite(this._id, message));
  }

  end() {
    V.grpcStreamEnd(this._id);
  }
}

export default {
  Client,
  Stream,
  StatusOK,
  StatusCanceled,
  StatusUnknown,
  StatusInvalidArgument,
  StatusDeadlineExceeded,
  StatusNotFound,
  StatusAlreadyExists,
  StatusPermissionDenied,
  StatusResourceExhausted,
  StatusFailedPrecondition,
  StatusAborted,
  StatusOutOfRange,
  StatusUnimplemented,
  StatusInternal,
  StatusUnavailable,
  StatusDataLoss,
  StatusUnauthenticated,
};
