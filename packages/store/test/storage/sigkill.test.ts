// Nothing acknowledged is lost: a child process writes to a single-member node
// on a data dir and prints each key whose write resolved; it is killed with
// SIGKILL mid-load, twice (the second run recovers the first's data dir, then
// is killed too), and a node restarted here on the same dir holds every
// acknowledged write.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, test } from 'node:test';

import { exited, onLines, startFixture } from './child.ts';
import { tempDir } from './helpers.ts';
import { startSingle } from './node.ts';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Runs the writer on `dir` until it has acknowledged `atLeast` writes, kills it with SIGKILL, returns the acknowledged keys. */
async function writeThenKill(dir: string, prefix: string, atLeast: number): Promise<string[]> {
  const child = startFixture('durable-writer.ts', [dir, prefix, '32']);
  const acked: string[] = [];
  const enough = new Promise<void>((resolve, reject) => {
    onLines(child, (line) => {
      if (!line.startsWith('ack ')) return;
      acked.push(line.slice(4));
      if (acked.length === atLeast) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited by itself (${code ?? signal}) after ${acked.length} acks`));
    });
  });
  await enough;
  await exited(child);
  assert.equal(child.signalCode, 'SIGKILL');
  return acked;
}

test('every write acknowledged before a SIGKILL is there after a restart', { timeout: 30_000 }, async () => {
  const dir = await tempDir('sigkill');
  dirs.push(dir);
  const acked = [...(await writeThenKill(dir, 'a', 400)), ...(await writeThenKill(dir, 'b', 400))];
  assert.ok(acked.length >= 800);

  const node = await startSingle({ dataDir: dir, snapshotCount: 100 });
  const missing: string[] = [];
  await Promise.all(
    acked.map(async (key) => {
      try {
        const r = await node.get(key);
        assert.equal(r.node.value, key);
      } catch {
        missing.push(key);
      }
    }),
  );
  assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged writes are missing`);
  // Writes after the kill can still have landed (applied but not yet printed): at least the acknowledged ones are there.
  const a = (await node.get('/a', { recursive: true })).node.nodes?.length ?? 0;
  const b = (await node.get('/b', { recursive: true })).node.nodes?.length ?? 0;
  assert.ok(a + b >= acked.length);
  await node.close();
});
