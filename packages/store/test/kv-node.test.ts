// KvNode (kv-node.ts): the tree operations through Raft with etcd v2's
// results and errors, input validation before anything is proposed, reads
// by consistency, TTL expiry decided by the leader, and secondary indexes —
// on a three-member cluster (memory network, manual clock), plus the
// DESIGN.md "fixed surface" example run verbatim on the real clock.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { createMemoryNetwork } from '@kv/raft/testing';

import { createNode, KvError, memberId, type KvEvent, type KvNode } from '../src/index.ts';
import { assertKvError, assertRaftError, consume, StoreCluster, T0 } from './helpers/store-cluster.ts';

describe('the fixed surface', () => {
  test('the DESIGN.md example works as written', async () => {
    const net = createMemoryNetwork({ seed: 1 });
    const initialCluster = { m1: 'mem://m1', m2: 'mem://m2', m3: 'mem://m3' };
    const nodes = await Promise.all(['m1', 'm2', 'm3'].map((name) =>
      createNode({ name, initialCluster, transport: net.transport(name) })));

    const r = await nodes[0].set('/os', 'linux');
    assert.equal(r.action, 'set');
    assert.equal(r.node.key, '/os');
    assert.equal(r.node.value, 'linux');
    assert.equal(r.node.createdIndex, r.index);
    assert.equal(r.node.modifiedIndex, r.index);
    assert.equal(r.prevNode, undefined);
    assert.equal((await nodes[1].get('/os')).node.value, 'linux');
    await nodes[2].delete('/os');
    for (const n of nodes) {
      await assert.rejects(n.get('/os'), (e: unknown) => {
        assert.ok(e instanceof KvError);
        assert.equal(e.errorCode, 100);
        assert.equal(e.message, 'Key not found');
        assert.equal(e.cause, '/os');
        return true;
      });
    }

    const s = nodes[0].status();
    assert.equal(s.id, memberId(['mem://m1'], 'etcd-cluster'));
    assert.equal(s.name, 'm1');
    assert.match(s.id, /^[0-9a-f]{1,16}$/);
    assert.equal(typeof s.version, 'string');
    assert.ok(s.leader !== undefined && nodes.some((n) => n.id === s.leader));
    assert.equal(s.isLeader, s.leader === s.id);
    assert.ok(s.raftTerm >= 2, `a leader was elected after bootstrap, term ${s.raftTerm}`);
    assert.ok(s.raftIndex >= r.index + 1);
    assert.ok(s.appliedIndex >= r.index + 1);
    assert.equal(typeof s.dbSize, 'number');
    for (const n of nodes) assert.equal(n.status().leader, s.leader, `${n.name} agrees on the leader`);

    const members = await nodes[0].members.list();
    assert.equal(members.length, 3);
    assert.equal(members.filter((m) => m.isLeader).length, 1, 'exactly one leader');
    assert.equal(members.find((m) => m.isLeader)!.id, s.leader);
    for (const m of members) {
      assert.deepEqual(Object.keys(m).sort(), ['clientURLs', 'id', 'isLeader', 'isLearner', 'name', 'peerURLs']);
      assert.deepEqual(m.peerURLs, [`mem://${m.name}`]);
      assert.equal(m.id, memberId([`mem://${m.name}`], 'etcd-cluster'));
      assert.equal(m.isLearner, false);
    }
    assert.deepEqual(members.map((m) => m.name).sort(), ['m1', 'm2', 'm3']);

    const ac = new AbortController();
    const signal = ac.signal;
    const seen: KvEvent[] = [];
    let first!: () => void;
    const gotOne = new Promise<void>((resolve) => (first = resolve));
    const loop = (async () => {
      for await (const ev of nodes[0].watch('/jobs', { recursive: true, signal })) {
        seen.push(ev);
        first();
      }
    })();
    const job = await nodes[1].set('/jobs/1', { cmd: 'run' });
    await gotOne;
    ac.abort();
    await loop;
    assert.deepEqual(seen, [job]);

    net.partition(['m1'], ['m2', 'm3']); net.isolate('m2'); net.heal();
    await Promise.all(nodes.map((n) => n.close()));
    for (const n of nodes) assert.equal(n.status().watchers, 0);
  });
});

