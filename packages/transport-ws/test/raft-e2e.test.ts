// Three RaftNodes from @kv/raft, each with a MemoryLogStore and a list as its
// state machine, talking over wsTransport on 127.0.0.1: they elect a leader,
// replicate proposals (also ones forwarded by followers), and a follower far
// behind catches up from a snapshot sent on the snapshot connection.
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { MemoryLogStore, RaftNode, type AppliedEntry, type StateMachine } from '@kv/raft';

import { wsTransport, type WsTransport } from '../src/ws-transport.ts';
import { captureLogger, freePort, waitFor } from './helpers.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Appends each entry's text; a snapshot is the list as JSON. */
class ListMachine implements StateMachine<number> {
  values: string[] = [];
  apply(e: AppliedEntry): number {
    this.values.push(dec.decode(e.data));
    return this.values.length;
  }
  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify(this.values));
  }
  restore(data: Uint8Array): void {
    this.values = JSON.parse(dec.decode(data)) as string[];
  }
}

interface Running {
  node: RaftNode<number>;
  sm: ListMachine;
  transport: WsTransport;
  lines: string[];
}

let running: Running[] = [];
afterEach(async () => {
  await Promise.all(running.map((r) => r.node.close()));
  running = [];
});

async function cluster(ids: string[], opts: { snapshotCount?: number } = {}): Promise<{ urls: Record<string, string>; start: (id: string) => Running }> {
  const urls: Record<string, string> = {};
  for (const id of ids) urls[id] = `ws://127.0.0.1:${await freePort()}`;
  const start = (id: string): Running => {
    const lines: string[] = [];
    const transport = wsTransport({ listen: urls[id], memberId: id, clusterId: 'e2e', secret: 'shh', logger: captureLogger(lines) });
    const sm = new ListMachine();
    const node = new RaftNode<number>({
      id,
      initialMembers: urls,
      logStore: new MemoryLogStore(),
      transport,
      stateMachine: sm,
      heartbeatIntervalMs: 20,
      electionTimeoutMs: 200,
      ...(opts.snapshotCount !== undefined ? { snapshotCount: opts.snapshotCount, snapshotCatchUpEntries: 0 } : {}),
      logger: captureLogger(lines),
    });
    const r = { node, sm, transport, lines };
    running.push(r);
    return r;
  };
  return { urls, start };
}

test('three RaftNodes over wsTransport elect a leader and replicate proposals', async () => {
  const { start } = await cluster(['n1', 'n2', 'n3']);
  const rs = ['n1', 'n2', 'n3'].map(start);
  await Promise.all(rs.map((r) => r.node.start()));
  await waitFor('a leader known to all', () => {
    const leaders = rs.map((r) => r.node.status().leader);
    return leaders[0] !== undefined && leaders.every((l) => l === leaders[0]);
  });
  const leader = rs.find((r) => r.node.status().isLeader)!;
  const follower = rs.find((r) => !r.node.status().isLeader)!;
  const results = await Promise.all([
    ...Array.from({ length: 30 }, (_, i) => leader.node.propose(enc.encode(`L${i}`))),
    ...Array.from({ length: 10 }, (_, i) => follower.node.propose(enc.encode(`F${i}`))),
  ]);
  assert.equal(results.length, 40);
  await waitFor('every member to apply all 40', () => rs.every((r) => r.sm.values.length === 40));
  for (const r of rs) assert.deepEqual(r.sm.values, leader.sm.values);
  assert.ok(rs.every((r) => r.transport.stats.badFrames === 0 && r.transport.stats.handshakesRefused === 0));
});

test('a follower that was down catches up from a snapshot sent over the snapshot connection', async () => {
  const { start } = await cluster(['n1', 'n2', 'n3'], { snapshotCount: 20 });
  const [r1, r2] = [start('n1'), start('n2')];
  await Promise.all([r1.node.start(), r2.node.start()]);
  await waitFor('a leader among two', () => r1.node.status().leader !== undefined && r1.node.status().leader === r2.node.status().leader);
  const leader = r1.node.status().isLeader ? r1 : r2;
  for (let i = 0; i < 50; i++) await leader.node.propose(enc.encode(`v${i}`));
  await waitFor('a snapshot and compaction on the leader', () => leader.node.status().snapshotIndex > 3);
  const r3 = start('n3');
  await r3.node.start();
  await waitFor('n3 to catch up', () => r3.sm.values.length === 50, 10_000);
  assert.deepEqual(r3.sm.values, leader.sm.values);
  assert.ok(r3.node.status().snapshotIndex > 0, 'n3 installed a snapshot');
  assert.ok(leader.transport.stats.connectionsDialed >= 2);
});
