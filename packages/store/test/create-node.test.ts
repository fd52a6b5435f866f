// createNode (create-node.ts) and the cluster side of KvNode: member IDs as
// etcd derives them, refusals of bad options, membership changes (add and
// join, learners and promote, remove), leadership transfer and health — on
// the memory network with the manual clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { MemoryLogStore } from '@kv/raft';
import { createMemoryNetwork } from '@kv/raft/testing';

import { createNode, KvError, memberId, type KvNode } from '../src/index.ts';
import { assertKvError, assertRaftError, StoreCluster } from './helpers/store-cluster.ts';

const initialCluster = { m1: 'mem://m1', m2: 'mem://m2', m3: 'mem://m3' };

/** Creates the three initial members on a fresh manual-clock network (no leader needed). */
async function threeNodes(opts: { seed: number; token?: string; cluster?: string | Record<string, string> }): Promise<KvNode[]> {
  const net = createMemoryNetwork({ seed: opts.seed, clock: 'manual' });
  return Promise.all(
    ['m1', 'm2', 'm3'].map((name) =>
      createNode({
        name,
        initialCluster: opts.cluster ?? initialCluster,
        transport: net.transport(name),
        ...(opts.token !== undefined ? { initialClusterToken: opts.token } : {}),
      }),
    ),
  );
}

describe('member IDs', () => {
  test('are the IDs etcd printed in the seeds for the same peer URLs and cluster token', () => {
    // seeds/000: `etcdctl member list` of a cluster bootstrapped with token "mytoken".
    assert.equal(memberId(['http://192.168.0.10:2380'], 'mytoken'), 'b22cf29c2bebb484');
    assert.equal(memberId(['http://192.168.0.20:2380'], 'mytoken'), 'b19e62a463d4b18e');
    assert.equal(memberId(['http://192.168.0.30:2380'], 'mytoken'), '7bf3dc7e1bfc9229');
    // seeds/002: `-initial-cluster-token etcd-cluster-test`.
    assert.equal(memberId(['http://192.168.100.102:2380'], 'etcd-cluster-test'), '84099faad6d56427');
    assert.equal(memberId(['http://192.168.100.103:2380'], 'etcd-cluster-test'), '940f6e83e019a03f');
    assert.equal(memberId(['http://192.168.100.104:2380'], 'etcd-cluster-test'), '1b80a88a471eb4b8');
    // Several peer URLs: the order given does not matter.
    assert.equal(memberId(['http://b:2380', 'http://a:2380'], 't'), memberId(['http://a:2380', 'http://b:2380'], 't'));
  });

  test('are 64-bit hex, the same for the same initial cluster and token, and different for another token', async () => {
    const a = await threeNodes({ seed: 1 });
    const b = await threeNodes({ seed: 2, cluster: 'm1=mem://m1,m2=mem://m2,m3=mem://m3' });
    const other = await threeNodes({ seed: 3, token: 'another-cluster' });
    for (const [i, n] of a.entries()) {
      assert.match(n.id, /^[0-9a-f]{1,16}$/);
      assert.equal(n.id, memberId([`mem://m${i + 1}`], 'etcd-cluster'));
      assert.equal(n.status().id, n.id);
      assert.equal(b[i].id, n.id, 'the string form of initialCluster gives the same IDs');
      assert.notEqual(other[i].id, n.id);
      assert.equal(other[i].id, memberId([`mem://m${i + 1}`], 'another-cluster'));
    }
    assert.equal(new Set(a.map((n) => n.id)).size, 3);
    assert.equal(a[0].status().clusterId, b[0].status().clusterId);
    assert.notEqual(a[0].status().clusterId, other[0].status().clusterId);
    await Promise.all([...a, ...b, ...other].map((n) => n.close()));
  });
});

