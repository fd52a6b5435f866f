// createMemoryNetwork (src/testing/memory-network.ts): routing by the URL
// given to addPeer, asynchronous delivery, partitions/isolation/heal, seeded
// drop/duplicate/delay faults, per-pair ordering, stopped and removed peers,
// onUnreachable reports and determinism. Everything runs on real in-process
// transports; the manual clock keeps it fast and reproducible.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { realClock } from '../src/node/transport.ts';
import { ManualClock } from '../src/testing/manual-clock.ts';
import { createMemoryNetwork, type MemoryNetwork, type MemoryTransport } from '../src/testing/memory-network.ts';
import { MessageType, message, type Message, type NodeId } from '../src/types.ts';

interface Inbox {
  readonly got: Message[];
  readonly unreachable: NodeId[];
}

/** Starts `t` with a handler that records what arrives. */
async function listen(t: MemoryTransport): Promise<Inbox> {
  const inbox: Inbox = { got: [], unreachable: [] };
  await t.start({
    onMessage: (m) => inbox.got.push(m),
    onUnreachable: (id) => inbox.unreachable.push(id),
  });
  return inbox;
}

const app = (from: NodeId, to: NodeId, index = 0): Message => message({ type: MessageType.MsgApp, from, to, index });

/** A started mesh where every member knows every other by its name as ID. */
async function mesh<C extends ManualClock>(net: MemoryNetwork<C>, names: string[]): Promise<Map<string, Inbox>> {
  const inboxes = new Map<string, Inbox>();
  for (const name of names) {
    const t = net.transport(name);
    for (const peer of names) if (peer !== name) t.addPeer(peer, `mem://${peer}`);
    inboxes.set(name, await listen(t));
  }
  return inboxes;
}

/** Which ordered pairs can talk right now, as sorted "from>to" strings. */
async function links(net: MemoryNetwork<ManualClock>, inboxes: Map<string, Inbox>): Promise<string[]> {
  for (const inbox of inboxes.values()) inbox.got.length = 0;
  const names = [...inboxes.keys()];
  for (const from of names) net.transport(from).send(names.filter((to) => to !== from).map((to) => app(from, to)));
  await net.clock.advance(0);
  const out: string[] = [];
  for (const [to, inbox] of inboxes) for (const m of inbox.got) out.push(`${m.from}>${to}`);
  return out.sort();
}

/** Every ordered pair among `groups`' members that lies within one group. */
function within(...groups: string[][]): string[] {
  const out: string[] = [];
  for (const g of groups) for (const a of g) for (const b of g) if (a !== b) out.push(`${a}>${b}`);
  return out.sort();
}

