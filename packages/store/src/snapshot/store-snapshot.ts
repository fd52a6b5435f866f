/**
 * A kv store snapshot: the whole key tree of one member at one point in its
 * log, as a stream of checksummed frames (what `kvctl snapshot save`
 * writes and `kvctl snapshot restore` reads).
 *
 * @remarks
 * Layout (all integers big-endian):
 *
 * ```
 * magic    "KVSNAP" 0x00 0x01            (8 bytes; the last byte is the format version)
 * frame*   type u8 | length u32 | payload (msgpack)
 *            0x01 header   StoreSnapshotInfo             (exactly one, first)
 *            0x02 nodes    [key, dir, value, createdIndex, modifiedIndex, expireTime][]
 *            0x03 history  KvEvent[]                      (the watch history, oldest first)
 * end      0xff | 32 | SHA-256 of every byte before this frame
 * ```
 *
 * Nodes come parents first, children in insertion order (the tree's own
 * snapshot order), in frames of about {@link SNAPSHOT_FRAME_BYTES}; the
 * header counts them, so a reader can show progress and detect a frame
 * that went missing. Nothing may follow the end frame.
 *
 * @packageDocumentation
 */
import { createHash, type Hash } from 'node:crypto';
import type { KvNode } from '../kv-node.js';
import { storePackr, unpackPlain } from '../tree/command.js';
import type { SnapshotNode, TreeSnapshot } from '../tree/key-tree.js';
import type { KvEvent } from '../tree/types.js';

/** What a store snapshot says about itself (its header frame). */
export interface StoreSnapshotInfo {
  /** Format version. */
  readonly version: 1;
  /** The cluster the member belonged to. */
  readonly clusterId: string;
  /** The member the snapshot was taken on. */
  readonly memberId: string;
  /** That member's name. */
  readonly name: string;
  /** The member's applied Raft index when the snapshot was taken (at least `storeIndex`). */
  readonly raftIndex: number;
  /** The member's Raft term then. */
  readonly raftTerm: number;
  /** The store index (`X-Etcd-Index`): the Raft index of the last change. */
  readonly storeIndex: number;
  /** Nodes (values and directories, hidden ones too) in the snapshot. */
  readonly nodes: number;
  /** Events of the watch history in the snapshot. */
  readonly historyEvents: number;
  /** Index of the newest event the history had already dropped (0: none). */
  readonly droppedIndex: number;
  /** When the snapshot was taken (ISO 8601). */
  readonly createdAt: string;
}

/** A snapshot being taken: its header, and its bytes to be consumed once. */
export interface StoreSnapshotStream {
  readonly info: StoreSnapshotInfo;
  /**
   * The snapshot's bytes, encoded as they are pulled (one frame of about
   * {@link SNAPSHOT_FRAME_BYTES} at a time), so a large store is never held
   * as one buffer. Iterate it once.
   */
  readonly chunks: AsyncIterable<Uint8Array>;
}

/** What a decoded snapshot holds: its header and the tree in the form `KeyTree.restore` takes. */
export interface DecodedStoreSnapshot {
  readonly info: StoreSnapshotInfo;
  readonly tree: TreeSnapshot;
}

/** One decoded frame of a store snapshot. */
export type StoreSnapshotFrame =
  | { readonly kind: 'header'; readonly info: StoreSnapshotInfo }
  | { readonly kind: 'nodes'; readonly nodes: SnapshotNode[] }
  | { readonly kind: 'history'; readonly events: KvEvent[] }
  | { readonly kind: 'end'; readonly sha256: string };

/** Target payload size of one frame (a single larger node gets a frame of its own). */
export const SNAPSHOT_FRAME_BYTES = 1024 * 1024;

/** The largest frame a reader accepts: a bigger length field is damage, not data. */
export const MAX_SNAPSHOT_FRAME_BYTES = 512 * 1024 * 1024;

const MAGIC = Buffer.from([0x4b, 0x56, 0x53, 0x4e, 0x41, 0x50, 0x00, 0x01]); // "KVSNAP" 0 1
const FRAME_HEADER = 0x01;
const FRAME_NODES = 0x02;
const FRAME_HISTORY = 0x03;
const FRAME_END = 0xff;

/** Stable codes of {@link StoreSnapshotFormatError}. */
export type StoreSnapshotErrorCode =
  /** A checksum, frame or count does not check out, or bytes follow the end. */
  | 'STORE_SNAPSHOT_CORRUPT'
  /** The snapshot ends before its end frame (an interrupted save or copy). */
  | 'STORE_SNAPSHOT_TRUNCATED'
  /** Not a kv snapshot, or a format version this kv does not read. */
  | 'STORE_SNAPSHOT_UNSUPPORTED';

