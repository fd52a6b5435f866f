// Commands as they travel through the Raft log (tree/command.ts): msgpack
// without records, so any replica (or a later version) decodes the bytes
// alone. Values are any msgpack-encodable data and must come back as they
// went in; bytes that are not a command are KvError 300, never a crash.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import fc from 'fast-check';
import { Unpackr } from 'msgpackr';

import { KvError, KvErrorCode } from '../src/errors.ts';
import { decodeCommand, encodeCommand, encodeValue, storePackr, type Command } from '../src/tree/command.ts';
import { KeyTree } from '../src/tree/key-tree.ts';
import { T0, applyOk, assertKvError, canon, throwsKvError } from './helpers/tree.ts';

const commands: Command[] = [
  { op: 'set', key: '/a', value: 'x', now: T0 },
  { op: 'set', key: '/d', dir: true, ttl: 30, now: T0 },
  { op: 'create', key: '/q', value: { job: 1 }, inOrder: true, ttl: 5, now: T0 },
  { op: 'create', key: '/d2', dir: true, now: T0 },
  { op: 'update', key: '/a', value: [1, 2, 3], now: T0 },
  { op: 'update', key: '/a', refresh: true, ttl: 10, now: T0 },
  { op: 'compareAndSwap', key: '/a', value: 'new', prevValue: 'old', prevIndex: 42, ttl: 3, now: T0 },
  { op: 'compareAndSwap', key: '/a', refresh: true, prevIndex: 7, ttl: 3, now: T0 },
  { op: 'delete', key: '/d', dir: true, recursive: true, now: T0 },
  { op: 'compareAndDelete', key: '/a', prevValue: { deep: [true, null] }, prevIndex: 9, now: T0 },
  { op: 'expire', now: T0 + 1 },
];

describe('encodeCommand and decodeCommand', () => {
  for (const c of commands) {
    test(`round-trips ${c.op} ${JSON.stringify(c)}`, () => {
      assert.deepEqual(decodeCommand(encodeCommand(c)), c);
    });
  }

  test('carries non-string values as plain msgpack, readable without shared structures', () => {
    // The value sits last in a set command: kind byte, u32 length, msgpack bytes.
    const value = { deep: [1, 'two', { three: true }] };
    const bytes = Buffer.from(encodeCommand({ op: 'set', key: '/k', value, now: T0 }));
    const packed = storePackr.pack(value);
    assert.ok(bytes.subarray(bytes.length - packed.length).equals(Buffer.from(packed)), 'the value bytes are msgpack');
    assert.deepEqual(new Unpackr({ mapsAsObjects: true }).unpack(bytes.subarray(bytes.length - packed.length)), value);
  });

  test('round-trips any command the node can propose', () => {
    const key = fc.string({ maxLength: 12 }).map((k) => '/' + k);
    const value = fc.oneof(fc.string(), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 8 }), fc.jsonValue());
    const ttl = fc.option(fc.nat({ max: 1e6 }), { nil: undefined });
    const prevIndex = fc.option(fc.nat(), { nil: undefined });
    const flag = fc.option(fc.constant(true), { nil: undefined });
    const now = fc.nat({ max: 2 ** 45 });
    const command: fc.Arbitrary<Command> = fc.oneof(
      fc.record({ op: fc.constant('set' as const), key, value, dir: flag, ttl, now }, { requiredKeys: ['op', 'key', 'now'] }),
      fc.record({ op: fc.constant('create' as const), key, value, dir: flag, inOrder: flag, ttl, now }, { requiredKeys: ['op', 'key', 'now'] }),
      fc.record({ op: fc.constant('update' as const), key, value, refresh: flag, ttl, now }, { requiredKeys: ['op', 'key', 'now'] }),
      fc.record(
        { op: fc.constant('compareAndSwap' as const), key, value, prevValue: value, prevIndex, refresh: flag, ttl, now },
        { requiredKeys: ['op', 'key', 'now'] },
      ),
      fc.record({ op: fc.constant('delete' as const), key, dir: flag, recursive: flag, now }, { requiredKeys: ['op', 'key', 'now'] }),
      fc.record({ op: fc.constant('compareAndDelete' as const), key, prevValue: value, prevIndex, now }, { requiredKeys: ['op', 'key', 'now'] }),
      fc.record({ op: fc.constant('expire' as const), now }),
    );
    fc.assert(
      fc.property(command, (c) => {
        assert.deepEqual(canon(decodeCommand(encodeCommand(c))), canon(c));
      }),
      { numRuns: 1000 },
    );
  });

  test('encodes the same command to the same bytes every time', () => {
    for (const c of commands) assert.deepEqual(encodeCommand(c), encodeCommand(structuredClone(c)));
  });

  const values: [string, unknown][] = [
    ['an empty string', ''],
    ['a long string', 'x'.repeat(70_000)],
    ['unicode text', 'ünï ☃ \u{1F600}'],
    ['zero', 0],
    ['a negative integer', -123456],
    ['a float', 3.25],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER],
    ['the smallest safe integer', Number.MIN_SAFE_INTEGER],
    ['a huge float', 1e300],
    ['true', true],
    ['null', null],
    ['an object', { host: 'db', port: 5432, opts: { tls: false } }],
    ['an array', ['a', 1, [2, [3]], { b: null }]],
    ['an empty object and array', { o: {}, a: [] }],
    ['bytes', new Uint8Array([0, 127, 128, 255])],
    ['empty bytes', new Uint8Array(0)],
    ['bytes nested in objects', { blob: new Uint8Array([1, 2]), list: [new Uint8Array([3])] }],
    ['keys named like Object.prototype members', { constructor: 1, toString: 'x', hasOwnProperty: false, valueOf: null }],
  ];
  for (const [name, value] of values) {
    test(`keeps ${name} as a value`, () => {
      const c = decodeCommand(encodeCommand({ op: 'set', key: '/v', value, now: T0 }));
      assert.ok(c.op === 'set');
      assert.deepEqual(canon(c.value), canon(value));
    });
  }

  test('gives bytes back as a Uint8Array', () => {
    const c = decodeCommand(encodeCommand({ op: 'set', key: '/v', value: new Uint8Array([5, 6]), now: T0 }));
    assert.ok(c.op === 'set' && c.value instanceof Uint8Array);
    assert.deepEqual([...c.value], [5, 6]);
  });

  test('keeps a value with its own __proto__ property, as JSON.parse makes it', () => {
    const value = JSON.parse('{"__proto__": {"admin": true}, "name": "x"}') as Record<string, unknown>;
    const c = decodeCommand(encodeCommand({ op: 'set', key: '/v', value, now: T0 }));
    assert.ok(c.op === 'set');
    assert.deepEqual(Object.keys(c.value as object).sort(), ['__proto__', 'name']);
  });

  test('never pollutes Object.prototype when decoding a value with a __proto__ key', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}}') as unknown;
    const c = decodeCommand(encodeCommand({ op: 'set', key: '/v', value, now: T0 }));
    assert.ok(c.op === 'set');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(c.value), Object.prototype);
  });

  test('measures values with the same encoding as commands', () => {
    assert.equal(encodeValue('abc').byteLength, 4);
    assert.equal(encodeValue(new Uint8Array(300)).byteLength, 303);
  });
});

