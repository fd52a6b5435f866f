// The fault-injection hook (transport.faults) over real sockets on
// 127.0.0.1: a blocked peer's messages are dropped in both directions on
// the member that blocks it, connections stay up, a heal takes effect at
// once, and one-sided blocks on each side make a clean partition.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';

import { PeerFaults } from '../src/faults.ts';
import { connectAll, heartbeat, member, stopAll, waitFor, type Member } from './helpers.ts';

let started: Member[] = [];
async function m(id: string): Promise<Member> {
  const x = await member(id);
  started.push(x);
  return x;
}
afterEach(async () => {
  await stopAll(started);
  started = [];
});

/** a and b, connected, each having heard from the other once. */
async function connectedPair(): Promise<[Member, Member]> {
  const [a, b] = [await m('a'), await m('b')];
  connectAll([a, b]);
  a.t.send([heartbeat('a', 'b', 0)]);
  await waitFor('b to hear from a', () => b.received.length === 1);
  b.t.send([heartbeat('b', 'a', 0)]);
  await waitFor('a to hear from b', () => a.received.length === 1);
  return [a, b];
}

describe('PeerFaults', () => {
  test('starts with nothing blocked and the hook inactive', async () => {
    const [a, b] = await connectedPair();
    assert.equal(a.t.faults.active, false);
    assert.deepEqual(a.t.faults.blocked, []);
    assert.equal(a.t.faults.isBlocked('b'), false);
    assert.equal(a.t.faults.dropped, 0);
    assert.equal(b.t.stats.messagesDropped, 0);
  });

  test('block adds, unblock removes, heal clears; blocked is a sorted copy', () => {
    const f = new PeerFaults();
    f.block(['c', 'a']);
    f.block(['b']);
    const list = f.blocked;
    assert.deepEqual(list, ['a', 'b', 'c']);
    list.push('z');
    assert.deepEqual(f.blocked, ['a', 'b', 'c']);
    f.unblock(['b', 'nobody']);
    assert.deepEqual(f.blocked, ['a', 'c']);
    assert.equal(f.active, true);
    f.heal();
    assert.equal(f.active, false);
    assert.deepEqual(f.blocked, []);
  });

  test('rejects an empty peer ID with a TypeError', () => {
    assert.throws(() => new PeerFaults().block(['']), TypeError);
  });

  test('drops messages to a blocked peer before they reach the socket, and reports it unreachable', async () => {
    const [a, b] = await connectedPair();
    a.t.faults.block(['b']);
    a.t.send([heartbeat('a', 'b', 1)]);
    assert.equal(a.t.faults.dropped, 1, 'dropped on send');
    await waitFor('a to report b unreachable', () => a.unreachable.includes('b'));
    assert.ok(a.t.isConnected('b'), 'the connection stays up');
    a.t.faults.heal();
    a.t.send([heartbeat('a', 'b', 2)]);
    await waitFor('b to hear from a again', () => b.received.length === 2);
    assert.deepEqual(b.received.map((x) => x.commit), [0, 2], 'the blocked heartbeat never arrived');
    assert.ok(a.t.stats.messagesDropped >= 1);
  });

  test('drops messages arriving from a blocked peer', async () => {
    const [a, b] = await connectedPair();
    a.t.faults.block(['b']);
    b.t.send([heartbeat('b', 'a', 1)]);
    await waitFor('a to drop the heartbeat from b', () => a.t.faults.dropped === 1);
    assert.equal(a.received.length, 1);
    assert.equal(b.t.faults.dropped, 0, 'b blocks nothing: it sent the message');
    a.t.faults.heal();
    b.t.send([heartbeat('b', 'a', 2)]);
    await waitFor('a to hear from b again', () => a.received.length === 2);
    assert.deepEqual(a.received.map((x) => x.commit), [0, 2]);
  });

  test('one-sided blocks on each side partition {a} from {b, c} while b and c keep talking', async () => {
    const ms = [await m('a'), await m('b'), await m('c')];
    const [a, b, c] = ms as [Member, Member, Member];
    connectAll(ms);
    a.t.faults.block(['b', 'c']);
    b.t.faults.block(['a']);
    c.t.faults.block(['a']);
    for (const x of ms) x.t.send(ms.filter((y) => y !== x).map((y) => heartbeat(x.id, y.id, 1)));
    await waitFor('b and c to hear from each other', () => b.received.length === 1 && c.received.length === 1);
    assert.equal(b.received[0]!.from, 'c');
    assert.equal(c.received[0]!.from, 'b');
    assert.equal(a.t.faults.dropped + b.t.faults.dropped + c.t.faults.dropped, 4, 'the four messages across the cut were dropped at their senders');
    assert.equal(a.received.length, 0);
    for (const x of ms) x.t.faults.heal();
    for (const x of ms) x.t.send(ms.filter((y) => y !== x).map((y) => heartbeat(x.id, y.id, 2)));
    await waitFor('everyone to hear from both others after the heal', () => a.received.length === 2 && b.received.length === 3 && c.received.length === 3);
    assert.deepEqual(a.received.map((x) => x.from).sort(), ['b', 'c']);
  });
});
