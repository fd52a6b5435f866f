// serveHttp under bad input: 413 for big bodies, 404 for unknown routes,
// slow clients timed out, auth (401 / bearer / basic), and random requests
// (fast-check) that never crash the server.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { call, serveOne, type Served } from './helpers.ts';

describe('serveHttp robustness', () => {
  let s: Served;
  before(async () => {
    s = await serveOne({ maxBodyBytes: 1024, headersTimeoutMs: 300, requestTimeoutMs: 600 });
  });
  after(() => s.close());

  test('a body over maxBodyBytes gets 413; the server keeps serving', async () => {
    const big = await call(s.url, 'PUT', '/v2/keys/big', { value: 'x'.repeat(2000) });
    assert.equal(big.status, 413);
    assert.equal(typeof big.json.message, 'string');
    const members = await call(s.url, 'POST', '/v2/members', JSON.stringify({ peerURLs: ['http://a:1'], pad: 'x'.repeat(2000) }), { 'content-type': 'application/json' });
    assert.equal(members.status, 413);
    const ok = await call(s.url, 'PUT', '/v2/keys/small', { value: 'x' });
    assert.equal(ok.status, 201);
  });

  test('unknown routes get 404 JSON; unknown methods on keys 405', async () => {
    const r = await call(s.url, 'GET', '/nope');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { message: 'Not Found' });
    const p = await call(s.url, 'PATCH', '/v2/keys/a');
    assert.equal(p.status, 405);
  });

  test('a slowloris client that never finishes its headers is cut off', async () => {
    const { port } = new URL(s.url);
    const started = Date.now();
    const closed = await new Promise<string>((resolve) => {
      const sock = connect(Number(port), '127.0.0.1', () => sock.write('GET /v2/keys/a HTTP/1.1\r\nHost: x\r\n'));
      let data = '';
      sock.on('data', (d) => (data += d.toString()));
      sock.on('close', () => resolve(data));
      sock.on('error', () => undefined);
      const drip = setInterval(() => {
        if (!sock.destroyed) sock.write('X-Slow: 1\r\n');
      }, 50);
      sock.on('close', () => clearInterval(drip));
    });
    assert.ok(Date.now() - started < 5000, 'cut off within the headers timeout (plus the check interval)');
    assert.ok(closed === '' || /^HTTP\/1\.1 408/.test(closed), closed);
  });

  test('random requests: always a proper status, JSON bodies where JSON is promised, server stays up', async () => {
    const seg = fc.oneof(fc.constantFrom('v2', 'keys', 'members', 'stats', 'self', 'leader', 'store', 'health', 'version', 'metrics', '', '..', '%zz', '%2F'), fc.string({ maxLength: 8 }));
    const path = fc.array(seg, { maxLength: 5 }).map((p) => '/' + p.map((x) => encodeURIComponent(x).replace(/%25zz/, '%zz')).join('/'));
    const prefixed = fc.oneof(path, path.map((p) => '/v2/keys' + p), path.map((p) => '/v2/members' + p));
    const qkey = fc.constantFrom('recursive', 'sorted', 'wait', 'waitIndex', 'quorum', 'ttl', 'dir', 'prevValue', 'prevIndex', 'prevExist', 'refresh', 'value', 'stream', 'x');
    const qval = fc.oneof(fc.constantFrom('true', 'false', '1', '0', '', '-1', 'abc', '99999999999999999999'), fc.string({ maxLength: 6 }));
    const query = fc.array(fc.tuple(qkey, qval), { maxLength: 4 }).map((kv) => kv.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&'));
    const method = fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS');
    const body = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 40 }), fc.constantFrom('value=1', 'value=%', '{"peerURLs":["http://x:1"]}', '{', 'ttl=x&value=1'));
    const ctype = fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain');
    await fc.assert(
      fc.asyncProperty(method, prefixed, query, body, ctype, async (m, p, q, b, ct) => {
        // wait=true on a GET would (correctly) block; drop it from the random mix.
        const qs = q.replace(/(^|&)wait=[^&]*/g, '');
        const hasBody = b !== undefined && m !== 'GET' && m !== 'HEAD';
        const r = await fetch(`${s.url}${p}${qs ? '?' + qs : ''}`, {
          method: m,
          ...(hasBody ? { body: b, headers: { 'content-type': ct } } : {}),
          signal: AbortSignal.timeout(5000),
        });
        const text = await r.text();
        assert.ok(r.status >= 200 && r.status < 600 && r.status !== 500 || /Raft Internal|etcdserver/.test(text), `${m} ${p}?${qs} → ${r.status} ${text}`);
        if (m !== 'HEAD' && r.status !== 204 && p !== '/metrics' && text !== '') {
          assert.doesNotThrow(() => JSON.parse(text), `${m} ${p}?${qs} → ${r.status} ${text}`);
        }
      }),
      { numRuns: 300, seed: 42 },
    );
    const h = await call(s.url, 'GET', '/health');
    assert.equal(h.status, 200);
  });
});

describe('serveHttp auth', () => {
  let s: Served;
  before(async () => {
    s = await serveOne({ auth: { token: 's3cret', username: 'root', password: 'pw' } });
  });
  after(() => s.close());

  test('no or wrong credentials → 401 with etcd code 110', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer nope' }, { authorization: 'Basic ' + Buffer.from('root:bad').toString('base64') }, { authorization: 'Basic !!!' }]) {
      const r = await call(s.url, 'GET', '/v2/keys/', undefined, headers);
      assert.equal(r.status, 401);
      assert.equal(r.json.errorCode, 110);
      assert.equal(r.json.message, 'The request requires user authentication');
    }
    const m = await call(s.url, 'GET', '/v2/members');
    assert.equal(m.status, 401);
  });

  test('bearer token and basic auth are accepted; /health and /version stay open', async () => {
    const bearer = await call(s.url, 'PUT', '/v2/keys/a', { value: '1' }, { authorization: 'Bearer s3cret' });
    assert.equal(bearer.status, 201);
    const basic = await call(s.url, 'GET', '/v2/keys/a', undefined, { authorization: 'Basic ' + Buffer.from('root:pw').toString('base64') });
    assert.equal(basic.status, 200);
    assert.equal(basic.json.node.value, '1');
    assert.equal((await call(s.url, 'GET', '/health')).status, 200);
    assert.equal((await call(s.url, 'GET', '/version')).status, 200);
  });
});
