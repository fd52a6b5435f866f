// WsTransport over real sockets on 127.0.0.1: delivery, batching, learning,
// reconnect, backpressure, frame limits, refusals, clock skew, the snapshot
// path and the lifecycle. Every test stops what it started.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { afterEach, describe, test } from 'node:test';

import { EntryType, MessageType, type Message } from '@kv/raft';

import { CloseCode, WsTransportError } from '../src/errors.ts';
import { wsTransport } from '../src/ws-transport.ts';
import { fakeAcceptor, messagesFrame, rawClient } from './fake-peer.ts';
import { connectAll, heartbeat, linesWith, member, msg, nextTurn, stopAll, waitFor, type Member } from './helpers.ts';

let started: Member[] = [];
async function m(id: string, options: Parameters<typeof member>[1] = {}): Promise<Member> {
  const x = await member(id, options);
  started.push(x);
  return x;
}
afterEach(async () => {
  await stopAll(started);
  started = [];
});

function app(from: string, to: string, bytes: number, index = 1): Message {
  return msg({
    type: MessageType.MsgApp,
    from,
    to,
    index,
    entries: [{ term: 1, index: index + 1, type: EntryType.Normal, data: new Uint8Array(bytes).fill(7) }],
  });
}

describe('delivery', () => {
  test('delivers messages both ways over the one connection the sender dialed', async () => {
    const [a, b] = [await m('a'), await m('b')];
    connectAll([a, b]);
    const sent = heartbeat('a', 'b', 1);
    a.t.send([sent]);
    await waitFor('b to receive', () => b.received.length === 1);
    assert.deepEqual(b.received[0], sent);
    b.t.send([heartbeat('b', 'a', 2)]);
    await waitFor('a to receive', () => a.received.length === 1);
    assert.equal(a.received[0].commit, 2);
    assert.equal(a.t.stats.connectionsDialed, 1);
    assert.equal(b.t.stats.connectionsDialed, 0, 'b answered on the connection a dialed');
    assert.equal(b.t.stats.connectionsAccepted, 1);
    assert.ok(a.t.isConnected('b') && b.t.isConnected('a'));
  });

  test('three transports exchange messages pairwise', async () => {
    const ms = [await m('a'), await m('b'), await m('c')];
    connectAll(ms);
    for (const x of ms) x.t.send(ms.filter((y) => y !== x).map((y, i) => heartbeat(x.id, y.id, i)));
    await waitFor('every member to hear from both others', () => ms.every((x) => x.received.length === 2));
    for (const x of ms) {
      assert.deepEqual(x.received.map((r) => r.from).sort(), ms.filter((y) => y !== x).map((y) => y.id).sort());
      assert.ok(x.received.every((r) => r.to === x.id));
    }
  });

  test('carries every message type peers exchange, including the driver messages MsgRemoved and MsgPropResp', async () => {
    const [a, b] = [await m('a'), await m('b')];
    connectAll([a, b]);
    const types = [
      MessageType.MsgProp, MessageType.MsgApp, MessageType.MsgAppResp, MessageType.MsgVote, MessageType.MsgVoteResp,
      MessageType.MsgHeartbeat, MessageType.MsgHeartbeatResp, MessageType.MsgTransferLeader, MessageType.MsgTimeoutNow,
      MessageType.MsgReadIndex, MessageType.MsgReadIndexResp, MessageType.MsgPreVote, MessageType.MsgPreVoteResp,
      MessageType.MsgRemoved, MessageType.MsgPropResp,
    ];
    const sent = types.map((type, i) =>
      msg({ type, from: 'a', to: 'b', term: 3, index: i, reject: i % 2 === 0, rejectHint: i, context: new Uint8Array([i]) }),
    );
    a.t.send(sent);
    await waitFor('all types to arrive', () => b.received.length === types.length);
    assert.deepEqual(b.received.map((r) => ({ ...r, context: [...r.context!] })), sent.map((s) => ({ ...s, context: [...s.context!] })));
  });

  test('drops local messages such as MsgHup instead of sending them, and keeps the connection', async () => {
    const [a, b] = [await m('a'), await m('b')];
    connectAll([a, b]);
    a.t.send([msg({ type: MessageType.MsgHup, from: 'a', to: 'b' }), heartbeat('a', 'b', 5)]);
    await waitFor('the heartbeat', () => b.received.length === 1);
    assert.equal(b.received[0].type, MessageType.MsgHeartbeat);
    assert.equal(a.t.stats.messagesDropped, 1);
    assert.equal(b.t.stats.badFrames, 0);
  });

  test('listens on an http:// peer URL as etcd members do, speaking WebSocket on that port', async () => {
    const [a, b] = [await m('a', { listen: 'http://127.0.0.1:0' }), await m('b', { listen: 'http://127.0.0.1:0' })];
    assert.match(a.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('b to receive over http://', () => b.received.length === 1);
  });

  test('a plain HTTP request to the peer port gets 426 and does not disturb the transport', async () => {
    const a = await m('a');
    const res = await fetch(`${a.url.replace('ws:', 'http:')}/raft`);
    assert.equal(res.status, 426);
    await res.text();
  });

  test('send never throws and reports an unknown peer through onUnreachable on a later turn', async () => {
    const a = await m('a');
    let synchronous = true;
    a.t.send([heartbeat('a', 'nobody')]);
    synchronous = false;
    await waitFor('onUnreachable(nobody)', () => a.unreachable.includes('nobody'));
    assert.equal(synchronous, false);
    assert.equal(a.t.stats.messagesDropped, 1);
  });
});

describe('batching', () => {
  test('coalesces a thousand messages sent in one turn into one frame', async () => {
    const [a, b] = [await m('a'), await m('b')];
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b', 0)]);
    await waitFor('the connection', () => b.received.length === 1);
    const framesBefore = b.t.stats.framesReceived;
    const sentBefore = a.t.stats.framesSent;
    for (let i = 1; i <= 1000; i++) a.t.send([heartbeat('a', 'b', i)]);
    await waitFor('all 1000', () => b.received.length === 1001);
    assert.equal(b.t.stats.framesReceived - framesBefore, 1);
    assert.equal(a.t.stats.framesSent - sentBefore, 1);
    assert.deepEqual(b.received.slice(1).map((r) => r.commit), Array.from({ length: 1000 }, (_, i) => i + 1), 'order kept');
  });

  test('sends one frame per peer for messages to several peers in one turn', async () => {
    const ms = [await m('a'), await m('b'), await m('c')];
    connectAll(ms);
    const [a, b, c] = ms;
    a.t.send([heartbeat('a', 'b'), heartbeat('a', 'c')]);
    await waitFor('connections', () => b.received.length === 1 && c.received.length === 1);
    const before = a.t.stats.framesSent;
    for (let i = 0; i < 50; i++) a.t.send([heartbeat('a', 'b', i), heartbeat('a', 'c', i)]);
    await waitFor('all', () => b.received.length === 51 && c.received.length === 51);
    assert.equal(a.t.stats.framesSent - before, 2);
  });

  test('messages sent before the connection opens wait for it and go out in order', async () => {
    const [a, b] = [await m('a'), await m('b')];
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b', 1)]);
    await nextTurn();
    a.t.send([heartbeat('a', 'b', 2)]);
    await nextTurn();
    a.t.send([heartbeat('a', 'b', 3)]);
    await waitFor('three', () => b.received.length === 3);
    assert.deepEqual(b.received.map((r) => r.commit), [1, 2, 3]);
    assert.equal(a.t.stats.connectionsDialed, 1);
  });

  test('splits a batch larger than maxFrameBytes into several frames, in order', async () => {
    const opts = { maxFrameBytes: 64 * 1024, maxBufferedBytes: 1024 * 1024 };
    const [a, b] = [await m('a', opts), await m('b', opts)];
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('connection', () => b.received.length === 1);
    const before = b.t.stats.framesReceived;
    a.t.send(Array.from({ length: 20 }, (_, i) => app('a', 'b', 10 * 1024, i)));
    await waitFor('20 appends', () => b.received.length === 21);
    assert.ok(b.t.stats.framesReceived - before >= 4, `${b.t.stats.framesReceived - before} frames`);
    assert.deepEqual(b.received.slice(1).map((r) => r.index), Array.from({ length: 20 }, (_, i) => i));
  });
});

describe('peers and identity', () => {
  test('learns a sender URL from its handshake so it can answer a member it did not know', async () => {
    const [a, b] = [await m('a'), await m('b')];
    a.t.addPeer('b', b.url); // b knows nothing of a
    assert.equal(b.t.peerUrl('a'), undefined);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('b to receive', () => b.received.length === 1);
    assert.equal(b.t.peerUrl('a'), a.url);
    b.t.send([heartbeat('b', 'a', 9)]);
    await waitFor('a to receive the answer', () => a.received.length === 1);
  });

  test('a joining member with no ID adopts the ID of the first message addressed to it', async () => {
    const a = await m('a');
    const j = await m('', { memberId: undefined });
    assert.equal(j.t.memberId, '');
    a.t.addPeer('j9', j.url);
    a.t.send([heartbeat('a', 'j9', 1)]);
    await waitFor('j to receive', () => j.received.length === 1);
    assert.equal(j.t.memberId, 'j9');
    assert.equal(j.t.peerUrl('a'), a.url);
    j.t.send([heartbeat('j9', 'a', 2)]);
    await waitFor('a to hear back', () => a.received.length === 1);
  });

  test('setMemberId and setClusterId refuse to change an ID once set', async () => {
    const a = await m('a');
    a.t.setMemberId('a');
    assert.throws(() => a.t.setMemberId('b'), RangeError);
    assert.throws(() => a.t.setClusterId('c2'), RangeError);
    const j = await m('', { memberId: undefined, clusterId: undefined });
    j.t.setClusterId('c1');
    j.t.setMemberId('j');
    assert.equal(j.t.memberId, 'j');
    assert.equal(j.t.clusterId, 'c1');
  });

  test('removePeer closes its connections, drops its messages and refuses it until addPeer', async () => {
    const [a, b] = [await m('a'), await m('b')];
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('connection', () => b.received.length === 1);
    a.t.removePeer('b');
    await waitFor('b to see the connection go', () => !b.t.isConnected('a'));
    assert.equal(a.t.peerUrl('b'), undefined);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('onUnreachable(b)', () => a.unreachable.includes('b'));
    await waitFor('a to refuse b when b dials again', () => {
      b.t.send([heartbeat('b', 'a')]);
      return linesWith(a.lines, 'was removed from the cluster').length > 0;
    });
    assert.equal(a.received.length, 0);
    a.t.addPeer('b', b.url);
    a.t.send([heartbeat('a', 'b', 7)]);
    await waitFor('b again', () => b.received.some((r) => r.commit === 7));
  });

  test('drops a message whose from is not the member the connection was opened with', async () => {
    const b = await m('b');
    const raw = await rawClient(b.url, { handshakeAs: 'z', to: 'b' });
    raw.ws.send(messagesFrame([heartbeat('y', 'b', 1), heartbeat('z', 'b', 2), heartbeat('z', 'other', 3)]));
    await waitFor('the honest message', () => b.received.length === 1);
    assert.equal(b.received[0].commit, 2);
    assert.equal(await raw.pingOrClose(), 'pong', 'the connection stays open');
    await waitFor('the warnings', () => linesWith(b.lines, 'claiming to be from y').length === 1 && linesWith(b.lines, 'addressed to other').length === 1);
    raw.ws.terminate();
  });
});

describe('connections', () => {
  test('settles on one connection when both members dial each other at once', async () => {
    const [a, b] = [await m('a'), await m('b')];
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b', 1)]);
    b.t.send([heartbeat('b', 'a', 1)]);
    await waitFor('both', () => a.received.length === 1 && b.received.length === 1);
    // Keep talking: messages flow and nobody dials again once settled.
    for (let i = 2; i <= 20; i++) {
      a.t.send([heartbeat('a', 'b', i)]);
      b.t.send([heartbeat('b', 'a', i)]);
      await waitFor(`round ${i}`, () => a.received.length === i && b.received.length === i);
    }
    await waitFor('one connection left', () => a.t.isConnected('b') && b.t.isConnected('a'));
    assert.ok(a.t.stats.connectionsDialed + b.t.stats.connectionsDialed <= 3, `dials: ${a.t.stats.connectionsDialed} + ${b.t.stats.connectionsDialed}`);
    assert.equal(linesWith([...a.lines, ...b.lines], 'became inactive').length, 0);
  });

  test('reconnects after the peer restarts on the same port', async () => {
    const [a, b] = [await m('a', { reconnectMinMs: 20, reconnectMaxMs: 200 }), await m('b')];
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b', 1)]);
    await waitFor('first message', () => b.received.length === 1);
    const port = b.t.port!;
    await b.t.stop();
    await waitFor('a to notice', () => a.unreachable.includes('b'));
    assert.equal(linesWith(a.lines, 'peer b became inactive').length, 1);
    a.t.send([heartbeat('a', 'b', 2)]); // dropped: b is down
    const b2 = await m('b', { listen: `ws://127.0.0.1:${port}` });
    let seq = 100;
    await waitFor('a message to reach the restarted b', () => {
      a.t.send([heartbeat('a', 'b', seq++)]);
      return b2.received.length > 0;
    });
    b2.t.send([heartbeat('b', 'a', 3)]);
    await waitFor('the answer', () => a.received.some((r) => r.commit === 3));
    assert.ok(linesWith(a.lines, 'peer b became active').length >= 2);
  });

  test('a stopped transport starts again on the port it had and peers reconnect', async () => {
    const [a, b] = [await m('a', { reconnectMinMs: 20, reconnectMaxMs: 200 }), await m('b')];
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b', 1)]);
    await waitFor('first', () => b.received.length === 1);
    const port = b.t.port;
    await b.t.stop();
    await b.t.start({ onMessage: (x) => void b.received.push(x) });
    assert.equal(b.t.port, port);
    b.t.addPeer('a', a.url);
    let seq = 10;
    await waitFor('delivery after restart', () => {
      a.t.send([heartbeat('a', 'b', seq++)]);
      return b.received.length > 1;
    });
  });

  test('redials after a failed dial only once the backoff has passed, dropping messages meanwhile', async () => {
    const a = await m('a', { reconnectMinMs: 400, reconnectMaxMs: 400 });
    const port = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    a.t.addPeer('b', `ws://127.0.0.1:${port}`);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('the failed dial', () => a.unreachable.includes('b'));
    const dials = a.t.stats.connectionsDialed;
    for (let i = 0; i < 5; i++) {
      a.t.send([heartbeat('a', 'b')]);
      await nextTurn();
    }
    assert.equal(a.t.stats.connectionsDialed, dials, 'no dial during the backoff');
    assert.ok(a.t.stats.messagesDropped >= 6);
  });
});

describe('backpressure', () => {
  test('drops messages to a peer that stops reading once maxBufferedBytes wait, and reports it unreachable', async () => {
    let peerSocket: import('ws').WebSocket | undefined;
    const fake = await fakeAcceptor('p', (ws) => {
      peerSocket = ws;
      ws.pause(); // stop reading: the sender's socket fills up
    });
    try {
      const a = await m('a', { maxFrameBytes: 256 * 1024, maxBufferedBytes: 1024 * 1024 });
      a.t.addPeer('p', fake.url);
      let sent = 0;
      while (!a.unreachable.includes('p') && sent < 4000) {
        a.t.send([app('a', 'p', 60 * 1024, sent++)]);
        await nextTurn();
      }
      assert.ok(a.unreachable.includes('p'), `no onUnreachable after ${sent} messages`);
      assert.ok(a.t.stats.messagesDropped > 0);
      assert.equal(linesWith(a.lines, 'dropping messages to peer p').length, 1, 'one line per episode');
      assert.match(linesWith(a.lines, 'dropping messages to peer p')[0], /maxBufferedBytes \(1048576\)/);
      // The peer reads again: the backlog drains and messages flow again.
      peerSocket!.resume();
      await waitFor('sending again', () => {
        a.t.send([heartbeat('a', 'p', 1)]);
        return linesWith(a.lines, 'sending to peer p').length === 1;
      }, 10_000);
    } finally {
      await fake.close();
    }
  });
});

describe('frame limit', () => {
  test('drops a message that alone exceeds maxFrameBytes and logs WS_FRAME_TOO_LARGE', async () => {
    const opts = { maxFrameBytes: 64 * 1024, maxBufferedBytes: 1024 * 1024 };
    const [a, b] = [await m('a', opts), await m('b', opts)];
    connectAll([a, b]);
    a.t.send([app('a', 'b', 100 * 1024), heartbeat('a', 'b', 2)]);
    await waitFor('the heartbeat', () => b.received.length === 1);
    assert.equal(b.received[0].type, MessageType.MsgHeartbeat);
    const line = linesWith(a.lines, 'WS_FRAME_TOO_LARGE')[0];
    assert.match(line, /maxFrameBytes is 65536/);
    assert.equal(a.t.stats.messagesDropped, 1);
  });

  test('closes a connection whose peer sends a frame over maxFrameBytes with 1009 and WS_FRAME_TOO_LARGE', async () => {
    const b = await m('b', { maxFrameBytes: 64 * 1024, maxBufferedBytes: 1024 * 1024 });
    const raw = await rawClient(b.url, { handshakeAs: 'z', to: 'b' });
    raw.ws.send(Buffer.alloc(100 * 1024));
    const { code } = await raw.closed;
    assert.equal(code, CloseCode.MessageTooBig);
    await waitFor('the log line', () => linesWith(b.lines, 'closing the connection with member z').length === 1);
    assert.match(linesWith(b.lines, 'closing the connection with member z')[0], /WS_FRAME_TOO_LARGE: .*over maxFrameBytes \(65536\)/);
    assert.equal(b.t.stats.badFrames, 1);
  });
});

describe('handshake refusals', () => {
  test('refuses a member of another cluster, and both sides log why in etcd words', async () => {
    const refusedA: WsTransportError[] = [];
    const refusedB: WsTransportError[] = [];
    const a = await m('a', { clusterId: 'c1', onRefused: (e) => void refusedA.push(e) });
    const b = await m('b', { clusterId: 'c2', onRefused: (e) => void refusedB.push(e) });
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('both logs', () => linesWith(b.lines, 'request cluster ID mismatch').length > 0 && linesWith(a.lines, 'conflicting cluster ID').length > 0);
    assert.match(linesWith(b.lines, 'request cluster ID mismatch')[0], /^error .*\(got c1 want c2\)/);
    assert.match(linesWith(a.lines, 'conflicting cluster ID')[0], /^error .*request sent was ignored \(cluster ID mismatch: peer\[b\]=c2, local=c1\)/);
    assert.equal(b.received.length, 0);
    assert.ok(refusedA[0] instanceof WsTransportError && refusedA[0].code === 'WS_CLUSTER_ID_MISMATCH');
    assert.equal(refusedB[0]?.code, 'WS_CLUSTER_ID_MISMATCH');
    await waitFor('onUnreachable(b)', () => a.unreachable.includes('b'));
  });

  test('a member that does not know the cluster ID yet is not refused for it', async () => {
    const [a, b] = [await m('a', { clusterId: 'c1' }), await m('b', { clusterId: undefined })];
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('delivery', () => b.received.length === 1);
  });

  test('members sharing a secret connect', async () => {
    const [a, b] = [await m('a', { secret: 's3cret' }), await m('b', { secret: 's3cret' })];
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('delivery', () => b.received.length === 1);
    b.t.send([heartbeat('b', 'a')]);
    await waitFor('the answer', () => a.received.length === 1);
  });

  for (const [name, sa, sb] of [
    ['a wrong secret', 'one', 'two'],
    ['a dialer without the secret', undefined, 'two'],
    ['an acceptor without the secret', 'one', undefined],
  ] as const) {
    test(`refuses ${name} with WS_AUTH_FAILED, logged on both sides`, async () => {
      const refused: string[] = [];
      const a = await m('a', { ...(sa ? { secret: sa } : {}), onRefused: (e) => void refused.push(`a ${e.code}`) });
      const b = await m('b', { ...(sb ? { secret: sb } : {}), onRefused: (e) => void refused.push(`b ${e.code}`) });
      connectAll([a, b]);
      a.t.send([heartbeat('a', 'b')]);
      await waitFor('both sides to log', () => linesWith(a.lines, 'WS_AUTH_FAILED').length > 0 && linesWith(b.lines, 'WS_AUTH_FAILED').length > 0);
      assert.deepEqual(refused.sort(), ['a WS_AUTH_FAILED', 'b WS_AUTH_FAILED']);
      assert.equal(b.received.length, 0);
      assert.ok(linesWith([...a.lines, ...b.lines], 'failed authentication').length >= 1);
    });
  }

  test('refuses a dialer that meant to reach another member ID', async () => {
    const [a, b] = [await m('a'), await m('b')];
    a.t.addPeer('x', b.url);
    a.t.send([heartbeat('a', 'x')]);
    await waitFor('both logs', () => linesWith(b.lines, 'member ID mismatch got x want b').length > 0 && linesWith(a.lines, 'WS_HANDSHAKE_REJECTED').length > 0);
    assert.equal(b.received.length, 0);
  });
});

describe('clock skew', () => {
  test('warns on both sides when a peer clock differs by more than 1 s', async () => {
    const a = await m('a', { wallClock: () => Date.now() + 5000 });
    const b = await m('b');
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('delivery', () => b.received.length === 1);
    assert.match(linesWith(b.lines, 'clock difference')[0], /^warn the clock difference against peer a is too high \[\d\.\d{3}s > 1s\]$/);
    assert.match(linesWith(a.lines, 'clock difference')[0], /^warn the clock difference against peer b is too high \[\d\.\d{3}s > 1s\]$/);
  });

  test('says nothing for a difference under 1 s', async () => {
    const a = await m('a', { wallClock: () => Date.now() + 300 });
    const b = await m('b');
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('delivery', () => b.received.length === 1);
    assert.equal(linesWith([...a.lines, ...b.lines], 'clock difference').length, 0);
  });
});

describe('snapshots', () => {
  function snap(from: string, to: string, bytes: number, index: number): Message {
    const data = new Uint8Array(bytes);
    for (let i = 0; i < bytes; i += 4096) data[i] = (i / 4096) & 0xff;
    return msg({
      type: MessageType.MsgSnap,
      from,
      to,
      snapshot: { data, metadata: { index, term: 1, confState: { voters: ['a', 'b'], learners: [] } } },
    });
  }

  test('a large MsgSnap goes on its own connection and does not delay a heartbeat sent after it', async () => {
    const [a, b] = [await m('a'), await m('b')];
    connectAll([a, b]);
    a.t.send([snap('a', 'b', 16, 1), heartbeat('a', 'b', 0)]);
    await waitFor('warm-up', () => b.received.length === 2);
    const dialsBefore = a.t.stats.connectionsDialed;
    assert.equal(dialsBefore, 2, 'one raft and one snapshot connection');
    b.received.length = 0;
    const size = 24 * 1024 * 1024;
    a.t.send([snap('a', 'b', size, 2), heartbeat('a', 'b', 99)]);
    await waitFor('the whole snapshot', () => b.received.filter((r) => r.type === MessageType.MsgSnap).reduce((n, r) => n + r.snapshot!.data.byteLength, 0) === size, 20_000);
    const hb = b.received.findIndex((r) => r.type === MessageType.MsgHeartbeat);
    const chunks = b.received.filter((r) => r.type === MessageType.MsgSnap);
    const lastChunk = b.received.lastIndexOf(chunks[chunks.length - 1]);
    assert.ok(hb >= 0 && hb < lastChunk, `heartbeat at ${hb}, last of ${chunks.length} chunks at ${lastChunk}`);
    assert.equal(chunks.length, 24, '1 MiB chunks');
    assert.ok(chunks.every((c) => c.snapshotChunk!.totalBytes === size && c.snapshot!.metadata.index === 2));
    assert.deepEqual(chunks.map((c) => c.snapshotChunk!.offset), Array.from({ length: 24 }, (_, i) => i * 1024 * 1024));
    assert.equal(a.t.stats.connectionsDialed, dialsBefore, 'the snapshot connection was reused');
  });

  test('re-splits driver chunks that exceed snapshotChunkBytes, keeping their offsets', async () => {
    const opts = { maxFrameBytes: 64 * 1024, maxBufferedBytes: 1024 * 1024 };
    const [a, b] = [await m('a', opts), await m('b', opts)];
    connectAll([a, b]);
    const chunk = snap('a', 'b', 100 * 1024, 5);
    chunk.snapshotChunk = { offset: 1000, totalBytes: 500 * 1024 };
    a.t.send([chunk]);
    await waitFor('pieces', () => b.received.reduce((n, r) => n + r.snapshot!.data.byteLength, 0) === 100 * 1024);
    assert.deepEqual(b.received.map((r) => r.snapshotChunk!.offset), [1000, 1000 + 32 * 1024, 1000 + 64 * 1024, 1000 + 96 * 1024]);
    assert.ok(b.received.every((r) => r.snapshotChunk!.totalBytes === 500 * 1024));
  });
});

describe('lifecycle', () => {
  test('start resolves when listening and rejects a second start', async () => {
    const a = await m('a');
    assert.ok(a.t.port! > 0);
    await assert.rejects(a.t.start({ onMessage() {} }), /already started/);
  });

  test('stop is idempotent, closes the sockets and the server, and send afterwards just drops', async () => {
    const [a, b] = [await m('a'), await m('b')];
    connectAll([a, b]);
    a.t.send([heartbeat('a', 'b')]);
    await waitFor('connection', () => b.received.length === 1);
    const port = a.t.port!;
    await Promise.all([a.t.stop(), a.t.stop()]);
    await a.t.stop();
    await waitFor('b to see a leave', () => !b.t.isConnected('a'));
    a.t.send([heartbeat('a', 'b')]);
    // The port is free again.
    await new Promise<void>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
    });
  });

  test('rejects bad options naming the field', () => {
    assert.throws(() => wsTransport({ listen: 'tcp://127.0.0.1:1' }), /listen must be a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL/);
    assert.throws(() => wsTransport({ listen: 'wss://127.0.0.1:0' }), /needs tls.cert and tls.key/);
    assert.throws(() => wsTransport({ listen: 'ws://0.0.0.0:0' }), /set advertise/);
    assert.throws(() => wsTransport({ listen: 'ws://127.0.0.1:0', maxFrameBytes: 1 << 20, maxBufferedBytes: 1000 }), /maxBufferedBytes \(1000\) must be at least maxFrameBytes/);
    assert.throws(() => wsTransport({ listen: 'ws://127.0.0.1:0', secret: '' }), /secret must not be empty/);
  });
});
