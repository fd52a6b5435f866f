// Group commit in the store: saves called while a write is in flight are
// written together, in one batch (one fsync), each still checked on its own.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, describe, test } from 'node:test';

import { isRaftError } from '@kv/raft';

import { isStorageError } from '../../src/storage/errors.ts';
import { LevelLogStore } from '../../src/storage/level-log-store.ts';
import { ents, tempDir } from './helpers.ts';

const SYNC = { sync: true };
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function open(): Promise<LevelLogStore> {
  const dir = await tempDir('group');
  dirs.push(dir);
  return LevelLogStore.open({ dir });
}

describe('group commit', () => {
  test('saves called together are written in one sync batch and resolve in call order', async () => {
    const store = await open();
    const order: number[] = [];
    await Promise.all(Array.from({ length: 50 }, (_, k) => store.save({ entries: ents(k + 1, [1]) }, SYNC).then(() => void order.push(k))));
    assert.deepEqual(order, Array.from({ length: 50 }, (_, k) => k));
    assert.deepEqual(store.stats, { batches: 1, syncBatches: 1, saves: 50, entries: 50 });
    assert.equal((await store.load()).entries.length, 50);
    await store.close();
  });

  test('saves queued behind a write in flight share the next batch', async () => {
    const store = await open();
    const first = store.save({ entries: ents(1, [1]) }, SYNC);
    await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 20 }, (_, k) => store.save({ entries: ents(k + 2, [1]) }, SYNC));
    await Promise.all([first, ...rest]);
    assert.ok(store.stats.syncBatches <= 2, `21 saves took ${store.stats.syncBatches} batches`);
    await store.close();
  });

  test('a refused save in a group changes nothing; the saves around it are written', async () => {
    const store = await open();
    const results = await Promise.allSettled([
      store.save({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: ents(1, [1, 1]) }, SYNC),
      store.save({ hardState: { term: 9, vote: 'z', commit: 9 }, entries: ents(9, [9]) }, SYNC),
      store.save({ entries: ents(3, [1]) }, { sync: false }),
    ]);
    assert.equal(results[0].status, 'fulfilled');
    assert.ok(results[1].status === 'rejected' && isRaftError(results[1].reason, 'RAFT_UNAVAILABLE'));
    assert.equal(results[2].status, 'fulfilled');
    assert.deepEqual(store.stats, { batches: 1, syncBatches: 1, saves: 2, entries: 3 });
    await store.close();
    const back = await LevelLogStore.open({ dir: store.dir });
    const state = await back.load();
    assert.deepEqual(state.entries.map((e) => e.index), [1, 2, 3]);
    assert.deepEqual({ ...state.hardState }, { term: 1, vote: 'a', commit: 0 });
    await back.close();
  });

  test('a group of unsynced saves is written without sync', async () => {
    const store = await open();
    await Promise.all([store.save({ entries: ents(1, [1]) }, { sync: false }), store.save({ entries: ents(2, [1]) }, { sync: false })]);
    assert.deepEqual(store.stats, { batches: 1, syncBatches: 0, saves: 2, entries: 2 });
    await store.close();
  });

  test('operations on a closed store reject with STORE_CLOSED', async () => {
    const store = await open();
    await store.close();
    await assert.rejects(store.save({ entries: ents(1, [1]) }, SYNC), (e: unknown) => isStorageError(e, 'STORE_CLOSED'));
    await assert.rejects(store.readMeta(), (e: unknown) => isStorageError(e, 'STORE_CLOSED'));
    await assert.rejects(store.open(), (e: unknown) => isStorageError(e, 'STORE_CLOSED'));
  });
});
