import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';

import { isRaftError, type RaftErrorCode } from '../../errors.js';
import type { LogBatch, LogStore, PersistedState } from '../../node/log-store.js';
import { seededRandom } from '../../random.js';
import {
  EMPTY_HARD_STATE,
  EntryType,
  type Entry,
  type HardState,
  type Index,
  type Snapshot,
  type Term,
} from '../../types.js';

/** The span of entries a store physically holds (see {@link LogStoreContractOptions.storedRange}). */
export interface StoredRange {
  /** Index of the first entry held: the compaction point + 1. */
  readonly firstIndex: Index;
  /** Index of the last entry held; the compaction point when none is held. */
  readonly lastIndex: Index;
}

/** Options of {@link logStoreContract}. */
export interface LogStoreContractOptions<S extends LogStore = LogStore> {
  /** Registers one test; `test` from `node:test` fits (so do most runners'). */
  readonly test: (name: string, fn: () => Promise<void>) => unknown;
  /** Registers a group of tests; `describe` from `node:test` fits. */
  readonly describe: (name: string, fn: () => void) => unknown;
  /** Makes a new, empty, open store. Called once per test; the suite closes what it makes. */
  readonly factory: () => Promise<S>;
  /**
   * Closes `store` and opens it again on the same data, as a restart would.
   * The suite expects the old handle to be closed afterwards. Without it the
   * reopen group is not registered.
   */
  readonly reopen?: (store: S) => Promise<S>;
  /**
   * What `store` physically holds, past what `load()` shows (it hides entries
   * at or below the snapshot). Without it the tests that check `compact()`
   * really drops entries are not registered.
   */
  readonly storedRange?: (store: S) => StoredRange | Promise<StoredRange>;
  /** Name of the outer group. @defaultValue `'LogStore contract'` */
  readonly name?: string;
}

/**
 * Registers the tests every {@link LogStore} must pass, in the style of
 * abstract-level's suite: call it from a test file with your runner's `test`
 * and `describe` and a factory for your store.
 *
 * @remarks
 * It checks each line of `LogStore`'s contract, plus what a driver relies on
 * that the interface leaves implicit:
 * - invalid writes are refused and change nothing: entries that are not
 *   contiguous or leave a gap after the last index reject with
 *   `RAFT_UNAVAILABLE`; entries at or below the snapshot index, and
 *   `compact()` past the snapshot, with `RAFT_COMPACTED`; a snapshot not
 *   newer than the stored one with `RAFT_SNAPSHOT_OUT_OF_DATE`;
 * - a snapshot in a batch keeps the entries after it only when the stored
 *   entry at its index has its term (Raft's InstallSnapshot rule);
 * - `compact()` at or below an earlier compaction point is a no-op;
 * - operations are applied in call order, even when the previous one has not
 *   resolved, and a `load()` never sees part of a batch;
 * - closed/closing traits: after `close()` is called every method rejects
 *   with an `Error` (never throws synchronously), operations called before it
 *   settle normally, and `close()` is idempotent.
 *
 * Groups that need an optional hook (`reopen`, `storedRange`) are simply
 * not registered when it is absent.
 *
 * @example
 * ```ts
 * import { describe, test } from 'node:test';
 * import { logStoreContract } from '@kv/raft/testing';
 *
 * logStoreContract({
 *   test,
 *   describe,
 *   factory: async () => new LevelLogStore({ dir: await mkdtemp(join(tmpdir(), 'kv-')) }),
 *   reopen: async (store) => { await store.close(); return new LevelLogStore({ dir: store.dir }); },
 * });
 * ```
 */
