import { RaftError, assert } from './errors.js';
import {
  EMPTY_HARD_STATE,
  entrySize,
  type ConfState,
  type Entry,
  type HardState,
  type Index,
  type Snapshot,
  type Term,
} from './types.js';

/**
 * The read side of a node's stable log, as the core uses it. Implemented by
 * hosts (or use {@link MemoryStorage}).
 *
 * @remarks
 * The core calls these synchronously on its hot path. A method that cannot
 * answer throws a {@link RaftError}: `RAFT_COMPACTED` for an index before
 * `firstIndex()`, `RAFT_UNAVAILABLE` for one after `lastIndex()`,
 * `RAFT_SNAPSHOT_TEMPORARILY_UNAVAILABLE` when a snapshot is being made. Any
 * other exception is treated as fatal by the driver: the node stops.
 *
 * Arrays returned are owned by the caller afterwards only in the sense that
 * the core never mutates them; the storage must not mutate them either.
 */
export interface Storage {
  /** The persisted hard state and membership at start-up. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in `[lo, hi)`, at most `maxSizeBytes` in total but always at
   * least one if any are in range.
   */
  entries(lo: Index, hi: Index, maxSizeBytes?: number): Entry[];
  /** The term of entry `i`, which must be in `[firstIndex()-1, lastIndex()]`. */
  term(i: Index): Term;
  /** Index of the first entry still available (the snapshot index + 1). */
  firstIndex(): Index;
  /** Index of the last entry in the log (the snapshot index when empty). */
  lastIndex(): Index;
  /** The most recent snapshot. */
  snapshot(): Snapshot;
}

const EMPTY_SNAPSHOT: Snapshot = Object.freeze({
  data: new Uint8Array(0),
  metadata: Object.freeze({ index: 0, term: 0, confState: Object.freeze({ voters: [], learners: [] }) }),
});

/**
 * A {@link Storage} held in memory; also the write side a driver uses to
 * persist what a `Ready` hands out.
 *
 * @remarks
 * Invariant: `ents[0]` is a dummy entry carrying the snapshot's index and
 * term, so `term(firstIndex() - 1)` is always answerable.
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = EMPTY_SNAPSHOT;
  private ents: Entry[];

  /**
   * Creates an empty storage, optionally with a starting membership.
   *
   * @remarks
   * A membership given here lives only at index 0, in no entry and no
   * snapshot a leader can send. That suits fixed test clusters; a cluster
   * that will ever add a member must instead start from a log whose first
   * entries are the membership's conf changes (as `RaftNode` bootstraps):
   * otherwise a joining member replays the log without them, believes a
   * smaller configuration, and can elect itself (see
   * `test/testdata/join-without-bootstrap.txt`). etcd-io/raft has the same
   * contract.
   */
  constructor(confState?: ConfState) {
    this.ents = [{ term: 0, index: 0, type: 0, data: new Uint8Array(0) }];
    if (confState) {
      this.snap = { data: EMPTY_SNAPSHOT.data, metadata: { index: 0, term: 0, confState } };
    }
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  /** Records the hard state (the driver calls this when a Ready carries one). */
  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  entries(lo: Index, hi: Index, maxSizeBytes = Infinity): Entry[] {
    const offset = this.ents[0].index;
    if (lo <= offset) throw new RaftError('RAFT_COMPACTED', `entry ${lo} is compacted (first index ${offset + 1})`);
    if (hi > this.lastIndex() + 1) {
      throw new RaftError('RAFT_UNAVAILABLE', `entries up to ${hi - 1} requested, last index is ${this.lastIndex()}`);
    }
    const out: Entry[] = [];
    let size = 0;
    for (let i = lo; i < hi; i++) {
      const e = this.ents[i - offset];
      size += entrySize(e);
      if (out.length > 0 && size > maxSizeBytes) break;
      out.push(e);
    }
    return out;
  }

  term(i: Index): Term {
    const offset = this.ents[0].index;
    if (i < offset) throw new RaftError('RAFT_COMPACTED', `term of ${i} is compacted (first index ${offset + 1})`);
    if (i - offset >= this.ents.length) {
      throw new RaftError('RAFT_UNAVAILABLE', `term of ${i} requested, last index is ${this.lastIndex()}`);
    }
    return this.ents[i - offset].term;
  }

  firstIndex(): Index {
    return this.ents[0].index + 1;
  }

  lastIndex(): Index {
    return this.ents[0].index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /**
   * Replaces the whole log with a snapshot (a follower installing the
   * leader's). A snapshot older than the current one is refused with
   * `RAFT_SNAPSHOT_OUT_OF_DATE`.
   */
  applySnapshot(snap: Snapshot): void {
    if (snap.metadata.index <= this.snap.metadata.index) {
      throw new RaftError(
        'RAFT_SNAPSHOT_OUT_OF_DATE',
        `snapshot at ${snap.metadata.index} is not newer than the current one at ${this.snap.metadata.index}`,
      );
    }
    this.snap = snap;
    this.ents = [{ term: snap.metadata.term, index: snap.metadata.index, type: 0, data: new Uint8Array(0) }];
  }

  /**
   * Makes a snapshot of state applied up to `i` (which must be in the log)
   * and returns it; the log is not compacted by this.
   */
  createSnapshot(i: Index, confState: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.snap.metadata.index) {
      throw new RaftError('RAFT_SNAPSHOT_OUT_OF_DATE', `snapshot at ${i} is not newer than ${this.snap.metadata.index}`);
    }
    assert(i <= this.lastIndex(), () => `snapshot index ${i} is beyond last index ${this.lastIndex()}`);
    const offset = this.ents[0].index;
    if (i < offset) throw new RaftError('RAFT_COMPACTED', `snapshot index ${i} is compacted (first index ${offset + 1})`);
    this.snap = { data, metadata: { index: i, term: this.ents[i - offset].term, confState } };
    return this.snap;
  }

  /** Drops entries before `compactIndex` (which stays, as the dummy entry). */
  compact(compactIndex: Index): void {
    const offset = this.ents[0].index;
    if (compactIndex <= offset) throw new RaftError('RAFT_COMPACTED', `already compacted to ${offset}`);
    assert(compactIndex <= this.lastIndex(), () => `compact ${compactIndex} is beyond last index ${this.lastIndex()}`);
    const i = compactIndex - offset;
    const head: Entry = { term: this.ents[i].term, index: this.ents[i].index, type: 0, data: new Uint8Array(0) };
    this.ents = [head, ...this.ents.slice(i + 1)];
  }

  /**
   * Appends entries handed out by a Ready. Entries may overlap the stored
   * log: a conflicting suffix is replaced; entries already compacted are
   * ignored.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].index + entries.length - 1;
    if (last < first) return;
    let es = entries;
    if (first > es[0].index) es = es.slice(first - es[0].index);
    const offset = es[0].index - this.ents[0].index;
    assert(offset <= this.ents.length, () => `missing log entry [last: ${this.lastIndex()}, append at: ${es[0].index}]`);
    if (offset < this.ents.length) this.ents.length = offset;
    for (const e of es) this.ents.push(e);
  }
}
