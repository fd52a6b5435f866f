// The key tree (tree/key-tree.ts) against etcd v2's store, rule by rule.
// References are to etcd's server/etcdserver/api/v2store (store.go, node.go,
// event_history.go) and Documentation/v2/api.md; error codes and causes are
// etcd's. Indexes differ from etcd in one deliberate way: a change takes the
// Raft index it is applied at (etcd counts its own index), so every test picks
// the index it applies at and checks that it comes back.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { KvError, KvErrorCode } from '../src/errors.ts';
import type { Command } from '../src/tree/command.ts';
import { KeyTree } from '../src/tree/key-tree.ts';
import type { KvEvent, KvNodeData } from '../src/tree/types.ts';
import { T0, applyErr, applyExpire, applyOk, canon, throwsKvError, viaMsgpack } from './helpers/tree.ts';

function set(t: KeyTree, key: string, value: unknown, index: number, o: { ttl?: number; now?: number } = {}): KvEvent {
  return applyOk(t, { op: 'set', key, value, now: T0, ...o }, index);
}

function mkdir(t: KeyTree, key: string, index: number, o: { ttl?: number; now?: number } = {}): KvEvent {
  return applyOk(t, { op: 'create', key, dir: true, now: T0, ...o }, index);
}

/** The keys of a listing, depth first, as the tree hands them out. */
function keysOf(nodes: readonly KvNodeData[] | undefined): string[] {
  const out: string[] = [];
  const walk = (ns: readonly KvNodeData[] | undefined): void => {
    for (const n of ns ?? []) {
      out.push(n.key);
      walk(n.nodes);
    }
  };
  walk(nodes);
  return out;
}

describe('keys', () => {
  test('stores foo//bar/ under /foo/bar and reads it back by any spelling', () => {
    const t = new KeyTree();
    const r = set(t, 'foo//bar/', 'x', 1);
    assert.equal(r.node.key, '/foo/bar');
    assert.equal(t.get('/foo/bar').node.value, 'x');
    assert.equal(t.get('foo/./bar/').node.value, 'x');
    assert.equal(t.get('/foo/baz/../bar').node.value, 'x');
  });

  test('resolves . and .. against the root, never above it', () => {
    const t = new KeyTree();
    assert.equal(set(t, '/x/../y', 1, 1).node.key, '/y');
    assert.equal(set(t, '../../z', 2, 2).node.key, '/z');
    assert.equal(t.get('..').node.key, '/');
    assert.deepEqual(keysOf(t.get('.', { sorted: true }).node.nodes), ['/y', '/z']);
  });

  test('reads the root as a directory with index 0 and the store index', () => {
    const t = new KeyTree();
    assert.deepEqual(t.get('/'), { action: 'get', node: { key: '/', dir: true, createdIndex: 0, modifiedIndex: 0, nodes: [] }, index: 0 });
    set(t, '/a', 1, 4);
    const r = t.get('');
    assert.equal(r.index, 4);
    assert.deepEqual(keysOf(r.node.nodes), ['/a']);
  });

  test('treats __proto__, constructor and hasOwnProperty as ordinary keys', () => {
    const t = new KeyTree();
    set(t, '/__proto__', 'p', 1);
    set(t, '/constructor/x', 'c', 2);
    set(t, '/hasOwnProperty', 'h', 3);
    set(t, '/toString/__proto__/valueOf', 'v', 4);
    assert.equal(t.get('/__proto__').node.value, 'p');
    assert.equal(t.get('/constructor/x').node.value, 'c');
    assert.equal(t.get('/hasOwnProperty').node.value, 'h');
    assert.equal(t.get('/toString/__proto__/valueOf').node.value, 'v');
    // __proto__ starts with _, so listings hide it like any other such key.
    assert.deepEqual(keysOf(t.get('/', { recursive: true, sorted: true }).node.nodes), [
      '/constructor',
      '/constructor/x',
      '/hasOwnProperty',
      '/toString',
    ]);
    assert.deepEqual(keysOf(t.get('/toString/__proto__').node.nodes), ['/toString/__proto__/valueOf']);
    throwsKvError(() => t.get('/valueOf'), { errorCode: KvErrorCode.KeyNotFound, cause: '/valueOf' });
    throwsKvError(() => t.get('/toString/toString'), { errorCode: KvErrorCode.KeyNotFound });
    applyOk(t, { op: 'delete', key: '/__proto__', now: T0 }, 5);
    assert.equal(t.has('/__proto__'), false);
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, 'p'), false);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });
});

