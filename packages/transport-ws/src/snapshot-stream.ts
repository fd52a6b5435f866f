import { MessageType, type Clock, type Message, type RaftLogger, type TimerHandle } from '@kv/raft';

import { CloseCode } from './errors.js';
import { encodeMessageFrames } from './frame-codec.js';
import type { CloseInfo, PeerConnection } from './peer-connection.js';

/**
 * Splits a MsgSnap whose snapshot data exceeds `chunkBytes` into chunk
 * messages (`snapshotChunk` set), as the Raft driver does, so that no frame
 * has to carry a whole snapshot. A message that is already a chunk is split
 * further with offsets inside its own range; the receiving driver
 * reassembles either.
 */
export function splitSnapshot(m: Message, chunkBytes: number): Message[] {
  const snap = m.snapshot;
  if (m.type !== MessageType.MsgSnap || snap === undefined || snap.data.byteLength <= chunkBytes) return [m];
  const base = m.snapshotChunk?.offset ?? 0;
  const totalBytes = m.snapshotChunk?.totalBytes ?? snap.data.byteLength;
  const out: Message[] = [];
  for (let at = 0; at < snap.data.byteLength; at += chunkBytes) {
    out.push({
      ...m,
      snapshot: { data: snap.data.subarray(at, Math.min(snap.data.byteLength, at + chunkBytes)), metadata: snap.metadata },
      snapshotChunk: { offset: base + at, totalBytes },
    });
  }
  return out;
}

/** What a {@link SnapshotStream} needs from its transport. */
export interface SnapshotStreamDeps {
  /** The member the stream sends to, for log lines. */
  readonly peerId: string;
  /** Dials a new `snapshot` connection to the peer; its events come back through `opened` / `closed`. */
  dial(): PeerConnection | undefined;
  readonly chunkBytes: number;
  readonly maxFrameBytes: number;
  /** Stop handing frames to the socket while this many bytes wait in it. */
  readonly highWaterBytes: number;
  /** Close the connection after this long with nothing to send, in ms. */
  readonly idleMs: number;
  readonly clock: Clock;
  readonly logger: RaftLogger;
  /** Messages that will not be sent (connection lost, frame too large). */
  onDropped(count: number, why: string): void;
  /** Messages handed to the socket. */
  onSent(count: number): void;
}

/**
 * The separate path for snapshots to one peer: its own WebSocket, so that
 * megabytes of snapshot never sit in front of a heartbeat.
 *
 * @remarks
 * - Dialed on the first MsgSnap and closed after `idleMs` without one; it
 *   carries only this member's snapshots to the peer (one direction).
 * - Chunks are handed to the socket while fewer than `highWaterBytes` wait
 *   in it, and more as each write completes: flow control rather than
 *   dropping, because a snapshot with a missing chunk is useless. They cost
 *   no copy — chunks are views of the snapshot the driver already holds.
 * - One snapshot at a time: chunks of a newer snapshot (another index or
 *   term) replace whatever is left of an older one, which the receiver
 *   would discard anyway.
 * - If the connection fails with chunks left, they are dropped and reported
 *   (the leader retries the snapshot).
 */
export class SnapshotStream {
  readonly #deps: SnapshotStreamDeps;
  #conn: PeerConnection | undefined;
  #queue: Message[] = [];
  /** Index and term of the snapshot being sent. */
  #current: { index: number; term: number } | undefined;
  #idleTimer: TimerHandle | undefined;
  #stopped = false;

  constructor(deps: SnapshotStreamDeps) {
    this.#deps = deps;
  }

  /** Messages waiting to be handed to the socket. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Queues a MsgSnap (split into chunks) and starts sending. */
  enqueue(m: Message): void {
    if (this.#stopped) return;
    const meta = m.snapshot!.metadata;
    if (this.#current && (this.#current.index !== meta.index || this.#current.term !== meta.term) && this.#queue.length > 0) {
      this.#deps.logger.debug(
        `snapshot ${meta.index} to ${this.#deps.peerId} replaces the rest of snapshot ${this.#current.index} (${this.#queue.length} chunks not sent)`,
      );
      this.#queue = [];
    }
    this.#current = { index: meta.index, term: meta.term };
    this.#queue.push(...splitSnapshot(m, this.#deps.chunkBytes));
    this.#clearIdle();
    if (this.#conn === undefined) {
      this.#conn = this.#deps.dial();
      if (this.#conn === undefined) this.#dropAll('the peer has no dialable URL');
      return;
    }
    this.#pump();
  }

  /** The connection this stream dialed completed its handshake. */
  opened(conn: PeerConnection): void {
    if (conn !== this.#conn) return;
    this.#pump();
  }

  /** The connection this stream dialed closed. */
  closed(conn: PeerConnection, info: CloseInfo): void {
    if (conn !== this.#conn) return;
    this.#conn = undefined;
    this.#clearIdle();
    if (this.#queue.length > 0) {
      this.#dropAll(info.error ? `${info.error.code}: ${info.error.message}` : `connection closed (${info.code}${info.reason ? ` ${info.reason}` : ''})`);
    }
  }

  /** Drops what is queued and closes the connection. */
  stop(code: number = CloseCode.GoingAway, reason = 'going away'): void {
    this.#stopped = true;
    this.#queue = [];
    this.#clearIdle();
    this.#conn?.close(code, reason);
  }

  #dropAll(why: string): void {
    const n = this.#queue.length;
    this.#queue = [];
    if (n > 0) this.#deps.onDropped(n, why);
  }

  #pump(): void {
    const conn = this.#conn;
    if (conn === undefined || !conn.isOpen) return;
    while (this.#queue.length > 0 && conn.bufferedAmount < this.#deps.highWaterBytes) {
      const m = this.#queue.shift()!;
      const { frames, tooLarge } = encodeMessageFrames([m], this.#deps.maxFrameBytes);
      for (const t of tooLarge) {
        this.#deps.logger.error(
          `dropped a snapshot chunk to ${this.#deps.peerId}: WS_FRAME_TOO_LARGE: frame is ${t.bytes} bytes, maxFrameBytes is ${this.#deps.maxFrameBytes}`,
        );
        this.#deps.onDropped(1, 'frame too large');
      }
      for (const f of frames) {
        conn.send(f.data, (err) => {
          if (err === undefined || err === null) this.#pump();
        });
        this.#deps.onSent(f.count);
      }
    }
    if (this.#queue.length === 0) this.#armIdle();
  }

  #armIdle(): void {
    this.#clearIdle();
    this.#idleTimer = this.#deps.clock.setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#queue.length === 0 && this.#conn !== undefined && this.#conn.bufferedAmount === 0) {
        this.#conn.close(CloseCode.Normal, 'idle');
      } else if (this.#queue.length === 0) {
        this.#armIdle();
      }
    }, this.#deps.idleMs);
  }

  #clearIdle(): void {
    if (this.#idleTimer !== undefined) this.#deps.clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}
