// The store snapshot format (@kv/store's takeStoreSnapshot / StoreSnapshotDecoder
// / restoreDataDir) as kvctl uses it: any chunking decodes alike, values of
// every msgpack type survive, every single flipped byte and every cut is
// refused, and a restored data dir starts a member with the same tree.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createMemoryNetwork } from '@kv/raft/testing';
import { StoreSnapshotDecoder, StoreSnapshotFormatError, createNode, readStoreSnapshot, restoreDataDir, takeStoreSnapshot, type KvNode } from '@kv/store';
import { ProgressBar } from '../../src/kvctl/progress.ts';

const dir = mkdtempSync(join(tmpdir(), 'kv-snapshot-format-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function leader(name: string, seed: number): Promise<KvNode> {
  const net = createMemoryNetwork({ seed });
  const node = await createNode({ name, initialCluster: { [name]: `mem://${name}` }, transport: net.transport(name) });
  while (!node.status().isLeader) await new Promise<void>((r) => node.once('role', () => r()));
  return node;
}

async function bytesOf(node: KvNode): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of (await takeStoreSnapshot(node)).chunks) parts.push(c);
  return Buffer.concat(parts);
}

async function* chunked(b: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

test('values of every kind, hidden keys, TTLs and the watch history survive any chunking, and a restored member serves them', async () => {
  const node = await leader('f1', 3);
  try {
    await node.set('/s', 'text ü 😀');
    await node.set('/n', 42);
    await node.set('/o', { nested: { list: [1, 'two', null] }, __proto__x: true });
    await node.set('/b', new Uint8Array([0, 1, 2, 255]));
    await node.set('/_hidden', 'h');
    await node.mkdir('/d');
    await node.set('/d/ttl', 'soon', { ttl: 600 });
    const bytes = await bytesOf(node);
    const whole = await readStoreSnapshot(chunked(bytes, bytes.length));
    for (const size of [1, 3, 7, 64]) {
      const again = await readStoreSnapshot(chunked(bytes, size));
      assert.deepEqual(again, whole, `chunks of ${size}`);
    }
    assert.equal(whole.info.nodes, 7);
    assert.equal(whole.info.storeIndex, node.status().storeIndex);
    assert.ok(whole.tree.history.length >= 7);

    const dataDir = join(dir, 'r1.kv');
    const r = await restoreDataDir({ snapshot: chunked(bytes, 5), dataDir, name: 'r1', initialCluster: 'r1=mem://r1', initialClusterToken: 'tok' });
    assert.equal(r.members.length, 1);
    const net = createMemoryNetwork({ seed: 4 });
    const restored = await createNode({ name: 'r1', initialCluster: 'r1=mem://r1', initialClusterToken: 'tok', transport: net.transport('r1'), dataDir });
    try {
      assert.equal(restored.id, r.memberId);
      assert.equal(restored.status().clusterId, r.clusterId);
      for (const k of ['/s', '/n', '/o', '/b', '/_hidden', '/d/ttl']) {
        assert.deepEqual((await restored.get(k)).node, (await node.get(k, { consistency: 'serializable' })).node, k);
      }
      // The history came along: a watch from a past index is served.
      const first = whole.tree.history[0]!.index;
      const ac = new AbortController();
      const it = restored.watch('/s', { waitIndex: first, signal: ac.signal });
      const ev = await it.next();
      ac.abort();
      assert.equal(ev.value?.node.key, '/s');
    } finally {
      await restored.close();
    }
    // Restoring twice into the same dir is refused.
    await assert.rejects(restoreDataDir({ snapshot: chunked(bytes, 5), dataDir, name: 'r1', initialCluster: 'r1=mem://r1' }), /data dir .* exists/);
  } finally {
    await node.close();
  }
});

test('every single flipped byte and every cut is refused with StoreSnapshotFormatError', async () => {
  const node = await leader('f2', 5);
  try {
    await node.set('/a', 'one');
    await node.set('/b', { two: 2 });
    const bytes = await bytesOf(node);
    const decode = (b: Buffer): void => {
      const d = new StoreSnapshotDecoder();
      d.push(b);
      d.end();
    };
    decode(bytes);
    for (let i = 0; i < bytes.length; i++) {
      for (const mask of [0x01, 0x80]) {
        const copy = Buffer.from(bytes);
        copy[i] = copy[i]! ^ mask;
        assert.throws(() => decode(copy), StoreSnapshotFormatError, `byte ${i} ^ ${mask}`);
      }
    }
    for (let n = 0; n < bytes.length; n++) {
      assert.throws(() => decode(bytes.subarray(0, n)), (e: unknown) => e instanceof StoreSnapshotFormatError && /truncated|corrupt|not a kv snapshot/.test(e.message), `cut at ${n}`);
    }
  } finally {
    await node.close();
  }
});

test('the progress bar redraws on a terminal at most every interval, and prints one line otherwise', () => {
  let t = 0;
  let tty = '';
  const bar = new ProgressBar({ write: (s: string) => (tty += s), isTTY: true, columns: 60 }, { label: 'Saving', unit: 'keys', now: () => t });
  bar.update(0, 200, 0);
  t = 50;
  bar.update(50, 200, 1000);
  t = 120;
  bar.update(100, 200, 2000);
  t = 300;
  bar.finish(200, 200, 4000, 'unused on a terminal');
  const draws = tty.split('\r').filter((x) => x !== '');
  assert.equal(draws.length, 3, JSON.stringify(tty));
  assert.match(draws[0]!, /^Saving \[> +\]   0%  0\/200 keys  0 B\x1b\[K$/);
  assert.match(draws[1]!, /^Saving \[=+> +\]  50%  100\/200 keys  2\.0 kB\x1b\[K$/);
  assert.match(draws[2]!, /^Saving \[=+\] 100%  200\/200 keys  4\.0 kB\x1b\[K\n$/);
  assert.ok(draws.every((d) => d.replace(/\x1b\[K\n?$/, '').length <= 59));

  let log = '';
  const plain = new ProgressBar({ write: (s: string) => (log += s) }, { label: 'Saving', unit: 'bytes', now: () => t });
  plain.update(10, 100);
  t = 2300;
  plain.finish(100, 100, undefined, 'saved 100 bytes');
  assert.equal(log, 'saved 100 bytes in 2.0s\n');
});
