// RaftNode.leaderStats (node/follower-stats.ts): the leader times the round
// trip of every heartbeat and append to each follower on its clock, in
// etcd's /v2/stats/leader shape. On the memory network with the manual clock
// and injected delays, a delay of d each way is a round trip of 2d plus the
// follower's durable write before it answers. The memory log store finishes
// a write on a later turn of the event loop, and the manual clock may move
// on meanwhile: with a timer due every virtual millisecond (`cluster()`) the
// clock yields every millisecond, so that write shows as at most 2 ms.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { FollowerStatsTracker, type FollowerStats, type LeaderStats } from '../src/node/follower-stats.ts';
import { MessageType, message, type Message } from '../src/types.ts';
import { NodeCluster, nameOf, resolved, type Member } from './helpers/node-cluster.ts';

/** Slack for the follower's durable write (see the file comment), in ms. */
const WRITE_MS = 2;

/**
 * Three members with `latencyMs` each way, on a manual clock that yields
 * every virtual millisecond (see the file comment), once one leads.
 */
async function cluster(seed: number, latencyMs: number): Promise<{ c: NodeCluster; leader: Member }> {
  const c = new NodeCluster({ seed, latencyMs });
  c.clock.setInterval(() => {}, 1);
  await c.start();
  return { c, leader: await c.waitForLeader() };
}

function within(v: number, lo: number, hi: number, what: string): void {
  assert.ok(v >= lo && v <= hi, `${what} ${v} not in [${lo}, ${hi}]`);
}

function statsOf(s: LeaderStats | undefined, id: string): FollowerStats {
  assert.ok(s, 'the leader reports stats');
  const f = s.followers[id];
  assert.ok(f, `follower ${id} is listed`);
  return f;
}