export function logStoreContract<S extends LogStore>(options: LogStoreContractOptions<S>): void {
  const { test, describe, factory, reopen, storedRange } = options;

  /** Runs `fn` on a new store and closes it (and any handle `fn` reopened) afterwards. */
  async function withStore(fn: (h: { store: S }) => Promise<void>): Promise<void> {
    const h = { store: await factory() };
    const made = [h.store];
    try {
      await fn(h);
    } finally {
      if (!made.includes(h.store)) made.push(h.store);
      for (const s of made) await s.close();
    }
  }

  describe(options.name ?? 'LogStore contract', () => {
    describe('load', () => {
      test('load on a new store returns the empty hard state, no snapshot and no entries', () =>
        withStore(async ({ store }) => {
          const state = await store.load();
          assert.deepEqual(hardStateOf(state.hardState), hardStateOf(EMPTY_HARD_STATE));
          assert.equal(state.snapshot, undefined);
          assert.deepEqual(state.entries.length, 0);
        }));

      test('load returns fresh arrays: changing one does not change the store', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1]) }, SYNC);
          const first = await store.load();
          (first.entries as Entry[]).length = 0;
          assert.deepEqual(view(await store.load()).entries, ['1/1', '2/1']);
        }));
    });

    describe('save', () => {
      test('save stores entries and the hard state, and load returns them', () =>
        withStore(async ({ store }) => {
          await store.save({ hardState: hs(2, '1', 1), entries: ents(1, [1, 1, 2]) }, SYNC);
          assert.deepEqual(view(await store.load()), {
            hardState: '2/1/1',
            snapshot: 'none',
            entries: ['1/1', '2/1', '3/2'],
          });
        }));

      test("load returns each entry's index, term, type and bytes, and the snapshot's data and membership", () =>
        withStore(async ({ store }) => {
          const entries: Entry[] = [
            { index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array(0) },
            { index: 2, term: 1, type: EntryType.ConfChange, data: Uint8Array.of(0, 255, 7) },
            { index: 3, term: 3, type: EntryType.Normal, data: bytes(3, 3, 1000) },
          ];
          await store.save({ hardState: hs(3, 'node-b', 2), entries }, SYNC);
          const s = snap(2, 1, { voters: ['a', 'b'], learners: ['c'] });
          await store.saveSnapshot(s);
          const state = await store.load();
          assert.deepEqual(hardStateOf(state.hardState), { term: 3, vote: 'node-b', commit: 2 });
          assert.deepEqual(state.entries.map(entryOf), [entryOf(entries[2])]);
          assert.ok(state.snapshot !== undefined);
          assert.deepEqual(snapshotOf(state.snapshot), snapshotOf(s));
        }));

      test('save appends entries that start right after the last index', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1]) }, SYNC);
          await store.save({ entries: ents(3, [2]) }, NO_SYNC);
          assert.deepEqual(view(await store.load()).entries, ['1/1', '2/1', '3/2']);
        }));

      test('save with only a hard state keeps the stored entries', () =>
        withStore(async ({ store }) => {
          await store.save({ hardState: hs(1, '1', 0), entries: ents(1, [1, 1]) }, SYNC);
          await store.save({ hardState: hs(2, '', 2), entries: [] }, SYNC);
          assert.deepEqual(view(await store.load()), { hardState: '2//2', snapshot: 'none', entries: ['1/1', '2/1'] });
        }));

      test('save with only entries keeps the stored hard state', () =>
        withStore(async ({ store }) => {
          await store.save({ hardState: hs(1, '1', 0), entries: [] }, SYNC);
          await store.save({ entries: ents(1, [1]) }, SYNC);
          assert.deepEqual(view(await store.load()), { hardState: '1/1/0', snapshot: 'none', entries: ['1/1'] });
        }));

      test('save with an empty batch changes nothing', () =>
        withStore(async ({ store }) => {
          await store.save({ hardState: hs(1, '1', 1), entries: ents(1, [1]) }, SYNC);
          await store.save({ entries: [] }, NO_SYNC);
          assert.deepEqual(view(await store.load()), { hardState: '1/1/1', snapshot: 'none', entries: ['1/1'] });
        }));

      test('save overwrites the stored entries from its first index on, dropping a longer old suffix', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1, 1, 1, 1]) }, SYNC);
          await store.save({ entries: ents(3, [2]) }, SYNC);
          assert.deepEqual(view(await store.load()).entries, ['1/1', '2/1', '3/2']);
          await store.save({ entries: ents(2, [3, 3, 3, 3]) }, SYNC);
          assert.deepEqual(view(await store.load()).entries, ['1/1', '2/3', '3/3', '4/3', '5/3']);
        }));
    });

    describe('save with a snapshot', () => {
      test('a batch with a snapshot drops every entry up to the snapshot index', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1, 1]) }, SYNC);
          await store.save({ snapshot: snap(5, 2), entries: [] }, SYNC);
          assert.deepEqual(view(await store.load()), { hardState: '0//0', snapshot: '5/2', entries: [] });
        }));

      test('a batch with a snapshot drops the whole log when the entry at its index has another term', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1, 1, 1, 1]) }, SYNC);
          await store.save({ snapshot: snap(3, 2), entries: [] }, SYNC);
          assert.deepEqual(view(await store.load()), { hardState: '0//0', snapshot: '3/2', entries: [] });
          await rejectsWith(store.save({ entries: ents(5, [2]) }, SYNC), 'RAFT_UNAVAILABLE');
        }));

      test('a batch with a snapshot keeps the entries after it when the entry at its index has its term', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1, 2, 2, 2]) }, SYNC);
          await store.save({ snapshot: snap(3, 2), entries: [] }, SYNC);
          assert.deepEqual(view(await store.load()), { hardState: '0//0', snapshot: '3/2', entries: ['4/2', '5/2'] });
        }));

      test('a batch with a snapshot, entries after it and a hard state stores all three', () =>
        withStore(async ({ store }) => {
          await store.save({ hardState: hs(1, '1', 1), entries: ents(1, [1, 1]) }, SYNC);
          await store.save({ snapshot: snap(10, 3), entries: ents(11, [3, 4]), hardState: hs(4, '2', 10) }, SYNC);
          assert.deepEqual(view(await store.load()), {
            hardState: '4/2/10',
            snapshot: '10/3',
            entries: ['11/3', '12/4'],
          });
        }));
    });

    describe('saveSnapshot', () => {
      test('saveSnapshot stores the snapshot and keeps the entries after it', () =>
        withStore(async ({ store }) => {
          await store.save({ hardState: hs(2, '1', 4), entries: ents(1, [1, 1, 2, 2, 2]) }, SYNC);
          await store.saveSnapshot(snap(3, 2));
          assert.deepEqual(view(await store.load()), { hardState: '2/1/4', snapshot: '3/2', entries: ['4/2', '5/2'] });
        }));

      test('a newer saveSnapshot replaces the older snapshot', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1, 2, 2, 2]) }, SYNC);
          await store.saveSnapshot(snap(2, 1));
          await store.saveSnapshot(snap(4, 2));
          assert.deepEqual(view(await store.load()), { hardState: '0//0', snapshot: '4/2', entries: ['5/2'] });
        }));

      test('after saveSnapshot, save still appends and overwrites above the snapshot index', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1, 1, 1]) }, SYNC);
          await store.saveSnapshot(snap(2, 1));
          await store.save({ entries: ents(5, [1]) }, SYNC);
          await store.save({ entries: ents(4, [2]) }, SYNC);
          assert.deepEqual(view(await store.load()).entries, ['3/1', '4/2']);
        }));
    });

    describe('compact', () => {
      test('load after saveSnapshot and compact returns the snapshot and the entries after it', () =>
        withStore(async ({ store }) => {
          await store.save({ hardState: hs(2, '1', 5), entries: ents(1, [1, 1, 2, 2, 2, 2]) }, SYNC);
          await store.saveSnapshot(snap(4, 2));
          await store.compact(4);
          assert.deepEqual(view(await store.load()), { hardState: '2/1/5', snapshot: '4/2', entries: ['5/2', '6/2'] });
          await store.save({ entries: ents(7, [3]) }, SYNC);
          assert.deepEqual(view(await store.load()).entries, ['5/2', '6/2', '7/3']);
        }));

      test('compact to below the snapshot index leaves load unchanged', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1, 1, 1]) }, SYNC);
          await store.saveSnapshot(snap(3, 1));
          await store.compact(2);
          assert.deepEqual(view(await store.load()), { hardState: '0//0', snapshot: '3/1', entries: ['4/1'] });
        }));

      test('compact at or below an earlier compaction point resolves and changes nothing', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1, 1, 1]) }, SYNC);
          await store.saveSnapshot(snap(3, 1));
          await store.compact(3);
          await store.compact(3);
          await store.compact(1);
          await store.compact(0);
          assert.deepEqual(view(await store.load()), { hardState: '0//0', snapshot: '3/1', entries: ['4/1'] });
        }));

      test('compact past the newest snapshot rejects with RAFT_COMPACTED and changes nothing', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1, 1, 1]) }, SYNC);
          await rejectsWith(store.compact(1), 'RAFT_COMPACTED');
          await store.saveSnapshot(snap(2, 1));
          await rejectsWith(store.compact(3), 'RAFT_COMPACTED');
          assert.deepEqual(view(await store.load()), { hardState: '0//0', snapshot: '2/1', entries: ['3/1', '4/1'] });
        }));

      if (storedRange !== undefined) {
        test('compact drops the entries up to and including its index', () =>
          withStore(async ({ store }) => {
            await store.save({ entries: ents(1, [1, 1, 1, 1, 1]) }, SYNC);
            assert.deepEqual(await storedRange(store), { firstIndex: 1, lastIndex: 5 });
            await store.saveSnapshot(snap(4, 1));
            assert.deepEqual(await storedRange(store), { firstIndex: 1, lastIndex: 5 });
            await store.compact(2);
            assert.deepEqual(await storedRange(store), { firstIndex: 3, lastIndex: 5 });
            await store.compact(4);
            assert.deepEqual(await storedRange(store), { firstIndex: 5, lastIndex: 5 });
          }));

        test('a batch with a snapshot drops the entries it covers from storage', () =>
          withStore(async ({ store }) => {
            await store.save({ entries: ents(1, [1, 1, 1]) }, SYNC);
            await store.save({ snapshot: snap(2, 1), entries: [] }, SYNC);
            assert.deepEqual(await storedRange(store), { firstIndex: 3, lastIndex: 3 });
            await store.save({ snapshot: snap(6, 2), entries: [] }, SYNC);
            assert.deepEqual(await storedRange(store), { firstIndex: 7, lastIndex: 6 });
          }));
      }
    });

    describe('invalid input', () => {
      test('save rejects entries that are not contiguous with RAFT_UNAVAILABLE', () =>
        withStore(async ({ store }) => {
          const [a, b, , d] = ents(1, [1, 1, 1, 1]);
          await rejectsWith(store.save({ entries: [a, b, d] }, SYNC), 'RAFT_UNAVAILABLE');
          await rejectsWith(store.save({ entries: [b, a] }, SYNC), 'RAFT_UNAVAILABLE');
          await rejectsWith(store.save({ entries: [a, a] }, SYNC), 'RAFT_UNAVAILABLE');
          assert.deepEqual(view(await store.load()).entries, []);
        }));

      test('save rejects entries that leave a gap after the last index with RAFT_UNAVAILABLE', () =>
        withStore(async ({ store }) => {
          await rejectsWith(store.save({ entries: ents(2, [1]) }, SYNC), 'RAFT_UNAVAILABLE');
          await store.save({ entries: ents(1, [1, 1]) }, SYNC);
          await rejectsWith(store.save({ entries: ents(4, [1, 1]) }, SYNC), 'RAFT_UNAVAILABLE');
          assert.deepEqual(view(await store.load()).entries, ['1/1', '2/1']);
        }));

      test('save rejects entries after a snapshot in the same batch that leave a gap, with RAFT_UNAVAILABLE', () =>
        withStore(async ({ store }) => {
          await rejectsWith(store.save({ snapshot: snap(5, 1), entries: ents(7, [1]) }, SYNC), 'RAFT_UNAVAILABLE');
          assert.deepEqual(view(await store.load()), { hardState: '0//0', snapshot: 'none', entries: [] });
        }));

      test('save rejects entries at or below the snapshot index with RAFT_COMPACTED', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1, 1, 1]) }, SYNC);
          await store.saveSnapshot(snap(3, 1));
          await rejectsWith(store.save({ entries: ents(3, [2, 2]) }, SYNC), 'RAFT_COMPACTED');
          await store.compact(3);
          await rejectsWith(store.save({ entries: ents(1, [2]) }, SYNC), 'RAFT_COMPACTED');
          await rejectsWith(store.save({ snapshot: snap(6, 2), entries: ents(6, [2]) }, SYNC), 'RAFT_COMPACTED');
          assert.deepEqual(view(await store.load()), { hardState: '0//0', snapshot: '3/1', entries: ['4/1'] });
        }));

      test('save rejects a snapshot that is not newer than the stored one with RAFT_SNAPSHOT_OUT_OF_DATE', () =>
        withStore(async ({ store }) => {
          await store.save({ snapshot: snap(5, 2), entries: [] }, SYNC);
          await rejectsWith(store.save({ snapshot: snap(5, 2), entries: [] }, SYNC), 'RAFT_SNAPSHOT_OUT_OF_DATE');
          await rejectsWith(store.save({ snapshot: snap(4, 2), entries: [] }, SYNC), 'RAFT_SNAPSHOT_OUT_OF_DATE');
          assert.deepEqual(view(await store.load()).snapshot, '5/2');
        }));

      test('saveSnapshot rejects a snapshot that is not newer than the stored one with RAFT_SNAPSHOT_OUT_OF_DATE', () =>
        withStore(async ({ store }) => {
          await store.save({ entries: ents(1, [1, 1, 1]) }, SYNC);
          await store.saveSnapshot(snap(2, 1));
          await rejectsWith(store.saveSnapshot(snap(2, 1)), 'RAFT_SNAPSHOT_OUT_OF_DATE');
          await rejectsWith(store.saveSnapshot(snap(1, 1)), 'RAFT_SNAPSHOT_OUT_OF_DATE');
          assert.deepEqual(view(await store.load()), { hardState: '0//0', snapshot: '2/1', entries: ['3/1'] });
        }));

      test('saveSnapshot rejects a snapshot past the last index with RAFT_UNAVAILABLE', () =>
        withStore(async ({ store }) => {
          await rejectsWith(store.saveSnapshot(snap(1, 1)), 'RAFT_UNAVAILABLE');
          await store.save({ entries: ents(1, [1, 1]) }, SYNC);
          await rejectsWith(store.saveSnapshot(snap(3, 1)), 'RAFT_UNAVAILABLE');
          assert.deepEqual(view(await store.load()), { hardState: '0//0', snapshot: 'none', entries: ['1/1', '2/1'] });
        }));
    });

    describe('atomicity', () => {
      test('a rejected batch stores none of its snapshot, entries or hard state', () =>
        withStore(async ({ store }) => {
          await store.save({ hardState: hs(1, '1', 1), entries: ents(1, [1, 1]) }, SYNC);
          const before = view(await store.load());
          await rejectsWith(store.save({ hardState: hs(5, '2', 2), entries: ents(4, [5]) }, SYNC), 'RAFT_UNAVAILABLE');
          await rejectsWith(
            store.save({ hardState: hs(5, '2', 9), snapshot: snap(9, 5), entries: ents(11, [5]) }, SYNC),
            'RAFT_UNAVAILABLE',
          );
          assert.deepEqual(view(await store.load()), before);
        }));

      test('the store accepts valid writes after rejecting one', () =>
        withStore(async ({ store }) => {
          await rejectsWith(store.save({ hardState: hs(1, '1', 0), entries: ents(3, [1]) }, SYNC), 'RAFT_UNAVAILABLE');
          await store.save({ hardState: hs(1, '1', 0), entries: ents(1, [1]) }, SYNC);
          assert.deepEqual(view(await store.load()), { hardState: '1/1/0', snapshot: 'none', entries: ['1/1'] });
        }));

      test('a load called while a save is pending sees all of the batch or none of it', () =>
        withStore(async ({ store }) => {
          await store.save({ hardState: hs(1, '1', 1), entries: ents(1, [1, 1, 1]) }, SYNC);
          const before = view(await store.load());
          const batch: LogBatch = { hardState: hs(2, '2', 3), snapshot: snap(3, 1), entries: ents(3 + 1, [2, 2]) };
          const early = store.load();
          const saved = store.save(batch, SYNC);
          const late = store.load();
          await saved;
          const after = view(await store.load());
          assert.deepEqual(after, { hardState: '2/2/3', snapshot: '3/1', entries: ['4/2', '5/2'] });
          for (const seen of [view(await early), view(await late)]) {
            assert.ok(
              isDeepStrictEqual(seen, before) || isDeepStrictEqual(seen, after),
              `load saw part of a batch: ${JSON.stringify(seen)}`,
            );
          }
        }));
    });

    describe('ordering', () => {
      test('a save called while another is pending is checked against the log the earlier one leaves', () =>
        withStore(async ({ store }) => {
          await Promise.all([
            store.save({ entries: ents(1, [1, 1]) }, SYNC),
            store.save({ entries: ents(3, [1]) }, SYNC),
            store.save({ entries: ents(4, [2, 2]) }, SYNC),
          ]);
          assert.deepEqual(view(await store.load()).entries, ['1/1', '2/1', '3/1', '4/2', '5/2']);
        }));

      test('concurrent saves are applied in call order', () =>
        withStore(async ({ store }) => {
          await Promise.all([
            store.save({ hardState: hs(1, '1', 0), entries: ents(1, [1, 1, 1]) }, SYNC),
            store.save({ hardState: hs(2, '2', 1), entries: ents(2, [2]) }, NO_SYNC),
            store.save({ hardState: hs(3, '3', 2), entries: ents(3, [3, 3]) }, SYNC),
            store.save({ hardState: hs(3, '3', 3), entries: [] }, SYNC),
          ]);
          assert.deepEqual(view(await store.load()), {
            hardState: '3/3/3',
            snapshot: 'none',
            entries: ['1/1', '2/2', '3/3', '4/3'],
          });
        }));

      test('concurrent operations resolve in call order', () =>
        withStore(async ({ store }) => {
          const order: string[] = [];
          const track = (name: string, p: Promise<unknown>): Promise<void> => p.then(() => void order.push(name));
          await Promise.all([
            track('save 1-3', store.save({ entries: ents(1, [1, 1, 1]) }, SYNC)),
            track('saveSnapshot 2', store.saveSnapshot(snap(2, 1))),
            track('compact 2', store.compact(2)),
            track('save 4', store.save({ entries: ents(4, [1]) }, SYNC)),
            track('load', store.load()),
          ]);
          assert.deepEqual(order, ['save 1-3', 'saveSnapshot 2', 'compact 2', 'save 4', 'load']);
        }));
    });

    describe('closed and closing', () => {
      const calls: ReadonlyArray<[string, (store: S) => Promise<unknown>]> = [
        ['load', (s) => s.load()],
        ['save', (s) => s.save({ hardState: hs(2, '1', 1), entries: ents(3, [2]) }, SYNC)],
        ['saveSnapshot', (s) => s.saveSnapshot(snap(1, 1))],
        ['compact', (s) => s.compact(0)],
      ];
      for (const [method, call] of calls) {
        test(`${method} on a closed store rejects with an Error`, () =>
          withStore(async ({ store }) => {
            await store.save({ entries: ents(1, [1, 1]) }, SYNC);
            await store.close();
            await assert.rejects(callWithoutThrowing(() => call(store)), Error);
          }));

        test(`${method} on a closing store rejects with an Error`, () =>
          withStore(async ({ store }) => {
            await store.save({ entries: ents(1, [1, 1]) }, SYNC);
            const closed = store.close();
            await assert.rejects(callWithoutThrowing(() => call(store)), Error);
            await closed;
          }));
      }

      test('close is idempotent: repeated and concurrent calls all resolve', () =>
        withStore(async ({ store }) => {
          await Promise.all([store.close(), store.close()]);
          await store.close();
        }));

      test('operations called before close settle normally before close resolves', () =>
        withStore(async (h) => {
          const order: string[] = [];
          const saved = h.store.save({ hardState: hs(1, '1', 0), entries: ents(1, [1]) }, SYNC).then(() => {
            order.push('save');
          });
          const closed = h.store.close().then(() => {
            order.push('close');
          });
          await Promise.all([saved, closed]);
          assert.deepEqual(order, ['save', 'close']);
          if (reopen !== undefined) {
            h.store = await reopen(h.store);
            assert.deepEqual(view(await h.store.load()), { hardState: '1/1/0', snapshot: 'none', entries: ['1/1'] });
          }
        }));
    });

    if (reopen !== undefined) {
      describe('reopen', () => {
        test('a reopened store loads the hard state, snapshot and entries saved before', () =>
          withStore(async (h) => {
            const entries = ents(1, [1, 1, 2, 2, 2]);
            await h.store.save({ hardState: hs(2, '3', 4), entries }, SYNC);
            const s = snap(3, 2, { voters: ['1', '2', '3'], learners: ['4'] });
            await h.store.saveSnapshot(s);
            h.store = await reopen(h.store);
            const state = await h.store.load();
            assert.deepEqual(hardStateOf(state.hardState), { term: 2, vote: '3', commit: 4 });
            assert.ok(state.snapshot !== undefined);
            assert.deepEqual(snapshotOf(state.snapshot), snapshotOf(s));
            assert.deepEqual(state.entries.map(entryOf), entries.slice(3).map(entryOf));
          }));

        test('a reopened store checks writes against the reloaded log', () =>
          withStore(async (h) => {
            await h.store.save({ entries: ents(1, [1, 1, 1, 1]) }, SYNC);
            await h.store.saveSnapshot(snap(2, 1));
            await h.store.compact(2);
            h.store = await reopen(h.store);
            await rejectsWith(h.store.save({ entries: ents(6, [1]) }, SYNC), 'RAFT_UNAVAILABLE');
            await rejectsWith(h.store.save({ entries: ents(2, [1]) }, SYNC), 'RAFT_COMPACTED');
            await rejectsWith(h.store.saveSnapshot(snap(2, 1)), 'RAFT_SNAPSHOT_OUT_OF_DATE');
            await h.store.save({ entries: ents(4, [2, 2]) }, SYNC);
            assert.deepEqual(view(await h.store.load()).entries, ['3/1', '4/2', '5/2']);
          }));

        test('a rejected batch is absent after reopen', () =>
          withStore(async (h) => {
            await h.store.save({ hardState: hs(1, '1', 1), entries: ents(1, [1]) }, SYNC);
            const gap: LogBatch = { hardState: hs(9, '9', 9), entries: ents(5, [9]) };
            await rejectsWith(h.store.save(gap, SYNC), 'RAFT_UNAVAILABLE');
            h.store = await reopen(h.store);
            assert.deepEqual(view(await h.store.load()), { hardState: '1/1/1', snapshot: 'none', entries: ['1/1'] });
          }));

        test('the handle given to reopen is closed afterwards', () =>
          withStore(async (h) => {
            const old = h.store;
            h.store = await reopen(old);
            await assert.rejects(callWithoutThrowing(() => old.load()), Error);
          }));

        if (storedRange !== undefined) {
          test('entries dropped by compact stay dropped after reopen', () =>
            withStore(async (h) => {
              await h.store.save({ entries: ents(1, [1, 1, 1, 1]) }, SYNC);
              await h.store.saveSnapshot(snap(3, 1));
              await h.store.compact(2);
              h.store = await reopen(h.store);
              assert.deepEqual(await storedRange(h.store), { firstIndex: 3, lastIndex: 4 });
            }));
        }
      });
    }

    describe('against a model', () => {
      test('random valid writes from several seeds load the same as a plain model', async () => {
        for (const seed of [1, 2, 3, 4, 5]) await runModel(seed);
      });
    });
  });

  /**
   * Drives a store with random valid operations and compares it with a
   * deliberately plain model after many of them (and after reopens when the
   * suite can reopen).
   */
  async function runModel(seed: number): Promise<void> {
    const rnd = seededRandom(seed);
    const trail: string[] = [];
    // The model: terms[i] is the term of entry i for every i <= last.
    const terms: Term[] = [0];
    let compacted = 0;
    let snapshot: { index: Index; term: Term } | undefined;
    let hard: HardState = EMPTY_HARD_STATE;
    let term = 1;
    const last = (): Index => terms.length - 1;
    const snapIndex = (): Index => snapshot?.index ?? 0;

    await withStore(async (h) => {
      const check = async (): Promise<void> => {
        const expected = {
          hardState: `${hard.term}/${hard.vote}/${hard.commit}`,
          snapshot: snapshot === undefined ? 'none' : `${snapshot.index}/${snapshot.term}`,
          entries: terms.slice(snapIndex() + 1).map((t, k) => `${snapIndex() + 1 + k}/${t}`),
        };
        const where = `seed ${seed} after: ${trail.slice(-8).join('; ')}`;
        assert.deepEqual(view(await h.store.load()), expected, where);
        if (storedRange !== undefined) {
          assert.deepEqual(await storedRange(h.store), { firstIndex: compacted + 1, lastIndex: last() }, where);
        }
      };

      for (let step = 0; step < 120; step++) {
        const roll = rnd.intn(100);
        if (roll < 55) {
          // Append, sometimes overwriting a suffix above the snapshot.
          if (rnd.intn(4) === 0) term++;
          const back = rnd.intn(Math.min(3, last() - snapIndex()) + 1);
          const first = last() + 1 - back;
          const count = 1 + rnd.intn(3);
          const newTerms = Array.from({ length: count }, () => term);
          const withHard = rnd.intn(2) === 0;
          const nextHard = hs(term, String(rnd.intn(3)), Math.min(first + count - 1, hard.commit + rnd.intn(3)));
          await h.store.save({ entries: ents(first, newTerms), ...(withHard ? { hardState: nextHard } : {}) }, SYNC);
          terms.length = first;
          terms.push(...newTerms);
          if (withHard) hard = nextHard;
          trail.push(`save ${first}..${last()} t${term}${withHard ? ' +hs' : ''}`);
        } else if (roll < 70) {
          if (last() <= snapIndex()) continue;
          const i = snapIndex() + 1 + rnd.intn(last() - snapIndex());
          await h.store.saveSnapshot(snap(i, terms[i]));
          snapshot = { index: i, term: terms[i] };
          trail.push(`saveSnapshot ${i}/${terms[i]}`);
        } else if (roll < 82) {
          const i = rnd.intn(snapIndex() + 1);
          await h.store.compact(i);
          compacted = Math.max(compacted, i);
          trail.push(`compact ${i}`);
        } else if (roll < 92) {
          // A snapshot from a leader: ahead of the log, or inside it with the same or another term.
          const i = snapIndex() + 1 + rnd.intn(last() - snapIndex() + 3);
          const held = i <= last() && i > compacted;
          const t = held && rnd.intn(2) === 0 ? terms[i] : ++term;
          const after = rnd.intn(3);
          const following = ents(i + 1, Array.from({ length: after }, () => t));
          await h.store.save({ snapshot: snap(i, t), entries: following }, SYNC);
          if (!(held && terms[i] === t)) terms.length = i + 1;
          terms[i] = t;
          if (after > 0) {
            terms.length = i + 1;
            for (let k = 0; k < after; k++) terms.push(t);
          }
          snapshot = { index: i, term: t };
          compacted = i;
          trail.push(`save snapshot ${i}/${t} +${after}`);
        } else if (reopen !== undefined) {
          h.store = await reopen(h.store);
          trail.push('reopen');
        }
        if (rnd.intn(4) === 0) await check();
      }
      await check();
    });
  }
}

