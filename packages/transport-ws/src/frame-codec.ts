import { MessageType, type Entry, type Message, type Snapshot } from '@kv/raft';
import { Packr, Unpackr } from 'msgpackr';

import { createError, isWsTransportErrorCode, type WsTransportErrorCode } from './errors.js';

/**
 * The binary frames peers exchange: encoding, and decoding with every field
 * checked, so nothing malformed reaches the handshake or the Raft node.
 *
 * Every frame is one msgpack value (msgpackr with `useRecords: false`: plain
 * msgpack, no record extension) in one WebSocket binary message:
 *
 * ```
 * [1, {v, cluster, from, to, url, time, nonce, stream, instance}]   HELLO      dialer → acceptor
 * [2, {cluster, from, url, time, nonce, instance, proof}]           CHALLENGE  acceptor → dialer
 * [3, {proof}]                                                      PROOF      dialer → acceptor
 * [4]                                                               WELCOME    acceptor → dialer
 * [5, {code, reason, cluster}]                                      REJECT     either way, then close
 * [6, [message, …]]                                                 MESSAGES   either way, once open
 *
 * message = [type, from, to, term, logTerm, index, entries, commit, reject, rejectHint,
 *            context?, snapshot?, snapshotChunk?]          (trailing absent fields left out)
 * entry   = [term, index, type, data]
 * snapshot = [data, index, term, voters, learners]
 * snapshotChunk = [offset, totalBytes]
 * ```
 *
 * Message and entry types are the pinned numbers of `@kv/raft`.
 *
 * @packageDocumentation
 */

/** Frame kinds: the first element of every frame. Pinned wire values. */
export enum FrameKind {
  Hello = 1,
  Challenge = 2,
  Proof = 3,
  Welcome = 4,
  Reject = 5,
  Messages = 6,
}

/** The two kinds of connection between a pair of members. */
export type StreamKind = 'raft' | 'snapshot';

/** Protocol version sent in HELLO; an acceptor refuses any other. */
export const PROTOCOL_VERSION = 1;

/** The dialer's opening frame. */
export interface HelloFrame {
  readonly kind: FrameKind.Hello;
  /** Protocol version: {@link PROTOCOL_VERSION}. */
  readonly v: number;
  /** The dialer's cluster ID; `''` when it does not know it yet. */
  readonly cluster: string;
  /** The dialer's member ID; `''` when it does not know it yet. */
  readonly from: string;
  /** The member ID the dialer means to reach; `''` when it does not know it. */
  readonly to: string;
  /** Where the dialer listens (its advertised peer URL). */
  readonly url: string;
  /** The dialer's wall clock, ms since the Unix epoch. */
  readonly time: number;
  readonly nonce: Uint8Array;
  readonly stream: StreamKind;
  /** Random per start of the dialer's transport: tells a restarted peer from a second connection. */
  readonly instance: string;
}

/** The acceptor's answer to HELLO. */
export interface ChallengeFrame {
  readonly kind: FrameKind.Challenge;
  readonly cluster: string;
  readonly from: string;
  readonly url: string;
  readonly time: number;
  readonly nonce: Uint8Array;
  readonly instance: string;
  /** HMAC proving the acceptor knows the shared secret; absent without a secret. */
  readonly proof: Uint8Array | undefined;
}

/** The dialer's proof of the shared secret (absent without one). */
export interface ProofFrame {
  readonly kind: FrameKind.Proof;
  readonly proof: Uint8Array | undefined;
}

/** The acceptor let the dialer in. */
export interface WelcomeFrame {
  readonly kind: FrameKind.Welcome;
}

/** A refusal; the sender closes the connection after it. */
export interface RejectFrame {
  readonly kind: FrameKind.Reject;
  /** One of the `WS_*` codes; an unknown code from a newer peer reads as `WS_HANDSHAKE_REJECTED`. */
  readonly code: WsTransportErrorCode;
  readonly reason: string;
  /** The refusing side's cluster ID (so a mismatch can be reported with both IDs). */
  readonly cluster: string;
}

