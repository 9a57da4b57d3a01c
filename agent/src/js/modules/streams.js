// The `k6/experimental/streams` module: `ReadableStream`, its default reader and controller, and
// `CountQueuingStrategy`, as k6 v1.1.0 has them (docs/k6-compatibility.md#k6experimentalstreams).
// Pure JS: a stream's promises settle as jobs on the VU's event loop (docs/engine.md), so an
// iteration waits for its pending reads and pulls as k6's does. The hidden state of every
// object is under the module's private symbol `$`.

const $ = Symbol('streams');

// k6 throws these for the stream types it does not have (`e.name` is `GoError`).
class GoError extends Error {
  constructor(message) {
    super(message);
    Object.defineProperty(this, 'name', { value: 'GoError', writable: true, configurable: true });
  }
}

function deferred() {
  const d = {};
  d.promise = new Promise((resolve, reject) => {
    d.resolve = resolve;
    d.reject = reject;
  });
  // A `closed` nobody awaits must not be an unhandled rejection.
  d.promise.catch(() => {});
  return d;
}

const rejected = (e) => {
  const p = Promise.reject(e);
  p.catch(() => {});
  return p;
};

function method(source, name) {
  const f = source[name];
  if (f === undefined) return undefined;
  if (typeof f !== 'function') throw new TypeError(`underlyingSource.[[${name}]] must be a function`);
  return f;
}

function highWaterMarkOf(strategy) {
  if (strategy.highWaterMark === undefined) return 1;
  const hwm = Number(strategy.highWaterMark);
  if (Number.isNaN(hwm) || hwm < 0) throw new RangeError('highWaterMark must be a non-negative number');
  return hwm;
}

export class ReadableStream {
  constructor(underlyingSource, strategy) {
    let source = underlyingSource;
    if (source === undefined) source = {};
    if (source === null || typeof source !== 'object') {
      throw new TypeError('underlyingSource must be an object');
    }
    if (source.type === 'bytes') throw new GoError("NotSupportedError:'bytes' stream is not supported yet");
    if (source.type !== undefined) throw new TypeError('invalid underlying source type');
    const start = method(source, 'start');
    const pull = method(source, 'pull');
    const cancel = method(source, 'cancel');
    const s = strategy === undefined || strategy === null ? {} : strategy;
    const hwm = highWaterMarkOf(s);
    const size = s.size === undefined ? () => 1 : s.size;
    if (typeof size !== 'function') throw new TypeError('strategy.size must be a function');
    this[$] = { state: 'readable', reader: undefined, error: undefined, disturbed: false };
    const controller = Object.create(ReadableStreamDefaultController.prototype);
    const c = {
      stream: this,
      source,
      queue: [],
      total: 0,
      started: false,
      closeRequested: false,
      pulling: false,
      pullAgain: false,
      hwm,
      size,
      pull,
      cancel,
    };
    controller[$] = c;
    this[$].controller = controller;
    const result = start ? start.call(source, controller) : undefined;
    Promise.resolve(result).then(
      () => {
        c.started = true;
        pullIfNeeded(c);
      },
      (e) => errorController(c, e),
    );
  }

  get locked() {
    return this[$].reader !== undefined;
  }

  cancel(reason) {
    if (this[$].reader !== undefined) return rejected(new TypeError('cannot cancel a locked stream'));
    return cancelStream(this, reason);
  }

  getReader(options) {
    const mode = options === undefined || options === null ? undefined : options.mode;
    if (mode === 'byob') throw new GoError("NotSupportedError:'byob' mode is not supported yet");
    if (mode !== undefined) throw new TypeError(`invalid reader mode: ${mode}`);
    return new ReadableStreamDefaultReader(this);
  }
}

export class ReadableStreamDefaultReader {
  constructor(stream) {
    if (stream === null || typeof stream !== 'object' || !(stream instanceof ReadableStream)) {
      throw new TypeError('ReadableStreamDefaultReader argument must be a ReadableStream');
    }
    const st = stream[$];
    if (st.reader !== undefined) throw new TypeError('stream is locked');
    const closed = deferred();
    if (st.state === 'closed') closed.resolve();
    if (st.state === 'errored') closed.reject(st.error);
    this[$] = { stream, reads: [], closed };
    st.reader = this;
  }

  get closed() {
    return this[$].closed.promise;
  }

  read() {
    const r = this[$];
    const stream = r.stream;
    if (stream === undefined) return rejected(new TypeError('stream is undefined'));
    const st = stream[$];
    st.disturbed = true;
    if (st.state === 'closed') return Promise.resolve({ value: undefined, done: true });
    if (st.state === 'errored') return rejected(st.error);
    const c = st.controller[$];
    if (c.queue.length > 0) {
      const chunk = c.queue.shift();
      c.total -= chunk.size;
      if (c.queue.length === 0) c.total = 0;
      if (c.closeRequested && c.queue.length === 0) {
        clearAlgorithms(c);
        closeStream(stream);
      } else {
        pullIfNeeded(c);
      }
      return Promise.resolve({ value: chunk.value, done: false });
    }
    const d = deferred();
    r.reads.push(d);
    pullIfNeeded(c);
    return d.promise;
  }

