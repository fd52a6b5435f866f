// kvctl snapshot save / restore / status, as etcdctl v3's: a snapshot taken
// from a real kvd process over HTTP, restored into the data dirs of a new
// three-member cluster of kvd processes that then holds the same keys with
// the same indexes; damaged, cut and foreign snapshots refused with a clear
// error and nothing written; the progress bar on a terminal.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createMemoryNetwork } from '@kv/raft/testing';
import { createNode, restoreDataDir } from '@kv/store';
import { runKvctl } from '../../src/index.ts';
import { serveOne } from '../http/helpers.ts';
import { Processes, call, clusterFlag, kvdArgs, memberPorts, waitHealthy } from '../kvd/processes.ts';

const P = new Processes();
after(() => P.cleanup());

interface Tree {
  key?: string;
  ttl?: number;
  nodes?: Tree[];
  [k: string]: unknown;
}

/** The tree without the TTL countdown (seconds left change as time passes). */
function stable(n: Tree): Tree {
  const { ttl: _ttl, nodes, ...rest } = n;
  return nodes === undefined ? rest : { ...rest, nodes: nodes.map(stable) };
}

async function kvctlInProcess(args: string[], stderr: { isTTY?: boolean; columns?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let out = '';
  let err = '';
  const code = await runKvctl(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s), ...stderr }, env: {} });
  return { code, stdout: out, stderr: err };
}

