// Secondary indexes (indexes/index-registry.ts) kept in step with a KeyTree
// through its observer, wired the way createNode wires them: every value
// written or removed by any command (expiry and recursive deletes included)
// reaches the registry, and a snapshot restore is clear() + restore().
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { KvErrorCode } from '../src/errors.ts';
import { IndexRegistry, type IndexDefinition } from '../src/indexes/index-registry.ts';
import type { Command } from '../src/tree/command.ts';
import { KeyTree } from '../src/tree/key-tree.ts';
import { T0, applyExpire, applyOk, throwsKvError, viaMsgpack } from './helpers/tree.ts';

interface Harness {
  readonly tree: KeyTree;
  readonly reg: IndexRegistry;
  define(name: string, def: IndexDefinition): void;
  /** Applies a command at the next index and insists it succeeds. */
  run(cmd: Command): void;
  set(key: string, value: unknown, ttl?: number): void;
}

function harness(): Harness {
  const reg = new IndexRegistry();
  const tree = new KeyTree({
    observer: {
      valueWritten: (key, value) => reg.valueWritten(key, value),
      valueRemoved: (key) => reg.valueRemoved(key),
    },
  });
  let index = 0;
  const h: Harness = {
    tree,
    reg,
    define: (name, def) => reg.define(name, def, (prefix, fn) => tree.forEachValue(prefix, fn)),
    run: (cmd) => {
      applyOk(tree, cmd, ++index);
    },
    set: (key, value, ttl) => h.run({ op: 'set', key, value, ttl, now: T0 }),
  };
  return h;
}

interface User {
  readonly role?: unknown;
  readonly tags?: unknown;
}

const byRole: IndexDefinition = { prefix: '/users', key: (v) => (v as User).role as string | undefined };
const byTag: IndexDefinition = { prefix: '/users', key: (v) => (v as User).tags as string[] | undefined };