/**
 * Why a snapshot could not be read: damaged (a checksum or frame that does
 * not check out), cut short, or not a kv snapshot at all.
 */
export class StoreSnapshotFormatError extends Error {
  override readonly name = 'StoreSnapshotFormatError';
  constructor(
    readonly code: StoreSnapshotErrorCode,
    message: string,
    /** Byte offset in the snapshot where the problem was found. */
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * Takes a consistent snapshot of `node`'s key tree and returns it as a
 * stream of bytes in the store snapshot format.
 *
 * @remarks
 * The snapshot is linearizable: it reflects at least every write
 * acknowledged before the call (a ReadIndex round with a quorum first), and
 * then one point of the member's log (the tree is copied by reference in one
 * synchronous step; values are immutable). Encoding happens as the stream is
 * consumed.
 *
 * @throws RaftError when no quorum confirms the read (`RAFT_TIMEOUT`,
 * `RAFT_NO_LEADER`) or the node is closed (`RAFT_STOPPED`).
 *
 * @example
 * ```ts
 * const snap = await takeStoreSnapshot(node);
 * await pipeline(Readable.from(snap.chunks), createWriteStream('backup.kvsnap'));
 * ```
 */
export async function takeStoreSnapshot(node: KvNode): Promise<StoreSnapshotStream> {
  // The public `get` leaves hidden keys and the watch history out.
  const parts = node.parts;
  await parts.raft.readIndex();
  const status = node.status();
  const tree = parts.tree.toSnapshot();
  const info: StoreSnapshotInfo = {
    version: 1,
    clusterId: status.clusterId,
    memberId: status.id,
    name: status.name,
    raftIndex: Math.max(status.appliedIndex, tree.index),
    raftTerm: status.raftTerm,
    storeIndex: tree.index,
    nodes: tree.nodes.length,
    historyEvents: tree.history.length,
    droppedIndex: tree.droppedIndex ?? 0,
    createdAt: new Date().toISOString(),
  };
  return { info, chunks: encodeFrames(info, tree) };
}

async function* encodeFrames(info: StoreSnapshotInfo, tree: TreeSnapshot): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  const frames = [
    Buffer.from(MAGIC),
    frame(FRAME_HEADER, storePackr.pack(info)),
  ];
  for (const f of frames) {
    hash.update(f);
    yield f;
  }
  const rest = [
    batches(tree.nodes, FRAME_NODES, (n) => valueSize(n[2]) + n[0].length + 32),
    batches(tree.history, FRAME_HISTORY, (e) => valueSize(e.node.value) + valueSize(e.prevNode?.value) + e.node.key.length + 96),
  ];
  for (const source of rest) {
    for (const f of source) {
      hash.update(f);
      yield f;
      // Encoding a large store takes a while: let the member's heartbeats
      // and other requests run between frames.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  yield frame(FRAME_END, hash.digest());
}

/** Frames of `items`, each holding about {@link SNAPSHOT_FRAME_BYTES} (by `estimate`). */
function* batches<T>(items: readonly T[], type: number, estimate: (item: T) => number): Generator<Buffer> {
  let start = 0;
  while (start < items.length) {
    let end = start;
    let bytes = 0;
    while (end < items.length && (end === start || bytes < SNAPSHOT_FRAME_BYTES)) bytes += estimate(items[end++]);
    yield frame(type, storePackr.pack(items.slice(start, end)));
    start = end;
  }
}

function valueSize(v: unknown): number {
  if (v === undefined || v === null) return 1;
  if (typeof v === 'string') return v.length * 3;
  if (v instanceof Uint8Array) return v.byteLength;
  return 256;
}

/** One frame; copies `payload` (msgpackr hands out views of a buffer it reuses). */
function frame(type: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + payload.byteLength);
  out[0] = type;
  out.writeUInt32BE(payload.byteLength, 1);
  out.set(payload, 5);
  return out;
}

/**
 * Decodes a store snapshot as its bytes arrive, checking every frame and,
 * at the end, the SHA-256 of the whole.
 *
 * @remarks
 * `push` returns the frames completed by a chunk; `end` says the input is
 * over and throws if the snapshot was cut short. Any damage throws
 * {@link StoreSnapshotFormatError} with the offset. A successful `end`
 * means the checksum matched and the frame counts agree with the header.
 */
export class StoreSnapshotDecoder {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private offset = 0;
  private readonly hash: Hash = createHash('sha256');
  private sawMagic = false;
  private finished = false;
  private header: StoreSnapshotInfo | undefined;
  private nodeCount = 0;
  private eventCount = 0;

