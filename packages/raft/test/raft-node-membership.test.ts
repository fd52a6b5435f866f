// RaftNode (node/raft-node.ts) membership changes, one at a time: learners
// (receive the log, neither vote nor count for commit), promotion, removal
// (the removed member learns it, whether it applies its own removal or is
// told by MsgRemoved), IDs never reused, the leader removing itself, address
// updates, and a new member joining with `peers`.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { MessageType, type Message, type NodeId } from '../src/types.ts';
import { NodeCluster, assertCode, bytes, nameOf, rejected, resolved, track, urlOf } from './helpers/node-cluster.ts';

const VOTE_TYPES = new Set([MessageType.MsgVote, MessageType.MsgVoteResp, MessageType.MsgPreVote, MessageType.MsgPreVoteResp]);

describe('RaftNode membership', () => {
  test('a learner receives the log but neither votes nor counts toward commit', async () => {
    const fromLearner: Message[] = [];
    const c = new NodeCluster({ seed: 51, onSend: (id, m) => void (id === '4' && fromLearner.push(m)) });
    await c.start();
    let leader = await c.waitForLeader();
    await c.proposeMany(leader.id, 'a', 5);
    const learner = await c.join('4');
    const changes: string[] = [];
    for (const m of c.members.values()) m.node.on('membership', (cc, list) => void changes.push(`${m.id}:${cc.nodeId}:${list.length}`));
    const roles: string[] = [];
    learner.node.on('role', (r) => roles.push(r));
    const list = await resolved(c.clock, leader.node.addMember('4', [urlOf('4')], { learner: true }));
    assert.deepEqual(
      list.map((m) => [m.id, m.isLearner]),
      [['1', false], ['2', false], ['3', false], ['4', true]],
    );
    await c.waitForConvergence();
    assert.deepEqual(learner.sm.values, leader.sm.values, 'the learner has the log');
    // (The joiner also replays the three bootstrap changes.)
    assert.deepEqual(changes.sort(), ['1:4:4', '2:4:4', '3:4:4', '4:1:1', '4:2:2', '4:3:3', '4:4:4'], 'every member reported the change');
    for (const m of c.live()) assert.deepEqual(m.node.confState(), { voters: ['1', '2', '3'], learners: ['4'] }, `${m.id}'s configuration`);

    // Not counted: the leader and the learner alone cannot commit.
    const voters = ['1', '2', '3'].filter((id) => id !== leader.id);
    c.net.partition([nameOf(leader.id), 'n4'], voters.map(nameOf));
    const commitBefore = leader.node.status().commitIndex;
    void track(c.clock, leader.node.propose(bytes('uncounted')));
    await c.clock.runFor(500, { stepMs: 10 });
    assert.ok(learner.node.status().lastIndex > commitBefore, 'the learner has the entry');
    assert.equal(leader.node.status().commitIndex, commitBefore, 'but it did not commit');

    // Not a voter: an election among the voters involves no message from it,
    // and cut off on its own it never campaigns.
    c.net.partition([nameOf(leader.id)], [...voters.map(nameOf), 'n4']);
    leader = await c.waitForLeader(voters);
    c.net.isolate('n4');
    await c.clock.runFor(5000, { stepMs: 50 });
    assert.deepEqual(fromLearner.filter((m) => VOTE_TYPES.has(m.type)), [], 'the learner sent no vote messages');
    assert.deepEqual(roles.filter((r) => r !== 'follower'), [], 'the learner never campaigned');
    c.net.heal();
    await c.waitForConvergence();
    assert.deepEqual(learner.sm.values, leader.sm.values);
    await c.close();
  });

  test('a promoted learner becomes a voter that counts toward commit', async () => {
    const c = new NodeCluster({ seed: 52 });
    await c.start();
    const leader = await c.waitForLeader();
    await c.join('4');
    await resolved(c.clock, leader.node.addMember('4', [urlOf('4')], { learner: true }));
    await c.waitForConvergence();
    const list = await resolved(c.clock, leader.node.promoteMember('4'));
    assert.equal(list.find((m) => m.id === '4')?.isLearner, false);
    await c.waitForConvergence();
    for (const m of c.live()) {
      assert.deepEqual(m.node.confState(), { voters: ['1', '2', '3', '4'], learners: [] });
      assert.equal(m.node.memberList().find((x) => x.id === '4')?.isLearner, false);
    }
    // With one old voter cut off, the leader, one old voter and 4 make the
    // quorum of three: a commit now needs 4.
    const [cut, kept] = ['1', '2', '3'].filter((id) => id !== leader.id);
    c.net.isolate(nameOf(cut));
    await c.propose(leader.id, 'needs-4');
    c.net.partition([nameOf(leader.id), nameOf(kept)], [nameOf(cut), 'n4']);
    const stuck = track(c.clock, leader.node.propose(bytes('without-4')));
    await c.clock.runFor(500, { stepMs: 10 });
    assert.equal(stuck.outcome().status, 'pending', 'two of four voters do not commit');
    c.net.heal();
    await c.close();
  });

  test('promoting a voter or a non-member rejects with RAFT_CONF_CHANGE_INVALID', async () => {
    const c = new NodeCluster({ seed: 53 });
    await c.start();
    const leader = await c.waitForLeader();
    assertCode(await rejected(c.clock, leader.node.promoteMember('2'), 0), 'RAFT_CONF_CHANGE_INVALID');
    assertCode(await rejected(c.clock, leader.node.promoteMember('7'), 0), 'RAFT_CONF_CHANGE_INVALID');
    await c.close();
  });

  test('a removed follower that applies its own removal emits removed and stops', async () => {
    const c = new NodeCluster({ seed: 54 });
    await c.start();
    const leader = await c.waitForLeader();
    const gone = c.follower(leader.id);
    let removed = 0;
    gone.node.on('removed', () => void removed++);
    await c.propose(leader.id, 'before');
    const list = await resolved(c.clock, leader.node.removeMember(gone.id));
    assert.deepEqual(list.map((m) => m.id), ['1', '2', '3'].filter((id) => id !== gone.id));
    await c.clock.waitFor(() => removed > 0, { description: 'the removed member heard of it' });
    assert.equal(removed, 1);
    assert.ok(gone.logs.some((l) => /permanently removed from the cluster \(the removal was applied\)/.test(l)));
    assertCode(await rejected(c.clock, gone.node.propose(bytes('x')), 0), 'RAFT_STOPPED');
    // The other two go on alone.
    const n = await c.propose(leader.id, 'after');
    assert.equal(n, 2);
    await c.waitForConvergence();
    for (const m of c.live()) {
      assert.deepEqual(m.node.confState().voters, ['1', '2', '3'].filter((id) => id !== gone.id));
      assert.ok(!m.node.memberList().some((x) => x.id === gone.id));
    }
    await c.close();
  });

  test('a leader that removes itself from two members lingers, so the survivor can still win an election', async () => {
    // Found by the process fault runs: the last commit index (the one that
    // commits the removal) may never reach the survivor, whose
    // configuration then still needs the removed member's vote. The removed
    // leader stays up for two election timeouts, answering votes.
    const c = new NodeCluster({ seed: 57, ids: ['1', '2'] });
    await c.start();
    const leader = await c.waitForLeader();
    const survivor = c.follower(leader.id);
    await c.propose(leader.id, 'before');
    await c.waitForConvergence();
    const removalIndex = leader.node.status().lastIndex + 1;
    // Nothing from the leader that carries the removal's commit arrives.
    c.net.setFilter((m, from) =>
      from === nameOf(leader.id) && (m.type === MessageType.MsgApp || m.type === MessageType.MsgHeartbeat) && m.commit >= removalIndex ? 'drop' : 'deliver',
    );
    let removed = false;
    leader.node.on('removed', () => void (removed = true));
    await resolved(c.clock, leader.node.removeMember(leader.id));
    assertCode(await rejected(c.clock, leader.node.propose(bytes('x')), 0), 'RAFT_REMOVED');
    // The survivor elects itself with the lingering member's vote and applies the removal.
    await c.clock.waitFor(() => survivor.node.status().isLeader && survivor.node.confState().voters.length === 1, {
      timeoutMs: 20_000,
      description: 'the survivor leads alone',
    });
    assert.deepEqual(survivor.node.confState().voters, [survivor.id]);
    await c.clock.waitFor(() => removed, { description: 'the removed member stopped' });
    assert.equal(await resolved(c.clock, survivor.node.propose(bytes('after'))), 2);
    await c.close();
  });

  test('a follower cut off during its removal is told by MsgRemoved when it comes back, and stops', async () => {
    const c = new NodeCluster({ seed: 55 });
    await c.start();
    const leader = await c.waitForLeader();
    const gone = c.follower(leader.id);
    let removed = 0;
    gone.node.on('removed', () => void removed++);
    await c.propose(leader.id, 'before');
    await c.waitForConvergence();
    c.net.isolate(nameOf(gone.id));
    await resolved(c.clock, leader.node.removeMember(gone.id));
    const removalIndex = leader.node.status().appliedIndex;
    await c.clock.runFor(1500, { stepMs: 50 });
    assert.equal(removed, 0);
    c.net.heal();
    await c.clock.waitFor(() => removed > 0, { timeoutMs: 5000, description: 'the removed member heard of it' });
    assert.ok(gone.node.status().appliedIndex < removalIndex, 'it never applied its removal');
    assert.ok(gone.logs.some((l) => /says this member was removed/.test(l)), 'it learned from a MsgRemoved');
    assertCode(await rejected(c.clock, gone.node.propose(bytes('x')), 0), 'RAFT_STOPPED');
    await c.close();
  });

  test('a removed member that comes back long after its removal still learns it was removed', async () => {
    const c = new NodeCluster({ seed: 56 });
    await c.start();
    const leader = await c.waitForLeader();
    const gone = c.follower(leader.id);
    let removed = 0;
    gone.node.on('removed', () => void removed++);
    c.net.isolate(nameOf(gone.id));
    await resolved(c.clock, leader.node.removeMember(gone.id));
    // Away for longer than 10 election timeouts.
    await c.clock.runFor(15_000, { stepMs: 100 });
    c.net.heal();
    await c.clock.waitFor(() => removed > 0, { timeoutMs: 5000, description: 'the removed member heard of it' }).catch(() => {});
    assert.equal(removed, 1, 'a member removed while away learns it once it can reach the others');
    await c.close();
  });

  test('re-adding a removed ID rejects with RAFT_CONF_CHANGE_INVALID on every remaining member', async () => {
    const c = new NodeCluster({ seed: 57 });
    await c.start();
    const leader = await c.waitForLeader();
    const gone = c.follower(leader.id);
    await resolved(c.clock, leader.node.removeMember(gone.id));
    await c.waitForConvergence();
    for (const m of c.live()) {
      for (const p of [m.node.addMember(gone.id, ['mem://elsewhere']), m.node.addMember(gone.id, ['mem://elsewhere'], { learner: true })]) {
        const err = await rejected(c.clock, p, 0);
        assertCode(err, 'RAFT_CONF_CHANGE_INVALID');
        assert.match(err.message, new RegExp(`member ${gone.id} was removed`));
      }
    }
    await c.close();
  });

  test('a second change proposed on the leader while one is pending rejects with RAFT_CONF_CHANGE_PENDING', async () => {
    const c = new NodeCluster({ seed: 58 });
    await c.start();
    const leader = await c.waitForLeader();
    await c.join('4');
    await c.join('5');
    const first = track(c.clock, leader.node.addMember('4', [urlOf('4')], { learner: true }));
    const second = track(c.clock, leader.node.addMember('5', [urlOf('5')], { learner: true }));
    await c.clock.waitFor(() => first.settled() && second.settled());
    assert.equal(first.outcome().status, 'fulfilled');
    const o = second.outcome();
    assert.equal(o.status, 'rejected');
    if (o.status === 'rejected') assertCode(o.error, 'RAFT_CONF_CHANGE_PENDING');
    // Once the first is applied, the next goes through.
    await resolved(c.clock, leader.node.addMember('5', [urlOf('5')], { learner: true }));
    await c.close();
  });

  test('a second change proposed on a follower while one is pending rejects with RAFT_CONF_CHANGE_PENDING', async () => {
    const c = new NodeCluster({ seed: 59, node: { requestTimeoutMs: 10_000 } });
    await c.start();
    const leader = await c.waitForLeader();
    const f = c.follower(leader.id);
    await c.join('4');
    await c.join('5');
    const first = track(c.clock, f.node.addMember('4', [urlOf('4')], { learner: true }));
    const second = track(c.clock, f.node.addMember('5', [urlOf('5')], { learner: true }));
    await c.clock.waitFor(() => first.settled() && second.settled(), { timeoutMs: 15_000 });
    assert.equal(first.outcome().status, 'fulfilled');
    const o = second.outcome();
    assert.equal(o.status, 'rejected');
    if (o.status === 'rejected') assertCode(o.error, 'RAFT_CONF_CHANGE_PENDING');
    await c.close();
  });

  test('removing the leader makes it step down and stop, and another member leads', async () => {
    const c = new NodeCluster({ seed: 60 });
    await c.start();
    const old = await c.waitForLeader();
    let removed = 0;
    old.node.on('removed', () => void removed++);
    await c.proposeMany(old.id, 'a', 3);
    const list = await resolved(c.clock, old.node.removeMember(old.id));
    assert.ok(!list.some((m) => m.id === old.id));
    await c.clock.waitFor(() => removed > 0);
    const others = ['1', '2', '3'].filter((id) => id !== old.id);
    const next = await c.waitForLeader(others);
    assert.ok(next.node.status().term > old.node.status().term);
    assert.equal(await c.propose(next.id, 'b'), 4);
    await c.waitForConvergence(others);
    for (const id of others) assert.deepEqual(c.node(id).confState().voters, others);
    await c.close();
  });

  test('updateMember changes a member’s peer URLs on every member, and the new address is used', async () => {
    const c = new NodeCluster({ seed: 61 });
    await c.start();
    const leader = await c.waitForLeader();
    const moved = c.follower(leader.id);
    await c.propose(leader.id, 'a');
    await resolved(c.clock, leader.node.updateMember(moved.id, ['mem://moved']));
    await c.waitForConvergence();
    for (const m of c.live()) {
      assert.deepEqual(m.node.memberList().find((x) => x.id === moved.id)?.peerUrls, ['mem://moved'], `${m.id} knows the new URL`);
    }
    // The member now listens at the new address only.
    await c.stop(moved.id);
    c.net.isolate(nameOf(moved.id));
    const again = await c.restart(moved.id, { transportName: 'moved' });
    await c.propose(leader.id, 'b');
    await c.waitForConvergence();
    assert.deepEqual(again.sm.values, ['a', 'b']);
    await c.close();
  });

  test('a new member started with peers and no initial members catches up after it is added, even past a snapshot', async () => {
    const c = new NodeCluster({ seed: 62, node: { snapshotCount: 20, snapshotCatchUpEntries: 5 } });
    await c.start();
    const leader = await c.waitForLeader();
    await c.proposeMany(leader.id, 'old', 40);
    await c.clock.waitFor(() => leader.store.inspect().firstIndex > 1, { description: 'the leader compacted' });
    const joiner = await c.join('4');
    const list = await resolved(c.clock, leader.node.addMember('4', [urlOf('4')], { meta: { name: 'd' } }));
    assert.deepEqual(list.find((m) => m.id === '4'), { id: '4', peerUrls: [urlOf('4')], isLearner: false, meta: { name: 'd' } });
    await c.waitForConvergence();
    assert.deepEqual(joiner.sm.values, leader.sm.values);
    assert.deepEqual(joiner.node.confState().voters, ['1', '2', '3', '4']);
    assert.equal(joiner.node.memberList().length, 4);
    assert.equal(await c.propose('4', 'from-4'), 41);
    await c.close();
  });

  test('a membership change while a partition is active commits on the majority side', async () => {
    const c = new NodeCluster({ seed: 63 });
    await c.start();
    const leader = await c.waitForLeader();
    const cut = c.follower(leader.id);
    c.net.isolate(nameOf(cut.id));
    await c.join('4');
    await resolved(c.clock, leader.node.addMember('4', [urlOf('4')]));
    await c.propose(leader.id, 'x');
    c.net.heal();
    await c.waitForConvergence();
    for (const id of ['1', '2', '3', '4'] as NodeId[]) assert.deepEqual(c.node(id).confState().voters, ['1', '2', '3', '4']);
    await c.close();
  });
});
