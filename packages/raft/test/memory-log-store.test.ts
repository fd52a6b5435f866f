// MemoryLogStore (node/memory-log-store.ts): the shared LogStore contract,
// then what is particular to the memory store: it settles on a later turn,
// shows each write to onWrite, and outlives the node that used it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { InvariantError, isRaftError } from '../src/errors.ts';
import type { LogBatch } from '../src/node/log-store.ts';
import { MemoryLogStore } from '../src/node/memory-log-store.ts';
import { logStoreContract } from '../src/testing/contracts/log-store-contract.ts';
import { EntryType, type Entry, type Index, type Snapshot, type Term } from '../src/types.ts';

logStoreContract({
  test,
  describe,
  name: 'LogStore contract (MemoryLogStore)',
  factory: async () => new MemoryLogStore(),
  reopen: (store) => store.reopen(),
  storedRange: (store) => {
    const { firstIndex, lastIndex } = store.inspect();
    return { firstIndex, lastIndex };
  },
});

function ents(from: Index, terms: readonly Term[]): Entry[] {
  return terms.map((term, k) => ({ index: from + k, term, type: EntryType.Normal, data: new Uint8Array([from + k]) }));
}

/** A snapshot at `index`/`term` over a one-voter membership. */
function snapAt(index: Index, term: Term, data = new Uint8Array(0)): Snapshot {
  return { data, metadata: { index, term, confState: { voters: ['1'], learners: [] } } };
}

const SYNC = { sync: true };

