// Recovery of a LevelLogStore from damage, written into the database directly
// through a raw classic-level handle while the store is closed: a torn or
// corrupt tail is cut with a warning, damage in the middle refuses to start
// with STORE_CORRUPT naming the data dir and the index.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { after, describe, test } from 'node:test';

import { EntryType, type Snapshot } from '@kv/raft';
import { ClassicLevel } from 'classic-level';

import { entryKey, HARD_STATE_KEY } from '../../src/storage/codec.ts';
import { crc32, tableCrc32 } from '../../src/storage/crc32.ts';
import { isStorageError, StorageError } from '../../src/storage/errors.ts';
import { LevelLogStore } from '../../src/storage/level-log-store.ts';
import { ents, recordingLogger, tempDir } from './helpers.ts';

const SYNC = { sync: true };
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A closed store in a new directory holding entries 1..count (terms 1) and a hard state committing `commit`. */
async function storeWith(count: number, commit: number, snapshotAt?: number): Promise<string> {
  const dir = await tempDir('recovery');
  dirs.push(dir);
  const store = await LevelLogStore.open({ dir });
  await store.save({ hardState: { term: 1, vote: 'a', commit }, entries: ents(1, Array(count).fill(1)) }, SYNC);
  if (snapshotAt !== undefined) await store.saveSnapshot(snap(snapshotAt));
  await store.close();
  return dir;
}

function snap(index: number): Snapshot {
  return { data: Uint8Array.of(1, 2, 3), metadata: { index, term: 1, confState: { voters: ['a'], learners: [] } } };
}