/** A batch of Raft messages. */
export interface MessagesFrame {
  readonly kind: FrameKind.Messages;
  readonly messages: Message[];
}

/** Any frame. */
export type Frame = HelloFrame | ChallengeFrame | ProofFrame | WelcomeFrame | RejectFrame | MessagesFrame;

/** Longest member or cluster ID accepted, in characters. */
export const MAX_ID_LENGTH = 256;
/** Longest URL accepted, in characters. */
export const MAX_URL_LENGTH = 2048;
/** Longest refusal reason sent or accepted, in characters. */
export const MAX_REASON_LENGTH = 1024;
/** Accepted nonce sizes, in bytes. */
export const MIN_NONCE_BYTES = 16;
export const MAX_NONCE_BYTES = 64;

/** Message types that may cross the wire: everything but the core's local inputs. */
const WIRE_MESSAGE_TYPES: ReadonlySet<number> = new Set([
  MessageType.MsgProp,
  MessageType.MsgApp,
  MessageType.MsgAppResp,
  MessageType.MsgVote,
  MessageType.MsgVoteResp,
  MessageType.MsgSnap,
  MessageType.MsgHeartbeat,
  MessageType.MsgHeartbeatResp,
  MessageType.MsgTransferLeader,
  MessageType.MsgTimeoutNow,
  MessageType.MsgReadIndex,
  MessageType.MsgReadIndexResp,
  MessageType.MsgPreVote,
  MessageType.MsgPreVoteResp,
  MessageType.MsgRemoved,
  MessageType.MsgPropResp,
]);

/** Whether a message of type `t` may be sent to a peer (local inputs such as MsgHup may not). */
export function isWireMessageType(t: number): boolean {
  return WIRE_MESSAGE_TYPES.has(t);
}

const packr = new Packr({ useRecords: false });

/** Frames at least this large leave msgpackr's buffer oversized; see {@link pack}. */
const LARGE_FRAME_BYTES = 256 * 1024;

/**
 * Packs one frame. msgpackr writes every packer's output into one buffer
 * per process and keeps it, growing it to fit: after a large frame (a
 * snapshot chunk, a big batch) every later small frame would be a view of
 * that large buffer and keep it alive. After a large frame it gets a small
 * buffer again; the frame itself stays valid (it is a view of the old one).
 */
function pack(value: unknown): Buffer {
  const data = packr.pack(value);
  if (data.byteLength >= LARGE_FRAME_BYTES) packr.useBuffer(Buffer.allocUnsafeSlow(8192));
  return data;
}
// Byte fields are copied out of the frame: entries live on in the log, and a
// view would pin the socket's whole receive chunk in memory with them.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', copyBuffers: true });

// ---------------------------------------------------------------- encoding

/** Encodes a handshake or reject frame. */
export function encodeControlFrame(frame: Exclude<Frame, MessagesFrame>): Buffer {
  switch (frame.kind) {
    case FrameKind.Hello: {
      const { v, cluster, from, to, url, time, nonce, stream, instance } = frame;
      return pack([FrameKind.Hello, { v, cluster, from, to, url, time, nonce, stream, instance }]);
    }
    case FrameKind.Challenge: {
      const { cluster, from, url, time, nonce, instance, proof } = frame;
      return pack([FrameKind.Challenge, { cluster, from, url, time, nonce, instance, proof: proof ?? null }]);
    }
    case FrameKind.Proof:
      return pack([FrameKind.Proof, { proof: frame.proof ?? null }]);
    case FrameKind.Welcome:
      return pack([FrameKind.Welcome]);
    case FrameKind.Reject:
      return pack([
        FrameKind.Reject,
        { code: frame.code, reason: frame.reason.slice(0, MAX_REASON_LENGTH), cluster: frame.cluster },
      ]);
  }
}