describe('memory network routing and delivery', () => {
  test('routes each message to the transport at the URL its peer ID was added with', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const a = net.transport('a');
    const b = await listen(net.transport('b'));
    const c = await listen(net.transport('c'));
    await listen(a);
    a.addPeer('20', 'mem://b');
    a.addPeer('30', 'mem://c/');
    a.send([app('10', '20', 1), app('10', '30', 2), app('10', '20', 3)]);
    await net.clock.advance(0);
    assert.deepEqual(b.got.map((m) => m.index), [1, 3]);
    assert.deepEqual(c.got.map((m) => m.index), [2]);
    assert.deepEqual(net.stats, { sent: 3, delivered: 3, dropped: 0, duplicated: 0, inFlight: 0 });
  });

  test('follows a peer whose URL changes', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const a = net.transport('a');
    const [b, c] = [await listen(net.transport('b')), await listen(net.transport('c'))];
    await listen(a);
    a.addPeer('2', 'mem://b');
    a.send([app('1', '2', 1)]);
    a.addPeer('2', 'mem://c');
    a.send([app('1', '2', 2)]);
    await net.clock.advance(0);
    assert.deepEqual(b.got.map((m) => m.index), [1]);
    assert.deepEqual(c.got.map((m) => m.index), [2]);
  });

  test('never delivers synchronously on the real clock', async () => {
    const net = createMemoryNetwork({ seed: 1 });
    const a = net.transport('a');
    let resolveArrival!: (m: Message) => void;
    const arrival = new Promise<Message>((r) => (resolveArrival = r));
    await a.start({ onMessage: () => {} });
    await net.transport('b').start({ onMessage: (m) => resolveArrival(m) });
    a.addPeer('b', 'mem://b');
    let arrived = false;
    void arrival.then(() => (arrived = true));
    a.send([app('a', 'b', 7)]);
    assert.equal(arrived, false);
    await Promise.resolve();
    assert.equal(arrived, false, 'not even in a microtask of the sender');
    assert.equal((await arrival).index, 7);
  });

  test('delivers after the latency on the real clock when one is set', async () => {
    const net = createMemoryNetwork({ latencyMs: 2 });
    const a = net.transport('a');
    await a.start({ onMessage: () => {} });
    const arrival = new Promise<Message>((r) => void net.transport('b').start({ onMessage: r }));
    a.addPeer('b', 'mem://b');
    a.send([app('a', 'b', 9)]);
    assert.equal((await arrival).index, 9);
    assert.equal(net.stats.delivered, 1);
  });

  test('never delivers synchronously on the manual clock: only while time advances, at now + latency', async () => {
    const net = createMemoryNetwork({ clock: 'manual', latencyMs: 5 });
    const a = net.transport('a');
    await listen(a);
    const at: number[] = [];
    await net.transport('b').start({ onMessage: () => at.push(net.clock.now()) });
    a.addPeer('b', 'mem://b');
    a.send([app('a', 'b')]);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(at, [], 'real time passing delivers nothing');
    await net.clock.advance(4);
    assert.deepEqual(at, []);
    await net.clock.advance(1);
    assert.deepEqual(at, [5]);
  });

  test('hands the receiver a copy of the message and its entry list, sharing the immutable bytes', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const a = net.transport('a');
    const b = await listen(net.transport('b'));
    await listen(a);
    a.addPeer('b', 'mem://b');
    const data = new Uint8Array([1, 2, 3]);
    const m = message({
      type: MessageType.MsgApp,
      from: 'a',
      to: 'b',
      entries: [{ term: 1, index: 1, type: 0, data }],
      context: new Uint8Array([9]),
    });
    a.send([m]);
    m.index = 99;
    m.entries.push({ term: 1, index: 2, type: 0, data });
    await net.clock.advance(0);
    const got = b.got[0];
    assert.notEqual(got, m);
    assert.equal(got.index, 0);
    assert.equal(got.entries.length, 1);
    assert.notEqual(got.entries[0], m.entries[0]);
    // Bytes are immutable by the Raft contract, so the network shares them.
    assert.equal(got.entries[0].data, data);
    assert.deepEqual([...(got.context ?? [])], [9]);
  });

  test('returns the same transport for the same name, listening at mem://<name>', () => {
    const net = createMemoryNetwork();
    const t = net.transport('m1');
    assert.equal(net.transport('m1'), t);
    assert.equal(t.name, 'm1');
    assert.equal(t.url, 'mem://m1');
    net.transport('m2');
    assert.deepEqual(net.names(), ['m1', 'm2']);
    assert.throws(() => net.transport(''), /non-empty string/);
    assert.throws(() => net.transport('a/b'), /without '\/'/);
  });

  test('refuses to start a transport twice, and lets a stopped one start again', async () => {
    const net = createMemoryNetwork();
    const t = net.transport('m1');
    await t.start({ onMessage: () => {} });
    await assert.rejects(t.start({ onMessage: () => {} }), /mem:\/\/m1 is already started/);
    await t.stop();
    await t.stop();
    await t.start({ onMessage: () => {} });
    await t.stop();
  });

  test('exposes a manual or custom clock on every transport, and no clock on the real one', () => {
    const manual = createMemoryNetwork({ clock: 'manual' });
    assert.ok(manual.clock instanceof ManualClock);
    assert.equal(manual.transport('a').clock, manual.clock);

    const mine = new ManualClock();
    const custom = createMemoryNetwork({ clock: mine });
    assert.equal(custom.clock, mine);
    assert.equal(custom.transport('a').clock, mine);

    const real = createMemoryNetwork();
    assert.equal(real.clock, realClock);
    assert.equal(real.transport('a').clock, undefined);
  });

  test('keeps the messages of one pair in order when no fault is set', async () => {
    const net = createMemoryNetwork({ clock: 'manual', latencyMs: 3 });
    const [a, b] = [net.transport('a'), net.transport('b')];
    const inboxB = await listen(b);
    await listen(a);
    a.addPeer('b', 'mem://b');
    let index = 0;
    for (let round = 0; round < 20; round++) {
      a.send([app('a', 'b', ++index), app('a', 'b', ++index)]);
      a.send([app('a', 'b', ++index)]);
      await net.clock.advance(round % 3);
    }
    await net.clock.advance(10);
    assert.deepEqual(
      inboxB.got.map((m) => m.index),
      Array.from({ length: index }, (_, i) => i + 1),
    );
  });

  test('keeps the messages of one pair in order on the real clock', async () => {
    const net = createMemoryNetwork();
    const a = net.transport('a');
    await a.start({ onMessage: () => {} });
    const got: number[] = [];
    const done = new Promise<void>((resolve) =>
      void net.transport('b').start({
        onMessage: (m) => {
          got.push(m.index);
          if (got.length === 50) resolve();
        },
      }),
    );
    a.addPeer('b', 'mem://b');
    for (let i = 1; i <= 50; i++) a.send([app('a', 'b', i)]);
    await done;
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => i + 1));
  });
});

