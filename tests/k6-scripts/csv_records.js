// k6/experimental/csv over a k6/experimental/fs file: csv.parse gives every record as a
// read-only SharedArray, csv.Parser hands them out one by one; k6's options (delimiter,
// skipFirstLine, fromLine, toLine, asObjects) and its errors for options that do not fit.
import { open } from 'k6/experimental/fs';
import csv from 'k6/experimental/csv';
import { check } from 'k6';

// Each VU's parsers hand out its own records: two iterations per VU.
export const options = {
  scenarios: { records: { executor: 'per-vu-iterations', vus: 2, iterations: 2 } },
};

const why = async (f) => {
  try {
    await f();
    return 'no error';
  } catch (e) {
    return String(e);
  }
};
const path = './data/users.csv';

const all = await csv.parse(await open(path));
const middle = await csv.parse(await open(path), { skipFirstLine: true, toLine: 2 });
const fromTwo = await csv.parse(await open(path), { fromLine: 2 });
const objects = await csv.parse(await open(path), { asObjects: true });
const twice = await open(path);
const first = await csv.parse(twice);
const again = await csv.parse(twice);
const errors = {
  delimiter: await why(async () => csv.parse(await open(path), { delimiter: ';;' })),
  order: await why(async () => csv.parse(await open(path), { fromLine: 2, toLine: 1 })),
  negative: await why(async () => csv.parse(await open(path), { fromLine: -1 })),
  header: await why(async () => csv.parse(await open(path), { asObjects: true, skipFirstLine: true })),
  headerFrom: await why(async () => csv.parse(await open(path), { asObjects: true, fromLine: 1 })),
  past: await why(async () => csv.parse(await open(path), { fromLine: 9 })),
  notFile: await why(async () => csv.parse('x')),
  parserPast: await why(async () => new csv.Parser(await open(path), { fromLine: 9 })),
};
const parser = new csv.Parser(await open(path), { skipFirstLine: true });
const objectParser = new csv.Parser(await open(path), { asObjects: true });

export default async function () {
  const p1 = await parser.next();
  const o1 = await objectParser.next();
  check(null, {
    'module keys': () => Object.keys(csv).sort().join() === 'Parser,parse',
    'parse: every record': () =>
      all.length === 4 && JSON.stringify(all[0]) === '["name","age","city"]' &&
      JSON.stringify(all[3]) === '["carol \\"cc\\"","25","Rome"]',
    'parse: quoted delimiter': () => all[1][2] === 'Paris, France',
    'parse: read-only': () => {
      try {
        all.push(['x']);
        return false;
      } catch (e) {
        return all.length === 4;
      }
    },
    'parse: skipFirstLine and toLine': () =>
      JSON.stringify(middle) === '[["alice","30","Paris, France"],["bob","42","Berlin"]]',
    'parse: fromLine': () => fromTwo.length === 2 && fromTwo[0][0] === 'bob',
    'parse: asObjects': () =>
      objects.length === 3 && objects[0].name === 'alice' && objects[0].city === 'Paris, France' &&
      objects[2].age === '25',
    'parse: reads from the position on': () => first.length === 4 && again.length === 0,
    'parser: a record at a time': () =>
      p1.done === false && Object.keys(p1).join() === 'done,value' && p1.value.length === 3,
    'parser: objects': () => o1.done === false && typeof o1.value.name === 'string',
  });
  check(null, {
    'delimiter error': () => errors.delimiter ===
      'failed to interpret the provided Parser options; reason: delimiter must be a single character',
    'order error': () => errors.order ===
      'failed to interpret the provided Parser options; reason: fromLine must be less than or equal to toLine',
    'negative error': () => errors.negative ===
      "failed to create a new parser; reason: the 'fromLine' option must be greater than or equal to 0; got -1",
    'header error': () => errors.header ===
      "failed to create a new parser; reason: the 'header' option cannot be enabled when 'skipFirstLine' is true",
    'header from error': () => errors.headerFrom ===
      "failed to create a new parser; reason: the 'header' option cannot be enabled when 'fromLine' is set to a value greater than 0",
    'past the end': () => errors.past ===
      'failed to create a new parser; reason: failed to skip lines until line 9; reason: EOF',
    'not a file': () => errors.notFile.startsWith('first argument expected to be a fs.File instance, got '),
    'parser past the end throws a GoError': () => errors.parserPast ===
      'GoError: failed to create a new parser; reason: failed to skip lines until line 9; reason: EOF',
  });
}

export function handleSummary(data) {
  return { [__ENV.OUT]: JSON.stringify(data) };
}