type WireEntry = [number, number, number, Uint8Array];
type WireSnapshot = [Uint8Array, number, number, string[], string[]];
type WireMessage = unknown[];

function entryToWire(e: Entry): WireEntry {
  return [e.term, e.index, e.type, e.data];
}

function snapshotToWire(s: Snapshot): WireSnapshot {
  const { index, term, confState } = s.metadata;
  return [s.data, index, term, [...confState.voters], [...confState.learners]];
}

function messageToWire(m: Message): WireMessage {
  const w: WireMessage = [
    m.type,
    m.from,
    m.to,
    m.term,
    m.logTerm,
    m.index,
    m.entries.map(entryToWire),
    m.commit,
    m.reject,
    m.rejectHint,
  ];
  if (m.snapshotChunk !== undefined) {
    w.push(m.context ?? null, m.snapshot ? snapshotToWire(m.snapshot) : null, [m.snapshotChunk.offset, m.snapshotChunk.totalBytes]);
  } else if (m.snapshot !== undefined) {
    w.push(m.context ?? null, snapshotToWire(m.snapshot));
  } else if (m.context !== undefined) {
    w.push(m.context);
  }
  return w;
}

/** One encoded MESSAGES frame and how many messages it carries. */
export interface EncodedFrame {
  readonly data: Buffer;
  readonly count: number;
}

/** What {@link encodeMessageFrames} made of a batch. */
export interface EncodedBatch {
  readonly frames: EncodedFrame[];
  /** Messages that do not fit in a frame of `maxFrameBytes` even alone. */
  readonly tooLarge: { readonly message: Message; readonly bytes: number }[];
}

/**
 * Encodes messages (all to one peer) into as few MESSAGES frames as
 * `maxFrameBytes` allows, keeping their order.
 *
 * @remarks
 * The whole batch is tried first; a batch over the limit is split in halves
 * until each part fits. A message that is too large on its own is returned
 * in `tooLarge` instead (the caller drops and logs it).
 */
export function encodeMessageFrames(messages: readonly Message[], maxFrameBytes: number): EncodedBatch {
  const frames: EncodedFrame[] = [];
  const tooLarge: { message: Message; bytes: number }[] = [];
  const wires = messages.map(messageToWire);
  const encode = (lo: number, hi: number): void => {
    const data = pack([FrameKind.Messages, wires.slice(lo, hi)]);
    if (data.byteLength <= maxFrameBytes) {
      frames.push({ data, count: hi - lo });
    } else if (hi - lo === 1) {
      tooLarge.push({ message: messages[lo], bytes: data.byteLength });
    } else {
      const mid = lo + Math.floor((hi - lo) / 2);
      encode(lo, mid);
      encode(mid, hi);
    }
  };
  if (messages.length > 0) encode(0, messages.length);
  return { frames, tooLarge };
}

// ---------------------------------------------------------------- decoding

/** Thrown inside the decoder with the path of the field at fault; turned into `WS_BAD_FRAME`. */
class ShapeError extends Error {}

function bad(what: string): never {
  throw new ShapeError(what);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function uint(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${field} must be a non-negative integer`);
  return v;
}

function str(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string') bad(`${field} must be a string`);
  if (v.length > max) bad(`${field} is ${v.length} characters, at most ${max} allowed`);
  return v;
}

function bytes(v: unknown, field: string): Uint8Array {
  if (!(v instanceof Uint8Array)) bad(`${field} must be binary`);
  return v;
}

function optBytes(v: unknown, field: string): Uint8Array | undefined {
  return v === null || v === undefined ? undefined : bytes(v, field);
}

function nonce(v: unknown, field: string): Uint8Array {
  const n = bytes(v, field);
  if (n.byteLength < MIN_NONCE_BYTES || n.byteLength > MAX_NONCE_BYTES) {
    bad(`${field} is ${n.byteLength} bytes, expected ${MIN_NONCE_BYTES}..${MAX_NONCE_BYTES}`);
  }
  return n;
}

function ids(v: unknown, field: string): string[] {
  if (!Array.isArray(v)) bad(`${field} must be an array`);
  return v.map((x, i) => str(x, `${field}[${i}]`, MAX_ID_LENGTH));
}

function time(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${field} must be a finite number`);
  return v;
}

