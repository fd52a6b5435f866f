// etcd's discovery protocol, against a real etcd (Debian's etcd-server,
// started with --enable-v2; .ci/run installs it) and against the v2 keys
// slice served by a kv node. Three members discover each other and form a
// cluster; a fourth finds it full; a token without a size gets etcd's error.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createMemoryNetwork } from '@kv/raft/testing';
import { createNode, KvError, type KvNode } from '@kv/store';
import { freePort } from './helpers/member-process.ts';
import { startV2Shim } from './helpers/v2-keys-shim.ts';

interface Target {
  name: string;
  url: string;
  close(): Promise<void>;
}

const etcdInstalled = spawnSync('etcd', ['--version']).status === 0;

async function startEtcd(): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), 'kv-etcd-'));
  const [pc, pp] = [await freePort(), await freePort()];
  const client = `http://127.0.0.1:${pc}`;
  const peer = `http://127.0.0.1:${pp}`;
  const child: ChildProcess = spawn(
    'etcd',
    ['--enable-v2', '--name', 'disc', '--data-dir', dir, '--listen-client-urls', client, '--advertise-client-urls', client,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `disc=${peer}`],
    { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '2' } },
  );
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${client}/v2/keys/`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (i > 200) throw new Error('etcd did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    name: 'etcd 3.4 (--enable-v2)',
    url: client,
    async close() {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startShim(): Promise<Target> {
  const s = await startV2Shim();
  return { name: 'the v2 keys slice of a kv node', url: s.url, close: () => s.close() };
}

const targets: (() => Promise<Target>)[] = [startShim];
if (etcdInstalled) targets.unshift(startEtcd);
else console.log('# etcd is not installed: discovery runs against the kv shim only (apt-get install etcd-server to add it)');

const opened: Target[] = [];
after(async () => {
  for (const t of opened) await t.close();
});

for (const start of targets) {
  describe('discovery URL', async () => {
    const target = await start();
    opened.push(target);

    test(`three members discover each other through ${target.name} and form a cluster; a fourth finds it full`, async () => {
      const token = `${target.url}/v2/keys/discovery/${Math.random().toString(16).slice(2)}`;
      const put = await fetch(`${token}/_config/size`, { method: 'PUT', body: 'value=3', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assert.ok(put.ok, `set size: HTTP ${put.status}`);
      const net = createMemoryNetwork({ seed: 3 });
      const names = ['m1', 'm2', 'm3'];
      const nodes: KvNode[] = await Promise.all(
        names.map((name) =>
          createNode({ name, discovery: token, initialAdvertisePeerUrls: [`mem://${name}`], transport: net.transport(name), discoveryTimeoutMs: 20_000 }),
        ),
      );
      await nodes[0].set('/discovered', 'yes');
      for (const n of nodes) assert.equal((await n.get('/discovered')).node.value, 'yes');
      const ids = nodes.map((n) => n.id).sort();
      assert.deepEqual((await nodes[1].members.list()).map((m) => m.id).sort(), ids);

      await assert.rejects(
        createNode({ name: 'm4', discovery: token, initialAdvertisePeerUrls: ['mem://m4'], transport: net.transport('m4'), discoveryTimeoutMs: 5000 }),
        (e: unknown) => e instanceof KvError && e.message === 'discovery: cluster is full',
      );
      for (const n of nodes) await n.close();
    });

    test(`a discovery URL without _config/size gets etcd's error (${target.name})`, async () => {
      const net = createMemoryNetwork({ seed: 4 });
      await assert.rejects(
        createNode({ name: 'x', discovery: `${target.url}/v2/keys/discovery/nosize`, initialAdvertisePeerUrls: ['mem://x'], transport: net.transport('x') }),
        (e: unknown) => e instanceof KvError && e.message === 'discovery: size key not found',
      );
    });
  });
}
