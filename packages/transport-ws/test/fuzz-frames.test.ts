// Field-level fuzzing of peer frames against real transports on 127.0.0.1,
// judged by an independent model of the wire format (written here from the
// format's comment in frame-codec.ts, not from the decoder): valid messages
// and handshake frames with one to three fields replaced by wrong types,
// negative/NaN/huge numbers, long strings, strings where bytes belong,
// deep arrays, fields removed or added; frames at and over maxFrameBytes.
// fuzz.test.ts already sends whole-frame garbage (random bytes, truncations,
// huge declared lengths, TCP noise); this file checks what reaches the
// handler and the Raft core, what a connection leaves behind, and three
// RaftNodes with a fake peer that gets past the handshake.
//
// For every frame: nothing throws out of an event handler (an
// 'uncaughtException' guard), a frame the model calls malformed closes its
// connection with 1007 and a logged WS_BAD_FRAME line and delivers none of
// its messages, a well-formed one keeps the connection, every message the
// handler sees is well-formed, and a fresh Raft core either steps it or
// refuses it with a RaftError (never a TypeError or an InvariantError).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  EntryType,
  MemoryLogStore,
  MemoryStorage,
  MessageType,
  RaftError,
  RaftNode,
  RawNode,
  type AppliedEntry,
  type Message,
  type StateMachine,
  type Transport,
} from '@kv/raft';
import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { WebSocket } from 'ws';

import { CloseCode } from '../src/errors.ts';
import { decodeFrame, encodeControlFrame, FrameKind } from '../src/frame-codec.ts';
import { DialerHandshake } from '../src/handshake.ts';
import { wsTransport, type WsTransport } from '../src/ws-transport.ts';
import { identity, messagesFrame, rawClient, type RawClient } from './fake-peer.ts';
import { captureLogger, connectAll, freePort, heartbeat, linesWith, member, msg, stopAll, waitFor, type Member } from './helpers.ts';

const packr = new Packr({ useRecords: false });
/** Decodes as peers do (plain msgpack, 64-bit integers as numbers): the model judges what the receiver will see. */
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const MAX_FRAME = 64 * 1024;

// ------------------------------------------------------------------ uncaught guard

const uncaught: unknown[] = [];
const onUncaught = (e: unknown): void => void uncaught.push(e);
before(() => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
});
after(() => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
});

function noUncaught(): void {
  assert.deepEqual(uncaught.map(String), [], 'an error escaped an event handler');
}

// ------------------------------------------------------------------ the model

/** Message types peers exchange: all but the core's local inputs (pinned numbers of @kv/raft). */
const LOCAL_TYPES = new Set([MessageType.MsgHup, MessageType.MsgBeat, MessageType.MsgUnreachable, MessageType.MsgSnapStatus, MessageType.MsgCheckQuorum]);
const isWireType = (v: unknown): boolean => typeof v === 'number' && MessageType[v] !== undefined && !LOCAL_TYPES.has(v);
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
const isStr = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
const isId = (v: unknown): v is string => isStr(v, 256);
const absent = (v: unknown): boolean => v === null || v === undefined;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !isBytes(v);

function wireEntryOk(e: unknown): boolean {
  return Array.isArray(e) && e.length === 4 && isUint(e[0]) && isUint(e[1]) && (e[2] === 0 || e[2] === 1) && isBytes(e[3]);
}

function wireSnapshotOk(s: unknown): boolean {
  return (
    Array.isArray(s) && s.length === 5 && isBytes(s[0]) && isUint(s[1]) && isUint(s[2]) &&
    Array.isArray(s[3]) && s[3].every(isId) && Array.isArray(s[4]) && s[4].every(isId)
  );
}

/** `[type, from, to, term, logTerm, index, entries, commit, reject, rejectHint, context?, snapshot?, chunk?]` */
function wireMessageOk(w: unknown): boolean {
  if (!Array.isArray(w) || w.length < 10 || w.length > 13) return false;
  if (!isWireType(w[0]) || !isId(w[1]) || !isId(w[2])) return false;
  if (![3, 4, 5, 7, 9].every((k) => isUint(w[k]))) return false;
  if (!Array.isArray(w[6]) || !w[6].every(wireEntryOk) || typeof w[8] !== 'boolean') return false;
  if (!absent(w[10]) && !isBytes(w[10])) return false;
  if (!absent(w[11]) && !wireSnapshotOk(w[11])) return false;
  if (!absent(w[12])) {
    const c = w[12];
    if (!Array.isArray(c) || c.length !== 2 || !isUint(c[0]) || !isUint(c[1]) || absent(w[11])) return false;
  }
  return true;
}