function entryFromWire(v: unknown, field: string): Entry {
  if (!Array.isArray(v) || v.length !== 4) bad(`${field} must be [term, index, type, data]`);
  const type = uint(v[2], `${field}.type`);
  if (type !== 0 && type !== 1) bad(`${field}.type ${type} is not an entry type`);
  return { term: uint(v[0], `${field}.term`), index: uint(v[1], `${field}.index`), type, data: bytes(v[3], `${field}.data`) };
}

function snapshotFromWire(v: unknown, field: string): Snapshot {
  if (!Array.isArray(v) || v.length !== 5) bad(`${field} must be [data, index, term, voters, learners]`);
  return {
    data: bytes(v[0], `${field}.data`),
    metadata: {
      index: uint(v[1], `${field}.index`),
      term: uint(v[2], `${field}.term`),
      confState: { voters: ids(v[3], `${field}.voters`), learners: ids(v[4], `${field}.learners`) },
    },
  };
}

function messageFromWire(v: unknown, field: string): Message {
  if (!Array.isArray(v) || v.length < 10 || v.length > 13) bad(`${field} must be an array of 10 to 13 fields`);
  const type = uint(v[0], `${field}.type`);
  if (!WIRE_MESSAGE_TYPES.has(type)) bad(`${field}.type ${type} is not a message type peers exchange`);
  const entries = v[6];
  if (!Array.isArray(entries)) bad(`${field}.entries must be an array`);
  if (typeof v[8] !== 'boolean') bad(`${field}.reject must be a boolean`);
  const m: Message = {
    type: type as MessageType,
    from: str(v[1], `${field}.from`, MAX_ID_LENGTH),
    to: str(v[2], `${field}.to`, MAX_ID_LENGTH),
    term: uint(v[3], `${field}.term`),
    logTerm: uint(v[4], `${field}.logTerm`),
    index: uint(v[5], `${field}.index`),
    entries: entries.map((e, i) => entryFromWire(e, `${field}.entries[${i}]`)),
    commit: uint(v[7], `${field}.commit`),
    reject: v[8],
    rejectHint: uint(v[9], `${field}.rejectHint`),
  };
  const context = optBytes(v[10], `${field}.context`);
  if (context !== undefined) m.context = context;
  if (v[11] !== null && v[11] !== undefined) m.snapshot = snapshotFromWire(v[11], `${field}.snapshot`);
  if (v[12] !== null && v[12] !== undefined) {
    const c = v[12];
    if (!Array.isArray(c) || c.length !== 2) bad(`${field}.snapshotChunk must be [offset, totalBytes]`);
    if (m.snapshot === undefined) bad(`${field}.snapshotChunk without a snapshot`);
    m.snapshotChunk = { offset: uint(c[0], `${field}.snapshotChunk.offset`), totalBytes: uint(c[1], `${field}.snapshotChunk.totalBytes`) };
  }
  return m;
}

function streamKind(v: unknown): StreamKind {
  if (v !== 'raft' && v !== 'snapshot') bad(`hello.stream must be 'raft' or 'snapshot'`);
  return v;
}