describe('values and directories', () => {
  test('sets a value with createdIndex and modifiedIndex equal to the Raft index it was applied at', () => {
    const t = new KeyTree();
    const r = set(t, '/message', 'Hello world', 7);
    assert.deepEqual(r, { action: 'set', node: { key: '/message', value: 'Hello world', createdIndex: 7, modifiedIndex: 7 }, index: 7 });
    assert.equal(t.index, 7);
    assert.deepEqual(t.get('/message'), { action: 'get', node: r.node, index: 7 });
  });

  test('replaces a value with set, reporting the old node as prevNode and taking a new createdIndex', () => {
    const t = new KeyTree();
    set(t, '/message', 'one', 3);
    const r = set(t, '/message', 'two', 9);
    assert.deepEqual(r, {
      action: 'set',
      node: { key: '/message', value: 'two', createdIndex: 9, modifiedIndex: 9 },
      prevNode: { key: '/message', value: 'one', createdIndex: 3, modifiedIndex: 3 },
      index: 9,
    });
  });

  test('creates missing parent directories at the index of the write', () => {
    const t = new KeyTree();
    set(t, '/a/b/c', 1, 5);
    assert.deepEqual(t.get('/a').node, {
      key: '/a',
      dir: true,
      createdIndex: 5,
      modifiedIndex: 5,
      nodes: [{ key: '/a/b', dir: true, createdIndex: 5, modifiedIndex: 5 }],
    });
    set(t, '/a/d', 2, 6);
    assert.equal(t.get('/a').node.modifiedIndex, 5, 'adding a child does not change a directory');
  });

  test('makes a directory with dir and no value', () => {
    const t = new KeyTree();
    const r = mkdir(t, '/dir', 2);
    assert.deepEqual(r, { action: 'create', node: { key: '/dir', dir: true, createdIndex: 2, modifiedIndex: 2 }, index: 2 });
    assert.deepEqual(t.get('/dir').node, { key: '/dir', dir: true, createdIndex: 2, modifiedIndex: 2, nodes: [] });
  });

  test('lists one level of a directory, showing subdirectories without their children', () => {
    const t = new KeyTree();
    set(t, '/d/x', 'x', 1);
    set(t, '/d/sub/y', 'y', 2);
    const n = t.get('/d', { sorted: true }).node;
    assert.deepEqual(n.nodes, [
      { key: '/d/sub', dir: true, createdIndex: 2, modifiedIndex: 2 },
      { key: '/d/x', value: 'x', createdIndex: 1, modifiedIndex: 1 },
    ]);
  });

  test('lists a directory recursively when asked', () => {
    const t = new KeyTree();
    set(t, '/d/x', 'x', 1);
    set(t, '/d/sub/y', 'y', 2);
    set(t, '/d/sub/deeper/z', 'z', 3);
    const n = t.get('/d', { recursive: true, sorted: true }).node;
    assert.deepEqual(keysOf(n.nodes), ['/d/sub', '/d/sub/deeper', '/d/sub/deeper/z', '/d/sub/y', '/d/x']);
    assert.deepEqual(n.nodes?.[0].nodes?.[1], { key: '/d/sub/y', value: 'y', createdIndex: 2, modifiedIndex: 2 });
  });

  test('sorts listings by key at every level when asked', () => {
    const t = new KeyTree();
    for (const [i, k] of ['/s/c', '/s/a/z', '/s/b', '/s/a/m', '/s/A', '/s/a/a'].entries()) set(t, k, i, i + 1);
    assert.deepEqual(keysOf(t.get('/s', { recursive: true, sorted: true }).node.nodes), [
      '/s/A',
      '/s/a',
      '/s/a/a',
      '/s/a/m',
      '/s/a/z',
      '/s/b',
      '/s/c',
    ]);
  });

  test('sorts keys by their UTF-8 bytes, as etcd (Go string order) does', () => {
    // U+FF21 is EF BC A1 in UTF-8 and U+1F600 is F0 9F 98 80: Go puts U+FF21
    // first; comparing UTF-16 code units (0xFF21 vs the surrogate 0xD83D)
    // puts the emoji first.
    const t = new KeyTree();
    set(t, '/s/\u{1F600}', 1, 1);
    set(t, '/s/\uFF21', 2, 2);
    assert.deepEqual(keysOf(t.get('/s', { sorted: true }).node.nodes), ['/s/\uFF21', '/s/\u{1F600}']);
  });

  test('leaves keys starting with _ out of listings, recursive ones too, but reads them directly', () => {
    const t = new KeyTree();
    set(t, '/_hidden', 'h', 1);
    set(t, '/visible/_secret', 's', 2);
    set(t, '/visible/open', 'o', 3);
    set(t, '/_hdir/inside', 'i', 4);
    set(t, '/visible/a_b', 'ab', 5);
    assert.deepEqual(keysOf(t.get('/', { recursive: true, sorted: true }).node.nodes), ['/visible', '/visible/a_b', '/visible/open']);
    assert.deepEqual(keysOf(t.get('/visible', { sorted: true }).node.nodes), ['/visible/a_b', '/visible/open']);
    assert.equal(t.get('/_hidden').node.value, 'h');
    assert.equal(t.get('/visible/_secret').node.value, 's');
    assert.deepEqual(keysOf(t.get('/_hdir').node.nodes), ['/_hdir/inside']);
  });

  test('reads a missing key as 100 with the key as cause and the store index', () => {
    const t = new KeyTree();
    set(t, '/a', 1, 3);
    throwsKvError(() => t.get('/nope'), { errorCode: KvErrorCode.KeyNotFound, cause: '/nope', index: 3 });
    throwsKvError(() => t.get('/a/../nope/'), { errorCode: KvErrorCode.KeyNotFound, cause: '/nope', index: 3 });
  });

  test('counts values and directories (not the root) in size', () => {
    const t = new KeyTree();
    assert.equal(t.size, 0);
    set(t, '/a/b/c', 1, 1);
    assert.equal(t.size, 3);
    set(t, '/a/b/c', 2, 2);
    assert.equal(t.size, 3);
    applyOk(t, { op: 'delete', key: '/a', recursive: true, now: T0 }, 3);
    assert.equal(t.size, 0);
  });
});

