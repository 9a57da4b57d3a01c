// A TypeScript library: interfaces, type aliases, generics, an enum and a class with
// parameter properties.
export interface Item {
  name: string;
  price: number;
  tags?: string[];
}

export type Pair<T> = [T, T];

export enum Level {
  Low = 1,
  High = 10,
}

export class Basket {
  constructor(private readonly items: Item[] = []) {}

  add(item: Item): this {
    this.items.push(item);
    return this;
  }

  total(): number {
    return this.items.reduce((sum: number, i: Item) => sum + i.price, 0);
  }
}

export function pairOf<T>(a: T, b: T): Pair<T> {
  return [a, b];
}
