import { assert } from '../errors.js';
import type { Index } from '../types.js';

/**
 * The window of MsgApps sent to one follower and not yet acknowledged,
 * bounded by count and by bytes: a ring buffer of (last index, bytes).
 *
 * @remarks
 * Protocol for callers: check {@link Inflights.full} before
 * {@link Inflights.add}; add in increasing index order; release with
 * {@link Inflights.freeLE} when an acknowledgement arrives.
 */
export class Inflights {
  private start = 0;
  private count = 0;
  private bytes = 0;
  private readonly indexes: Index[];
  private readonly sizes: number[];

  /**
   * @param maxMsgs - most messages in flight (≥ 1).
   * @param maxBytes - most payload bytes in flight; 0 means no byte limit.
   */
  constructor(
    readonly maxMsgs: number,
    readonly maxBytes: number,
  ) {
    this.indexes = new Array<Index>(maxMsgs);
    this.sizes = new Array<number>(maxMsgs);
  }

  /** Records a MsgApp whose last entry is `index`, carrying `bytes` of entries. */
  add(index: Index, bytes: number): void {
    assert(!this.full(), () => `cannot add into a full inflights (count ${this.count}, bytes ${this.bytes})`);
    if (this.count > 0) {
      const lastIdx = this.indexes[(this.start + this.count - 1) % this.maxMsgs];
      assert(index > lastIdx, () => `inflights added out of order: ${index} after ${lastIdx}`);
    }
    const at = (this.start + this.count) % this.maxMsgs;
    this.indexes[at] = index;
    this.sizes[at] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Releases every message whose last index is ≤ `to`. */
  freeLE(to: Index): void {
    while (this.count > 0 && this.indexes[this.start] <= to) {
      this.bytes -= this.sizes[this.start];
      this.start = (this.start + 1) % this.maxMsgs;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  /** Releases the oldest message (a heartbeat response hints the window is stale). */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.freeLE(this.indexes[this.start]);
  }

  /** Whether no more messages may be sent. */
  full(): boolean {
    return this.count === this.maxMsgs || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  /** Number of messages in flight. */
  get size(): number {
    return this.count;
  }

  /** Bytes in flight. */
  get inflightBytes(): number {
    return this.bytes;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}
