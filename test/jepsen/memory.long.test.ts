// Many seeds of the memory-network fault run (npm run test:long and npm run
// test:jepsen): every fault combined, three and five members, longer runs.
// KV_JEPSEN_SEEDS sets how many seeds per size (default 20).
import { describe, test } from 'node:test';
import { assertRunPasses } from './memory-run.ts';

const seeds = Number(process.env.KV_JEPSEN_SEEDS ?? 20);

describe('fault runs on the memory network, many seeds', () => {
  for (const members of [3, 5] as const) {
    test(`${seeds} seeds, ${members} members, all faults`, async () => {
      for (let s = 0; s < seeds; s++) {
        await assertRunPasses({ seed: 1000 * members + s, members, durationMs: 30_000, combine: members === 3 ? 2 : 3, clients: 8 });
      }
    });
  }
});
