// Short fault runs on the memory network (virtual time): each nemesis alone,
// then all of them combined, on three and five members. `npm run
// test:jepsen` runs many more seeds for longer (memory.long.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ALL_MEMORY_FAULTS, assertRunPasses, type MemoryFault } from './memory-run.ts';

const only = process.env.KV_JEPSEN_SEED !== undefined ? Number(process.env.KV_JEPSEN_SEED) : undefined;

describe('fault runs on the memory network', () => {
  for (const [i, fault] of ALL_MEMORY_FAULTS.entries()) {
    test(`${fault} alone`, async () => {
      const r = await assertRunPasses({ seed: only ?? 100 + i, faults: [fault as MemoryFault], combine: 1, durationMs: 8_000 });
      assert.ok((r.faults[fault] ?? 0) > 0, `the ${fault} nemesis never struck`);
      assert.ok(r.stats.ok > 100, `only ${r.stats.ok} operations completed`);
    });
  }

  test('all faults combined, three members', async () => {
    const r = await assertRunPasses({ seed: only ?? 7, durationMs: 15_000, combine: 2 });
    assert.ok(Object.keys(r.faults).length >= 4, `few faults struck: ${JSON.stringify(r.faults)}`);
  });

  test('all faults combined, five members', async () => {
    await assertRunPasses({ seed: only ?? 8, members: 5, durationMs: 15_000, combine: 3 });
  });
});
