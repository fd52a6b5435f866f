import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Backoff } from '../src/backoff.ts';

test('doubles the delay per failure up to maxMs, each in [nominal/2, nominal)', () => {
  const lows = new Backoff({ minMs: 100, maxMs: 2000, random: () => 0 });
  assert.deepEqual(Array.from({ length: 8 }, () => lows.next()), [50, 100, 200, 400, 800, 1000, 1000, 1000]);
  const highs = new Backoff({ minMs: 100, maxMs: 2000, random: () => 0.999999 });
  assert.deepEqual(Array.from({ length: 7 }, () => highs.next()), [99, 199, 399, 799, 1599, 1999, 1999]);
});

test('reset starts over at minMs', () => {
  const b = new Backoff({ minMs: 100, maxMs: 2000, random: () => 0 });
  b.next();
  b.next();
  assert.equal(b.attempts, 2);
  b.reset();
  assert.equal(b.attempts, 0);
  assert.equal(b.next(), 50);
});

test('stays finite after very many failures', () => {
  const b = new Backoff({ minMs: 100, maxMs: 2000, random: () => 0.5 });
  for (let i = 0; i < 10_000; i++) b.next();
  assert.equal(b.next(), 1500);
});
