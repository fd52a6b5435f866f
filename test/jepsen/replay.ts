// Replays one memory-network fault run from the options a failure printed,
// with the nemesis log on stderr:
//   node --conditions=kv-source --import tsx test/jepsen/replay.ts '{"seed":7,"durationMs":15000}'
import { runMemoryJepsen, type MemoryRunOptions } from './memory-run.ts';

const opts = JSON.parse(process.argv[2] ?? '{}') as MemoryRunOptions;
if (typeof opts.seed !== 'number') {
  console.error(`usage: replay.ts '{"seed":N, ...MemoryRunOptions}'`);
  process.exit(2);
}
const r = await runMemoryJepsen({ ...opts, log: (l) => console.error(l) });
console.log(`${r.history.length} operations, faults ${JSON.stringify(r.faults)}, checked in ${r.checkMs.toFixed(0)} ms`);
if (r.check.linearizable !== true) console.log('report' in r.check ? r.check.report : r.check);
for (const p of r.problems) console.log(`problem: ${p}`);
process.exit(r.check.linearizable === true && r.problems.length === 0 ? 0 : 1);
