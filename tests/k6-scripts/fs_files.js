// k6/experimental/fs: files opened in the init context (relative to the script), read by each
// VU at its own position with seek and stat; k6's errors for bad arguments, a missing file, a
// folder and an open() outside the init context.
import { open, SeekMode } from 'k6/experimental/fs';
import fs from 'k6/experimental/fs';
import { check } from 'k6';

export const options = { vus: 2, iterations: 4 };

const why = async (p) => {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return `${String(e)} | ${e.name} | ${JSON.stringify(e)}`;
  }
};

const file = await open('./data/users.csv');
const initErrors = {
  missing: await why(open('data/missing.csv')),
  folder: await why(open('data')),
  empty: await why(open('')),
  none: await why(open()),
};
const text = (bytes, n) => String.fromCharCode(...bytes.subarray(0, n));

export default async function () {
  const st = await file.stat();
  const buf = new Uint8Array(4);
  const n1 = await file.seek(0, SeekMode.Start);
  const r1 = await file.read(buf);
  const t1 = text(buf, r1);
  const n2 = await file.seek(2, SeekMode.Current);
  const r2 = await file.read(buf);
  const t2 = text(buf, r2);
  const n3 = await file.seek(st.size - 5, SeekMode.Start);
  const tail = new Uint8Array(10);
  const r3 = await file.read(tail);
  const t3 = text(tail, r3);
  const eof = await file.read(tail);
  const all = new Uint8Array(st.size + 10);
  await file.seek(0, SeekMode.Start);
  const whole = await file.read(all);
  const t4 = text(all, 4);
  check(null, {
    // k6 lists a module's default export in Go map order (it varies from run to run): sorted.
    'module keys': () => Object.keys(fs).sort().join() === 'SeekMode,open',
    'seek modes': () => SeekMode.Start === 0 && SeekMode.Current === 1 && SeekMode.End === 2,
    'file keys': () => Object.keys(file).join() === 'path,read,seek,stat',
    'path is absolute': () => file.path.startsWith('/') && file.path.endsWith('/data/users.csv'),
    'stat': () => st.name === 'users.csv' && st.size === 76,
    'read from the start': () => n1 === 0 && r1 === 4 && t1 === 'name',
    'seek from current': () => n2 === 6 && r2 === 4 && t2 === 'ge,c',
    'read to the end': () => n3 === 71 && r3 === 5 && t3 === 'Rome\n',
    'null at the end': () => eof === null,
    'a short read': () => whole === 76 && t4 === 'name',
    'missing file': () => initErrors.missing.startsWith('NotFoundError: no such file or directory "/') &&
      initErrors.missing.includes('/data/missing.csv"'),
    'folder': () => initErrors.folder.startsWith('InvalidResourceError: cannot open "/') &&
      initErrors.folder.includes('/data": opening a directory is not supported'),
    'empty path': () => initErrors.empty.startsWith('TypeError: open() failed; reason: path cannot be empty | TypeError'),
    'no path': () => initErrors.none.startsWith('TypeError: open() failed; reason: path cannot be null or undefined'),
  });
  const errors = [
    await why(file.seek(-1, SeekMode.Start)),
    await why(file.seek(1, SeekMode.End)),
    await why(file.seek(-1000, SeekMode.Current)),
    await why(file.seek(1000, SeekMode.Start)),
    await why(file.seek(1, 7)),
    await why(file.seek(1.5, SeekMode.Start)),
    await why(file.seek(1, '0')),
    await why(file.seek(1)),
    await why(file.read(new ArrayBuffer(2))),
    await why(file.read()),
    await why(open('data/users.csv')),
  ].map((e) => e.split(' | ')[0]);
  check(null, {
    'seek errors': () => errors.slice(0, 8).join('\n') === [
      'TypeError: offset cannot be negative when using SeekModeStart',
      'TypeError: offset cannot be positive when using SeekModeEnd',
      'TypeError: seeking before start of file',
      'TypeError: seeking beyond end of file',
      'TypeError: seek() failed; reason: the whence argument must be a SeekMode',
      'TypeError: seek() failed; reason: the offset argument must be a number',
      'TypeError: seek() failed; reason: the whence argument must be a number',
      'TypeError: seek() failed; reason: the whence argument cannot be null or undefined',
    ].join('\n'),
    'read errors': () =>
      errors[8] === 'TypeError: read() failed; reason: into argument must be a Uint8Array' &&
      errors[9] === 'TypeError: read() failed; reason: into argument cannot be null or undefined',
    'open only in init': () =>
      errors[10] === 'ForbiddenError: open() failed; reason: opening a file is allowed only in the Init context',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
