// RaftNode (node/raft-node.ts): every promise it hands out settles, with the
// error a caller can branch on: RAFT_TIMEOUT without a quorum, RAFT_NO_LEADER
// when none was ever elected, RAFT_NOT_LEADER with forwarding off,
// RAFT_STOPPED on close, RAFT_PROPOSAL_DROPPED when a new leader replaced the
// entry. Nothing acknowledged is lost along the way.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { AppliedEntry } from '../src/node/state-machine.ts';
import { MessageType } from '../src/types.ts';
import { NodeCluster, RecordingMachine, assertCode, bytes, nameOf, rejected, resolved, track } from './helpers/node-cluster.ts';

/** A state machine that fails on one payload (a member whose state diverged). */
class FailingMachine extends RecordingMachine {
  override apply(entry: AppliedEntry): number {
    if (new TextDecoder().decode(entry.data) === 'boom') throw new Error('cannot apply boom');
    return super.apply(entry);
  }
}

describe('RaftNode proposal errors', () => {
  test('a proposal on a leader cut off from its quorum rejects with RAFT_TIMEOUT after requestTimeoutMs and loses nothing acknowledged', async () => {
    const c = new NodeCluster({ seed: 11, node: { requestTimeoutMs: 3000 } });
    await c.start();
    const leader = await c.waitForLeader();
    await c.proposeMany(leader.id, 'acked', 5);
    c.net.isolate(nameOf(leader.id));
    const t0 = c.clock.now();
    const err = await rejected(c.clock, leader.node.propose(bytes('stranded')), 10_000);
    assertCode(err, 'RAFT_TIMEOUT');
    assert.ok(err.at - t0 >= 3000, `rejected after ${err.at - t0} ms, not before requestTimeoutMs`);
    assert.ok(err.at - t0 <= 3000 + 100, `rejected after ${err.at - t0} ms, within a tick of requestTimeoutMs`);

    // The other two carry on; after the heal everyone agrees.
    const others = ['1', '2', '3'].filter((id) => id !== leader.id);
    const next = await c.waitForLeader(others);
    await c.propose(next.id, 'after');
    c.net.heal();
    await c.waitForConvergence();
    const values = c.get('1').sm.values;
    for (const id of ['2', '3']) assert.deepEqual(c.get(id).sm.values, values, `${id} applied what 1 applied`);
    for (let i = 0; i < 5; i++) assert.ok(values.includes(`acked${i}`), `acked${i} survived`);
    assert.ok(values.includes('after'));
    await c.close();
  });

  test('a proposal rejects with RAFT_NO_LEADER when no leader is elected within requestTimeoutMs', async () => {
    const c = new NodeCluster({ seed: 12, node: { requestTimeoutMs: 4000 } });
    await c.start(['1']);
    const t0 = c.clock.now();
    const err = await rejected(c.clock, c.node('1').propose(bytes('alone')), 10_000);
    assertCode(err, 'RAFT_NO_LEADER');
    assert.ok(err.at - t0 >= 4000 && err.at - t0 <= 4100, `rejected after ${err.at - t0} ms`);
    assertCode(await rejected(c.clock, c.node('1').readIndex(), 10_000), 'RAFT_NO_LEADER');
    assert.deepEqual(c.get('1').sm.values, []);
    await c.close();
  });

  test('a proposal made while no leader is known waits for one and then commits', async () => {
    const c = new NodeCluster({ seed: 13 });
    await c.start(['1']);
    const p = track(c.clock, c.node('1').propose(bytes('early')));
    await c.clock.runFor(1500, { stepMs: 50 });
    assert.equal(p.outcome().status, 'pending');
    c.create('2', { initialMembers: c.initialMembers });
    await resolved(c.clock, c.node('2').start());
    await c.clock.waitFor(p.settled, { timeoutMs: 5000 });
    const o = p.outcome();
    assert.equal(o.status, 'fulfilled', JSON.stringify(o));
    assert.deepEqual(c.get('1').sm.values, ['early']);
    await c.close();
  });

  test('a follower with forwardProposals off rejects a proposal at once with RAFT_NOT_LEADER', async () => {
    const c = new NodeCluster({ seed: 14, node: { forwardProposals: false } });
    await c.start();
    const leader = await c.waitForLeader();
    const f = c.follower(leader.id);
    const err = await rejected(c.clock, f.node.propose(bytes('refused')), 0);
    assertCode(err, 'RAFT_NOT_LEADER');
    assert.equal(await c.propose(leader.id, 'accepted'), 1);
    await c.waitForConvergence();
    assert.deepEqual(f.sm.values, ['accepted']);
    await c.close();
  });

  test('close() rejects every pending proposal and read with RAFT_STOPPED and later calls too', async () => {
    const c = new NodeCluster({ seed: 15 });
    await c.start();
    const leader = await c.waitForLeader();
    c.net.isolate(nameOf(leader.id));
    const f = c.follower(leader.id);
    c.net.isolate(nameOf(f.id));
    const pending = [
      track(c.clock, leader.node.propose(bytes('p1'))),
      track(c.clock, leader.node.propose(bytes('p2'))),
      track(c.clock, leader.node.readIndex()),
      track(c.clock, leader.node.addMember('9', ['mem://n9'])),
    ];
    await c.clock.runFor(300, { stepMs: 10 });
    for (const p of pending) assert.equal(p.outcome().status, 'pending');
    // A follower cut off long enough has no leader: its proposal waits for one.
    await c.clock.runFor(3000, { stepMs: 50 });
    assert.equal(f.node.status().leader, undefined);
    const waiting = track(c.clock, f.node.propose(bytes('waiting')));
    await c.clock.runFor(100);

    await c.stop(leader.id);
    await c.stop(f.id);
    for (const p of [...pending, waiting]) {
      const o = p.outcome();
      assert.equal(o.status, 'rejected', 'settled by the time close() resolved');
      if (o.status === 'rejected') assertCode(o.error, 'RAFT_STOPPED');
    }
    assertCode(await rejected(c.clock, leader.node.propose(bytes('late')), 0), 'RAFT_STOPPED');
    assertCode(await rejected(c.clock, leader.node.readIndex(), 0), 'RAFT_STOPPED');
    await c.close();
  });

  test('close() settles a pending leadership transfer with RAFT_STOPPED', async () => {
    const c = new NodeCluster({ seed: 16 });
    await c.start();
    const leader = await c.waitForLeader();
    const target = c.follower(leader.id);
    c.net.isolate(nameOf(target.id));
    await c.proposeMany(leader.id, 'x', 3);
    const transfer = track(c.clock, leader.node.transferLeadership(target.id));
    await c.clock.runFor(200, { stepMs: 10 });
    assert.equal(transfer.outcome().status, 'pending');
    await c.stop(leader.id);
    const o = transfer.outcome();
    assert.equal(o.status, 'rejected', 'the transfer promise settled when close() resolved');
    if (o.status === 'rejected') assertCode(o.error, 'RAFT_STOPPED');
    await c.close();
  });

  test('a proposal appended by a leader that is then cut off and replaced rejects with RAFT_PROPOSAL_DROPPED after the heal', async () => {
    const c = new NodeCluster({ seed: 17, node: { requestTimeoutMs: 30_000 } });
    await c.start();
    const old = await c.waitForLeader();
    await c.propose(old.id, 'before');
    c.net.isolate(nameOf(old.id));
    const doomed = track(c.clock, old.node.propose(bytes('doomed')));
    await c.clock.runFor(50);
    const appendedAt = old.node.status().lastIndex;
    const others = ['1', '2', '3'].filter((id) => id !== old.id);
    const next = await c.waitForLeader(others);
    await c.propose(next.id, 'winner');
    assert.equal(doomed.outcome().status, 'pending', 'not dropped before the old leader learns of the new one');
    c.net.heal();
    await c.clock.waitFor(doomed.settled, { timeoutMs: 5000 });
    const o = doomed.outcome();
    assert.equal(o.status, 'rejected');
    if (o.status === 'rejected') {
      assertCode(o.error, 'RAFT_PROPOSAL_DROPPED');
      assert.match(o.error.message, new RegExp(`appended at ${appendedAt}\\b`));
    }
    await c.waitForConvergence();
    for (const m of c.members.values()) {
      assert.ok(!m.sm.values.includes('doomed'), `${m.id} never applied the dropped entry`);
      assert.deepEqual(m.sm.values, ['before', 'winner']);
    }
    await c.close();
  });
});