/** Changes the database of `dir` directly, as a disk (or a bug) could. */
async function tamper(dir: string, fn: (db: ClassicLevel<Buffer, Buffer>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(LevelLogStore.dbLocation(dir), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

/** Flips one bit in the data of entry `index` (its checksum no longer matches). */
async function garble(db: ClassicLevel<Buffer, Buffer>, index: number): Promise<void> {
  const value = await db.get(entryKey(index));
  assert.ok(value, `entry ${index} is stored`);
  const bad = Buffer.from(value);
  bad[bad.length - 1] ^= 0x10;
  await db.put(entryKey(index), bad);
}

/** Cuts the record of entry `index` short, as a torn write would. */
async function tear(db: ClassicLevel<Buffer, Buffer>, index: number): Promise<void> {
  const value = await db.get(entryKey(index));
  assert.ok(value);
  await db.put(entryKey(index), value.subarray(0, value.length - 4));
}

async function loadWithLog(dir: string): Promise<{ indexes: number[]; commit: number; warnings: string[]; store: LevelLogStore }> {
  const logger = recordingLogger();
  const store = await LevelLogStore.open({ dir, logger });
  const state = await store.load();
  return {
    indexes: state.entries.map((e) => e.index),
    commit: state.hardState.commit,
    warnings: logger.lines.filter((l) => l.startsWith('warn')),
    store,
  };
}

async function openFails(dir: string): Promise<StorageError> {
  let caught: unknown;
  const store = new LevelLogStore({ dir });
  try {
    await store.open();
  } catch (e) {
    caught = e;
  }
  await store.close();
  assert.ok(isStorageError(caught), `expected a StorageError, got ${String(caught)}`);
  return caught;
}

describe('recovery of a torn or corrupt tail', () => {
  test('a torn last entry is cut, the entries before it are intact, and a warning is logged', async () => {
    const dir = await storeWith(5, 3);
    await tamper(dir, (db) => tear(db, 5));
    const r = await loadWithLog(dir);
    assert.deepEqual(r.indexes, [1, 2, 3, 4]);
    assert.equal(r.commit, 3);
    assert.equal(r.warnings.length, 1, r.warnings.join('\n'));
    assert.match(r.warnings[0], /entries 5\.\.5 at the end of the log are damaged/);
    assert.match(r.warnings[0], new RegExp(`data dir ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    // The cut is durable and the log goes on from there.
    await r.store.save({ entries: ents(5, [2]) }, SYNC);
    await r.store.close();
    const again = await loadWithLog(dir);
    assert.deepEqual(again.indexes, [1, 2, 3, 4, 5]);
    assert.deepEqual(again.warnings, []);
    await again.store.close();
  });

  test('several damaged or missing entries at the end are all cut', async () => {
    const dir = await storeWith(8, 2);
    await tamper(dir, async (db) => {
      await garble(db, 6);
      await db.del(entryKey(7));
      await tear(db, 8);
    });
    const r = await loadWithLog(dir);
    assert.deepEqual(r.indexes, [1, 2, 3, 4, 5]);
    assert.match(r.warnings[0], /entries 6\.\.8 .*entry 6: checksum mismatch/);
    assert.deepEqual(r.store.inspect().lastIndex, 5);
    await r.store.close();
  });

  test('an entry record copied under another index fails its checksum (the key is covered)', async () => {
    const dir = await storeWith(4, 1);
    await tamper(dir, async (db) => {
      const third = await db.get(entryKey(3));
      await db.put(entryKey(4), third!);
    });
    const r = await loadWithLog(dir);
    assert.deepEqual(r.indexes, [1, 2, 3]);
    await r.store.close();
  });

  test('a cut below the commit index lowers the commit index, with a warning', async () => {
    const dir = await storeWith(5, 5);
    await tamper(dir, (db) => garble(db, 5));
    const r = await loadWithLog(dir);
    assert.deepEqual(r.indexes, [1, 2, 3, 4]);
    assert.equal(r.commit, 4);
    assert.equal(r.warnings.length, 2, r.warnings.join('\n'));
    assert.match(r.warnings[1], /commit index was 5 but the log now ends at 4; lowering it to 4/);
    await r.store.close();
  });

  test('damaged entries at or below the snapshot index are dropped: the snapshot covers them', async () => {
    const dir = await storeWith(6, 4, 4);
    await tamper(dir, (db) => garble(db, 2));
    const r = await loadWithLog(dir);
    assert.deepEqual(r.indexes, [5, 6]);
    assert.deepEqual(r.store.inspect(), { firstIndex: 5, lastIndex: 6, snapshotIndex: 4, hardState: { term: 1, vote: 'a', commit: 4 } });
    assert.match(r.warnings[0], /at or below the snapshot index 4 are damaged/);
    await r.store.close();
  });
});

describe('refusal of corruption in the middle', () => {
  test('a damaged entry followed by intact ones refuses to open with STORE_CORRUPT naming the data dir and the index', async () => {
    const dir = await storeWith(6, 6);
    await tamper(dir, (db) => garble(db, 3));
    const err = await openFails(dir);
    assert.equal(err.code, 'STORE_CORRUPT');
    assert.equal(err.index, 3);
    assert.equal(err.dir, dir);
    assert.ok(err.message.includes(`data dir ${dir} is corrupt`), err.message);
    assert.ok(err.message.includes(LevelLogStore.dbLocation(dir)), err.message);
    assert.match(err.message, /log entry 3 is damaged \(checksum mismatch .*\) but entry 4 after it is intact/);
    // Nothing was changed: it refuses again, the same way.
    const again = await openFails(dir);
    assert.equal(again.index, 3);
  });

  test('a missing entry followed by intact ones refuses to open', async () => {
    const dir = await storeWith(4, 1);
    await tamper(dir, (db) => db.del(entryKey(2)));
    const err = await openFails(dir);
    assert.equal(err.code, 'STORE_CORRUPT');
    assert.equal(err.index, 2);
    assert.match(err.message, /log entry 2 is damaged \(it is missing\)/);
  });

  test('a damaged hard state refuses to open with STORE_CORRUPT', async () => {
    const dir = await storeWith(2, 1);
    await tamper(dir, async (db) => {
      const v = Buffer.from((await db.get(HARD_STATE_KEY))!);
      v[v.length - 1] ^= 1;
      await db.put(HARD_STATE_KEY, v);
    });
    const err = await openFails(dir);
    assert.equal(err.code, 'STORE_CORRUPT');
    assert.equal(err.index, undefined);
    assert.match(err.message, /hard state: checksum mismatch/);
  });

  test('an unknown database in the directory is refused rather than read', async () => {
    const dir = await tempDir('foreign');
    dirs.push(dir);
    await tamper(dir, (db) => db.put(Buffer.from('something'), Buffer.from('else')));
    const err = await openFails(dir);
    assert.equal(err.code, 'STORE_CORRUPT');
    assert.match(err.message, /layout version record is missing/);
  });
});

describe('housekeeping', () => {
  test('entries below the compaction point are deleted from the database', async () => {
    const dir = await storeWith(10, 8, 8);
    const store = await LevelLogStore.open({ dir });
    await store.compact(7);
    await store.close();
    const keys: number[] = [];
    await tamper(dir, async (db) => {
      for await (const k of db.keys({ gte: entryKey(0), lte: entryKey(100) })) keys.push(k.readUInt32BE(5));
    });
    assert.deepEqual(keys, [8, 9, 10]);
  });

  test('entries, hard state, snapshot and metadata survive a reopen byte for byte', async () => {
    const dir = await tempDir('roundtrip');
    dirs.push(dir);
    const store = await LevelLogStore.open({ dir });
    const data = randomBytes(100_000);
    const big = { index: 1, term: 2 ** 40, type: EntryType.ConfChange, data };
    await store.save({ hardState: { term: 2 ** 40, vote: 'ffffffffffffffff', commit: 1 }, entries: [big] }, SYNC);
    await store.writeMeta({ clusterId: 'c1', memberId: 'm1', name: 'one' });
    await store.close();
    const back = await LevelLogStore.open({ dir });
    const state = await back.load();
    assert.equal(state.entries[0].term, 2 ** 40);
    assert.equal(state.entries[0].type, EntryType.ConfChange);
    assert.ok(Buffer.from(state.entries[0].data).equals(data));
    assert.deepEqual({ ...state.hardState }, { term: 2 ** 40, vote: 'ffffffffffffffff', commit: 1 });
    assert.deepEqual(await back.readMeta(), { clusterId: 'c1', memberId: 'm1', name: 'one' });
    await back.writeMeta({ clusterId: 'c1', memberId: 'm1', name: 'one', removed: true });
    await back.close();
    const third = await LevelLogStore.open({ dir });
    assert.deepEqual(await third.readMeta(), { clusterId: 'c1', memberId: 'm1', name: 'one', removed: true });
    await third.close();
  });
});

describe('crc32', () => {
  test("gives the standard check value and agrees with the table-driven fallback, also across split buffers", () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(tableCrc32(Buffer.from('123456789')), 0xcbf43926);
    for (const n of [0, 1, 7, 64, 1000, 65_537]) {
      const b = randomBytes(n);
      const cut = n >> 1;
      assert.equal(tableCrc32(b), crc32(b), `length ${n}`);
      assert.equal(crc32(b.subarray(cut), crc32(b.subarray(0, cut))), crc32(b));
      assert.equal(tableCrc32(b.subarray(cut), tableCrc32(b.subarray(0, cut))), crc32(b));
    }
  });
});
