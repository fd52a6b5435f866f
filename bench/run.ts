// npm run bench [-- NAME...]: runs the named benchmarks (all by default),
// one JSON line per measurement on stdout; progress goes to stderr.
import { runRaftCore } from './raft-core.ts';
import { runRaftNodeBench } from './raft-node.ts';
import { storeRead, storeRss1mKeys, storeWrite } from './store.ts';
import { emit, progress, type Measurement } from './stats.ts';

const benchmarks: Record<string, () => Measurement | Promise<Measurement>> = {
  'raft-core': () => runRaftCore({ seconds: Number(process.env.KV_BENCH_SECONDS ?? 5) }),
  'raft-node': () => runRaftNodeBench({ seconds: Number(process.env.KV_BENCH_SECONDS ?? 5) }),
  'store-write-c1': () => storeWrite(1, Number(process.env.KV_BENCH_SECONDS ?? 5)),
  'store-write-c1000': () => storeWrite(1000, Number(process.env.KV_BENCH_SECONDS ?? 5)),
  'store-read-linearizable': () => storeRead('linearizable', Number(process.env.KV_BENCH_SECONDS ?? 5)),
  'store-read-serializable': () => storeRead('serializable', Number(process.env.KV_BENCH_SECONDS ?? 5)),
  'store-rss-1m-keys': () => storeRss1mKeys(),
};

const wanted = process.argv.slice(2);
const names = wanted.length === 0 ? Object.keys(benchmarks) : wanted;
for (const name of names) {
  const run = benchmarks[name];
  if (!run) {
    progress(`unknown benchmark ${name}; known: ${Object.keys(benchmarks).join(', ')}`);
    process.exit(2);
  }
  progress(`running ${name}...`);
  emit(await run());
}
