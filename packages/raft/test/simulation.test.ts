// Deterministic simulation: clusters of 3 and 5 raw nodes on a network that
// drops, duplicates, delays and reorders messages and partitions nodes,
// with every safety property checked after every step (see
// src/testing/invariants.ts) and progress required once faults heal.
//
// Replay one seed: KV_SIM_SEED=17 KV_SIM_NODES=5 node scripts/run-tests.mjs simulation
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSimulation, type SimulationResult } from '../src/testing/simulation.ts';

const SEEDS_PER_SIZE = 250;

function runSeeds(nodes: number, from: number, count: number): SimulationResult[] {
  const results: SimulationResult[] = [];
  for (let seed = from; seed < from + count; seed++) results.push(runSimulation({ seed, nodes }));
  return results;
}

const replay = process.env.KV_SIM_SEED;
if (replay !== undefined) {
  test(`replays simulation seed ${replay}`, () => {
    const r = runSimulation({ seed: Number(replay), nodes: Number(process.env.KV_SIM_NODES ?? 3) });
    console.log(JSON.stringify(r));
  });
} else {
  for (const nodes of [3, 5]) {
    test(`${SEEDS_PER_SIZE} seeds of a ${nodes}-node cluster under faults keep every safety property and recover`, () => {
      const results = runSeeds(nodes, 1, SEEDS_PER_SIZE);
      // The runs must have exercised something: elections, commits, reads,
      // losses and partitions, in every seed.
      for (const r of results) {
        assert.ok(r.committed > 0, `seed ${r.seed} committed nothing`);
        assert.ok(r.messagesDropped > 0, `seed ${r.seed} dropped no message`);
      }
      const total = (f: (r: SimulationResult) => number) => results.reduce((a, r) => a + f(r), 0);
      assert.ok(total((r) => r.readsChecked) > SEEDS_PER_SIZE, 'too few linearizable reads were checked');
      assert.ok(total((r) => r.partitions) > SEEDS_PER_SIZE, 'too few partitions');
      assert.ok(total((r) => r.leaderTerms) > 2 * SEEDS_PER_SIZE, 'too few leader changes');
      assert.ok(total((r) => r.proposalsRejected) > 0, 'no proposal was ever rejected for lack of a leader');
    });
  }
}

test('a simulation run is a pure function of its seed', () => {
  const a = runSimulation({ seed: 4242, nodes: 5 });
  const b = runSimulation({ seed: 4242, nodes: 5 });
  assert.deepEqual(a, b);
});
