// RaftLog (log/raft-log.ts) and its Unstable tail (log/unstable.ts): how a
// follower takes a leader's entries (maybeAppend, findConflict), how it hints
// the leader back (findConflictByTerm), the election restriction
// (isUpToDate), the commit rule (maybeCommit), size-limited slices, and how
// persisted entries leave the unstable tail.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { InvariantError, RaftError, isRaftError } from '../src/errors.ts';
import { RaftLog } from '../src/log/raft-log.ts';
import { Unstable } from '../src/log/unstable.ts';
import { MemoryStorage } from '../src/storage.ts';
import { ENTRY_OVERHEAD_BYTES, EntryType, type Entry, type Snapshot } from '../src/types.ts';

/** Entries `from, from+1, ...` with the given terms, each carrying `size` bytes of payload. */
function ents(from: number, terms: number[], size = 0): Entry[] {
  return terms.map((term, i) => ({ term, index: from + i, type: EntryType.Normal, data: new Uint8Array(size) }));
}

function ids(es: readonly Entry[]): string[] {
  return es.map((e) => `${e.index}/${e.term}`);
}

/** A log whose storage holds entries with `stable` terms from index 1, with `unstable` terms appended after. */
function logOf(stable: number[], unstable: number[] = [], size = 0): RaftLog {
  const s = new MemoryStorage();
  s.append(ents(1, stable, size));
  const log = new RaftLog(s, Infinity);
  if (unstable.length > 0) log.append(ents(stable.length + 1, unstable, size));
  return log;
}

function snapshotAt(index: number, term: number): Snapshot {
  return { data: new Uint8Array(), metadata: { index, term, confState: { voters: ['1'], learners: [] } } };
}

function throwsCode(fn: () => unknown, code: RaftError['code']): void {
  assert.throws(fn, (e: unknown) => isRaftError(e, code), `expected ${code}`);
}

describe('RaftLog.maybeAppend', () => {
  // The log is 1/1 2/2 3/3 with committed = 1.
  const cases: {
    name: string;
    index: number;
    logTerm: number;
    commit: number;
    ents: Entry[];
    want: number | undefined;
    wantLog: string[];
    wantCommit: number;
  }[] = [
    { name: 'refuses when the previous entry has another term', index: 3, logTerm: 2, commit: 3, ents: ents(4, [4]), want: undefined, wantLog: ['1/1', '2/2', '3/3'], wantCommit: 1 },
    { name: 'refuses when the previous entry is past the end of the log', index: 4, logTerm: 4, commit: 3, ents: ents(5, [4]), want: undefined, wantLog: ['1/1', '2/2', '3/3'], wantCommit: 1 },
    { name: 'accepts a heartbeat-like append with no entries, committing up to its index', index: 3, logTerm: 3, commit: 3, ents: [], want: 3, wantLog: ['1/1', '2/2', '3/3'], wantCommit: 3 },
    { name: 'commits no further than the last new entry even when the leader committed more', index: 2, logTerm: 2, commit: 9, ents: [], want: 2, wantLog: ['1/1', '2/2', '3/3'], wantCommit: 2 },
    { name: 'commits only what the leader committed', index: 3, logTerm: 3, commit: 2, ents: ents(4, [3, 3]), want: 5, wantLog: ['1/1', '2/2', '3/3', '4/3', '5/3'], wantCommit: 2 },
    { name: 'appends new entries after the end', index: 3, logTerm: 3, commit: 5, ents: ents(4, [4, 4]), want: 5, wantLog: ['1/1', '2/2', '3/3', '4/4', '5/4'], wantCommit: 5 },
    { name: 'truncates a conflicting suffix and appends', index: 1, logTerm: 1, commit: 3, ents: ents(2, [4, 4]), want: 3, wantLog: ['1/1', '2/4', '3/4'], wantCommit: 3 },
    { name: 'truncates from the conflict only, keeping matching entries before it', index: 1, logTerm: 1, commit: 1, ents: ents(2, [2, 4, 4]), want: 4, wantLog: ['1/1', '2/2', '3/4', '4/4'], wantCommit: 1 },
    { name: 'does not truncate matching entries it already has (a late, shorter append)', index: 1, logTerm: 1, commit: 2, ents: ents(2, [2]), want: 2, wantLog: ['1/1', '2/2', '3/3'], wantCommit: 2 },
    { name: 'never lowers the commit index', index: 1, logTerm: 1, commit: 0, ents: ents(2, [2]), want: 2, wantLog: ['1/1', '2/2', '3/3'], wantCommit: 1 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const log = logOf([1, 2, 3]);
      log.commitTo(1);
      assert.equal(log.maybeAppend(c.index, c.logTerm, c.commit, c.ents), c.want);
      assert.deepEqual(ids(log.allEntries()), c.wantLog);
      assert.equal(log.committed, c.wantCommit);
    });
  }

  test('throws InvariantError when a leader\'s entry conflicts with a committed one', () => {
    const log = logOf([1, 2, 3]);
    log.commitTo(2);
    assert.throws(() => log.maybeAppend(1, 1, 3, ents(2, [4])), InvariantError);
  });
});

