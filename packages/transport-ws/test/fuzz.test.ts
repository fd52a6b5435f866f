// Garbage against a real transport on 127.0.0.1: random bytes, truncated
// msgpack, valid msgpack of the wrong shape, huge declared lengths (in
// msgpack and in WebSocket frame headers), text frames, raw TCP noise, and a
// server that answers a dialer with garbage. Each bad frame must close its
// own connection with a logged reason and a protocol close code; nothing may
// throw; and afterwards two good members still talk.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { MessageType } from '@kv/raft';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { WebSocketServer } from 'ws';

import { CloseCode } from '../src/errors.ts';
import { decodeFrame, encodeControlFrame, FrameKind } from '../src/frame-codec.ts';
import { DialerHandshake } from '../src/handshake.ts';
import { identity, messagesFrame, rawClient } from './fake-peer.ts';
import { connectAll, heartbeat, linesWith, member, stopAll, waitFor, type Member } from './helpers.ts';

const packr = new Packr({ useRecords: false });
const MAX_FRAME = 64 * 1024;
const CLOSE_CODES: readonly number[] = [CloseCode.UnsupportedData, CloseCode.InvalidPayload, CloseCode.PolicyViolation, CloseCode.MessageTooBig, 1002];

/** Headers that declare far more data than follows (array32, map32, bin32, str32, ext32). */
const HUGE_HEADERS = [0xdd, 0xdf, 0xc6, 0xdb, 0xc9].map((t) => Buffer.from([0x92, 0x06, t, 0xff, 0xff, 0xff, 0xf0, 0x01]));

const validFrame = fc.constantFrom(
  messagesFrame([heartbeat('z', 'b', 1)]),
  encodeControlFrame(new DialerHandshake(identity('z'), 'b', 'x', 'raft').start()),
  messagesFrame([{ ...heartbeat('z', 'b'), type: MessageType.MsgSnap, snapshot: { data: new Uint8Array(100), metadata: { index: 1, term: 1, confState: { voters: ['b'], learners: [] } } } }]),
);

const garbage = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 4096 }).map((b) => Buffer.from(b)),
  validFrame.chain((f) => fc.nat({ max: f.byteLength - 1 }).map((n) => f.subarray(0, n))),
  fc.anything({ maxDepth: 4 }).map((v) => packr.pack(v)),
  fc.tuple(fc.constantFrom(1, 2, 3, 4, 5, 6, 7), fc.array(fc.anything({ maxDepth: 3 }), { maxLength: 3 })).map(([k, rest]) => packr.pack([k, ...rest])),
  fc.array(fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 14 }), { maxLength: 3 }).map((ms) => packr.pack([FrameKind.Messages, ms])),
  fc.constantFrom(...HUGE_HEADERS),
);

/** What a correct server does with one frame: close the connection, or keep it (a valid frame). */
function expectClose(data: Buffer, afterHandshake: boolean): boolean {
  try {
    const f = decodeFrame(data, MAX_FRAME);
    return afterHandshake ? f.kind !== FrameKind.Messages : f.kind !== FrameKind.Hello;
  } catch {
    return true;
  }
}

