// Fast failover: when a follower's connection to the leader closes (the
// leader's process died), it forgets the leader and starts a pre-vote at
// once instead of waiting out the election timeout. The memory network
// reports a stopped member to everyone that knows it, as closed sockets do.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NodeCluster, bytes, resolved } from './helpers/node-cluster.ts';

async function failoverMs(fastFailover: boolean, seed: number): Promise<{ ms: number; term: number }> {
  const c = new NodeCluster({ seed, node: { fastFailover } });
  await c.start();
  const leader = await c.waitForLeader();
  await resolved(c.clock, leader.node.propose(bytes('before')));
  const term = leader.node.status().term;
  const t0 = c.clock.now();
  await leader.node.close(); // stops its transport: the others see the connection go
  leader.down = true;
  const next = await c.waitForLeader(undefined, 20_000);
  const ms = c.clock.now() - t0;
  // The new leader works, and kept the old leader's committed entry.
  await resolved(c.clock, next.node.propose(bytes('after')));
  assert.ok(next.sm.values.includes('before'));
  for (const m of c.live()) await m.node.close();
  return { ms, term: next.node.status().term - term };
}

describe('fast failover', () => {
  test('a new leader is elected well within one election timeout after the leader stops', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { ms, term } = await failoverMs(true, seed);
      assert.ok(ms < 500, `seed ${seed}: new leader after ${ms} ms of virtual time (election timeout 1000 ms)`);
      assert.equal(term, 1, `seed ${seed}: one election, no split votes`);
    }
  });

  test('without it, followers wait out the election timeout (what the fast path saves)', async () => {
    const { ms } = await failoverMs(false, 1);
    assert.ok(ms >= 1000, `new leader after ${ms} ms`);
  });
});