describe('memory network partitions', () => {
  const all = ['m1', 'm2', 'm3', 'm4', 'm5'];

  test('partition keeps each group together and puts the unlisted names in one more group', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const inboxes = await mesh(net, all);
    assert.deepEqual(await links(net, inboxes), within(all));
    net.partition(['m1'], ['m2', 'm3']);
    assert.deepEqual(await links(net, inboxes), within(['m1'], ['m2', 'm3'], ['m4', 'm5']));
  });

  test('a new partition replaces the previous one, and partition() with no groups heals', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const inboxes = await mesh(net, all);
    net.partition(['m1', 'm2'], ['m3', 'm4']);
    net.partition(['m1', 'm5']);
    assert.deepEqual(await links(net, inboxes), within(['m1', 'm5'], ['m2', 'm3', 'm4']));
    net.partition();
    assert.deepEqual(await links(net, inboxes), within(all));
  });

  test('isolate cuts one member off from everyone, on top of the current partition', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const inboxes = await mesh(net, all);
    net.isolate('m4');
    assert.deepEqual(await links(net, inboxes), within(['m1', 'm2', 'm3', 'm5']));
    net.partition(['m1'], ['m2', 'm3']);
    net.isolate('m2');
    assert.deepEqual(await links(net, inboxes), within(['m4', 'm5']));
  });

  test('heal lets everyone talk again', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const inboxes = await mesh(net, all);
    net.partition(['m1'], ['m2', 'm3']);
    net.isolate('m2');
    assert.deepEqual(await links(net, inboxes), within(['m4', 'm5']));
    assert.equal(net.stats.dropped, 20 - 2);
    net.heal();
    assert.deepEqual(await links(net, inboxes), within(all));
    assert.equal(net.stats.dropped, 18, 'nothing more is dropped once healed');
  });

  test('refuses a name listed in two groups', () => {
    const net = createMemoryNetwork();
    assert.throws(() => net.partition(['m1', 'm2'], ['m2']), /"m2" is listed in more than one group/);
  });

  test('cuts messages already on their way when the partition starts', async () => {
    const net = createMemoryNetwork({ clock: 'manual', latencyMs: 10 });
    const inboxes = await mesh(net, ['m1', 'm2']);
    net.transport('m1').send([app('m1', 'm2', 1)]);
    await net.clock.advance(5);
    net.isolate('m2');
    await net.clock.advance(5);
    assert.equal(inboxes.get('m2')?.got.length, 0);
    assert.deepEqual(net.stats, { sent: 1, delivered: 0, dropped: 1, duplicated: 0, inFlight: 0 });
  });
});

