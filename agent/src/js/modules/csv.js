// The `k6/experimental/csv` module: records of a `k6/experimental/fs` file, read from the
// file's position on (docs/k6-compatibility.md#k6experimentalcsv).
import { SharedArray } from 'k6/data';

const V = globalThis.__volley;
const FILE = Symbol.for('volley.fs.File');

// k6 rejects `parse` and `next` with errors that print as their message alone.
function csvError(message) {
  const e = {};
  Object.defineProperty(e, 'message', { value: message });
  Object.defineProperty(e, 'toString', { value() { return this.message; } });
  return e;
}

// k6 throws a GoError from `new Parser` (`String(e)` is `GoError: message`).
class GoError extends Error {
  constructor(message) {
    super(message);
    Object.defineProperty(this, 'name', { value: 'GoError', writable: true, configurable: true });
  }
}

// The options as k6 reads them; a string is why they are refused.
function options(o) {
  const opts = { delimiter: ',', skipFirstLine: false, fromLine: 0, toLine: 0, asObjects: false };
  if (o === undefined || o === null || typeof o !== 'object') return opts;
  if (o.delimiter !== undefined) opts.delimiter = String(o.delimiter);
  if (o.skipFirstLine !== undefined) opts.skipFirstLine = Boolean(o.skipFirstLine);
  if (o.fromLine !== undefined) opts.fromLine = Number(o.fromLine);
  if (o.toLine !== undefined) opts.toLine = Number(o.toLine);
  if (o.asObjects !== undefined) opts.asObjects = Boolean(o.asObjects);
  if ([...opts.delimiter].length !== 1) {
    return 'failed to interpret the provided Parser options; reason: delimiter must be a single character';
  }
  for (const k of ['fromLine', 'toLine']) {
    if (!Number.isInteger(opts[k])) {
      return `failed to interpret the provided Parser options; reason: ${k} must be a whole number`;
    }
    if (opts[k] < 0) {
      return `failed to create a new parser; reason: the '${k}' option must be greater than or equal to 0; got ${opts[k]}`;
    }
  }
  if (opts.toLine > 0 && opts.fromLine > opts.toLine) {
    return 'failed to interpret the provided Parser options; reason: fromLine must be less than or equal to toLine';
  }
  if (opts.asObjects && opts.skipFirstLine) {
    return "failed to create a new parser; reason: the 'header' option cannot be enabled when 'skipFirstLine' is true";
  }
  if (opts.asObjects && opts.fromLine > 0) {
    return "failed to create a new parser; reason: the 'header' option cannot be enabled when 'fromLine' is set to a value greater than 0";
  }
  return opts;
}

function checkFile(file) {
  if (file === null || typeof file !== 'object' || file[FILE] === undefined) {
    const got = file === null ? 'null' : typeof file;
    return `first argument expected to be a fs.File instance, got ${got} instead`;
  }
  return undefined;
}

// The records from the file's position to its end (the position moves there), after the lines
// the options skip: `{ records, start, path }` or a string saying why not.
function readRecords(file, opts) {
  const { bytes, start } = file[FILE].rest();
  const items = JSON.parse(V.csvRecords(bytes, opts.delimiter));
  const first = Math.max(opts.fromLine, opts.skipFirstLine ? 1 : 0);
  if (first > 0 && items.length < first) {
    return `failed to create a new parser; reason: failed to skip lines until line ${first}; reason: EOF`;
  }
  const last = opts.toLine > 0 ? opts.toLine + 1 : items.length;
  return { items: items.slice(first, last), start, path: file.path };
}

// Record items (`{ r: fields }` or `{ e: message }`) as rows: arrays, or objects keyed by the
// first record when `asObjects`.
function rows(items, opts) {
  let header;
  const out = [];
  for (const it of items) {
    if (it.e !== undefined) out.push(it);
    else if (opts.asObjects && header === undefined) header = it.r;
    else if (opts.asObjects) out.push({ r: Object.fromEntries(header.map((h, i) => [h, it.r[i]])) });
    else out.push(it);
  }
  return out;
}

// All the records, as a SharedArray (read-only, made once for every VU).
export async function parse(file, o) {
  const bad = checkFile(file);
  if (bad !== undefined) throw csvError(bad);
  const opts = options(o);
  if (typeof opts === 'string') throw csvError(opts);
  const read = readRecords(file, opts);
  if (typeof read === 'string') throw csvError(read);
  const all = rows(read.items, opts);
  const failed = all.find((it) => it.e !== undefined);
  if (failed !== undefined) throw csvError(`failed to read record; reason: ${failed.e}`);
  const name = `k6/experimental/csv ${read.path} ${read.start} ${JSON.stringify(opts)}`;
  return new SharedArray(name, () => all.map((it) => it.r));
}

// Hands out the records one by one: `next()` resolves to `{ done, value }`.
export class Parser {
  constructor(file, o) {
    const bad = checkFile(file);
    if (bad !== undefined) throw new GoError(bad);
    const opts = options(o);
    if (typeof opts === 'string') throw new GoError(opts);
    const read = readRecords(file, opts);
    if (typeof read === 'string') throw new GoError(read);
    const items = rows(read.items, opts);
    let i = 0;
    Object.defineProperty(this, 'next', {
      value: async () => {
        if (i >= items.length) return { done: true, value: [] };
        const it = items[i++];
        if (it.e !== undefined) throw csvError(it.e);
        return { done: false, value: it.r };
      },
    });
  }
}

export default { parse, Parser };