describe('RaftLog.findConflict', () => {
  // The log is 1/1 2/2 3/3.
  const cases: { name: string; ents: Entry[]; want: number }[] = [
    { name: 'returns 0 for no entries', ents: [], want: 0 },
    { name: 'returns 0 when every entry is already present', ents: ents(1, [1, 2, 3]), want: 0 },
    { name: 'returns 0 for a present suffix', ents: ents(2, [2, 3]), want: 0 },
    { name: 'returns the first new index when entries extend the log', ents: ents(2, [2, 3, 4, 4]), want: 4 },
    { name: 'returns the first new index for entries right after the end', ents: ents(4, [4]), want: 4 },
    { name: 'returns the first index whose term differs', ents: ents(1, [1, 4, 4]), want: 2 },
    { name: 'returns the first entry when it already differs', ents: ents(3, [4, 4]), want: 3 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(logOf([1, 2, 3]).findConflict(c.ents), c.want);
    });
  }
});

describe('RaftLog.findConflictByTerm', () => {
  // The log is 1/1 2/1 3/2 4/2 5/4 6/4 (index/term).
  const terms = [1, 1, 2, 2, 4, 4];
  const cases: { name: string; index: number; term: number; want: { index: number; term: number } }[] = [
    { name: 'returns the index itself when its term is low enough', index: 6, term: 4, want: { index: 6, term: 4 } },
    { name: 'skips back over every entry of a higher term', index: 6, term: 3, want: { index: 4, term: 2 } },
    { name: 'skips back to the last entry of a lower term', index: 6, term: 1, want: { index: 2, term: 1 } },
    { name: 'returns index 0 when every entry has a higher term', index: 6, term: 0, want: { index: 0, term: 0 } },
    { name: 'starts from the given index, not the end of the log', index: 3, term: 5, want: { index: 3, term: 2 } },
    { name: 'returns the index with term 0 when it is past the end of the log', index: 9, term: 5, want: { index: 9, term: 0 } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(logOf(terms).findConflictByTerm(c.index, c.term), c.want);
    });
  }

  test('returns the first compacted index with term 0, leaving the probe to the leader', () => {
    const s = new MemoryStorage();
    s.append(ents(1, [1, 1, 2, 2, 4, 4]));
    s.compact(3);
    const log = new RaftLog(s, Infinity);
    assert.deepEqual(log.findConflictByTerm(6, 2), { index: 4, term: 2 });
    assert.deepEqual(log.findConflictByTerm(6, 1), { index: 2, term: 0 }, 'the dummy at 3 has term 2 > 1, 2 is compacted');
  });
});