describe('memory network faults', () => {
  /** Sends `n` messages m1 → m2 one per millisecond and runs until all have arrived. */
  async function blast(seed: number, n: number, faults: Parameters<MemoryNetwork['setFaults']>[0]) {
    const net = createMemoryNetwork({ seed, clock: 'manual' });
    const sentAt = new Map<number, number>();
    const arrivals: { index: number; delay: number }[] = [];
    const a = net.transport('m1');
    await a.start({ onMessage: () => {} });
    await net.transport('m2').start({
      onMessage: (m) => arrivals.push({ index: m.index, delay: net.clock.now() - (sentAt.get(m.index) ?? NaN) }),
    });
    a.addPeer('m2', 'mem://m2');
    net.setFaults(faults);
    for (let i = 1; i <= n; i++) {
      sentAt.set(i, net.clock.now());
      a.send([app('m1', 'm2', i)]);
      await net.clock.advance(1);
    }
    await net.clock.advance(1000);
    return { net, arrivals };
  }

  test('drops about dropRate of the messages, the same ones for the same seed', async () => {
    const { net, arrivals } = await blast(42, 5000, { dropRate: 0.2 });
    const s = net.stats;
    assert.equal(s.sent, 5000);
    assert.ok(s.dropped > 900 && s.dropped < 1100, `dropped ${s.dropped} of 5000 at dropRate 0.2`);
    assert.equal(s.delivered + s.dropped, 5000);
    const again = await blast(42, 5000, { dropRate: 0.2 });
    assert.deepEqual(again.net.stats, s);
    assert.deepEqual(again.arrivals, arrivals);
  });

  test('duplicates about duplicateRate of the messages that were not dropped', async () => {
    const { net, arrivals } = await blast(7, 5000, { dropRate: 0.1, duplicateRate: 0.3 });
    const s = net.stats;
    const kept = 5000 - s.dropped;
    assert.ok(s.dropped > 400 && s.dropped < 600, `dropped ${s.dropped} at dropRate 0.1`);
    assert.ok(s.duplicated > 0.27 * kept && s.duplicated < 0.33 * kept, `duplicated ${s.duplicated} of ${kept}`);
    assert.equal(s.delivered, kept + s.duplicated);
    assert.equal(arrivals.length, s.delivered);
    const copies = new Map<number, number>();
    for (const { index } of arrivals) copies.set(index, (copies.get(index) ?? 0) + 1);
    assert.ok([...copies.values()].every((c) => c === 1 || c === 2));
    assert.equal([...copies.values()].filter((c) => c === 2).length, s.duplicated);
  });

  test('delays each message uniformly within [minDelayMs, maxDelayMs] on top of the latency, reordering them', async () => {
    const { arrivals } = await blast(3, 3000, { minDelayMs: 5, maxDelayMs: 15 });
    assert.equal(arrivals.length, 3000);
    const delays = arrivals.map((x) => x.delay);
    assert.equal(Math.min(...delays), 5);
    assert.equal(Math.max(...delays), 15);
    assert.equal(new Set(delays).size, 11, 'every whole delay from 5 to 15 occurs');
    const mean = delays.reduce((x, y) => x + y, 0) / delays.length;
    assert.ok(mean > 9.7 && mean < 10.3, `mean delay ${mean}`);
    const inversions = arrivals.filter((x, i) => i > 0 && x.index < arrivals[i - 1].index).length;
    assert.ok(inversions > 100, `only ${inversions} reorderings`);
  });

  test('a fixed delay (minDelayMs only) keeps order and adds to the latency', async () => {
    const { arrivals } = await blast(3, 100, { minDelayMs: 4 });
    assert.deepEqual(new Set(arrivals.map((x) => x.delay)), new Set([4]));
    assert.deepEqual(
      arrivals.map((x) => x.index),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
  });

  test('clearFaults stops all random faults', async () => {
    const net = createMemoryNetwork({ seed: 5, clock: 'manual' });
    const inboxes = await mesh(net, ['m1', 'm2']);
    net.setFaults({ dropRate: 1 });
    net.transport('m1').send([app('m1', 'm2', 1)]);
    net.clearFaults();
    net.transport('m1').send([app('m1', 'm2', 2)]);
    await net.clock.advance(0);
    assert.deepEqual(inboxes.get('m2')?.got.map((m) => m.index), [2]);
  });

  test('refuses fault settings out of range with a RangeError naming the field', () => {
    const net = createMemoryNetwork();
    assert.throws(() => net.setFaults({ dropRate: 1.5 }), /dropRate must be in \[0, 1\]/);
    assert.throws(() => net.setFaults({ duplicateRate: -0.1 }), /duplicateRate/);
    assert.throws(() => net.setFaults({ minDelayMs: -1 }), /minDelayMs/);
    assert.throws(() => net.setFaults({ minDelayMs: 10, maxDelayMs: 5 }), /maxDelayMs \(5\) must be >= minDelayMs \(10\)/);
    assert.throws(() => createMemoryNetwork({ latencyMs: Number.NaN }), /latencyMs/);
    assert.throws(() => createMemoryNetwork({ seed: 1.5 }), /seed must be an integer/);
  });

  test('the filter drops exactly the messages it picks, and sees member names', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const inboxes = await mesh(net, ['m1', 'm2', 'm3']);
    const seen: string[] = [];
    net.setFilter((m, fromName, toName) => {
      seen.push(`${fromName}>${toName}`);
      return m.type === MessageType.MsgApp && toName === 'm2' ? 'drop' : 'deliver';
    });
    net.transport('m1').send([
      app('m1', 'm2', 1),
      message({ type: MessageType.MsgHeartbeat, from: 'm1', to: 'm2' }),
      app('m1', 'm3', 2),
    ]);
    await net.clock.advance(0);
    assert.deepEqual(seen, ['m1>m2', 'm1>m2', 'm1>m3']);
    assert.deepEqual(inboxes.get('m2')?.got.map((m) => m.type), [MessageType.MsgHeartbeat]);
    assert.deepEqual(inboxes.get('m3')?.got.map((m) => m.index), [2]);
    net.setFilter(undefined);
    net.transport('m1').send([app('m1', 'm2', 3)]);
    await net.clock.advance(0);
    assert.equal(inboxes.get('m2')?.got.length, 2);
    assert.equal(inboxes.get('m1')?.unreachable.length, 0, 'filtered messages are not reported unreachable');
  });

  test('the same seed gives the same delivery sequence, a different seed a different one', async () => {
    async function run(seed: number): Promise<string[]> {
      const net = createMemoryNetwork({ seed, clock: 'manual', latencyMs: 1 });
      const names = ['m1', 'm2', 'm3'];
      const log: string[] = [];
      for (const name of names) {
        const t = net.transport(name);
        for (const p of names) if (p !== name) t.addPeer(p, `mem://${p}`);
        await t.start({ onMessage: (m) => log.push(`${net.clock.now()} ${m.from}>${m.to} ${m.index}`) });
      }
      net.setFaults({ dropRate: 0.1, duplicateRate: 0.1, minDelayMs: 0, maxDelayMs: 30 });
      for (let i = 0; i < 200; i++) {
        const from = names[i % 3];
        net.transport(from).send(names.filter((n) => n !== from).map((to) => app(from, to, i)));
        if (i === 80) net.isolate('m3');
        if (i === 140) net.heal();
        await net.clock.advance(2);
      }
      await net.clock.advance(100);
      log.push(JSON.stringify(net.stats));
      return log;
    }
    const a = await run(11);
    assert.ok(a.length > 300);
    assert.deepEqual(await run(11), a);
    assert.notDeepEqual(await run(12), a);
  });

  test('keeps sent + duplicated equal to delivered + dropped + inFlight', async () => {
    const net = createMemoryNetwork({ seed: 9, clock: 'manual' });
    await mesh(net, ['m1', 'm2']);
    net.setFaults({ dropRate: 0.2, duplicateRate: 0.2, minDelayMs: 10, maxDelayMs: 50 });
    for (let i = 0; i < 500; i++) {
      net.transport(i % 2 ? 'm1' : 'm2').send([app('m1', 'm2', i), app('m2', 'm1', i)]);
      if (i % 50 === 0) await net.clock.advance(7);
      const s = net.stats;
      assert.equal(s.sent + s.duplicated, s.delivered + s.dropped + s.inFlight);
    }
    await net.clock.advance(100);
    assert.equal(net.stats.inFlight, 0);
  });
});

