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
  /** Leader only: expire every key whose expiration is at or before `now`. */
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

// Commands travel as compact arrays rather than maps: no key strings to
// write and read for every entry on every replica.
// [version, op, key, flags, value, ttl, now, prevValue, prevIndex]
const OPS = ['set', 'create', 'update', 'compareAndSwap', 'delete', 'compareAndDelete', 'expire'] as const;
const OP_CODE = new Map<string, number>(OPS.map((op, i) => [op, i]));
const F_DIR = 1;
const F_IN_ORDER = 2;
const F_REFRESH = 4;
const F_RECURSIVE = 8;
const F_VALUE = 16;
const F_PREV_VALUE = 32;

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

export function encodeCommand(c: Command): Uint8Array {
  const a = c as AnyCommand;
  const op = OP_CODE.get(a.op);
  if (op === undefined) throw new KvError(KvErrorCode.RaftInternal, `unknown command ${String(a.op)}`, 0);
  let flags = 0;
  if (a.dir) flags |= F_DIR;
  if (a.inOrder) flags |= F_IN_ORDER;
  if (a.refresh) flags |= F_REFRESH;
  if (a.recursive) flags |= F_RECURSIVE;
  if (a.value !== undefined) flags |= F_VALUE;
  if (a.prevValue !== undefined) flags |= F_PREV_VALUE;
  return packr.pack([
    1,
    op,
    a.key ?? '',
    flags,
    a.value === undefined ? null : a.value,
    a.ttl ?? null,
    a.now,
    a.prevValue === undefined ? null : a.prevValue,
    a.prevIndex ?? null,
  ]);
}

/**
 * Decodes a command from a committed entry.
 *
 * @throws KvError 300 (raft internal) for bytes that are not a command:
 * the log was written by something else.
 */
export function decodeCommand(bytes: Uint8Array): Command {
  let a: unknown;
  try {
    a = unpackPlain(bytes);
  } catch (e) {
    throw new KvError(KvErrorCode.RaftInternal, `entry is not a store command: ${(e as Error).message}`, 0);
  }
  if (!Array.isArray(a) || a.length !== 9 || a[0] !== 1 || typeof a[1] !== 'number' || OPS[a[1]] === undefined) {
    throw new KvError(KvErrorCode.RaftInternal, 'entry is not a store command', 0);
  }
  const [, op, key, flags, value, ttl, now, prevValue, prevIndex] = a as [number, number, string, number, unknown, number | null, number, unknown, number | null];
  const c: AnyCommand = { op: OPS[op], now };
  if (key !== '') c.key = key;
  if (flags & F_DIR) c.dir = true;
  if (flags & F_IN_ORDER) c.inOrder = true;
  if (flags & F_REFRESH) c.refresh = true;
  if (flags & F_RECURSIVE) c.recursive = true;
  if (flags & F_VALUE) c.value = value;
  if (ttl !== null) c.ttl = ttl;
  if (flags & F_PREV_VALUE) c.prevValue = prevValue;
  if (prevIndex !== null) c.prevIndex = prevIndex;
  return c as Command;
}

/** Encodes any msgpack-encodable value (to measure it against the value size limit). */
export function encodeValue(v: unknown): Uint8Array {
  return packr.pack(v);
}

export { packr as storePackr };