function messagesFrameOk(v: unknown): boolean {
  return Array.isArray(v) && v.length === 2 && v[0] === FrameKind.Messages && Array.isArray(v[1]) && v[1].every(wireMessageOk);
}

function helloOk(v: unknown): boolean {
  if (!Array.isArray(v) || v.length !== 2 || v[0] !== FrameKind.Hello || !isRecord(v[1])) return false;
  const h = v[1];
  return (
    isUint(h.v) && isId(h.cluster) && isId(h.from) && isId(h.to) && isStr(h.url, 2048) &&
    typeof h.time === 'number' && Number.isFinite(h.time) &&
    isBytes(h.nonce) && h.nonce.byteLength >= 16 && h.nonce.byteLength <= 64 &&
    (h.stream === 'raft' || h.stream === 'snapshot') && isId(h.instance)
  );
}

/** A well-formed HELLO that member `to` ('b', cluster 'c1', no secret) accepts. */
function helloAccepted(v: unknown, to: string): boolean {
  const h = (v as [number, Record<string, unknown>])[1];
  return h.v === 1 && (h.cluster === '' || h.cluster === 'c1') && h.from !== to && (h.to === '' || h.to === to);
}

/** A delivered message, as the Raft core receives it. */
function messageOk(m: Message): boolean {
  const entriesOk = Array.isArray(m.entries) && m.entries.every((e) => isUint(e.term) && isUint(e.index) && (e.type === 0 || e.type === 1) && isBytes(e.data));
  const snap = m.snapshot;
  const snapOk =
    snap === undefined ||
    (isBytes(snap.data) && isUint(snap.metadata.index) && isUint(snap.metadata.term) &&
      snap.metadata.confState.voters.every(isId) && snap.metadata.confState.learners.every(isId));
  const chunkOk = m.snapshotChunk === undefined || (snap !== undefined && isUint(m.snapshotChunk.offset) && isUint(m.snapshotChunk.totalBytes));
  return (
    isWireType(m.type) && isId(m.from) && isId(m.to) &&
    [m.term, m.logTerm, m.index, m.commit, m.rejectHint].every(isUint) &&
    typeof m.reject === 'boolean' && entriesOk && (m.context === undefined || isBytes(m.context)) && snapOk && chunkOk
  );
}

/**
 * Steps `m` into a fresh core, as a follower and as a leader of members
 * `b` and `z`: it must be taken or refused with a RaftError. Anything else
 * (a TypeError from a wrong shape, an InvariantError from a value the core
 * trusted) would stop a RaftNode.
 */
function coreTakesOrRefuses(m: Message): void {
  const fresh = (): RawNode =>
    new RawNode({ id: 'b', storage: new MemoryStorage({ voters: ['b', 'z'], learners: [] }), preVote: false, checkQuorum: false });
  const follower = fresh();
  const leader = fresh();
  leader.campaign();
  leader.ready();
  leader.advance();
  leader.step(msg({ type: MessageType.MsgVoteResp, from: 'z', to: 'b', term: 1 }));
  assert.equal(leader.status().raftState, 2, 'the leader fixture leads');
  for (const node of [follower, leader]) {
    try {
      node.step(m);
      if (node.hasReady()) {
        node.ready();
        node.advance();
      }
    } catch (e) {
      if (!(e instanceof RaftError)) {
        assert.fail(`the core threw ${(e as Error).name} for ${show(m)}: ${(e as Error).message}`);
      }
    }
  }
}

