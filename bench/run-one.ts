// Runs one benchmark (by name) and prints its JSON line: the child process
// bench/run.ts starts for each measurement.
import { BENCHMARKS } from './registry.ts';
import { emit } from './stats.ts';

const name = process.argv[2] ?? '';
const run = BENCHMARKS[name];
if (!run) {
  process.stderr.write(`unknown benchmark ${name}\n`);
  process.exit(2);
}
emit(await run());