describe('RaftNode.leaderStats', () => {
  test('on a network with 20 ms each way, every follower shows a 40 ms round trip and no failures', async () => {
    const { c, leader } = await cluster(301, 20);
    await c.proposeMany(leader.id, 'x', 5);
    await c.clock.runFor(1000);
    const s = leader.node.leaderStats();
    assert.ok(s);
    assert.equal(s.leader, leader.id);
    const others = ['1', '2', '3'].filter((id) => id !== leader.id);
    assert.deepEqual(Object.keys(s.followers).sort(), others);
    for (const id of others) {
      const f = statsOf(s, id);
      // ~10 heartbeats in 1 s, plus the appends.
      assert.ok(f.counts.success >= 10, `success ${f.counts.success}`);
      assert.equal(f.counts.fail, 0);
      within(f.latency.minimum, 40, 40 + WRITE_MS, 'minimum');
      within(f.latency.maximum, 40, 40 + WRITE_MS, 'maximum');
      within(f.latency.current, 40, 40 + WRITE_MS, 'current');
      within(f.latency.average, f.latency.minimum, f.latency.maximum, 'average');
      within(f.latency.standardDeviation, 0, WRITE_MS, 'standardDeviation');
    }
    for (const id of others) assert.equal(c.node(id).leaderStats(), undefined, 'a follower has no leader stats');
    await c.close();
  });

  test('an added delay shows in current, maximum, average and the deviation, also when the round trip outlasts the heartbeat interval', async () => {
    const { c, leader } = await cluster(302, 5);
    await c.clock.runFor(500);
    const id = c.follower(leader.id).id;
    const before = statsOf(leader.node.leaderStats(), id);
    within(before.latency.maximum, 10, 10 + WRITE_MS, 'maximum before');

    // 95 ms more each way: a 200 ms round trip, two heartbeat intervals.
    // Heartbeats carry a tag, so each answer still matches its own send.
    c.net.setFaults({ minDelayMs: 95, maxDelayMs: 95 });
    await c.clock.runFor(1000);
    const after = statsOf(leader.node.leaderStats(), id);
    within(after.latency.current, 200, 200 + WRITE_MS, 'current');
    within(after.latency.maximum, 200, 200 + WRITE_MS, 'maximum');
    assert.equal(after.latency.minimum, before.latency.minimum);
    within(after.latency.average, before.latency.maximum, 200, 'average');
    assert.ok(after.latency.standardDeviation > 10, `standardDeviation ${after.latency.standardDeviation}`);
    assert.ok(after.counts.success >= before.counts.success + 8, 'about one answer per heartbeat');
    assert.equal(after.counts.fail, 0, 'a slow answer is not a failure');
    await c.close();
  });

  test('appends are timed too: with heartbeats held back, proposals still produce samples', async () => {
    const { c, leader } = await cluster(303, 15);
    await c.clock.runFor(300);
    c.net.setFilter((m) => (m.type === MessageType.MsgHeartbeat || m.type === MessageType.MsgHeartbeatResp ? 'drop' : 'deliver'));
    const id = c.follower(leader.id).id;
    const before = statsOf(leader.node.leaderStats(), id).counts.success;
    await c.proposeMany(leader.id, 'p', 3);
    await c.propose(leader.id, 'q');
    const f = statsOf(leader.node.leaderStats(), id);
    assert.ok(f.counts.success > before, `${f.counts.success} > ${before}`);
    within(f.latency.current, 30, 30 + WRITE_MS, 'current');
    await c.close();
  });

  test('a follower cut off counts failures (unreachable reports, unanswered sends) and successes resume once healed', async () => {
    const { c, leader } = await cluster(304, 10);
    await c.clock.runFor(300);
    const id = c.follower(leader.id).id;
    assert.equal(statsOf(leader.node.leaderStats(), id).counts.fail, 0);

    c.net.isolate(nameOf(id));
    await c.clock.runFor(1000);
    const cut = statsOf(leader.node.leaderStats(), id);
    assert.ok(cut.counts.fail >= 5, `fail ${cut.counts.fail}`);
    assert.equal(leader.node.status().isLeader, true, 'the other follower keeps it leader');

    // Sends lost without a report (dropped by a filter) time out after an election timeout.
    c.net.heal();
    await c.clock.runFor(300);
    const healed = statsOf(leader.node.leaderStats(), id);
    assert.ok(healed.counts.success > cut.counts.success, 'answers again');
    c.net.setFilter((m) => (m.type === MessageType.MsgHeartbeatResp && m.from === id ? 'drop' : 'deliver'));
    await c.clock.runFor(2000);
    const silent = statsOf(leader.node.leaderStats(), id);
    assert.ok(silent.counts.fail >= healed.counts.fail + 5, `${silent.counts.fail} vs ${healed.counts.fail}`);
    assert.equal(silent.latency.current, healed.latency.current, 'the latency stays the last one measured');
    await c.close();
  });

  test('a new leader counts from zero, and a member that stops leading reports none', async () => {
    const { c, leader: first } = await cluster(305, 10);
    await c.clock.runFor(2000);
    const target = c.follower(first.id);
    const firstCount = statsOf(first.node.leaderStats(), target.id).counts.success;
    assert.ok(firstCount >= 15);

    await resolved(c.clock, first.node.transferLeadership(target.id), 5000);
    assert.equal(first.node.leaderStats(), undefined);
    await c.clock.runFor(300);
    const second = target.node.leaderStats();
    assert.ok(second);
    assert.equal(second.leader, target.id);
    assert.ok(statsOf(second, first.id).counts.success < firstCount, 'the new leader started from zero');

    await resolved(c.clock, target.node.transferLeadership(first.id), 5000);
    await c.clock.runFor(300);
    const again = statsOf(first.node.leaderStats(), target.id);
    assert.ok(again.counts.success < firstCount, `leading again starts over: ${again.counts.success} < ${firstCount}`);
    within(again.latency.current, 20, 20 + WRITE_MS, 'current');
    await c.close();
  });

  test('a single member lists no followers', async () => {
    const c = new NodeCluster({ seed: 306, ids: ['1'] });
    await c.start();
    const leader = await c.waitForLeader();
    assert.deepEqual(leader.node.leaderStats(), { leader: '1', followers: {} });
    await c.close();
  });
});