describe('RaftLog.isUpToDate', () => {
  // The log's last entry is 3/2.
  const cases: { name: string; lasti: number; term: number; want: boolean }[] = [
    { name: 'a higher last term wins even with a shorter log', lasti: 1, term: 3, want: true },
    { name: 'a higher last term wins with a longer log', lasti: 9, term: 3, want: true },
    { name: 'a lower last term loses even with a longer log', lasti: 9, term: 1, want: false },
    { name: 'the same last term and a longer log wins', lasti: 4, term: 2, want: true },
    { name: 'the same last term and the same length wins', lasti: 3, term: 2, want: true },
    { name: 'the same last term and a shorter log loses', lasti: 2, term: 2, want: false },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(logOf([1, 2, 2]).isUpToDate(c.lasti, c.term), c.want);
    });
  }
});

describe('RaftLog.maybeCommit', () => {
  test('commits an index whose entry is from the given (current) term', () => {
    const log = logOf([1, 2, 3, 3]);
    assert.equal(log.maybeCommit(3, 3), true);
    assert.equal(log.committed, 3);
  });

  test('does not commit an index whose entry is from an older term, whatever the count', () => {
    const log = logOf([1, 2, 3, 3]);
    assert.equal(log.maybeCommit(2, 3), false);
    assert.equal(log.committed, 0);
  });

  test('committing a current-term entry commits the older entries before it', () => {
    const log = logOf([1, 2, 3]);
    assert.equal(log.maybeCommit(3, 3), true);
    assert.deepEqual(ids(log.nextCommittedEnts()), ['1/1', '2/2', '3/3']);
  });

  test('never moves the commit index backwards', () => {
    const log = logOf([1, 3, 3]);
    log.commitTo(3);
    assert.equal(log.maybeCommit(2, 3), false);
    assert.equal(log.committed, 3);
  });

  test('does not commit past the end of the log', () => {
    const log = logOf([1, 3]);
    assert.equal(log.maybeCommit(5, 3), false);
    assert.equal(log.committed, 0);
  });

  test('commitTo past the last index is an InvariantError', () => {
    assert.throws(() => logOf([1, 1]).commitTo(3), InvariantError);
  });
});

describe('RaftLog terms and bounds', () => {
  function compacted(): RaftLog {
    const s = new MemoryStorage();
    s.append(ents(1, [1, 2, 3, 4]));
    s.compact(2);
    const log = new RaftLog(s, Infinity);
    log.append(ents(5, [5]));
    return log;
  }

  test('starts with committed and applied at the snapshot index', () => {
    const log = compacted();
    assert.equal(log.firstIndex(), 3);
    assert.equal(log.committed, 2);
    assert.equal(log.applied, 2);
  });

  test('answers term for the dummy entry, stable entries and unstable entries', () => {
    const log = compacted();
    assert.deepEqual([2, 3, 4, 5].map((i) => log.term(i)), [2, 3, 4, 5]);
    assert.equal(log.lastIndex(), 5);
    assert.equal(log.lastTerm(), 5);
  });

  test('term before the dummy entry is RAFT_COMPACTED, after the last is RAFT_UNAVAILABLE', () => {
    throwsCode(() => compacted().term(1), 'RAFT_COMPACTED');
    throwsCode(() => compacted().term(6), 'RAFT_UNAVAILABLE');
    assert.equal(compacted().termOrZero(1), 0);
    assert.equal(compacted().termOrZero(6), 0);
  });

  test('slice from a compacted index is RAFT_COMPACTED', () => {
    throwsCode(() => compacted().slice(2, 4), 'RAFT_COMPACTED');
  });

  test('slice past the last index is an InvariantError', () => {
    assert.throws(() => compacted().slice(3, 7), InvariantError);
  });

  test('appending at or below the commit index is an InvariantError', () => {
    const log = logOf([1, 1, 1]);
    log.commitTo(2);
    assert.throws(() => log.append(ents(2, [2])), InvariantError);
    assert.equal(log.append(ents(3, [2])), 3, 'right after the commit index is fine');
    assert.deepEqual(ids(log.allEntries()), ['1/1', '2/1', '3/2']);
  });
});

