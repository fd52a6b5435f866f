// Fuzzing the persisted log: a real classic-level data dir written by
// LevelLogStore (appends over two opens, so some records sit in .ldb tables
// and some in the write-ahead .log; sometimes a snapshot and a compaction),
// closed, then damaged as a disk or a bug could: bits flipped in random
// files, files cut short, CURRENT or a MANIFEST deleted, and, through
// classic-level itself (so only the store's own checksums can tell),
// garbage records under entry keys, the hard state, bounds, snapshot,
// metadata and version keys, records moved to another key, entries deleted,
// stray keys among the entries. fast-check picks the damage.
//
// Reopening must either refuse with a StorageError (STORE_CORRUPT or
// STORE_IO) that names the data dir, or open with a log in which every
// entry is the one written at its index, contiguous, with a hard state that
// was written and commits no further than the log reaches. Damage through
// classic-level (LevelDB itself intact) must leave every entry before the
// first damaged one in place. Never a crash, a hang, or an entry that was
// not written; and a store that opened takes a write and opens again.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { EntryType, type Entry, type HardState } from '@kv/raft';
import { ClassicLevel } from 'classic-level';
import fc from 'fast-check';

import { entryKey } from '../../src/storage/codec.ts';
import { isStorageError } from '../../src/storage/errors.ts';
import { LevelLogStore } from '../../src/storage/level-log-store.ts';
import { recordingLogger, tempDir } from './helpers.ts';

const SYNC = { sync: true };
const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** What was written, to judge what comes back. */
interface Written {
  readonly dir: string;
  /** Every entry written, by index (appends only: one value per index). */
  readonly entries: Map<number, Entry>;
  /** Every hard state written, in order. */
  readonly hardStates: HardState[];
  readonly last: number;
  readonly snapshotIndex: number;
}

interface Shape {
  /** Entries of the first open (they end up in an .ldb table when the store is opened again). */
  readonly first: number;
  /** Entries of the second open, in saves of `perSave` (they stay in the .log). */
  readonly second: number;
  readonly perSave: number;
  readonly maxData: number;
  readonly snapshot: boolean;
}

function entry(index: number, term: number, maxData: number): Entry {
  return { index, term, type: index % 7 === 0 ? EntryType.ConfChange : EntryType.Normal, data: randomBytes(1 + ((index * 7919) % maxData)) };
}

async function writeLog(shape: Shape): Promise<Written> {
  const dir = await tempDir('fuzz');
  dirs.push(dir);
  const entries = new Map<number, Entry>();
  const hardStates: HardState[] = [];
  let last = 0;
  let snapshotIndex = 0;
  const save = async (store: LevelLogStore, count: number, term: number): Promise<void> => {
    const es = Array.from({ length: count }, (_, k) => entry(last + 1 + k, term, shape.maxData));
    last += count;
    const hardState = { term, vote: 'm1', commit: Math.max(0, last - 1) };
    await store.save({ hardState, entries: es }, SYNC);
    for (const e of es) entries.set(e.index, e);
    hardStates.push(hardState);
  };
  let store = await LevelLogStore.open({ dir });
  await store.writeMeta({ clusterId: 'c1', memberId: 'm1', name: 'one' });
  await save(store, shape.first, 1);
  if (shape.snapshot && last >= 3) {
    snapshotIndex = last - 1;
    await store.saveSnapshot({ data: randomBytes(100), metadata: { index: snapshotIndex, term: 1, confState: { voters: ['m1'], learners: [] } } });
    await store.compact(snapshotIndex - 1);
  }
  await store.close();
  store = await LevelLogStore.open({ dir });
  for (let n = 0; n < shape.second; n += shape.perSave) await save(store, Math.min(shape.perSave, shape.second - n), 2);
  await store.close();
  return { dir, entries, hardStates, last, snapshotIndex };
}

// ------------------------------------------------------------------ damage

type Db = ClassicLevel<Buffer, Buffer>;

/** Damage done through classic-level: `index` is the first entry it can affect (Infinity: none). */
type LevelDamage =
  | { kind: 'garbage-entry'; at: number; bytes: Uint8Array }
  | { kind: 'delete-entry'; at: number }
  | { kind: 'move-entry'; at: number; to: number }
  | { kind: 'flip-entry'; at: number; bit: number }
  | { kind: 'garbage-record'; key: 'h' | 'b' | 's' | 'm' | 'v'; bytes: Uint8Array }
  | { kind: 'stray-key'; key: Uint8Array };

