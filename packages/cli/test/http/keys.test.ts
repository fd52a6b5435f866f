// serveHttp's /v2/keys: etcd v2 wire shapes for GET/PUT/POST/DELETE, errors
// with etcd's codes and statuses, headers, and wait/waitIndex long polls.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, serveOne, type Served } from './helpers.ts';

describe('serveHttp /v2/keys', () => {
  let s: Served;
  before(async () => {
    s = await serveOne();
  });
  after(() => s.close());

  test('PUT creates (201) then updates (200) with prevNode, and headers as etcd', async () => {
    const a = await call(s.url, 'PUT', '/v2/keys/put/a', { value: 'one' });
    assert.equal(a.status, 201);
    assert.equal(a.headers.get('content-type'), 'application/json');
    assert.equal(a.json.action, 'set');
    assert.equal(a.json.node.key, '/put/a');
    assert.equal(a.json.node.value, 'one');
    assert.equal(a.json.node.modifiedIndex, a.json.node.createdIndex);
    assert.equal(a.json.prevNode, undefined);
    assert.equal(a.json.node.ttl, undefined);
    assert.equal(a.json.node.expiration, undefined);
    assert.equal(a.headers.get('x-etcd-index'), String(a.json.node.modifiedIndex));
    assert.match(a.headers.get('x-raft-index') ?? '', /^\d+$/);
    assert.match(a.headers.get('x-raft-term') ?? '', /^\d+$/);
    assert.equal(a.headers.get('x-etcd-cluster-id'), s.node.status().clusterId);
    assert.ok(a.text.endsWith('\n'));

    const b = await call(s.url, 'PUT', '/v2/keys/put/a', { value: 'two' });
    assert.equal(b.status, 200);
    assert.equal(b.json.node.value, 'two');
    assert.equal(b.json.prevNode.value, 'one');

    const g = await call(s.url, 'GET', '/v2/keys/put/a');
    assert.equal(g.status, 200);
    assert.deepEqual(g.json, { action: 'get', node: { key: '/put/a', value: 'two', modifiedIndex: b.json.node.modifiedIndex, createdIndex: b.json.node.createdIndex } });
    assert.equal(b.json.node.createdIndex, b.json.node.modifiedIndex, 'a set replaces the node, as in etcd v2');
    assert.equal(g.headers.get('x-etcd-index'), String(s.node.status().storeIndex));

    const q = await call(s.url, 'GET', '/v2/keys/put/a?quorum=true');
    assert.equal(q.json.node.value, 'two');
  });

  test('value in the query string, empty value, ttl', async () => {
    const a = await call(s.url, 'PUT', '/v2/keys/q?value=fromquery');
    assert.equal(a.json.node.value, 'fromquery');
    const e = await call(s.url, 'PUT', '/v2/keys/empty', {});
    assert.equal(e.status, 201);
    assert.equal(e.json.node.value, '');
    const t = await call(s.url, 'PUT', '/v2/keys/ttl', { value: 'x', ttl: '100' });
    assert.equal(t.json.node.ttl, 100);
    assert.match(t.json.node.expiration, /^\d{4}-\d\d-\d\dT/);
    const n = await call(s.url, 'PUT', '/v2/keys/ttl', { value: 'y', ttl: '' });
    assert.equal(n.json.node.ttl, undefined);
    const r1 = await call(s.url, 'PUT', '/v2/keys/ttl', { value: 'z', ttl: '50' });
    const r = await call(s.url, 'PUT', '/v2/keys/ttl', { ttl: '200', refresh: 'true', prevExist: 'true' });
    assert.equal(r.status, 200);
    assert.equal(r.json.node.value, 'z');
    assert.equal(r.json.node.ttl, 200);
    assert.equal(r1.json.node.value, 'z');
  });

  test('prevExist, prevValue, prevIndex: create/update/compareAndSwap and their errors', async () => {
    const c = await call(s.url, 'PUT', '/v2/keys/cas?prevExist=false', { value: '1' });
    assert.equal(c.status, 201);
    assert.equal(c.json.action, 'create');
    const again = await call(s.url, 'PUT', '/v2/keys/cas?prevExist=false', { value: '1' });
    assert.equal(again.status, 412);
    assert.deepEqual(Object.keys(again.json), ['errorCode', 'message', 'cause', 'index']);
    assert.equal(again.json.errorCode, 105);
    assert.equal(again.json.message, 'Key already exists');
    assert.equal(again.json.cause, '/cas');
    assert.equal(again.headers.get('x-etcd-index'), String(again.json.index));

    const u = await call(s.url, 'PUT', '/v2/keys/cas', { value: '2', prevExist: 'true' });
    assert.equal(u.status, 200);
    assert.equal(u.json.action, 'update');
    const miss = await call(s.url, 'PUT', '/v2/keys/nope', { value: '2', prevExist: 'true' });
    assert.equal(miss.status, 404);
    assert.equal(miss.json.errorCode, 100);

    const bad = await call(s.url, 'PUT', '/v2/keys/cas', { value: '3', prevValue: 'x' });
    assert.equal(bad.status, 412);
    assert.equal(bad.json.errorCode, 101);
    assert.equal(bad.json.cause, '[x != 2]');
    const ok = await call(s.url, 'PUT', '/v2/keys/cas', { value: '3', prevValue: '2' });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.action, 'compareAndSwap');
    const byIndex = await call(s.url, 'PUT', '/v2/keys/cas', { value: '4', prevIndex: String(ok.json.node.modifiedIndex) });
    assert.equal(byIndex.json.action, 'compareAndSwap');
    const emptyPrev = await call(s.url, 'PUT', '/v2/keys/cas', { value: '4', prevValue: '' });
    assert.equal(emptyPrev.status, 400);
    assert.equal(emptyPrev.json.errorCode, 201);
  });

  test('directories: mkdir, listing (sorted, recursive), not-a-file, dir not empty', async () => {
    const d = await call(s.url, 'PUT', '/v2/keys/dir', { dir: 'true' });
    assert.equal(d.status, 201);
    assert.equal(d.json.node.dir, true);
    assert.equal(d.json.node.value, undefined);
    const empty = await call(s.url, 'GET', '/v2/keys/dir');
    assert.equal(empty.json.node.dir, true);
    assert.equal(empty.json.node.nodes, undefined, 'etcd omits nodes of an empty dir');
    await call(s.url, 'PUT', '/v2/keys/dir/b', { value: 'b' });
    await call(s.url, 'PUT', '/v2/keys/dir/a', { value: 'a' });
    await call(s.url, 'PUT', '/v2/keys/dir/sub/c', { value: 'c' });
    const l = await call(s.url, 'GET', '/v2/keys/dir?sorted=true');
    assert.deepEqual(l.json.node.nodes.map((n: { key: string }) => n.key), ['/dir/a', '/dir/b', '/dir/sub']);
    const sub = l.json.node.nodes[2];
    assert.equal(sub.dir, true);
    assert.equal(sub.nodes, undefined, 'not expanded without recursive');
    const r = await call(s.url, 'GET', '/v2/keys/dir?recursive=true&sorted=true');
    assert.equal(r.json.node.nodes[2].nodes[0].key, '/dir/sub/c');
    const root = await call(s.url, 'GET', '/v2/keys/');
    assert.equal(root.json.node.key, undefined);
    assert.equal(root.json.node.dir, true);

    const nf = await call(s.url, 'PUT', '/v2/keys/dir', { value: 'x' });
    assert.equal(nf.status, 403);
    assert.equal(nf.json.errorCode, 102);
    const ne = await call(s.url, 'DELETE', '/v2/keys/dir?dir=true');
    assert.equal(ne.status, 403);
    assert.equal(ne.json.errorCode, 108);
    const nd = await call(s.url, 'DELETE', '/v2/keys/dir');
    assert.equal(nd.status, 403);
    assert.equal(nd.json.errorCode, 102);
    const rm = await call(s.url, 'DELETE', '/v2/keys/dir?recursive=true');
    assert.equal(rm.status, 200);
    assert.equal(rm.json.action, 'delete');
    assert.equal(rm.json.prevNode.dir, true);
  });

  test('DELETE returns prevNode; compareAndDelete; 404', async () => {
    await call(s.url, 'PUT', '/v2/keys/del', { value: 'v' });
    const bad = await call(s.url, 'DELETE', '/v2/keys/del?prevValue=w');
    assert.equal(bad.status, 412);
    assert.equal(bad.json.errorCode, 101);
    const cad = await call(s.url, 'DELETE', '/v2/keys/del?prevValue=v');
    assert.equal(cad.status, 200);
    assert.equal(cad.json.action, 'compareAndDelete');
    assert.equal(cad.json.prevNode.value, 'v');
    assert.equal(cad.json.node.value, undefined);
    const gone = await call(s.url, 'DELETE', '/v2/keys/del');
    assert.equal(gone.status, 404);
    assert.equal(gone.json.errorCode, 100);
    assert.equal(gone.json.cause, '/del');
  });

  test('POST creates in-order keys (201)', async () => {
    const a = await call(s.url, 'POST', '/v2/keys/queue', { value: 'job1' });
    const b = await call(s.url, 'POST', '/v2/keys/queue', { value: 'job2' });
    assert.equal(a.status, 201);
    assert.equal(a.json.action, 'create');
    assert.match(a.json.node.key, /^\/queue\/\d{20}$/);
    assert.ok(b.json.node.key > a.json.node.key);
    const l = await call(s.url, 'GET', '/v2/keys/queue?sorted=true');
    assert.deepEqual(l.json.node.nodes.map((n: { value: string }) => n.value), ['job1', 'job2']);
  });

  test('form errors: 202 TTL, 203 index, 209 field, 400 statuses; root is read only', async () => {
    const ttl = await call(s.url, 'PUT', '/v2/keys/f', { value: '1', ttl: 'abc' });
    assert.equal(ttl.status, 400);
    assert.equal(ttl.json.errorCode, 202);
    const idx = await call(s.url, 'PUT', '/v2/keys/f', { value: '1', prevIndex: 'x' });
    assert.equal(idx.status, 400);
    assert.equal(idx.json.errorCode, 203);
    const wi = await call(s.url, 'GET', '/v2/keys/f?wait=true&waitIndex=-1');
    assert.equal(wi.json.errorCode, 203);
    const field = await call(s.url, 'GET', '/v2/keys/f?recursive=maybe');
    assert.equal(field.status, 400);
    assert.equal(field.json.errorCode, 209);
    const waitPut = await call(s.url, 'PUT', '/v2/keys/f?wait=true', { value: '1' });
    assert.equal(waitPut.json.errorCode, 209);
    const form = await call(s.url, 'PUT', '/v2/keys/f', 'value=%zz', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 400);
    assert.equal(form.json.errorCode, 210);
    const root = await call(s.url, 'PUT', '/v2/keys/', { value: '1' });
    assert.equal(root.json.errorCode, 107);
  });

  test('as etcd: a request it cannot parse answers index 0; prevIndex=0 is not given; a dir ignores a value', async () => {
    await call(s.url, 'PUT', '/v2/keys/etcd-like/a', { value: 'one' });
    for (const bad of [
      call(s.url, 'PUT', '/v2/keys/etcd-like/a', { value: '1', ttl: 'x' }),
      call(s.url, 'PUT', '/v2/keys/etcd-like/a', { value: '1', prevIndex: 'x' }),
      call(s.url, 'GET', '/v2/keys/etcd-like/a?sorted=maybe'),
    ]) {
      const r = await bad;
      assert.equal(r.status, 400);
      assert.equal(r.json.index, 0, JSON.stringify(r.json));
      assert.equal(r.headers.get('x-etcd-index'), '0');
    }
    const set = await call(s.url, 'PUT', '/v2/keys/etcd-like/a', { value: 'two', prevIndex: '0' });
    assert.equal(set.status, 200, JSON.stringify(set.json));
    assert.equal(set.json.node.value, 'two');
    const del = await call(s.url, 'DELETE', '/v2/keys/etcd-like/a?prevIndex=0');
    assert.equal(del.status, 200);
    const dir = await call(s.url, 'PUT', '/v2/keys/etcd-like/d?dir=true', { value: 'x' });
    assert.equal(dir.status, 201, JSON.stringify(dir.json));
    assert.equal(dir.json.node.dir, true);
    assert.equal(dir.json.node.value, undefined);
  });

  test('wait=true long-polls for the next change; waitIndex replays history; recursive', async () => {
    const first = await call(s.url, 'PUT', '/v2/keys/w/x', { value: '0' });
    const pending = call(s.url, 'GET', '/v2/keys/w/x?wait=true');
    await new Promise((r) => setTimeout(r, 100));
    await call(s.url, 'PUT', '/v2/keys/w/other', { value: 'ignored' });
    const set = await call(s.url, 'PUT', '/v2/keys/w/x', { value: '1' });
    const got = await pending;
    assert.equal(got.status, 200);
    assert.equal(got.json.action, 'set');
    assert.equal(got.json.node.value, '1');
    assert.equal(got.json.node.modifiedIndex, set.json.node.modifiedIndex);
    assert.equal(got.json.prevNode.value, '0');
    assert.ok(got.headers.get('x-etcd-index'));

    const past = await call(s.url, 'GET', `/v2/keys/w/x?wait=true&waitIndex=${first.json.node.modifiedIndex}`);
    assert.equal(past.json.node.value, '0');
    assert.equal(past.json.node.modifiedIndex, first.json.node.modifiedIndex);

    const rec = call(s.url, 'GET', '/v2/keys/w?wait=true&recursive=true');
    await new Promise((r) => setTimeout(r, 100));
    await call(s.url, 'DELETE', '/v2/keys/w/other');
    const ev = await rec;
    assert.equal(ev.json.action, 'delete');
    assert.equal(ev.json.node.key, '/w/other');
  });

  test('a long poll ends when the client goes away, releasing its watcher', async () => {
    const before = s.node.status().watchers;
    const ac = new AbortController();
    const p = fetch(`${s.url}/v2/keys/gone?wait=true`, { signal: ac.signal }).then((r) => r.text()).catch(() => 'aborted');
    for (let i = 0; i < 50 && s.node.status().watchers === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.node.status().watchers, before + 1);
    ac.abort();
    await p;
    for (let i = 0; i < 100 && s.node.status().watchers !== before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.node.status().watchers, before);
  });
});