describe('MemoryLogStore', () => {
  test('no method settles on the turn it is called', async () => {
    const store = new MemoryLogStore();
    const settled: string[] = [];
    const calls: Array<[string, Promise<unknown>]> = [
      ['save', store.save({ entries: ents(1, [1, 1]) }, SYNC)],
      ['saveSnapshot', store.saveSnapshot(snapAt(1, 1))],
      ['compact', store.compact(1)],
      ['load', store.load()],
      ['close', store.close()],
    ];
    for (const [name, p] of calls) void p.then(() => settled.push(name));
    // Drain every microtask queued so far: a promise that settled "synchronously" would show here.
    await Promise.resolve();
    await Promise.resolve();
    assert.deepEqual(settled, []);
    await Promise.all(calls.map(([, p]) => p));
    assert.deepEqual(settled, ['save', 'saveSnapshot', 'compact', 'load', 'close']);
  });

  test('a write is not visible in inspect() until its turn has come', async () => {
    const store = new MemoryLogStore();
    const saved = store.save({ hardState: { term: 1, vote: '1', commit: 0 }, entries: ents(1, [1]) }, SYNC);
    assert.equal(store.inspect().entryCount, 0);
    await saved;
    assert.deepEqual(store.inspect(), {
      entryCount: 1,
      firstIndex: 1,
      lastIndex: 1,
      snapshotIndex: 0,
      hardState: { term: 1, vote: '1', commit: 0 },
    });
  });

  test('a rejection on a closed store comes on a later turn and names the method', async () => {
    const store = new MemoryLogStore();
    await store.close();
    let rejected = false;
    const p = store.save({ entries: [] }, SYNC).catch((e: unknown) => {
      rejected = true;
      throw e;
    });
    await Promise.resolve();
    assert.equal(rejected, false);
    await assert.rejects(p, { message: 'MemoryLogStore is closed: save() was called after close()' });
  });

  test('status goes open, closing, closed', async () => {
    const store = new MemoryLogStore();
    assert.equal(store.status, 'open');
    const closed = store.close();
    assert.equal(store.status, 'closing');
    await closed;
    assert.equal(store.status, 'closed');
  });

  test('onWrite sees each batch once, with its sync flag, in call order', async () => {
    const seen: Array<{ batch: LogBatch; sync: boolean }> = [];
    const store = new MemoryLogStore({ onWrite: (batch, opts) => seen.push({ batch, sync: opts.sync }) });
    const a: LogBatch = { hardState: { term: 1, vote: '1', commit: 0 }, entries: ents(1, [1, 1]) };
    const b: LogBatch = { entries: ents(3, [1]) };
    await Promise.all([store.save(a, { sync: true }), store.save(b, { sync: false })]);
    await store.saveSnapshot(snapAt(2, 1));
    await store.compact(2);
    assert.deepEqual(
      seen.map((w) => ({
        indexes: w.batch.entries.map((e) => e.index),
        hard: w.batch.hardState !== undefined,
        sync: w.sync,
      })),
      [
        { indexes: [1, 2], hard: true, sync: true },
        { indexes: [3], hard: false, sync: false },
      ],
    );
  });

  test('onWrite is not called for a batch that fails validation', async () => {
    let writes = 0;
    const store = new MemoryLogStore({ onWrite: () => void writes++ });
    await assert.rejects(store.save({ entries: ents(2, [1]) }, SYNC), (e: unknown) =>
      isRaftError(e, 'RAFT_UNAVAILABLE'),
    );
    assert.equal(writes, 0);
  });

  test('a throwing onWrite fails that save, stores none of it, and leaves the store usable', async () => {
    let failNext = true;
    const store = new MemoryLogStore({
      onWrite: () => {
        if (failNext) {
          failNext = false;
          throw new Error('disk full');
        }
      },
    });
    const batch: LogBatch = { hardState: { term: 1, vote: '1', commit: 0 }, entries: ents(1, [1]) };
    await assert.rejects(store.save(batch, SYNC), { message: 'disk full' });
    assert.deepEqual(await store.load(), { hardState: { term: 0, vote: '', commit: 0 }, entries: [] });
    await store.save({ entries: ents(1, [1]) }, SYNC);
    assert.equal((await store.load()).entries.length, 1);
  });

  test('save copies the entries array, so the caller may reuse it once save has returned', async () => {
    const store = new MemoryLogStore();
    const entries = ents(1, [1, 1]);
    const saved = store.save({ entries }, SYNC);
    entries.length = 0;
    await saved;
    assert.equal(store.inspect().lastIndex, 2);
  });

  test('compact with an index that is not a non-negative integer rejects with InvariantError', async () => {
    const store = new MemoryLogStore();
    await assert.rejects(store.compact(-1), InvariantError);
    await assert.rejects(store.compact(1.5), InvariantError);
  });

  test('the store survives a crash: a new node loading the same instance gets what was saved', async () => {
    const store = new MemoryLogStore();
    // Node A writes, then "crashes": it is dropped without closing the store.
    await store.save({ hardState: { term: 2, vote: 'a', commit: 2 }, entries: ents(1, [1, 2, 2]) }, SYNC);
    await store.saveSnapshot(snapAt(2, 2, Uint8Array.of(9)));
    // Node B starts on the same store.
    const state = await store.load();
    assert.deepEqual(state.hardState, { term: 2, vote: 'a', commit: 2 });
    assert.equal(state.snapshot?.metadata.index, 2);
    assert.deepEqual(state.entries.map((e) => e.index), [3]);
    await store.save({ entries: ents(4, [3]) }, SYNC);
    assert.equal(store.inspect().lastIndex, 4);
  });

  test('writes called before a crash are applied even if the crashed node never saw them resolve', async () => {
    const store = new MemoryLogStore();
    void store.save({ hardState: { term: 1, vote: 'a', commit: 0 }, entries: ents(1, [1]) }, SYNC);
    const next = await store.reopen();
    assert.deepEqual((await next.load()).entries.map((e) => e.index), [1]);
  });

  test('only the newest handle may reopen the data', async () => {
    const first = new MemoryLogStore();
    const second = await first.reopen();
    await assert.rejects(first.reopen(), { message: /already reopened/ });
    const third = await second.reopen();
    assert.equal(third.status, 'open');
    assert.equal(second.status, 'closed');
    await third.close();
  });

  test('inspect still answers after close', async () => {
    const store = new MemoryLogStore();
    await store.save({ entries: ents(1, [1, 1, 1]) }, SYNC);
    await store.saveSnapshot(snapAt(2, 1));
    await store.compact(1);
    await store.close();
    assert.deepEqual(store.inspect(), {
      entryCount: 2,
      firstIndex: 2,
      lastIndex: 3,
      snapshotIndex: 2,
      hardState: { term: 0, vote: '', commit: 0 },
    });
  });
});
