// Unit-testing distributed logic with the in-memory network: the lock and
// the election of lock.ts / election.ts on three kv members in one process,
// with a manual clock (TTLs read the same virtual time), so crashes,
// partitions and TTL expiry run in milliseconds and the same way each run.
//
//   node scripts/run-tests.mjs examples/lock
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryNetwork, settle, track, type ManualClock, type MemoryNetwork } from '@kv/raft/testing';
import { createNode, type KvEvent, type KvNode } from '@kv/store';
import { Election } from './election.ts';
import { DistributedLock, LockError, type LockHolder, type LockLease } from './lock.ts';

/** The wall-clock time the virtual clock's 0 stands for (TTLs are wall-clock times). */
const T0 = Date.UTC(2025, 0, 1);

interface Cluster {
  readonly net: MemoryNetwork<ManualClock>;
  readonly clock: ManualClock;
  readonly nodes: KvNode[];
  /** Awaits `p` while moving virtual time; fails if it rejects or is still pending after `timeoutMs`. */
  run<T>(p: Promise<T>, timeoutMs?: number): Promise<T>;
  sleep(ms: number): Promise<void>;
  leader(): KvNode;
  close(): Promise<void>;
}

async function startCluster(seed: number): Promise<Cluster> {
  const net = createMemoryNetwork({ seed, clock: 'manual' });
  const clock = net.clock;
  const initialCluster = { m1: 'mem://m1', m2: 'mem://m2', m3: 'mem://m3' };
  const nodes = await Promise.all(
    Object.keys(initialCluster).map((name) =>
      createNode({ name, initialCluster, transport: net.transport(name), wallClock: () => T0 + clock.now() }),
    ),
  );
  await clock.waitFor(() => nodes.some((n) => n.status().isLeader) && nodes.every((n) => n.status().leader !== undefined), {
    description: 'a leader is elected and known',
  });
  const run = async <T>(p: Promise<T>, timeoutMs = 30_000): Promise<T> => {
    const o = await settle(clock, p, timeoutMs);
    if (o.status === 'rejected') throw o.error;
    if (o.status === 'pending') assert.fail(`still pending after ${timeoutMs} ms of virtual time`);
    return o.value;
  };
  return {
    net,
    clock,
    nodes,
    run,
    sleep: (ms) => new Promise((resolve) => clock.setTimeout(resolve, ms)),
    leader: () => nodes.find((n) => n.status().isLeader)!,
    close: () => run(Promise.all(nodes.map((n) => n.close())).then(() => undefined), 10_000),
  };
}

/** Records every event on `key` as seen by `node`'s replica. */
function record(node: KvNode, key: string, signal: AbortSignal): KvEvent[] {
  const events: KvEvent[] = [];
  void (async () => {
    for await (const ev of node.watch(key, { signal })) events.push(ev);
  })();
  return events;
}

test('contenders on three members hold the lock one at a time, and every grant carries a larger fencing token', async () => {
  const c = await startCluster(11);
  const stop = new AbortController();
  const events = record(c.nodes[0], '/locks/job', stop.signal);
  const grants: { who: string; token: number; from: number; to: number }[] = [];
  let inside = 0;

  // Six contenders, two on each member, each taking the lock three times.
  const contender = async (i: number): Promise<void> => {
    const lock = new DistributedLock(c.nodes[i % 3], '/locks/job', { ttlSeconds: 5, clock: c.clock, holder: `c${i}` });
    for (let round = 0; round < 3; round++) {
      const lease = await lock.acquire();
      assert.equal(inside, 0, `c${i} was granted the lock while another contender held it`);
      inside++;
      const from = c.clock.now();
      await c.sleep(50 + 20 * i);
      assert.equal(lease.signal.aborted, false, `c${i}'s lease ended while it worked`);
      grants.push({ who: lease.holder, token: lease.fencingToken, from, to: c.clock.now() });
      inside--;
      await lease.release();
    }
  };
  await c.run(Promise.all([0, 1, 2, 3, 4, 5].map(contender)), 60_000);

  assert.equal(grants.length, 18);
  assert.deepEqual(new Set(grants.map((g) => g.who)), new Set(['c0', 'c1', 'c2', 'c3', 'c4', 'c5']));
  for (let i = 1; i < grants.length; i++) {
    assert.ok(grants[i].token > grants[i - 1].token, `fencing tokens must grow: ${grants[i - 1].token} then ${grants[i].token}`);
    assert.ok(grants[i].from >= grants[i - 1].to, 'two holds overlapped in time');
  }
  // The store's side of it: the key was created and compare-and-deleted,
  // alternately, eighteen times; each create's index is a grant's token.
  await c.clock.waitFor(() => events.length === 36, { description: 'every change reached the watch on m1' });
  assert.deepEqual(
    events.map((e) => e.action),
    grants.flatMap(() => ['create', 'compareAndDelete']),
  );
  assert.deepEqual(
    events.filter((e) => e.action === 'create').map((e) => e.node.createdIndex),
    grants.map((g) => g.token),
  );
  stop.abort();
  await c.close();
});

