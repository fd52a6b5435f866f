/**
 * The on-disk layout of {@link LevelLogStore}: keys and checksummed records.
 *
 * Keys (bytes, compared bytewise by LevelDB):
 * ```
 *   'e' + index (8 bytes, big-endian)   one log entry; big-endian so iteration is index order
 *   'h'                                 hard state
 *   's'                                 newest snapshot
 *   'b'                                 log bounds: compaction point and last index
 *   'm'                                 member metadata (cluster ID, member ID, name, removed)
 *   'v'                                 layout version, written when the store is created
 * ```
 * Every value is a record:
 * ```
 *   crc32 (4 bytes, big-endian) | record version (1 byte) | payload
 * ```
 * with the CRC-32 taken over the key, the version byte and the payload, so a
 * record copied under another key fails its check too. Payloads:
 * ```
 *   entry      term (8 bytes BE) | type (1 byte) | data
 *   hard state msgpack { term, vote, commit }
 *   snapshot   metadata length (4 bytes BE) | msgpack { index, term, voters, learners } | data
 *   bounds     compacted (8 bytes BE) | last (8 bytes BE)
 *   meta       msgpack { clusterId, memberId, name, removed }
 *   version    layout version (4 bytes BE)
 * ```
 * msgpack is msgpackr with `useRecords: false`: no structures, so a record
 * decodes on its own.
 *
 * @packageDocumentation
 * @internal
 */
import type { Entry, EntryType, HardState, Index, Snapshot, Term } from '@kv/raft';
import { Packr } from 'msgpackr';

import { crc32 } from './crc32.js';

/** The layout version this code writes and reads (the `'v'` record). */
export const LAYOUT_VERSION = 1;
/** The record version byte this code writes and reads. */
const RECORD_VERSION = 1;
const HEADER_BYTES = 5;
const ENTRY_PREFIX = 0x65; // 'e'

export const META_KEY = Buffer.from('m');
export const HARD_STATE_KEY = Buffer.from('h');
export const SNAPSHOT_KEY = Buffer.from('s');
export const BOUNDS_KEY = Buffer.from('b');
export const VERSION_KEY = Buffer.from('v');
/** Every entry key is below this one (`'f'`), and at or above {@link entryKey}(0). */
export const ENTRY_KEYS_END = Buffer.from('f');

/** What a record key holds, for messages. */
export function describeKey(key: Uint8Array): string {
  if (key.length === 9 && key[0] === ENTRY_PREFIX) return `log entry ${entryIndexOf(key)}`;
  switch (String.fromCharCode(key[0] ?? 0)) {
    case 'h':
      return 'hard state';
    case 's':
      return 'snapshot';
    case 'b':
      return 'log bounds';
    case 'm':
      return 'member metadata';
    case 'v':
      return 'layout version';
    default:
      return `key ${Buffer.from(key).toString('hex')}`;
  }
}

const packr = new Packr({ useRecords: false, int64AsType: 'number' });

/** msgpack-encodes `value` into a buffer of its own (Packr reuses its output buffer). */
function pack(value: unknown): Buffer {
  return Buffer.from(packr.pack(value));
}

/** The key of log entry `index`: `'e'` and the index as 8 big-endian bytes. */
export function entryKey(index: Index): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = ENTRY_PREFIX;
  writeU64(key, 1, index);
  return key;
}

/** The index in an entry key; NaN when `key` is not one. */
export function entryIndexOf(key: Uint8Array): Index {
  if (key.length !== 9 || key[0] !== ENTRY_PREFIX) return NaN;
  return readU64(key, 1);
}

function writeU64(buf: Buffer, at: number, n: number): void {
  buf.writeUInt32BE(Math.floor(n / 0x1_0000_0000), at);
  buf.writeUInt32BE(n >>> 0, at + 4);
}

function readU64(b: Uint8Array, at: number): number {
  const hi = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
  const lo = ((b[at + 4] << 24) | (b[at + 5] << 16) | (b[at + 6] << 8) | b[at + 7]) >>> 0;
  return hi * 0x1_0000_0000 + lo;
}

/** Computes and writes the checksum of a record whose version byte and payload are filled in. */
function seal(key: Uint8Array, record: Buffer): Buffer {
  record[4] = RECORD_VERSION;
  record.writeUInt32BE(crc32(record.subarray(4), crc32(key)), 0);
  return record;
}

/** A record around `payload`. */
function frame(key: Uint8Array, payload: Uint8Array): Buffer {
  const record = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  record.set(payload, HEADER_BYTES);
  return seal(key, record);
}

/**
 * The payload of a record, after checking its version and checksum; a
 * string saying what is wrong when the record is damaged.
 */