describe('RaftNode fatal errors', () => {
  test('a state machine that throws stops that node with an error event and RAFT_STOPPED for its callers; the others go on', async () => {
    const c = new NodeCluster({ seed: 18 });
    for (const id of ['1', '2', '3']) c.create(id, { initialMembers: c.initialMembers, ...(id === '1' ? { sm: new FailingMachine() } : {}) });
    await resolved(c.clock, Promise.all(['1', '2', '3'].map((id) => c.node(id).start())));
    await c.waitForLeader();
    const errors: Error[] = [];
    c.node('1').on('error', (e) => void errors.push(e));
    await c.propose('1', 'fine');
    const err = await rejected(c.clock, c.node('1').propose(bytes('boom')));
    assertCode(err, 'RAFT_STOPPED');
    assert.match(String((err as Error & { cause?: Error }).cause?.message), /state machine failed to apply entry \d+: cannot apply boom/);
    assert.equal(errors.length, 1);
    assert.equal(errors[0].name, 'InvariantError');
    assertCode(await rejected(c.clock, c.node('1').propose(bytes('later')), 0), 'RAFT_STOPPED');
    const next = await c.waitForLeader(['2', '3']);
    await c.propose(next.id, 'still-going');
    await c.waitForConvergence(['2', '3']);
    assert.deepEqual(c.get('2').sm.values, ['fine', 'boom', 'still-going']);
    await c.close();
  });

  test('a durable write that fails stops that node with an error event and RAFT_STOPPED for its callers', async () => {
    let failOn: string | undefined;
    const c = new NodeCluster({
      seed: 19,
      store: (id) => ({
        onWrite: () => {
          if (id === failOn) throw new Error('disk full');
        },
      }),
    });
    await c.start();
    const leader = await c.waitForLeader();
    const errors: Error[] = [];
    leader.node.on('error', (e) => void errors.push(e));
    await c.propose(leader.id, 'ok');
    failOn = leader.id;
    const err = await rejected(c.clock, leader.node.propose(bytes('never-durable')));
    assertCode(err, 'RAFT_STOPPED');
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /disk full/);
    const others = ['1', '2', '3'].filter((id) => id !== leader.id);
    const next = await c.waitForLeader(others);
    await c.propose(next.id, 'after');
    await c.waitForConvergence(others);
    // The leader sent the entry while writing it: the followers may have
    // committed it without the leader's copy (hence "outcome unknown"), but
    // they agree either way.
    const a = c.get(others[0]).sm.values;
    const b = c.get(others[1]).sm.values;
    assert.deepEqual(a, b);
    assert.ok(a.indexOf('after') > a.indexOf('ok'));
    await c.close();
  });
});