describe('create, update and the refusals', () => {
  test('creates a key that does not exist with action create and no prevNode', () => {
    const t = new KeyTree();
    const r = applyOk(t, { op: 'create', key: '/queue/job', value: 'j', now: T0 }, 4);
    assert.deepEqual(r, { action: 'create', node: { key: '/queue/job', value: 'j', createdIndex: 4, modifiedIndex: 4 }, index: 4 });
  });

  test('refuses to create an existing value or directory with 105 naming the key', () => {
    const t = new KeyTree();
    set(t, '/f', 1, 1);
    mkdir(t, '/d', 2);
    applyErr(t, { op: 'create', key: '/f', value: 2, now: T0 }, 3, { errorCode: KvErrorCode.NodeExist, cause: '/f', index: 2 });
    applyErr(t, { op: 'create', key: '/d/', dir: true, now: T0 }, 3, { errorCode: KvErrorCode.NodeExist, cause: '/d', index: 2 });
    applyErr(t, { op: 'create', key: '/d', value: 'v', now: T0 }, 3, { errorCode: KvErrorCode.NodeExist, cause: '/d', index: 2 });
    assert.equal(t.get('/f').node.value, 1);
  });

  test('refuses to update a missing key with 100', () => {
    const t = new KeyTree();
    set(t, '/other', 1, 1);
    applyErr(t, { op: 'update', key: '/missing', value: 1, now: T0 }, 2, { errorCode: KvErrorCode.KeyNotFound, cause: '/missing', index: 1 });
  });

  test('updates a value keeping createdIndex and moving modifiedIndex to the command index', () => {
    const t = new KeyTree();
    set(t, '/k', 'one', 2);
    const r = applyOk(t, { op: 'update', key: '/k', value: 'two', now: T0 }, 6);
    assert.deepEqual(r, {
      action: 'update',
      node: { key: '/k', value: 'two', createdIndex: 2, modifiedIndex: 6 },
      prevNode: { key: '/k', value: 'one', createdIndex: 2, modifiedIndex: 2 },
      index: 6,
    });
    assert.deepEqual(t.get('/k').node, r.node);
    assert.equal(t.index, 6);
  });

  test('refuses to update a directory with a value with 102', () => {
    const t = new KeyTree();
    mkdir(t, '/d', 1);
    applyErr(t, { op: 'update', key: '/d', value: 'v', now: T0 }, 2, { errorCode: KvErrorCode.NotFile, cause: '/d', index: 1 });
  });

  test('updates the TTL of a directory when no value is given', () => {
    const t = new KeyTree();
    mkdir(t, '/d', 1);
    const r = applyOk(t, { op: 'update', key: '/d', ttl: 10, now: T0 }, 2);
    assert.equal(r.action, 'update');
    assert.equal(r.node.dir, true);
    assert.equal(r.node.ttl, 10);
    assert.equal(r.node.createdIndex, 1);
    assert.equal(r.node.modifiedIndex, 2);
  });

  test('refuses to set a value or a directory over a directory with 102', () => {
    const t = new KeyTree();
    set(t, '/d/child', 1, 1);
    applyErr(t, { op: 'set', key: '/d', value: 'v', now: T0 }, 2, { errorCode: KvErrorCode.NotFile, cause: '/d', index: 1 });
    applyErr(t, { op: 'set', key: '/d', dir: true, now: T0 }, 2, { errorCode: KvErrorCode.NotFile, cause: '/d', index: 1 });
    assert.equal(t.get('/d/child').node.value, 1);
  });

  test('sets a directory over a value, as etcd replaces a file', () => {
    const t = new KeyTree();
    set(t, '/f', 'v', 1);
    const r = applyOk(t, { op: 'set', key: '/f', dir: true, now: T0 }, 2);
    assert.deepEqual(r, {
      action: 'set',
      node: { key: '/f', dir: true, createdIndex: 2, modifiedIndex: 2 },
      prevNode: { key: '/f', value: 'v', createdIndex: 1, modifiedIndex: 1 },
      index: 2,
    });
  });

  test('refuses a write below a value with 104 naming the value', () => {
    const t = new KeyTree();
    set(t, '/a/file', 'v', 1);
    applyErr(t, { op: 'set', key: '/a/file/x', value: 1, now: T0 }, 2, { errorCode: KvErrorCode.NotDir, cause: '/a/file', index: 1 });
    applyErr(t, { op: 'set', key: '/a/file/x/y', value: 1, now: T0 }, 2, { errorCode: KvErrorCode.NotDir, cause: '/a/file', index: 1 });
    applyErr(t, { op: 'create', key: '/a/file/x', dir: true, now: T0 }, 2, { errorCode: KvErrorCode.NotDir, cause: '/a/file', index: 1 });
    applyErr(t, { op: 'create', key: '/a/file', inOrder: true, value: 1, now: T0 }, 2, {
      errorCode: KvErrorCode.NotDir,
      cause: '/a/file',
      index: 1,
    });
    assert.equal(t.size, 2);
  });

  test("refuses reads and changes below a value with 104 naming the value, as etcd's internalGet does", () => {
    // store.go internalGet: walking into a node that is not a directory is
    // EcodeNotDir with the parent's path, for Get, Update, CompareAndSwap,
    // Delete and CompareAndDelete alike.
    const t = new KeyTree();
    set(t, '/a', 'v', 1);
    const want = { errorCode: KvErrorCode.NotDir, cause: '/a', index: 1 } as const;
    throwsKvError(() => t.get('/a/b'), want);
    applyErr(t, { op: 'update', key: '/a/b', value: 1, now: T0 }, 2, want);
    applyErr(t, { op: 'compareAndSwap', key: '/a/b', value: 1, prevValue: 'v', now: T0 }, 2, want);
    applyErr(t, { op: 'delete', key: '/a/b', now: T0 }, 2, want);
    applyErr(t, { op: 'compareAndDelete', key: '/a/b', prevValue: 'v', now: T0 }, 2, want);
  });

  test("names the first missing ancestor as the cause of 100, as etcd's internalGet does", () => {
    // store.go internalGet: EcodeKeyNotFound with path.Join(parent.Path, name)
    // for the first component that is missing.
    const t = new KeyTree();
    set(t, '/x/exists', 1, 1);
    throwsKvError(() => t.get('/missing/b/c'), { errorCode: KvErrorCode.KeyNotFound, cause: '/missing' });
    throwsKvError(() => t.get('/x/missing/c'), { errorCode: KvErrorCode.KeyNotFound, cause: '/x/missing' });
    applyErr(t, { op: 'delete', key: '/x/missing/c', now: T0 }, 2, { errorCode: KvErrorCode.KeyNotFound, cause: '/x/missing' });
  });

  test('refuses to change the root with 107', () => {
    const t = new KeyTree();
    set(t, '/a', 1, 1);
    const want = { errorCode: KvErrorCode.RootReadOnly, cause: '/', index: 1 } as const;
    const cmds: Command[] = [
      { op: 'set', key: '/', value: 1, now: T0 },
      { op: 'set', key: '//./', dir: true, now: T0 },
      { op: 'create', key: '/', dir: true, now: T0 },
      { op: 'update', key: '/', value: 1, now: T0 },
      { op: 'update', key: '/', ttl: 5, now: T0 },
      { op: 'compareAndSwap', key: '/', value: 1, prevIndex: 0, now: T0 },
      { op: 'delete', key: '/', now: T0 },
      { op: 'delete', key: '/', recursive: true, now: T0 },
    ];
    for (const c of cmds) applyErr(t, c, 2, want);
    assert.equal(t.get('/a').node.value, 1);
  });

  test('refuses compare-and-delete of the root with 102, as etcd (which has no root check there) does', () => {
    // store.go CompareAndDelete has no readonlySet check: internalGet("/")
    // returns the root, a directory, so the answer is EcodeNotFile for "/".
    const t = new KeyTree();
    applyErr(t, { op: 'compareAndDelete', key: '/', prevValue: 'x', now: T0 }, 1, { errorCode: KvErrorCode.NotFile, cause: '/', index: 0 });
  });

  test('creates in order under the root too', () => {
    const t = new KeyTree();
    assert.equal(applyOk(t, { op: 'create', key: '/', inOrder: true, value: 'v', now: T0 }, 3).node.key, '/00000000000000000003');
  });

  test('keeps the store index and the tree unchanged when a command is refused', () => {
    const t = new KeyTree();
    set(t, '/a', 1, 5);
    const before = t.get('/', { recursive: true, sorted: true });
    const e = applyErr(t, { op: 'create', key: '/a', value: 2, now: T0 }, 6, { errorCode: KvErrorCode.NodeExist, index: 5 });
    assert.equal(e.message, 'Key already exists');
    assert.equal(t.index, 5);
    assert.deepEqual(t.get('/', { recursive: true, sorted: true }), before);
    assert.equal(t.history.events().length, 1);
  });
});

