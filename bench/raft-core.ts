// raft-core: three raw nodes in one process, messages handed over directly,
// no fsync, 100-byte proposals. ops_per_s counts committed entries per
// second on the leader; p50/p99 are proposal → commit latencies of batches.
import { RawCluster } from '@kv/raft/testing';
import { percentile, progress, round, rssMb, type Measurement } from './stats.ts';

export interface RaftCoreOptions {
  /** Wall-clock budget for the measured phase. */
  seconds?: number;
  /** Proposals handed to the leader per round (a driver's group commit). */
  batch?: number;
  /** Bytes per proposal. */
  payloadBytes?: number;
}

export function runRaftCore(opts: RaftCoreOptions = {}): Measurement {
  const seconds = opts.seconds ?? 5;
  const batch = opts.batch ?? 512;
  const payload = new Uint8Array(opts.payloadBytes ?? 100).fill(0x61);
  const ids = ['1', '2', '3'];
  const cluster = new RawCluster({ ids, seed: 1 });

  // Elect node 1.
  cluster.get('1').node.campaign();
  cluster.stabilize();
  const leader = cluster.get('1');
  if (leader.node.raft.state !== 2) throw new Error('bench: node 1 did not become leader');

  const deliver = (): number => {
    let moved = 0;
    for (const id of ids) {
      for (const m of cluster.processReady(id)) {
        cluster.get(m.to).node.step(m);
        moved++;
      }
    }
    return moved;
  };

  const pending: { last: number; t0: number }[] = [];
  const latencies: number[] = [];
  const startIndex = leader.appliedIndex;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let rounds = 0;
  let messages = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < batch; i++) leader.node.propose(payload);
    pending.push({ last: leader.node.raft.log.lastIndex(), t0: performance.now() });
    // Two delivery passes per round: appends out, acks back. Leaves one
    // batch in flight while the next is proposed (pipelining).
    messages += deliver();
    messages += deliver();
    const now = performance.now();
    while (pending.length > 0 && pending[0].last <= leader.appliedIndex) latencies.push(now - pending.shift()!.t0);
    if (++rounds % 256 === 0) {
      for (const n of cluster.nodes.values()) {
        const upTo = n.appliedIndex - 1024;
        if (upTo > n.storage.firstIndex()) n.storage.compact(upTo);
      }
    }
  }
  // Drain what is in flight so every counted entry is committed.
  cluster.stabilize();
  const elapsed = (performance.now() - t0) / 1000;
  const committed = leader.appliedIndex - startIndex;
  const out: Measurement = {
    name: 'raft-core',
    ops_per_s: Math.round(committed / elapsed),
    p50_ms: round(percentile(latencies, 50)),
    p99_ms: round(percentile(latencies, 99)),
    rss_mb: rssMb(),
    entries: committed,
    seconds: round(elapsed, 2),
    batch,
    payload_bytes: payload.byteLength,
    messages,
    nodes: 3,
  };
  progress(`raft-core: ${committed} entries in ${round(elapsed, 2)} s over ${rounds} rounds`);
  return out;
}

