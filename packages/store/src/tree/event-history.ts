import { KvError, KvErrorCode } from '../errors.js';
import { isHiddenBelow, isUnder } from './key.js';
import type { KvEvent } from './types.js';

/**
 * Whether event `e` concerns a watcher of `key` (and, with `recursive`, of
 * everything below it). Deleting or expiring a directory concerns watchers
 * of any key inside it. Keys hidden below the watched key (a segment
 * starting with `_`) are not reported to recursive watchers, as in etcd.
 */
export function eventMatches(e: KvEvent, key: string, recursive: boolean): boolean {
  const k = e.node.key;
  if (k === key) return true;
  if (recursive && isUnder(k, key) && !isHiddenBelow(key, k)) return true;
  if ((e.action === 'delete' || e.action === 'expire') && e.prevNode?.dir && isUnder(key, e.prevNode.key)) return true;
  return false;
}

/**
 * The last `capacity` change events, oldest first: what a watcher starting
 * from a past index (`waitIndex`) is served from. Part of the replicated
 * state (it is in snapshots), so every replica answers the same.
 *
 * @remarks
 * Invariant: events are in non-decreasing index order (several expirations
 * share the index of the `expire` command that caused them).
 */
export class EventHistory {
  private buf: KvEvent[] = [];
  private start = 0;
  /**
   * Index of the newest event dropped from the ring (0: none yet). Events
   * can share an index (one `expire` removes several keys), so "older than
   * the oldest kept" is not enough to know whether a scan lost any.
   */
  droppedIndex = 0;

  constructor(readonly capacity: number) {}

  add(e: KvEvent): void {
    if (this.buf.length < this.capacity) {
      this.buf.push(e);
      return;
    }
    this.droppedIndex = this.buf[this.start].index;
    this.buf[this.start] = e;
    this.start = (this.start + 1) % this.capacity;
  }

  /** The events, oldest first. */
  events(): KvEvent[] {
    return this.buf.length < this.capacity ? this.buf.slice() : [...this.buf.slice(this.start), ...this.buf.slice(0, this.start)];
  }

  /** Index of the oldest event kept (0 when empty). */
  get startIndex(): number {
    if (this.buf.length === 0) return 0;
    return this.buf[this.buf.length < this.capacity ? 0 : this.start].index;
  }

  /**
   * Events for `key` with index ≥ `sinceIndex`, oldest first.
   *
   * @throws KvError 401 when events that old were already dropped (the
   * cause says `[oldest kept/requested]`, as etcd's does).
   */
  scan(key: string, recursive: boolean, sinceIndex: number, storeIndex: number): KvEvent[] {
    const all = this.events();
    // Once anything was dropped: below the oldest kept index (etcd's rule),
    // or at an index some of whose events were dropped.
    if (this.droppedIndex > 0 && (sinceIndex < all[0].index || sinceIndex <= this.droppedIndex)) {
      throw new KvError(
        KvErrorCode.EventIndexCleared,
        `the requested history has been cleared [${all[0].index}/${sinceIndex}]`,
        storeIndex,
      );
    }
    return all.filter((e) => e.index >= sinceIndex && eventMatches(e, key, recursive));
  }

  /** Replaces the contents (restoring a snapshot). */
  load(events: readonly KvEvent[], droppedIndex: number): void {
    this.buf = events.slice(-this.capacity);
    this.droppedIndex = events.length > this.capacity ? Math.max(droppedIndex, events[events.length - this.capacity - 1].index) : droppedIndex;
    this.start = 0;
  }
}
