// raft-node: three RaftNodes in one process on the memory network (real
// clock, no added latency) with MemoryLogStore, 1,000 concurrent proposers
// on the leader, 100-byte proposals. ops_per_s = applied writes per second;
// p50/p99 = propose → applied (promise settled) latency.
import { MemoryLogStore, RaftNode, type StateMachine } from '@kv/raft';
import { createMemoryNetwork } from '@kv/raft/testing';
import { load, percentile, progress, round, rssMb, type Measurement } from './stats.ts';

export interface RaftNodeBenchOptions {
  seconds?: number;
  concurrency?: number;
  payloadBytes?: number;
}

/** A state machine that only counts: the bench measures the driver, not the app. */
class CountingMachine implements StateMachine<number> {
  count = 0;
  apply(): number {
    return ++this.count;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.count));
  }
  restore(data: Uint8Array): void {
    this.count = Number(new TextDecoder().decode(data));
  }
}

export async function runRaftNodeBench(opts: RaftNodeBenchOptions = {}): Promise<Measurement> {
  const seconds = opts.seconds ?? 5;
  const concurrency = opts.concurrency ?? 1000;
  const payload = new Uint8Array(opts.payloadBytes ?? 100).fill(0x61);
  const net = createMemoryNetwork({ seed: 1 });
  const members = { '1': 'mem://n1', '2': 'mem://n2', '3': 'mem://n3' };
  const nodes = Object.keys(members).map(
    (id) =>
      new RaftNode({
        id,
        initialMembers: members,
        logStore: new MemoryLogStore(),
        transport: net.transport(`n${id}`),
        stateMachine: new CountingMachine(),
        heartbeatIntervalMs: 50,
        electionTimeoutMs: 500,
      }),
  );
  await Promise.all(nodes.map((n) => n.start()));
  nodes[0].campaign();
  while (!nodes[0].status().isLeader) await new Promise((r) => setTimeout(r, 5));
  const leader = nodes[0];

  // Latencies are sampled (every 8th write) to keep memory flat at high rates.
  const r = await load(seconds, concurrency, () => leader.propose(payload));
  const [applied, failed, elapsed, latencies] = [r.ops, r.failed, r.elapsed, r.lat];
  const rss = rssMb();
  await Promise.all(nodes.map((n) => n.close()));
  progress(`raft-node: ${applied} writes in ${round(elapsed, 2)} s, ${failed} failed`);
  return {
    name: 'raft-node',
    ops_per_s: Math.round(applied / elapsed),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    rss_mb: rss,
    writes: applied,
    failed,
    seconds: round(elapsed, 2),
    concurrency,
    payload_bytes: payload.byteLength,
    nodes: 3,
  };
}