describe('memory network stopped and removed peers', () => {
  test('drops messages to a transport that is stopped or was never started', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const inboxes = await mesh(net, ['m1', 'm2']);
    net.transport('m1').addPeer('m3', 'mem://m3');
    net.transport('m3');
    await net.transport('m2').stop();
    net.transport('m1').send([app('m1', 'm2', 1), app('m1', 'm3', 2)]);
    await net.clock.advance(0);
    assert.equal(inboxes.get('m2')?.got.length, 0);
    assert.deepEqual(net.stats, { sent: 2, delivered: 0, dropped: 2, duplicated: 0, inFlight: 0 });
  });

  test('drops what a stopped transport sends, and what it sends before start', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const b = await listen(net.transport('b'));
    const a = net.transport('a');
    a.addPeer('b', 'mem://b');
    a.send([app('a', 'b', 1)]);
    await a.start({ onMessage: () => {} });
    a.send([app('a', 'b', 2)]);
    await a.stop();
    a.send([app('a', 'b', 3)]);
    await net.clock.advance(0);
    assert.deepEqual(b.got.map((m) => m.index), [2]);
    assert.equal(net.stats.dropped, 2);
  });

  test('drops messages on their way to a transport that stops, even if it restarts before they arrive', async () => {
    const net = createMemoryNetwork({ clock: 'manual', latencyMs: 10 });
    const inboxes = await mesh(net, ['m1', 'm2']);
    net.transport('m1').send([app('m1', 'm2', 1)]);
    await net.clock.advance(5);
    await net.transport('m2').stop();
    const again = await listen(net.transport('m2'));
    net.transport('m1').send([app('m1', 'm2', 2)]);
    await net.clock.advance(20);
    assert.equal(inboxes.get('m2')?.got.length, 0);
    assert.deepEqual(again.got.map((m) => m.index), [2]);
  });

  test('stop forgets the peers, so a restarted member adds them again', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const b = await listen(net.transport('b'));
    const a = net.transport('a');
    await listen(a);
    a.addPeer('b', 'mem://b');
    await a.stop();
    await listen(a);
    a.send([app('a', 'b', 1)]);
    a.addPeer('b', 'mem://b');
    a.send([app('a', 'b', 2)]);
    await net.clock.advance(0);
    assert.deepEqual(b.got.map((m) => m.index), [2]);
  });

  test('removePeer drops later messages to the peer and from it, until it is added again', async () => {
    const net = createMemoryNetwork({ clock: 'manual', latencyMs: 1 });
    const inboxes = await mesh(net, ['m1', 'm2']);
    net.transport('m2').send([app('m2', 'm1', 1)]); // on its way when m1 removes m2
    net.transport('m1').removePeer('m2');
    net.transport('m1').send([app('m1', 'm2', 2)]);
    net.transport('m2').send([app('m2', 'm1', 3)]);
    await net.clock.advance(1);
    assert.equal(inboxes.get('m1')?.got.length, 0);
    assert.equal(inboxes.get('m2')?.got.length, 0);
    net.transport('m1').addPeer('m2', 'mem://m2');
    net.transport('m2').send([app('m2', 'm1', 4)]);
    net.transport('m1').send([app('m1', 'm2', 5)]);
    await net.clock.advance(1);
    assert.deepEqual(inboxes.get('m1')?.got.map((m) => m.index), [4]);
    assert.deepEqual(inboxes.get('m2')?.got.map((m) => m.index), [5]);
  });
});