describe('RaftLog.slice size limits', () => {
  const per = 10 + ENTRY_OVERHEAD_BYTES;
  // Entries 1..3 are stable, 4..6 unstable, each `per` bytes.
  const cases: { name: string; lo: number; hi: number; max: number; want: string[] }[] = [
    { name: 'returns everything with no limit, across stable and unstable', lo: 1, hi: 7, max: Infinity, want: ['1/1', '2/1', '3/1', '4/2', '5/2', '6/2'] },
    { name: 'returns at least one entry under a zero limit (stable)', lo: 2, hi: 7, max: 0, want: ['2/1'] },
    { name: 'returns at least one entry under a zero limit (unstable)', lo: 5, hi: 7, max: 0, want: ['5/2'] },
    { name: 'stops inside the stable part', lo: 1, hi: 7, max: 2 * per, want: ['1/1', '2/1'] },
    { name: 'stops at the boundary when the limit fits the stable part exactly', lo: 1, hi: 7, max: 3 * per, want: ['1/1', '2/1', '3/1'] },
    { name: 'counts stable bytes when continuing into the unstable part', lo: 2, hi: 7, max: 3 * per + per / 2, want: ['2/1', '3/1', '4/2'] },
    { name: 'stops inside the unstable part', lo: 4, hi: 7, max: 2 * per, want: ['4/2', '5/2'] },
    { name: 'returns nothing for an empty range', lo: 4, hi: 4, max: 0, want: [] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(ids(logOf([1, 1, 1], [2, 2, 2], 10).slice(c.lo, c.hi, c.max)), c.want);
    });
  }

  test('entries applies both the byte and the count limit', () => {
    const log = logOf([1, 1, 1], [2, 2, 2], 10);
    assert.deepEqual(ids(log.entries(2, Infinity, 2)), ['2/1', '3/1']);
    assert.deepEqual(ids(log.entries(2, per, 4)), ['2/1']);
    assert.deepEqual(log.entries(7, Infinity), []);
  });

  test('nextCommittedEnts hands out at least one entry under maxApplyingBytes, then the rest', () => {
    const s = new MemoryStorage();
    s.append(ents(1, [1, 1, 1], 10));
    const log = new RaftLog(s, 1);
    log.commitTo(3);
    assert.deepEqual(ids(log.nextCommittedEnts()), ['1/1']);
    log.appliedTo(1);
    assert.deepEqual(ids(log.nextCommittedEnts()), ['2/1']);
    log.appliedTo(3);
    assert.deepEqual(log.nextCommittedEnts(), []);
    assert.equal(log.hasNextCommittedEnts(), false);
  });

  test('a slice spanning stable and unstable entries works with a storage that returns frozen arrays', () => {
    // Storage's contract: the core never mutates the arrays it returns.
    class FrozenStorage extends MemoryStorage {
      override entries(lo: number, hi: number, max?: number): Entry[] {
        return Object.freeze(super.entries(lo, hi, max)) as Entry[];
      }
    }
    const storage = new FrozenStorage();
    storage.append(ents(1, [1, 1, 1]));
    const log = new RaftLog(storage, Infinity);
    log.append(ents(4, [1, 1]));
    assert.deepEqual(ids(log.slice(1, 6)), ['1/1', '2/1', '3/1', '4/1', '5/1']);
  });

  test('a slice spanning stable and unstable entries leaves the array returned by storage unchanged', () => {
    let returned: Entry[] = [];
    class RecordingStorage extends MemoryStorage {
      override entries(lo: number, hi: number, max?: number): Entry[] {
        returned = super.entries(lo, hi, max);
        return returned;
      }
    }
    const storage = new RecordingStorage();
    storage.append(ents(1, [1, 1]));
    const log = new RaftLog(storage, Infinity);
    log.append(ents(3, [1]));
    assert.equal(log.slice(1, 4).length, 3);
    assert.deepEqual(ids(returned), ['1/1', '2/1']);
  });

  test('a slice is a fresh array: changing it changes nothing in the log', () => {
    const log = logOf([1, 1], [2, 2]);
    const a = log.slice(1, 5);
    a.length = 0;
    const b = log.slice(3, 5);
    b.push(...ents(9, [9]));
    assert.deepEqual(ids(log.allEntries()), ['1/1', '2/1', '3/2', '4/2']);
  });
});