describe('fuzzing a live transport', () => {
  let b: Member;
  let good: Member;
  before(async () => {
    b = await member('b', { maxFrameBytes: MAX_FRAME, maxBufferedBytes: 1024 * 1024 });
    good = await member('a');
  });
  after(() => stopAll([b, good]));

  test('closes the connection of every malformed frame with a logged reason, before and after the handshake', async () => {
    let closes = 0;
    await fc.assert(
      fc.asyncProperty(garbage, fc.boolean(), fc.boolean(), async (data, afterHandshake, asText) => {
        const raw = await rawClient(b.url, afterHandshake ? { handshakeAs: 'z', to: 'b' } : {});
        const logged = linesWith(b.lines, 'closing the connection').length;
        raw.ws.send(data, { binary: !asText });
        const fate = await raw.pingOrClose();
        const shouldClose = asText || expectClose(data, afterHandshake);
        if (shouldClose) {
          assert.notEqual(fate, 'pong', 'the server kept a connection that sent a bad frame');
          assert.ok(CLOSE_CODES.includes(fate as number), `close code ${fate}`);
          // A text frame is refused as such, unless ws finds its UTF-8 invalid first (1007).
          if (asText) assert.ok(fate === CloseCode.UnsupportedData || fate === CloseCode.InvalidPayload, `text frame closed with ${fate}`);
          await waitFor('the reason in the log', () => linesWith(b.lines, 'closing the connection').length > logged);
          closes++;
        } else {
          assert.equal(fate, 'pong');
        }
        raw.ws.terminate();
        await raw.closed;
      }),
      { numRuns: 150 },
    );
    assert.ok(closes > 100, `only ${closes} runs closed a connection`);
    assert.ok(linesWith(b.lines, 'WS_BAD_FRAME').length > 0);
  });

  test('closes a connection whose WebSocket frame header declares a huge length, before reading it', async () => {
    for (const length of [2n ** 63n - 1n, 2n ** 53n, 100n * 1024n * 1024n]) {
      const socket = await upgradedSocket(b.t.port!);
      const header = Buffer.alloc(14);
      header[0] = 0x82; // FIN, binary
      header[1] = 0x80 | 127; // masked, 64-bit length
      header.writeBigUInt64BE(length, 2);
      socket.write(header);
      const reply = await readUntilClosed(socket);
      // The server's close frame: 0x88, length, then the code.
      const at = reply.indexOf(0x88);
      assert.ok(at >= 0, 'a close frame');
      assert.equal(reply.readUInt16BE(at + 2), CloseCode.MessageTooBig);
    }
    await waitFor('the reasons', () => linesWith(b.lines, 'WS_FRAME_TOO_LARGE').length >= 3);
  });

  test('survives raw TCP noise on the peer port', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 2048 }), fc.constantFrom(Buffer.from('GET /raft HTTP/1.1\r\nUpgrade: websocket\r\n\r\n'), Buffer.from('\x16\x03\x01\x02\x00'))), async (bytes) => {
        const socket = connect(b.t.port!, '127.0.0.1');
        socket.on('error', () => {});
        socket.resume(); // read the server's answer, or 'close' never comes
        await new Promise<void>((r) => socket.once('connect', () => r()));
        socket.end(Buffer.from(bytes));
        await new Promise<void>((r) => socket.once('close', () => r()));
      }),
      { numRuns: 60 },
    );
  });

  test('a dialer that gets garbage from a server closes that connection and goes on', async () => {
    let next = 0;
    const frames: Buffer[] = [];
    const evil = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((r) => evil.once('listening', () => r()));
    evil.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.once('message', () => ws.send(frames[next++ % frames.length]));
    });
    const url = `ws://127.0.0.1:${(evil.address() as { port: number }).port}`;
    try {
      await fc.assert(
        fc.asyncProperty(garbage, async (data) => {
          frames.length = 0;
          frames.push(data);
          next = 0;
          const id = `evil${good.t.stats.connectionsDialed}`;
          good.t.addPeer(id, url);
          good.t.send([heartbeat('a', id)]);
          await waitFor('the dial to fail', () => good.unreachable.includes(id));
          good.t.removePeer(id);
        }),
        { numRuns: 40 },
      );
    } finally {
      await new Promise<void>((r) => evil.close(() => r()));
      for (const c of evil.clients) c.terminate();
    }
    assert.ok(linesWith(good.lines, 'closing the connection').length > 0);
  });

  test('afterwards the process is up and two good members still talk', async () => {
    connectAll([b, good]);
    good.t.send([heartbeat('a', 'b', 42)]);
    await waitFor('b to hear a', () => b.received.some((r) => r.commit === 42));
    b.t.send([heartbeat('b', 'a', 43)]);
    await waitFor('a to hear b', () => good.received.some((r) => r.commit === 43));
    assert.ok(b.t.stats.badFrames > 100);
  });
});

/** A raw TCP socket with the WebSocket upgrade to /raft done by hand. */
async function upgradedSocket(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write(
    'GET /raft HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let head = Buffer.alloc(0);
  while (!head.includes('\r\n\r\n')) {
    head = Buffer.concat([head, await new Promise<Buffer>((r) => socket.once('data', r))]);
  }
  assert.match(head.toString(), /^HTTP\/1\.1 101/);
  return socket;
}

function readUntilClosed(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((r) => socket.once('close', () => r(Buffer.concat(chunks))));
}
