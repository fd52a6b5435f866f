// Key normalisation and the key helpers (tree/key.ts). etcd v2 cleans every
// key with Go's `path.Clean(path.Join("/", key))`; Node's posix normalize plus
// dropping a trailing slash is the same function, so the property test checks
// normalizeKey against it. The last test checks the configured key limit end
// to end: a limit set on createNode must be the one the replicas apply.
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { describe, test } from 'node:test';

import fc from 'fast-check';

import { createMemoryNetwork } from '@kv/raft/testing';

import { createNode } from '../src/create-node.ts';
import { KvError, KvErrorCode } from '../src/errors.ts';
import { DEFAULT_LIMITS, isHiddenBelow, isUnder, normalizeKey, segments } from '../src/tree/key.ts';
import { throwsKvError } from './helpers/tree.ts';

/** Go's path.Clean("/" + key), by way of Node's posix normalize. */
function goClean(key: string): string {
  const n = posix.normalize('/' + key);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

describe('normalizeKey', () => {
  const cases: [string, string][] = [
    ['foo', '/foo'],
    ['/foo', '/foo'],
    ['foo//bar/', '/foo/bar'],
    ['//foo///bar//', '/foo/bar'],
    ['', '/'],
    ['/', '/'],
    ['///', '/'],
    ['.', '/'],
    ['/./', '/'],
    ['/a/./b', '/a/b'],
    ['..', '/'],
    ['/../..', '/'],
    ['/../../x', '/x'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/../../..', '/'],
    ['/a/..b/c.', '/a/..b/c.'],
    ['/a/.../b', '/a/.../b'],
    ['/_hidden/x', '/_hidden/x'],
    ['/__proto__/constructor', '/__proto__/constructor'],
    ['/ünï cödé/☃', '/ünï cödé/☃'],
  ];
  for (const [input, want] of cases) {
    test(`cleans ${JSON.stringify(input)} to ${JSON.stringify(want)} as etcd's path.Clean does`, () => {
      assert.equal(normalizeKey(input), want);
    });
  }

  test('agrees with Go path.Clean on random keys made of a, _, ., / and spaces', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '_', '.', '/', ' '), maxLength: 24 }), (key) => {
        assert.equal(normalizeKey(key), goClean(key));
      }),
      { numRuns: 500 },
    );
  });

  test('is idempotent', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '.', '/', 'é'), maxLength: 20 }), (key) => {
        const once = normalizeKey(key);
        assert.equal(normalizeKey(once), once);
      }),
      { numRuns: 300 },
    );
  });

  test('rejects a key that is not a string with 209', () => {
    throwsKvError(() => normalizeKey(42), { errorCode: KvErrorCode.InvalidField });
    throwsKvError(() => normalizeKey(undefined), { errorCode: KvErrorCode.InvalidField });
    throwsKvError(() => normalizeKey(null), { errorCode: KvErrorCode.InvalidField });
  });

  test('rejects a key containing a NUL byte with 209', () => {
    throwsKvError(() => normalizeKey('/a\0b'), { errorCode: KvErrorCode.InvalidField });
  });

  test('accepts a key of exactly maxKeyBytes and rejects one byte more with a cause naming both sizes', () => {
    const limits = { maxKeyBytes: 10, maxValueBytes: 100 };
    assert.equal(normalizeKey('/123456789', limits), '/123456789');
    const e = throwsKvError(() => normalizeKey('/1234567890', limits), {
      errorCode: KvErrorCode.InvalidField,
      cause: 'key is 11 bytes, maxKeyBytes is 10',
    });
    assert.equal(e.message, 'Invalid field');
  });

  test('counts the key limit in UTF-8 bytes of the cleaned key', () => {
    const limits = { maxKeyBytes: 7, maxValueBytes: 100 };
    // '/' + three 2-byte characters = 7 bytes; redundant slashes do not count.
    assert.equal(normalizeKey('//éééé/..//ééé', limits), '/ééé');
    throwsKvError(() => normalizeKey('/éééé', limits), { errorCode: KvErrorCode.InvalidField });
  });

  test('defaults to a 4096-byte key limit', () => {
    assert.equal(DEFAULT_LIMITS.maxKeyBytes, 4096);
    assert.equal(normalizeKey('/' + 'k'.repeat(4095)).length, 4096);
    throwsKvError(() => normalizeKey('/' + 'k'.repeat(4096)), { errorCode: KvErrorCode.InvalidField });
  });
});

describe('segments, isUnder and isHiddenBelow', () => {
  test('splits a cleaned key into its segments, the root into none', () => {
    assert.deepEqual(segments('/'), []);
    assert.deepEqual(segments('/a'), ['a']);
    assert.deepEqual(segments('/a/b/c'), ['a', 'b', 'c']);
  });

  test('treats a key as under itself and its ancestors but not under a sibling sharing a prefix', () => {
    assert.ok(isUnder('/a', '/a'));
    assert.ok(isUnder('/a/b', '/a'));
    assert.ok(isUnder('/a/b', '/'));
    assert.ok(isUnder('/', '/'));
    assert.ok(!isUnder('/ab', '/a'));
    assert.ok(!isUnder('/a', '/a/b'));
  });

  test('hides a key below the base when any segment below the base starts with _', () => {
    assert.ok(isHiddenBelow('/', '/_a'));
    assert.ok(isHiddenBelow('/', '/a/_b/c'));
    assert.ok(isHiddenBelow('/a', '/a/_b'));
    assert.ok(!isHiddenBelow('/_a', '/_a/b'), 'the watched key itself may be hidden');
    assert.ok(!isHiddenBelow('/a', '/a'));
    assert.ok(!isHiddenBelow('/a', '/a/b_c'));
  });
});

describe('configured key limit', () => {
  test('a node created with maxKeyBytes 8192 stores and reads a 5000-byte key', async () => {
    const net = createMemoryNetwork({ seed: 7 });
    const node = await createNode({
      name: 'm1',
      initialCluster: { m1: 'mem://m1' },
      transport: net.transport('m1'),
      heartbeatIntervalMs: 10,
      electionTimeoutMs: 50,
      maxKeyBytes: 8192,
    });
    try {
      const key = '/' + 'k'.repeat(4999);
      let r;
      try {
        r = await node.set(key, 'v');
      } catch (e) {
        // The node accepted the key, then every replica's tree refused it
        // against its own default limit.
        assert.fail(`set of a ${key.length}-byte key failed: ${e instanceof KvError ? `${e.errorCode} ${e.cause}` : String(e)}`);
      }
      assert.equal(r.node.key, key);
      assert.equal((await node.get(key, { consistency: 'serializable' })).node.value, 'v');
    } finally {
      await node.close();
    }
  });
});