const SYNC = { sync: true } as const;
const NO_SYNC = { sync: false } as const;

/** Entries `from, from+1, ...` with the given terms; each one's data encodes its index and term. */
function ents(from: Index, terms: readonly Term[]): Entry[] {
  return terms.map((term, k) => ({ index: from + k, term, type: EntryType.Normal, data: bytes(from + k, term) }));
}

/** A snapshot at `index`/`term` whose data encodes both. */
function snap(index: Index, term: Term, confState = { voters: ['1', '2', '3'], learners: [] as string[] }): Snapshot {
  return { data: bytes(index, term, 8), metadata: { index, term, confState } };
}

function hs(term: Term, vote: string, commit: Index): HardState {
  return { term, vote, commit };
}

function bytes(index: Index, term: Term, length = 4): Uint8Array {
  const out = new Uint8Array(length);
  for (let k = 0; k < length; k++) out[k] = (index * 31 + term * 7 + k) & 0xff;
  return out;
}

/** A loaded state as short strings (`index/term`, `term/vote/commit`), so failures read well. */
function view(s: PersistedState): { hardState: string; snapshot: string; entries: string[] } {
  return {
    hardState: `${s.hardState.term}/${s.hardState.vote}/${s.hardState.commit}`,
    snapshot: s.snapshot === undefined ? 'none' : `${s.snapshot.metadata.index}/${s.snapshot.metadata.term}`,
    entries: s.entries.map((e) => `${e.index}/${e.term}`),
  };
}

