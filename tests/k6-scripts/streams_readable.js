// k6/experimental/streams: a ReadableStream of numbers read to its end, a pull source that
// waits on timers under a CountQueuingStrategy (back-pressure: pulled while the queue has
// room), cancel from the stream and from a reader, and the errors k6 throws and rejects with.
import { ReadableStream, ReadableStreamDefaultReader, CountQueuingStrategy } from 'k6/experimental/streams';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

export const options = {
  scenarios: { read: { executor: 'per-vu-iterations', vus: 2, iterations: 2 } },
};

const chunks = new Counter('stream_chunks');
const why = async (f) => {
  try {
    await f();
    return 'no error';
  } catch (e) {
    return `${e.name}: ${e.message}`;
  }
};

function numbers(n) {
  return new ReadableStream({
    start(c) {
      for (let i = 1; i <= n; i++) c.enqueue(i);
      c.close();
    },
  });
}

async function readAll(stream) {
  const reader = stream.getReader();
  const got = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    got.push(value);
    chunks.add(1);
  }
  return got;
}

export default async function () {
  const got = await readAll(numbers(5));

  // A source that produces on a timer: pulled only while its queue has room.
  const pulls = [];
  let n = 0;
  const slow = new ReadableStream(
    {
      pull(c) {
        pulls.push(c.desiredSize);
        return new Promise((resolve) => {
          setTimeout(() => {
            n++;
            if (n > 4) c.close();
            else c.enqueue(n * 10);
            resolve();
          }, 5);
        });
      },
    },
    new CountQueuingStrategy({ highWaterMark: 2 }),
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  const pulledAhead = pulls.length;
  const slowGot = await readAll(slow);

  let cancelled;
  const c1 = new ReadableStream({
    pull(c) {
      c.enqueue('x');
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  const r1 = c1.getReader();
  const first = await r1.read();
  await r1.cancel('enough');
  const afterCancel = await r1.read();

  let ctl;
  const errored = new ReadableStream({ start(c) { ctl = c; } });
  const er = errored.getReader();
  ctl.error(new Error('boom'));

  const released = new ReadableStream().getReader();
  released.releaseLock();

  check(null, {
    'read to the end': () => JSON.stringify(got) === '[1,2,3,4,5]',
    'pulled ahead up to the high-water mark': () => pulledAhead === 2 && pulls[0] === 2 && pulls[1] === 1,
    'slow source read to the end': () => JSON.stringify(slowGot) === '[10,20,30,40]',
    'cancel reaches the source': () => first.value === 'x' && cancelled === 'enough' && afterCancel.done === true,
    'locked while a reader holds it': () => !numbers(1).locked && numbers(1).getReader() !== null,
    'desired size of an errored stream': () => ctl.desiredSize === null,
    'count strategy': () => {
      const q = new CountQueuingStrategy({ highWaterMark: 3 });
      return q.highWaterMark === 3 && q.size('anything') === 1;
    },
  });

  const locked = numbers(1);
  locked.getReader();
  const errors = {
    getReader: await why(() => locked.getReader()),
    cancel: await why(() => locked.cancel()),
    newReader: await why(() => new ReadableStreamDefaultReader(locked)),
    read: await why(() => er.read()),
    closed: await why(() => er.closed),
    afterRelease: await why(() => released.read()),
    enqueue: await why(() => ctl.enqueue(1)),
    hwm: await why(() => new ReadableStream({}, { highWaterMark: -1 })),
    source: await why(() => new ReadableStream(null)),
    pull: await why(() => new ReadableStream({ pull: 1 })),
    start: await why(() => new ReadableStream({ start() { throw new TypeError('no start'); } })),
  };
  check(errors, {
    'getReader of a locked stream': (e) => e.getReader === 'TypeError: stream is locked',
    'cancel of a locked stream': (e) => e.cancel === 'TypeError: cannot cancel a locked stream',
    'a second reader': (e) => e.newReader === 'TypeError: stream is locked',
    'read of an errored stream': (e) => e.read === 'Error: boom' && e.closed === 'Error: boom',
    'read after releaseLock': (e) => e.afterRelease === 'TypeError: stream is undefined',
    'enqueue after error': (e) => e.enqueue === 'TypeError: cannot close or enqueue',
    'bad highWaterMark': (e) => e.hwm === 'RangeError: highWaterMark must be a non-negative number',
    'bad source': (e) => e.source === 'TypeError: underlyingSource must be an object',
    'bad pull': (e) => e.pull === 'TypeError: underlyingSource.[[pull]] must be a function',
    'start throws': (e) => e.start === 'TypeError: no start',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
