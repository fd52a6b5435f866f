// createNode({ dataDir }): durable storage on classic-level by default when a
// data dir is given — data back after a restart (also from a snapshot and
// after compaction), the member's identity recorded and checked, the lock,
// group commit, and refusals of another cluster's or a removed member's dir.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, test } from 'node:test';

import { createMemoryNetwork } from '@kv/raft/testing';

import { createNode, isStorageError, LevelLogStore, type KvNode } from '../../src/index.ts';
import { tempDir } from './helpers.ts';
import { FAST, leading, startSingle } from './node.ts';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function newDir(): Promise<string> {
  const dir = await tempDir('node');
  dirs.push(dir);
  return dir;
}

async function refusal(p: Promise<unknown>): Promise<Error & { code?: unknown }> {
  let caught: unknown;
  await p.then(
    (v) => {
      if (v && typeof (v as KvNode).close === 'function') void (v as KvNode).close();
      assert.fail('expected createNode to refuse');
    },
    (e: unknown) => void (caught = e),
  );
  assert.ok(caught instanceof Error, String(caught));
  return caught;
}

/** Writes `count` keys /k/0.. from `concurrency` writers at a time. */
async function writeKeys(node: KvNode, count: number, concurrency = 64): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        await node.set(`/k/${i}`, i);
      }
    }),
  );
}

describe('createNode with dataDir', () => {
  test('writes survive close and restart on the same data dir, with the same member ID', async () => {
    const dir = await newDir();
    const first = await startSingle({ dataDir: dir });
    await first.set('/os', 'linux');
    await first.mkdir('/jobs');
    await first.set('/jobs/a', { n: 1 });
    const id = first.id;
    assert.ok(first.status().dbSize > 0, 'dbSize reports the bytes on disk');
    await first.close();

    const second = await startSingle({ dataDir: dir });
    assert.equal(second.id, id);
    assert.equal((await second.get('/os')).node.value, 'linux');
    assert.deepEqual((await second.get('/jobs/a')).node.value, { n: 1 });
    const r = await second.set('/after', 'restart');
    assert.ok(r.index > 3);
    await second.close();
  });

  test('a restart after snapshots and log compaction restores the snapshot and replays the log after it', async () => {
    const dir = await newDir();
    const first = await startSingle({ dataDir: dir, snapshotCount: 1000 });
    await writeKeys(first, 6200);
    await first.close();

    const store = await LevelLogStore.open({ dir });
    const persisted = await store.load();
    const { firstIndex, snapshotIndex } = store.inspect();
    await store.close();
    assert.ok(snapshotIndex >= 6000, `snapshot at ${snapshotIndex}`);
    assert.ok(firstIndex > 1000, `log compacted: first index ${firstIndex}`);
    assert.ok(persisted.entries.length > 0 && persisted.entries[0].index === snapshotIndex + 1);

    const second = await startSingle({ dataDir: dir, snapshotCount: 1000 });
    const all = await second.get('/k', { recursive: true });
    assert.equal(all.node.nodes?.length, 6200);
    assert.equal((await second.get('/k/6199')).node.value, 6199);
    await second.close();
  });

  test('a second node on a data dir in use fails with STORE_DATA_DIR_LOCKED, and the first keeps working', async () => {
    const dir = await newDir();
    const first = await startSingle({ dataDir: dir });
    const err = await refusal(
      createNode({ name: 'm1', initialCluster: { m1: 'mem://m1' }, transport: createMemoryNetwork({ seed: 2 }).transport('m1'), dataDir: dir }),
    );
    assert.ok(isStorageError(err, 'STORE_DATA_DIR_LOCKED'), String(err));
    assert.match(err.message, /is already open in this process/);
    await first.set('/still', 'works');
    await first.close();
  });

  test("a data dir of another cluster refuses to start with STORE_CLUSTER_ID_MISMATCH (etcd's 'different cluster ID')", async () => {
    const dir = await newDir();
    const first = await startSingle({ dataDir: dir, initialClusterToken: 'cluster-a' });
    const clusterId = first.status().clusterId;
    await first.close();
    const err = await refusal(startSingle({ dataDir: dir, initialClusterToken: 'cluster-b' }));
    assert.ok(isStorageError(err, 'STORE_CLUSTER_ID_MISMATCH'), String(err));
    assert.match(err.message, new RegExp(`data dir .* has a different cluster ID \\(${clusterId}\\)`));
    // The refusal released the directory: its own cluster's settings start it.
    const again = await startSingle({ dataDir: dir, initialClusterToken: 'cluster-a' });
    assert.equal(again.status().clusterId, clusterId);
    await again.close();
  });

  test('concurrent writes share fsyncs: one sync batch serves many proposals (group commit)', async () => {
    const dir = await newDir();
    const store = await LevelLogStore.open({ dir });
    const node = await startSingle({ logStore: store });
    const before = store.stats;
    const writes = 400;
    await writeKeys(node, writes, writes);
    const after = store.stats;
    const batches = after.syncBatches - before.syncBatches;
    const entries = after.entries - before.entries;
    assert.ok(entries >= writes, `${entries} entries written`);
    assert.ok(batches * 4 <= writes, `${writes} concurrent writes took ${batches} sync batches`);
    await node.close();
    await store.close();
  });
});

