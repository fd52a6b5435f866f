// Unit-testing distributed logic with the in-memory network: three members
// each run a LeaderOnlyScheduler; the test cuts the leader off, watches
// another member take over, heals, and checks the replicated history.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryLogStore, RaftNode } from '@kv/raft';
import { createMemoryNetwork } from '@kv/raft/testing';
import { JobHistory, LeaderOnlyScheduler, type JobRun } from './scheduler.ts';

test('only the leader runs the job, and a leader change hands the job over without a lost or doubled run', async () => {
  const net = createMemoryNetwork({ seed: 42, clock: 'manual' });
  const members = { a: 'mem://a', b: 'mem://b', c: 'mem://c' };
  const histories = new Map<string, JobHistory>();
  const nodes = Object.keys(members).map((id) => {
    const history = new JobHistory();
    histories.set(id, history);
    return new RaftNode<JobRun>({
      id,
      initialMembers: members,
      logStore: new MemoryLogStore(),
      transport: net.transport(id),
      stateMachine: history,
      requestTimeoutMs: 3000,
    });
  });
  await Promise.all(nodes.map((n) => n.start()));
  const schedulers = nodes.map((n) => new LeaderOnlyScheduler(n, { intervalMs: 500, clock: net.clock }));
  const leader = (): RaftNode<JobRun> | undefined => nodes.find((n) => n.status().isLeader);

  await net.clock.waitFor(() => leader() !== undefined, { description: 'a leader is elected' });
  const first = leader()!;
  await net.clock.runFor(3000);
  const before = histories.get(first.id)!.runs.length;
  assert.ok(before >= 4, `the leader ran the job ${before} times in 3 s`);
  assert.ok(histories.get(first.id)!.runs.every((r) => r.by === first.id), 'only the leader ran it');

  // Cut the leader off: its runs can no longer commit, another member takes over.
  net.isolate(first.id);
  await net.clock.waitFor(() => nodes.some((n) => n !== first && n.status().isLeader), {
    timeoutMs: 10_000,
    description: 'a new leader among the connected members',
  });
  const second = nodes.find((n) => n !== first && n.status().isLeader)!;
  await net.clock.runFor(3000);
  net.heal();
  await net.clock.waitFor(() => first.status().leader === second.id && first.status().appliedIndex === second.status().appliedIndex, {
    timeoutMs: 10_000,
    description: 'the old leader follows and catches up',
  });
  await net.clock.runFor(1000);

  // One history, everywhere.
  const runs = histories.get(second.id)!.runs;
  for (const h of histories.values()) assert.deepEqual(h.runs.slice(0, runs.length - 2), runs.slice(0, runs.length - 2));
  // The job moved from the first leader to the second, and never back: the
  // cut-off leader's attempts all failed (none reached a quorum).
  const firstByNew = runs.findIndex((r) => r.by === second.id);
  assert.ok(firstByNew > 0);
  assert.ok(runs.slice(0, firstByNew).every((r) => r.by === first.id));
  assert.ok(runs.slice(firstByNew).every((r) => r.by === second.id));
  const firstScheduler = schedulers[nodes.indexOf(first)];
  const lostWhileCut = firstScheduler.attempts.filter((a) => a.outcome === 'failed');
  assert.ok(lostWhileCut.length > 0, 'the isolated leader fired and saw its runs fail');
  assert.equal(runs.filter((r) => r.by === first.id).length, firstScheduler.attempts.filter((a) => a.outcome === 'committed').length);

  for (const s of schedulers) s.stop();
  await Promise.all(nodes.map((n) => n.close()));
});