describe('compare-and-swap', () => {
  function tree(): KeyTree {
    const t = new KeyTree();
    set(t, '/foo', 'one', 3);
    return t;
  }

  test('swaps when prevValue matches, keeping createdIndex', () => {
    const t = tree();
    const r = applyOk(t, { op: 'compareAndSwap', key: '/foo', value: 'two', prevValue: 'one', now: T0 }, 8);
    assert.deepEqual(r, {
      action: 'compareAndSwap',
      node: { key: '/foo', value: 'two', createdIndex: 3, modifiedIndex: 8 },
      prevNode: { key: '/foo', value: 'one', createdIndex: 3, modifiedIndex: 3 },
      index: 8,
    });
    assert.equal(t.get('/foo').node.value, 'two');
  });

  test('swaps when prevIndex matches', () => {
    const t = tree();
    assert.equal(applyOk(t, { op: 'compareAndSwap', key: '/foo', value: 'two', prevIndex: 3, now: T0 }, 4).node.value, 'two');
  });

  test('fails with 101 [two != one] when the value differs', () => {
    const t = tree();
    const e = applyErr(t, { op: 'compareAndSwap', key: '/foo', value: 'three', prevValue: 'two', now: T0 }, 4, {
      errorCode: KvErrorCode.TestFailed,
      cause: '[two != one]',
      index: 3,
    });
    assert.equal(e.message, 'Compare failed');
    assert.equal(t.get('/foo').node.value, 'one');
  });

  test('fails with 101 [5 != 3] when the index differs', () => {
    const t = tree();
    applyErr(t, { op: 'compareAndSwap', key: '/foo', value: 'three', prevIndex: 5, now: T0 }, 4, {
      errorCode: KvErrorCode.TestFailed,
      cause: '[5 != 3]',
      index: 3,
    });
  });

  test('fails with 101 naming both comparisons when both differ', () => {
    const t = tree();
    applyErr(t, { op: 'compareAndSwap', key: '/foo', value: 'three', prevValue: 'two', prevIndex: 5, now: T0 }, 4, {
      errorCode: KvErrorCode.TestFailed,
      cause: '[two != one] [5 != 3]',
      index: 3,
    });
  });

  test('fails when one of two given comparisons differs', () => {
    const t = tree();
    applyErr(t, { op: 'compareAndSwap', key: '/foo', value: 'x', prevValue: 'one', prevIndex: 4, now: T0 }, 4, {
      errorCode: KvErrorCode.TestFailed,
      cause: '[4 != 3]',
    });
    applyErr(t, { op: 'compareAndSwap', key: '/foo', value: 'x', prevValue: 'two', prevIndex: 3, now: T0 }, 4, {
      errorCode: KvErrorCode.TestFailed,
      cause: '[two != one]',
    });
  });

  test('compares structured values by content and prints them as JSON in the cause', () => {
    const t = new KeyTree();
    set(t, '/o', { a: [1, 2], b: 'x' }, 1);
    set(t, '/bytes', new Uint8Array([1, 2, 3]), 2);
    applyOk(t, { op: 'compareAndSwap', key: '/o', value: 5, prevValue: { b: 'x', a: [1, 2] }, now: T0 }, 3);
    applyErr(t, { op: 'compareAndSwap', key: '/o', value: 6, prevValue: { n: 1 }, now: T0 }, 4, {
      errorCode: KvErrorCode.TestFailed,
      cause: '[{"n":1} != 5]',
    });
    applyOk(t, { op: 'compareAndSwap', key: '/bytes', value: 'b', prevValue: new Uint8Array([1, 2, 3]), now: T0 }, 4);
  });

  test('refuses compare-and-swap on a directory with 102 and on a missing key with 100', () => {
    const t = new KeyTree();
    mkdir(t, '/d', 1);
    applyErr(t, { op: 'compareAndSwap', key: '/d', value: 'v', prevIndex: 1, now: T0 }, 2, { errorCode: KvErrorCode.NotFile, cause: '/d', index: 1 });
    applyErr(t, { op: 'compareAndSwap', key: '/nope', value: 'v', prevValue: 'x', now: T0 }, 2, {
      errorCode: KvErrorCode.KeyNotFound,
      cause: '/nope',
      index: 1,
    });
  });

  test('sets a TTL with the swap, or clears one when none is given', () => {
    const t = new KeyTree();
    set(t, '/k', 'a', 1, { ttl: 5 });
    const r = applyOk(t, { op: 'compareAndSwap', key: '/k', value: 'b', prevValue: 'a', ttl: 30, now: T0 }, 2);
    assert.equal(r.node.ttl, 30);
    const r2 = applyOk(t, { op: 'compareAndSwap', key: '/k', value: 'c', prevValue: 'b', now: T0 }, 3);
    assert.equal(r2.node.ttl, undefined);
    assert.deepEqual(applyExpire(t, T0 + 60_000, 4), []);
  });
});

describe('delete and compare-and-delete', () => {
  test('deletes a value, reporting a node at the deletion index and the old node as prevNode', () => {
    const t = new KeyTree();
    set(t, '/k', 'v', 2);
    const r = applyOk(t, { op: 'delete', key: '/k', now: T0 }, 5);
    assert.deepEqual(r, {
      action: 'delete',
      node: { key: '/k', createdIndex: 2, modifiedIndex: 5 },
      prevNode: { key: '/k', value: 'v', createdIndex: 2, modifiedIndex: 2 },
      index: 5,
    });
    assert.equal(t.has('/k'), false);
    assert.equal(t.index, 5);
  });

  test('deletes a value when the dir flag is given too', () => {
    const t = new KeyTree();
    set(t, '/k', 'v', 1);
    applyOk(t, { op: 'delete', key: '/k', dir: true, now: T0 }, 2);
    assert.equal(t.has('/k'), false);
  });

  test('refuses to delete a directory without the dir flag with 102', () => {
    const t = new KeyTree();
    mkdir(t, '/d', 1);
    applyErr(t, { op: 'delete', key: '/d', now: T0 }, 2, { errorCode: KvErrorCode.NotFile, cause: '/d', index: 1 });
  });

  test('refuses to delete a non-empty directory without recursive with 108, hidden children included', () => {
    const t = new KeyTree();
    set(t, '/d/_only_hidden', 1, 1);
    applyErr(t, { op: 'delete', key: '/d', dir: true, now: T0 }, 2, { errorCode: KvErrorCode.DirNotEmpty, cause: '/d', index: 1 });
    assert.equal(t.has('/d/_only_hidden'), true);
  });

  test('deletes an empty directory with the dir flag', () => {
    const t = new KeyTree();
    mkdir(t, '/d', 1);
    const r = applyOk(t, { op: 'delete', key: '/d', dir: true, now: T0 }, 2);
    assert.deepEqual(r, {
      action: 'delete',
      node: { key: '/d', dir: true, createdIndex: 1, modifiedIndex: 2 },
      prevNode: { key: '/d', dir: true, createdIndex: 1, modifiedIndex: 1 },
      index: 2,
    });
  });

  test('deletes a directory and everything below it with recursive (which implies dir)', () => {
    const t = new KeyTree();
    set(t, '/d/a', 1, 1);
    set(t, '/d/sub/b', 2, 2);
    set(t, '/keep', 3, 3);
    const r = applyOk(t, { op: 'delete', key: '/d', recursive: true, now: T0 }, 4);
    assert.equal(r.node.dir, true);
    assert.equal(r.prevNode?.nodes, undefined, 'prevNode is the directory itself, not a listing');
    assert.deepEqual(keysOf(t.get('/', { recursive: true }).node.nodes), ['/keep']);
    assert.equal(t.size, 1);
  });

  test('refuses to delete a missing key with 100', () => {
    const t = new KeyTree();
    applyErr(t, { op: 'delete', key: '/nope', now: T0 }, 1, { errorCode: KvErrorCode.KeyNotFound, cause: '/nope', index: 0 });
  });

  test('compare-and-deletes when prevValue or prevIndex matches', () => {
    const t = new KeyTree();
    set(t, '/a', 'one', 1);
    set(t, '/b', 'two', 2);
    const r = applyOk(t, { op: 'compareAndDelete', key: '/a', prevValue: 'one', now: T0 }, 3);
    assert.deepEqual(r, {
      action: 'compareAndDelete',
      node: { key: '/a', createdIndex: 1, modifiedIndex: 3 },
      prevNode: { key: '/a', value: 'one', createdIndex: 1, modifiedIndex: 1 },
      index: 3,
    });
    applyOk(t, { op: 'compareAndDelete', key: '/b', prevIndex: 2, now: T0 }, 4);
    assert.equal(t.size, 0);
  });

  test('refuses compare-and-delete with 101 causes like compare-and-swap', () => {
    const t = new KeyTree();
    set(t, '/foo', 'one', 3);
    applyErr(t, { op: 'compareAndDelete', key: '/foo', prevValue: 'two', now: T0 }, 4, { errorCode: KvErrorCode.TestFailed, cause: '[two != one]' });
    applyErr(t, { op: 'compareAndDelete', key: '/foo', prevIndex: 5, now: T0 }, 4, { errorCode: KvErrorCode.TestFailed, cause: '[5 != 3]' });
    applyErr(t, { op: 'compareAndDelete', key: '/foo', prevValue: 'two', prevIndex: 5, now: T0 }, 4, {
      errorCode: KvErrorCode.TestFailed,
      cause: '[two != one] [5 != 3]',
      index: 3,
    });
    assert.equal(t.get('/foo').node.value, 'one');
  });

  test('refuses compare-and-delete of a directory with 102', () => {
    const t = new KeyTree();
    mkdir(t, '/d', 1);
    applyErr(t, { op: 'compareAndDelete', key: '/d', prevIndex: 1, now: T0 }, 2, { errorCode: KvErrorCode.NotFile, cause: '/d' });
  });
});

