// Deterministic simulation: clusters of 3 and 5 raw nodes on a network that
// drops, duplicates, delays and reorders messages and partitions nodes,
// while the nemesis changes the membership (new voters and learners,
// promotions, removals — of the leader too), transfers leadership, crashes
// nodes (losing what they had not persisted) and compacts logs (so nodes
// install snapshots). Every safety property is checked after every step (see
// src/testing/invariants.ts) and the final configuration must make progress
// once faults heal.
//
// Replay one seed: KV_SIM_SEED=17 KV_SIM_NODES=5 node scripts/run-tests.mjs simulation
// (a failure prints the exact command, with KV_SIM_OPTS for non-default options).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSimulation, type SimulationOptions, type SimulationResult } from '../src/testing/simulation.ts';

const SEEDS_PER_SIZE = 250;

function runSeeds(nodes: number, from: number, count: number): SimulationResult[] {
  const results: SimulationResult[] = [];
  for (let seed = from; seed < from + count; seed++) results.push(runSimulation({ seed, nodes }));
  return results;
}

const replay = process.env.KV_SIM_SEED;
if (replay !== undefined) {
  test(`replays simulation seed ${replay}`, () => {
    const extra = JSON.parse(process.env.KV_SIM_OPTS ?? '{}') as Partial<SimulationOptions>;
    const r = runSimulation({ ...extra, seed: Number(replay), nodes: Number(process.env.KV_SIM_NODES ?? 3) });
    console.log(JSON.stringify(r));
  });
} else {
  for (const nodes of [3, 5]) {
    test(`${SEEDS_PER_SIZE} seeds of a ${nodes}-node cluster under faults, membership changes, transfers, crashes and compaction keep every safety property and recover`, (t) => {
      const results = runSeeds(nodes, 1, SEEDS_PER_SIZE);
      // The runs must have exercised something: elections, commits, reads,
      // losses and partitions, in every seed.
      for (const r of results) {
        assert.ok(r.committed > 0, `seed ${r.seed} committed nothing`);
        assert.ok(r.messagesDropped > 0, `seed ${r.seed} dropped no message`);
      }
      const total = (f: (r: SimulationResult) => number) => results.reduce((a, r) => a + f(r), 0);
      const avg = (f: (r: SimulationResult) => number) => (total(f) / results.length).toFixed(2);
      t.diagnostic(
        `per seed: ${avg((r) => r.confChangesCommitted)} conf changes committed, ${avg((r) => r.nodesAdded)} nodes added, ` +
          `${avg((r) => r.nodesRemoved)} removed, ${avg((r) => r.transfers)} transfers (${avg((r) => r.transfersCompleted)} completed), ` +
          `${avg((r) => r.snapshotsTaken)} snapshots taken, ${avg((r) => r.snapshotsInstalled)} installed, ${avg((r) => r.crashes)} crashes`,
      );
      assert.ok(total((r) => r.readsChecked) > SEEDS_PER_SIZE, 'too few linearizable reads were checked');
      assert.ok(total((r) => r.partitions) > SEEDS_PER_SIZE, 'too few partitions');
      assert.ok(total((r) => r.leaderTerms) > 2 * SEEDS_PER_SIZE, 'too few leader changes');
      assert.ok(total((r) => r.proposalsRejected) > 0, 'no proposal was ever rejected for lack of a leader');
      // And the new faults: membership changes of every kind, transfers,
      // snapshot installs and crashes, in quantity.
      assert.ok(total((r) => r.confChangesCommitted) > SEEDS_PER_SIZE, 'too few membership changes committed');
      assert.ok(total((r) => r.nodesAdded) > SEEDS_PER_SIZE / 2, 'too few nodes added');
      assert.ok(total((r) => r.nodesRemoved) > SEEDS_PER_SIZE / 4, 'too few nodes removed');
      assert.ok(total((r) => r.removedLearned) > 0, 'no removed node ever learned it was removed');
      assert.ok(total((r) => r.leaderRemovals) > 0, 'the leader was never removed');
      assert.ok(total((r) => r.finalLearners) > 0, 'no run ended with a learner');
      assert.ok(total((r) => r.confChangesRefusedPending) > 0, 'a second pending change was never refused');
      assert.ok(total((r) => r.transfersCompleted) > SEEDS_PER_SIZE / 4, 'too few leadership transfers completed');
      assert.ok(total((r) => r.snapshotsInstalled) > SEEDS_PER_SIZE, 'too few snapshots installed');
      assert.ok(total((r) => r.snapshotReports) > SEEDS_PER_SIZE, 'too few snapshot reports');
      assert.ok(total((r) => r.crashes) > 2 * SEEDS_PER_SIZE, 'too few crashes');
      assert.ok(total((r) => r.entriesLost) > 0, 'no crash ever lost an unpersisted entry');
    });
  }
}

test('a simulation run is a pure function of its seed', () => {
  const a = runSimulation({ seed: 4242, nodes: 5 });
  const b = runSimulation({ seed: 4242, nodes: 5 });
  assert.deepEqual(a, b);
});