describe('snapshot save from a kvd process, restore into a new three-member cluster', () => {
  const dir = P.tempDir('kv-snapshot-');
  const file = join(dir, 'backup.snapshot');

  test('the restored cluster holds every key (hidden, TTL, directories) with the same indexes, and goes on from the old store index', { timeout: 120_000 }, async () => {
    const [src] = await memberPorts(['src']);
    const srcKvd = P.kvd(kvdArgs(src!, [src!], { dataDir: join(dir, 'src.kv'), token: 'snapshot-source' }));
    const srcUrl = `http://127.0.0.1:${src!.client}`;
    await waitHealthy(srcUrl, `the source member: ${srcKvd.log()}`);
    for (let i = 0; i < 400; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => call(`${srcUrl}/v2/keys/app/k${i + j}`, 'PUT', { value: `value ${i + j} ü €` })));
    }
    await call(`${srcUrl}/v2/keys/_hidden/secret`, 'PUT', { value: 'hidden' });
    await call(`${srcUrl}/v2/keys/app/_meta`, 'PUT', { value: 'hidden too' });
    await call(`${srcUrl}/v2/keys/session`, 'PUT', { value: 'expires', ttl: '3600' });
    await call(`${srcUrl}/v2/keys/empty`, 'PUT', { dir: 'true' });
    await call(`${srcUrl}/v2/keys/app/k7`, 'PUT', { value: 'changed' });
    await call(`${srcUrl}/v2/keys/app/k8`, 'DELETE');
    const before = await call(`${srcUrl}/v2/keys/?recursive=true&sorted=true&quorum=true`);
    const storeIndex = Number(before.headers.get('x-etcd-index'));

    const saved = await P.kvctl(['--endpoints', srcUrl, 'snapshot', 'save', file]);
    assert.equal(saved.code, 0, saved.stderr);
    assert.equal(saved.stdout, `Snapshot saved at ${file}\n`);
    // Not a terminal: no bar, one line at the end.
    assert.match(saved.stderr, new RegExp(`^saved 40[0-9] keys \\([0-9.]+ kB, store index ${storeIndex}\\) in [0-9.]+s\\n$`));
    assert.ok(!existsSync(`${file}.part`));

    const status = await P.kvctl(['snapshot', 'status', file, '-w', 'json']);
    assert.equal(status.code, 0, status.stderr);
    const st = JSON.parse(status.stdout) as { revision: number; totalKey: number; totalSize: number; hash: string };
    assert.equal(st.revision, storeIndex);
    assert.equal(st.totalSize, readFileSync(file).length);
    assert.match(st.hash, /^[0-9a-f]{8}$/);
    const table = await P.kvctl(['-w', 'table', 'snapshot', 'status', file]);
    assert.match(table.stdout, /\| +HASH +\| REVISION \| TOTAL KEYS \| TOTAL SIZE \|/);

    const members = await memberPorts(['r1', 'r2', 'r3']);
    for (const m of members) {
      const r = await P.kvctl([
        'snapshot', 'restore', file,
        '--name', m.name,
        '--data-dir', join(dir, `${m.name}.kv`),
        '--initial-cluster', clusterFlag(members),
        '--initial-cluster-token', 'snapshot-restored',
        '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(`^Restored snapshot ${file} to data dir ${join(dir, `${m.name}.kv`)}: member [0-9a-f]+ \\(${m.name}\\) of new cluster [0-9a-f]+, 40[0-9] keys, store index ${storeIndex}\\n$`),
      );
      assert.match(r.stderr, /^restored 40[0-9] keys \([0-9.]+ kB\) in [0-9.]+s\n$/);
      assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.restoring-')), [], 'no temporary data dir is left');
    }
    srcKvd.child.kill('SIGTERM');
    assert.equal(await srcKvd.exited, 0);

    const procs = members.map((m) => P.kvd(kvdArgs(m, members, { dataDir: join(dir, `${m.name}.kv`), token: 'snapshot-restored' })));
    const url = (i: number): string => `http://127.0.0.1:${members[i]!.client}`;
    for (let i = 0; i < 3; i++) await waitHealthy(url(i), `restored member ${members[i]!.name}: ${procs[i]!.log()}`);
    for (let i = 0; i < 3; i++) {
      const got = await call(`${url(i)}/v2/keys/?recursive=true&sorted=true&quorum=true`);
      assert.equal(got.status, 200);
      assert.deepEqual(stable(got.body.node as Tree), stable(before.body.node as Tree), `member ${members[i]!.name}`);
      assert.equal(Number(got.headers.get('x-etcd-index')), storeIndex);
      assert.equal(((await call(`${url(i)}/v2/keys/_hidden/secret`)).body.node as { value: string }).value, 'hidden');
      assert.equal(((await call(`${url(i)}/v2/keys/app/_meta`)).body.node as { value: string }).value, 'hidden too');
    }
    const session = (await call(`${url(1)}/v2/keys/session`)).body.node as { ttl: number; expiration: string };
    assert.ok(session.ttl > 3500 && session.ttl <= 3600, `ttl ${session.ttl}`);

    // A new cluster: the members of the flags, and the store index goes on.
    const list = await P.kvctl(['--endpoints', url(0), 'member', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const names = list.stdout.trim().split('\n').map((l) => /name=(\w+)/.exec(l)?.[1]).sort();
    assert.deepEqual(names, ['r1', 'r2', 'r3']);
    const w = await call(`${url(2)}/v2/keys/app/after`, 'PUT', { value: 'new' });
    assert.equal(w.status, 201);
    assert.ok((w.body.node as { modifiedIndex: number }).modifiedIndex > storeIndex);
    assert.equal(((await call(`${url(0)}/v2/keys/app/after?quorum=true`)).body.node as { value: string }).value, 'new');
  });

  test('a damaged, truncated or foreign snapshot is refused with a clear error, and no data dir is written', async () => {
    const bytes = readFileSync(file);
    const cases: [string, Buffer, RegExp][] = [
      ['flipped', Buffer.from(bytes.map((b, i) => (i === Math.floor(bytes.length / 2) ? b ^ 0x01 : b))), /snapshot is corrupt/],
      ['truncated', bytes.subarray(0, bytes.length - 100), /snapshot is (truncated|corrupt)/],
      ['foreign', Buffer.from('{"this": "is not a snapshot"}\n'), /not a kv snapshot/],
      ['empty', Buffer.alloc(0), /snapshot is truncated: it is empty or not a kv snapshot/],
      ['trailing', Buffer.concat([bytes, Buffer.from('x')]), /bytes follow the end of the snapshot/],
    ];
    for (const [what, content, message] of cases) {
      const f = join(dir, `${what}.snapshot`);
      writeFileSync(f, content);
      const dataDir = join(dir, `${what}.kv`);
      const r = await P.kvctl(['snapshot', 'restore', f, '--data-dir', dataDir]);
      assert.equal(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^Error:  snapshot file ${f}: `), what);
      assert.match(r.stderr, message, what);
      assert.equal(r.stdout, '');
      assert.ok(!existsSync(dataDir), `${what}: no data dir`);
      const s = await P.kvctl(['snapshot', 'status', f]);
      assert.equal(s.code, 1, what);
      assert.match(s.stderr, message, what);
    }
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.restoring-')), []);
  });

  test('restore refuses an existing data dir, a name missing from --initial-cluster and a missing file, touching nothing', async () => {
    const existing = join(dir, 'existing.kv');
    mkdirSync(existing);
    writeFileSync(join(existing, 'keep'), 'mine');
    const r = await kvctlInProcess(['snapshot', 'restore', file, '--data-dir', existing]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `Error:  data dir ${existing} exists; a restore makes a new data dir (remove it or choose another)\n`);
    assert.equal(readFileSync(join(existing, 'keep'), 'utf8'), 'mine');
    const noName = await kvctlInProcess(['snapshot', 'restore', file, '--data-dir', join(dir, 'x.kv'), '--name', 'x', '--initial-cluster', 'y=http://127.0.0.1:1']);
    assert.equal(noName.code, 1);
    assert.match(noName.stderr, /couldn't find local name "x" in the initial cluster configuration/);
    const wrongUrl = await kvctlInProcess(['snapshot', 'restore', file, '--data-dir', join(dir, 'x.kv'), '--name', 'x', '--initial-cluster', 'x=http://127.0.0.1:1', '--initial-advertise-peer-urls', 'http://127.0.0.1:2']);
    assert.equal(wrongUrl.code, 1);
    assert.match(wrongUrl.stderr, /--initial-advertise-peer-urls=http:\/\/127\.0\.0\.1:2 differs from x's URLs in --initial-cluster/);
    const missing = await kvctlInProcess(['snapshot', 'restore', join(dir, 'nope.snapshot'), '--data-dir', join(dir, 'x.kv')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error:  cannot read snapshot file .*nope\.snapshot: ENOENT/);
    assert.ok(!existsSync(join(dir, 'x.kv')));
    assert.deepEqual(await kvctlInProcess(['snapshot', 'restore']), { code: 1, stdout: '', stderr: 'Error:  snapshot file path required\n' });
    assert.deepEqual(await kvctlInProcess(['snapshot', 'frobnicate']), { code: 1, stdout: '', stderr: 'Error:  snapshot: unknown subcommand "frobnicate" (want save, restore or status)\n' });
  });
});

describe('snapshot save over HTTP', () => {
  test('a large store streams in many frames, with a progress bar on a terminal, and restores in process', { timeout: 120_000 }, async () => {
    const s = await serveOne();
    const dir = P.tempDir('kv-snapshot-large-');
    try {
      const value = 'x'.repeat(200);
      for (let i = 0; i < 20_000; i += 1000) {
        await Promise.all(Array.from({ length: 1000 }, (_, j) => s.node.set(`/big/${String(i + j).padStart(5, '0')}`, value)));
      }
      const file = join(dir, 'big.snapshot');
      const r = await kvctlInProcess(['--endpoints', s.url, 'snapshot', 'save', file], { isTTY: true, columns: 100 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `Snapshot saved at ${file}\n`);
      const draws = r.stderr.split('\r').filter((x) => x !== '');
      assert.ok(draws.length >= 2, r.stderr);
      for (const d of draws) assert.match(d, /^Saving snapshot \[[=> ]+\] +\d+%  \d+\/20001 keys  [0-9.]+ [kM]B\x1b\[K\n?$/);
      assert.match(draws[draws.length - 1]!, /\[=+\] 100%  20001\/20001 keys  4\.\d MB\x1b\[K\n$/);
      assert.ok(readFileSync(file).length > 4_000_000);

      const restored = await restoreDataDir({ snapshot: file, dataDir: join(dir, 'm1.kv'), name: 'm1', initialCluster: 'm1=mem://m1', initialClusterToken: 't' });
      assert.equal(restored.snapshot.nodes, 20_001);
      const net = createMemoryNetwork({ seed: 7 });
      const node = await createNode({ name: 'm1', initialCluster: 'm1=mem://m1', initialClusterToken: 't', transport: net.transport('m1'), dataDir: join(dir, 'm1.kv') });
      try {
        const got = await node.get('/big', { recursive: true });
        assert.equal(got.node.nodes?.length, 20_000);
        assert.equal((await node.get('/big/12345')).node.value, value);
        assert.equal(node.status().storeIndex, s.node.status().storeIndex);
      } finally {
        await node.close();
      }
    } finally {
      await s.close();
    }
  });

  test('a stream cut short or damaged in transit leaves no file; errors from the member are reported', async () => {
    const s = await serveOne();
    const dir = P.tempDir('kv-snapshot-cut-');
    let fake: Server | undefined;
    try {
      await s.node.set('/a', '1');
      const full = Buffer.from(await (await fetch(`${s.url}/kv/v1/snapshot`)).arrayBuffer());
      let mode: 'cut' | 'flip' = 'cut';
      fake = createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-kv-snapshot-nodes': '1' });
        if (mode === 'cut') {
          // The body stops 40 bytes short and the connection closes (a FIN, so the headers and the part arrive first).
          res.write(full.subarray(0, full.length - 40), () => res.socket?.end());
        } else {
          const copy = Buffer.from(full);
          copy[20] = copy[20]! ^ 0xff;
          res.end(copy);
        }
      });
      await new Promise<void>((r) => fake!.listen(0, '127.0.0.1', () => r()));
      const fakeUrl = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
      const file = join(dir, 'cut.snapshot');
      const cut = await kvctlInProcess(['--endpoints', fakeUrl, 'snapshot', 'save', file]);
      assert.equal(cut.code, 4, cut.stderr);
      assert.match(cut.stderr, new RegExp(`^Error:  snapshot from ${fakeUrl} is not usable \\(nothing saved\\): .*(truncated|failed after)`));
      assert.deepEqual(readdirSync(dir), []);
      mode = 'flip';
      const flipped = await kvctlInProcess(['--endpoints', fakeUrl, 'snapshot', 'save', file]);
      assert.equal(flipped.code, 4, flipped.stderr);
      assert.match(flipped.stderr, /snapshot is corrupt/);
      assert.deepEqual(readdirSync(dir), []);

      const two = await kvctlInProcess(['--endpoints', `${s.url},${fakeUrl}`, 'snapshot', 'save', file]);
      assert.deepEqual(two, { code: 1, stdout: '', stderr: 'Error:  snapshot must be requested from one selected endpoint, not 2\n' });
      const down = await kvctlInProcess(['--endpoints', 'http://127.0.0.1:2', 'snapshot', 'save', file]);
      assert.equal(down.code, 2);
      assert.match(down.stderr, /connection refused/);
      const post = await fetch(`${s.url}/kv/v1/snapshot`, { method: 'POST' });
      assert.equal(post.status, 405);
      const head = await fetch(`${s.url}/kv/v1/snapshot`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('x-kv-snapshot-nodes'), '1');
      assert.equal(head.headers.get('x-etcd-index'), String(s.node.status().storeIndex));
    } finally {
      fake?.close();
      await s.close();
    }
  });

  test('without valid credentials the member answers 401 and kvctl exits 3, writing nothing', async () => {
    const s = await serveOne({ auth: { username: 'root', password: 'pw' } });
    try {
      const denied = await kvctlInProcess(['--endpoints', s.url, 'snapshot', 'save', '/tmp/never-written.snapshot']);
      assert.equal(denied.code, 3, denied.stderr);
      assert.match(denied.stderr, /refused the snapshot: The request requires user authentication/);
      assert.ok(!existsSync('/tmp/never-written.snapshot'));
    } finally {
      await s.close();
    }
  });
});