export function unframe(key: Uint8Array, record: Uint8Array): Buffer | string {
  const buf = Buffer.isBuffer(record) ? record : Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  if (buf.length < HEADER_BYTES) return `record is ${buf.length} bytes, shorter than its ${HEADER_BYTES}-byte header`;
  const stored = buf.readUInt32BE(0);
  const actual = crc32(buf.subarray(4), crc32(key));
  if (stored !== actual) return `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})`;
  if (buf[4] !== RECORD_VERSION) return `unknown record version ${buf[4]}`;
  return buf.subarray(HEADER_BYTES);
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** Thrown by the `decode*` functions for a payload that passed its checksum but does not parse. */
export class MalformedRecord extends Error {}

// ---------------------------------------------------------------- entries

/** The record of an entry (its key is {@link entryKey}(entry.index)). */
export function encodeEntry(key: Uint8Array, entry: Entry): Buffer {
  const data = entry.data;
  const record = Buffer.allocUnsafe(HEADER_BYTES + 9 + data.length);
  writeU64(record, HEADER_BYTES, entry.term);
  record[HEADER_BYTES + 8] = entry.type;
  record.set(data, HEADER_BYTES + 9);
  return seal(key, record);
}

/** An entry from the payload of its record. `data` is a view of `payload`. */
export function decodeEntry(index: Index, payload: Buffer): Entry {
  if (payload.length < 9) throw new MalformedRecord(`entry payload is ${payload.length} bytes, shorter than 9`);
  const term: Term = readU64(payload, 0);
  const type = payload[8] as EntryType;
  return { index, term, type, data: payload.subarray(9) };
}

// ---------------------------------------------------------------- hard state

export function encodeHardState(hs: HardState): Buffer {
  return frame(HARD_STATE_KEY, pack({ term: hs.term, vote: hs.vote, commit: hs.commit }));
}

export function decodeHardState(payload: Buffer): HardState {
  const v = unpack(payload) as { term?: unknown; vote?: unknown; commit?: unknown };
  if (!isIndex(v?.term) || typeof v.vote !== 'string' || !isIndex(v.commit)) {
    throw new MalformedRecord('hard state is not { term, vote, commit }');
  }
  return { term: v.term, vote: v.vote, commit: v.commit };
}

// ---------------------------------------------------------------- snapshot

export function encodeSnapshot(s: Snapshot): Buffer {
  const { index, term, confState } = s.metadata;
  const meta = pack({ index, term, voters: [...confState.voters], learners: [...confState.learners] });
  const record = Buffer.allocUnsafe(HEADER_BYTES + 4 + meta.length + s.data.length);
  record.writeUInt32BE(meta.length, HEADER_BYTES);
  record.set(meta, HEADER_BYTES + 4);
  record.set(s.data, HEADER_BYTES + 4 + meta.length);
  return seal(SNAPSHOT_KEY, record);
}

/** A snapshot from its record's payload. `data` is a view of `payload`. */
export function decodeSnapshot(payload: Buffer): Snapshot {
  if (payload.length < 4) throw new MalformedRecord('snapshot payload is shorter than 4 bytes');
  const metaBytes = payload.readUInt32BE(0);
  if (4 + metaBytes > payload.length) throw new MalformedRecord(`snapshot metadata length ${metaBytes} runs past the record`);
  const m = unpack(payload.subarray(4, 4 + metaBytes)) as { index?: unknown; term?: unknown; voters?: unknown; learners?: unknown };
  if (!isIndex(m?.index) || !isIndex(m.term) || !isStringArray(m.voters) || !isStringArray(m.learners)) {
    throw new MalformedRecord('snapshot metadata is not { index, term, voters, learners }');
  }
  return {
    data: payload.subarray(4 + metaBytes),
    metadata: { index: m.index, term: m.term, confState: { voters: m.voters, learners: m.learners } },
  };
}

// ---------------------------------------------------------------- bounds

/**
 * Which entries the log holds: `(compacted, last]`.
 * Invariant: `compacted <= snapshot index <= last`.
 */
export interface LogBounds {
  readonly compacted: Index;
  readonly last: Index;
}

export function encodeBounds(b: LogBounds): Buffer {
  const payload = Buffer.allocUnsafe(16);
  writeU64(payload, 0, b.compacted);
  writeU64(payload, 8, b.last);
  return frame(BOUNDS_KEY, payload);
}

export function decodeBounds(payload: Buffer): LogBounds {
  if (payload.length !== 16) throw new MalformedRecord(`log bounds payload is ${payload.length} bytes, not 16`);
  const b = { compacted: readU64(payload, 0), last: readU64(payload, 8) };
  if (b.compacted > b.last) throw new MalformedRecord(`log bounds have compacted ${b.compacted} past last ${b.last}`);
  return b;
}

// ---------------------------------------------------------------- meta

/**
 * What a data directory records about its member, so a restarted member
 * knows who it is without being told.
 */
export interface MemberMeta {
  /** The cluster's ID (16 hex digits); `''` while a joining member has not learned it yet. */
  readonly clusterId: string;
  /** This member's ID (16 hex digits). */
  readonly memberId: string;
  /** This member's name (`--name`). */
  readonly name: string;
  /** Set once the member has been removed from the cluster: the directory must not start again. */
  readonly removed?: boolean;
}

export function encodeMeta(m: MemberMeta): Buffer {
  return frame(META_KEY, pack({ clusterId: m.clusterId, memberId: m.memberId, name: m.name, removed: m.removed === true }));
}

export function decodeMeta(payload: Buffer): MemberMeta {
  const v = unpack(payload) as { clusterId?: unknown; memberId?: unknown; name?: unknown; removed?: unknown };
  if (typeof v?.clusterId !== 'string' || typeof v.memberId !== 'string' || typeof v.name !== 'string') {
    throw new MalformedRecord('member metadata is not { clusterId, memberId, name, removed }');
  }
  return v.removed === true
    ? { clusterId: v.clusterId, memberId: v.memberId, name: v.name, removed: true }
    : { clusterId: v.clusterId, memberId: v.memberId, name: v.name };
}

// ---------------------------------------------------------------- layout version

export function encodeVersion(): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(LAYOUT_VERSION, 0);
  return frame(VERSION_KEY, payload);
}

export function decodeVersion(payload: Buffer): number {
  if (payload.length !== 4) throw new MalformedRecord(`layout version payload is ${payload.length} bytes, not 4`);
  return payload.readUInt32BE(0);
}

// ---------------------------------------------------------------- helpers

function unpack(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (cause) {
    throw new MalformedRecord(`msgpack does not decode: ${(cause as Error).message}`);
  }
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}