  /** The header, once its frame has been read. */
  get info(): StoreSnapshotInfo | undefined {
    return this.header;
  }

  /** Nodes decoded so far. */
  get nodesRead(): number {
    return this.nodeCount;
  }

  /** Bytes taken so far. */
  get bytesRead(): number {
    return this.offset + this.bufferedBytes;
  }

  /**
   * Takes the next bytes; returns the frames they complete.
   *
   * @throws StoreSnapshotFormatError for damage found so far.
   */
  push(chunk: Uint8Array): StoreSnapshotFrame[] {
    if (this.finished && chunk.byteLength > 0) {
      throw new StoreSnapshotFormatError('STORE_SNAPSHOT_CORRUPT', `snapshot is corrupt: ${chunk.byteLength} bytes follow the end of the snapshot`, this.bytesRead);
    }
    this.buffered.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.bufferedBytes += chunk.byteLength;
    const out: StoreSnapshotFrame[] = [];
    for (;;) {
      const f = this.next();
      if (f === undefined) break;
      out.push(f);
    }
    return out;
  }

  /**
   * Says the input is complete.
   *
   * @throws StoreSnapshotFormatError when the snapshot was cut short.
   */
  end(): void {
    if (!this.finished) {
      const h = this.sawMagic ? this.peekHeader() : undefined;
      const what = !this.sawMagic
        ? 'it is empty or not a kv snapshot'
        : h !== undefined
          ? `the frame at byte ${this.offset} claims ${h.length} bytes but only ${this.bufferedBytes - 5} follow (cut short, or its length is damaged)`
          : `no end frame after ${this.bytesRead} bytes`;
      throw new StoreSnapshotFormatError('STORE_SNAPSHOT_TRUNCATED', `snapshot is truncated: ${what}`, this.bytesRead);
    }
  }

  /** Removes and returns the first `n` buffered bytes (copying only when they span chunks). */
  private take(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const b = this.buffered[0];
      if (b.length <= need) {
        parts.push(b);
        this.buffered.shift();
        need -= b.length;
      } else {
        parts.push(b.subarray(0, need));
        this.buffered[0] = b.subarray(need);
        need = 0;
      }
    }
    this.bufferedBytes -= n;
    this.offset += n;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
  }

  /** The next frame's type and length, once its 5 header bytes are buffered. */
  private peekHeader(): { type: number; length: number } | undefined {
    if (this.bufferedBytes < 5) return undefined;
    if (this.buffered[0].length < 5) this.buffered = [Buffer.concat(this.buffered, this.bufferedBytes)];
    const b = this.buffered[0];
    return { type: b[0], length: b.readUInt32BE(1) };
  }

  private corrupt(what: string): StoreSnapshotFormatError {
    return new StoreSnapshotFormatError('STORE_SNAPSHOT_CORRUPT', `snapshot is corrupt: ${what} (at byte ${this.offset})`, this.offset);
  }

