// kvctl in-process against serveHttp: output and exit codes of each command,
// and, when the real etcdctl is installed, the same answers as ETCDCTL_API=2 etcdctl.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { runKvctl } from '../../src/index.ts';
import { serveLeaderOfThree, serveOne, waitFor, type Served } from '../http/helpers.ts';

const run = promisify(execFile);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function kvctl(url: string, ...args: string[]): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const code = await runKvctl(['--endpoints', url, ...args], {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
  });
  return { code, stdout, stderr };
}

describe('kvctl against a three-member cluster', () => {
  let s: Served & { nodes: unknown[] };
  before(async () => {
    s = await serveLeaderOfThree();
  });
  after(() => s.close());

  test('set, get, mk, update, rm, mkdir, rmdir, ls', async () => {
    assert.deepEqual(await kvctl(s.url, 'set', 'os', 'linux'), { code: 0, stdout: 'linux\n', stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'get', 'os'), { code: 0, stdout: 'linux\n', stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'get', '--quorum', '/os'), { code: 0, stdout: 'linux\n', stderr: '' });
    const exists = await kvctl(s.url, 'mk', '/os', 'x');
    assert.equal(exists.code, 4);
    assert.match(exists.stderr, /^Error:  105: Key already exists \(\/os\) \[\d+\]\n$/);
    assert.deepEqual(await kvctl(s.url, 'update', '/os', 'bsd'), { code: 0, stdout: 'bsd\n', stderr: '' });
    const swapBad = await kvctl(s.url, 'set', '--swap-with-value', 'nope', '/os', 'z');
    assert.equal(swapBad.code, 4);
    assert.match(swapBad.stderr, /^Error:  101: Compare failed/);
    assert.deepEqual(await kvctl(s.url, 'set', '--swap-with-value', 'bsd', '/os', 'linux'), { code: 0, stdout: 'linux\n', stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'rm', 'os'), { code: 0, stdout: 'PrevNode.Value: linux\n', stderr: '' });
    const missing = await kvctl(s.url, 'get', 'os');
    assert.equal(missing.code, 4);
    assert.match(missing.stderr, /^Error:  100: Key not found \(\/os\) \[\d+\]\n$/);
    assert.equal(missing.stdout, '');

    assert.deepEqual(await kvctl(s.url, 'mkdir', '/d'), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'mk', '/d/x', 'y'), { code: 0, stdout: 'y\n', stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'set', '/car', 'GT-R'), { code: 0, stdout: 'GT-R\n', stderr: '' });
    const dirGet = await kvctl(s.url, 'get', '/d');
    assert.deepEqual(dirGet, { code: 1, stdout: '', stderr: '/d: is a directory\n' });
    assert.deepEqual(await kvctl(s.url, 'ls', '--sort'), { code: 0, stdout: '/car\n/d\n', stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'ls', '--sort', '-p'), { code: 0, stdout: '/car\n/d/\n', stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'ls', '--sort', '--recursive', '/'), { code: 0, stdout: '/car\n/d\n/d/x\n', stderr: '' });
    const notEmpty = await kvctl(s.url, 'rmdir', '/d');
    assert.equal(notEmpty.code, 4);
    assert.match(notEmpty.stderr, /^Error:  108: Directory not empty \(\/d\) \[\d+\]\n$/);
    assert.deepEqual(await kvctl(s.url, 'rm', '--recursive', '/d'), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'mkdir', '/e'), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'rmdir', '/e'), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'ls'), { code: 0, stdout: '/car\n', stderr: '' });
  });

  test('-o json and -o extended', async () => {
    const j = await kvctl(s.url, '-o', 'json', 'set', '/j', 'v');
    assert.equal(j.code, 0);
    const parsed = JSON.parse(j.stdout) as { action: string; node: { key: string; value: string; nodes: null }; prevNode: null };
    assert.equal(parsed.action, 'set');
    assert.equal(parsed.node.key, '/j');
    assert.equal(parsed.node.value, 'v');
    assert.equal(parsed.node.nodes, null);
    assert.equal(parsed.prevNode, null);
    const x = await kvctl(s.url, '-o', 'extended', 'get', '/j');
    assert.equal(x.code, 0);
    assert.match(x.stdout, /^Key: \/j\nCreated-Index: \d+\nModified-Index: \d+\nTTL: 0\nIndex: \d+\n\nv\n$/);
    const e = await kvctl(s.url, '-o', 'json', 'get', '/nope');
    assert.equal(e.code, 4);
    assert.equal((JSON.parse(e.stderr) as { errorCode: number }).errorCode, 100);
  });

  test('watch returns the next change; --recursive prints the action', async () => {
    const w = kvctl(s.url, 'watch', '/w');
    const before = s.node.status().watchers;
    await waitFor(() => s.node.status().watchers > 0 || s.node.status().watchers > before, 'watch to start');
    await kvctl(s.url, 'set', '/w', 'hello');
    assert.deepEqual(await w, { code: 0, stdout: 'hello\n', stderr: '' });
    const set = await kvctl(s.url, '-o', 'json', 'set', '/wd/a', '1');
    const idx = (JSON.parse(set.stdout) as { node: { modifiedIndex: number } }).node.modifiedIndex;
    assert.deepEqual(await kvctl(s.url, 'watch', '--recursive', '--after-index', String(idx - 1), '/wd'), { code: 0, stdout: '[set] /wd/a\n1\n', stderr: '' });
  });

  test('member list, add, update, remove', async () => {
    const list = await kvctl(s.url, 'member', 'list');
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    assert.equal(lines.filter((l) => l.endsWith('isLeader=true')).length, 1);
    assert.ok(lines.includes(`${s.node.id}: name=${s.node.status().name} peerURLs=mem://${s.node.status().name} clientURLs=${s.url} isLeader=true`), list.stdout);

    const add = await kvctl(s.url, 'member', 'add', 'm4', 'mem://m4');
    assert.equal(add.code, 0, add.stderr);
    const m = /^Added member named m4 with ID ([0-9a-f]+) to cluster\n\nETCD_NAME="m4"\nETCD_INITIAL_CLUSTER="([^"]+)"\nETCD_INITIAL_CLUSTER_STATE="existing"\n$/.exec(add.stdout);
    assert.ok(m, add.stdout);
    assert.deepEqual(m[2]!.split(',').sort(), ['m1=mem://m1', 'm2=mem://m2', 'm3=mem://m3', 'm4=mem://m4']);
    const id = m[1]!;
    assert.match((await kvctl(s.url, 'member', 'list')).stdout, new RegExp(`^${id}\\[unstarted\\]: peerURLs=mem://m4$`, 'm'));
    assert.deepEqual(await kvctl(s.url, 'member', 'update', id, 'mem://m4b'), { code: 0, stdout: `Updated member with ID ${id} in cluster\n`, stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'member', 'remove', id), { code: 0, stdout: `Removed member ${id} from cluster\n`, stderr: '' });
    assert.deepEqual(await kvctl(s.url, 'member', 'remove', 'ffff'), { code: 1, stdout: '', stderr: "Couldn't find a member in the cluster with an ID of ffff.\n" });
    assert.deepEqual(await kvctl(s.url, 'member', 'add', 'only-name'), { code: 1, stdout: '', stderr: 'Provide a name and a single member peerURL\n' });
  });

  test('cluster-health: members without client URLs make it degraded (exit 5)', async () => {
    const h = await kvctl(s.url, 'cluster-health');
    assert.equal(h.code, 5);
    assert.match(h.stdout, new RegExp(`^member ${s.node.id} is healthy: got healthy result from ${s.url}$`, 'm'));
    assert.equal((h.stdout.match(/is unreachable: no available published client urls/g) ?? []).length, 2);
    assert.ok(h.stdout.endsWith('cluster is degraded\n'), h.stdout);
  });

  test('endpoint status and health', async () => {
    const t = await kvctl(s.url, '-w', 'table', 'endpoint', 'status');
    assert.equal(t.code, 0, t.stderr);
    const rows = t.stdout.trim().split('\n');
    assert.equal(rows.length, 5);
    assert.match(rows[1]!, /^\| +ENDPOINT +\| +ID +\| VERSION \| DB SIZE \| IS LEADER \| RAFT TERM \| RAFT INDEX \|$/);
    assert.ok(rows[3]!.includes(`| ${s.node.id} |`) && / true \|/.test(rows[3]!), rows[3]);
    const j = await kvctl(s.url, 'endpoint', 'status', '-w', 'json');
    assert.equal(j.code, 0, j.stderr);
    const arr = JSON.parse(j.stdout) as { Endpoint: string; Status: { raftTerm: number } }[];
    assert.equal(arr[0]!.Endpoint, s.url);
    assert.ok(arr[0]!.Status.raftTerm >= 1);
    const h = await kvctl(s.url, 'endpoint', 'health');
    assert.equal(h.code, 0);
    assert.match(h.stdout, new RegExp(`^${s.url} is healthy: successfully committed proposal: took = [0-9.]+ms\n$`));
  });

  test('usage errors exit 1; an unreachable endpoint is a clear error; failover to the next endpoint', async () => {
    assert.deepEqual(await kvctl(s.url, 'get'), { code: 1, stdout: '', stderr: 'Error:  key required\n' });
    assert.deepEqual(await kvctl(s.url, 'set', '/k'), { code: 1, stdout: '', stderr: 'Error:  value required\n' });
    assert.equal((await kvctl(s.url, 'set', '--bogus', '/k', 'v')).code, 1);
    assert.equal((await kvctl(s.url, 'frobnicate')).code, 1);
    const down = await kvctl('http://127.0.0.1:2', 'get', '/k');
    assert.equal(down.code, 4);
    assert.equal(
      down.stderr,
      'Error:  client: etcd cluster is unavailable or misconfigured; error #0: dial tcp 127.0.0.1:2: connect: connection refused\n\nerror #0: dial tcp 127.0.0.1:2: connect: connection refused\n\n',
    );
    assert.deepEqual(await kvctl(`http://127.0.0.1:2,${s.url}`, 'set', '/k', 'v'), { code: 0, stdout: 'v\n', stderr: '' });
  });
});

