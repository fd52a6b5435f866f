// MemoryStorage (storage.ts): the in-memory Storage and the write side a
// driver uses. Each test states one edge of the contract: which indexes are
// answerable, which error code an unanswerable one gets, and how appends that
// overlap the stored log behave.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { InvariantError, RaftError, isRaftError } from '../src/errors.ts';
import { MemoryStorage } from '../src/storage.ts';
import { ENTRY_OVERHEAD_BYTES, EntryType, type Entry } from '../src/types.ts';

/** Entries `from, from+1, ...` with the given terms, each carrying `size` bytes of payload. */
function ents(from: number, terms: number[], size = 0): Entry[] {
  return terms.map((term, i) => ({ term, index: from + i, type: EntryType.Normal, data: new Uint8Array(size) }));
}

/** index/term pairs, so failures read well. */
function ids(es: readonly Entry[]): string[] {
  return es.map((e) => `${e.index}/${e.term}`);
}

/** A storage holding a snapshot at 3 (term 3) then entries 4/4 and 5/5 (etcd's classic fixture shape). */
function compactedAt3(): MemoryStorage {
  const s = new MemoryStorage({ voters: ['1'], learners: [] });
  s.append(ents(1, [1, 2, 3, 4, 5]));
  s.compact(3);
  return s;
}

function throwsCode(fn: () => unknown, code: RaftError['code']): void {
  assert.throws(fn, (e: unknown) => isRaftError(e, code), `expected ${code}`);
}

describe('MemoryStorage reads', () => {
  test('an empty storage has first index 1, last index 0, and term 0 at index 0', () => {
    const s = new MemoryStorage();
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    assert.equal(s.term(0), 0);
    assert.deepEqual(s.entries(1, 1), []);
  });

  test('initialState returns the hard state set and the membership given at construction', () => {
    const s = new MemoryStorage({ voters: ['1', '2'], learners: ['3'] });
    s.setHardState({ term: 4, vote: '2', commit: 0 });
    assert.deepEqual(s.initialState(), {
      hardState: { term: 4, vote: '2', commit: 0 },
      confState: { voters: ['1', '2'], learners: ['3'] },
    });
  });

  test('term answers for the snapshot index through the last index', () => {
    const s = compactedAt3();
    assert.equal(s.firstIndex(), 4);
    assert.equal(s.lastIndex(), 5);
    assert.equal(s.term(3), 3);
    assert.equal(s.term(4), 4);
    assert.equal(s.term(5), 5);
  });

  test('term of an index before the snapshot index is RAFT_COMPACTED', () => {
    throwsCode(() => compactedAt3().term(2), 'RAFT_COMPACTED');
  });

  test('term of an index after the last index is RAFT_UNAVAILABLE', () => {
    throwsCode(() => compactedAt3().term(6), 'RAFT_UNAVAILABLE');
  });

  test('entries at or before the snapshot index are RAFT_COMPACTED', () => {
    throwsCode(() => compactedAt3().entries(2, 5), 'RAFT_COMPACTED');
    throwsCode(() => compactedAt3().entries(3, 5), 'RAFT_COMPACTED');
  });

  test('entries past the last index are RAFT_UNAVAILABLE', () => {
    throwsCode(() => compactedAt3().entries(4, 7), 'RAFT_UNAVAILABLE');
  });

  test('entries returns [lo, hi) when in range', () => {
    assert.deepEqual(ids(compactedAt3().entries(4, 6)), ['4/4', '5/5']);
    assert.deepEqual(ids(compactedAt3().entries(4, 5)), ['4/4']);
    assert.deepEqual(compactedAt3().entries(5, 5), []);
  });

  const perEntry = 10 + ENTRY_OVERHEAD_BYTES;
  const sizeCases: { name: string; max: number; want: number }[] = [
    { name: 'returns one entry even when it alone is over the limit', max: 0, want: 1 },
    { name: 'returns one entry when the limit is just under two', max: 2 * perEntry - 1, want: 1 },
    { name: 'returns two entries when the limit is exactly two', max: 2 * perEntry, want: 2 },
    { name: 'returns all entries under a large limit', max: 100 * perEntry, want: 4 },
  ];
  for (const c of sizeCases) {
    test(`entries with a byte limit ${c.name}`, () => {
      const s = new MemoryStorage();
      s.append(ents(1, [1, 1, 1, 1], 10));
      assert.equal(s.entries(1, 5, c.max).length, c.want);
    });
  }

  test('entries returns a fresh array each time', () => {
    const s = new MemoryStorage();
    s.append(ents(1, [1, 1]));
    const a = s.entries(1, 3);
    a.length = 0;
    assert.equal(s.entries(1, 3).length, 2);
  });
});

describe('MemoryStorage.compact', () => {
  test('keeps the compact index as the dummy entry, answerable by term', () => {
    const s = new MemoryStorage();
    s.append(ents(1, [1, 1, 2, 2, 3]));
    s.compact(4);
    assert.equal(s.firstIndex(), 5);
    assert.equal(s.lastIndex(), 5);
    assert.equal(s.term(4), 2);
    assert.deepEqual(ids(s.entries(5, 6)), ['5/3']);
  });

  test('compacting at or below the current dummy is RAFT_COMPACTED', () => {
    const s = compactedAt3();
    throwsCode(() => s.compact(3), 'RAFT_COMPACTED');
    throwsCode(() => s.compact(2), 'RAFT_COMPACTED');
  });

  test('compacting past the last index is an InvariantError', () => {
    assert.throws(() => compactedAt3().compact(6), InvariantError);
  });

  test('compacting to the last index leaves an empty log after it', () => {
    const s = compactedAt3();
    s.compact(5);
    assert.equal(s.firstIndex(), 6);
    assert.equal(s.lastIndex(), 5);
    assert.equal(s.term(5), 5);
  });
});

