// RaftNode (node/raft-node.ts) restarts: a new node on the same log store
// (same ID, no initial members) rebuilds its state machine from the
// persisted snapshot plus the committed entries after it, and rejoins. A
// crash (the process dies: nothing more reaches the store or the network)
// loses nothing that was acknowledged.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { NodeId } from '../src/types.ts';
import { NodeCluster, bytes, nameOf } from './helpers/node-cluster.ts';

describe('RaftNode restart', () => {
  test('a follower closed and restarted on its log store rebuilds its state from snapshot and log, then catches up', async () => {
    const c = new NodeCluster({ seed: 41, node: { snapshotCount: 20, snapshotCatchUpEntries: 5 } });
    await c.start();
    const leader = await c.waitForLeader();
    const f = c.follower(leader.id);
    await c.proposeMany(leader.id, 'a', 30);
    await c.waitForConvergence();
    await c.clock.waitFor(() => f.store.inspect().snapshotIndex > 0, { description: 'the follower took a snapshot' });
    await c.proposeMany(leader.id, 'z', 5);
    await c.waitForConvergence();
    const held = f.store.inspect();
    assert.ok(held.lastIndex > held.snapshotIndex, 'entries after the snapshot need replaying');
    const before = [...f.sm.values];
    await c.stop(f.id);

    await c.proposeMany(leader.id, 'b', 10);

    // Restart cut off from the others: what it shows comes from its own store.
    c.net.isolate(nameOf(f.id));
    const again = await c.restart(f.id);
    await c.clock.waitFor(() => again.node.status().appliedIndex >= held.hardState.commit, { description: 'replayed its log' });
    assert.equal(again.sm.restores.length, 1, 'restored from its own snapshot');
    assert.ok(again.sm.indexes.length > 0, 'replayed entries after the snapshot');
    assert.equal(again.sm.indexes[0], held.snapshotIndex + 1);
    assert.deepEqual(again.sm.values, before, 'rebuilt exactly the state it had');

    c.net.heal();
    await c.waitForConvergence();
    assert.deepEqual(again.sm.values, leader.sm.values);
    assert.equal(again.sm.values.length, 45);
    assert.equal(await c.propose(again.id, 'after-restart'), 46);
    await c.close();
  });

  test('a leader closed and restarted rejoins as a follower of the new leader with the same state', async () => {
    const c = new NodeCluster({ seed: 42 });
    await c.start();
    const old = await c.waitForLeader();
    await c.proposeMany(old.id, 'x', 10);
    await c.stop(old.id);
    const others = ['1', '2', '3'].filter((id) => id !== old.id);
    const next = await c.waitForLeader(others);
    await c.proposeMany(next.id, 'y', 10);
    const again = await c.restart(old.id);
    await c.waitForConvergence();
    assert.equal(again.node.status().leader, next.id);
    assert.equal(again.node.status().isLeader, false);
    assert.deepEqual(again.sm.values, next.sm.values);
    assert.equal(again.sm.values.length, 20);
    await c.close();
  });

  test('a crash of every node in the middle of a stream of proposals loses nothing that was acknowledged', async () => {
    // Messages take 3 ms and a round starts every 1 ms, so proposals are
    // always in flight.
    const c = new NodeCluster({ seed: 43, latencyMs: 3, node: { snapshotCount: 25, snapshotCatchUpEntries: 5 } });
    await c.start();
    const leader = await c.waitForLeader();
    const acked: string[] = [];
    const proposers: NodeId[] = ['1', '2', '3'];
    let n = 0;
    // Rounds of proposals a few ms apart, from every node, until some are
    // acknowledged and some are still in flight.
    for (let round = 0; round < 40 && acked.length < 60; round++) {
      for (let k = 0; k < 6; k++) {
        const text = `w${n++}`;
        c.node(proposers[k % 3]).propose(bytes(text)).then(
          () => void acked.push(text),
          () => {},
        );
      }
      await c.clock.advance(1);
    }
    const inFlight = n - acked.length;
    assert.ok(acked.length > 0 && inFlight > 0, `${acked.length} acknowledged, ${inFlight} in flight at the crash`);
    for (const id of proposers) await c.crash(id);
    const ackedAtCrash = [...acked];
    assert.ok(leader.store.inspect().snapshotIndex > 0, 'the crash came after a snapshot');

    for (const id of proposers) await c.restart(id);
    const next = await c.waitForLeader();
    await c.propose(next.id, 'barrier');
    await c.waitForConvergence();
    for (const id of proposers) {
      const values = c.get(id).sm.values;
      for (const text of ackedAtCrash) assert.ok(values.includes(text), `${id} lost acknowledged ${text}`);
      assert.deepEqual(values, c.get('1').sm.values, `${id} agrees with 1`);
      assert.equal(new Set(values).size, values.length, 'no entry applied twice');
    }
    await c.close();
  });

  test('a follower that crashed and restarted while the leader compacted catches up from a snapshot', async () => {
    const c = new NodeCluster({ seed: 44, node: { snapshotCount: 20, snapshotCatchUpEntries: 5 } });
    await c.start();
    const leader = await c.waitForLeader();
    const f = c.follower(leader.id);
    await c.proposeMany(leader.id, 'p', 10);
    await c.waitForConvergence();
    await c.crash(f.id);
    await c.proposeMany(leader.id, 'q', 60);
    await c.clock.waitFor(() => leader.store.inspect().firstIndex > f.store.inspect().lastIndex + 1, {
      description: 'the leader compacted past the crashed follower',
    });
    const again = await c.restart(f.id);
    let fromLeader = 0;
    again.node.on('snapshot', (_m, source) => void (source === 'leader' && fromLeader++));
    await c.waitForConvergence();
    assert.equal(fromLeader, 1);
    assert.deepEqual(again.sm.values, leader.sm.values);
    assert.equal(again.sm.values.length, 70);

    // Restarted once more, it rebuilds from the snapshot it received.
    await c.stop(f.id);
    c.net.isolate(nameOf(f.id));
    const third = await c.restart(f.id);
    await c.clock.waitFor(() => third.node.status().appliedIndex >= again.node.status().appliedIndex, { description: 'rebuilt' });
    assert.equal(third.sm.restores.length, 1);
    assert.deepEqual(third.sm.values, again.sm.values);
    c.net.heal();
    await c.close();
  });

  test('a node restarted with its initial members again does not bootstrap a second time', async () => {
    const c = new NodeCluster({ seed: 45 });
    await c.start();
    const leader = await c.waitForLeader();
    const f = c.follower(leader.id);
    await c.proposeMany(leader.id, 'a', 5);
    await c.waitForConvergence();
    await c.stop(f.id);
    const lastIndex = f.store.inspect().lastIndex;
    const again = await c.restart(f.id, { initialMembers: c.initialMembers });
    await c.propose(leader.id, 'b');
    await c.waitForConvergence();
    assert.deepEqual(again.sm.values, ['a0', 'a1', 'a2', 'a3', 'a4', 'b']);
    assert.equal(again.node.status().lastIndex, lastIndex + 1);
    assert.equal(again.node.memberList().length, 3);
    await c.close();
  });
});
