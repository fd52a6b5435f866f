import type { Entry, Index, Term } from '@kv/raft';

/**
 * What a {@link LevelLogStore} holds, without the bytes: the entry range,
 * the term of each entry (as runs, since terms change rarely) and the
 * snapshot's position. Writes are checked against it before they touch the
 * database, so a refused write changes nothing.
 *
 * @internal
 */
export class LogShape {
  /**
   * Index of the last entry dropped (compacted or covered by a leader's snapshot); 0 when none.
   * Invariant: `compacted <= snapshotIndex <= last`.
   */
  compacted: Index = 0;
  /** Index of the last entry held; `compacted` when none is held. */
  last: Index = 0;
  /** Index and term of the newest snapshot, if any. */
  snapshot: { readonly index: Index; readonly term: Term } | undefined;
  /**
   * Terms of the entries held, `(compacted, last]`, as runs: run `k` covers
   * `[runs[k].start, runs[k+1].start)` (the last run up to `last`).
   * Invariant: starts increase; `runs[0].start === compacted + 1` when `last > compacted`;
   * `runs` is empty when `last === compacted`.
   */
  private runs: { start: Index; term: Term }[] = [];

  /** The snapshot's index; 0 when there is none. */
  get snapshotIndex(): Index {
    return this.snapshot?.index ?? 0;
  }

  /** A copy that can be changed without changing this one. */
  clone(): LogShape {
    const c = new LogShape();
    c.compacted = this.compacted;
    c.last = this.last;
    c.snapshot = this.snapshot;
    c.runs = this.runs.map((r) => ({ ...r }));
    return c;
  }

  /** The term of entry `i`, or undefined when the log does not hold it. */
  termAt(i: Index): Term | undefined {
    if (i <= this.compacted || i > this.last) return undefined;
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runs[mid].start <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.runs[lo].term;
  }

  /** Drops the entries from `i` on (a new leader overwrote them). */
  truncateFrom(i: Index): void {
    if (i > this.last) return;
    while (this.runs.length > 0 && this.runs[this.runs.length - 1].start >= i) this.runs.pop();
    this.last = Math.max(i - 1, this.compacted);
  }

  /** Adds `e`, which must be entry `last + 1`. */
  append(e: Pick<Entry, 'index' | 'term'>): void {
    const tail = this.runs[this.runs.length - 1];
    if (tail === undefined || tail.term !== e.term) this.runs.push({ start: e.index, term: e.term });
    this.last = e.index;
  }

  /** Drops the entries up to and including `i` (at most `last`). */
  compactTo(i: Index): void {
    if (i <= this.compacted) return;
    let k = 0;
    while (k + 1 < this.runs.length && this.runs[k + 1].start <= i + 1) k++;
    this.runs = this.runs.slice(k);
    this.compacted = i;
    if (this.last <= i) {
      this.last = i;
      this.runs = [];
    } else {
      this.runs[0].start = i + 1;
    }
  }

  /** Drops every entry: the log is empty, with its compaction point at `i`. */
  reset(i: Index): void {
    this.compacted = i;
    this.last = i;
    this.runs = [];
  }
}
