// /v2/stats/leader on a three-member cluster: the leader answers with each
// follower's measured round-trip latency and answer counts (etcd's shape);
// a follower answers 403 {"message":"not current leader"}, as etcd does.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMemoryNetwork } from '@kv/raft/testing';
import { createNode, type KvNode } from '@kv/store';
import { serveHttp, type HttpServerHandle } from '../../src/index.ts';
import { call, waitFor } from './helpers.ts';

describe('/v2/stats/leader', () => {
  let nodes: KvNode[];
  let leader: KvNode;
  let follower: KvNode;
  let servers: HttpServerHandle[];

  before(async () => {
    // 5 ms each way: every round trip takes about 10 ms or more.
    const net = createMemoryNetwork({ seed: 811, latencyMs: 5 });
    const initialCluster = { m1: 'mem://m1', m2: 'mem://m2', m3: 'mem://m3' };
    nodes = await Promise.all(['m1', 'm2', 'm3'].map((name) => createNode({ name, initialCluster, transport: net.transport(name) })));
    await waitFor(() => nodes.some((n) => n.status().isLeader), 'a leader');
    leader = nodes.find((n) => n.status().isLeader)!;
    follower = nodes.find((n) => !n.status().isLeader)!;
    servers = await Promise.all([leader, follower].map((n) => serveHttp(n, { listen: 'http://127.0.0.1:0' })));
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(nodes.map((n) => n.close()));
  });

  test('on the leader: every follower with answers counted and round trips that reflect the network delay, in etcd field order', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await call(servers[0].urls[0], 'PUT', `/v2/keys/k${i}`, { value: 'v' })).status, 201);
    // A few heartbeat intervals (100 ms) more, so every follower answered some.
    await waitFor(
      () => Object.values(leader.leaderStats()?.followers ?? {}).every((f) => f.counts.success >= 3),
      'answers from every follower',
    );
    const r = await call(servers[0].urls[0], 'GET', '/v2/stats/leader');
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(Object.keys(r.json), ['leader', 'followers']);
    assert.equal(r.json.leader, leader.status().id);
    const ids = nodes.filter((n) => n !== leader).map((n) => n.status().id).sort();
    assert.deepEqual(Object.keys(r.json.followers).sort(), ids);
    for (const id of ids) {
      const f = r.json.followers[id];
      assert.deepEqual(Object.keys(f), ['latency', 'counts']);
      assert.deepEqual(Object.keys(f.latency), ['current', 'average', 'standardDeviation', 'minimum', 'maximum']);
      assert.deepEqual(Object.keys(f.counts), ['fail', 'success']);
      assert.ok(f.counts.success >= 3, `success ${f.counts.success}`);
      assert.equal(f.counts.fail, 0);
      // Two 5 ms hops; a timer may fire up to a millisecond early on the
      // event loop's cached clock, so at least 8 ms (a lower bound only).
      for (const k of ['current', 'average', 'minimum', 'maximum']) {
        assert.ok(f.latency[k] >= 8, `latency.${k} ${f.latency[k]} ms reflects the 2 × 5 ms network delay`);
      }
      assert.ok(f.latency.minimum <= f.latency.average && f.latency.average <= f.latency.maximum);
      assert.ok(f.latency.standardDeviation >= 0);
    }
  });

  test('on a follower: 403 {"message":"not current leader"}', async () => {
    const r = await call(servers[1].urls[0], 'GET', '/v2/stats/leader');
    assert.equal(r.status, 403);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(r.json, { message: 'not current leader' });
  });
});
