// serveHttp's /v2/members, /health, /version, /v2/stats/* and /metrics.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, serveLeaderOfThree, serveOne, type Served } from './helpers.ts';

describe('serveHttp members, health, version, stats, metrics', () => {
  let s: Served;
  before(async () => {
    s = await serveOne();
  });
  after(() => s.close());

  test('GET /v2/members lists members with this server as clientURLs; /v2/members/leader', async () => {
    const r = await call(s.url, 'GET', '/v2/members');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { members: [{ id: s.node.id, name: 'm1', peerURLs: ['mem://m1'], clientURLs: [s.url] }] });
    const three = await serveLeaderOfThree();
    try {
      const all = await call(three.url, 'GET', '/v2/members');
      assert.deepEqual(all.json.members.map((m: { name: string }) => m.name).sort(), ['m1', 'm2', 'm3']);
      const self = all.json.members.find((m: { id: string }) => m.id === three.node.id);
      assert.deepEqual(self.clientURLs, [three.url]);
      const others = all.json.members.filter((m: { id: string }) => m.id !== three.node.id);
      assert.deepEqual(others.map((m: { clientURLs: string[] }) => m.clientURLs), [[], []]);
    } finally {
      await three.close();
    }
    const l = await call(s.url, 'GET', '/v2/members/leader');
    assert.equal(l.json.id, s.node.id);
  });

  test('POST /v2/members adds (201, name ""), PUT updates (204), DELETE removes (204), errors as etcd', async () => {
    const s = await serveLeaderOfThree();
    try {
      await membersRoundTrip(s);
    } finally {
      await s.close();
    }
  });

  async function membersRoundTrip(s: Served): Promise<void> {
    const bad = await call(s.url, 'POST', '/v2/members', '{"peerURLs":["mem://m2"]}', { 'content-type': 'text/plain' });
    assert.equal(bad.status, 415);
    assert.deepEqual(bad.json, { message: 'Bad Content-Type' });
    const junk = await call(s.url, 'POST', '/v2/members', '{nope', { 'content-type': 'application/json' });
    assert.equal(junk.status, 400);
    assert.equal(typeof junk.json.message, 'string');
    const noUrls = await call(s.url, 'POST', '/v2/members', '{"peerURLs":[]}', { 'content-type': 'application/json' });
    assert.equal(noUrls.status, 400);

    const add = await call(s.url, 'POST', '/v2/members', '{"peerURLs":["http://127.0.0.1:1"]}', { 'content-type': 'application/json' });
    assert.equal(add.status, 201, add.text);
    assert.match(add.json.id, /^[0-9a-f]+$/);
    assert.equal(add.json.name, '');
    assert.deepEqual(add.json.peerURLs, ['http://127.0.0.1:1']);
    assert.deepEqual(add.json.clientURLs, []);
    const dup = await call(s.url, 'POST', '/v2/members', '{"peerURLs":["http://127.0.0.1:1"]}', { 'content-type': 'application/json' });
    assert.equal(dup.status, 409);
    const listed = await call(s.url, 'GET', '/v2/members');
    const added = listed.json.members.find((m: { id: string }) => m.id === add.json.id);
    assert.equal(added.name, '');
    const rm = await call(s.url, 'DELETE', `/v2/members/${add.json.id}`);
    assert.equal(rm.status, 204, rm.text);
    assert.equal(rm.text, '');
    const again = await call(s.url, 'DELETE', `/v2/members/${add.json.id}`);
    assert.equal(again.status, 404);
    assert.match(again.json.message, /No such member/);
    const up = await call(s.url, 'PUT', `/v2/members/${s.node.id}`, `{"peerURLs":["mem://${s.node.name}"]}`, { 'content-type': 'application/json' });
    assert.equal(up.status, 204, up.text);
    const upMissing = await call(s.url, 'PUT', '/v2/members/abcdef', '{"peerURLs":["mem://zz"]}', { 'content-type': 'application/json' });
    assert.equal(upMissing.status, 404);
  }

  test('/health, /version', async () => {
    const h = await call(s.url, 'GET', '/health');
    assert.equal(h.status, 200);
    assert.deepEqual(h.json, { health: 'true' });
    const v = await call(s.url, 'GET', '/version');
    assert.equal(v.json.etcdserver, '2.3.8');
    assert.equal(v.json.etcdcluster, '2.3.0');
    assert.equal(typeof v.json.kv, 'string');
  });

  test('/v2/stats/self, /v2/stats/leader, /v2/stats/store', async () => {
    await call(s.url, 'PUT', '/v2/keys/st', { value: '1' });
    await call(s.url, 'GET', '/v2/keys/st');
    await call(s.url, 'GET', '/v2/keys/missing');
    const self = await call(s.url, 'GET', '/v2/stats/self');
    assert.equal(self.json.id, s.node.id);
    assert.equal(self.json.name, 'm1');
    assert.equal(self.json.state, 'StateLeader');
    assert.equal(self.json.leaderInfo.leader, s.node.id);
    const leader = await call(s.url, 'GET', '/v2/stats/leader');
    assert.equal(leader.json.leader, s.node.id);
    assert.deepEqual(leader.json.followers, {});
    const store = await call(s.url, 'GET', '/v2/stats/store');
    assert.ok(store.json.getsSuccess >= 1);
    assert.ok(store.json.getsFail >= 1);
    assert.ok(store.json.setsSuccess >= 1);
    assert.equal(typeof store.json.watchers, 'number');
  });

  test('/metrics in Prometheus text', async () => {
    const m = await call(s.url, 'GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type') ?? '', /^text\/plain/);
    const value = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(m.text)?.[1]);
    assert.equal(value('kv_applied_index'), s.node.status().appliedIndex);
    assert.ok(value('kv_leader_changes_total') >= 1);
    assert.ok(value('kv_proposals_total') >= 1);
    assert.equal(value('kv_watchers'), s.node.status().watchers);
    assert.match(m.text, /# TYPE kv_proposals_total counter/);
    assert.match(m.text, /kv_http_requests_total\{method="GET",code="200"\} \d+/);
    // fsync and apply latency histograms: one observation per durable write / applied batch.
    assert.match(m.text, /# TYPE kv_disk_fsync_duration_seconds histogram/);
    assert.ok(value('kv_disk_fsync_duration_seconds_count') >= 1);
    assert.equal(Number(/^kv_disk_fsync_duration_seconds_bucket\{le="\+Inf"\} (\d+)$/m.exec(m.text)?.[1]), value('kv_disk_fsync_duration_seconds_count'));
    assert.ok(value('kv_apply_duration_seconds_count') >= 1);
    assert.ok(value('kv_raft_applied_entries_total') >= value('kv_apply_duration_seconds_count'));
    const post = await call(s.url, 'POST', '/metrics');
    assert.equal(post.status, 405);
  });
});