function show(m: Message): string {
  return JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.byteLength} bytes>` : v));
}

// ------------------------------------------------------------------ generators

const deep = (n: number): unknown => (n === 0 ? [] : [deep(n - 1)]);

/** Values for any field: mostly wrong, some right. */
const wild: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    -1, -0.5, 0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 64, -(2 ** 63), Number.MAX_SAFE_INTEGER, 0, 1, 2, 3, 8, 19, 20, 99,
    true, false, null, undefined, '', 'b', 'z', 'raft', 'x'.repeat(257), 'u'.repeat(3000), '\u0000\ud800',
    Buffer.alloc(0), Buffer.alloc(16, 1), Buffer.alloc(65), [], {}, [1, 2], deep(50), deep(400), { term: 1 }, 2n ** 63n, 2n ** 64n - 1n,
    new Date(0),
  ),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 20 }),
  fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)),
  fc.anything({ maxDepth: 2 }),
);

/** Small values of every type a field can hold: often right for the field they land in. */
const plausible: fc.Arbitrary<unknown> = fc.oneof(
  fc.nat({ max: 6 }),
  fc.constantFrom<unknown>('z', 'b', '', 'a', true, false, null, [], 0, 1),
  fc.uint8Array({ maxLength: 4 }).map((b) => Buffer.from(b)),
);
const fieldValue: fc.Arbitrary<unknown> = fc.oneof({ weight: 3, arbitrary: wild }, { weight: 2, arbitrary: plausible });

/** Valid messages from `z` to `b`, as wire arrays. */
const validWire: fc.Arbitrary<unknown[]> = fc
  .record({
    type: fc.constantFrom(MessageType.MsgHeartbeat, MessageType.MsgApp, MessageType.MsgAppResp, MessageType.MsgVote, MessageType.MsgSnap, MessageType.MsgProp),
    term: fc.nat({ max: 5 }),
    index: fc.nat({ max: 5 }),
    commit: fc.nat({ max: 5 }),
    entries: fc.nat({ max: 3 }),
    context: fc.boolean(),
    snapshot: fc.nat({ max: 2 }),
  })
  .map((r) => {
    const m = msg({
      type: r.type,
      from: 'z',
      to: 'b',
      term: r.term,
      index: r.index,
      commit: r.commit,
      entries: Array.from({ length: r.entries }, (_, i) => ({ term: r.term, index: r.index + 1 + i, type: EntryType.Normal, data: Buffer.from([i]) })),
    });
    if (r.context) m.context = Buffer.from('ctx');
    if (r.snapshot > 0) m.snapshot = { data: Buffer.alloc(8, 7), metadata: { index: 3, term: 1, confState: { voters: ['b', 'z'], learners: [] } } };
    if (r.snapshot > 1) m.snapshotChunk = { offset: 0, totalBytes: 16 };
    return (unpackr.unpack(messagesFrame([m])) as [number, unknown[][]])[1][0];
  });

type Mutation = (w: unknown[]) => void;

/** One change to a wire message: a field, a field inside an entry, the snapshot or the chunk; a cut; extra fields. */
function mutationWith(fieldValue: fc.Arbitrary<unknown>): fc.Arbitrary<Mutation> {
    return fc.oneof(
    fc.tuple(fc.nat({ max: 12 }), fieldValue).map(([k, v]): Mutation => (w) => void (w[k] = v)),
    fc.tuple(fc.nat({ max: 3 }), fieldValue).map(([k, v]): Mutation => (w) => {
      const es = Array.isArray(w[6]) ? w[6] : (w[6] = []);
      if (es.length === 0) es.push([1, 1, 0, Buffer.from('e')]);
      const e = es[0];
      if (Array.isArray(e)) e[k] = v;
      else es[0] = v;
    }),
    fc.tuple(fc.nat({ max: 4 }), fieldValue).map(([k, v]): Mutation => (w) => {
      while (w.length < 12) w.push(null);
      if (!Array.isArray(w[11])) w[11] = [Buffer.from('s'), 1, 1, ['b'], []];
      (w[11] as unknown[])[k] = v;
    }),
    fc.tuple(wild, fieldValue).map(([a, b]): Mutation => (w) => {
      while (w.length < 13) w.push(null);
      if (absent(w[11])) w[11] = [Buffer.from('s'), 1, 1, ['b'], []];
      w[12] = [a, b];
    }),
    fc.nat({ max: 9 }).map((n): Mutation => (w) => void (w.length = n)),
    fc.array(fieldValue, { minLength: 1, maxLength: 3 }).map((extra): Mutation => (w) => void w.push(...extra)),
  );
}

/** `[6, [[[…]]]]` nested `depth` arrays deep, written byte by byte (no packer recurses that far). */
function deepFrame(depth: number): Buffer {
  return Buffer.concat([Buffer.from([0x92, FrameKind.Messages]), Buffer.alloc(depth, 0x91), Buffer.from([0x90])]);
}

/** MESSAGES frames: mutated messages, maybe between valid ones (all of a bad frame must be refused). */
function mutatedMessages(values: fc.Arbitrary<unknown>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.array(validWire, { minLength: 1, maxLength: 3 }), fc.array(mutationWith(values), { minLength: 1, maxLength: 2 }), fc.nat({ max: 2 }))
    .map(([msgs, muts, at]) => {
      const victim = msgs[Math.min(at, msgs.length - 1)];
      for (const mu of muts) mu(victim);
      return packr.pack([FrameKind.Messages, msgs]);
    });
}
const mutatedFrame = fc.oneof(
  { weight: 12, arbitrary: mutatedMessages(fieldValue) },
  { weight: 6, arbitrary: mutatedMessages(plausible) },
  { weight: 6, arbitrary: mutatedMessages(fc.oneof(fc.nat({ max: 20 }), fc.constant(Number.MAX_SAFE_INTEGER))) },
  { weight: 1, arbitrary: fc.constantFrom(10, 1000, 60_000).map(deepFrame) },
);

const helloBody = (): Record<string, unknown> =>
  (unpackr.unpack(encodeControlFrame(new DialerHandshake(identity('z'), 'b', 'x', 'raft').start())) as [number, Record<string, unknown>])[1];
const HELLO_KEYS = ['v', 'cluster', 'from', 'to', 'url', 'time', 'nonce', 'stream', 'instance'];

type FrameMutation = (f: unknown[]) => void;
const setHello = ([k, v]: [string, unknown]): FrameMutation => (f) => void ((f[1] as Record<string, unknown>)[k] = v);
/** A HELLO field set to a value the handshake may refuse or take (another cluster, this member's own ID, version 2, …). */
const helloChoice = fc
  .constantFrom<[string, unknown]>(
    ['v', 0], ['v', 2], ['cluster', 'c2'], ['from', 'b'], ['to', 'a'], ['to', 'c1'], // refused
    ['cluster', ''], ['cluster', 'c1'], ['from', ''], ['from', 'a'], ['to', ''], ['url', ''], ['stream', 'snapshot'], ['time', 0], // taken
  )
  .map(setHello);
const helloMutation: fc.Arbitrary<FrameMutation> = fc.oneof(
  fc.tuple(fc.constantFrom(...HELLO_KEYS), wild).map(setHello),
  helloChoice,
  fc.constantFrom(...HELLO_KEYS).map((k): FrameMutation => (f) => void delete (f[1] as Record<string, unknown>)[k]),
  fc.tuple(fc.string({ maxLength: 8 }), wild).map(([k, v]) => setHello([`x${k}`, v])),
  wild.map((v): FrameMutation => (f) => void (f[1] = v)),
  fc.constantFrom(0, 2, 3, 4, 5, 6, 7, -1).map((k): FrameMutation => (f) => void (f[0] = k)),
  wild.map((v): FrameMutation => (f) => void f.push(v)),
);

/** HELLO frames with fields replaced, removed or added, or the body or kind replaced. */
const mutatedHello = fc
  .oneof(
    { weight: 2, arbitrary: fc.array(helloMutation, { minLength: 1, maxLength: 3 }) },
    { weight: 1, arbitrary: fc.array(helloChoice, { minLength: 1, maxLength: 2 }) },
  )
  .map((muts) => {
    const f: unknown[] = [FrameKind.Hello, helloBody()];
    for (const mu of muts) {
      if (!isRecord(f[1])) f[1] = helloBody();
      mu(f);
    }
    return packr.pack(f);
  });

// ------------------------------------------------------------------ helpers

const NOT_MSGPACK = Symbol('not msgpack');

/** The frame as the receiver decodes it, or NOT_MSGPACK (which no model accepts). */
function tryUnpack(data: Buffer): unknown {
  try {
    return unpackr.unpack(data);
  } catch {
    return NOT_MSGPACK;
  }
}

/** Sockets and timers this process holds (Node's resource list): what a leaked connection leaves. */
function resources(): { sockets: number; timers: number } {
  const info = process.getActiveResourcesInfo();
  return { sockets: info.filter((r) => r === 'TCPSocketWrap').length, timers: info.filter((r) => r === 'Timeout').length };
}

/** Resolves with the next binary frame the server sends, or its close code. */
function nextFrameOrClose(raw: RawClient): Promise<Buffer | number> {
  return new Promise((resolve) => {
    raw.ws.once('message', (d) => resolve(d as Buffer));
    void raw.closed.then((c) => resolve(c.code));
  });
}

// ------------------------------------------------------------------ one live transport

describe('field-level fuzzing of a live transport', () => {
  let a: Member;
  let b: Member;
  let c: Member;
  before(async () => {
    [a, b, c] = await Promise.all([member('a'), member('b', { maxFrameBytes: MAX_FRAME, maxBufferedBytes: 1024 * 1024 }), member('c')]);
    connectAll([a, b, c]);
    a.t.send([heartbeat('a', 'b', 1), heartbeat('a', 'c', 1)]);
    c.t.send([heartbeat('c', 'b', 1)]);
    await waitFor('the members to connect', () => b.received.length >= 2 && c.received.length >= 1);
  });
  after(() => stopAll([a, b, c]));

  test('a MESSAGES frame with wrong fields closes its connection (1007, WS_BAD_FRAME) and delivers none of it; a right one is delivered', async () => {
    let raw = await rawClient(b.url, { handshakeAs: 'z', to: 'b' });
    let closed = 0;
    let delivered = 0;
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(mutatedFrame, async (data) => {
        const decoded = tryUnpack(data);
        const ok = messagesFrameOk(decoded);
        const before = b.received.length;
        const logged = linesWith(b.lines, 'WS_BAD_FRAME').length;
        raw.ws.send(data);
        const fate = await raw.pingOrClose();
        if (ok) {
          assert.equal(fate, 'pong', `a well-formed frame closed the connection: ${JSON.stringify(decoded)}`);
          const wanted = (decoded as [number, unknown[][]])[1].filter((w) => w[1] === 'z' && w[2] === 'b').length;
          assert.equal(b.received.length - before, wanted, 'every message from z to b is delivered, the others dropped');
          delivered += wanted;
        } else {
          assert.equal(fate, CloseCode.InvalidPayload, `a malformed frame got ${fate}: ${data.subarray(0, 200).toString('hex')}`);
          assert.equal(b.received.length, before, 'a malformed frame delivered messages');
          await waitFor('the reason in the log', () => linesWith(b.lines, 'WS_BAD_FRAME').length > logged);
          closed++;
          raw = await rawClient(b.url, { handshakeAs: 'z', to: 'b' });
        }
        for (const m of b.received.slice(before)) {
          assert.ok(messageOk(m), `the handler got a malformed message: ${show(m)}`);
          coreTakesOrRefuses(m);
          checked++;
        }
        noUncaught();
      }),
      { numRuns: 250, includeErrorInReport: true },
    );
    raw.ws.terminate();
    await raw.closed;
    console.error(`# MESSAGES frames: ${closed} closed, ${delivered} messages delivered`);
    assert.ok(closed > 100 && delivered > 15, `closed ${closed}, delivered ${delivered}`);
    assert.ok(checked === delivered);
  });

  test('HELLO with wrong fields is closed with 1007; a well-formed one is answered or refused as the handshake rules say', async () => {
    const counts = { bad: 0, refused: 0, answered: 0 };
    await fc.assert(
      fc.asyncProperty(mutatedHello, async (data) => {
        const decoded = unpackr.unpack(data);
        const raw = await rawClient(b.url);
        const answer = nextFrameOrClose(raw);
        raw.ws.send(data);
        const got = await answer;
        if (!helloOk(decoded)) {
          // A frame that does not decode is closed at once; a well-formed frame of another kind gets a REJECT first.
          if (Buffer.isBuffer(got)) assert.equal(unpackr.unpack(got)[0], FrameKind.Reject);
          const code = Buffer.isBuffer(got) ? (await raw.closed).code : got;
          assert.equal(code, CloseCode.InvalidPayload, `malformed HELLO ${String(JSON.stringify(decoded)).slice(0, 300)}`);
          counts.bad++;
        } else if (!helloAccepted(decoded, 'b')) {
          assert.ok(Buffer.isBuffer(got), 'a REJECT frame first');
          assert.equal(unpackr.unpack(got)[0], FrameKind.Reject);
          assert.equal((await raw.closed).code, CloseCode.PolicyViolation);
          counts.refused++;
        } else {
          assert.ok(Buffer.isBuffer(got), `HELLO ${JSON.stringify(decoded)} was not answered`);
          assert.equal(unpackr.unpack(got)[0], FrameKind.Challenge);
          counts.answered++;
        }
        raw.ws.terminate();
        await raw.closed;
        noUncaught();
      }),
      { numRuns: 150, includeErrorInReport: true },
    );
    console.error(`# HELLO frames: ${JSON.stringify(counts)}`);
    assert.ok(counts.bad > 50 && counts.refused > 5 && counts.answered > 5, JSON.stringify(counts));
  });

  test('a frame of exactly maxFrameBytes is taken; one byte more closes the connection with 1009 and WS_FRAME_TOO_LARGE', async () => {
    const sized = (bytes: number): Buffer => {
      const make = (n: number): Buffer =>
        messagesFrame([msg({ type: MessageType.MsgApp, from: 'z', to: 'b', term: 1, entries: [{ term: 1, index: 1, type: EntryType.Normal, data: Buffer.alloc(n) }] })]);
      const overhead = make(1000).byteLength - 1000;
      const f = make(bytes - overhead);
      assert.equal(f.byteLength, bytes);
      return f;
    };
    const raw = await rawClient(b.url, { handshakeAs: 'z', to: 'b' });
    const before = b.received.length;
    raw.ws.send(sized(MAX_FRAME));
    assert.equal(await raw.pingOrClose(), 'pong');
    assert.equal(b.received.length, before + 1);
    const logged = linesWith(b.lines, 'WS_FRAME_TOO_LARGE').length;
    raw.ws.send(sized(MAX_FRAME + 1));
    assert.equal(await raw.pingOrClose(), CloseCode.MessageTooBig);
    await waitFor('the reason in the log', () => linesWith(b.lines, 'WS_FRAME_TOO_LARGE').length > logged);
    assert.equal(b.received.length, before + 1);
  });

  test('after many bad connections no socket or timer is left, and the good members still talk', async () => {
    const base = resources();
    const badBefore = b.t.stats.badFrames;
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedFrame, mutatedHello, fc.uint8Array({ maxLength: 64 }).map((x) => Buffer.from(x))), fc.boolean(), async (data, handshake) => {
        const raw = await rawClient(b.url, handshake ? { handshakeAs: 'z', to: 'b' } : {});
        raw.ws.send(data);
        await raw.pingOrClose();
        raw.ws.terminate();
        await raw.closed;
      }),
      { numRuns: 120, includeErrorInReport: true },
    );
    assert.ok(b.t.stats.badFrames - badBefore > 40);
    await waitFor('sockets and timers back to where they were', () => {
      const now = resources();
      return now.sockets <= base.sockets && now.timers <= base.timers;
    });
    a.t.send([heartbeat('a', 'b', 77)]);
    c.t.send([heartbeat('c', 'b', 78)]);
    b.t.send([heartbeat('b', 'a', 79), heartbeat('b', 'c', 80)]);
    await waitFor('b to hear a and c', () => b.received.some((m) => m.commit === 77) && b.received.some((m) => m.commit === 78));
    await waitFor('a and c to hear b', () => a.received.some((m) => m.commit === 79) && c.received.some((m) => m.commit === 80));
    noUncaught();
  });

  test(
    'peers learned from handshakes of connections that closed are forgotten',
    async () => {
      const ids = Array.from({ length: 20 }, (_, i) => `ghost${i}`);
      for (const id of ids) {
        // A dialer that names itself and where it listens, then sends a bad frame.
        const ws = new WebSocket(`${b.url}/raft`, { perMessageDeflate: false });
        ws.on('error', () => {});
        const closed = new Promise<void>((r) => ws.once('close', () => r()));
        await new Promise<void>((r) => ws.once('open', () => r()));
        const hs = new DialerHandshake(identity(id, { advertise: `ws://127.0.0.1:1/${id}` }), 'b', b.url, 'raft');
        ws.on('message', (data: Buffer) => {
          const step = hs.receive(decodeFrame(data, MAX_FRAME));
          if (step.kind === 'continue') ws.send(encodeControlFrame(step.reply as Parameters<typeof encodeControlFrame>[0]));
          if (step.kind === 'open') ws.send(Buffer.from([0xc1]));
        });
        ws.send(encodeControlFrame(hs.start()));
        await closed;
      }
      assert.ok(linesWith(b.lines, 'learned that peer ghost').length > 0, 'the ghosts were learned');
      await waitFor('the ghosts to be forgotten', () => ids.every((id) => b.t.peerUrl(id) === undefined), 1000);
    },
  );
});