describe('writes and their errors', () => {
  let c: StoreCluster;
  let leader: KvNode;
  let follower: KvNode;
  before(async () => {
    c = new StoreCluster({ seed: 31 });
    leader = await c.start();
    follower = c.followers()[0];
  });
  after(async () => {
    await c.close();
  });

  test('set writes a value and returns the event; setting it again returns the previous node', async () => {
    const a = await c.run(follower.set('/w/a', 'one'));
    assert.deepEqual(a, { action: 'set', node: { key: '/w/a', value: 'one', createdIndex: a.index, modifiedIndex: a.index }, index: a.index });
    const b = await c.run(leader.set('/w/a', 'two'));
    assert.equal(b.action, 'set');
    assert.ok(b.index > a.index);
    assert.deepEqual(b.node, { key: '/w/a', value: 'two', createdIndex: b.index, modifiedIndex: b.index });
    assert.deepEqual(b.prevNode, a.node);
    // Keys are normalised as etcd does.
    const c2 = await c.run(leader.set('w//b/', 'x'));
    assert.equal(c2.node.key, '/w/b');
  });

  test('create refuses an existing key with 105, and update refuses a missing key with 100', async () => {
    const made = await c.run(leader.create('/cu/k', 'v'));
    assert.equal(made.action, 'create');
    const index = leader.status().storeIndex;
    const exists = await c.fail(follower.create('/cu/k', 'again'));
    assertKvError(exists, 105, '/cu/k');
    assert.equal(exists.message, 'Key already exists');
    assert.equal(exists.index, index);
    const missing = await c.fail(leader.update('/cu/none', 'v'));
    assertKvError(missing, 100, '/cu/none');
    assert.equal(missing.message, 'Key not found');
    const up = await c.run(leader.update('/cu/k', 'w'));
    assert.equal(up.action, 'update');
    assert.equal(up.prevNode?.value, 'v');
    assert.equal(up.node.createdIndex, made.index);
    assert.equal(up.node.modifiedIndex, up.index);
  });

  test('set refuses to replace a directory (102) or to write below a value (104), and the root is read only (107)', async () => {
    await c.run(leader.mkdir('/sd'));
    await c.run(leader.set('/sf', 'file'));
    const notFile = await c.fail(leader.set('/sd', 'x'));
    assertKvError(notFile, 102, '/sd');
    assert.equal(notFile.message, 'Not a file');
    const notDir = await c.fail(leader.set('/sf/child', 'x'));
    assertKvError(notDir, 104, '/sf');
    assert.equal(notDir.message, 'Not a directory');
    const root = await c.fail(leader.set('/', 'x'));
    assertKvError(root, 107, '/');
    assert.equal(root.message, 'Root is read only');
    assertKvError(await c.fail(leader.delete('/', { recursive: true })), 107, '/');
  });

  test('mkdir makes a directory, rmdir removes it only when empty (108), and delete needs dir or recursive for one', async () => {
    const d = await c.run(leader.mkdir('/md'));
    assert.deepEqual(d, { action: 'create', node: { key: '/md', dir: true, createdIndex: d.index, modifiedIndex: d.index }, index: d.index });
    assertKvError(await c.fail(leader.mkdir('/md')), 105, '/md');
    await c.run(leader.set('/md/x', '1'));
    const notEmpty = await c.fail(leader.rmdir('/md'));
    assertKvError(notEmpty, 108, '/md');
    assert.equal(notEmpty.message, 'Directory not empty');
    assertKvError(await c.fail(leader.delete('/md')), 102, '/md');
    await c.run(leader.delete('/md/x'));
    const rm = await c.run(leader.rmdir('/md'));
    assert.equal(rm.action, 'delete');
    assert.equal(rm.node.dir, true);
    assert.equal(rm.prevNode?.dir, true);
    assertKvError(await c.fail(leader.get('/md')), 100, '/md');
    await c.run(leader.set('/md2/a/b', '1'));
    const all = await c.run(leader.delete('/md2', { recursive: true }));
    assert.equal(all.action, 'delete');
    // etcd names the first key on the path that is missing.
    assertKvError(await c.fail(leader.get('/md2/a/b')), 100, '/md2');
    assertKvError(await c.fail(leader.delete('/md2')), 100, '/md2');
  });

  test('compareAndSwap swaps on a matching value or index and otherwise fails with 101 naming both sides', async () => {
    const one = await c.run(leader.set('/cas', 'one'));
    const valueFail = await c.fail(follower.compareAndSwap('/cas', 'three', { prevValue: 'two' }));
    assertKvError(valueFail, 101, '[two != one]');
    assert.equal(valueFail.message, 'Compare failed');
    const indexFail = await c.fail(leader.compareAndSwap('/cas', 'three', { prevIndex: one.index + 1000 }));
    assertKvError(indexFail, 101, `[${one.index + 1000} != ${one.index}]`);
    const both = await c.fail(leader.compareAndSwap('/cas', 'three', { prevValue: 'two', prevIndex: one.index + 1000 }));
    assertKvError(both, 101, `[two != one] [${one.index + 1000} != ${one.index}]`);

    const swapped = await c.run(follower.compareAndSwap('/cas', 'two', { prevValue: 'one' }));
    assert.equal(swapped.action, 'compareAndSwap');
    assert.equal(swapped.node.value, 'two');
    assert.equal(swapped.prevNode?.value, 'one');
    const byIndex = await c.run(leader.compareAndSwap('/cas', 'three', { prevIndex: swapped.index }));
    assert.equal(byIndex.node.value, 'three');

    const required = await c.fail(leader.compareAndSwap('/cas', 'x', {}));
    assertKvError(required, 201);
    assert.equal(required.message, 'PrevValue is Required in POST form');
    assertKvError(await c.fail(leader.compareAndSwap('/cas-missing', 'x', { prevValue: 'y' })), 100, '/cas-missing');
    await c.run(leader.mkdir('/casdir'));
    assertKvError(await c.fail(leader.compareAndSwap('/casdir', 'x', { prevValue: 'y' })), 102, '/casdir');
  });

  test('compareAndDelete deletes on a match and otherwise fails with 101', async () => {
    const v = await c.run(leader.set('/cad', 'keep'));
    assertKvError(await c.fail(leader.compareAndDelete('/cad', { prevValue: 'other' })), 101, '[other != keep]');
    assertKvError(await c.fail(leader.compareAndDelete('/cad', { prevIndex: v.index + 1 })), 101, `[${v.index + 1} != ${v.index}]`);
    assertKvError(await c.fail(leader.compareAndDelete('/cad', {})), 201);
    const gone = await c.run(follower.compareAndDelete('/cad', { prevValue: 'keep' }));
    assert.equal(gone.action, 'compareAndDelete');
    assert.equal(gone.prevNode?.value, 'keep');
    assert.equal(gone.node.key, '/cad');
    assertKvError(await c.fail(leader.compareAndDelete('/cad', { prevValue: 'keep' })), 100, '/cad');
  });

  test('createInOrder names each child by its 20-digit, zero-padded index, so a sorted listing is creation order', async () => {
    const made: KvEvent[] = [];
    for (const v of ['first', 'second', 'third']) made.push(await c.run((made.length % 2 ? follower : leader).createInOrder('/queue', v)));
    for (const e of made) {
      assert.equal(e.action, 'create');
      assert.equal(e.node.key, `/queue/${String(e.index).padStart(20, '0')}`);
    }
    const list = await c.run(follower.get('/queue', { sorted: true }));
    assert.deepEqual(list.node.nodes?.map((n) => n.value), ['first', 'second', 'third']);
  });

  test('refresh resets a TTL without changing the value or telling watchers, and is refused without a TTL (212) or with a value (211)', async () => {
    const proposedAt = T0 + c.clock.now();
    const set = await c.run(leader.set('/rf', 'v', { ttl: 10 }));
    assert.equal(set.node.ttl, 10);
    assert.equal(set.node.expiration, new Date(proposedAt + 10_000).toISOString(), 'the proposer\'s clock sets the expiration');
    const w = consume(follower.watch('/rf'));
    const r = await c.run(follower.refresh('/rf', 100));
    assert.equal(r.node.value, 'v');
    assert.equal(r.node.ttl, 100);
    assert.equal(r.prevNode?.ttl, 10);
    await c.clock.runFor(200);
    assert.deepEqual(w.events, [], 'a refresh is not a change');
    assert.equal((await c.run(follower.get('/rf', { consistency: 'serializable' }))).node.ttl, 100);
    assertKvError(await c.fail(leader.refresh('/rf-missing', 5)), 100, '/rf-missing');
    const noTtl = await c.fail(leader.set('/rf', undefined, { refresh: true }));
    assertKvError(noTtl, 212);
    assert.equal(noTtl.message, 'A TTL must be provided on refresh');
    const withValue = await c.fail(leader.set('/rf', 'new', { refresh: true, ttl: 5 }));
    assertKvError(withValue, 211);
    assert.equal(withValue.message, 'Value provided on refresh');
    // A set without ttl makes the key permanent again.
    const perm = await c.run(leader.set('/rf', 'v2'));
    assert.equal(perm.node.ttl, undefined);
  });

  test('a refused write changes nothing and reports the store index it saw', async () => {
    await c.run(leader.set('/ri', 'x'));
    await c.waitForConvergence();
    const before = follower.status().storeIndex;
    const err = await c.fail(follower.create('/ri', 'y'));
    assertKvError(err, 105);
    assert.equal(err.index, before);
    await c.waitForConvergence();
    for (const n of c.live()) {
      assert.equal(n.status().storeIndex, before, `${n.name}'s store index moved on a refused write`);
      assert.equal((await c.run(n.get('/ri', { consistency: 'serializable' }))).node.value, 'x');
    }
  });

  test('values of any msgpack type are stored and read back, and __proto__ or constructor are ordinary keys', async () => {
    const values: unknown[] = [42, -1.5, true, null, { a: [1, 'two', { three: 3 }] }, ['x', 2], new Uint8Array([0, 1, 255]), ''];
    for (const [i, v] of values.entries()) {
      await c.run(leader.set(`/types/v${i}`, v));
      assert.deepEqual((await c.run(follower.get(`/types/v${i}`))).node.value, v);
    }
    const proto = await c.run(leader.set('/__proto__', 'p'));
    assert.equal(proto.node.key, '/__proto__');
    await c.run(leader.set('/constructor/prototype', 'q'));
    assert.equal((await c.run(follower.get('/__proto__'))).node.value, 'p');
    assert.equal((await c.run(follower.get('/constructor/prototype'))).node.value, 'q');
    assert.equal(({} as Record<string, unknown>).p, undefined);
    // Values handed out cannot be changed in place.
    const got = await c.run(follower.get('/types/v4'));
    assert.throws(() => ((got.node.value as { a: unknown[] }).a as unknown[]).push(9));
  });

  test('a closed node refuses reads and writes with RAFT_STOPPED', async () => {
    const extra = new StoreCluster({ seed: 32, names: ['solo'] });
    const solo = await extra.start();
    await extra.run(solo.set('/x', '1'));
    await extra.stop('solo');
    assertRaftError(await extra.fail(solo.set('/x', '2')), 'RAFT_STOPPED');
    assertRaftError(await extra.fail(solo.get('/x')), 'RAFT_STOPPED');
    assertRaftError(await extra.fail(solo.get('/x', { consistency: 'serializable' })), 'RAFT_STOPPED');
  });
});

