// The long simulation (npm run test:long): many more seeds, longer runs and
// harsher faults than npm test. Replay a failure with the command it prints.
// KV_SIM_LONG_SEEDS sets the number of long seeds per cluster size (default 5000).
import { test } from 'node:test';
import { runSimulation } from '../src/testing/simulation.ts';

const seeds = Number(process.env.KV_SIM_LONG_SEEDS ?? 5000);

for (const nodes of [3, 5]) {
  test(`${seeds} long seeds of a ${nodes}-node cluster keep every safety property`, () => {
    for (let seed = 100_000; seed < 100_000 + seeds; seed++) runSimulation({ seed, nodes, rounds: 600 });
  });
  test(`${Math.floor(seeds / 5)} seeds of a ${nodes}-node cluster under heavy loss keep every safety property`, () => {
    for (let seed = 200_000; seed < 200_000 + seeds / 5; seed++) {
      runSimulation({ seed, nodes, rounds: 400, dropRate: 0.3, duplicateRate: 0.2, maxDelayRounds: 8, partitionRate: 0.08 });
    }
  });
  test(`${Math.floor(seeds / 5)} seeds of a ${nodes}-node cluster under heavy membership churn, crashes and compaction keep every safety property`, () => {
    for (let seed = 300_000; seed < 300_000 + seeds / 5; seed++) {
      runSimulation({
        seed,
        nodes,
        rounds: 500,
        confChangeRate: 0.15,
        transferRate: 0.04,
        crashRate: 0.04,
        crashAfterVoteRate: 0.3,
        maxDownRounds: 30,
        compactRate: 0.08,
        snapshotEvery: 3,
      });
    }
  });
}