  releaseLock() {
    const r = this[$];
    const stream = r.stream;
    if (stream === undefined) return;
    // k6's wording: `closed` rejects with "stream is readable" when the stream still was.
    if (stream[$].state === 'readable') {
      r.closed.reject(new TypeError('stream is readable'));
    } else {
      r.closed = deferred();
      r.closed.reject(new TypeError('stream is not readable'));
    }
    stream[$].reader = undefined;
    r.stream = undefined;
    const reads = r.reads;
    r.reads = [];
    for (const d of reads) d.reject(new TypeError('reader released'));
  }

  cancel(reason) {
    const stream = this[$].stream;
    if (stream === undefined) return rejected(new TypeError('stream is undefined'));
    return cancelStream(stream, reason);
  }
}

// What a source's `start`, `pull` and `cancel` get: not constructible by scripts.
class ReadableStreamDefaultController {
  get desiredSize() {
    return desiredSize(this[$]);
  }

  enqueue(chunk) {
    const c = this[$];
    if (!canCloseOrEnqueue(c)) throw new TypeError('cannot close or enqueue');
    const reader = c.stream[$].reader;
    if (reader !== undefined && reader[$].reads.length > 0) {
      // k6 fulfils a waiting read with `{done, value}` (and a queued one with `{value, done}`).
      reader[$].reads.shift().resolve({ done: false, value: chunk });
    } else {
      let size;
      try {
        size = c.size.call(undefined, chunk);
        if (typeof size !== 'number' || !Number.isFinite(size) || size < 0) {
          throw new RangeError('size must be a finite, non-NaN number');
        }
      } catch (e) {
        errorController(c, e);
        throw e;
      }
      c.queue.push({ value: chunk, size });
      c.total += size;
    }
    pullIfNeeded(c);
  }

  close() {
    const c = this[$];
    if (!canCloseOrEnqueue(c)) throw new TypeError('cannot close or enqueue');
    c.closeRequested = true;
    if (c.queue.length === 0) {
      clearAlgorithms(c);
      closeStream(c.stream);
    }
  }

  error(e) {
    errorController(this[$], e);
  }
}

export class CountQueuingStrategy {
  constructor(init) {
    if (init === null || typeof init !== 'object' || init.highWaterMark === undefined) {
      throw new TypeError('CountQueuingStrategy needs an object with a highWaterMark');
    }
    this.highWaterMark = Number(init.highWaterMark);
    this.size = () => 1;
  }
}

function desiredSize(c) {
  const state = c.stream[$].state;
  if (state === 'errored') return null;
  if (state === 'closed') return 0;
  return c.hwm - c.total;
}

function canCloseOrEnqueue(c) {
  return !c.closeRequested && c.stream[$].state === 'readable';
}

// Pull while the stream wants more: a read waits, or the queue is under its high-water mark.
function pullIfNeeded(c) {
  const st = c.stream[$];
  if (!canCloseOrEnqueue(c) || !c.started) return;
  const waiting = st.reader !== undefined && st.reader[$].reads.length > 0;
  if (!waiting && !(desiredSize(c) > 0)) return;
  if (c.pulling) {
    c.pullAgain = true;
    return;
  }
  c.pulling = true;
  let result;
  try {
    result = c.pull ? c.pull.call(c.source, c.stream[$].controller) : undefined;
  } catch (e) {
    result = Promise.reject(e);
  }
  Promise.resolve(result).then(
    () => {
      c.pulling = false;
      if (c.pullAgain) {
        c.pullAgain = false;
        pullIfNeeded(c);
      }
    },
    (e) => errorController(c, e),
  );
}

function clearAlgorithms(c) {
  c.pull = undefined;
  c.cancel = undefined;
  c.size = () => 1;
}

function errorController(c, e) {
  if (c.stream[$].state !== 'readable') return;
  c.queue = [];
  c.total = 0;
  clearAlgorithms(c);
  const st = c.stream[$];
  st.state = 'errored';
  st.error = e;
  const reader = st.reader;
  if (reader === undefined) return;
  reader[$].closed.reject(e);
  const reads = reader[$].reads;
  reader[$].reads = [];
  for (const d of reads) d.reject(e);
}

function closeStream(stream) {
  const st = stream[$];
  st.state = 'closed';
  const reader = st.reader;
  if (reader === undefined) return;
  reader[$].closed.resolve();
  const reads = reader[$].reads;
  reader[$].reads = [];
  for (const d of reads) d.resolve({ value: undefined, done: true });
}

function cancelStream(stream, reason) {
  const st = stream[$];
  st.disturbed = true;
  if (st.state === 'closed') return Promise.resolve(undefined);
  if (st.state === 'errored') return rejected(st.error);
  closeStream(stream);
  const c = st.controller[$];
  c.queue = [];
  c.total = 0;
  const cancel = c.cancel;
  clearAlgorithms(c);
  let result;
  try {
    result = cancel ? cancel.call(c.source, reason) : undefined;
  } catch (e) {
    return rejected(e);
  }
  return Promise.resolve(result).then(() => undefined);
}

export default { ReadableStream, ReadableStreamDefaultReader, CountQueuingStrategy };