describe('input validation', () => {
  let c: StoreCluster;
  let leader: KvNode;
  before(async () => {
    c = new StoreCluster({ seed: 41, node: { maxValueBytes: 64, maxKeyBytes: 32 } });
    leader = await c.start();
    await c.run(leader.set('/k', 'v'));
    await c.waitForConvergence();
  });
  after(async () => {
    await c.close();
  });

  /** Runs `attempts`, each of which must reject with KvError `code`, and checks nothing reached the log. */
  async function refusedWithoutProposing(code: number, attempts: (() => Promise<unknown>)[]): Promise<KvError[]> {
    const log = c.stores.get(leader.name)!;
    const lastIndex = log.inspect().lastIndex;
    const statuses = c.live().map((n) => n.status());
    const errors: KvError[] = [];
    for (const attempt of attempts) {
      const err = await c.fail(attempt());
      assertKvError(err, code);
      errors.push(err);
    }
    await c.clock.runFor(1000);
    assert.equal(log.inspect().lastIndex, lastIndex, 'something was proposed');
    c.live().forEach((n, i) => {
      assert.equal(n.status().storeIndex, statuses[i].storeIndex);
      assert.equal(n.status().raftIndex, statuses[i].raftIndex);
    });
    return errors;
  }

  test('a TTL that is not a non-negative whole number is refused with 202 before anything is proposed', async () => {
    const bad = [-1, 1.5, NaN, Infinity, '10' as unknown as number];
    const errors = await refusedWithoutProposing(202, [
      ...bad.map((ttl) => () => leader.set('/k', 'v', { ttl })),
      () => leader.create('/k2', 'v', { ttl: -5 }),
      () => leader.mkdir('/d', { ttl: 0.5 }),
      () => leader.createInOrder('/q', 'v', { ttl: -1 }),
      () => leader.refresh('/k', -1),
    ]);
    for (const e of errors) assert.equal(e.message, 'The given TTL in POST form is not a number');
  });

  test('a value larger than maxValueBytes is refused with 209 naming its size and the limit', async () => {
    const big = 'x'.repeat(100); // msgpack: 2 header bytes + 100
    const errors = await refusedWithoutProposing(209, [
      () => leader.set('/k', big),
      () => leader.create('/big', big),
      () => leader.update('/k', big),
      () => leader.compareAndSwap('/k', big, { prevValue: 'v' }),
      () => leader.createInOrder('/q', big),
    ]);
    for (const e of errors) {
      assert.equal(e.message, 'Invalid field');
      assert.match(e.cause, /\b102 bytes, maxValueBytes is 64\b/);
    }
  });

  test('a key longer than maxKeyBytes is refused with 209 naming its size and the limit', async () => {
    const long = '/' + 'k'.repeat(40);
    const errors = await refusedWithoutProposing(209, [
      () => leader.set(long, 'v'),
      () => leader.delete(long),
      () => leader.mkdir(long),
      () => leader.get(long),
    ]);
    for (const e of errors) assert.match(e.cause, /\b41 bytes, maxKeyBytes is 32\b/);
  });

  test('a key that is not a string is refused with 209', async () => {
    const notKeys = [42, undefined, null, { key: '/k' }, ['k']] as unknown as string[];
    const errors = await refusedWithoutProposing(209, [
      ...notKeys.map((k) => () => leader.set(k, 'v')),
      () => leader.delete(7 as unknown as string),
      () => leader.get(undefined as unknown as string),
      () => leader.watch(42 as unknown as string).next(),
    ]);
    assert.match(errors[0].cause, /string/);
  });

  test('a prevIndex that is not a non-negative whole number is refused with 203', async () => {
    await refusedWithoutProposing(203, [
      () => leader.compareAndSwap('/k', 'w', { prevIndex: -1 }),
      () => leader.compareAndSwap('/k', 'w', { prevIndex: 1.5 }),
      () => leader.compareAndDelete('/k', { prevIndex: NaN }),
    ]);
  });
});