describe('decodeCommand of bytes that are not a command', () => {
  const garbage: [string, Uint8Array][] = [
    ['no bytes', new Uint8Array(0)],
    ['a reserved msgpack byte', new Uint8Array([0xc1])],
    ['a number', encodeValue(5)],
    ['a string', encodeValue('set')],
    ['nil', encodeValue(null)],
    ['an array', encodeValue(['set', '/a'])],
    ['a map without op', encodeValue({ key: '/a', now: 1 })],
    ['a map whose op is not a string', encodeValue({ op: 7, key: '/a' })],
    ['a truncated command', encodeCommand({ op: 'set', key: '/a', value: 'x'.repeat(40), now: T0 }).subarray(0, 20)],
    ['an array header claiming 4 billion items', new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff])],
    ['a raft conf change-like text payload', new TextEncoder().encode('{"type":"ConfChangeAddNode"}')],
  ];
  for (const [name, bytes] of garbage) {
    test(`refuses ${name} with KvError 300`, () => {
      const e = throwsKvError(() => decodeCommand(bytes), { errorCode: KvErrorCode.RaftInternal });
      assert.equal(e.message, 'Raft Internal Error');
      assert.match(e.cause, /^entry is not a store command/);
    });
  }

  test('either decodes random bytes to a command with a known op or refuses them with KvError 300', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        let c: Command;
        try {
          c = decodeCommand(bytes);
        } catch (e) {
          assertKvError(e, { errorCode: KvErrorCode.RaftInternal });
          return;
        }
        assert.ok(['set', 'create', 'update', 'compareAndSwap', 'delete', 'compareAndDelete', 'expire'].includes(c.op), `op ${String(c.op)}`);
      }),
      { numRuns: 2000 },
    );
  });

  test('refuses to encode a command with an unknown op with 300', () => {
    throwsKvError(() => encodeCommand({ op: 'explode', key: '/a', now: T0 } as unknown as Command), { errorCode: KvErrorCode.RaftInternal });
  });

  test('makes the tree refuse a command with an unknown op with 300 and change nothing', () => {
    const t = new KeyTree();
    applyOk(t, { op: 'set', key: '/a', value: 1, now: T0 }, 1);
    const r = t.apply({ op: 'explode', key: '/a', now: T0 } as unknown as Command, 2);
    assert.ok(r instanceof KvError);
    assertKvError(r, { errorCode: KvErrorCode.RaftInternal, index: 1 });
    assert.equal(t.index, 1);
    assert.equal(t.get('/a').node.value, 1);
  });
});
