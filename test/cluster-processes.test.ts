// Three kv members in three processes over real WebSocket connections on
// 127.0.0.1, each with a classic-level data dir: the seeds' walk-through.
// Write on one, read on all; SIGKILL the leader, a new one is elected and
// writes go on; with two of three gone, writes fail with a clear error and
// serializable reads still answer; restart a member from its data dir and
// everything acknowledged is there; remove a member and add a new one.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MemberProcess, freePort, type MemberConfig, type Reply } from './helpers/member-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'kv-cluster-'));
const procs: MemberProcess[] = [];
after(async () => {
  for (const p of procs) if (p.child.exitCode === null) await p.kill();
  rmSync(dir, { recursive: true, force: true });
});

function start(cfg: MemberConfig): Promise<MemberProcess> {
  const p = new MemberProcess(cfg);
  procs.push(p);
  return p.ready();
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Status = { id: string; leader?: string; isLeader: boolean; appliedIndex: number };

test('the seeds walk-through on three processes: failover, quorum loss and recovery, remove and add', { timeout: 120_000 }, async () => {
  const names = ['infra0', 'infra1', 'infra2'];
  const ports = await Promise.all(names.map(() => freePort()));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const initialCluster = names.map((n, i) => `${n}=${urls[i]}`).join(',');
  const cfg = (i: number): MemberConfig => ({ name: names[i], dataDir: join(dir, names[i]), listen: urls[i], initialCluster });
  const members = await Promise.all(names.map((_, i) => start(cfg(i))));

  const leaderOf = async (ms: MemberProcess[]): Promise<MemberProcess | undefined> => {
    for (const m of ms) {
      const s = await m.request<Status>('status');
      if (s.ok && s.result?.isLeader) return m;
    }
    return undefined;
  };

  // Write on one, read on all (linearizable).
  const w = await until('a first write', async () => {
    const r = await members[0].request('set', { key: '/message', value: 'hello' });
    return r.ok ? r : undefined;
  });
  assert.ok(w.ok);
  for (const m of members) {
    const r = await m.request<{ node: { value: string } }>('get', { key: '/message' });
    assert.equal(r.result?.node.value, 'hello', m.cfg.name);
  }

  // SIGKILL the leader: another is elected, writes go on.
  const acked: string[] = ['/message'];
  const leader1 = await until('a leader', () => leaderOf(members));
  await leader1.kill('SIGKILL');
  const alive = members.filter((m) => m !== leader1);
  const t0 = Date.now();
  await until('a write after the leader died', async () => {
    const r = await alive[0].request('set', { key: '/after-failover', value: 'x' }, 5000);
    return r.ok ? r : undefined;
  });
  const failoverMs = Date.now() - t0;
  acked.push('/after-failover');
  assert.ok(failoverMs < 10_000, `failover took ${failoverMs} ms`);

  // Two of three gone: writes fail with a clear error, serializable reads answer.
  const leader2 = await until('the new leader', () => leaderOf(alive));
  await leader2.kill('SIGKILL');
  const last = alive.find((m) => m !== leader2)!;
  const failed: Reply = await last.request('set', { key: '/no-quorum', value: 'y' }, 15_000);
  assert.equal(failed.ok, false);
  assert.ok(['RAFT_LEADER_CHANGED', 'RAFT_TIMEOUT', 'RAFT_NO_LEADER'].includes(String(failed.error?.code)), JSON.stringify(failed.error));
  assert.ok(failed.ms < 10_000, `the write failed after ${failed.ms} ms`);
  const local = await last.request<{ node: { value: string } }>('get', { key: '/after-failover', consistency: 'serializable' });
  assert.equal(local.result?.node.value, 'x');

  // Restart one from its data dir: quorum is back and nothing acknowledged was lost.
  const i2 = members.indexOf(leader2);
  const back = await start(cfg(i2));
  assert.equal(back.id, leader2.id, 'the restarted member kept its ID (from its data dir)');
  await until('a write with quorum back', async () => {
    const r = await last.request('set', { key: '/recovered', value: 'z' }, 5000);
    return r.ok ? r : undefined;
  });
  acked.push('/recovered');
  for (const m of [back, last]) {
    for (const key of acked) {
      const r = await m.request('get', { key });
      assert.ok(r.ok, `${m.cfg.name} lost ${key}: ${JSON.stringify(r.error)}`);
    }
  }

  // Remove the member that died first, add a new one with 'existing'.
  const removed = await last.request('remove', { memberId: leader1.id });
  assert.ok(removed.ok, JSON.stringify(removed.error));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const add = await last.request<{ initialCluster: string; initialClusterState: string }>('add', { name: 'infra3', peerURLs: [url] });
  assert.ok(add.ok, JSON.stringify(add.error));
  const joined = await start({
    name: 'infra3',
    dataDir: join(dir, 'infra3'),
    listen: url,
    initialCluster: add.result!.initialCluster,
    initialClusterState: 'existing',
  });
  await until('the new member caught up', async () => {
    const r = await joined.request<{ node: { value: string } }>('get', { key: '/recovered', consistency: 'serializable' });
    return r.ok ? r : undefined;
  });
  const expected = [...names.filter((n) => n !== leader1.cfg.name), 'infra3'].sort();
  await until('every member published its name', async () => {
    const l = await joined.request<{ name: string }[]>('members');
    const got = (l.result ?? []).map((m) => m.name).sort();
    return JSON.stringify(got) === JSON.stringify(expected) ? got : undefined;
  });
});