describe('MemoryStorage snapshots', () => {
  const cs = { voters: ['1', '2', '3'], learners: [] };

  test('createSnapshot records index, term and membership, and leaves the log alone', () => {
    const s = compactedAt3();
    const snap = s.createSnapshot(4, cs, new Uint8Array([7]));
    assert.deepEqual(snap.metadata, { index: 4, term: 4, confState: cs });
    assert.deepEqual([...snap.data], [7]);
    assert.equal(s.snapshot(), snap);
    assert.equal(s.firstIndex(), 4);
    assert.equal(s.lastIndex(), 5);
  });

  test('createSnapshot at or before the current snapshot is RAFT_SNAPSHOT_OUT_OF_DATE', () => {
    const s = compactedAt3();
    s.createSnapshot(4, cs, new Uint8Array());
    throwsCode(() => s.createSnapshot(4, cs, new Uint8Array()), 'RAFT_SNAPSHOT_OUT_OF_DATE');
    throwsCode(() => s.createSnapshot(3, cs, new Uint8Array()), 'RAFT_SNAPSHOT_OUT_OF_DATE');
  });

  test('createSnapshot past the last index is an InvariantError', () => {
    assert.throws(() => compactedAt3().createSnapshot(6, cs, new Uint8Array()), InvariantError);
  });

  test('createSnapshot at an index compacted away (without a snapshot) is RAFT_COMPACTED', () => {
    const s = new MemoryStorage();
    s.append(ents(1, [1, 1, 1, 1, 1]));
    s.compact(4);
    throwsCode(() => s.createSnapshot(2, cs, new Uint8Array()), 'RAFT_COMPACTED');
    assert.equal(s.snapshot().metadata.index, 0, 'nothing changed');
    assert.equal(s.createSnapshot(4, cs, new Uint8Array()).metadata.term, 1, 'the dummy entry itself is fine');
  });

  test('applySnapshot replaces the whole log with the snapshot position', () => {
    const s = compactedAt3();
    s.applySnapshot({ data: new Uint8Array(), metadata: { index: 10, term: 6, confState: cs } });
    assert.equal(s.firstIndex(), 11);
    assert.equal(s.lastIndex(), 10);
    assert.equal(s.term(10), 6);
    throwsCode(() => s.term(9), 'RAFT_COMPACTED');
    assert.deepEqual(s.initialState().confState, cs);
  });

  test('applySnapshot of a snapshot not newer than the current one is RAFT_SNAPSHOT_OUT_OF_DATE, and changes nothing', () => {
    const s = new MemoryStorage();
    s.applySnapshot({ data: new Uint8Array(), metadata: { index: 5, term: 2, confState: cs } });
    throwsCode(
      () => s.applySnapshot({ data: new Uint8Array(), metadata: { index: 5, term: 3, confState: cs } }),
      'RAFT_SNAPSHOT_OUT_OF_DATE',
    );
    throwsCode(
      () => s.applySnapshot({ data: new Uint8Array(), metadata: { index: 4, term: 2, confState: cs } }),
      'RAFT_SNAPSHOT_OUT_OF_DATE',
    );
    assert.equal(s.term(5), 2);
    assert.equal(s.lastIndex(), 5);
  });

  test('entries appended after an applied snapshot continue from it', () => {
    const s = new MemoryStorage();
    s.applySnapshot({ data: new Uint8Array(), metadata: { index: 5, term: 2, confState: cs } });
    s.append(ents(6, [3, 3]));
    assert.deepEqual(ids(s.entries(6, 8)), ['6/3', '7/3']);
  });
});

describe('MemoryStorage.append', () => {
  // Storage holds 3/3 (dummy), 4/4, 5/5. Each case appends and checks the result.
  const cases: { name: string; append: Entry[]; want: string[] }[] = [
    { name: 'rewrites identical entries in place', append: ents(3, [3, 4, 5]), want: ['4/4', '5/5'] },
    { name: 'truncates a conflicting suffix and appends', append: ents(3, [3, 6, 6]), want: ['4/6', '5/6'] },
    { name: 'overwrites the tail and extends', append: ents(3, [3, 4, 5, 5]), want: ['4/4', '5/5', '6/5'] },
    { name: 'ignores the already-compacted part of an overlapping append', append: ents(2, [3, 3, 5]), want: ['4/5'] },
    { name: 'truncates from the first appended index', append: ents(4, [5]), want: ['4/5'] },
    { name: 'appends right after the last index', append: ents(6, [5]), want: ['4/4', '5/5', '6/5'] },
    { name: 'ignores an append entirely before the first index', append: ents(1, [1, 2]), want: ['4/4', '5/5'] },
    { name: 'does nothing for an empty append', append: [], want: ['4/4', '5/5'] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const s = compactedAt3();
      s.append(c.append);
      assert.deepEqual(ids(s.entries(s.firstIndex(), s.lastIndex() + 1)), c.want);
    });
  }

  test('an append that would leave a gap is an InvariantError', () => {
    assert.throws(() => compactedAt3().append(ents(7, [5])), InvariantError);
  });

  test('an append does not change arrays returned earlier by entries', () => {
    const s = compactedAt3();
    const before = s.entries(4, 6);
    s.append(ents(4, [9]));
    assert.deepEqual(ids(before), ['4/4', '5/5']);
  });
});
