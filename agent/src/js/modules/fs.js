// The `k6/experimental/fs` module: files opened in the init context, read by each VU at its
// own position (docs/k6-compatibility.md#k6experimentalfs).
const V = globalThis.__volley;

export const SeekMode = { Start: 0, Current: 1, End: 2 };

// k6 rejects with plain objects `{ name, message }` that print as `Name: message`.
function fsError(name, message) {
  const e = { name, message };
  Object.defineProperty(e, 'toString', {
    value() { return `${this.name}: ${this.message}`; },
  });
  return e;
}

// The hidden side of a file that `k6/experimental/csv` reads (csv.js).
const FILE = Symbol.for('volley.fs.File');

function file(id, path, name, size) {
  let offset = 0;
  const f = {
    path,

    // Reads up to `into.length` bytes at the file's position into `into`: how many were read,
    // or null at the end of the file.
    async read(into) {
      if (into === undefined || into === null) {
        throw fsError('TypeError', 'read() failed; reason: into argument cannot be null or undefined');
      }
      if (!(into instanceof Uint8Array)) {
        throw fsError('TypeError', 'read() failed; reason: into argument must be a Uint8Array');
      }
      if (offset >= size) return null;
      const n = Math.min(into.length, size - offset);
      into.set(new Uint8Array(V.fsRead(id, offset, n)));
      offset += n;
      return n;
    },

    // Moves the position; resolves to the new one.
    async seek(to, whence) {
      if (to === undefined || to === null) {
        throw fsError('TypeError', 'seek() failed; reason: the offset argument cannot be null or undefined');
      }
      if (typeof to !== 'number' || !Number.isInteger(to)) {
        throw fsError('TypeError', 'seek() failed; reason: the offset argument must be a number');
      }
      if (whence === undefined || whence === null) {
        throw fsError('TypeError', 'seek() failed; reason: the whence argument cannot be null or undefined');
      }
      if (typeof whence !== 'number' || !Number.isInteger(whence)) {
        throw fsError('TypeError', 'seek() failed; reason: the whence argument must be a number');
      }
      let next;
      switch (whence) {
        case SeekMode.Start:
          if (to < 0) throw fsError('TypeError', 'offset cannot be negative when using SeekModeStart');
          next = to;
          break;
        case SeekMode.Current:
          next = offset + to;
          break;
        case SeekMode.End:
          if (to > 0) throw fsError('TypeError', 'offset cannot be positive when using SeekModeEnd');
          next = size + to;
          break;
        default:
          throw fsError('TypeError', 'seek() failed; reason: the whence argument must be a SeekMode');
      }
      if (next < 0) throw fsError('TypeError', 'seeking before start of file');
      if (next > size) throw fsError('TypeError', 'seeking beyond end of file');
      offset = next;
      return offset;
    },

    async stat() {
      return { name, size };
    },
  };
  Object.defineProperty(f, FILE, {
    value: {
      // The bytes from the position to the end, and that position; the position moves there.
      rest() {
        const start = offset;
        const bytes = V.fsRead(id, offset, size - offset);
        offset = size;
        return { bytes, start };
      },
    },
  });
  return f;
}

// Opens a file (init context only), relative to the script as `open()` resolves it.
export async function open(path) {
  if (path === undefined || path === null) {
    throw fsError('TypeError', 'open() failed; reason: path cannot be null or undefined');
  }
  const p = String(path);
  if (p === '') throw fsError('TypeError', 'open() failed; reason: path cannot be empty');
  const r = V.fsOpen(p);
  if (r.error !== undefined) throw fsError(r.error, r.message);
  return file(r.id, r.path, r.name, r.size);
}

export default { open, SeekMode };