describe('reads, TTLs and indexes across replicas', () => {
  test('serializable reads on a follower answer from its replica; linearizable ones need the quorum', async () => {
    const c = new StoreCluster({ seed: 51, node: { requestTimeoutMs: 1500 } });
    const leader = await c.start();
    const [f1, f2] = c.followers();
    await c.run(leader.set('/r', 'old'));
    // A linearizable read on a follower sees a write acknowledged elsewhere just before.
    await c.run(leader.set('/r', 'new'));
    assert.equal((await c.run(f1.get('/r'))).node.value, 'new');

    await c.waitForConvergence();
    c.net.isolate(f2.name);
    await c.run(leader.set('/r', 'newer'));
    // Cut off: the local replica still answers, stale; a linearizable read fails within the request timeout.
    assert.equal((await c.run(f2.get('/r', { consistency: 'serializable' }))).node.value, 'new');
    const started = c.clock.now();
    const err = await c.fail(f2.get('/r'));
    assert.ok(err.code === 'RAFT_TIMEOUT' || err.code === 'RAFT_NO_LEADER', String(err));
    assert.ok(err.at - started <= 1500 + 200, `read failed after ${err.at - started} ms`);
    c.net.heal();
    await c.waitForConvergence();
    assert.equal((await c.run(f2.get('/r', { consistency: 'serializable' }))).node.value, 'newer');
    assert.equal((await c.run(f2.get('/r'))).node.value, 'newer');
    await c.close();
  });

  test('a TTL expires by the leader\'s decision: every replica emits expire for the key at the same index', async () => {
    const c = new StoreCluster({ seed: 52 });
    const leader = await c.start();
    const [f1, f2] = c.followers();
    const proposedAt = T0 + c.clock.now();
    const set = await c.run(leader.set('/session', 'alive', { ttl: 2 }));
    assert.equal(set.node.ttl, 2);
    assert.equal(set.node.expiration, new Date(proposedAt + 2000).toISOString());
    await c.waitForConvergence();
    const onF1 = await c.run(f1.get('/session', { consistency: 'serializable' }));
    assert.equal(onF1.node.expiration, set.node.expiration, 'the expiration is replicated, not recomputed');

    // A follower cut off never expires the key from its own clock.
    c.net.isolate(f2.name);
    await c.clock.waitFor(() => c.changes.get(leader.name)!.some((e) => e.action === 'expire'), { timeoutMs: 5000 });
    await c.clock.runFor(1000);
    assert.equal((await c.run(f2.get('/session', { consistency: 'serializable' }))).node.value, 'alive');
    c.net.heal();
    await c.waitForConvergence();

    const expires = [leader, f1, f2].map((n) => c.changes.get(n.name)!.filter((e) => e.action === 'expire'));
    for (const [i, list] of expires.entries()) {
      assert.equal(list.length, 1, `member ${i} expired the key once`);
      assert.equal(list[0].node.key, '/session');
      assert.equal(list[0].prevNode?.value, 'alive');
    }
    assert.equal(new Set(expires.map((l) => l[0].index)).size, 1, `expire indexes: ${expires.map((l) => l[0].index).join(', ')}`);
    for (const n of [leader, f1, f2]) {
      assertKvError(await c.fail(n.get('/session', { consistency: 'serializable' })), 100, '/session');
      assert.equal(n.status().storeIndex, expires[0][0].index);
    }
    await c.close();
  });

  test('defineIndex and query give the same answer on every replica, kept up to date on every apply', async () => {
    const c = new StoreCluster({ seed: 53 });
    const leader = await c.start();
    const byColor = { prefix: '/cars', key: (v: unknown) => (v as { color?: string } | null)?.color };
    for (const n of c.live()) n.defineIndex('byColor', byColor);
    await c.run(leader.set('/cars/a', { color: 'red' }));
    await c.run(leader.set('/cars/b', { color: 'blue' }));
    await c.run(leader.set('/cars/c', { color: 'red' }));
    await c.run(leader.set('/boats/d', { color: 'red' }));
    await c.waitForConvergence();
    const keys = (n: KvNode, v: string) => n.query('byColor', v).map((x) => x.key);
    for (const n of c.live()) {
      assert.deepEqual(keys(n, 'red'), ['/cars/a', '/cars/c'], n.name);
      assert.deepEqual(n.query('byColor', 'red').map((x) => x.value), [{ color: 'red' }, { color: 'red' }]);
      assert.deepEqual(keys(n, 'blue'), ['/cars/b']);
      assert.deepEqual(keys(n, 'green'), []);
    }
    await c.run(leader.set('/cars/a', { color: 'green' }));
    await c.run(leader.delete('/cars/c'));
    await c.run(leader.set('/cars/e', { color: 'red' }, { ttl: 1 }));
    await c.waitForConvergence();
    for (const n of c.live()) {
      assert.deepEqual(keys(n, 'red'), ['/cars/e'], n.name);
      assert.deepEqual(keys(n, 'green'), ['/cars/a']);
    }
    await c.clock.waitFor(() => c.live().every((n) => keys(n, 'red').length === 0), { timeoutMs: 5000, description: 'the expired key left the index' });

    // Defined later, an index is built from what is already stored.
    for (const n of c.live()) n.defineIndex('late', { prefix: '/', key: (v) => (v as { color?: string } | null)?.color });
    for (const n of c.live()) {
      assert.deepEqual(n.query('late', 'red').map((x) => x.key), ['/boats/d']);
      assert.deepEqual(n.query('late', 'blue').map((x) => x.key), ['/cars/b']);
    }
    assertKvError((() => { try { leader.defineIndex('late', byColor); } catch (e) { return e; } })(), 209);
    assertKvError((() => { try { leader.query('nope', 'x'); } catch (e) { return e; } })(), 209);
    await c.close();
  });
});