type FileDamage =
  | { kind: 'flip-bits'; file: 'ldb' | 'log' | 'MANIFEST' | 'CURRENT'; bits: number[] }
  | { kind: 'truncate'; file: 'ldb' | 'log' | 'MANIFEST' | 'CURRENT'; fraction: number }
  | { kind: 'delete'; file: 'ldb' | 'log' | 'MANIFEST' | 'CURRENT' };

/** `at` and `to` are fractions of the log, resolved against what was written. */
const levelDamage: fc.Arbitrary<LevelDamage> = fc.oneof(
  fc.record({ kind: fc.constant('garbage-entry' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ kind: fc.constant('delete-entry' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('move-entry' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), to: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('flip-entry' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bit: fc.nat() }),
  fc.record({ kind: fc.constant('garbage-record' as const), key: fc.constantFrom('h' as const, 'b' as const, 's' as const, 'm' as const, 'v' as const), bytes: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({
    kind: fc.constant('stray-key' as const),
    key: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => Uint8Array.from([0x65, ...b.subarray(0, b.length === 8 ? 7 : b.length)])), fc.constant(Uint8Array.of(0x65))),
  }),
);

const damagedFile = fc.constantFrom('ldb' as const, 'log' as const, 'MANIFEST' as const, 'CURRENT' as const);
const fileDamage: fc.Arbitrary<FileDamage> = fc.oneof(
  fc.record({ kind: fc.constant('flip-bits' as const), file: damagedFile, bits: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('truncate' as const), file: damagedFile, fraction: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) }),
  fc.record({ kind: fc.constant('delete' as const), file: damagedFile }),
);

function indexAt(w: Written, fraction: number): number {
  const first = w.snapshotIndex === 0 ? 1 : w.snapshotIndex - 1; // compact(snapshot - 1) keeps the entry before the snapshot
  return Math.min(w.last, first + Math.floor(fraction * (w.last - first + 1)));
}

/** Applies `d` and returns the first entry index it damaged (Infinity when no entry). */
async function damageThroughLevel(db: Db, w: Written, d: LevelDamage): Promise<number> {
  switch (d.kind) {
    case 'garbage-entry': {
      const i = indexAt(w, d.at);
      await db.put(entryKey(i), Buffer.from(d.bytes));
      return i;
    }
    case 'delete-entry': {
      const i = indexAt(w, d.at);
      await db.del(entryKey(i));
      return i;
    }
    case 'move-entry': {
      const [from, to] = [indexAt(w, d.at), indexAt(w, d.to)];
      if (from === to) return Infinity;
      const value = await db.get(entryKey(from));
      if (value === undefined) return Infinity;
      await db.put(entryKey(to), value);
      return to;
    }
    case 'flip-entry': {
      const i = indexAt(w, d.at);
      const value = await db.get(entryKey(i));
      if (value === undefined) return Infinity;
      const bad = Buffer.from(value);
      const bit = d.bit % (bad.length * 8);
      bad[bit >> 3] ^= 1 << (bit & 7);
      await db.put(entryKey(i), bad);
      return i;
    }
    case 'garbage-record':
      await db.put(Buffer.from(d.key), Buffer.from(d.bytes));
      return d.key === 'b' || d.key === 's' ? 0 : Infinity; // bounds or snapshot: any entry may be judged differently
    case 'stray-key':
      await db.put(Buffer.from(d.key), randomBytes(12));
      return Infinity;
  }
}

function filesOf(dir: string, kind: FileDamage['file']): string[] {
  const db = LevelLogStore.dbLocation(dir);
  const names = readdirSync(db).filter((n) => (kind === 'ldb' ? n.endsWith('.ldb') : kind === 'log' ? n.endsWith('.log') : n.startsWith(kind)));
  return names.sort().map((n) => join(db, n));
}

function damageFiles(dir: string, d: FileDamage): string {
  const files = filesOf(dir, d.file);
  if (files.length === 0) return `no ${d.file} file`;
  const file = files[files.length - 1];
  const size = statSync(file).size;
  switch (d.kind) {
    case 'flip-bits': {
      if (size === 0) return `${file} is empty`;
      const bytes = readFileSync(file);
      for (const b of d.bits) {
        const bit = b % (size * 8);
        bytes[bit >> 3] ^= 1 << (bit & 7);
      }
      writeFileSync(file, bytes);
      return `flipped ${d.bits.length} bit(s) in ${file}`;
    }
    case 'truncate':
      truncateSync(file, Math.floor(d.fraction * size));
      return `cut ${file} to ${Math.floor(d.fraction * size)} of ${size} bytes`;
    case 'delete':
      unlinkSync(file);
      return `deleted ${file}`;
  }
}

// ------------------------------------------------------------------ judging a reopen

/** Rejects if `p` has not settled within `ms`: a hang is a failure, not a slow test. */
function withinMs<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

type Outcome = 'refused' | 'intact' | 'cut';

/** Opens `w.dir` and judges what comes back; returns how it went. */
async function reopenAndJudge(w: Written, firstDamaged: number, context: string): Promise<Outcome> {
  const logger = recordingLogger();
  const store = new LevelLogStore({ dir: w.dir, logger });
  let state;
  try {
    await withinMs(store.open(), 20_000, 'open');
    state = await withinMs(store.load(), 20_000, 'load');
  } catch (e) {
    await withinMs(store.close(), 20_000, 'close after a refusal');
    assert.ok(isStorageError(e), `${context}: open threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    assert.ok(e.code === 'STORE_CORRUPT' || e.code === 'STORE_IO', `${context}: ${e.code}: ${e.message}`);
    assert.ok(e.message.includes(w.dir), `${context}: the message names the data dir: ${e.message}`);
    return 'refused';
  }
  try {
    const got = state.entries;
    for (let k = 0; k < got.length; k++) {
      const e = got[k];
      const want = w.entries.get(e.index);
      assert.ok(want !== undefined, `${context}: entry ${e.index} was never written`);
      assert.ok(e.term === want.term && e.type === want.type && Buffer.from(e.data).equals(Buffer.from(want.data)), `${context}: entry ${e.index} is not what was written`);
      if (k > 0) assert.equal(e.index, got[k - 1].index + 1, `${context}: the log has a gap after ${got[k - 1].index}`);
    }
    const lastIndex = got.length > 0 ? got[got.length - 1].index : store.inspect().lastIndex;
    const hs = state.hardState;
    assert.ok(
      (hs.term === 0 && hs.commit === 0) || w.hardStates.some((h) => h.term === hs.term && h.vote === hs.vote && h.commit >= hs.commit),
      `${context}: hard state ${JSON.stringify(hs)} was never written`,
    );
    assert.ok(hs.commit <= Math.max(lastIndex, state.snapshot?.metadata.index ?? 0), `${context}: commit ${hs.commit} is past the log's end ${lastIndex}`);
    if (Number.isFinite(firstDamaged)) {
      // LevelDB itself was intact: nothing before the damage may be lost.
      assert.ok(lastIndex >= Math.min(firstDamaged - 1, w.last), `${context}: the log ends at ${lastIndex}, before the damage at ${firstDamaged}`);
    }
    // A store that opened is usable: it takes the next entry and opens again with it.
    const next: Entry = { index: lastIndex + 1, term: 3, type: EntryType.Normal, data: Buffer.from('after') };
    await store.save({ hardState: { term: 3, vote: 'm1', commit: hs.commit }, entries: [next] }, SYNC);
    await store.close();
    const again = await withinMs(LevelLogStore.open({ dir: w.dir }), 20_000, 'second open');
    const back = await again.load();
    await again.close();
    const tail = back.entries[back.entries.length - 1];
    assert.ok(tail !== undefined && tail.index === next.index && Buffer.from(tail.data).toString() === 'after', `${context}: the write after recovery did not survive a reopen`);
    return lastIndex < w.last ? 'cut' : 'intact';
  } finally {
    await store.close();
  }
}

// ------------------------------------------------------------------ the properties

const shape: fc.Arbitrary<Shape> = fc.record({
  first: fc.integer({ min: 2, max: 30 }),
  second: fc.integer({ min: 1, max: 30 }),
  perSave: fc.integer({ min: 1, max: 8 }),
  maxData: fc.constantFrom(16, 300, 5000),
  snapshot: fc.boolean(),
});

test('damage through classic-level is caught by the checksums: refused, or cut after every intact entry before it', { timeout: 120_000 }, async () => {
  const outcomes: Record<Outcome, number> = { refused: 0, intact: 0, cut: 0 };
  await fc.assert(
    fc.asyncProperty(shape, fc.array(levelDamage, { minLength: 1, maxLength: 3 }), async (s, damage) => {
      const w = await writeLog(s);
      const db: Db = new ClassicLevel<Buffer, Buffer>(LevelLogStore.dbLocation(w.dir), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
      let first = Infinity;
      try {
        for (const d of damage) first = Math.min(first, await damageThroughLevel(db, w, d));
      } finally {
        await db.close();
      }
      outcomes[await reopenAndJudge(w, first, JSON.stringify({ s, damage: damage.map((d) => d.kind) }))]++;
      rmSync(w.dir, { recursive: true, force: true });
    }),
    { numRuns: 40, includeErrorInReport: true },
  );
  console.error(`# classic-level damage: ${JSON.stringify(outcomes)}`);
  assert.ok(outcomes.refused > 0 && outcomes.cut + outcomes.intact > 0, JSON.stringify(outcomes));
});

test('flipped bits, cut files and deleted CURRENT or MANIFEST: refused with a StorageError, or a log of entries that were written', { timeout: 120_000 }, async () => {
  const outcomes: Record<Outcome, number> = { refused: 0, intact: 0, cut: 0 };
  await fc.assert(
    fc.asyncProperty(shape, fc.array(fileDamage, { minLength: 1, maxLength: 2 }), async (s, damage) => {
      const w = await writeLog(s);
      const done = damage.map((d) => damageFiles(w.dir, d));
      outcomes[await reopenAndJudge(w, Infinity, done.join('; '))]++;
      rmSync(w.dir, { recursive: true, force: true });
    }),
    { numRuns: 80, includeErrorInReport: true },
  );
  console.error(`# file damage: ${JSON.stringify(outcomes)}`);
  assert.ok(outcomes.refused > 0, JSON.stringify(outcomes));
});

// ------------------------------------------------------------------ cases the fuzzing found

test('a missing CURRENT file is refused with STORE_CORRUPT, and LevelDB is not let to start a new database over the remains', async () => {
  const w = await writeLog({ first: 5, second: 3, perSave: 1, maxData: 16, snapshot: false });
  const db = LevelLogStore.dbLocation(w.dir);
  unlinkSync(join(db, 'CURRENT'));
  const before = readdirSync(db).sort();
  for (let attempt = 0; attempt < 2; attempt++) {
    const err = await LevelLogStore.open({ dir: w.dir }).then(
      () => assert.fail('opened'),
      (e: unknown) => e,
    );
    assert.ok(isStorageError(err, 'STORE_CORRUPT'), String(err));
    assert.match(err.message, /CURRENT file is missing/);
    assert.ok(err.message.includes(w.dir));
    assert.deepEqual(readdirSync(db).filter((n) => n !== 'LOG' && n !== 'LOG.old').sort(), before.filter((n) => n !== 'LOG' && n !== 'LOG.old'));
  }
});

test('a key among the log entries that is not an entry key is refused, naming it, instead of emptying the log', async () => {
  const w = await writeLog({ first: 4, second: 2, perSave: 1, maxData: 16, snapshot: false });
  const db: Db = new ClassicLevel<Buffer, Buffer>(LevelLogStore.dbLocation(w.dir), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.put(Buffer.from([0x65, 0xff]), Buffer.from('x'));
  await db.close();
  for (let attempt = 0; attempt < 2; attempt++) {
    const err = await LevelLogStore.open({ dir: w.dir }).then(
      () => assert.fail('opened'),
      (e: unknown) => e,
    );
    assert.ok(isStorageError(err, 'STORE_CORRUPT'), String(err));
    assert.match(err.message, /key 65ff among the log entries is not an entry key/);
  }
});

test('when LevelDB cannot open the database, its reason is in the message', async () => {
  const w = await writeLog({ first: 3, second: 1, perSave: 1, maxData: 16, snapshot: false });
  for (const f of filesOf(w.dir, 'MANIFEST')) unlinkSync(f);
  const err = await LevelLogStore.open({ dir: w.dir }).then(
    () => assert.fail('opened'),
    (e: unknown) => e,
  );
  assert.ok(isStorageError(err, 'STORE_IO'), String(err));
  assert.match(err.message, /MANIFEST-\d+: No such file or directory/);
});

/**
 * A data dir's database as the fuzzing left it just before the crash it
 * found (the write-ahead log left out): CURRENT, the manifest and one table.
 * Flipping bit 2 of byte 239 of the table damages the length of a key;
 * classic-level's LevelDB reads tables without checking their checksums and
 * is built with assertions on, so reading it aborted the process.
 */
const CRASHING_TABLE_DB: Record<string, string> = {
  CURRENT: 'TUFOSUZFU1QtMDAwMDA0Cg==',
  'MANIFEST-000004': 'Vvm4+BwAAQEabGV2ZWxkYi5CeXRld2lzZUNvbXBhcmF0b3LkRCMfIQABAgYJAAMHBBIHAAXoBQliAQ0AAAAAAAAJdgEBAAAAAAAA',
  '000005.ldb': [
    'uQUYAAkVYgENAAUBENZRdzEBBQoIAAAFDQgQBwIHFQsJDAycxjJ+ER8RARAHABEAZQ0NCAEADgkKEAkIHgEDCQsM1SbfYBE0XAEA',
    'Oj/a27M5z+7oXCaPE8VXDQgJAAIADwkqEAkIHQEECQsMQBrx/hk1ULzmZkIBQsoLCKR0DP31nggJAAMAEAkpDAkIHAENqQxXf1fu',
    'GTRMsywmI1nROB9Hi/8qx7QICQAEABERMwgbAQYJCwwLu89AGTNI4kZS1qbsQiE0FIA38ggJAAUAEgknEAkIGgEHCQsMfJWzvRky',
    'RL845LXO3Ir2akeXVwgJGQYBCAkmDAWWB7QZJkCUlhVlSyRjl10Q5QgJGAcBCQklDPnsv+wVJUAByYGtFFHeg3PcWQAJHmgBCgkk',
    'kBm7K70B3gADpHRlcm0BpHZvdGWibTGmY29tbWl0BgAJM20BAgAFK2T2K5i7Ad4ABKljbHVzdGVySWSiYzGobWVtYgUMaG0xpG5h',
    'bWWjb25lp3JlbW92ZWTCAAmSAXMBDAU/EAApZ4HLAY4oJd4ABKVpbmRleAYJdQCmAXXweXJzkaJtMahsZWFybmVyc5ADM8LNnjZx',
    '2DH/sazypcLX6AVOpSJVr6BTMhz6Jg6eFc9retY9B+vvFcT3d3ecD2EI56MpqlYPEvBp3L3ZH221YGxAxHzMjPNZ/PnqmCPfm1pX',
    'Gxar5iVvbvNZTEmeKUbqBclEAAkJdgEBCZ4MJt5WWQGeMAEAAAAA+QEAAAIAAAABPDkjrAEUTJDSABPxE5RqyiEhZVUBHQxQEQGz',
    'BgAAAAAYAAAACwDGNCrwACIDZmlsdGVyLmxldmVsZGIuQnVpbHRpbkJsb29tRmlsdGVyMsEEIQAAAAABAAAAAOx690MACQN2AQEA',
    'AAAAAAAAvAQAAAAAAQAAAAClhuKY5wQwnAUXAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAFf7gIskdUfb',
  ].join(''),
};

test('a table whose block fails its checksum is refused with STORE_CORRUPT: LevelDB would have aborted the process', async () => {
  const dir = await tempDir('crash');
  dirs.push(dir);
  const db = LevelLogStore.dbLocation(dir);
  mkdirSync(db, { recursive: true });
  for (const [name, b64] of Object.entries(CRASHING_TABLE_DB)) writeFileSync(join(db, name), Buffer.from(b64, 'base64'));
  // Intact, it opens (and holds the entries the fuzzing wrote).
  const store = await LevelLogStore.open({ dir });
  assert.ok((await store.load()).entries.length > 0);
  await store.close();
  const table = join(db, '000005.ldb');
  const bytes = readFileSync(table);
  bytes[239] ^= 1 << 2;
  writeFileSync(table, bytes);
  const err = await LevelLogStore.open({ dir }).then(
    () => assert.fail('opened'),
    (e: unknown) => e,
  );
  assert.ok(isStorageError(err, 'STORE_CORRUPT'), String(err));
  assert.match(err.message, /LevelDB table 000005\.ldb: the data block at offset 0 \(\d+ bytes\) fails its checksum/);
  assert.ok(err.message.includes(dir));
});
