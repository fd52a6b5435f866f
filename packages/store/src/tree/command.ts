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

export function encodeCommand(c: Command): Uint8Array {
  return packr.pack(c);
}

/**
 * Decodes a command from a committed entry.
 *
 * @throws KvError 300 (raft internal) for bytes that are not a command:
 * the log was written by something else.
 */
export function decodeCommand(bytes: Uint8Array): Command {
  let c: unknown;
  try {
    c = packr.unpack(bytes);
  } catch (e) {
    throw new KvError(KvErrorCode.RaftInternal, `entry is not a store command: ${(e as Error).message}`, 0);
  }
  if (typeof c !== 'object' || c === null || typeof (c as { op?: unknown }).op !== 'string') {
    throw new KvError(KvErrorCode.RaftInternal, 'entry is not a store command', 0);
  }
  return c as Command;
}

/** Encodes any msgpack-encodable value (to measure it against the value size limit). */
export function encodeValue(v: unknown): Uint8Array {
  return packr.pack(v);
}

export { packr as storePackr };