describe('in-order create', () => {
  test('names the child by the Raft index, zero-padded to 20 digits', () => {
    const t = new KeyTree();
    const r = applyOk(t, { op: 'create', key: '/queue', inOrder: true, value: 'Job1', now: T0 }, 6);
    assert.deepEqual(r, {
      action: 'create',
      node: { key: '/queue/00000000000000000006', value: 'Job1', createdIndex: 6, modifiedIndex: 6 },
      index: 6,
    });
    const big = applyOk(t, { op: 'create', key: '/queue/', inOrder: true, value: 'Job2', now: T0 }, 123456789012);
    assert.equal(big.node.key, '/queue/00000000123456789012');
  });

  test('lists in-order children in creation order when sorted', () => {
    const t = new KeyTree();
    for (const i of [9, 10, 99, 100, 1000]) applyOk(t, { op: 'create', key: '/q', inOrder: true, value: i, now: T0 }, i);
    const values = (t.get('/q', { sorted: true }).node.nodes ?? []).map((n) => n.value);
    assert.deepEqual(values, [9, 10, 99, 100, 1000]);
  });

  test('creates an in-order directory with dir', () => {
    const t = new KeyTree();
    const r = applyOk(t, { op: 'create', key: '/q', inOrder: true, dir: true, now: T0 }, 2);
    assert.deepEqual(r.node, { key: '/q/00000000000000000002', dir: true, createdIndex: 2, modifiedIndex: 2 });
  });
});

