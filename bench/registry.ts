// The benchmarks by name (DESIGN.md's names). KV_BENCH_SECONDS sets how
// long the timed ones run (default 5).
import { runRaftCore } from './raft-core.ts';
import { runRaftNodeBench } from './raft-node.ts';
import type { Measurement } from './stats.ts';
import { clusterDurableWrite, clusterFailover, clusterRecovery } from './cluster.ts';
import { httpVsEtcd } from './http.ts';
import { storeRead, storeRss1mKeys, storeWrite } from './store.ts';

const seconds = (): number => Number(process.env.KV_BENCH_SECONDS ?? 5);

export const BENCHMARKS: Record<string, () => Measurement | Promise<Measurement>> = {
  'raft-core': () => runRaftCore({ seconds: seconds() }),
  'raft-node': () => runRaftNodeBench({ seconds: seconds() }),
  'store-write-c1': () => storeWrite(1, seconds()),
  'store-write-c1000': () => storeWrite(1000, seconds()),
  'store-read-linearizable': () => storeRead('linearizable', seconds()),
  'store-read-serializable': () => storeRead('serializable', seconds()),
  'store-rss-1m-keys': () => storeRss1mKeys(),
  'cluster-durable-write-c1': () => clusterDurableWrite(1, seconds()),
  'cluster-durable-write-c16': () => clusterDurableWrite(16, seconds()),
  'cluster-durable-write-c64': () => clusterDurableWrite(64, seconds()),
  'cluster-failover': () => clusterFailover(5),
  'cluster-recovery': () => clusterRecovery(Number(process.env.KV_RECOVERY_MB ?? 1024)),
  'http-vs-etcd-write': () => httpVsEtcd('write', seconds()),
  'http-vs-etcd-read-linearizable': () => httpVsEtcd('read-linearizable', seconds()),
  'http-vs-etcd-read-serializable': () => httpVsEtcd('read-serializable', seconds()),
};