function frameFromWire(value: unknown): Frame {
  if (!Array.isArray(value) || value.length === 0) bad('a frame must be a non-empty array');
  const kind = value[0];
  switch (kind) {
    case FrameKind.Hello: {
      const h = value[1];
      if (value.length !== 2 || !isRecord(h)) bad('HELLO must be [1, {…}]');
      return {
        kind,
        v: uint(h.v, 'hello.v'),
        cluster: str(h.cluster, 'hello.cluster', MAX_ID_LENGTH),
        from: str(h.from, 'hello.from', MAX_ID_LENGTH),
        to: str(h.to, 'hello.to', MAX_ID_LENGTH),
        url: str(h.url, 'hello.url', MAX_URL_LENGTH),
        time: time(h.time, 'hello.time'),
        nonce: nonce(h.nonce, 'hello.nonce'),
        stream: streamKind(h.stream),
        instance: str(h.instance, 'hello.instance', MAX_ID_LENGTH),
      };
    }
    case FrameKind.Challenge: {
      const c = value[1];
      if (value.length !== 2 || !isRecord(c)) bad('CHALLENGE must be [2, {…}]');
      return {
        kind,
        cluster: str(c.cluster, 'challenge.cluster', MAX_ID_LENGTH),
        from: str(c.from, 'challenge.from', MAX_ID_LENGTH),
        url: str(c.url, 'challenge.url', MAX_URL_LENGTH),
        time: time(c.time, 'challenge.time'),
        nonce: nonce(c.nonce, 'challenge.nonce'),
        instance: str(c.instance, 'challenge.instance', MAX_ID_LENGTH),
        proof: optBytes(c.proof, 'challenge.proof'),
      };
    }
    case FrameKind.Proof: {
      const p = value[1];
      if (value.length !== 2 || !isRecord(p)) bad('PROOF must be [3, {…}]');
      return { kind, proof: optBytes(p.proof, 'proof.proof') };
    }
    case FrameKind.Welcome:
      if (value.length !== 1) bad('WELCOME must be [4]');
      return { kind };
    case FrameKind.Reject: {
      const r = value[1];
      if (value.length !== 2 || !isRecord(r)) bad('REJECT must be [5, {…}]');
      const code = str(r.code, 'reject.code', 64);
      return {
        kind,
        code: isWsTransportErrorCode(code) ? code : 'WS_HANDSHAKE_REJECTED',
        reason: str(r.reason, 'reject.reason', MAX_REASON_LENGTH),
        cluster: str(r.cluster, 'reject.cluster', MAX_ID_LENGTH),
      };
    }
    case FrameKind.Messages: {
      const list = value[1];
      if (value.length !== 2 || !Array.isArray(list)) bad('MESSAGES must be [6, [message, …]]');
      return { kind, messages: list.map((m, i) => messageFromWire(m, `message[${i}]`)) };
    }
    default:
      return bad(`unknown frame kind ${typeof kind === 'number' ? kind : typeof kind}`);
  }
}

/**
 * Decodes and checks one frame.
 *
 * @throws WsTransportError `WS_FRAME_TOO_LARGE` for more than
 *   `maxFrameBytes` bytes (ws enforces this first; this is the second
 *   line), `WS_BAD_FRAME` for bytes that are not msgpack, trailing bytes,
 *   or a value of the wrong shape (the message names the field).
 */
export function decodeFrame(data: Uint8Array, maxFrameBytes: number): Frame {
  if (data.byteLength > maxFrameBytes) {
    throw createError('WS_FRAME_TOO_LARGE', `frame is ${data.byteLength} bytes, maxFrameBytes is ${maxFrameBytes}`);
  }
  let value: unknown;
  try {
    value = unpackr.unpack(data);
  } catch (e) {
    throw createError('WS_BAD_FRAME', `frame of ${data.byteLength} bytes is not valid msgpack: ${describe(e)}`, { cause: e });
  }
  try {
    return frameFromWire(value);
  } catch (e) {
    if (e instanceof ShapeError) throw createError('WS_BAD_FRAME', `malformed frame: ${e.message}`);
    // A RangeError from a pathological value (stack depth); still bad input.
    throw createError('WS_BAD_FRAME', `malformed frame: ${describe(e)}`, { cause: e });
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