describe('createNode refuses bad options', () => {
  test('a name missing from initialCluster, saying it could not find the local name', async () => {
    const net = createMemoryNetwork({ seed: 1, clock: 'manual' });
    await assert.rejects(createNode({ name: 'm9', initialCluster, transport: net.transport('m9') }), (e: unknown) => {
      assertKvError(e, 209);
      assert.match(e.message, /couldn't find local name "m9" in the initial cluster configuration/);
      return true;
    });
    // Without a name, the name is etcd's "default".
    await assert.rejects(createNode({ initialCluster, transport: net.transport('m1') }), /couldn't find local name "default"/);
    // The refusal left the transport unused: the same transport serves a correct call.
    const n = await createNode({ name: 'm1', initialCluster, transport: net.transport('m1') });
    assert.equal(n.name, 'm1');
    await n.close();
  });

  test('a malformed initialCluster, naming the part at fault', async () => {
    const net = createMemoryNetwork({ seed: 1, clock: 'manual' });
    const cases: [string | Record<string, string>, RegExp][] = [
      ['m1=mem://m1,garbage', /"garbage" is not name=url/],
      ['m1=not a url', /"not a url" \(member m1\) is not a URL/],
      ['=mem://m1', /"=mem:\/\/m1" is not name=url/],
      ['', /no members/],
      [{}, /no members/],
      [{ m1: 'm1:2380' }, /is not a URL/],
    ];
    for (const [spec, message] of cases) {
      await assert.rejects(
        createNode({ name: 'm1', initialCluster: spec, transport: net.transport('m1') }),
        (e: unknown) => {
          assert.ok(e instanceof KvError, `${JSON.stringify(spec)}: ${String(e)}`);
          assert.equal(e.errorCode, 209);
          assert.match(e.message, message, JSON.stringify(spec));
          return true;
        },
      );
    }
  });

  test('an initialClusterState other than new or existing', async () => {
    const net = createMemoryNetwork({ seed: 1, clock: 'manual' });
    await assert.rejects(
      createNode({ name: 'm1', initialCluster, transport: net.transport('m1'), initialClusterState: 'bogus' as 'new' }),
      (e: unknown) => {
        assertKvError(e, 209);
        assert.match(e.message, /initialClusterState must be 'new' or 'existing', got bogus/);
        return true;
      },
    );
  });
});

describe('membership', () => {
  test('a member added with members.add and started with initialClusterState existing joins and catches up', async () => {
    const c = new StoreCluster({ seed: 61 });
    const leader = await c.start();
    for (let i = 0; i < 20; i++) await c.run(leader.set(`/data/k${i}`, i));
    const follower = c.followers()[0];

    const m4Log = new MemoryLogStore();
    c.stores.set('m4', m4Log);
    const joining = createNode({
      name: 'm4',
      initialCluster: { ...initialCluster, m4: 'mem://m4' },
      initialClusterState: 'existing',
      transport: c.net.transport('m4'),
      wallClock: c.wallClock,
      logStore: m4Log,
    });
    // Asked of a follower: the change goes through the leader like any write.
    const result = await c.run(follower.members.add('m4', ['mem://m4']));
    const added = result.member;
    assert.match(added.id, /^[0-9a-f]{1,16}$/);
    assert.deepEqual({ ...added, id: '' }, { id: '', name: 'm4', peerURLs: ['mem://m4'], clientURLs: [], isLeader: false, isLearner: false });
    // What etcdctl member add prints, to start the new member with.
    assert.equal(result.initialClusterState, 'existing');
    assert.deepEqual(result.initialCluster.split(',').sort(), ['m1=mem://m1', 'm2=mem://m2', 'm3=mem://m3', 'm4=mem://m4']);
    const m4 = await c.run(joining);
    c.register('m4', m4);
    assert.equal(m4.id, added.id, 'the joiner learned the ID the cluster gave it');
    await c.waitForConvergence();
    assert.equal((await c.run(m4.get('/data/k19', { consistency: 'serializable' }))).node.value, 19);
    assert.equal((await c.run(m4.get('/data', { recursive: true }))).node.nodes?.length, 20);
    for (const n of c.live()) {
      const list = await n.members.list();
      assert.deepEqual(list.map((m) => m.name).sort(), ['m1', 'm2', 'm3', 'm4'], n.name);
      assert.equal(list.filter((m) => m.isLeader).length, 1);
    }
    // Writes through the new member reach everyone.
    const w = await c.run(m4.set('/from/m4', 'hello'));
    await c.waitForConvergence();
    for (const n of c.live()) assert.equal((await c.run(n.get('/from/m4', { consistency: 'serializable' }))).node.modifiedIndex, w.index);

    // The same peer URL cannot be added twice.
    const taken = await c.fail(leader.members.add('m4-again', ['mem://m4']));
    assert.ok(taken instanceof KvError, String(taken));

    // Restarting a joined member needs its ID (it was time-salted, not derivable).
    await c.stop('m4');
    const refused = await c.fail(
      createNode({
        name: 'm4',
        initialCluster: { ...initialCluster, m4: 'mem://m4' },
        initialClusterState: 'existing',
        transport: c.net.transport('m4'),
        logStore: m4Log,
      }),
    );
    assertKvError(refused, 209);
    assert.match(refused.message, /pass memberId/);
    const again = await c.create('m4', { initialCluster: { ...initialCluster, m4: 'mem://m4' }, initialClusterState: 'existing', memberId: added.id });
    assert.equal(again.id, added.id);
    await c.run(leader.set('/after/restart', 'x'));
    await c.waitForConvergence();
    assert.equal((await c.run(again.get('/after/restart', { consistency: 'serializable' }))).node.value, 'x');
    await c.close();
  });

  test('a learner added with members.add joins without a vote and becomes a voter with members.promote', async () => {
    const c = new StoreCluster({ seed: 62 });
    const leader = await c.start();
    await c.run(leader.set('/x', '1'));
    const joining = createNode({
      name: 'm5',
      initialCluster: { ...initialCluster, m5: 'mem://m5' },
      initialClusterState: 'existing',
      transport: c.net.transport('m5'),
      wallClock: c.wallClock,
    });
    const { member: added } = await c.run(leader.members.add('m5', ['mem://m5'], { learner: true }));
    assert.equal(added.isLearner, true);
    const m5 = await c.run(joining);
    c.register('m5', m5);
    await c.waitForConvergence();
    assert.equal((await c.run(m5.get('/x', { consistency: 'serializable' }))).node.value, '1');
    for (const n of c.live()) {
      const me = (await n.members.list()).find((m) => m.id === added.id);
      assert.equal(me?.isLearner, true, `${n.name} lists m5 as a learner`);
    }
    await c.run(leader.members.promote(added.id));
    await c.waitForConvergence();
    for (const n of c.live()) {
      const me = (await n.members.list()).find((m) => m.id === added.id);
      assert.equal(me?.isLearner, false, `${n.name} lists m5 as a voter`);
    }
    assertRaftError(await c.fail(leader.members.promote(added.id)), 'RAFT_CONF_CHANGE_INVALID');
    await c.close();
  });

  test('members.remove of a follower stops it with removed, and the others go on', async () => {
    const c = new StoreCluster({ seed: 63 });
    const leader = await c.start();
    const victim = c.followers()[0];
    let removed = 0;
    victim.on('removed', () => void removed++);
    const w = victim.watch('/any');
    const wEnd = w.next();
    await c.run(leader.members.remove(victim.id));
    await c.clock.waitFor(() => removed === 1, { timeoutMs: 5000, description: 'the removed member heard it' });
    assert.deepEqual(await c.run(wEnd), { value: undefined, done: true }, 'its watches ended');
    const list = await leader.members.list();
    assert.deepEqual(list.map((m) => m.id).sort(), c.live().map((n) => n.id).sort());
    assert.equal(list.length, 2);
    // Two members left: both are needed, and writes work.
    await c.run(leader.set('/after', 'removal'));
    assertRaftError(await c.fail(victim.set('/x', 'y')), 'RAFT_STOPPED');
    assert.deepEqual((await c.run(victim.health())).health, false);
    assert.equal(removed, 1);
    await c.close();
  });

  test('members.remove of the leader stops it with removed, and the others elect a new leader and go on', async () => {
    const c = new StoreCluster({ seed: 66 });
    const leader = await c.start();
    let removed = false;
    leader.on('removed', () => void (removed = true));
    await c.run(leader.members.remove(leader.id));
    await c.clock.waitFor(() => removed, { timeoutMs: 5000, description: 'the old leader heard it was removed' });
    const next = await c.waitForLeader();
    assert.notEqual(next.id, leader.id);
    const list = await next.members.list();
    assert.equal(list.length, 2);
    assert.ok(!list.some((m) => m.id === leader.id));
    await c.run(next.set('/after', 'leader removal'));
    assertRaftError(await c.fail(leader.set('/x', 'y')), 'RAFT_STOPPED');
    await c.close();
  });

  test('members.update changes a member\'s peer URLs everywhere, and the member is reached at the new one', async () => {
    const c = new StoreCluster({ seed: 67 });
    const leader = await c.start();
    const moving = c.followers()[0];
    await c.run(leader.members.update(moving.id, ['mem://moved']));
    await c.waitForConvergence();
    for (const n of c.live()) {
      const me = (await n.members.list()).find((m) => m.id === moving.id);
      assert.deepEqual(me?.peerURLs, ['mem://moved'], n.name);
      assert.equal(me?.name, moving.name, 'the name stays');
    }
    // Restart the member listening at its new address (same name, same log).
    await c.stop(moving.name);
    await c.run(leader.set('/while/moving', '1'));
    const moved = await c.restart(moving.name, { transport: c.net.transport('moved') });
    assert.equal(moved.id, moving.id);
    await c.run(leader.set('/after/move', '2'));
    await c.waitForConvergence();
    assert.equal((await c.run(moved.get('/after/move', { consistency: 'serializable' }))).node.value, '2');
    assertKvError(await c.fail(leader.members.update('ffffffffffffffff', ['mem://x'])), 100);
    await c.close();
  });

  test('transferLeadership hands leadership to the named member', async () => {
    const c = new StoreCluster({ seed: 64 });
    const leader = await c.start();
    const [target, bystander] = c.followers();
    assertRaftError(await c.fail(target.transferLeadership(bystander.id)), 'RAFT_NOT_LEADER');
    await c.run(leader.transferLeadership(target.id));
    await c.clock.waitFor(() => c.live().every((n) => n.status().leader === target.id), { description: 'everyone follows the target' });
    assert.equal(target.status().isLeader, true);
    assert.equal(leader.status().isLeader, false);
    for (const n of c.live()) {
      const leaders = (await n.members.list()).filter((m) => m.isLeader);
      assert.deepEqual(leaders.map((m) => m.id), [target.id]);
    }
    await c.run(leader.set('/after', 'transfer'));
    await c.close();
  });

  test('health() is true with a quorum and false without, within the request timeout', async () => {
    const c = new StoreCluster({ seed: 65, node: { requestTimeoutMs: 1000 } });
    await c.start();
    for (const n of c.live()) assert.deepEqual(await c.run(n.health()), { health: true });
    const [a, b, survivor] = c.live();
    await c.stop(a.name);
    await c.waitForLeader(); // a new one if `a` led
    assert.deepEqual(await c.run(survivor.health()), { health: true }, 'two of three still make a quorum');
    await c.stop(b.name);
    const started = c.clock.now();
    const h = await c.run(survivor.health(), 5000);
    assert.equal(h.health, false);
    assert.equal(typeof h.reason, 'string');
    assert.ok(c.clock.now() - started <= 1000 + 200, `health took ${c.clock.now() - started} ms`);
    assert.deepEqual(await c.run(a.health()), { health: false, reason: 'node is closed' });
    await c.close();
  });
});