describe('RaftNode.readIndex', () => {
  test('resolves on a lagging follower only after it applied a write acknowledged elsewhere', async () => {
    const c = new NodeCluster({ seed: 21 });
    await c.start();
    const leader = await c.waitForLeader();
    const lagging = c.follower(leader.id);
    await c.propose(leader.id, 'old');
    await c.waitForConvergence();
    // The lagging follower hears heartbeats but no appends.
    c.net.setFilter((m, _from, to) => (to === nameOf(lagging.id) && m.entries.length > 0 ? 'drop' : 'deliver'));
    await c.propose(leader.id, 'fresh');
    await c.clock.runFor(500, { stepMs: 10 });
    assert.ok(!lagging.sm.values.includes('fresh'), 'the follower had not applied it yet');
    c.net.setFilter(undefined);
    let sawAtResolve: boolean | undefined;
    const read = lagging.node.readIndex().then(() => void (sawAtResolve = lagging.sm.values.includes('fresh')));
    await resolved(c.clock, read);
    assert.equal(sawAtResolve, true, 'the read saw the write the moment it resolved');
    await c.close();
  });

  test('resolves on the leader after a write acknowledged on a follower', async () => {
    const c = new NodeCluster({ seed: 22 });
    await c.start();
    const leader = await c.waitForLeader();
    const f = c.follower(leader.id);
    await c.propose(f.id, 'from-follower');
    let seen: boolean | undefined;
    await resolved(c.clock, leader.node.readIndex().then(() => void (seen = leader.sm.values.includes('from-follower'))));
    assert.equal(seen, true);
    await c.close();
  });

  test('many concurrent reads on a follower share a few ReadIndex rounds', async () => {
    const sent = new Map<string, number>();
    const c = new NodeCluster({
      seed: 23,
      onSend: (id, m) => {
        const k = `${id}:${m.type}`;
        sent.set(k, (sent.get(k) ?? 0) + 1);
      },
    });
    await c.start();
    const leader = await c.waitForLeader();
    const f = c.follower(leader.id);
    await c.propose(leader.id, 'x');
    const before = sent.get(`${f.id}:${MessageType.MsgReadIndex}`) ?? 0;
    await resolved(c.clock, Promise.all(Array.from({ length: 200 }, () => f.node.readIndex())));
    const rounds = (sent.get(`${f.id}:${MessageType.MsgReadIndex}`) ?? 0) - before;
    assert.ok(rounds >= 1 && rounds <= 2, `200 reads took ${rounds} rounds`);
    await c.close();
  });

  test('many concurrent reads on the leader share a few heartbeat rounds', async () => {
    let contextBeats = 0;
    const c = new NodeCluster({ seed: 24 });
    await c.start();
    const leader = await c.waitForLeader();
    await c.propose(leader.id, 'x');
    c.net.setFilter((m) => {
      if (m.type === MessageType.MsgHeartbeat && m.context !== undefined && m.context.byteLength > 0) contextBeats++;
      return 'deliver';
    });
    await resolved(c.clock, Promise.all(Array.from({ length: 200 }, () => leader.node.readIndex())));
    assert.ok(contextBeats >= 2 && contextBeats <= 4, `200 reads sent ${contextBeats} read heartbeats to 2 followers`);
    await c.close();
  });

  test('rejects with RAFT_TIMEOUT on a leader that cannot reach a quorum', async () => {
    const c = new NodeCluster({ seed: 25, node: { requestTimeoutMs: 3000 } });
    await c.start();
    const leader = await c.waitForLeader();
    await c.propose(leader.id, 'x');
    c.net.isolate(nameOf(leader.id));
    const t0 = c.clock.now();
    const err = await rejected(c.clock, leader.node.readIndex(), 10_000);
    assertCode(err, 'RAFT_TIMEOUT');
    assert.ok(err.at - t0 >= 3000 && err.at - t0 <= 3100, `rejected after ${err.at - t0} ms`);
    await c.close();
  });

  test('every read still pending when the node closes rejects with RAFT_STOPPED', async () => {
    const c = new NodeCluster({ seed: 26 });
    await c.start();
    const leader = await c.waitForLeader();
    c.net.isolate(nameOf(leader.id));
    const reads = Array.from({ length: 5 }, () => track(c.clock, leader.node.readIndex()));
    await c.clock.runFor(100);
    await c.stop(leader.id);
    for (const r of reads) {
      const o = r.outcome();
      assert.equal(o.status, 'rejected');
      if (o.status === 'rejected') assertCode(o.error, 'RAFT_STOPPED');
    }
    await c.close();
  });
});