async function which(cmd: string): Promise<boolean> {
  try {
    await run('which', [cmd]);
    return true;
  } catch {
    return false;
  }
}

describe('kvctl answers as ETCDCTL_API=2 etcdctl', { skip: (await which('etcdctl')) ? false : 'etcdctl not installed' }, () => {
  let s: Served;
  before(async () => {
    s = await serveOne();
  });
  after(() => s.close());

  async function etcdctl(...args: string[]): Promise<Result> {
    try {
      const r = await run('etcdctl', ['--endpoints', s.url, ...args], { env: { ...process.env, ETCDCTL_API: '2' }, timeout: 20_000 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
    }
  }
  const norm = (r: Result): Result => ({ ...r, stderr: r.stderr.replace(/\[\d+\]/g, '[N]') });

  test('the same stdout, stderr and exit code', async () => {
    const steps: string[][] = [
      ['set', '/{p}a', '1'],
      ['get', '/{p}a'],
      ['mkdir', '/{p}d'],
      ['set', '/{p}d/x', 'y'],
      ['ls', '--sort', '/'],
      ['ls', '--sort', '-p', '--recursive', '/'],
      ['mk', '/{p}a', '2'],
      ['update', '/{p}a', '3'],
      ['-o', 'extended', 'get', '/{p}a'],
      ['rmdir', '/{p}d'],
      ['rm', '/{p}a'],
      ['get', '/{p}a'],
      ['rm', '--recursive', '/{p}d'],
      ['member', 'list'],
      ['cluster-health'],
    ];
    for (const step of steps) {
      const a = norm(await etcdctl(...step.map((x) => x.replace('{p}', 'e'))));
      const b = norm(await kvctl(s.url, ...step.map((x) => x.replace('{p}', 'k'))));
      const fix = (r: Result): Result => ({ ...r, stdout: r.stdout.replace(/\/[ek](?=[a-z])/g, '/'), stderr: r.stderr.replace(/\/[ek](?=[a-z])/g, '/') });
      const aa = fix(a);
      const bb = fix(b);
      if (step.includes('extended')) {
        const mask = (r: Result): Result => ({ ...r, stdout: r.stdout.replace(/\d+/g, 'N') });
        assert.deepEqual(mask(bb), mask(aa), step.join(' '));
      } else if (step[0] === 'ls') {
        // both stores hold the other tool's keys too; compare the sets after the prefix fix
        assert.deepEqual(bb.code, aa.code, step.join(' '));
        assert.deepEqual([...new Set(bb.stdout.split('\n'))].sort(), [...new Set(aa.stdout.split('\n'))].sort(), step.join(' '));
      } else {
        assert.deepEqual(bb, aa, step.join(' '));
      }
    }
  });
});
