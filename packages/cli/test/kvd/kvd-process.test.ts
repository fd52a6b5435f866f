// kvd as etcd is run in the seeds: three processes started with the seeds'
// flags (single-dash forms, a token, an initial cluster), data dirs in a
// temp folder, real sockets on 127.0.0.1. Writes through one member's HTTP
// API are read on the others; SIGTERM stops a member cleanly (exit 0) and
// it comes back from its data dir.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { freePort } from '../../../../examples/local-processes.ts';

const BIN = fileURLToPath(new URL('../../src/kvd/bin.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kvd-test-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});


function kvd(args: string[]): { child: ChildProcess; log: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--conditions=kv-source', '--import', 'tsx', BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, log: () => log, exited };
}

async function http(url: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown> }> {
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(url, init);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    } catch (e) {
      if (i > 200) throw e;
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}

test('three kvd processes started with the seeds\' flags form a cluster; SIGTERM stops one cleanly and it comes back', { timeout: 90_000 }, async () => {
  const names = ['docker', 'h102', 'h104'];
  const peer = await Promise.all(names.map(() => freePort()));
  const client = await Promise.all(names.map(() => freePort()));
  const cluster = names.map((n, i) => `${n}=http://127.0.0.1:${peer[i]}`).join(',');
  const args = (i: number): string[] => [
    '-name', names[i],
    '-initial-advertise-peer-urls', `http://127.0.0.1:${peer[i]}`,
    '-listen-peer-urls', `http://127.0.0.1:${peer[i]}`,
    '-listen-client-urls', `http://127.0.0.1:${client[i]}`,
    '-advertise-client-urls', `http://127.0.0.1:${client[i]}`,
    '-initial-cluster-token', 'etcd-cluster-test',
    '-initial-cluster', cluster,
    '-initial-cluster-state', 'new',
    '--data-dir', join(dir, `${names[i]}.kv`),
  ];
  const procs = names.map((_, i) => kvd(args(i)));
  const url = (i: number, path: string): string => `http://127.0.0.1:${client[i]}${path}`;

  // curl http://127.0.0.1:2379/v2/keys/message -XPUT -d value="set by h104"
  let put: { status: number; body: Record<string, unknown> };
  for (let i = 0; ; i++) {
    put = await http(url(2, '/v2/keys/message'), { method: 'PUT', body: 'value=set by h104', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    if (put.status < 300 || i > 100) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(put.status, 201, JSON.stringify(put.body));
  for (let i = 0; i < 3; i++) {
    const got = await http(url(i, '/v2/keys/message?quorum=true'));
    assert.equal((got.body.node as { value: string }).value, 'set by h104', names[i]);
  }
  const members = await http(url(0, '/v2/members'));
  assert.equal((members.body.members as unknown[]).length, 3);

  // SIGTERM: a clean stop.
  procs[0].child.kill('SIGTERM');
  assert.equal(await procs[0].exited, 0, procs[0].log());
  assert.match(procs[0].log(), /received terminated, shutting down/);
  // Writes go on with two of three; the stopped member comes back from its data dir.
  const w = await http(url(1, '/v2/keys/after'), { method: 'PUT', body: 'value=two', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  assert.ok(w.status < 300, JSON.stringify(w.body));
  const back = kvd(args(0));
  for (let i = 0; ; i++) {
    const got = await http(url(0, '/v2/keys/after?quorum=true')).catch(() => undefined);
    if (got?.status === 200) {
      assert.equal((got.body.node as { value: string }).value, 'two');
      break;
    }
    if (i > 200) assert.fail(`the restarted member did not catch up: ${back.log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(procs[2].log(), /ready to serve client requests/);
});
