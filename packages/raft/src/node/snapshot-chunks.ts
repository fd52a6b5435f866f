import { MessageType, type Message, type NodeId } from '../types.js';

/**
 * Splits a MsgSnap whose data exceeds `chunkBytes` into chunk messages, so a
 * large state never travels as one frame. Smaller snapshots pass as they are.
 */
export function splitSnapshotMessage(m: Message, chunkBytes: number): Message[] {
  const snap = m.snapshot;
  if (m.type !== MessageType.MsgSnap || !snap || snap.data.byteLength <= chunkBytes) return [m];
  const total = snap.data.byteLength;
  const out: Message[] = [];
  for (let offset = 0; offset < total; offset += chunkBytes) {
    out.push({
      ...m,
      snapshot: { data: snap.data.subarray(offset, Math.min(total, offset + chunkBytes)), metadata: snap.metadata },
      snapshotChunk: { offset, totalBytes: total },
    });
  }
  return out;
}

interface Assembly {
  readonly index: number;
  readonly term: number;
  readonly buf: Uint8Array;
  /**
   * The ranges received, `[offset, end)`, sorted by offset (chunks may be
   * duplicated or reordered). Invariant: they do not overlap, so `received`
   * counts each byte once and the snapshot is whole when it reaches the total.
   */
  readonly got: { offset: number; end: number }[];
  received: number;
}

/**
 * Reassembles chunked MsgSnaps, one snapshot in progress per sender: a newer
 * snapshot from the same sender replaces a half-received older one.
 *
 * @remarks
 * Bounded: a chunk claiming a total over `maxBytes`, overrunning its
 * total, or overlapping a chunk already received is dropped (and reported
 * by the return value) before any memory is allocated for it; partial
 * snapshots of all senders together hold at most `maxBytes`.
 */
export class SnapshotAssembler {
  private readonly inProgress = new Map<NodeId, Assembly>();

  constructor(private readonly maxBytes: number) {}

  /**
   * Feeds one message. Returns the whole MsgSnap when its last chunk
   * arrives, the message itself when it is not a chunk, `undefined` while
   * chunks are missing, or an error string for a chunk to drop.
   */
  add(m: Message): Message | undefined | { error: string } {
    const chunk = m.snapshotChunk;
    if (m.type !== MessageType.MsgSnap || !chunk) return m;
    const snap = m.snapshot;
    if (!snap) return { error: 'snapshot chunk without snapshot' };
    const { offset, totalBytes } = chunk;
    const len = snap.data.byteLength;
    if (!Number.isSafeInteger(totalBytes) || totalBytes <= 0 || totalBytes > this.maxBytes) {
      return { error: `snapshot of ${totalBytes} bytes exceeds the limit of ${this.maxBytes}` };
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || len === 0 || offset + len > totalBytes) {
      return { error: `snapshot chunk [${offset}, ${offset + len}) overruns its total of ${totalBytes} bytes` };
    }
    const { index, term } = snap.metadata;
    let a = this.inProgress.get(m.from);
    if (a && (a.index !== index || a.term !== term || a.buf.byteLength !== totalBytes)) {
      if (index < a.index) return undefined; // an older snapshot's straggler
      a = undefined;
    }
    if (!a) {
      this.makeRoom(m.from, totalBytes);
      a = { index, term, buf: new Uint8Array(totalBytes), got: [], received: 0 };
      this.inProgress.set(m.from, a);
    }
    // Where the chunk goes among the ranges received: after every range that starts before it.
    const end = offset + len;
    let lo = 0;
    let hi = a.got.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a.got[mid].offset <= offset) lo = mid + 1;
      else hi = mid;
    }
    const before = a.got[lo - 1];
    const after = a.got[lo];
    if (before !== undefined && before.offset === offset && before.end === end) return undefined; // a duplicate
    if ((before !== undefined && before.end > offset) || (after !== undefined && after.offset < end)) {
      // Counting overlapping bytes twice would hand out a snapshot with holes.
      return { error: `snapshot chunk [${offset}, ${end}) overlaps a chunk already received` };
    }
    a.got.splice(lo, 0, { offset, end });
    a.buf.set(snap.data, offset);
    a.received += len;
    if (a.received < totalBytes) return undefined;
    this.inProgress.delete(m.from);
    const whole: Message = { ...m, snapshot: { data: a.buf, metadata: snap.metadata } };
    delete whole.snapshotChunk;
    return whole;
  }

  /**
   * Drops the oldest partial snapshots of other senders until `bytes` more
   * fit in `maxBytes` altogether: one per sender would let many senders
   * (or one under many IDs) hold `maxBytes` each. Only a leader sends
   * snapshots, so in a healthy cluster there is one at a time.
   */
  private makeRoom(from: NodeId, bytes: number): void {
    this.inProgress.delete(from);
    let held = 0;
    for (const a of this.inProgress.values()) held += a.buf.byteLength;
    for (const [id, a] of this.inProgress) {
      if (held + bytes <= this.maxBytes) break;
      this.inProgress.delete(id);
      held -= a.buf.byteLength;
    }
  }

  /** Forgets partial snapshots from `id`. */
  drop(id: NodeId): void {
    this.inProgress.delete(id);
  }
}