test('a holder that stops refreshing loses the lock to a waiter once its TTL runs out, and not before', async () => {
  const c = await startCluster(12);
  // The holder lives on the Raft leader: its stop also costs an election.
  const holderNode = c.leader();
  const waiterNode = c.nodes.find((n) => n !== holderNode)!;
  const stop = new AbortController();
  const events = record(waiterNode, '/locks/crash', stop.signal);
  const ttlSeconds = 2;
  const first = await c.run(new DistributedLock(holderNode, '/locks/crash', { ttlSeconds, clock: c.clock }).acquire());
  const waiting = track(c.clock, new DistributedLock(waiterNode, '/locks/crash', { ttlSeconds, clock: c.clock }).acquire());

  // Three TTLs pass: the holder's refreshes keep the lock alive.
  await c.clock.runFor(3 * ttlSeconds * 1000);
  assert.equal(waiting.settled(), false, 'the waiter got a lock that was still held and refreshed');
  assert.equal(first.signal.aborted, false);

  // The holder's member stops (as a crashed process would): nobody refreshes.
  const stoppedAt = c.clock.now();
  await c.run(holderNode.close());
  await c.clock.waitFor(waiting.settled, { timeoutMs: 10_000, description: 'the waiter is granted the lock' });
  const o = waiting.outcome();
  assert.equal(o.status, 'fulfilled');
  const second = (o as { value: LockLease }).value;
  const waited = (o as { at: number }).at - stoppedAt;
  // The key lived a TTL past the last refresh, sent at most a third of a TTL before the stop.
  assert.ok(waited >= (ttlSeconds * 1000 * 2) / 3, `granted ${waited} ms after the stop, before the TTL ran out`);
  assert.ok(waited <= ttlSeconds * 1000 + 3000, `granted ${waited} ms after the stop`);
  assert.ok(second.fencingToken > first.fencingToken, `token ${second.fencingToken} after ${first.fencingToken}`);
  assert.equal(second.holder, waiterNode.name);
  assert.ok(
    events.some((e) => e.action === 'expire' && e.prevNode?.value === first.value),
    `the old holder's key expired (saw ${events.map((e) => e.action).join(', ')})`,
  );
  assert.equal(first.signal.aborted, true);
  assert.equal((first.signal.reason as LockError).code, 'LOCK_LOST');

  stop.abort();
  await c.run(second.release());
  await c.close();
});

test('a holder cut off from the cluster gives up before anyone else is granted the lock', async () => {
  const c = await startCluster(13);
  const [holderNode, waiterNode] = c.nodes.filter((n) => !n.status().isLeader);
  const ttlSeconds = 3;
  const first = await c.run(new DistributedLock(holderNode, '/locks/cut', { ttlSeconds, clock: c.clock }).acquire());
  let lostAt: number | undefined;
  first.signal.addEventListener('abort', () => (lostAt = c.clock.now()));
  const waiting = track(c.clock, new DistributedLock(waiterNode, '/locks/cut', { ttlSeconds, clock: c.clock }).acquire());
  await c.clock.runFor(1000);

  c.net.isolate(holderNode.name);
  await c.clock.waitFor(waiting.settled, { timeoutMs: 10_000, description: 'the waiter is granted the lock' });
  const o = waiting.outcome();
  assert.equal(o.status, 'fulfilled');
  const grantedAt = (o as { at: number }).at;
  const second = (o as { value: LockLease }).value;
  assert.ok(lostAt !== undefined && lostAt <= grantedAt, `the cut-off holder gave up at ${lostAt}, the waiter got the lock at ${grantedAt}`);
  assert.equal((first.signal.reason as LockError).code, 'LOCK_LOST');
  assert.ok(second.fencingToken > first.fencingToken);

  // Back on the network, the old holder's release must not delete the new holder's key.
  c.net.heal();
  await c.run(first.release());
  const now = await c.run(new DistributedLock(c.nodes[0], '/locks/cut', { clock: c.clock }).holder());
  assert.deepEqual(now, { holder: waiterNode.name, fencingToken: second.fencingToken } satisfies LockHolder);
  assert.equal(second.signal.aborted, false);
  await c.run(second.release());
  await c.close();
});

