// The checker on histories whose answer is known: hand-written classics
// (stale reads, lost updates, double CAS, unknown writes), and a property —
// histories generated from a real sequential execution, with each
// operation's interval stretched around its linearization point, are
// linearizable; the same histories with one read corrupted are not.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { checkHistory, checkKey, type Operation, type RegisterInput, type RegisterOutput } from './linearizability.ts';

function op(client: number, call: number, ret: number | null, input: RegisterInput, output?: RegisterOutput, key = 'x'): Operation {
  return ret === null
    ? { client, key, input, outcome: 'unknown', call, ret: Infinity }
    : { client, key, input, output, outcome: 'ok', call, ret };
}
const w = (v: string): RegisterInput => ({ f: 'write', value: v });
const r: RegisterInput = { f: 'read' };
const cas = (from: string, to: string): RegisterInput => ({ f: 'cas', from, to });

describe('linearizability checker: known histories', () => {
  test('a sequential write then read of the same value is linearizable', () => {
    assert.equal(checkHistory([op(0, 0, 1, w('a')), op(1, 2, 3, r, 'a')]).linearizable, true);
  });

  test('a read before any write sees null', () => {
    assert.equal(checkHistory([op(0, 0, 1, r, null), op(1, 2, 3, w('a'))]).linearizable, true);
    assert.equal(checkHistory([op(0, 0, 1, r, 'a'), op(1, 2, 3, w('a'))]).linearizable, false);
  });

  test('a stale read after a later write completed is not linearizable', () => {
    const h = [op(0, 0, 1, w('a')), op(0, 2, 3, w('b')), op(1, 4, 5, r, 'a')];
    const res = checkHistory(h, { seed: 42 });
    assert.equal(res.linearizable, false);
    assert.ok(res.linearizable === false);
    assert.equal(res.failing, h[2]);
    assert.match(res.report, /key x \(seed 42\)/);
    assert.match(res.report, />> client {2}1 .* read → "a"/);
  });

  test('a read concurrent with a write may see either value', () => {
    for (const seen of ['a', 'b']) {
      const h: Operation[] = [op(0, 0, 1, w('a')), op(0, 2, 6, w('b')), op(1, 3, 5, r, seen)];
      assert.equal(checkHistory(h).linearizable, true, seen);
    }
  });

  test('two reads concurrent with a write cannot see new then old in real-time order', () => {
    const h = [op(0, 0, 1, w('a')), op(0, 2, 10, w('b')), op(1, 3, 4, r, 'b'), op(2, 5, 6, r, 'a')];
    assert.equal(checkHistory(h).linearizable, false);
  });

  test('an unknown write may take effect late, or never', () => {
    const late = [op(0, 0, 1, w('a')), op(1, 2, null, w('b')), op(2, 10, 11, r, 'a'), op(2, 12, 13, r, 'b')];
    assert.equal(checkHistory(late).linearizable, true);
    const never = [op(0, 0, 1, w('a')), op(1, 2, null, w('b')), op(2, 10, 11, r, 'a')];
    assert.equal(checkHistory(never).linearizable, true);
  });

  test('an unknown write observed cannot be un-observed', () => {
    const h = [op(0, 0, 1, w('a')), op(1, 2, null, w('b')), op(2, 3, 4, r, 'b'), op(2, 5, 6, r, 'a')];
    assert.equal(checkHistory(h).linearizable, false);
  });

  test('an unknown write cannot take effect before it was called', () => {
    const h = [op(0, 0, 1, w('a')), op(2, 2, 3, r, 'b'), op(1, 4, null, w('b'))];
    assert.equal(checkHistory(h).linearizable, false);
  });

  test('two concurrent CAS from the same value cannot both succeed', () => {
    const h = [op(0, 0, 1, w('a')), op(1, 2, 5, cas('a', 'b'), true), op(2, 2, 5, cas('a', 'c'), true)];
    assert.equal(checkHistory(h).linearizable, false);
    const oneWins = [op(0, 0, 1, w('a')), op(1, 2, 5, cas('a', 'b'), true), op(2, 2, 5, cas('a', 'c'), false)];
    assert.equal(checkHistory(oneWins).linearizable, true);
  });

  test('a failed CAS is an observation: the value was not `from`', () => {
    const h = [op(0, 0, 1, w('a')), op(1, 2, 3, cas('a', 'b'), false)];
    assert.equal(checkHistory(h).linearizable, false);
    assert.equal(checkHistory([op(0, 0, 1, w('z')), op(1, 2, 3, cas('a', 'b'), false)]).linearizable, true);
  });

  test('a lost update (a CAS success whose write vanished) is not linearizable', () => {
    const h = [op(0, 0, 1, w('a')), op(1, 2, 3, cas('a', 'b'), true), op(2, 4, 5, r, 'a')];
    assert.equal(checkHistory(h).linearizable, false);
  });

  test('delete makes the key read as null', () => {
    const h = [op(0, 0, 1, w('a')), op(0, 2, 3, { f: 'delete' }), op(1, 4, 5, r, null)];
    assert.equal(checkHistory(h).linearizable, true);
    assert.equal(checkHistory([...h.slice(0, 2), op(1, 4, 5, r, 'a')]).linearizable, false);
  });

  test('keys are checked independently, and the failing key is named', () => {
    const h = [
      op(0, 0, 1, w('a'), undefined, 'k1'),
      op(1, 0, 1, w('a'), undefined, 'k2'),
      op(0, 2, 3, r, 'a', 'k1'),
      op(1, 2, 3, r, 'b', 'k2'),
    ];
    const res = checkHistory(h);
    assert.ok(res.linearizable === false);
    assert.equal(res.key, 'k2');
  });

  test('the search budget yields unknown rather than a wrong answer', () => {
    const h: Operation[] = [];
    for (let i = 0; i < 40; i++) h.push(op(i, 0, 100, w(String(i))));
    h.push(op(99, 101, 102, r, 'never'));
    assert.equal(checkKey(h, 1000).ok, 'unknown');
  });

  test('the failing window is the shortest failing prefix, not the whole history', () => {
    const h: Operation[] = [];
    let t = 0;
    for (let i = 0; i < 50; i++) h.push(op(0, t++, t++, w(`v${i}`)));
    h.push(op(1, t++, t++, r, 'v3')); // stale: v49 is current
    for (let i = 50; i < 100; i++) h.push(op(0, t++, t++, w(`v${i}`)));
    const res = checkHistory(h);
    assert.ok(res.linearizable === false);
    assert.deepEqual(res.failing.input, { f: 'read' });
    assert.ok(res.window.length <= 10, `window of ${res.window.length}`);
    assert.ok(res.window.every((o) => o.call <= res.failing.ret));
  });
});

