// wss:// between members, with certificates made by openssl for this run
// (self-signed for 127.0.0.1, each its own CA).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';

import { connectAll, heartbeat, linesWith, member, stopAll, waitFor, type Member } from './helpers.ts';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

interface Cert {
  readonly cert: Buffer;
  readonly key: Buffer;
}

let dir = '';
function makeCert(name: string): Cert {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { cert: readFileSync(cert), key: readFileSync(key) };
}

describe('wss://', { skip: hasOpenssl() ? false : 'openssl is not installed' }, () => {
  let ca: Cert;
  let other: Cert;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kv-ws-tls-'));
    ca = makeCert('kv-peer');
    other = makeCert('someone-else');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  let started: Member[] = [];
  afterEach(async () => {
    await stopAll(started);
    started = [];
  });
  async function m(id: string, opts: Parameters<typeof member>[1]): Promise<Member> {
    const x = await member(id, opts);
    started.push(x);
    return x;
  }

  test('carries messages both ways between members whose certificates the other trusts', async () => {
    const tls = { cert: ca.cert, key: ca.key, ca: ca.cert };
    const [a, b] = [await m('a', { listen: 'wss://127.0.0.1:0', tls }), await m('b', { listen: 'https://127.0.0.1:0', tls })];
    assert.match(a.url, /^wss:\/\//);
    assert.match(b.url, /^https:\/\//);
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b', 1)]);
    await waitFor('b to receive over TLS', () => b.received.length === 1);
    b.t.send([heartbeat('b', 'a', 2)]);
    await waitFor('a to receive over TLS', () => a.received.length === 1);
  });

  test('does not connect to a server whose certificate it does not trust', async () => {
    const b = await m('b', { listen: 'wss://127.0.0.1:0', tls: { cert: ca.cert, key: ca.key } });
    const a = await m('a', { tls: { ca: other.cert } });
    a.t.addPeer('b', b.url);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('onUnreachable(b)', () => a.unreachable.includes('b'));
    assert.equal(b.received.length, 0);
    assert.ok(linesWith(a.lines, 'cannot connect to').length >= 1);
  });

  test('with clientCertAuth, accepts a dialer with a trusted client certificate and refuses one without', async () => {
    const b = await m('b', { listen: 'wss://127.0.0.1:0', tls: { cert: ca.cert, key: ca.key, ca: ca.cert, clientCertAuth: true } });
    const good = await m('a', { tls: { cert: ca.cert, key: ca.key, ca: ca.cert } });
    const bad = await m('c', { tls: { ca: ca.cert } });
    good.t.addPeer('b', b.url);
    bad.t.addPeer('b', b.url);
    good.t.send([heartbeat('a', 'b', 1)]);
    bad.t.send([heartbeat('c', 'b', 2)]);
    await waitFor('the good dialer to get through and the bad one to fail', () => b.received.length === 1 && bad.unreachable.includes('b'));
    assert.equal(b.received[0].from, 'a');
  });
});
