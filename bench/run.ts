// npm run bench [-- NAME...]: runs the named benchmarks (all by default),
// each in its own process so one's heap does not weigh on the next, and
// prints one JSON line per measurement on stdout; progress goes to stderr.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BENCHMARKS } from './registry.ts';
import { progress } from './stats.ts';

const wanted = process.argv.slice(2);
const names = wanted.length === 0 ? Object.keys(BENCHMARKS) : wanted;
const unknown = names.filter((n) => !(n in BENCHMARKS));
if (unknown.length > 0) {
  progress(`unknown benchmark(s) ${unknown.join(', ')}; known: ${Object.keys(BENCHMARKS).join(', ')}`);
  process.exit(2);
}
const one = fileURLToPath(new URL('./run-one.ts', import.meta.url));
let failed = 0;
for (const name of names) {
  progress(`running ${name}...`);
  const r = spawnSync(process.execPath, [...process.execArgv, one, name], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    progress(`${name} failed (exit ${r.status})`);
    failed++;
  }
}
process.exit(failed > 0 ? 1 : 0);