describe('createNode with dataDir in a cluster', () => {
  /** Three members m1..m3 on one real-clock memory network; m3 (and m4 when it joins) on data dirs. */
  async function cluster(seed: number): Promise<{
    net: ReturnType<typeof createMemoryNetwork>;
    nodes: KvNode[];
    dirs: Record<string, string>;
    /** Resolves once m3 has closed, its data dir released. */
    m3Closed: Promise<void>;
  }> {
    const net = createMemoryNetwork({ seed });
    const initialCluster = { m1: 'mem://m1', m2: 'mem://m2', m3: 'mem://m3' };
    const d = { m3: await newDir(), m4: await newDir() };
    let closed!: () => void;
    const m3Closed = new Promise<void>((resolve) => (closed = resolve));
    const nodes = await Promise.all(
      ['m1', 'm2', 'm3'].map((name) =>
        createNode({
          name,
          initialCluster,
          transport: net.transport(name),
          ...FAST,
          ...(name === 'm3' ? { dataDir: d.m3, onClose: async () => closed() } : {}),
        }),
      ),
    );
    await Promise.all(nodes.map(leading));
    return { net, nodes, dirs: d, m3Closed };
  }

  function leaderOf(nodes: readonly KvNode[]): KvNode {
    const id = nodes[0].status().leader;
    const leader = nodes.find((n) => n.id === id);
    assert.ok(leader, 'a leader is known');
    return leader;
  }

  test("a member that joined with 'existing' restarts from its data dir without memberId, and records the cluster ID", async () => {
    const { net, nodes, dirs: d } = await cluster(11);
    const leader = leaderOf(nodes);
    await leader.set('/before', 'join');
    const initialCluster = { m1: 'mem://m1', m2: 'mem://m2', m3: 'mem://m3', m4: 'mem://m4' };
    const joining = createNode({ name: 'm4', initialCluster, initialClusterState: 'existing', transport: net.transport('m4'), dataDir: d.m4, ...FAST });
    const { member } = await leader.members.add('m4', ['mem://m4']);
    let m4 = await joining;
    assert.equal(m4.id, member.id);
    assert.equal((await m4.get('/before')).node.value, 'join');
    await m4.close();

    m4 = await createNode({ name: 'm4', initialCluster, initialClusterState: 'existing', transport: net.transport('m4'), dataDir: d.m4, ...FAST });
    assert.equal(m4.id, member.id, 'the ID came from the data dir');
    await leading(m4);
    await leader.set('/after', 'restart');
    assert.equal((await m4.get('/after')).node.value, 'restart');
    assert.equal((await m4.get('/before')).node.value, 'join');
    await m4.close();

    const store = await LevelLogStore.open({ dir: d.m4 });
    assert.deepEqual(await store.readMeta(), { clusterId: leader.status().clusterId, memberId: member.id, name: 'm4' });
    await store.close();
    await Promise.all(nodes.map((n) => n.close()));
  });

  test('a removed member records it, and its data dir refuses to start: "permanently removed from the cluster"', async () => {
    const { net, nodes, dirs: d, m3Closed } = await cluster(12);
    const m3 = nodes[2];
    if (leaderOf(nodes) === m3) await m3.transferLeadership(nodes[0].id);
    const leader = leaderOf(nodes);
    await leader.set('/x', '1');
    await leader.members.remove(m3.id);
    // The removed member closes itself (recording the removal first).
    await m3Closed;
    const err = await refusal(
      createNode({ name: 'm3', initialCluster: { m1: 'mem://m1', m2: 'mem://m2', m3: 'mem://m3' }, transport: net.transport('m3'), dataDir: d.m3, ...FAST }),
    );
    assert.ok(isStorageError(err, 'STORE_MEMBER_REMOVED'), String(err));
    assert.match(err.message, /this member has been permanently removed from the cluster/);
    await Promise.all(nodes.slice(0, 2).map((n) => n.close()));
  });
});
