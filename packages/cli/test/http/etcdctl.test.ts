// The real `ETCDCTL_API=2 etcdctl` (Debian's etcd-client) against serveHttp:
// the compatibility proof for the v2 keys and members API. Skipped when
// etcdctl is not installed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { serveOne, waitFor, type Served } from './helpers.ts';

const run = promisify(execFile);

async function which(cmd: string): Promise<boolean> {
  try {
    await run('which', [cmd]);
    return true;
  } catch {
    return false;
  }
}

const hasEtcdctl = await which('etcdctl');

describe('etcdctl v2 against serveHttp', { skip: hasEtcdctl ? false : 'etcdctl not installed' }, () => {
  let s: Served;
  before(async () => {
    s = await serveOne();
  });
  after(() => s.close());

  async function etcdctl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const r = await run('etcdctl', ['--endpoints', s.url, ...args], { env: { ...process.env, ETCDCTL_API: '2' }, timeout: 20_000 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
    }
  }

  test('set, get, ls, mk, update, rm, mkdir, rmdir, member list, cluster-health', async () => {
    assert.deepEqual(await etcdctl('set', '/a', '1'), { code: 0, stdout: '1\n', stderr: '' });
    assert.deepEqual(await etcdctl('get', '/a'), { code: 0, stdout: '1\n', stderr: '' });
    assert.deepEqual(await etcdctl('mkdir', '/d'), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(await etcdctl('ls', '/'), { code: 0, stdout: '/a\n/d\n', stderr: '' });
    assert.deepEqual(await etcdctl('set', '/d/x', 'y'), { code: 0, stdout: 'y\n', stderr: '' });
    assert.deepEqual(await etcdctl('ls', '--recursive', '/'), { code: 0, stdout: '/a\n/d\n/d/x\n', stderr: '' });

    const exists = await etcdctl('mk', '/a', '2');
    assert.equal(exists.code, 4);
    assert.match(exists.stderr, /^Error:\s+105: Key already exists \(\/a\) \[\d+\]\n$/);
    assert.deepEqual(await etcdctl('update', '/a', '3'), { code: 0, stdout: '3\n', stderr: '' });
    assert.deepEqual(await etcdctl('rm', '/a'), { code: 0, stdout: 'PrevNode.Value: 3\n', stderr: '' });
    const missing = await etcdctl('get', '/a');
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /^Error:\s+100: Key not found \(\/a\) \[\d+\]\n$/);

    const notEmpty = await etcdctl('rmdir', '/d');
    assert.equal(notEmpty.code, 4);
    assert.match(notEmpty.stderr, /108: Directory not empty/);
    assert.equal((await etcdctl('rm', '--recursive', '/d')).code, 0);
    assert.deepEqual(await etcdctl('ls', '/'), { code: 0, stdout: '', stderr: '' });

    const members = await etcdctl('member', 'list');
    assert.equal(members.code, 0, members.stderr);
    assert.equal(members.stdout, `${s.node.id}: name=m1 peerURLs=mem://m1 clientURLs=${s.url} isLeader=true\n`);

    const health = await etcdctl('cluster-health');
    assert.equal(health.code, 0, health.stderr);
    assert.equal(health.stdout, `member ${s.node.id} is healthy: got healthy result from ${s.url}\ncluster is healthy\n`);
  });

  test('watch sees the next change (long poll)', async () => {
    const before = s.node.status().watchers;
    const w = etcdctl('watch', '/w');
    await waitFor(() => s.node.status().watchers > before, 'etcdctl to start watching', 15_000);
    await etcdctl('set', '/w', 'hello');
    assert.deepEqual(await w, { code: 0, stdout: 'hello\n', stderr: '' });
  });
});
