import { RaftError, assert } from '../errors.js';
import type { Storage } from '../storage.js';
import { entrySize, type Entry, type Index, type Snapshot, type Term } from '../types.js';
import { Unstable } from './unstable.js';

/**
 * The node's whole log: stable entries in {@link Storage}, then the
 * {@link Unstable} tail.
 *
 * @remarks
 * Invariant: `applied <= committed <= lastIndex()`.
 * Invariant: `firstIndex() - 1 <= applied` once a snapshot is restored.
 */
export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known to be committed on a quorum. */
  committed: Index;
  /** Highest index handed to the application to apply. */
  applied: Index;
  /** Upper bound, in bytes, on committed entries handed out in one Ready. */
  readonly maxApplyingBytes: number;

  constructor(storage: Storage, maxApplyingBytes: number) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.maxApplyingBytes = maxApplyingBytes;
  }

  firstIndex(): Index {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): Index {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): Term {
    return this.term(this.lastIndex());
  }

  /**
   * The term of entry `i`. Throws `RAFT_COMPACTED` / `RAFT_UNAVAILABLE` when
   * `i` is outside `[firstIndex()-1, lastIndex()]`.
   */
  term(i: Index): Term {
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    const dummy = this.firstIndex() - 1;
    if (i < dummy) throw new RaftError('RAFT_COMPACTED', `term of ${i} is compacted (first index ${dummy + 1})`);
    if (i > this.lastIndex()) throw new RaftError('RAFT_UNAVAILABLE', `term of ${i} is past the last index ${this.lastIndex()}`);
    return this.storage.term(i);
  }

  /** The term of `i`, or 0 when it is compacted or not yet in the log. */
  termOrZero(i: Index): Term {
    try {
      return this.term(i);
    } catch (e) {
      if (e instanceof RaftError && (e.code === 'RAFT_COMPACTED' || e.code === 'RAFT_UNAVAILABLE')) return 0;
      throw e;
    }
  }

  matchTerm(i: Index, t: Term): boolean {
    if (i > this.lastIndex()) return false;
    return this.termOrZero(i) === t;
  }

  /**
   * A candidate with last entry (`lasti`, `term`) is at least as up to date
   * as this log (Raft paper §5.4.1): a later last term, or the same last term
   * and a log at least as long.
   */
  isUpToDate(lasti: Index, term: Term): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lasti >= this.lastIndex());
  }

  /**
   * Appends a leader's entries that follow (`index`, `logTerm`), if our log
   * matches there; then advances the commit to min(`committed`, last new).
   * Returns the last index of the new entries, or undefined on mismatch.
   */
  maybeAppend(index: Index, logTerm: Term, committed: Index, ents: readonly Entry[]): Index | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, () => `entry ${ci} conflicts with committed entry [committed(${this.committed})]`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends entries after `lastIndex()` or over an uncommitted suffix. */
  append(ents: readonly Entry[]): Index {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    assert(after >= this.committed, () => `after(${after}) is out of range [committed(${this.committed})]`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry in `ents` whose term differs from ours (or
   * that we lack), or 0 when all are already present.
   */
  findConflict(ents: readonly Entry[]): Index {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index ≤ `index` whose term is ≤ `term`,
   * with that term. Everything after it in our log has a term greater than
   * `term`, so cannot match the leader's entry there.
   */
  findConflictByTerm(index: Index, term: Term): { index: Index; term: Term } {
    for (; index > 0; index--) {
      let ourTerm: Term;
      try {
        ourTerm = this.term(index);
      } catch {
        // Compacted or missing: the caller probes from here.
        return { index, term: 0 };
      }
      if (ourTerm <= term) return { index, term: ourTerm };
    }
    return { index: 0, term: 0 };
  }

  /** Entries not yet handed to stable storage. */
  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }

  hasNextCommittedEnts(): boolean {
    return this.committed > this.applied && this.applied + 1 >= this.firstIndex();
  }

  /** Committed entries after `applied`, bounded by `maxApplyingBytes`. */
  nextCommittedEnts(): Entry[] {
    if (!this.hasNextCommittedEnts()) return [];
    return this.slice(this.applied + 1, this.committed + 1, this.maxApplyingBytes);
  }

  commitTo(tocommit: Index): void {
    if (this.committed < tocommit) {
      assert(
        tocommit <= this.lastIndex(),
        () => `tocommit(${tocommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`,
      );
      this.committed = tocommit;
    }
  }

  /**
   * Commits `maxIndex` if it is ours from `term` — the leader's current
   * term. An older-term entry is never committed by counting replicas (Raft
   * paper §5.4.2, figure 8); it commits with the first current-term entry.
   */
  maybeCommit(maxIndex: Index, term: Term): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  appliedTo(i: Index): void {
    if (i === 0) return;
    assert(
      this.committed >= i && i >= this.applied,
      () => `applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`,
    );
    this.applied = i;
  }

  stableTo(i: Index, t: Term): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: Index): void {
    this.unstable.stableSnapTo(i);
  }

  /** The snapshot to send: the pending unstable one, else storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Replaces the log with a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /**
   * Entries from `i` on, at most `maxBytes` and `maxEntries` (at least one
   * if any exist). Throws `RAFT_COMPACTED` when `i` is compacted.
   */
  entries(i: Index, maxBytes: number, maxEntries = Infinity): Entry[] {
    const last = this.lastIndex();
    if (i > last) return [];
    return this.slice(i, Math.min(last + 1, i + maxEntries), maxBytes);
  }

  /** All entries from the first available one (used by tests). */
  allEntries(): Entry[] {
    return this.entries(this.firstIndex(), Infinity);
  }

  /**
   * Entries in `[lo, hi)`, at most `maxBytes` (but at least one). A fresh
   * array: callers may keep it; the entries themselves are shared and
   * immutable.
   */
  slice(lo: Index, hi: Index, maxBytes = Infinity): Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    if (lo === hi) return [];
    let out: Entry[] = [];
    const uoff = this.unstable.offset;
    if (lo < uoff) {
      out = this.storage.entries(lo, Math.min(hi, uoff), maxBytes);
      // Storage stopped early because of the size limit: done.
      if (out.length < Math.min(hi, uoff) - lo) return out;
    }
    if (hi > uoff) {
      // The storage's array is not ours to grow: copy before appending.
      if (out.length > 0) out = out.slice();
      const from = Math.max(lo, uoff);
      let size = 0;
      for (const e of out) size += entrySize(e);
      const ents = this.unstable.entries;
      for (let i = from; i < hi; i++) {
        const e = ents[i - uoff];
        size += entrySize(e);
        if (out.length > 0 && size > maxBytes) break;
        out.push(e);
      }
    }
    return out;
  }

  private mustCheckOutOfBounds(lo: Index, hi: Index): void {
    assert(lo <= hi, () => `invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw new RaftError('RAFT_COMPACTED', `entry ${lo} is compacted (first index ${fi})`);
    const length = this.lastIndex() + 1 - fi;
    assert(hi <= fi + length, () => `slice[${lo},${hi}) out of bound [${fi},${this.lastIndex()}]`);
  }
}
