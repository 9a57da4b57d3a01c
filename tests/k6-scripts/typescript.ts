// A TypeScript test script importing a TypeScript module: types are stripped, enums and
// parameter properties work.
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { Basket, Level, pairOf, type Item } from './lib/shapes.ts';

const spent = new Counter('basket_total');

export const options: Record<string, unknown> = { iterations: 2, vus: 1 };

const apple: Item = { name: 'apple', price: 3 };

export default function (): void {
  const basket = new Basket().add(apple).add({ name: 'pear', price: 4 } as Item);
  const [a, b] = pairOf<number>(Level.Low, Level.High);
  check(basket, {
    'class with parameter properties': (x: Basket) => x.total() === 7,
    'enum values': () => a === 1 && b === 10 && Level[10] === 'High',
    'non-null and satisfies': () => (apple.tags?.length ?? 0) === 0 && (apple satisfies Item).name! === 'apple',
  });
  spent.add(basket.total());
}

export function handleSummary(data: unknown): Record<string, string> {
  return { [__ENV.OUT as string]: JSON.stringify(data) };
}
