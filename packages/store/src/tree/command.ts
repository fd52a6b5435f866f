import { Packr } from 'msgpackr';
import { KvError, KvErrorCode } from '../errors.js';

/**
 * A change to the key tree, as proposed through Raft. Every replica applies
 * the same commands in the same order and gets the same tree.
 *
 * `now` is the proposer's wall clock (ms since the epoch), used only to
 * compute a new TTL's expiration; expiry itself happens only through
 * `expire` commands that the leader proposes, so every replica expires the
 * same keys at the same index.
 */
export type Command =
  | { readonly op: 'set'; readonly key: string; readonly value?: unknown; readonly dir?: boolean; readonly ttl?: number; readonly now: number }
  | {
      readonly op: 'create';
      readonly key: string;
      readonly value?: unknown;
      readonly dir?: boolean;
      readonly ttl?: number;
      /** In-order create: the child of `key` named by the 20-digit, zero-padded index. */
      readonly inOrder?: boolean;
      readonly now: number;
    }
  | {
      readonly op: 'update';
      readonly key: string;
      readonly value?: unknown;
      readonly ttl?: number;
      /** Only reset the TTL: no value, no change event. */
      readonly refresh?: boolean;
      readonly now: number;
    }
  | {
      readonly op: 'compareAndSwap';
      readonly key: string;
      readonly value?: unknown;
      readonly prevValue?: unknown;
      readonly prevIndex?: number;
      readonly ttl?: number;
      readonly refresh?: boolean;
      readonly now: number;
    }
  | { readonly op: 'delete'; readonly key: string; readonly dir?: boolean; readonly recursive?: boolean; readonly now: number }
  | {
      readonly op: 'compareAndDelete';
      readonly key: string;
      readonly prevValue?: unknown;
      readonly prevIndex?: number;
      readonly now: number;
    }
  /** Leader only: expire the first key to expire, if it expires at or before `now` (one key per command, so one index per change). */
  | { readonly op: 'expire'; readonly now: number };

// No records: persisted and replicated bytes must decode without shared
// structure definitions (msgpackr's records are off).
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' });
// Decoding goes through Maps: msgpackr's object decoding renames a
// `__proto__` key (to keep prototypes safe), which would change a user's
// value. toPlain rebuilds objects with every key as an own property.
const unpackr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: false, int64AsType: 'number' });

/** Turns decoded Maps back into plain objects, keeping `__proto__` as an ordinary own key. */
function toPlain(v: unknown): unknown {
  // Bytes come back as plain Uint8Arrays (not Node Buffers), as they went in.
  if (Buffer.isBuffer(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) {
      Object.defineProperty(o, String(k), { value: toPlain(x), enumerable: true, writable: true, configurable: true });
    }
    return o;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === 'object' && x !== null) v[i] = toPlain(x);
    }
  }
  return v;
}

/** Decodes store data (commands, snapshots) with objects as plain objects. */
export function unpackPlain(bytes: Uint8Array): unknown {
  return toPlain(unpackr.unpack(bytes));
}

// Commands travel in a small binary layout rather than msgpack: every
// replica decodes every command, and the common case (a string key and a
// string value) then costs two native UTF-8 reads instead of a generic
// msgpack walk. Other values are msgpack inside it.
//
//   u8 version(2) | u8 op | u8 flags | f64 now | [f64 ttl] | [f64 prevIndex]
//   | u32 keyLen | key UTF-8 | value? | prevValue?
//   value := u8 kind (1 string, 2 msgpack) | u32 len | bytes
const VERSION = 2;
const OPS = ['set', 'create', 'update', 'compareAndSwap', 'delete', 'compareAndDelete', 'expire'] as const;
const OP_CODE = new Map<string, number>(OPS.map((op, i) => [op, i]));
const F_DIR = 1;
const F_IN_ORDER = 2;
const F_REFRESH = 4;
const F_RECURSIVE = 8;
const F_VALUE = 16;
const F_PREV_VALUE = 32;
const F_TTL = 64;
const F_PREV_INDEX = 128;
const KIND_STRING = 1;
const KIND_PACKED = 2;

type AnyCommand = {
  op: Command['op'];
  key?: string;
  value?: unknown;
  dir?: boolean;
  inOrder?: boolean;
  refresh?: boolean;
  recursive?: boolean;
  ttl?: number;
  now: number;
  prevValue?: unknown;
  prevIndex?: number;
};

function valueBytes(v: unknown): { kind: number; bytes: Buffer } {
  if (typeof v === 'string') return { kind: KIND_STRING, bytes: Buffer.from(v, 'utf8') };
  const packed = packr.pack(v);
  return { kind: KIND_PACKED, bytes: Buffer.isBuffer(packed) ? packed : Buffer.from(packed) };
}