// A generated history: a sequential execution on one register, then each
// operation's interval stretched around its linearization point, with the
// constraint that one client's operations never overlap.
interface Gen {
  ops: Operation[];
}
const genHistory = fc
  .record({
    n: fc.integer({ min: 1, max: 60 }),
    clients: fc.integer({ min: 1, max: 6 }),
    seed: fc.integer(),
    unknownRate: fc.constantFrom(0, 0.1, 0.3),
  })
  .map(({ n, clients, seed, unknownRate }): Gen => {
    let s = seed >>> 0 || 1;
    const rnd = (): number => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) / 2 ** 32;
    };
    let state: string | null = null;
    const free = new Array<number>(clients).fill(0); // when each client may call next
    const ops: Operation[] = [];
    let point = 0;
    for (let i = 0; i < n; i++) {
      point += 1 + rnd() * 3;
      // A client idle at this point runs the op; if none is, skip ahead.
      const live = free.map((f, k) => (f === Infinity ? -1 : k)).filter((k) => k >= 0);
      const c = live[Math.floor(rnd() * live.length)]!;
      if (free[c]! > point) point = free[c]! + 0.5;
      const call = free[c]! + rnd() * (point - free[c]!);
      const ret = point + rnd() * 4;
      free[c] = ret + 0.01;
      const kind = rnd();
      let input: RegisterInput;
      let output: RegisterOutput;
      if (kind < 0.4) {
        input = r;
        output = state;
      } else if (kind < 0.75) {
        state = `v${i}`;
        input = w(state);
      } else if (kind < 0.95) {
        const from = rnd() < 0.6 && state !== null ? state : `v${Math.floor(rnd() * (i + 1))}`;
        input = cas(from, `v${i}`);
        output = state === from;
        if (output) state = `v${i}`;
      } else {
        input = { f: 'delete' };
        state = null;
      }
      const unknown = input.f !== 'read' && rnd() < unknownRate;
      if (unknown) {
        ops.push({ client: c, key: 'x', input, outcome: 'unknown', call, ret: Infinity });
        free[c] = Infinity; // a client that timed out is replaced, never reused
        if (free.every((f) => f === Infinity)) break;
      } else ops.push({ client: c, key: 'x', input, output, outcome: 'ok', call, ret });
    }
    return { ops };
  });

describe('linearizability checker: properties', () => {
  test('histories from a sequential execution are linearizable', () => {
    fc.assert(
      fc.property(genHistory, ({ ops }) => {
        assert.equal(checkHistory(ops).linearizable, true);
      }),
      { numRuns: 300 },
    );
  });

  test('a read corrupted to a value never written is caught', () => {
    fc.assert(
      fc.property(genHistory, fc.nat(), ({ ops }, pick) => {
        const reads = ops.filter((o) => o.input.f === 'read' && o.outcome === 'ok');
        fc.pre(reads.length > 0);
        const victim = reads[pick % reads.length]!;
        const bad = ops.map((o) => (o === victim ? { ...o, output: 'never-written' } : o));
        const res = checkHistory(bad);
        assert.equal(res.linearizable, false);
        assert.ok(res.linearizable === false && res.failing.output === 'never-written');
      }),
      { numRuns: 200 },
    );
  });

  test('a long concurrent history checks without exhausting the budget', () => {
    // 8 clients × 500 ops, heavy overlap: what a fault run produces per key.
    const ops: Operation[] = [];
    let state: string | null = null;
    let t = 0;
    for (let i = 0; i < 4000; i++) {
      const c = i % 8;
      t += 1;
      const input: RegisterInput = i % 3 === 0 ? w(`v${i}`) : r;
      const out = input.f === 'write' ? undefined : state;
      if (input.f === 'write') state = input.value;
      ops.push({ client: c, key: 'x', input, output: out, outcome: 'ok', call: t - 7.5, ret: t + 0.5 });
    }
    const res = checkHistory(ops);
    assert.equal(res.linearizable, true);
  });
});
