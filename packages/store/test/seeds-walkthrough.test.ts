// The walk-through of seeds/000 (a three-member etcd cluster set up by hand),
// done from code on three in-process members: set on one member and read on
// the others; rm on one and "100: Key not found" everywhere; kill the leader,
// a new one is elected and writes go on; with two of three gone writes fail
// with a clear error in bounded time while reads still answer; bring one
// back, writes work again and nothing acknowledged was lost.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { KvEvent, KvNode } from '../src/index.ts';
import { assertKvError, assertRaftError, StoreCluster } from './helpers/store-cluster.ts';

const REQUEST_TIMEOUT_MS = 2000;
/** The driver checks deadlines once per tick (the heartbeat interval, 100 ms by default). */
const TICK_MS = 100;

describe('the seeds walk-through', () => {
  test('set, get, rm, leader failover, quorum loss and recovery on three in-process members', async () => {
    const c = new StoreCluster({
      seed: 71,
      names: ['master1', 'master2', 'master3'],
      node: { requestTimeoutMs: REQUEST_TIMEOUT_MS },
    });
    await c.start();
    const m = (name: string): KvNode => c.node(name);
    const acked: KvEvent[] = [];
    const write = async (node: KvNode, key: string, value: string): Promise<KvEvent> => {
      const e = await c.run(node.set(key, value));
      acked.push(e);
      return e;
    };
    for (const n of c.live()) assert.deepEqual(await c.run(n.health()), { health: true }, `${n.name} is healthy`);

    // 5.3 `etcdctl set os linux` on master1, `get os` on every member.
    const os = await write(m('master1'), '/os', 'linux');
    assert.equal(os.node.value, 'linux');
    for (const n of c.live()) assert.equal((await c.run(n.get('/os'))).node.value, 'linux', n.name);

    // `etcdctl rm os` on master3 (PrevNode.Value: linux), then `get os` → 100 on every member.
    const rm = await c.run(m('master3').delete('/os'));
    assert.equal(rm.prevNode?.value, 'linux');
    for (const n of c.live()) {
      const err = await c.fail(n.get('/os'));
      assertKvError(err, 100, '/os');
      assert.equal(err.message, 'Key not found');
      assert.equal(err.index, rm.index, `${n.name}: Error: 100: Key not found (/os) [${rm.index}]`);
    }

    // 5.4 `member list`: exactly one leader, the same on every member.
    const first = c.leader()!;
    for (const n of c.live()) {
      const list = await c.run(n.members.list());
      assert.deepEqual(list.map((x) => x.name).sort(), ['master1', 'master2', 'master3']);
      assert.deepEqual(list.filter((x) => x.isLeader).map((x) => x.name), [first.name], `${n.name} sees ${first.name} lead`);
    }

    // Kill the leader: the other two elect a new one, and list it as leader.
    await c.stop(first.name);
    const second = await c.waitForLeader();
    assert.notEqual(second.name, first.name);
    for (const n of c.live()) {
      await c.clock.waitFor(() => n.status().leader === second.id, { description: `${n.name} follows ${second.name}` });
      const list = await c.run(n.members.list());
      assert.equal(list.length, 3, 'a killed member is still a member');
      assert.deepEqual(list.filter((x) => x.isLeader).map((x) => x.name), [second.name]);
    }
    // 5.5 writes go on with two of three: `set os linux`, `set car GT-R`, on both survivors.
    const survivorNames = c.live().map((n) => n.name);
    await write(c.node(survivorNames[0]), '/os', 'linux');
    await write(c.node(survivorNames[1]), '/car', 'GT-R');
    for (const n of c.live()) assert.equal((await c.run(n.get('/car'))).node.value, 'GT-R');
    for (const n of c.live()) assert.equal((await c.run(n.health())).health, true);

    // Kill the new leader too: one member of three is left.
    await c.stop(second.name);
    const [last] = c.live();
    assert.equal(c.live().length, 1);

    // A write right away is forwarded to the leader it still believes in; it
    // fails as soon as this member hears that leader's connection close
    // (RAFT_LEADER_CHANGED: the outcome is unknown), not at the request
    // timeout. If the member already forgot the leader, it waits for one.
    let started = c.clock.now();
    const lost = await c.fail(last.set('/month', 'Nov'));
    assert.ok(['RAFT_LEADER_CHANGED', 'RAFT_NO_LEADER'].includes(String(lost.code)), String(lost));
    if (lost.code === 'RAFT_LEADER_CHANGED') {
      assert.ok(lost.at - started < REQUEST_TIMEOUT_MS / 2, `failed after ${lost.at - started} ms`);
    } else {
      assert.ok(lost.at - started <= REQUEST_TIMEOUT_MS + TICK_MS, `failed after ${lost.at - started} ms`);
    }

    // Once it knows there is no leader, a write waits for one and fails with RAFT_NO_LEADER.
    await c.clock.waitFor(() => last.status().leader === undefined, { description: `${last.name} knows there is no leader` });
    started = c.clock.now();
    const noLeader = await c.fail(last.set('/month-lost', 'Nov'));
    assertRaftError(noLeader, 'RAFT_NO_LEADER');
    assert.match(noLeader.message, new RegExp(`no leader was elected within ${REQUEST_TIMEOUT_MS} ms`));
    assert.ok(noLeader.at - started <= REQUEST_TIMEOUT_MS + TICK_MS, `failed after ${noLeader.at - started} ms`);
    // So do linearizable reads and the health check; `cluster-health` says unhealthy.
    const readErr = await c.fail(last.get('/car'));
    assert.ok(readErr.code === 'RAFT_NO_LEADER' || readErr.code === 'RAFT_TIMEOUT', String(readErr));
    assert.equal((await c.run(last.health())).health, false);
    assert.deepEqual((await c.run(last.members.list())).filter((x) => x.isLeader), []);

    // But serializable reads still answer: `etcdctl ls` → /os /car.
    const ls = await c.run(last.get('/', { sorted: true, consistency: 'serializable' }));
    assert.deepEqual(ls.node.nodes?.map((x) => x.key), ['/car', '/os']);
    assert.equal((await c.run(last.get('/car', { consistency: 'serializable' }))).node.value, 'GT-R');

    // Bring back the first leader (it missed the writes since it was killed) on its own log.
    const back = await c.restart(first.name);
    assert.equal(back.id, first.id);
    const third = await c.waitForLeader();
    assert.notEqual(third.name, second.name);
    await write(last, '/month', 'Nov');
    await c.waitForConvergence();

    // `etcdctl ls` → /car /month /os, everywhere; every acknowledged write is there, with its index.
    for (const n of c.live()) {
      const list = await c.run(n.get('/', { sorted: true }));
      assert.deepEqual(list.node.nodes?.map((x) => x.key), ['/car', '/month', '/os'], n.name);
      const latest = new Map<string, KvEvent>();
      for (const e of acked) latest.set(e.node.key, e);
      for (const [key, e] of latest) {
        const got = await c.run(n.get(key, { consistency: 'serializable' }));
        assert.equal(got.node.value, e.node.value, `${n.name} ${key}`);
        assert.equal(got.node.modifiedIndex, e.index, `${n.name} ${key}`);
      }
      assertKvError(await c.fail(n.get('/month-lost', { consistency: 'serializable' })), 100);
    }
    // The returning member replayed its own log before createNode resolved, then
    // caught up from the leader: the changes it reported since are in order, each once.
    const caughtUp = c.changes.get(back.name)!;
    assert.ok(caughtUp.length > 0, `${back.name} applied the writes it missed`);
    for (let i = 1; i < caughtUp.length; i++) assert.ok(caughtUp[i].index > caughtUp[i - 1].index);
    for (const e of acked.filter((x) => x.index > os.index)) {
      assert.ok(caughtUp.some((x) => x.index === e.index), `${back.name} reported the write at ${e.index} it had missed`);
    }
    await c.close();
  });

  test('a member brought back after snapshots rebuilds the same tree, history and TTLs from its snapshot and log', async () => {
    const c = new StoreCluster({ seed: 72, node: { snapshotCount: 20 } });
    const leader = await c.start();
    const writes: KvEvent[] = [];
    for (let i = 0; i < 45; i++) writes.push(await c.run(leader.set(`/snap/k${i % 9}`, `v${i}`)));
    const ttl = await c.run(leader.set('/snap/lease', 'held', { ttl: 30 }));
    await c.run(leader.mkdir('/snap/dir'));
    await c.waitForConvergence();
    const member = c.followers()[0];
    assert.ok(c.stores.get(member.name)!.inspect().snapshotIndex > 0, 'the member took a snapshot');
    await c.stop(member.name);
    for (let i = 0; i < 5; i++) writes.push(await c.run(leader.set(`/snap/after${i}`, `a${i}`)));

    // Cut off, the returning member shows exactly what it had: snapshot plus log.
    c.net.isolate(member.name);
    const back = await c.restart(member.name);
    const tree = async (n: KvNode) => (await c.run(n.get('/snap', { recursive: true, sorted: true, consistency: 'serializable' }))).node;
    const before = await tree(back);
    assert.equal(before.nodes?.find((x) => x.key === '/snap/lease')?.expiration, ttl.node.expiration, 'the TTL came back');
    assert.equal(before.nodes?.some((x) => x.key === '/snap/after0'), false);
    c.net.heal();
    await c.waitForConvergence();
    assert.deepEqual(await tree(back), await tree(leader));
    assert.equal(back.status().storeIndex, leader.status().storeIndex);

    // The event history came back too: a watch from an old index replays the same events on both.
    const from = writes[40].index;
    const replay = async (n: KvNode): Promise<string[]> => {
      const it = n.watch('/snap', { recursive: true, waitIndex: from });
      const out: string[] = [];
      for (;;) {
        const r = await c.run(it.next());
        out.push(`${r.value!.action} ${r.value!.node.key} ${r.value!.index}`);
        if (r.value!.index >= writes[writes.length - 1].index) break;
      }
      await it.return!();
      return out;
    };
    assert.deepEqual(await replay(back), await replay(leader));

    // And the lease expires on every member, the returning one included, at one index.
    await c.clock.waitFor(() => c.live().every((n) => c.changes.get(n.name)!.some((e) => e.action === 'expire')), {
      timeoutMs: 40_000,
      stepMs: 100,
      description: 'the lease expired everywhere',
    });
    const at = c.live().map((n) => c.changes.get(n.name)!.find((e) => e.action === 'expire')!.index);
    assert.equal(new Set(at).size, 1, `expired at ${at.join(', ')}`);
    await c.close();
  });
});
