// The frame codec on its own: round trips of every field, batch splitting,
// and the checks that turn malformed input into WS_BAD_FRAME.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { EntryType, MessageType, type Message } from '@kv/raft';
import fc from 'fast-check';
import { Packr } from 'msgpackr';

import { WsTransportError } from '../src/errors.ts';
import { decodeFrame, encodeControlFrame, encodeMessageFrames, FrameKind, type MessagesFrame } from '../src/frame-codec.ts';
import { msg } from './helpers.ts';

const packr = new Packr({ useRecords: false });
const LIMIT = 1 << 20;

function roundTrip(messages: Message[]): Message[] {
  const { frames, tooLarge } = encodeMessageFrames(messages, LIMIT);
  assert.equal(tooLarge.length, 0);
  return frames.flatMap((f) => (decodeFrame(f.data, LIMIT) as MessagesFrame).messages);
}

/** A deep copy with byte arrays (Buffers included) as plain arrays, for deepEqual. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function badFrame(data: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => decodeFrame(data, LIMIT),
    (e: unknown) => e instanceof WsTransportError && e.code === 'WS_BAD_FRAME' && pattern.test(e.message),
  );
}

describe('messages', () => {
  test('round-trips every field, including context, snapshot and snapshotChunk', () => {
    const full: Message = msg({
      type: MessageType.MsgSnap,
      from: 'a',
      to: 'b',
      term: 7,
      logTerm: 6,
      index: 2 ** 40,
      commit: 5,
      reject: true,
      rejectHint: 3,
      entries: [
        { term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) },
        { term: 2, index: 2, type: EntryType.ConfChange, data: new Uint8Array(0) },
      ],
      context: new Uint8Array([9]),
      snapshot: { data: new Uint8Array([4, 5]), metadata: { index: 10, term: 2, confState: { voters: ['a', 'b'], learners: ['c'] } } },
      snapshotChunk: { offset: 2, totalBytes: 4 },
    });
    const hb = msg({ type: MessageType.MsgHeartbeat, from: 'a', to: 'b' });
    const withContext = msg({ type: MessageType.MsgReadIndex, from: 'a', to: 'b', context: new Uint8Array([1]) });
    const withSnapshot = msg({ type: MessageType.MsgSnap, from: 'a', to: 'b', snapshot: full.snapshot! });
    const out = roundTrip([full, hb, withContext, withSnapshot]);
    assert.deepEqual(plain(out), plain([full, hb, withContext, withSnapshot]));
    assert.ok(!('context' in out[1]) && !('snapshot' in out[1]) && !('snapshotChunk' in out[1]), 'absent fields stay absent');
    assert.ok(out[0].entries[0].data instanceof Uint8Array);
  });

  test('round-trips arbitrary messages (property)', () => {
    const id = fc.string({ maxLength: 8 });
    const n = fc.nat({ max: Number.MAX_SAFE_INTEGER });
    const arb = fc.record({
      type: fc.constantFrom(MessageType.MsgApp, MessageType.MsgAppResp, MessageType.MsgVote, MessageType.MsgProp, MessageType.MsgPropResp),
      from: id,
      to: id,
      term: n,
      logTerm: n,
      index: n,
      commit: n,
      reject: fc.boolean(),
      rejectHint: n,
      entries: fc.array(fc.record({ term: n, index: n, type: fc.constantFrom(EntryType.Normal, EntryType.ConfChange), data: fc.uint8Array({ maxLength: 64 }) }), { maxLength: 4 }),
    });
    fc.assert(
      fc.property(fc.array(arb, { minLength: 1, maxLength: 10 }), (ms) => {
        const out = roundTrip(ms as Message[]);
        assert.deepEqual(
          out.map((m) => ({ ...m, entries: m.entries.map((e) => ({ ...e, data: [...e.data] })) })),
          ms.map((m) => ({ ...m, entries: m.entries.map((e) => ({ ...e, data: [...e.data] })) })),
        );
      }),
    );
  });

  test('splits a batch over maxFrameBytes into frames that each fit, keeping order', () => {
    const ms = Array.from({ length: 40 }, (_, i) =>
      msg({ type: MessageType.MsgApp, from: 'a', to: 'b', index: i, entries: [{ term: 1, index: i + 1, type: EntryType.Normal, data: new Uint8Array(1000) }] }),
    );
    const { frames, tooLarge } = encodeMessageFrames(ms, 8 * 1024);
    assert.equal(tooLarge.length, 0);
    assert.ok(frames.length >= 5);
    assert.ok(frames.every((f) => f.data.byteLength <= 8 * 1024));
    assert.equal(frames.reduce((s, f) => s + f.count, 0), 40);
    const out = frames.flatMap((f) => (decodeFrame(f.data, LIMIT) as MessagesFrame).messages);
    assert.deepEqual(out.map((m) => m.index), ms.map((m) => m.index));
  });

  test('does not leave later small frames pinning the buffer of a large one', () => {
    const big = msg({ type: MessageType.MsgApp, from: 'a', to: 'b', entries: [{ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(2 * 1024 * 1024) }] });
    encodeMessageFrames([big], 4 * 1024 * 1024);
    const small = encodeMessageFrames([msg({ type: MessageType.MsgHeartbeat, from: 'a', to: 'b' })], LIMIT).frames[0].data;
    assert.ok(small.buffer.byteLength < 64 * 1024, `a heartbeat frame is a view of ${small.buffer.byteLength} bytes`);
  });

  test('reports a message too large to fit alone instead of sending it', () => {
    const big = msg({ type: MessageType.MsgApp, from: 'a', to: 'b', entries: [{ term: 1, index: 1, type: EntryType.Normal, data: new Uint8Array(10_000) }] });
    const small = msg({ type: MessageType.MsgHeartbeat, from: 'a', to: 'b' });
    const { frames, tooLarge } = encodeMessageFrames([small, big, small], 8 * 1024);
    assert.equal(tooLarge.length, 1);
    assert.equal(tooLarge[0].message, big);
    assert.ok(tooLarge[0].bytes > 10_000);
    assert.equal(frames.reduce((s, f) => s + f.count, 0), 2);
  });
});

describe('control frames', () => {
  test('round-trips HELLO, CHALLENGE, PROOF, WELCOME and REJECT', () => {
    const nonce = new Uint8Array(32).fill(1);
    const frames = [
      { kind: FrameKind.Hello, v: 1, cluster: 'c', from: 'a', to: 'b', url: 'ws://x:1', time: 1.5, nonce, stream: 'snapshot', instance: 'i' },
      { kind: FrameKind.Challenge, cluster: 'c', from: 'b', url: 'ws://y:2', time: 2, nonce, instance: 'j', proof: new Uint8Array([1, 2]) },
      { kind: FrameKind.Challenge, cluster: '', from: '', url: '', time: 2, nonce, instance: 'j', proof: undefined },
      { kind: FrameKind.Proof, proof: undefined },
      { kind: FrameKind.Welcome },
      { kind: FrameKind.Reject, code: 'WS_AUTH_FAILED', reason: 'no', cluster: 'c' },
    ] as const;
    for (const f of frames) {
      const out = decodeFrame(encodeControlFrame(f), LIMIT);
      assert.deepEqual(plain(out), plain(f));
    }
  });

  test('reads an unknown refusal code from a newer peer as WS_HANDSHAKE_REJECTED', () => {
    const out = decodeFrame(packr.pack([FrameKind.Reject, { code: 'WS_SOMETHING_NEW', reason: 'r', cluster: '' }]), LIMIT);
    assert.equal(out.kind === FrameKind.Reject && out.code, 'WS_HANDSHAKE_REJECTED');
  });
});

describe('malformed input', () => {
  test('rejects bytes that are not a msgpack frame with WS_BAD_FRAME', () => {
    badFrame(new Uint8Array([0xc1]), /./);
    badFrame(new Uint8Array([0xc7, 0x05, 0x05, 1, 2, 3, 4, 5]), /not valid msgpack: Unknown extension type 5/);
  });
  test('rejects truncated msgpack with WS_BAD_FRAME', () => {
    const good = encodeMessageFrames([msg({ type: MessageType.MsgHeartbeat, from: 'a', to: 'b' })], LIMIT).frames[0].data;
    badFrame(good.subarray(0, good.byteLength - 1), /not valid msgpack/);
  });
  test('rejects trailing bytes after a frame with WS_BAD_FRAME', () => badFrame(Buffer.concat([packr.pack([4]), Buffer.from([1])]), /not valid msgpack/));
  test('rejects huge declared lengths without allocating them', () => {
    for (const header of [[0xdd, 0xff, 0xff, 0xff, 0xff], [0xdf, 0xff, 0xff, 0xff, 0xff], [0xc6, 0xff, 0xff, 0xff, 0xff], [0xdb, 0xff, 0xff, 0xff, 0xff]]) {
      badFrame(new Uint8Array([...header, 1, 2, 3]), /not valid msgpack/);
    }
  });
  test('rejects a frame that is not an array', () => badFrame(packr.pack({ kind: 6 }), /non-empty array/));
  test('rejects an unknown frame kind', () => badFrame(packr.pack([99]), /unknown frame kind 99/));
  test('rejects a message with a field of the wrong type, naming the field', () => {
    const wire = [MessageType.MsgApp, 'a', 'b', -1, 0, 0, [], 0, false, 0];
    badFrame(packr.pack([FrameKind.Messages, [wire]]), /message\[0\]\.term must be a non-negative integer/);
  });
  test('rejects a local message type such as MsgHup', () => {
    badFrame(packr.pack([FrameKind.Messages, [[MessageType.MsgHup, 'a', 'b', 0, 0, 0, [], 0, false, 0]]]), /not a message type peers exchange/);
  });
  test('rejects an entry of an unknown type', () => {
    badFrame(packr.pack([FrameKind.Messages, [[MessageType.MsgApp, 'a', 'b', 0, 0, 0, [[1, 1, 5, Buffer.alloc(0)]], 0, false, 0]]]), /entries\[0\]\.type 5/);
  });
  test('rejects unsafe integers', () => {
    badFrame(packr.pack([FrameKind.Messages, [[MessageType.MsgApp, 'a', 'b', 2 ** 60, 0, 0, [], 0, false, 0]]]), /term must be a non-negative integer/);
  });
  test('rejects a snapshotChunk without a snapshot', () => {
    badFrame(packr.pack([FrameKind.Messages, [[MessageType.MsgSnap, 'a', 'b', 0, 0, 0, [], 0, false, 0, null, null, [0, 1]]]]), /snapshotChunk without a snapshot/);
  });
  test('rejects a HELLO with a short nonce', () => {
    badFrame(
      packr.pack([FrameKind.Hello, { v: 1, cluster: '', from: '', to: '', url: '', time: 0, nonce: Buffer.alloc(4), stream: 'raft', instance: '' }]),
      /hello\.nonce is 4 bytes/,
    );
  });
  test('rejects an over-long member ID', () => {
    badFrame(packr.pack([FrameKind.Messages, [[MessageType.MsgApp, 'a'.repeat(300), 'b', 0, 0, 0, [], 0, false, 0]]]), /from is 300 characters/);
  });
  test('rejects a frame over the limit with WS_FRAME_TOO_LARGE', () => {
    assert.throws(() => decodeFrame(new Uint8Array(100), 50), (e: unknown) => e instanceof WsTransportError && e.code === 'WS_FRAME_TOO_LARGE' && /100 bytes, maxFrameBytes is 50/.test(e.message));
  });
  test('rejects deeply nested values without overflowing', () => {
    const depth = 200_000;
    const deep = Buffer.alloc(depth + 1, 0x91);
    deep[depth] = 0x01;
    badFrame(deep, /./);
  });
  test('never throws anything but WsTransportError for arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 256 }), fc.anything().map((v) => new Uint8Array(packr.pack(v)))), (data) => {
        try {
          decodeFrame(data, LIMIT);
        } catch (e) {
          assert.ok(e instanceof WsTransportError, String(e));
        }
      }),
      { numRuns: 500 },
    );
  });
});