function hardStateOf(h: HardState): HardState {
  return { term: h.term, vote: h.vote, commit: h.commit };
}

/** An entry as plain values: a durable store may hand back a Buffer or extra fields, which is fine. */
function entryOf(e: Entry): { index: Index; term: Term; type: EntryType; data: number[] } {
  assert.ok(e.data instanceof Uint8Array, `entry ${e.index} data is not a Uint8Array`);
  return { index: e.index, term: e.term, type: e.type, data: Array.from(e.data) };
}

function snapshotOf(s: Snapshot): unknown {
  assert.ok(s.data instanceof Uint8Array, 'snapshot data is not a Uint8Array');
  const { index, term, confState } = s.metadata;
  return {
    index,
    term,
    voters: [...confState.voters],
    learners: [...confState.learners],
    data: Array.from(s.data),
  };
}

async function rejectsWith(p: Promise<unknown>, code: RaftErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    const got = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    assert.ok(isRaftError(e, code), `expected a RaftError ${code}, got ${got}`);
    return true;
  });
}

/** Calls `fn`, failing if it throws synchronously instead of returning a rejected promise. */
function callWithoutThrowing(fn: () => Promise<unknown>): Promise<unknown> {
  let p: Promise<unknown>;
  try {
    p = fn();
  } catch (e) {
    assert.fail(`threw synchronously instead of rejecting: ${String(e)}`);
  }
  assert.ok(p instanceof Promise || typeof (p as { then?: unknown }).then === 'function', 'did not return a promise');
  return p;
}