describe('TTL', () => {
  test('reports the expiration and the seconds left, rounded up', () => {
    const t = new KeyTree();
    const r = set(t, '/k', 'v', 1, { ttl: 5 });
    assert.equal(r.node.expiration, new Date(T0 + 5000).toISOString());
    assert.equal(Date.parse(r.node.expiration ?? ''), T0 + 5000);
    assert.equal(r.node.ttl, 5);
    assert.equal(t.get('/k', {}, T0 + 1).node.ttl, 5);
    assert.equal(t.get('/k', {}, T0 + 3999).node.ttl, 2);
    assert.equal(t.get('/k', {}, T0 + 4000).node.ttl, 1);
    assert.equal(t.get('/k', {}, T0 + 4999).node.ttl, 1);
    const permanent = set(t, '/p', 'v', 2);
    assert.equal('ttl' in permanent.node, false);
    assert.equal('expiration' in permanent.node, false);
  });

  test('shows TTLs in listings', () => {
    const t = new KeyTree();
    set(t, '/d/k', 'v', 1, { ttl: 7 });
    assert.equal(t.get('/d', {}, T0).node.nodes?.[0].ttl, 7);
    assert.equal(t.get('/', { recursive: true }, T0 + 2500).node.nodes?.[0].nodes?.[0].ttl, 5);
  });

  test('treats an expiration before 2000-01-01 as permanent, as etcd does', () => {
    const t = new KeyTree();
    const r = set(t, '/old', 'v', 1, { ttl: 5, now: 1000 });
    assert.equal(r.node.ttl, undefined);
    assert.deepEqual(applyExpire(t, T0, 2), []);
  });

  test('does not expire a key from the clock: only an expire command removes it', () => {
    const t = new KeyTree();
    set(t, '/k', 'v', 1, { ttl: 1 });
    assert.equal(t.get('/k', {}, T0 + 60_000).node.value, 'v');
    assert.equal(t.nextExpiry(), T0 + 1000);
  });

  test('removes the first due key per command, each expiry at its own command index', () => {
    const t = new KeyTree();
    set(t, '/a', 'a', 1, { ttl: 1 });
    set(t, '/b', 'b', 2, { ttl: 2 });
    set(t, '/c', 'c', 3, { ttl: 3 });
    set(t, '/p', 'p', 4);
    assert.equal(t.dueCount(T0 + 2000, 100), 2);
    assert.equal(t.dueCount(T0 + 2000, 1), 1, 'bounded by the limit');
    assert.deepEqual(applyExpire(t, T0 + 2000, 10), [
      {
        action: 'expire',
        node: { key: '/a', createdIndex: 1, modifiedIndex: 10 },
        prevNode: { key: '/a', value: 'a', createdIndex: 1, modifiedIndex: 1, expiration: new Date(T0 + 1000).toISOString(), ttl: -1 },
        index: 10,
      },
    ]);
    assert.deepEqual(applyExpire(t, T0 + 2000, 11), [
      {
        action: 'expire',
        node: { key: '/b', createdIndex: 2, modifiedIndex: 11 },
        prevNode: { key: '/b', value: 'b', createdIndex: 2, modifiedIndex: 2, expiration: new Date(T0 + 2000).toISOString(), ttl: 0 },
        index: 11,
      },
    ]);
    assert.deepEqual(applyExpire(t, T0 + 2000, 12), [], '/c is not due yet');
    assert.equal(t.dueCount(T0 + 2000, 100), 0);
    assert.equal(t.index, 11);
    assert.deepEqual(keysOf(t.get('/', { sorted: true }).node.nodes), ['/c', '/p']);
    assert.deepEqual(
      t.history.events().slice(-2).map((e) => [e.action, e.node.key, e.index]),
      [
        ['expire', '/a', 10],
        ['expire', '/b', 11],
      ],
    );
    assert.equal(t.nextExpiry(), T0 + 3000);
  });

  test('leaves the store index unchanged when nothing is due', () => {
    const t = new KeyTree();
    set(t, '/a', 'a', 4, { ttl: 10 });
    assert.deepEqual(applyExpire(t, T0 + 9999, 5), []);
    assert.equal(t.index, 4);
    assert.equal(t.history.events().length, 1);
  });

  test('expires a directory with everything below it in one event', () => {
    const t = new KeyTree();
    mkdir(t, '/d', 1, { ttl: 2 });
    set(t, '/d/a', 'a', 2);
    set(t, '/d/sub/b', 'b', 3, { ttl: 100 });
    const evs = applyExpire(t, T0 + 2000, 4);
    assert.deepEqual(
      evs.map((e) => [e.action, e.node.key, e.node.dir, e.index]),
      [['expire', '/d', true, 4]],
    );
    assert.equal(t.has('/d'), false);
    assert.equal(t.size, 0);
    assert.deepEqual(applyExpire(t, T0 + 200_000, 5), [], 'the child TTL went with the directory');
    assert.equal(t.nextExpiry(), undefined);
  });

  test('expires a child before its directory when the child is due first', () => {
    const t = new KeyTree();
    mkdir(t, '/d', 1, { ttl: 3 });
    set(t, '/d/a', 'a', 2, { ttl: 1 });
    assert.deepEqual(
      applyExpire(t, T0 + 5000, 3).map((e) => e.node.key),
      ['/d/a'],
    );
    assert.deepEqual(
      applyExpire(t, T0 + 5000, 4).map((e) => e.node.key),
      ['/d'],
    );
  });

  test('refreshes a TTL without changing the value and without an event in the history', () => {
    const t = new KeyTree();
    set(t, '/k', 'v', 1, { ttl: 5 });
    const r = applyOk(t, { op: 'update', key: '/k', refresh: true, ttl: 10, now: T0 + 3000 }, 2);
    assert.equal(r.node.value, 'v');
    assert.equal(r.node.ttl, 10);
    assert.equal(t.get('/k', {}, T0 + 3000).node.expiration, new Date(T0 + 13_000).toISOString());
    assert.deepEqual(
      t.history.events().map((e) => e.index),
      [1],
    );
    assert.deepEqual(t.history.scan('/k', false, 2, t.index), []);
    assert.deepEqual(applyExpire(t, T0 + 12_999, 3), [], 'the old deadline has passed');
    assert.deepEqual(
      applyExpire(t, T0 + 13_000, 4).map((e) => e.node.key),
      ['/k'],
    );
  });

  test('refreshes with compare-and-swap too, keeping the value', () => {
    const t = new KeyTree();
    set(t, '/k', 'v', 1, { ttl: 5 });
    const r = applyOk(t, { op: 'compareAndSwap', key: '/k', refresh: true, prevValue: 'v', ttl: 20, now: T0 }, 2);
    assert.equal(r.node.value, 'v');
    assert.equal(r.node.ttl, 20);
    assert.equal(t.history.events().length, 1);
  });

  test('makes a key permanent when updated without a TTL', () => {
    const t = new KeyTree();
    set(t, '/k', 'v', 1, { ttl: 5 });
    const r = applyOk(t, { op: 'update', key: '/k', value: 'w', now: T0 }, 2);
    assert.equal(r.node.ttl, undefined);
    assert.equal(r.prevNode?.ttl, 5);
    assert.deepEqual(applyExpire(t, T0 + 60_000, 3), []);
    assert.equal(t.get('/k').node.value, 'w');
  });

  test('makes a key permanent when set again without a TTL', () => {
    const t = new KeyTree();
    set(t, '/k', 'v', 1, { ttl: 5 });
    set(t, '/k', 'w', 2);
    assert.deepEqual(applyExpire(t, T0 + 60_000, 3), []);
    assert.equal(t.nextExpiry(), undefined);
  });

  test('expires a key recreated after a delete at its new deadline only', () => {
    const t = new KeyTree();
    set(t, '/k', 'old', 1, { ttl: 1 });
    applyOk(t, { op: 'delete', key: '/k', now: T0 }, 2);
    set(t, '/k', 'new', 3, { ttl: 5, now: T0 + 500 });
    assert.deepEqual(applyExpire(t, T0 + 1000, 4), []);
    assert.equal(t.get('/k').node.value, 'new');
    assert.deepEqual(
      applyExpire(t, T0 + 5500, 5).map((e) => e.prevNode?.value),
      ['new'],
    );
  });

  test('expires keys sharing an expiration time in the same order after a snapshot restore', () => {
    // Replicas must agree on the events of an expire command. A restored
    // replica (or a new member catching up from a snapshot) builds its TTL
    // heap in tree order, the original in write order.
    const t = new KeyTree();
    set(t, '/a', 1, 1, { ttl: 1 });
    set(t, '/b', 1, 2, { ttl: 1 });
    set(t, '/a', 2, 3, { ttl: 1 });
    const restored = new KeyTree();
    restored.restore(viaMsgpack(t.toSnapshot()));
    const a = applyExpire(t, T0 + 1000, 4).map((e) => e.node.key);
    const b = applyExpire(restored, T0 + 1000, 4).map((e) => e.node.key);
    assert.deepEqual(b, a);
  });

  test('gives the same expire events whether or not nextExpiry was called (the leader calls it, followers do not)', () => {
    const cmds: Command[] = [
      { op: 'set', key: '/a', value: 1, ttl: 1, now: T0 },
      { op: 'set', key: '/e', value: 1, ttl: 1, now: T0 },
      { op: 'delete', key: '/a', now: T0 },
      { op: 'set', key: '/c', value: 1, ttl: 1, now: T0 },
      { op: 'set', key: '/d', value: 1, ttl: 1, now: T0 },
      { op: 'delete', key: '/e', now: T0 },
      { op: 'set', key: '/a', value: 1, ttl: 1, now: T0 },
    ];
    const leader = new KeyTree();
    const follower = new KeyTree();
    cmds.forEach((c, i) => {
      leader.apply(c, i + 1);
      leader.nextExpiry();
      follower.apply(c, i + 1);
    });
    const a = applyExpire(leader, T0 + 5000, 8).map((e) => e.node.key);
    const b = applyExpire(follower, T0 + 5000, 8).map((e) => e.node.key);
    assert.deepEqual(a, b);
  });

  test('reports the earliest pending expiration, skipping keys that are gone', () => {
    const t = new KeyTree();
    assert.equal(t.nextExpiry(), undefined);
    set(t, '/a', 1, 1, { ttl: 1 });
    set(t, '/b', 1, 2, { ttl: 3 });
    assert.equal(t.nextExpiry(), T0 + 1000);
    applyOk(t, { op: 'delete', key: '/a', now: T0 }, 3);
    assert.equal(t.nextExpiry(), T0 + 3000);
  });
});