  private next(): StoreSnapshotFrame | undefined {
    if (this.finished) return undefined;
    if (!this.sawMagic) {
      if (this.bufferedBytes < MAGIC.length) return undefined;
      const magic = this.take(MAGIC.length);
      if (!magic.subarray(0, 7).equals(MAGIC.subarray(0, 7))) {
        throw new StoreSnapshotFormatError('STORE_SNAPSHOT_UNSUPPORTED', 'not a kv snapshot (it does not start with "KVSNAP")', 0);
      }
      if (magic[7] !== MAGIC[7]) throw new StoreSnapshotFormatError('STORE_SNAPSHOT_UNSUPPORTED', `kv snapshot format version ${magic[7]} is not supported (this kv reads version ${MAGIC[7]})`, 7);
      this.hash.update(magic);
      this.sawMagic = true;
    }
    const h = this.peekHeader();
    if (h === undefined) return undefined;
    if (h.length > MAX_SNAPSHOT_FRAME_BYTES) throw this.corrupt(`a frame claims ${h.length} bytes, more than the limit of ${MAX_SNAPSHOT_FRAME_BYTES}`);
    if (this.bufferedBytes < 5 + h.length) return undefined;
    const start = this.offset;
    const bytes = this.take(5 + h.length);
    const payload = bytes.subarray(5);
    if (h.type === FRAME_END) {
      const want = payload.toString('hex');
      const got = this.hash.digest('hex');
      if (h.length !== 32 || want !== got) {
        throw new StoreSnapshotFormatError('STORE_SNAPSHOT_CORRUPT', `snapshot is corrupt: checksum mismatch (the file says sha256 ${want.slice(0, 64)}, its contents hash to ${got})`, start);
      }
      this.checkCounts();
      this.finished = true;
      if (this.bufferedBytes > 0) throw new StoreSnapshotFormatError('STORE_SNAPSHOT_CORRUPT', `snapshot is corrupt: ${this.bufferedBytes} bytes follow the end of the snapshot`, this.offset);
      return { kind: 'end', sha256: got };
    }
    this.hash.update(bytes);
    let value: unknown;
    try {
      value = unpackPlain(payload);
    } catch (e) {
      throw this.corrupt(`frame at byte ${start} does not decode (${(e as Error).message})`);
    }
    switch (h.type) {
      case FRAME_HEADER: {
        if (this.header !== undefined) throw this.corrupt('a second header frame');
        this.header = checkInfo(value, () => this.corrupt('the header frame is malformed'));
        return { kind: 'header', info: this.header };
      }
      case FRAME_NODES: {
        if (this.header === undefined) throw this.corrupt('nodes before the header');
        if (!Array.isArray(value) || !value.every(isSnapshotNode)) throw this.corrupt(`the nodes frame at byte ${start} is malformed`);
        this.nodeCount += value.length;
        return { kind: 'nodes', nodes: value as SnapshotNode[] };
      }
      case FRAME_HISTORY: {
        if (this.header === undefined) throw this.corrupt('history before the header');
        if (!Array.isArray(value)) throw this.corrupt(`the history frame at byte ${start} is malformed`);
        this.eventCount += value.length;
        return { kind: 'history', events: value as KvEvent[] };
      }
      default:
        throw this.corrupt(`unknown frame type ${h.type} at byte ${start}`);
    }
  }

  private checkCounts(): void {
    const info = this.header;
    if (info === undefined) throw this.corrupt('no header frame');
    if (info.nodes !== this.nodeCount) throw this.corrupt(`the header counts ${info.nodes} nodes but ${this.nodeCount} were read`);
    if (info.historyEvents !== this.eventCount) throw this.corrupt(`the header counts ${info.historyEvents} history events but ${this.eventCount} were read`);
  }
}

function isSnapshotNode(n: unknown): boolean {
  return (
    Array.isArray(n) &&
    n.length === 6 &&
    typeof n[0] === 'string' &&
    (n[1] === 0 || n[1] === 1) &&
    Number.isSafeInteger(n[3]) &&
    Number.isSafeInteger(n[4]) &&
    Number.isSafeInteger(n[5])
  );
}

function checkInfo(v: unknown, bad: () => Error): StoreSnapshotInfo {
  const o = v as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || o.version !== 1) throw bad();
  for (const k of ['raftIndex', 'raftTerm', 'storeIndex', 'nodes', 'historyEvents', 'droppedIndex']) {
    if (!Number.isSafeInteger(o[k]) || (o[k] as number) < 0) throw bad();
  }
  for (const k of ['clusterId', 'memberId', 'name', 'createdAt']) if (typeof o[k] !== 'string') throw bad();
  return o as unknown as StoreSnapshotInfo;
}

/**
 * Reads a whole store snapshot into memory, verifying it.
 *
 * @param onProgress - called after each chunk with the bytes and nodes read
 * so far, and the header once it has been read.
 * @throws StoreSnapshotFormatError when it is damaged, cut short or not a kv snapshot.
 */
export async function readStoreSnapshot(
  chunks: AsyncIterable<Uint8Array>,
  onProgress?: (bytesRead: number, nodesRead: number, info: StoreSnapshotInfo | undefined) => void,
): Promise<DecodedStoreSnapshot> {
  const decoder = new StoreSnapshotDecoder();
  const nodes: SnapshotNode[] = [];
  const history: KvEvent[] = [];
  for await (const chunk of chunks) {
    for (const f of decoder.push(chunk)) {
      if (f.kind === 'nodes') for (const n of f.nodes) nodes.push(n);
      else if (f.kind === 'history') for (const e of f.events) history.push(e);
    }
    onProgress?.(decoder.bytesRead, decoder.nodesRead, decoder.info);
  }
  decoder.end();
  const info = decoder.info!;
  return { info, tree: { v: 1, index: info.storeIndex, nodes, history, droppedIndex: info.droppedIndex } };
}
