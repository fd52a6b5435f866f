// Short fault runs on the memory network (virtual time): each nemesis alone,
// then all of them combined, on three and five members. `npm run
// test:jepsen` runs many more seeds for longer (memory.long.test.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ALL_MEMORY_FAULTS, runMemoryJepsen, type MemoryFault, type MemoryRunOptions, type MemoryRunReport } from './memory-run.ts';

/** Runs one configuration and fails with the checker's report and the replay seed. */
export async function assertRunPasses(opts: MemoryRunOptions): Promise<MemoryRunReport> {
  const r = await runMemoryJepsen(opts);
  const replay = `replay: KV_JEPSEN_SEED=${opts.seed} node scripts/run-tests.mjs jepsen/memory`;
  if (r.check.linearizable === false) assert.fail(`${r.check.report}\n${replay}`);
  if (r.check.linearizable === 'unknown') assert.fail(`${r.check.report}\n${replay}`);
  assert.deepEqual(r.problems, [], replay);
  const faults = Object.entries(r.faults).map(([k, v]) => `${k}×${v}`).join(' ');
  console.log(
    `# seed ${opts.seed}: ${r.history.length} ops (${r.stats.ok} ok, ${r.stats.fail} failed, ${r.stats.unknown} unknown), ` +
      `faults ${faults || 'none'}, ${r.watchEvents} watch events, checked in ${r.checkMs.toFixed(0)} ms`,
  );
  return r;
}

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