describe('values of any msgpack type', () => {
  const values: [string, unknown][] = [
    ['a string', 'hello'],
    ['an empty string', ''],
    ['an integer', 42],
    ['a negative float', -1.5],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER],
    ['true', true],
    ['false', false],
    ['null', null],
    ['an object', { name: 'web', port: 8080, tags: ['a', 'b'] }],
    ['an array', [1, 'two', { three: 3 }, [4]]],
    ['bytes', new Uint8Array([0, 1, 254, 255])],
    ['nested structures with bytes', { level1: { level2: [{ raw: new Uint8Array([9, 8, 7]) }, null, false] } }],
  ];
  for (const [name, value] of values) {
    test(`keeps ${name} through set, get and a snapshot restore`, () => {
      const t = new KeyTree();
      const r = set(t, '/v', value, 1);
      assert.deepEqual(canon(r.node.value), canon(value));
      assert.deepEqual(canon(t.get('/v').node.value), canon(value));
      const restored = new KeyTree();
      restored.restore(viaMsgpack(t.toSnapshot()));
      assert.deepEqual(canon(restored.get('/v').node.value), canon(value));
    });
  }

  test('freezes stored values, so changing a value read from the tree throws', () => {
    const t = new KeyTree();
    set(t, '/o', { list: [1, 2], inner: { x: 1 } }, 1);
    const v = t.get('/o').node.value as { list: number[]; inner: { x: number } };
    assert.throws(() => {
      v.inner.x = 2;
    }, TypeError);
    assert.throws(() => v.list.push(3), TypeError);
    assert.throws(() => {
      (v as Record<string, unknown>).added = true;
    }, TypeError);
    assert.deepEqual(t.get('/o').node.value, { list: [1, 2], inner: { x: 1 } });
  });

  test('freezes apply results, so a caller cannot rewrite what the history serves to watchers', () => {
    const t = new KeyTree();
    const r = set(t, '/k', 'v', 1);
    try {
      (r.node as { key: string }).key = '/changed';
    } catch {
      // Expected: the node is frozen.
    }
    assert.equal(t.history.scan('/k', false, 1, t.index)[0]?.node.key, '/k', 'the history kept its own event');
    assert.ok(Object.isFrozen(r), 'the event is frozen');
    assert.ok(Object.isFrozen(r.node), 'its node is frozen');
  });
});

describe('event history', () => {
  function sample(): KeyTree {
    const t = new KeyTree();
    set(t, '/foo', 'a', 1);
    set(t, '/foo/../bar', 'b', 2);
    set(t, '/dir/x', 'x', 3);
    set(t, '/dir/_hidden', 'h', 4);
    applyOk(t, { op: 'update', key: '/foo', value: 'a2', now: T0 }, 5);
    set(t, '/dir/sub/y', 'y', 6);
    applyOk(t, { op: 'delete', key: '/dir', recursive: true, now: T0 }, 7);
    return t;
  }
  const scanned = (t: KeyTree, key: string, recursive: boolean, since: number): [string, string, number][] =>
    t.history.scan(key, recursive, since, t.index).map((e) => [e.action, e.node.key, e.index]);

  test('serves the events of a key at or after waitIndex, oldest first', () => {
    const t = sample();
    assert.deepEqual(scanned(t, '/foo', false, 1), [
      ['set', '/foo', 1],
      ['update', '/foo', 5],
    ]);
    assert.deepEqual(scanned(t, '/foo', false, 2), [['update', '/foo', 5]]);
    assert.deepEqual(scanned(t, '/foo', false, 6), []);
    assert.deepEqual(scanned(t, '/foo', false, 100), []);
  });

  test('serves events below the key to recursive watchers only, without hidden keys', () => {
    const t = sample();
    assert.deepEqual(scanned(t, '/dir', true, 1), [
      ['set', '/dir/x', 3],
      ['set', '/dir/sub/y', 6],
      ['delete', '/dir', 7],
    ]);
    assert.deepEqual(scanned(t, '/dir', false, 1), [['delete', '/dir', 7]]);
    assert.deepEqual(scanned(t, '/', true, 6), [
      ['set', '/dir/sub/y', 6],
      ['delete', '/dir', 7],
    ]);
    assert.deepEqual(scanned(t, '/dir/_hidden', false, 1), [
      ['set', '/dir/_hidden', 4],
      ['delete', '/dir', 7],
    ]);
  });

  test('serves the deletion of a directory to watchers of keys inside it', () => {
    const t = sample();
    assert.deepEqual(scanned(t, '/dir/sub/y', false, 7), [['delete', '/dir', 7]]);
    assert.deepEqual(scanned(t, '/dir/x', true, 4), [['delete', '/dir', 7]]);
    assert.deepEqual(scanned(t, '/dirx', true, 1), [], 'a sibling sharing the prefix is not inside');
  });

  test('serves the expiry of a directory to watchers of keys inside it', () => {
    const t = new KeyTree();
    mkdir(t, '/lease', 1, { ttl: 1 });
    set(t, '/lease/holder', 'me', 2);
    applyExpire(t, T0 + 1000, 3);
    assert.deepEqual(scanned(t, '/lease/holder', false, 3), [['expire', '/lease', 3]]);
  });

  test('keeps refused commands out of the history', () => {
    const t = new KeyTree();
    set(t, '/a', 1, 1);
    t.apply({ op: 'create', key: '/a', value: 2, now: T0 }, 2);
    t.apply({ op: 'delete', key: '/nope', now: T0 }, 3);
    assert.deepEqual(
      t.history.events().map((e) => e.index),
      [1],
    );
  });

  test('keeps the last historySize events', () => {
    const t = new KeyTree({ historySize: 3 });
    for (let i = 1; i <= 7; i++) set(t, `/k${i}`, i, i);
    assert.deepEqual(
      t.history.events().map((e) => e.index),
      [5, 6, 7],
    );
    assert.equal(t.history.startIndex, 5);
  });

  test('answers 401 with the oldest kept index and the requested index once the ring dropped events', () => {
    const t = new KeyTree({ historySize: 3 });
    for (let i = 1; i <= 5; i++) set(t, '/k', i, i * 10);
    throwsKvError(() => t.history.scan('/k', false, 20, t.index), {
      errorCode: KvErrorCode.EventIndexCleared,
      cause: 'the requested history has been cleared [30/20]',
      index: 50,
    });
    throwsKvError(() => t.history.scan('/k', false, 29, t.index), { errorCode: KvErrorCode.EventIndexCleared });
    assert.deepEqual(
      t.history.scan('/k', false, 30, t.index).map((e) => e.index),
      [30, 40, 50],
    );
    assert.equal(new KvError(KvErrorCode.EventIndexCleared, '', 0).message, 'The event in requested index is outdated and cleared');
  });

  test('serves everything kept while the ring has not dropped anything', () => {
    const t = new KeyTree({ historySize: 3 });
    set(t, '/k', 1, 5);
    set(t, '/k', 2, 6);
    assert.deepEqual(
      t.history.scan('/k', false, 1, t.index).map((e) => e.index),
      [5, 6],
    );
  });

  test('serves everything when the ring is exactly full but has dropped nothing', () => {
    const t = new KeyTree({ historySize: 3 });
    for (const i of [5, 6, 7]) set(t, '/k', i, i);
    assert.deepEqual(
      t.history.scan('/k', false, 1, t.index).map((e) => e.index),
      [5, 6, 7],
    );
  });

  test('a watcher resuming after an expiry (waitIndex = index + 1) misses no other expiry', () => {
    // etcd's v2 clients resume from the last index seen plus one; were two
    // expirations to share an index, the second would be lost to them.
    const t = new KeyTree();
    set(t, '/x', 1, 1, { ttl: 1 });
    set(t, '/y', 1, 2, { ttl: 1 });
    set(t, '/z', 1, 3, { ttl: 1 });
    assert.equal(t.dueCount(T0 + 1000, 10), 3);
    for (const i of [4, 5, 6]) assert.equal(applyExpire(t, T0 + 1000, i).length, 1);
    let from = 4;
    const seen: string[] = [];
    for (;;) {
      const [e] = t.history.scan('/', true, from, t.index);
      if (!e) break;
      seen.push(`${e.node.key}@${e.index}`);
      from = e.index + 1;
    }
    assert.deepEqual(seen, ['/x@4', '/y@5', '/z@6'], 'same-time expiries in key order, one index each');
  });
});