describe('RaftLog and Unstable persistence', () => {
  test('stableTo moves persisted entries out of the unstable tail', () => {
    const log = logOf([1], [1, 2]);
    log.stableTo(2, 1);
    assert.deepEqual(ids(log.unstableEntries()), ['3/2']);
    assert.equal(log.unstable.offset, 3);
  });

  test('stableTo ignores an entry whose term was replaced after it was handed out', () => {
    const log = logOf([1], [1, 1]);
    // Entries 2/1 3/1 went out to be persisted; then a new leader replaced 3.
    log.append(ents(3, [2]));
    log.stableTo(3, 1);
    assert.deepEqual(ids(log.unstableEntries()), ['2/1', '3/2'], 'nothing marked stable');
    log.stableTo(3, 2);
    assert.deepEqual(ids(log.unstableEntries()), []);
  });

  test('stableTo ignores an index outside the unstable tail', () => {
    const log = logOf([1, 1], [1]);
    log.stableTo(1, 1);
    log.stableTo(9, 1);
    assert.deepEqual(ids(log.unstableEntries()), ['3/1']);
  });

  test('an append that overwrites entries already handed to storage replaces the whole unstable tail', () => {
    const log = logOf([1, 1, 1], [1]);
    log.append(ents(2, [2]));
    assert.equal(log.unstable.offset, 2);
    assert.deepEqual(ids(log.unstableEntries()), ['2/2']);
    assert.deepEqual(ids(log.allEntries()), ['1/1', '2/2']);
  });

  test('an append in the middle of the unstable tail truncates after it', () => {
    const log = logOf([1], [1, 1, 1]);
    log.append(ents(3, [2, 2]));
    assert.deepEqual(ids(log.unstableEntries()), ['2/1', '3/2', '4/2']);
  });

  test('restore makes a snapshot the whole log, committed, until it is persisted', () => {
    const log = logOf([1, 1], [1]);
    log.restore(snapshotAt(10, 4));
    assert.equal(log.firstIndex(), 11);
    assert.equal(log.lastIndex(), 10);
    assert.equal(log.lastTerm(), 4);
    assert.equal(log.committed, 10);
    assert.equal(log.snapshot().metadata.index, 10);
    assert.deepEqual(log.unstableEntries(), []);
    assert.equal(log.hasNextCommittedEnts(), false, 'the snapshot, not entries, brings applied forward');
    log.stableSnapTo(9);
    assert.notEqual(log.unstable.snapshot, undefined, 'another index leaves it pending');
    log.stableSnapTo(10);
    assert.equal(log.unstable.snapshot, undefined);
  });

  test('Unstable.stableTo ignores the index of a pending snapshot', () => {
    const u = new Unstable(1);
    u.restore(snapshotAt(5, 2));
    u.truncateAndAppend(ents(6, [2]));
    u.stableTo(5, 2);
    assert.equal(u.offset, 6);
    assert.deepEqual(ids(u.entries), ['6/2']);
    assert.notEqual(u.snapshot, undefined);
  });

  test('Unstable.slice outside its range is an InvariantError', () => {
    const u = new Unstable(4);
    u.truncateAndAppend(ents(4, [1, 1]));
    assert.throws(() => u.slice(3, 5), InvariantError);
    assert.throws(() => u.slice(4, 7), InvariantError);
    assert.deepEqual(ids(u.slice(4, 6)), ['4/1', '5/1']);
  });

  test('appliedTo refuses to go past committed or backwards', () => {
    const log = logOf([1, 1, 1]);
    log.commitTo(2);
    log.appliedTo(1);
    assert.throws(() => log.appliedTo(3), InvariantError);
    log.appliedTo(2);
    assert.throws(() => log.appliedTo(1), InvariantError);
  });
});
