// Inflights (tracker/inflights.ts) is a ring buffer bounded by count and by
// bytes. These tests drive it and a plain array side by side with random
// operation sequences, and pin the protocol errors (adding when full or out of
// order is a bug: InvariantError).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import fc from 'fast-check';

import { InvariantError } from '../src/errors.ts';
import { Inflights } from '../src/tracker/inflights.ts';

/** The obvious implementation: an array of (index, bytes), oldest first. */
class ArrayInflights {
  items: { index: number; bytes: number }[] = [];
  constructor(
    readonly maxMsgs: number,
    readonly maxBytes: number,
  ) {}
  get bytes(): number {
    return this.items.reduce((s, x) => s + x.bytes, 0);
  }
  full(): boolean {
    return this.items.length >= this.maxMsgs || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }
  add(index: number, bytes: number): void {
    this.items.push({ index, bytes });
  }
  freeLE(to: number): void {
    this.items = this.items.filter((x) => x.index > to);
  }
  freeFirstOne(): void {
    this.items.shift();
  }
  get lastIndex(): number {
    return this.items.length > 0 ? this.items[this.items.length - 1].index : 0;
  }
}

type Op =
  | { kind: 'add'; gap: number; bytes: number }
  | { kind: 'freeLE'; back: number }
  | { kind: 'freeFirstOne' }
  | { kind: 'reset' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('add' as const), gap: fc.integer({ min: 1, max: 4 }), bytes: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('freeLE' as const), back: fc.integer({ min: -3, max: 12 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('freeFirstOne' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const) }) },
);

function check(real: Inflights, model: ArrayInflights, step: string): void {
  assert.equal(real.size, model.items.length, `size after ${step}`);
  assert.equal(real.inflightBytes, model.bytes, `bytes after ${step}`);
  assert.equal(real.full(), model.full(), `full() after ${step}`);
}

describe('Inflights', () => {
  test('behaves like a plain array under random add, freeLE and freeFirstOne sequences', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 120 })),
        fc.array(opArb, { maxLength: 80 }),
        (maxMsgs, maxBytes, ops) => {
          const real = new Inflights(maxMsgs, maxBytes);
          const model = new ArrayInflights(maxMsgs, maxBytes);
          // The next index to add: monotonic across the whole run, as a leader's are.
          let next = 1;
          for (const [n, op] of ops.entries()) {
            const step = `op #${n} ${JSON.stringify(op)}`;
            switch (op.kind) {
              case 'add': {
                const index = next + op.gap - 1;
                next = index + 1;
                if (model.full()) {
                  assert.throws(() => real.add(index, op.bytes), InvariantError, step);
                } else {
                  real.add(index, op.bytes);
                  model.add(index, op.bytes);
                }
                break;
              }
              case 'freeLE': {
                const to = model.lastIndex - op.back;
                real.freeLE(to);
                model.freeLE(to);
                break;
              }
              case 'freeFirstOne':
                real.freeFirstOne();
                model.freeFirstOne();
                break;
              case 'reset':
                real.reset();
                model.items = [];
                break;
            }
            check(real, model, step);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  test('is full at maxMsgs messages when there is no byte limit', () => {
    const in3 = new Inflights(3, 0);
    in3.add(1, 1_000_000);
    in3.add(2, 1_000_000);
    assert.equal(in3.full(), false);
    in3.add(3, 0);
    assert.equal(in3.full(), true);
  });

  test('is full once the bytes in flight reach maxBytes, with room left in count', () => {
    const inf = new Inflights(10, 100);
    inf.add(1, 60);
    assert.equal(inf.full(), false);
    inf.add(2, 40);
    assert.equal(inf.full(), true);
    assert.equal(inf.size, 2);
    assert.equal(inf.inflightBytes, 100);
  });

  test('may go over maxBytes with the message that fills it', () => {
    const inf = new Inflights(10, 100);
    inf.add(1, 99);
    inf.add(2, 500);
    assert.equal(inf.inflightBytes, 599);
    assert.equal(inf.full(), true);
    inf.freeLE(1);
    assert.equal(inf.inflightBytes, 500);
    assert.equal(inf.full(), true);
    inf.freeLE(2);
    assert.equal(inf.full(), false);
  });

  test('frees every message at or below the index given to freeLE, wrapping around the ring', () => {
    const inf = new Inflights(4, 0);
    for (const i of [1, 2, 3, 4]) inf.add(i, i);
    inf.freeLE(2);
    inf.add(5, 5);
    inf.add(6, 6); // wraps into slots 0 and 1
    assert.equal(inf.size, 4);
    assert.equal(inf.inflightBytes, 3 + 4 + 5 + 6);
    inf.freeLE(5);
    assert.equal(inf.size, 1);
    assert.equal(inf.inflightBytes, 6);
    inf.freeLE(0);
    assert.equal(inf.size, 1, 'freeLE below the oldest frees nothing');
  });

  test('freeFirstOne releases exactly the oldest message and ignores an empty window', () => {
    const inf = new Inflights(3, 0);
    inf.freeFirstOne();
    assert.equal(inf.size, 0);
    inf.add(10, 1);
    inf.add(20, 2);
    inf.freeFirstOne();
    assert.equal(inf.size, 1);
    assert.equal(inf.inflightBytes, 2);
  });

  test('throws InvariantError when an index is added out of order', () => {
    const inf = new Inflights(5, 0);
    inf.add(7, 1);
    assert.throws(() => inf.add(6, 1), InvariantError);
    assert.throws(() => inf.add(7, 1), InvariantError, 'an equal index is out of order too');
    assert.equal(inf.size, 1, 'a refused add changes nothing');
    assert.equal(inf.inflightBytes, 1);
  });

  test('throws InvariantError when adding to a full window', () => {
    const inf = new Inflights(1, 0);
    inf.add(1, 1);
    assert.throws(() => inf.add(2, 1), InvariantError);
    assert.equal(inf.size, 1);
  });

  test('accepts any increasing index again after reset', () => {
    const inf = new Inflights(2, 0);
    inf.add(10, 1);
    inf.reset();
    assert.equal(inf.size, 0);
    assert.equal(inf.inflightBytes, 0);
    inf.add(3, 1);
    assert.equal(inf.size, 1);
  });
});