describe('snapshot and restore', () => {
  function busyTree(): KeyTree {
    const t = new KeyTree({ historySize: 5 });
    set(t, '/app/config', { debug: true }, 1);
    set(t, '/app/_internal', 'h', 2);
    mkdir(t, '/locks', 3, { ttl: 30 });
    set(t, '/locks/a', 'holder', 4, { ttl: 10 });
    set(t, '/bytes', new Uint8Array([1, 2, 3]), 5);
    applyOk(t, { op: 'create', key: '/queue', inOrder: true, value: 'job', now: T0 }, 6);
    applyOk(t, { op: 'update', key: '/app/config', value: { debug: false }, ttl: 20, now: T0 }, 8);
    applyOk(t, { op: 'delete', key: '/bytes', now: T0 }, 9);
    return t;
  }

  test('gives identical listings, store index, size and history', () => {
    const t = busyTree();
    const r = new KeyTree({ historySize: 5 });
    r.restore(viaMsgpack(t.toSnapshot()));
    assert.equal(r.index, t.index);
    assert.equal(r.size, t.size);
    for (const key of ['/', '/app', '/app/_internal', '/locks', '/queue']) {
      assert.deepEqual(canon(r.get(key, { recursive: true, sorted: true }, T0 + 1234)), canon(t.get(key, { recursive: true, sorted: true }, T0 + 1234)));
    }
    assert.deepEqual(canon(r.history.events()), canon(t.history.events()));
    assert.deepEqual(canon(r.history.scan('/', true, 5, r.index)), canon(t.history.scan('/', true, 5, t.index)));
    throwsKvError(() => r.history.scan('/', true, 3, r.index), { errorCode: KvErrorCode.EventIndexCleared });
    assert.equal(r.nextExpiry(), t.nextExpiry());
  });

  test('continues exactly like the original: the same TTL expirations and changes at the same indexes', () => {
    const t = busyTree();
    const r = new KeyTree({ historySize: 5 });
    r.restore(viaMsgpack(t.toSnapshot()));
    const next: Command[] = [
      { op: 'expire', now: T0 + 10_000 },
      { op: 'set', key: '/app/config', value: 1, now: T0 + 10_000 },
      { op: 'expire', now: T0 + 30_000 },
      { op: 'create', key: '/queue', inOrder: true, value: 'job2', now: T0 + 30_000 },
      { op: 'delete', key: '/app', now: T0 + 30_000 },
    ];
    next.forEach((c, i) => assert.deepEqual(canon(r.apply(c, 10 + i)), canon(t.apply(c, 10 + i)), `command ${i} (${c.op})`));
    assert.deepEqual(canon(r.get('/', { recursive: true, sorted: true })), canon(t.get('/', { recursive: true, sorted: true })));
    assert.deepEqual(canon(r.history.events()), canon(t.history.events()));
  });

  test('replaces everything the tree held before', () => {
    const t = busyTree();
    const r = new KeyTree({ historySize: 5 });
    set(r, '/stale', 'x', 100, { ttl: 1 });
    r.restore(viaMsgpack(t.toSnapshot()));
    assert.equal(r.has('/stale'), false);
    assert.equal(r.index, 9);
    assert.deepEqual(
      applyExpire(r, T0 + 5000, 10).map((e) => e.node.key),
      [],
      'the TTL of a key from before the restore is gone',
    );
  });

  test('restores an empty tree', () => {
    const r = new KeyTree();
    set(r, '/x', 1, 1);
    r.restore(viaMsgpack(new KeyTree().toSnapshot()));
    assert.deepEqual(r.get('/'), { action: 'get', node: { key: '/', dir: true, createdIndex: 0, modifiedIndex: 0, nodes: [] }, index: 0 });
    assert.equal(r.size, 0);
  });

  test('refuses a snapshot of an unknown version with 300', () => {
    const t = busyTree();
    const bad = { ...t.toSnapshot(), v: 2 } as unknown as Parameters<KeyTree['restore']>[0];
    throwsKvError(() => new KeyTree().restore(bad), { errorCode: KvErrorCode.RaftInternal });
  });
});
