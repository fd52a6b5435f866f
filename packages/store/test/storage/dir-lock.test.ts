// The data-dir lock: a second open of one directory, in this process or in
// another, fails at once with STORE_DATA_DIR_LOCKED naming the directory and
// (when known) the holder's PID; a holder killed with SIGKILL leaves no lock.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import { isStorageError, type StorageError } from '../../src/storage/errors.ts';
import { LevelLogStore } from '../../src/storage/level-log-store.ts';
import { exited, firstLine, startFixture } from './child.ts';
import { ents, tempDir } from './helpers.ts';

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function newDir(): Promise<string> {
  const dir = await tempDir('lock');
  dirs.push(dir);
  return dir;
}

async function lockedError(p: Promise<unknown>): Promise<StorageError> {
  let caught: unknown;
  await p.then(
    () => assert.fail('the second open succeeded'),
    (e: unknown) => void (caught = e),
  );
  assert.ok(isStorageError(caught, 'STORE_DATA_DIR_LOCKED'), `expected STORE_DATA_DIR_LOCKED, got ${String(caught)}`);
  return caught;
}

/** What a `lock-holder.ts try` child reports. */
async function tryInChild(dir: string): Promise<{ ok?: true; code?: string; message?: string; pid?: number | null }> {
  const child = startFixture('lock-holder.ts', ['try', dir]);
  const line = await firstLine(child);
  await exited(child);
  return JSON.parse(line) as { ok?: true; code?: string; message?: string; pid?: number | null };
}

describe('data dir lock', () => {
  test('a second store on the same dir in this process fails with STORE_DATA_DIR_LOCKED, and the first keeps working', async () => {
    const dir = await newDir();
    const first = await LevelLogStore.open({ dir });
    const err = await lockedError(LevelLogStore.open({ dir }));
    assert.equal(err.dir, dir);
    assert.equal(err.pid, process.pid);
    assert.ok(err.message.includes(`data dir ${dir} is already open in this process (pid ${process.pid})`), err.message);
    await first.save({ entries: ents(1, [1]) }, { sync: true });
    assert.equal((await first.load()).entries.length, 1);
    // The refused attempt did not weaken the lock for other processes
    // (LevelDB drops a process's lock when a second in-process open is tried).
    const child = await tryInChild(dir);
    assert.equal(child.code, 'STORE_DATA_DIR_LOCKED');
    await first.close();
    const reopened = await LevelLogStore.open({ dir });
    await reopened.close();
  });

  test('concurrent opens in this process: exactly one wins', async () => {
    const dir = await newDir();
    const results = await Promise.allSettled([LevelLogStore.open({ dir }), LevelLogStore.open({ dir }), LevelLogStore.open({ dir })]);
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok(isStorageError(r.reason, 'STORE_DATA_DIR_LOCKED'));
    await (won[0] as PromiseFulfilledResult<LevelLogStore>).value.close();
  });

  test('a dir held by another process fails at once with STORE_DATA_DIR_LOCKED naming the holding pid', async () => {
    const dir = await newDir();
    const holder = startFixture('lock-holder.ts', ['hold', dir]);
    try {
      assert.equal(await firstLine(holder), `held ${holder.pid}`);
      const err = await lockedError(LevelLogStore.open({ dir }));
      assert.equal(err.pid, holder.pid);
      assert.ok(err.message.startsWith(`data dir ${dir} is in use by another process (pid ${holder.pid}, since `), err.message);
    } finally {
      holder.stdin!.end();
      await exited(holder);
    }
    assert.ok(!existsSync(join(dir, 'kv.pid')), 'a holder that closes removes kv.pid');
    const store = await LevelLogStore.open({ dir });
    await store.close();
  });

  test('another process opening a dir this process holds fails with STORE_DATA_DIR_LOCKED naming this pid', async () => {
    const dir = await newDir();
    const store = await LevelLogStore.open({ dir });
    const child = await tryInChild(dir);
    assert.equal(child.code, 'STORE_DATA_DIR_LOCKED');
    assert.equal(child.pid, process.pid);
    assert.match(child.message ?? '', new RegExp(`is in use by another process \\(pid ${process.pid}, since`));
    await store.close();
    assert.deepEqual(await tryInChild(dir), { ok: true });
  });

  test('a holder killed with SIGKILL leaves no lock behind: the next open succeeds and takes over kv.pid', async () => {
    const dir = await newDir();
    const holder = startFixture('lock-holder.ts', ['hold', dir]);
    assert.equal(await firstLine(holder), `held ${holder.pid}`);
    holder.kill('SIGKILL');
    await exited(holder);
    assert.match(await readFile(join(dir, 'kv.pid'), 'utf8'), new RegExp(`"pid":${holder.pid}`), 'the dead holder left its kv.pid');
    const store = await LevelLogStore.open({ dir });
    assert.match(await readFile(join(dir, 'kv.pid'), 'utf8'), new RegExp(`"pid":${process.pid}`));
    await store.close();
  });
});