describe('memory network onUnreachable', () => {
  test('reports an unknown, a stopped and a partitioned peer, never synchronously', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const inboxes = await mesh(net, ['m1', 'm2', 'm3']);
    const m1 = inboxes.get('m1');
    await net.transport('m2').stop();
    net.partition(['m1', 'm2'], ['m3']);
    net.transport('m1').send([app('m1', 'nobody'), app('m1', 'm2'), app('m1', 'm3')]);
    assert.deepEqual(m1?.unreachable, []);
    await net.clock.advance(0);
    assert.deepEqual(m1?.unreachable, ['nobody', 'm2', 'm3']);
  });

  test('reports a peer at most once per unreachableIntervalMs of the network clock', async () => {
    const net = createMemoryNetwork({ clock: 'manual', unreachableIntervalMs: 100 });
    const inboxes = await mesh(net, ['m1', 'm2']);
    net.isolate('m2');
    const reportsAt: number[] = [];
    await net.transport('m1').stop();
    await net.transport('m1').start({ onMessage: () => {}, onUnreachable: () => reportsAt.push(net.clock.now()) });
    net.transport('m1').addPeer('m2', 'mem://m2');
    for (let t = 0; t < 250; t += 10) {
      net.transport('m1').send([app('m1', 'm2'), app('m1', 'm2')]);
      await net.clock.advance(10);
    }
    assert.deepEqual(reportsAt, [0, 100, 200]);
    assert.equal(net.stats.dropped, 50);
    assert.equal(inboxes.get('m2')?.got.length, 0);
  });

  test('reports a peer that becomes unreachable while a message is on its way', async () => {
    const net = createMemoryNetwork({ clock: 'manual', latencyMs: 10 });
    const inboxes = await mesh(net, ['m1', 'm2']);
    net.transport('m1').send([app('m1', 'm2')]);
    await net.clock.advance(5);
    await net.transport('m2').stop();
    await net.clock.advance(10);
    assert.deepEqual(inboxes.get('m1')?.unreachable, ['m2']);
  });

  test('does not report messages lost to dropRate, nor report to a stopped sender', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const inboxes = await mesh(net, ['m1', 'm2']);
    net.setFaults({ dropRate: 1 });
    net.transport('m1').send([app('m1', 'm2')]);
    net.clearFaults();
    net.isolate('m2');
    net.transport('m1').send([app('m1', 'm2')]);
    await net.transport('m1').stop();
    await net.clock.advance(0);
    assert.deepEqual(inboxes.get('m1')?.unreachable, []);
  });

  test('a handler without onUnreachable is fine', async () => {
    const net = createMemoryNetwork({ clock: 'manual' });
    const a = net.transport('a');
    await a.start({ onMessage: () => {} });
    a.send([app('a', 'ghost')]);
    await net.clock.advance(0);
    assert.equal(net.stats.dropped, 1);
  });
});
