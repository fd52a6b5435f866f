// Store benchmarks: three replicas in one process (memory network, memory
// storage), 100-byte values. Writes go to the leader through createNode's
// API; latencies are per operation, promise to promise.
import { createMemoryNetwork } from '@kv/raft/testing';
import { createNode, type KvNode } from '@kv/store';
import { load, percentile, progress, round, rssMb, type Measurement } from './stats.ts';

const VALUE = 'v'.repeat(100);

async function cluster(opts: { snapshotCount?: number; members?: number } = {}): Promise<{ nodes: KvNode[]; leader: KvNode; close(): Promise<void> }> {
  const net = createMemoryNetwork({ seed: 1 });
  const names = Array.from({ length: opts.members ?? 3 }, (_, i) => `m${i + 1}`);
  const initialCluster = Object.fromEntries(names.map((n) => [n, `mem://${n}`]));
  const nodes = await Promise.all(
    names.map((name) =>
      createNode({
        name,
        initialCluster,
        transport: net.transport(name),
        heartbeatIntervalMs: 50,
        electionTimeoutMs: 500,
        ...(opts.snapshotCount ? { snapshotCount: opts.snapshotCount } : {}),
      }),
    ),
  );
  // The first write waits for an election; after it a leader is known.
  await nodes[0].set('/bench/warmup', VALUE);
  const leader = nodes.find((n) => n.status().isLeader)!;
  return { nodes, leader, close: () => Promise.all(nodes.map((n) => n.close())).then(() => undefined) };
}

export async function storeWrite(concurrency: number, seconds: number): Promise<Measurement> {
  const c = await cluster();
  const r = await load(seconds, concurrency, (i) => c.leader.set(`/bench/k${i % 100_000}`, VALUE));
  const rss = rssMb();
  await c.close();
  progress(`store-write-c${concurrency}: ${r.ops} writes in ${round(r.elapsed, 2)} s, ${r.failed} failed`);
  return {
    name: `store-write-c${concurrency}`,
    ops_per_s: Math.round(r.ops / r.elapsed),
    p50_ms: round(percentile(r.lat, 50)),
    p99_ms: round(percentile(r.lat, 99)),
    rss_mb: rss,
    writes: r.ops,
    failed: r.failed,
    concurrency,
    value_bytes: 100,
  };
}

export async function storeRead(consistency: 'linearizable' | 'serializable', seconds: number): Promise<Measurement> {
  const c = await cluster();
  for (let i = 0; i < 1000; i++) await c.leader.set(`/bench/r${i}`, VALUE);
  // Read from a follower: the linearizable path then asks the leader (ReadIndex).
  const reader = c.nodes.find((n) => !n.status().isLeader)!;
  // Serializable reads are local: let the follower apply the writes first.
  await reader.get('/bench/r999');
  const concurrency = 100;
  const r = await load(seconds, concurrency, (i) => reader.get(`/bench/r${i % 1000}`, { consistency }));
  const rss = rssMb();
  await c.close();
  progress(`store-read-${consistency}: ${r.ops} reads in ${round(r.elapsed, 2)} s on a follower, ${r.failed} failed`);
  return {
    name: `store-read-${consistency}`,
    ops_per_s: Math.round(r.ops / r.elapsed),
    p50_ms: round(percentile(r.lat, 50)),
    p99_ms: round(percentile(r.lat, 99)),
    rss_mb: rss,
    reads: r.ops,
    failed: r.failed,
    concurrency,
    on: 'follower',
  };
}

export async function storeRss1mKeys(): Promise<Measurement> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = rssMb();
  // One replica holding the keys: a single-member cluster (the replica's
  // memory is the same; replication would only add time).
  const c = await cluster({ members: 1 });
  const total = 1_000_000;
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      await c.leader.set(`/bench/${i % 1000}/k${i}`, VALUE);
    }
  };
  await Promise.all(Array.from({ length: 1000 }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  // Let the collector settle: array buffers are freed by a concurrent sweeper
  // after a full GC, so one gc() right away still counts hundreds of MB of
  // dead snapshot buffers.
  for (let i = 0; i < 5; i++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 100));
  }
  const rss = rssMb();
  const mem = process.memoryUsage();
  const keys = c.leader.status().keys;
  await c.close();
  progress(`store-rss-1m-keys: ${keys} keys written in ${round(elapsed, 1)} s; RSS ${rss} MB (${before} MB before)${gc ? '' : ' (run with --expose-gc for a settled figure)'}`);
  return {
    name: 'store-rss-1m-keys',
    rss_mb: rss,
    heap_mb: round(mem.heapUsed / (1024 * 1024), 1),
    external_mb: round(mem.external / (1024 * 1024), 1),
    keys,
    rss_before_mb: before,
    load_s: round(elapsed, 1),
    ops_per_s: Math.round(total / elapsed),
  };
}