test('a waiter whose signal aborts stops waiting and is never granted the lock', async () => {
  const c = await startCluster(14);
  const [m1, m2, m3] = c.nodes;
  const held = await c.run(new DistributedLock(m1, '/locks/abort', { clock: c.clock }).acquire());
  const ac = new AbortController();
  const quitter = track(c.clock, new DistributedLock(m2, '/locks/abort', { clock: c.clock }).acquire({ signal: ac.signal }));
  const patient = track(c.clock, new DistributedLock(m3, '/locks/abort', { clock: c.clock }).acquire());
  await c.clock.runFor(500);
  assert.equal(m2.status().watchers, 1, 'the waiter on m2 watches the key');

  ac.abort();
  await c.clock.waitFor(quitter.settled);
  const o = quitter.outcome();
  assert.equal(o.status, 'rejected');
  assert.equal((o as { error: Error }).error.name, 'AbortError');
  assert.equal(m2.status().watchers, 0, 'the aborted waiter ended its watch');

  await c.run(held.release());
  await c.clock.waitFor(patient.settled, { timeoutMs: 2000, description: 'the other waiter takes the released lock at once' });
  const next = (patient.outcome() as { value: LockLease }).value;
  assert.equal(next.holder, 'm3');
  assert.ok(next.fencingToken > held.fencingToken);
  await c.run(next.release());
  await c.close();
});

test('an election has one leader at a time, survives a Raft leader change, and hands over at once on resign', async () => {
  const c = await startCluster(15);
  const ttlSeconds = 3;
  const elections = c.nodes.map((n, i) => new Election(n, '/service/leader', { name: `svc-${'abc'[i]}`, ttlSeconds, clock: c.clock }));
  const stop = new AbortController();
  const observed: (LockHolder | undefined)[] = [];
  void (async () => {
    for await (const l of elections[0].observe({ signal: stop.signal })) observed.push(l);
  })();

  const terms = elections.map((e) => track(c.clock, e.campaign()));
  await c.clock.waitFor(() => terms.some((t) => t.settled()), { description: 'a candidate is elected' });
  await c.clock.runFor(1000);
  assert.equal(terms.filter((t) => t.settled()).length, 1, 'exactly one candidate leads');
  const firstIdx = terms.findIndex((t) => t.settled());
  const first = (terms[firstIdx].outcome() as { value: LockLease }).value;
  assert.deepEqual(await c.run(elections[1].leader()), { holder: elections[firstIdx].name, fencingToken: first.fencingToken });
  assert.deepEqual(
    elections.map((e) => e.isLeader),
    elections.map((_, i) => i === firstIdx),
  );

  // The Raft leader moves to another member: the elected service leader stays.
  const raftLeader = c.leader();
  const target = c.nodes.find((n) => n !== raftLeader)!;
  await c.run(raftLeader.transferLeadership(target.id));
  await c.clock.runFor(3 * ttlSeconds * 1000);
  assert.equal(first.signal.aborted, false, 'leadership was lost over a Raft leader change');
  assert.equal(terms.filter((t) => t.settled()).length, 1);

  // Resigning hands over without waiting for the TTL.
  const resignedAt = c.clock.now();
  await c.run(elections[firstIdx].resign());
  assert.equal(elections[firstIdx].isLeader, false);
  await c.clock.waitFor(() => terms.filter((t) => t.settled()).length === 2, { description: 'a second candidate is elected' });
  assert.ok(c.clock.now() - resignedAt < 1000, `handed over after ${c.clock.now() - resignedAt} ms`);
  const secondIdx = terms.findIndex((t, i) => i !== firstIdx && t.settled());
  const second = (terms[secondIdx].outcome() as { value: LockLease }).value;
  assert.ok(second.fencingToken > first.fencingToken);

  // The second resigns too: the last candidate still campaigning is elected.
  await c.run(elections[secondIdx].resign());
  const thirdIdx = [0, 1, 2].find((i) => i !== firstIdx && i !== secondIdx)!;
  const third = await c.run(elections[thirdIdx].campaign());
  assert.ok(third.fencingToken > second.fencingToken);

  // The first campaigns again: it waits while the third leads, and is elected when it resigns.
  const again = track(c.clock, elections[firstIdx].campaign());
  await c.clock.runFor(2 * ttlSeconds * 1000);
  assert.equal(again.settled(), false, 'a second leader was elected while the third led');
  await c.run(elections[thirdIdx].resign());
  await c.clock.waitFor(again.settled, { timeoutMs: 2000, description: 'the first candidate is elected again' });
  const fourth = (again.outcome() as { value: LockLease }).value;
  assert.ok(fourth.fencingToken > third.fencingToken);

  // An observer on m1 saw every term, in order, with growing tokens.
  await c.clock.runFor(100);
  const leaders = observed.filter((l): l is LockHolder => l !== undefined);
  assert.deepEqual(
    leaders.map((l) => l.holder),
    [firstIdx, secondIdx, thirdIdx, firstIdx].map((i) => elections[i].name),
  );
  assert.deepEqual(
    leaders.map((l) => l.fencingToken),
    [first, second, third, fourth].map((t) => t.fencingToken),
  );
  assert.equal(observed[0], undefined, 'the observer first reported that nobody led');

  stop.abort();
  await c.run(elections[firstIdx].resign());
  await c.close();
});