describe('FollowerStatsTracker', () => {
  const hb = (to: string): Message => message({ type: MessageType.MsgHeartbeat, from: '1', to });
  const hbResp = (sent: Message): Message => message({ type: MessageType.MsgHeartbeatResp, from: sent.to, to: '1', ...(sent.context ? { context: sent.context } : {}) });

  test('keeps the running mean and population deviation over the samples, as etcd does', () => {
    const t = new FollowerStatsTracker(1000);
    for (const [at, rtt] of [[0, 10], [100, 20], [200, 30], [300, 60]] as const) {
      const sent = t.tagHeartbeat(hb('2'), at);
      t.received(hbResp(sent), at + rtt, true);
    }
    const f = t.view('1', ['1', '2']).followers['2'];
    assert.deepEqual(f.counts, { fail: 0, success: 4 });
    assert.equal(f.latency.current, 60);
    assert.equal(f.latency.minimum, 10);
    assert.equal(f.latency.maximum, 60);
    assert.equal(f.latency.average, 30);
    assert.ok(Math.abs(f.latency.standardDeviation - Math.sqrt((400 + 100 + 0 + 900) / 4)) < 1e-9);
  });

  test('matches each heartbeat answer to its own send, out of order, and hands the core the original context', () => {
    const t = new FollowerStatsTracker(1000);
    const readCtx = Uint8Array.of(1, 2, 3);
    const a = t.tagHeartbeat(hb('2'), 0);
    const b = t.tagHeartbeat(message({ type: MessageType.MsgHeartbeat, from: '1', to: '2', context: readCtx }), 100);
    const forCoreB = t.received(hbResp(b), 130, true);
    assert.deepEqual(forCoreB.context, readCtx, 'the read request ID is untouched');
    const forCoreA = t.received(hbResp(a), 250, true);
    assert.equal(forCoreA.context, undefined, 'no context was there, none is left');
    const f = t.view('1', ['2']).followers['2'];
    assert.deepEqual([f.latency.minimum, f.latency.maximum, f.latency.current], [30, 250, 250]);
  });

  test('counts unreachable reports and sends unanswered past the timeout as failures, and lists members not heard from with zeros', () => {
    const t = new FollowerStatsTracker(1000);
    t.tagHeartbeat(hb('2'), 0);
    t.sentAppend(message({ type: MessageType.MsgApp, from: '1', to: '2', index: 5 }), 0);
    t.expire(999);
    assert.deepEqual(t.view('1', ['2']).followers['2'].counts, { fail: 0, success: 0 });
    t.expire(1000);
    assert.deepEqual(t.view('1', ['2']).followers['2'].counts, { fail: 2, success: 0 });
    t.tagHeartbeat(hb('2'), 2000);
    t.unreachable('2');
    t.expire(5000);
    assert.deepEqual(t.view('1', ['2']).followers['2'].counts, { fail: 3, success: 0 }, 'a send given up on is not also timed out');
    assert.deepEqual(t.view('1', ['1', '2', '3']).followers['3'], {
      latency: { current: 0, average: 0, standardDeviation: 0, minimum: 0, maximum: 0 },
      counts: { fail: 0, success: 0 },
    });
  });

  test('times an append by its index range; a repeated range waits for its own answer', () => {
    const t = new FollowerStatsTracker(1000);
    const app = (index: number, n: number): Message =>
      message({ type: MessageType.MsgApp, from: '1', to: '2', index, entries: Array.from({ length: n }, (_, i) => ({ term: 1, index: index + 1 + i, type: 0, data: new Uint8Array(0) })) });
    const resp = (index: number, reject = false): Message => message({ type: MessageType.MsgAppResp, from: '2', to: '1', index, reject });
    t.sentAppend(app(4, 5), 0); // 5..9
    t.sentAppend(app(9, 0), 20); // commit only: the same range end
    t.received(resp(9), 40, true);
    t.sentAppend(app(9, 0), 45);
    t.received(resp(9), 60, true); // answers the send at 20
    t.received(resp(9), 85, true); // answers the send at 45
    t.sentAppend(app(20, 1), 100);
    t.received(resp(20, true), 150, true); // a rejection names the index it rejected
    const f = t.view('1', ['2']).followers['2'];
    assert.equal(f.counts.success, 4);
    assert.deepEqual([f.latency.minimum, f.latency.maximum, f.latency.current], [40, 50, 50]);
  });
});