export function encodeCommand(c: Command): Uint8Array {
  const a = c as AnyCommand;
  const op = OP_CODE.get(a.op);
  if (op === undefined) throw new KvError(KvErrorCode.RaftInternal, `unknown command ${String(a.op)}`, 0);
  let flags = 0;
  if (a.dir) flags |= F_DIR;
  if (a.inOrder) flags |= F_IN_ORDER;
  if (a.refresh) flags |= F_REFRESH;
  if (a.recursive) flags |= F_RECURSIVE;
  if (a.ttl !== undefined && a.ttl !== null) flags |= F_TTL;
  if (a.prevIndex !== undefined && a.prevIndex !== null) flags |= F_PREV_INDEX;
  const value = a.value !== undefined ? valueBytes(a.value) : undefined;
  const prev = a.prevValue !== undefined ? valueBytes(a.prevValue) : undefined;
  if (value) flags |= F_VALUE;
  if (prev) flags |= F_PREV_VALUE;
  const key = a.key ?? '';
  const keyLen = Buffer.byteLength(key, 'utf8');
  const size =
    3 + 8 + (flags & F_TTL ? 8 : 0) + (flags & F_PREV_INDEX ? 8 : 0) + 4 + keyLen + (value ? 5 + value.bytes.length : 0) + (prev ? 5 + prev.bytes.length : 0);
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  out[o++] = VERSION;
  out[o++] = op;
  out[o++] = flags;
  o = out.writeDoubleLE(a.now, o);
  if (flags & F_TTL) o = out.writeDoubleLE(a.ttl!, o);
  if (flags & F_PREV_INDEX) o = out.writeDoubleLE(a.prevIndex!, o);
  o = out.writeUInt32LE(keyLen, o);
  o += out.write(key, o, 'utf8');
  for (const v of [value, prev]) {
    if (!v) continue;
    out[o++] = v.kind;
    o = out.writeUInt32LE(v.bytes.length, o);
    o += v.bytes.copy(out, o);
  }
  return out;
}

function bad(why: string): KvError {
  return new KvError(KvErrorCode.RaftInternal, `entry is not a store command: ${why}`, 0);
}

/**
 * Decodes a command from a committed entry.
 *
 * @throws KvError 300 (raft internal) for bytes that are not a command:
 * the log was written by something else.
 */
export function decodeCommand(bytes: Uint8Array): Command {
  try {
    return decodeUnchecked(bytes);
  } catch (e) {
    if (e instanceof KvError) throw e;
    throw bad((e as Error).message);
  }
}

function decodeUnchecked(bytes: Uint8Array): Command {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 15 || b[0] !== VERSION) throw bad(`${b.length} bytes, version ${b[0]}`);
  const op = OPS[b[1]];
  if (op === undefined) throw bad(`unknown op ${b[1]}`);
  const flags = b[2];
  let o = 3;
  const need = (n: number): void => {
    if (o + n > b.length) throw bad(`truncated at byte ${o}`);
  };
  const c: AnyCommand = { op, now: b.readDoubleLE(o) };
  o += 8;
  if (flags & F_TTL) {
    need(8);
    c.ttl = b.readDoubleLE(o);
    o += 8;
  }
  if (flags & F_PREV_INDEX) {
    need(8);
    c.prevIndex = b.readDoubleLE(o);
    o += 8;
  }
  need(4);
  const keyLen = b.readUInt32LE(o);
  o += 4;
  need(keyLen);
  const key = b.toString('utf8', o, o + keyLen);
  o += keyLen;
  if (key !== '') c.key = key;
  const readValue = (): unknown => {
    need(5);
    const kind = b[o];
    const len = b.readUInt32LE(o + 1);
    o += 5;
    need(len);
    const start = o;
    o += len;
    if (kind === KIND_STRING) return b.toString('utf8', start, start + len);
    if (kind === KIND_PACKED) return unpackPlain(b.subarray(start, start + len));
    throw bad(`unknown value kind ${kind}`);
  };
  if (flags & F_VALUE) c.value = readValue();
  if (flags & F_PREV_VALUE) c.prevValue = readValue();
  if (flags & F_DIR) c.dir = true;
  if (flags & F_IN_ORDER) c.inOrder = true;
  if (flags & F_REFRESH) c.refresh = true;
  if (flags & F_RECURSIVE) c.recursive = true;
  if (o !== b.length) throw bad(`${b.length - o} trailing bytes`);
  return c as Command;
}

/** Encodes any msgpack-encodable value (to measure it against the value size limit). */
export function encodeValue(v: unknown): Uint8Array {
  return packr.pack(v);
}

export { packr as storePackr };