describe('IndexRegistry', () => {
  test('finds keys written after the index was defined', () => {
    const h = harness();
    h.define('role', byRole);
    h.set('/users/ann', { role: 'admin' });
    h.set('/users/bob', { role: 'dev' });
    h.set('/users/cat', { role: 'admin' });
    assert.deepEqual(h.reg.query('role', 'admin'), ['/users/ann', '/users/cat']);
    assert.deepEqual(h.reg.query('role', 'dev'), ['/users/bob']);
    assert.deepEqual(h.reg.query('role', 'nobody'), []);
  });

  test('finds keys already stored when the index is defined, in nested directories too', () => {
    const h = harness();
    h.set('/users/ann', { role: 'admin' });
    h.set('/users/eu/bob', { role: 'admin' });
    h.define('role', byRole);
    assert.deepEqual(h.reg.query('role', 'admin'), ['/users/ann', '/users/eu/bob']);
  });

  test('indexes only keys under the prefix, not siblings that share its spelling', () => {
    const h = harness();
    h.define('role', byRole);
    h.set('/users', 'placeholder');
    h.run({ op: 'delete', key: '/users', now: T0 });
    h.set('/usersx/ann', { role: 'admin' });
    h.set('/other/bob', { role: 'admin' });
    h.set('/users/cat', { role: 'admin' });
    assert.deepEqual(h.reg.query('role', 'admin'), ['/users/cat']);
  });

  test('passes the value and the key to the key function', () => {
    const h = harness();
    const seen: [unknown, string][] = [];
    h.define('all', { prefix: '/', key: (v, k) => (seen.push([v, k]), k.split('/')[1]) });
    h.set('/a/x', 1);
    h.set('/b', 2);
    assert.deepEqual(seen, [
      [1, '/a/x'],
      [2, '/b'],
    ]);
    assert.deepEqual(h.reg.query('all', 'a'), ['/a/x']);
  });

  test('moves a key to its new index value when set, update or compare-and-swap changes it', () => {
    const h = harness();
    h.define('role', byRole);
    h.set('/users/ann', { role: 'dev' });
    h.set('/users/ann', { role: 'ops' });
    assert.deepEqual(h.reg.query('role', 'dev'), []);
    assert.deepEqual(h.reg.query('role', 'ops'), ['/users/ann']);
    h.run({ op: 'update', key: '/users/ann', value: { role: 'qa' }, now: T0 });
    assert.deepEqual(h.reg.query('role', 'ops'), []);
    assert.deepEqual(h.reg.query('role', 'qa'), ['/users/ann']);
    h.run({ op: 'compareAndSwap', key: '/users/ann', value: { role: 'admin' }, prevValue: { role: 'qa' }, now: T0 });
    assert.deepEqual(h.reg.query('role', 'qa'), []);
    assert.deepEqual(h.reg.query('role', 'admin'), ['/users/ann']);
  });

  test('keeps a key where it is when a command is refused', () => {
    const h = harness();
    h.define('role', byRole);
    h.set('/users/ann', { role: 'dev' });
    const r = h.tree.apply({ op: 'compareAndSwap', key: '/users/ann', value: { role: 'ops' }, prevValue: { role: 'x' }, now: T0 }, 99);
    assert.equal((r as { errorCode?: number }).errorCode, KvErrorCode.TestFailed);
    assert.deepEqual(h.reg.query('role', 'dev'), ['/users/ann']);
    assert.deepEqual(h.reg.query('role', 'ops'), []);
  });

  test('keeps a key where it is on a TTL refresh', () => {
    const h = harness();
    h.define('role', byRole);
    h.set('/users/ann', { role: 'dev' }, 5);
    h.run({ op: 'update', key: '/users/ann', refresh: true, ttl: 50, now: T0 });
    assert.deepEqual(h.reg.query('role', 'dev'), ['/users/ann']);
  });

  test('drops a key when it is deleted or compare-and-deleted', () => {
    const h = harness();
    h.define('role', byRole);
    h.set('/users/ann', { role: 'admin' });
    h.set('/users/bob', { role: 'admin' });
    h.run({ op: 'delete', key: '/users/ann', now: T0 });
    assert.deepEqual(h.reg.query('role', 'admin'), ['/users/bob']);
    h.run({ op: 'compareAndDelete', key: '/users/bob', prevValue: { role: 'admin' }, now: T0 });
    assert.deepEqual(h.reg.query('role', 'admin'), []);
  });

  test('drops every key below a directory deleted recursively', () => {
    const h = harness();
    h.define('role', byRole);
    h.set('/users/eu/ann', { role: 'admin' });
    h.set('/users/eu/deep/bob', { role: 'admin' });
    h.set('/users/us/cat', { role: 'admin' });
    h.run({ op: 'delete', key: '/users/eu', recursive: true, now: T0 });
    assert.deepEqual(h.reg.query('role', 'admin'), ['/users/us/cat']);
    h.run({ op: 'delete', key: '/users', recursive: true, now: T0 });
    assert.deepEqual(h.reg.query('role', 'admin'), []);
  });

  test('drops expired keys, and every key below an expired directory', () => {
    const h = harness();
    h.define('role', byRole);
    h.set('/users/ann', { role: 'admin' }, 1);
    h.run({ op: 'create', key: '/users/team', dir: true, ttl: 2, now: T0 });
    h.set('/users/team/bob', { role: 'admin' });
    h.set('/users/cat', { role: 'admin' });
    applyExpire(h.tree, T0 + 1000, 100);
    assert.deepEqual(h.reg.query('role', 'admin'), ['/users/cat', '/users/team/bob']);
    applyExpire(h.tree, T0 + 2000, 101);
    assert.deepEqual(h.reg.query('role', 'admin'), ['/users/cat']);
  });

  test('drops a key replaced by a directory', () => {
    const h = harness();
    h.define('role', byRole);
    h.set('/users/ann', { role: 'admin' });
    h.run({ op: 'set', key: '/users/ann', dir: true, now: T0 });
    assert.deepEqual(h.reg.query('role', 'admin'), []);
  });

  test('drops a key whose new value the key function leaves out', () => {
    const h = harness();
    h.define('role', byRole);
    h.set('/users/ann', { role: 'admin' });
    h.set('/users/ann', { name: 'no role' });
    assert.deepEqual(h.reg.query('role', 'admin'), []);
  });

  test('files a key under every value of a multi-valued key and unfiles the values it loses', () => {
    const h = harness();
    h.define('tag', byTag);
    h.set('/users/ann', { tags: ['a', 'b', 'b'] });
    h.set('/users/bob', { tags: ['b', 'c'] });
    assert.deepEqual(h.reg.query('tag', 'a'), ['/users/ann']);
    assert.deepEqual(h.reg.query('tag', 'b'), ['/users/ann', '/users/bob']);
    h.run({ op: 'update', key: '/users/ann', value: { tags: ['c'] }, now: T0 });
    assert.deepEqual(h.reg.query('tag', 'a'), []);
    assert.deepEqual(h.reg.query('tag', 'b'), ['/users/bob']);
    assert.deepEqual(h.reg.query('tag', 'c'), ['/users/ann', '/users/bob']);
    h.set('/users/bob', { tags: [] });
    assert.deepEqual(h.reg.query('tag', 'c'), ['/users/ann']);
  });

  test('leaves out a key whose key function throws, and unfiles what it was filed under before', () => {
    const h = harness();
    h.define('strict', {
      prefix: '/users',
      key: (v) => {
        const u = v as User;
        if (typeof u.role !== 'string') throw new Error('no role');
        return u.role;
      },
    });
    h.set('/users/ann', { role: 'admin' });
    h.set('/users/bob', 'not an object');
    h.set('/users/cat', { role: 'admin' });
    assert.deepEqual(h.reg.query('strict', 'admin'), ['/users/ann', '/users/cat']);
    h.set('/users/ann', { role: 42 });
    assert.deepEqual(h.reg.query('strict', 'admin'), ['/users/cat']);
    assert.deepEqual(h.reg.query('strict', 42), []);
  });

  test('ignores index values that are not strings, numbers or booleans', () => {
    const h = harness();
    h.define('raw', { prefix: '/v', key: (v) => v as string });
    h.set('/v/obj', { a: 1 });
    h.set('/v/nan', Number.NaN);
    h.set('/v/null', null);
    h.set('/v/mixed', ['ok', { no: 1 }, null, 7]);
    assert.deepEqual(h.reg.query('raw', Number.NaN), []);
    assert.deepEqual(h.reg.query('raw', 'ok'), ['/v/mixed']);
    assert.deepEqual(h.reg.query('raw', 7), ['/v/mixed']);
  });

  test('tells index values of different types apart', () => {
    const h = harness();
    h.define('raw', { prefix: '/v', key: (v) => v as string | number | boolean });
    h.set('/v/num', 1);
    h.set('/v/str', '1');
    h.set('/v/bool', true);
    assert.deepEqual(h.reg.query('raw', 1), ['/v/num']);
    assert.deepEqual(h.reg.query('raw', '1'), ['/v/str']);
    assert.deepEqual(h.reg.query('raw', true), ['/v/bool']);
  });

  test('keeps indexes with overlapping prefixes apart', () => {
    const h = harness();
    h.define('role', byRole);
    h.define('everything', { prefix: '/', key: (v) => (v as User).role as string | undefined });
    h.set('/users/ann', { role: 'admin' });
    h.set('/guests/bob', { role: 'admin' });
    assert.deepEqual(h.reg.query('role', 'admin'), ['/users/ann']);
    assert.deepEqual(h.reg.query('everything', 'admin'), ['/guests/bob', '/users/ann']);
  });

  test('hands out a fresh sorted list on every query', () => {
    const h = harness();
    h.define('role', byRole);
    for (const name of ['zed', 'amy', 'kim']) h.set(`/users/${name}`, { role: 'admin' });
    const first = h.reg.query('role', 'admin');
    assert.deepEqual(first, ['/users/amy', '/users/kim', '/users/zed']);
    first.pop();
    assert.deepEqual(h.reg.query('role', 'admin'), ['/users/amy', '/users/kim', '/users/zed']);
  });

  test('rebuilds from a snapshot restore after clear, forgetting what the replica held before', () => {
    const source = harness();
    source.set('/users/ann', { role: 'admin', tags: ['x'] });
    source.set('/users/bob', { role: 'dev', tags: ['x', 'y'] });
    source.set('/users/tmp', { role: 'admin' }, 1);
    const snap = viaMsgpack(source.tree.toSnapshot());

    const replica = harness();
    replica.define('role', byRole);
    replica.define('tag', byTag);
    replica.set('/users/old', { role: 'admin', tags: ['y'] });
    replica.reg.clear();
    replica.tree.restore(snap);
    assert.deepEqual(replica.reg.query('role', 'admin'), ['/users/ann', '/users/tmp']);
    assert.deepEqual(replica.reg.query('role', 'dev'), ['/users/bob']);
    assert.deepEqual(replica.reg.query('tag', 'x'), ['/users/ann', '/users/bob']);
    assert.deepEqual(replica.reg.query('tag', 'y'), ['/users/bob']);

    // The restored replica keeps its indexes in step from there on.
    applyExpire(replica.tree, T0 + 1000, 10);
    assert.deepEqual(replica.reg.query('role', 'admin'), ['/users/ann']);
  });

  test('answers a query on an unknown index with 209', () => {
    const h = harness();
    throwsKvError(() => h.reg.query('nope', 'x'), { errorCode: KvErrorCode.InvalidField });
    assert.equal(h.reg.has('nope'), false);
  });

  test('refuses a second index of the same name, an empty name and a definition without a key function with 209', () => {
    const h = harness();
    h.define('role', byRole);
    assert.equal(h.reg.has('role'), true);
    throwsKvError(() => h.define('role', byRole), { errorCode: KvErrorCode.InvalidField });
    throwsKvError(() => h.define('', byRole), { errorCode: KvErrorCode.InvalidField });
    throwsKvError(() => h.define('nokey', { prefix: '/users' } as unknown as IndexDefinition), { errorCode: KvErrorCode.InvalidField });
  });
});
