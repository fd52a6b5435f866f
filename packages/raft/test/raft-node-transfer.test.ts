// RaftNode.transferLeadership (node/raft-node.ts): the leader brings the
// target up to date, sends MsgTimeoutNow, and the target wins the next term;
// proposals during the transfer are refused; only a voter can be the target.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { MessageType } from '../src/types.ts';
import { NodeCluster, assertCode, bytes, nameOf, rejected, resolved, track, urlOf } from './helpers/node-cluster.ts';

describe('RaftNode.transferLeadership', () => {
  test('to an up-to-date follower resolves once the follower leads at a higher term', async () => {
    const c = new NodeCluster({ seed: 71 });
    await c.start();
    const old = await c.waitForLeader();
    await c.proposeMany(old.id, 'a', 5);
    await c.waitForConvergence();
    const target = c.follower(old.id);
    const term = old.node.status().term;
    const t0 = c.clock.now();
    const t = track(c.clock, old.node.transferLeadership(target.id));
    await c.clock.waitFor(t.settled, { timeoutMs: 5000 });
    assert.equal(t.outcome().status, 'fulfilled');
    assert.ok(c.clock.now() - t0 < 1000, 'faster than an election timeout');
    assert.equal(target.node.status().isLeader, true);
    assert.ok(target.node.status().term > term, 'at a higher term');
    assert.equal(old.node.status().leader, target.id);
    assert.equal(old.node.status().role, 'follower');
    assert.equal(await c.propose(target.id, 'b'), 6);
    await c.close();
  });

  test('to a lagging follower catches it up first, then hands over', async () => {
    const timeoutNowAt: number[] = [];
    const c = new NodeCluster({ seed: 72 });
    await c.start();
    const old = await c.waitForLeader();
    const target = c.follower(old.id);
    c.net.isolate(nameOf(target.id));
    await c.proposeMany(old.id, 'while-away', 50);
    const leaderLast = old.node.status().lastIndex;
    assert.ok(target.node.status().lastIndex < leaderLast, 'the target lags');
    c.net.setFilter((m) => {
      if (m.type === MessageType.MsgTimeoutNow) timeoutNowAt.push(target.node.status().lastIndex);
      return 'deliver';
    });
    let lastIndexWhenLeading = -1;
    target.node.on('role', (r) => void (r === 'leader' && (lastIndexWhenLeading = target.node.status().lastIndex)));
    c.net.heal();
    await resolved(c.clock, old.node.transferLeadership(target.id), 5000);
    assert.equal(target.node.status().isLeader, true);
    assert.ok(timeoutNowAt.length >= 1 && timeoutNowAt[0] >= leaderLast, `MsgTimeoutNow went out when the target had ${timeoutNowAt[0]} of ${leaderLast}`);
    assert.ok(lastIndexWhenLeading > leaderLast, 'it led with the whole log (plus its own no-op)');
    await c.waitForConvergence();
    assert.deepEqual(target.sm.values, old.sm.values);
    assert.equal(target.sm.values.length, 50);
    await c.close();
  });

  test('a proposal on the leader during a transfer rejects with RAFT_TRANSFER_IN_PROGRESS, and the transfer aborts after an election timeout', async () => {
    const c = new NodeCluster({ seed: 73 });
    await c.start();
    const leader = await c.waitForLeader();
    const target = c.follower(leader.id);
    c.net.isolate(nameOf(target.id));
    await c.propose(leader.id, 'a');
    const t0 = c.clock.now();
    const transfer = track(c.clock, leader.node.transferLeadership(target.id));
    const err = await rejected(c.clock, leader.node.propose(bytes('during')), 0);
    assertCode(err, 'RAFT_TRANSFER_IN_PROGRESS');
    // The core gives up after an election timeout; proposals go through again.
    await c.clock.runFor(1100, { stepMs: 10 });
    assert.equal(leader.node.status().isLeader, true);
    assert.equal(await c.propose(leader.id, 'after-abort'), 2);
    await c.clock.waitFor(transfer.settled, { timeoutMs: 5000 });
    const o = transfer.outcome();
    assert.equal(o.status, 'rejected');
    if (o.status === 'rejected') {
      assertCode(o.error, 'RAFT_TIMEOUT');
      assert.ok(o.at - t0 >= 2000, `the transfer promise rejected after ${o.at - t0} ms`);
    }
    c.net.heal();
    await c.close();
  });

  test('to a learner or a non-member rejects with RAFT_CONF_CHANGE_INVALID', async () => {
    const c = new NodeCluster({ seed: 74 });
    await c.start();
    const leader = await c.waitForLeader();
    await c.join('4');
    await resolved(c.clock, leader.node.addMember('4', [urlOf('4')], { learner: true }));
    for (const id of ['4', '9']) {
      const err = await rejected(c.clock, leader.node.transferLeadership(id), 0);
      assertCode(err, 'RAFT_CONF_CHANGE_INVALID');
      assert.match(err.message, new RegExp(`${id} is not a voter`));
    }
    assert.equal(leader.node.status().isLeader, true);
    await c.close();
  });

  test('on a follower rejects with RAFT_NOT_LEADER naming the leader, and to the leader itself resolves at once', async () => {
    const c = new NodeCluster({ seed: 75 });
    await c.start();
    const leader = await c.waitForLeader();
    const f = c.follower(leader.id);
    const other = c.live().find((m) => m.id !== leader.id && m.id !== f.id)!;
    const err = await rejected(c.clock, f.node.transferLeadership(other.id), 0);
    assertCode(err, 'RAFT_NOT_LEADER');
    assert.match(err.message, new RegExp(`the leader is ${leader.id}`));
    await resolved(c.clock, leader.node.transferLeadership(leader.id), 0);
    await c.close();
  });
});