// ------------------------------------------------------------------ three RaftNodes and a fake peer

const enc = new TextEncoder();
const dec = new TextDecoder();

/** What a member applied, in order (entries are the test's own texts; a snapshot is them one per line). */
class AppliedTexts implements StateMachine<void> {
  readonly values: string[] = [];
  apply(e: AppliedEntry): void {
    this.values.push(dec.decode(e.data));
  }
  snapshot(): Uint8Array {
    return enc.encode(this.values.join('\n'));
  }
  restore(data: Uint8Array): void {
    this.values.splice(0, this.values.length, ...dec.decode(data).split('\n').filter((v) => v !== ''));
  }
}

/** `t`, with every message it hands to the node recorded first. */
function watched(t: WsTransport, seen: Message[]): Transport {
  return {
    start: (h) =>
      t.start({
        onMessage: (m) => {
          seen.push(m);
          h.onMessage(m);
        },
        onUnreachable: (id) => h.onUnreachable?.(id),
      }),
    send: (ms) => t.send(ms),
    addPeer: (id, url) => t.addPeer(id, url),
    removePeer: (id) => t.removePeer(id),
    stop: () => t.stop(),
    setIdentity: (i) => t.setIdentity(i),
  };
}

describe('three RaftNodes and a fake peer past the handshake', () => {
  const ids = ['n1', 'n2', 'n3'];
  const nodes: { id: string; node: RaftNode<void>; sm: AppliedTexts; t: WsTransport; seen: Message[]; lines: string[]; errors: Error[]; leaders: (string | undefined)[] }[] = [];
  before(async () => {
    const urls: Record<string, string> = {};
    for (const id of ids) urls[id] = `ws://127.0.0.1:${await freePort()}`;
    for (const id of ids) {
      const lines: string[] = [];
      const seen: Message[] = [];
      const t = wsTransport({ listen: urls[id], memberId: id, clusterId: 'c1', logger: captureLogger(lines), maxFrameBytes: MAX_FRAME, maxBufferedBytes: 1024 * 1024 });
      const sm = new AppliedTexts();
      const node = new RaftNode<void>({
        id,
        initialMembers: urls,
        logStore: new MemoryLogStore(),
        transport: watched(t, seen),
        stateMachine: sm,
        heartbeatIntervalMs: 50,
        electionTimeoutMs: 1000,
        logger: captureLogger(lines),
      });
      const entry = { id, node, sm, t, seen, lines, errors: [] as Error[], leaders: [] as (string | undefined)[] };
      node.on('error', (e) => entry.errors.push(e));
      node.on('leader', (l) => entry.leaders.push(l));
      nodes.push(entry);
    }
    await Promise.all(nodes.map((n) => n.node.start()));
    await waitFor('a leader known to all', () => {
      const ls = nodes.map((n) => n.node.status().leader);
      return ls[0] !== undefined && ls.every((l) => l === ls[0]);
    }, 15_000);
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.node.close()));
  });

  test('garbage and messages the core must refuse change nothing: no impostor leader, no foreign entry, the cluster commits', async () => {
    const leaderId = nodes[0].node.status().leader!;
    const target = nodes.find((n) => n.id !== leaderId)!;
    await target.node.propose(enc.encode('before'));
    await waitFor('all to apply "before"', () => nodes.every((n) => n.sm.values.includes('before')));
    const url = target.t.url;

    /** Well-formed messages from z that the core must refuse, at the target's term and log end. */
    const refusable = fc
      .tuple(fc.nat({ max: 7 }), fc.uint8Array({ minLength: 1, maxLength: 16 }), fc.nat({ max: 1000 }))
      .map(([kind, bytes, n]): Message[] => {
        const st = target.node.status();
        const [T, L] = [st.term, st.lastIndex];
        const data = Buffer.from(bytes);
        const base = { from: 'z', to: target.id };
        const e = (index: number, term: number) => ({ term, index, type: EntryType.Normal, data });
        const snapshot = { data, metadata: { index: L + 5, term: T, confState: { voters: ids, learners: [] } } };
        switch (kind) {
          case 0: // term 0 reads as a local message in the core: an append from anyone
            return [msg({ ...base, type: MessageType.MsgApp, term: 0, index: 0, logTerm: 0, commit: L + 1, entries: [e(1, 0)] })];
          case 1: // a heartbeat committing past the log
            return [msg({ ...base, type: MessageType.MsgHeartbeat, term: T, commit: L + 1 + n })];
          case 2:
            return [msg({ ...base, type: MessageType.MsgHeartbeat, term: 0, commit: L + 1 + n })];
          case 3: // an empty proposal (forwarded to the leader, whose core had an invariant against it)
            return [msg({ ...base, type: MessageType.MsgProp, term: 0, entries: [] })];
          case 4: // a proposal carrying a term
            return [msg({ ...base, type: MessageType.MsgProp, term: T + 1 + n, entries: [e(0, 0)] })];
          case 5: // entries that do not follow their index
            return [msg({ ...base, type: MessageType.MsgApp, term: T + 1, index: L, logTerm: T, entries: [e(L + 2, T)] })];
          case 6: // a snapshot at index 0, or with a term past the message's
            return [
              msg({ ...base, type: MessageType.MsgSnap, term: T + 1, snapshot: { ...snapshot, metadata: { ...snapshot.metadata, index: 0 } } }),
              msg({ ...base, type: MessageType.MsgSnap, term: T, snapshot: { ...snapshot, metadata: { ...snapshot.metadata, term: T + 1 } } }),
            ];
          default: // chunks that overlap: counted twice they would complete a snapshot with a hole
            return [
              msg({ ...base, type: MessageType.MsgSnap, term: T, snapshot: { ...snapshot, data: Buffer.alloc(8, 1) }, snapshotChunk: { offset: 0, totalBytes: 16 } }),
              msg({ ...base, type: MessageType.MsgSnap, term: T, snapshot: { ...snapshot, data: Buffer.alloc(8, 2) }, snapshotChunk: { offset: 4 + (n % 4), totalBytes: 16 } }),
            ];
        }
      });

    let raw = await rawClient(url, { handshakeAs: 'z', to: target.id });
    let refusals = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof({ arbitrary: refusable.map((ms) => messagesFrame(ms)), weight: 3 }, { arbitrary: mutatedFrame, weight: 1 }), async (data) => {
        raw.ws.send(data);
        const fate = await raw.pingOrClose();
        noUncaught();
        for (const n of nodes) assert.equal(n.errors.length, 0, `${n.id} stopped: ${n.errors.map(String).join("; ")}`);
        if (fate !== 'pong') raw = await rawClient(url, { handshakeAs: 'z', to: target.id });
        else refusals++;
      }),
      { numRuns: 80, includeErrorInReport: true },
    );
    raw.ws.terminate();
    await raw.closed;
    console.error(`# RaftNode target: ${refusals} frames taken and refused by the core`);
    assert.ok(refusals > 40, `${refusals} frames of refusable messages`);

    for (const n of nodes) {
      assert.deepEqual(n.errors.map(String), [], `${n.id} stopped`);
      assert.ok(!n.leaders.includes('z'), `${n.id} took z for its leader`);
      assert.ok(n.seen.every(messageOk), `${n.id} was handed a malformed message`);
    }
    assert.ok(linesWith(target.lines, 'dropped').length > 0, 'the refusals are logged');
    await nodes.find((n) => n.node.status().isLeader)!.node.propose(enc.encode('after'));
    await waitFor('all to apply "after"', () => nodes.every((n) => n.sm.values.includes('after')), 10_000);
    for (const n of nodes) {
      assert.deepEqual(n.sm.values, ['before', 'after'], `${n.id} applied only what the test proposed`);
      assert.deepEqual(n.sm.values, nodes[0].sm.values, `${n.id} applied what the others did`);
      assert.equal(n.node.status().commitIndex, nodes[0].node.status().commitIndex);
    }
    noUncaught();
  });

  test(
    'a MsgRemoved from a peer that is not a member stops nobody',
    async () => {
      const target = nodes.find((n) => !n.node.status().isLeader)!;
      const raw = await rawClient(target.t.url, { handshakeAs: 'z', to: target.id });
      raw.ws.send(messagesFrame([msg({ type: MessageType.MsgRemoved, from: 'z', to: target.id, term: target.node.status().term })]));
      assert.equal(await raw.pingOrClose(), 'pong');
      raw.ws.terminate();
      await raw.closed;
      await target.node.propose(enc.encode('still here'));
    },
  );
});
