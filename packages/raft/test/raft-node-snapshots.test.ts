// RaftNode (node/raft-node.ts) snapshots: taken every snapshotCount applied
// entries and the log compacted behind them; sent to a follower that fell
// behind the compaction point, in chunks of snapshotChunkBytes, and restored
// there so its state machine matches everyone else's.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { MessageType, type NodeId, type SnapshotMetadata } from '../src/types.ts';
import { NodeCluster, bytes, nameOf, resolved } from './helpers/node-cluster.ts';

type SnapEvent = { id: NodeId; metadata: SnapshotMetadata; source: 'local' | 'leader' };

function watchSnapshots(c: NodeCluster): SnapEvent[] {
  const events: SnapEvent[] = [];
  for (const m of c.members.values()) m.node.on('snapshot', (metadata, source) => events.push({ id: m.id, metadata, source }));
  return events;
}

describe('RaftNode snapshots', () => {
  test('takes a local snapshot every snapshotCount applied entries and compacts the log behind it', async () => {
    const c = new NodeCluster({ seed: 31, node: { snapshotCount: 20, snapshotCatchUpEntries: 5 } });
    await c.start();
    const events = watchSnapshots(c);
    const leader = await c.waitForLeader();
    await c.proposeMany(leader.id, 'e', 30);
    await c.waitForConvergence();
    // The snapshot follows the apply on a later turn (it awaits the state
    // machine and the store).
    await c.clock.waitFor(() => new Set(events.map((e) => e.id)).size === 3, { description: 'every node took a snapshot' });
    for (const m of c.members.values()) {
      const mine = events.filter((e) => e.id === m.id);
      assert.ok(mine.length >= 1, `${m.id} took a snapshot`);
      assert.ok(mine.every((e) => e.source === 'local'));
      const last = mine.at(-1)!.metadata;
      assert.ok(last.index >= 20, `snapshot at ${last.index}`);
      assert.deepEqual([...last.confState.voters].sort(), ['1', '2', '3']);
      const held = m.store.inspect();
      assert.equal(held.snapshotIndex, last.index, `${m.id}'s store holds the snapshot`);
      assert.equal(held.firstIndex, last.index - 5 + 1, `${m.id}'s log keeps snapshotCatchUpEntries behind the snapshot`);
      assert.equal(held.entryCount, held.lastIndex - held.firstIndex + 1);
      assert.equal(m.node.status().snapshotIndex, last.index);
      assert.ok(m.sm.snapshots >= 1, 'the state machine was asked for its state');
    }
    await c.close();
  });

  test('a follower cut off while the leader compacted catches up from a leader snapshot', async () => {
    const c = new NodeCluster({ seed: 32, node: { snapshotCount: 20, snapshotCatchUpEntries: 5 } });
    await c.start();
    const events = watchSnapshots(c);
    const leader = await c.waitForLeader();
    const behind = c.follower(leader.id);
    await c.propose(leader.id, 'first');
    await c.waitForConvergence();
    c.net.isolate(nameOf(behind.id));
    await c.proposeMany(leader.id, 'while-away', 60);
    await c.clock.waitFor(() => leader.store.inspect().firstIndex > behind.node.status().lastIndex + 1, {
      description: 'the leader compacted past the follower',
    });
    c.net.heal();
    await c.waitForConvergence();
    const installed = events.filter((e) => e.id === behind.id && e.source === 'leader');
    assert.equal(installed.length, 1, 'the follower installed one snapshot from the leader');
    assert.equal(behind.sm.restores.length, 1);
    assert.deepEqual(behind.sm.values, leader.sm.values);
    assert.equal(behind.node.status().snapshotIndex, installed[0].metadata.index);
    assert.equal(behind.store.inspect().snapshotIndex, installed[0].metadata.index, 'the snapshot is durable on the follower');
    // It goes on as a normal member afterwards.
    await c.propose(behind.id, 'after');
    await c.waitForConvergence();
    assert.deepEqual(behind.sm.values, leader.sm.values);
    await c.close();
  });

  test('a large snapshot crosses the network in many chunks and the follower restores it whole', async () => {
    let chunks = 0;
    let wholeSnaps = 0;
    const chunkOffsets = new Set<number>();
    const c = new NodeCluster({
      seed: 33,
      node: { snapshotCount: 100, snapshotCatchUpEntries: 10, snapshotChunkBytes: 1024 },
    });
    await c.start();
    const leader = await c.waitForLeader();
    const behind = c.follower(leader.id);
    c.net.setFilter((m) => {
      if (m.type === MessageType.MsgSnap) {
        if (m.snapshotChunk) {
          chunks++;
          chunkOffsets.add(m.snapshotChunk.offset);
          assert.ok(m.snapshot!.data.byteLength <= 1024, 'no chunk exceeds snapshotChunkBytes');
        } else wholeSnaps++;
      }
      return 'deliver';
    });
    c.net.isolate(nameOf(behind.id));
    const pad = 'x'.repeat(1000);
    const ps = Array.from({ length: 300 }, (_, i) => leader.node.propose(bytes(`${i}:${pad}`)));
    await resolved(c.clock, Promise.all(ps));
    // Writes resolve once applied; the snapshot (and compaction) follows.
    await c.clock.waitFor(() => leader.node.status().snapshotIndex > 0, { description: 'the leader took a snapshot' });
    const stateBytes = JSON.stringify(leader.sm.values).length;
    assert.ok(stateBytes > 250_000, `state is ${stateBytes} bytes`);
    c.net.heal();
    await c.waitForConvergence(undefined, 20_000);
    assert.equal(wholeSnaps, 0, 'the snapshot never went out whole');
    assert.ok(chunks >= stateBytes / 1024, `${chunks} chunks for a ${stateBytes}-byte state`);
    assert.ok(chunkOffsets.size >= stateBytes / 1024);
    assert.equal(behind.sm.restores.length, 1);
    assert.ok(behind.sm.restores[0] >= 250_000);
    assert.deepEqual(behind.sm.values, leader.sm.values);
    await c.close();
  });

  test('a chunked snapshot still restores whole when the network drops, duplicates and reorders messages', async () => {
    const c = new NodeCluster({
      seed: 35,
      node: { snapshotCount: 30, snapshotCatchUpEntries: 5, snapshotChunkBytes: 200 },
    });
    await c.start();
    const leader = await c.waitForLeader();
    const behind = c.follower(leader.id);
    c.net.isolate(nameOf(behind.id));
    await c.proposeMany(leader.id, `${'y'.repeat(50)}-`, 80);
    c.net.setFaults({ dropRate: 0.05, duplicateRate: 0.2, minDelayMs: 0, maxDelayMs: 8 });
    c.net.heal();
    await c.waitForConvergence([leader.id, behind.id], 60_000);
    c.net.clearFaults();
    await c.waitForConvergence();
    assert.ok(behind.sm.restores.length >= 1);
    for (const m of c.live()) assert.deepEqual(m.sm.values, behind.sm.values);
    await c.close();
  });

  test('a snapshot whose chunk was lost is sent again and the follower still restores it', async () => {
    let dropped = 0;
    const c = new NodeCluster({
      seed: 34,
      node: { snapshotCount: 20, snapshotCatchUpEntries: 2, snapshotChunkBytes: 256 },
    });
    await c.start();
    const leader = await c.waitForLeader();
    const behind = c.follower(leader.id);
    c.net.isolate(nameOf(behind.id));
    await c.proposeMany(leader.id, 'v', 60);
    await c.clock.waitFor(() => leader.node.status().snapshotIndex > 0, { description: 'the leader took a snapshot' });
    // Lose the second chunk of the first snapshot sent.
    c.net.setFilter((m) => {
      if (m.type === MessageType.MsgSnap && m.snapshotChunk?.offset === 256 && dropped === 0) {
        dropped++;
        return 'drop';
      }
      return 'deliver';
    });
    c.net.heal();
    await c.waitForConvergence(undefined, 30_000);
    assert.equal(dropped, 1);
    assert.deepEqual(behind.sm.values, leader.sm.values);
    await c.close();
  });
});
