// Many seeds of the real-process fault run (npm run test:long and npm run
// test:jepsen): every fault combined, longer runs, three members and a
// five-member seed. KV_JEPSEN_SEEDS sets how many three-member seeds
// (default 3); KV_JEPSEN_SEED=N reruns one.
import { test } from 'node:test';
import { assertProcessRunPasses } from './process-run.ts';

const seeds = Number(process.env.KV_JEPSEN_SEEDS ?? 3);
const only = process.env.KV_JEPSEN_SEED !== undefined ? Number(process.env.KV_JEPSEN_SEED) : undefined;
const count = only === undefined ? seeds : 1;

test(`${count} seed(s), three kvd processes, all faults, 90 s each`, { timeout: count * 600_000 }, async () => {
  for (let s = 0; s < count; s++) {
    await assertProcessRunPasses({ seed: only ?? 300 + s, durationMs: 90_000, combine: 3, clients: 8 });
  }
});

test('five kvd processes, all faults, 90 s', { timeout: 600_000 }, async () => {
  await assertProcessRunPasses({ seed: only ?? 500, members: 5, durationMs: 90_000, combine: 3, clients: 8 });
});
