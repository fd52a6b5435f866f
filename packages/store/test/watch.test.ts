// Watches (watch/watcher-hub.ts through KvNode.watch): a key or a prefix,
// from a past index served from the event history, ending on an AbortSignal
// or on close, never losing or reordering an event, never holding up the
// apply loop, and leaking nothing. Every test runs a real three-member
// cluster on the memory network with the manual clock.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';

import { KvError, WatchOverflowError, type KvEvent } from '../src/index.ts';
import { assertInIndexOrder, assertKvError, brief, consume, StoreCluster, track } from './helpers/store-cluster.ts';

describe('watch', () => {
  test('a watch on a key reports every change to that key, and nothing under or beside it', async () => {
    const c = new StoreCluster({ seed: 11 });
    const leader = await c.start();
    const follower = c.followers()[0];
    const w = consume(follower.watch('/a'));
    const r1 = await c.run(leader.set('/a', '1'));
    await c.run(leader.set('/ab', 'beside'));
    const r2 = await c.run(leader.update('/a', '2'));
    const r3 = await c.run(leader.delete('/a'));
    await c.run(leader.set('/a/b', 'under'));
    await c.clock.waitFor(() => w.events.length >= 3);
    await c.clock.runFor(100);
    assert.deepEqual(brief(w.events), [`set /a ${r1.index}`, `update /a ${r2.index}`, `delete /a ${r3.index}`]);
    // The watcher sees the very event the writer got back.
    assert.deepEqual(w.events, [r1, r2, r3]);
    assert.deepEqual(w.events[1].prevNode, r1.node);
    await c.close();
    assert.ok(w.done);
  });

  test('a recursive watch on a prefix reports changes anywhere below it, and not to keys that only share its spelling', async () => {
    const c = new StoreCluster({ seed: 12 });
    const leader = await c.start();
    const follower = c.followers()[0];
    const jobs = consume(follower.watch('/jobs', { recursive: true }));
    const root = consume(follower.watch('/', { recursive: true }));
    const a = await c.run(leader.set('/jobs/a', { cmd: 'run' }));
    const bc = await c.run(leader.set('/jobs/b/c', 'deep'));
    const x = await c.run(leader.set('/jobsx', 'beside'));
    const other = await c.run(leader.set('/other', 'elsewhere'));
    const del = await c.run(leader.delete('/jobs/a'));
    const d = await c.run(leader.mkdir('/jobs/d'));
    await c.clock.waitFor(() => jobs.events.length >= 4 && root.events.length >= 6);
    await c.clock.runFor(100);
    assert.deepEqual(brief(jobs.events), brief([a, bc, del, d]));
    assert.deepEqual(brief(root.events), brief([a, bc, x, other, del, d]));
    assert.equal(d.node.dir, true);
    await c.close();
  });

  test('a watch from a past waitIndex replays the history, then goes on live with no gap and no duplicate', async () => {
    const c = new StoreCluster({ seed: 13 });
    const leader = await c.start();
    const follower = c.followers()[0];
    const before: KvEvent[] = [];
    for (let i = 0; i < 10; i++) before.push(await c.run(leader.set(`/h/k${i % 3}`, `v${i}`)));
    await c.waitForConvergence();
    // Writes in flight while the watch opens and replays.
    const inFlight = Array.from({ length: 5 }, (_, i) => leader.set(`/h/k${i % 3}`, `w${i}`));
    const from = before[3].index;
    const w = consume(follower.watch('/h', { recursive: true, waitIndex: from }));
    const exact = consume(follower.watch('/h/k1', { waitIndex: from }));
    const after = await c.run(Promise.all(inFlight));
    const more = await c.run(leader.set('/h/k1', 'last'));
    const expected = [...before.slice(3), ...after, more];
    await c.clock.waitFor(() => w.events.length >= expected.length);
    await c.clock.runFor(100);
    assert.deepEqual(brief(w.events), brief(expected));
    assertInIndexOrder(w.events);
    assert.deepEqual(
      brief(exact.events),
      brief(expected.filter((e) => e.node.key === '/h/k1')),
    );
    await c.close();
  });

  test('a waitIndex older than the history kept fails the watch with 401 naming the oldest index kept', async () => {
    const c = new StoreCluster({ seed: 14, node: { historySize: 5 } });
    const leader = await c.start();
    const writes: KvEvent[] = [];
    for (let i = 0; i < 8; i++) writes.push(await c.run(leader.set('/k', `v${i}`)));
    await c.waitForConvergence();
    for (const node of c.live()) {
      const watchersBefore = node.status().watchers;
      const stale = node.watch('/k', { waitIndex: writes[0].index });
      const err = await c.fail(stale.next());
      assertKvError(err, 401, `the requested history has been cleared [${writes[3].index}/${writes[0].index}]`);
      assert.equal(err.message, 'The event in requested index is outdated and cleared');
      assert.equal(node.status().watchers, watchersBefore, 'a failed watch is not registered');
      // The oldest index kept still works.
      const w = consume(node.watch('/k', { waitIndex: writes[3].index }));
      await c.clock.waitFor(() => w.events.length >= 5);
      assert.deepEqual(brief(w.events), brief(writes.slice(3)));
    }
    await c.close();
  });

  test('a waitIndex ahead of the store index reports only changes at or after it, as etcd does', async () => {
    // etcd v2's watcher keeps sinceIndex = waitIndex and notifies only events
    // with index >= sinceIndex, so `wait=true&waitIndex=<future>` waits for
    // that index rather than returning the next change.
    const c = new StoreCluster({ seed: 15 });
    const leader = await c.start();
    await c.waitForConvergence();
    const waitIndex = leader.status().storeIndex + 100;
    const w = consume(leader.watch('/f', { waitIndex }));
    const early = await c.run(leader.set('/f', 'before the wait index'));
    assert.ok(early.index < waitIndex);
    await c.clock.runFor(100);
    assert.deepEqual(brief(w.events), [], `events before waitIndex ${waitIndex} were reported`);
    await c.close();
  });

  test('a waitIndex of 0 means from now, as in etcd', async () => {
    // etcd v2's store.Watch: `if sinceIndex == 0 { sinceIndex = s.CurrentIndex + 1 }`.
    const c = new StoreCluster({ seed: 26 });
    const leader = await c.start();
    await c.run(leader.set('/z', 'old'));
    const w = consume(leader.watch('/z', { waitIndex: 0 }));
    const live = await c.run(leader.set('/z', 'new'));
    await c.clock.waitFor(() => w.events.length >= 1);
    await c.clock.runFor(100);
    assert.deepEqual(brief(w.events), brief([live]), 'waitIndex 0 replayed the history');
    await c.close();
  });

  test('a consumer that changes an event it received does not change what other watchers or later replays see', async () => {
    const c = new StoreCluster({ seed: 27 });
    const leader = await c.start();
    const a = consume(leader.watch('/m'));
    const b = consume(leader.watch('/m'));
    const set = await c.run(leader.set('/m', 'original'));
    await c.clock.waitFor(() => a.events.length === 1 && b.events.length === 1);
    try {
      (a.events[0].node as { value: unknown }).value = 'tampered';
      (a.events[0] as { action: string }).action = 'delete';
    } catch {
      // Frozen events are fine too.
    }
    assert.equal(b.events[0].node.value, 'original', 'another watcher saw the change');
    assert.equal(b.events[0].action, 'set');
    const replay = consume(leader.watch('/m', { waitIndex: set.index }));
    await c.clock.waitFor(() => replay.events.length === 1);
    assert.equal(replay.events[0].node.value, 'original', 'the history kept the change');
    assert.equal(replay.events[0].action, 'set');
    await c.close();
  });

  test('aborting the signal ends the watch cleanly and unregisters it', async () => {
    const c = new StoreCluster({ seed: 16 });
    const leader = await c.start();
    const ac = new AbortController();
    const w = consume(leader.watch('/s', { recursive: true, signal: ac.signal }));
    await c.run(leader.set('/s/1', 'x'));
    await c.clock.waitFor(() => w.events.length === 1);
    assert.equal(leader.status().watchers, 1);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    ac.abort();
    await c.clock.waitFor(() => w.ended);
    assert.equal(w.done, true);
    assert.equal(w.error, undefined);
    assert.equal(leader.status().watchers, 0);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    // Nothing more arrives.
    await c.run(leader.set('/s/2', 'y'));
    assert.equal(w.events.length, 1);

    // A signal aborted before the call: the watch ends at once, unregistered.
    const early = consume(leader.watch('/s', { signal: ac.signal }));
    await c.clock.waitFor(() => early.ended);
    assert.equal(early.done, true);
    assert.equal(leader.status().watchers, 0);
    await c.close();
  });

  test('closing the node ends its watches cleanly', async () => {
    const c = new StoreCluster({ seed: 17 });
    const leader = await c.start();
    const follower = c.followers()[0];
    const ac = new AbortController();
    const idle = consume(follower.watch('/idle', { signal: ac.signal }));
    const busy = consume(follower.watch('/busy', { recursive: true, signal: ac.signal }));
    await c.run(leader.set('/busy/1', 'x'));
    await c.clock.waitFor(() => busy.events.length === 1);
    assert.equal(follower.status().watchers, 2);
    await c.stop(follower.name);
    await c.clock.waitFor(() => idle.ended && busy.ended);
    assert.deepEqual([idle.done, busy.done, idle.error, busy.error], [true, true, undefined, undefined]);
    assert.equal(follower.status().watchers, 0);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'close leaves no abort listener behind');
    await c.close();
  });

  test('a watch opened on a closed node ends at once instead of waiting forever', async () => {
    const c = new StoreCluster({ seed: 18 });
    await c.start();
    const follower = c.followers()[0];
    await c.stop(follower.name);
    const w = consume(follower.watch('/late'));
    await c.clock.runFor(1000);
    assert.ok(w.ended, 'the watch on a closed node is still open');
    assert.equal(follower.status().watchers, 0);
    await c.close();
  });

  test('a burst of concurrent writes reaches every watcher complete and in index order', async () => {
    const c = new StoreCluster({ seed: 19 });
    const leader = await c.start();
    const follower = c.followers()[0];
    const watchers = c.live().map((n) => consume(n.watch('/burst', { recursive: true })));
    // Half through the leader, half forwarded by a follower, all at once.
    const writes = Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? leader : follower).set(`/burst/k${i % 37}`, i));
    const results = await c.run(Promise.all(writes));
    const expected = [...results].sort((a, b) => a.index - b.index);
    assert.equal(new Set(expected.map((e) => e.index)).size, 400, 'every write has its own index');
    await c.clock.waitFor(() => watchers.every((w) => w.events.length >= 400));
    await c.clock.runFor(100);
    for (const w of watchers) {
      assert.equal(w.events.length, 400);
      assertInIndexOrder(w.events);
      assert.deepEqual(
        w.events.map((e) => [e.index, e.node.key, e.node.value]),
        expected.map((e) => [e.index, e.node.key, e.node.value]),
      );
    }
    await c.close();
  });

  test('a consumer that falls behind its buffer ends with WatchOverflowError, and resuming from resumeIndex loses nothing', async () => {
    const c = new StoreCluster({ seed: 20, node: { watchBufferSize: 8 } });
    const leader = await c.start();
    const follower = c.followers()[0];
    const ac = new AbortController();
    const it = follower.watch('/slow', { recursive: true, signal: ac.signal });
    // The consumer reads nothing while 30 writes apply: none of them waits for it.
    const results: KvEvent[] = [];
    for (let i = 0; i < 30; i++) results.push(await c.run(leader.set(`/slow/k${i}`, i)));
    await c.waitForConvergence();
    assert.equal(follower.status().watchers, 0, 'the overflowing watch was unregistered');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0, 'and its abort listener removed');

    // The buffered events come first, then the error.
    const got: KvEvent[] = [];
    let overflow: unknown;
    try {
      for await (const e of it) got.push(e);
    } catch (e) {
      overflow = e;
    }
    assert.equal(got.length, 8);
    assert.ok(overflow instanceof WatchOverflowError, `expected WatchOverflowError, got ${String(overflow)}`);
    assert.equal(overflow.code, 'STORE_WATCH_OVERFLOW');
    assert.equal(overflow.bufferSize, 8);
    assert.equal(overflow.resumeIndex, results[8].index);
    assert.match(overflow.message, new RegExp(`waitIndex ${results[8].index}`));

    const resumed = consume(follower.watch('/slow', { recursive: true, waitIndex: overflow.resumeIndex }));
    const tail = await c.run(leader.set('/slow/tail', 'live'));
    await c.clock.waitFor(() => resumed.events.length >= 23);
    await c.clock.runFor(100);
    const all = [...got, ...resumed.events];
    assert.deepEqual(
      all.map((e) => e.index),
      [...results, tail].map((e) => e.index),
      'every event exactly once across the overflow',
    );
    await c.close();
  });

  test('a watcher that reads nothing does not hold up the apply loop', async () => {
    const c = new StoreCluster({ seed: 21 });
    const leader = await c.start();
    const follower = c.followers()[0];
    const it = follower.watch('/idle', { recursive: true });
    const writes = Array.from({ length: 300 }, (_, i) => leader.set(`/idle/k${i}`, i));
    const t = track(c.clock, Promise.all(writes));
    await c.clock.waitFor(t.settled, { timeoutMs: 5000, description: 'every write completed' });
    assert.equal(t.outcome().status, 'fulfilled');
    await c.waitForConvergence();
    assert.equal(follower.status().appliedIndex, leader.status().appliedIndex);
    assert.equal(follower.status().watchers, 1, 'still watching, 300 events buffered');
    let n = 0;
    for await (const e of it) {
      assert.equal(e.node.value, n);
      if (++n === 300) break;
    }
    assert.equal(follower.status().watchers, 0, 'leaving the loop ends the watch');
    await c.close();
  });

  test('10,000 watches opened and ended leave no watcher and no abort listener behind', async () => {
    const c = new StoreCluster({ seed: 22 });
    const leader = await c.start();
    const N = 10_000;

    // All on one shared signal, then one abort.
    const shared = new AbortController();
    const its = Array.from({ length: N }, (_, i) =>
      leader.watch(i % 2 ? `/w/k${i % 100}` : `/w/d${i % 10}`, { recursive: i % 2 === 0, signal: shared.signal }),
    );
    assert.equal(leader.status().watchers, N);
    // One listener, however many watches share the signal (no MaxListeners warning).
    assert.equal(getEventListeners(shared.signal, 'abort').length, 1);
    shared.abort();
    assert.equal(leader.status().watchers, 0);
    assert.equal(getEventListeners(shared.signal, 'abort').length, 0);
    const ends = await Promise.all(its.map((it) => it.next()));
    assert.ok(ends.every((r) => r.done));

    // A signal that never aborts, shared by watches that end by leaving their loops.
    const longLived = new AbortController();
    const pending = Array.from({ length: N }, (_, i) => leader.watch(`/w/k${i % 100}`, { signal: longLived.signal }));
    const nexts = pending.map((it) => it.next());
    assert.equal(getEventListeners(longLived.signal, 'abort').length, 1);
    await Promise.all(pending.map((it) => it.return!()));
    assert.equal(leader.status().watchers, 0);
    assert.equal(getEventListeners(longLived.signal, 'abort').length, 0);
    assert.ok((await Promise.all(nexts)).every((r) => r.done), 'a pending next() settles when the watch is returned');

    // One controller each, aborted one by one.
    const acs = Array.from({ length: N }, () => new AbortController());
    for (let i = 0; i < N; i++) leader.watch('/w', { recursive: true, signal: acs[i].signal });
    assert.equal(leader.status().watchers, N);
    for (const ac of acs) ac.abort();
    assert.equal(leader.status().watchers, 0);
    assert.ok(acs.every((ac) => getEventListeners(ac.signal, 'abort').length === 0));

    // The hub still works afterwards.
    const w = consume(leader.watch('/w/k1'));
    await c.run(leader.set('/w/k1', 'after'));
    await c.clock.waitFor(() => w.events.length === 1);
    await c.close();
  });

  test('watches across a leader change deliver every event exactly once, in index order', async () => {
    const c = new StoreCluster({ seed: 23, node: { requestTimeoutMs: 3000 } });
    await c.start();
    const watchers = new Map(c.live().map((n) => [n.name, consume(n.watch('/stream', { recursive: true }))]));
    const acked: KvEvent[] = [];
    const failed: { value: number; error: unknown }[] = [];
    let stop = false;
    let seq = 0;
    let cutOff: string | undefined;
    // A writer that keeps writing to whoever leads (and is not cut off), three
    // writes in flight at a time. After 30 acknowledged writes it cuts the
    // leader off right after handing it a batch: those writes are in flight.
    const writer = (async () => {
      while (!stop) {
        const l = c.leader(c.live().map((n) => n.name).filter((n) => n !== cutOff));
        if (!l) {
          await new Promise((r) => c.clock.setTimeout(() => r(undefined), 5));
          continue;
        }
        const values = [seq++, seq++, seq++];
        const batch = values.map((v) => l.set(`/stream/k${v % 7}`, v));
        if (cutOff === undefined && acked.length >= 30) {
          c.net.isolate(l.name);
          cutOff = l.name;
        }
        const out = await Promise.allSettled(batch);
        out.forEach((o, i) => {
          if (o.status === 'fulfilled') acked.push(o.value);
          else failed.push({ value: values[i], error: o.reason });
        });
        // Let virtual time move between batches (deliveries take no time).
        await new Promise((r) => c.clock.setTimeout(() => r(undefined), 5));
      }
    })();
    await c.clock.waitFor(() => cutOff !== undefined, { description: '30 writes through the first leader, then the cut' });
    const first = c.node(cutOff!);
    const mark = acked.length;
    const second = await c.waitForLeader(c.live().map((n) => n.name).filter((n) => n !== cutOff));
    await c.clock.waitFor(() => acked.length >= mark + 30, { description: '30 writes through the new leader' });
    stop = true;
    await c.run(writer);
    c.net.heal();
    await c.waitForConvergence();
    await c.clock.runFor(500);

    // The writes in flight on the cut-off leader failed with a Raft error, never a KvError.
    assert.equal(failed.length, 3, `the batch in flight at the cut failed: ${failed.map((f) => String(f.error)).join('; ')}`);
    for (const f of failed) {
      const code = (f.error as { code?: unknown }).code;
      assert.ok(code === 'RAFT_TIMEOUT' || code === 'RAFT_PROPOSAL_DROPPED', `unexpected failure ${String(f.error)}`);
    }
    const reference = watchers.get(second.name)!.events;
    for (const [name, w] of watchers) {
      assert.equal(w.error, undefined, `${name}'s watch failed: ${String(w.error)}`);
      assertInIndexOrder(w.events, `${name}'s events`);
      assert.deepEqual(brief(w.events), brief(reference), `${name} saw the same events as ${second.name}`);
    }
    assert.ok(watchers.get(first.name)!.events.length === reference.length, 'the old leader caught up after the heal');
    // Exactly the acknowledged writes, each once: nothing lost, nothing invented.
    assert.deepEqual(
      reference.map((e) => [e.index, e.node.value]),
      [...acked].sort((x, y) => x.index - y.index).map((e) => [e.index, e.node.value]),
    );
    const values = new Set(reference.map((e) => e.node.value));
    for (const f of failed) assert.ok(!values.has(f.value), `failed write ${f.value} was reported as applied`);
    await c.close();
  });

  test('keys hidden below a recursive watch are not reported to it, but a watch on the hidden key sees them', async () => {
    const c = new StoreCluster({ seed: 24 });
    const leader = await c.start();
    const f = c.followers()[0];
    const app = consume(f.watch('/app', { recursive: true }));
    const root = consume(f.watch('/', { recursive: true }));
    const secret = consume(f.watch('/app/_secret'));
    const hiddenDir = consume(f.watch('/app/_h', { recursive: true }));
    const v = await c.run(leader.set('/app/v', 'shown'));
    const s = await c.run(leader.set('/app/_secret', 'hidden'));
    const hx = await c.run(leader.set('/app/_h/x', 'hidden'));
    await c.run(leader.set('/app/d/_y', 'hidden'));
    await c.run(leader.set('/_top', 'hidden'));
    const v2 = await c.run(leader.set('/app/v', 'shown again'));
    await c.clock.waitFor(() => app.events.length >= 2 && root.events.length >= 2);
    await c.clock.runFor(100);
    assert.deepEqual(brief(app.events), brief([v, v2]));
    assert.deepEqual(brief(root.events), brief([v, v2]));
    assert.deepEqual(brief(secret.events), brief([s]));
    assert.deepEqual(brief(hiddenDir.events), brief([hx]));
    await c.close();
  });

  test('deleting or expiring a directory is reported to watchers of keys inside it', async () => {
    const c = new StoreCluster({ seed: 25 });
    const leader = await c.start();
    const f = c.followers()[0];
    await c.run(leader.set('/d/a/b', 'x'));
    await c.run(leader.set('/d/c', 'y'));
    const inner = consume(f.watch('/d/a/b'));
    const innerDir = consume(f.watch('/d/a', { recursive: true }));
    const sibling = consume(f.watch('/d/c'));
    const top = consume(f.watch('/d', { recursive: true }));
    const other = consume(f.watch('/other'));
    const del = await c.run(leader.delete('/d', { recursive: true }));
    assert.equal(del.action, 'delete');
    assert.deepEqual({ key: del.node.key, dir: del.node.dir, prevDir: del.prevNode?.dir }, { key: '/d', dir: true, prevDir: true });
    await c.clock.waitFor(() => [inner, innerDir, sibling, top].every((w) => w.events.length >= 1));
    await c.clock.runFor(100);
    for (const w of [inner, innerDir, sibling, top]) assert.deepEqual(w.events, [del]);
    assert.equal(other.events.length, 0);

    // A directory with a TTL expires: watchers inside it hear `expire`.
    await c.run(leader.mkdir('/tmp', { ttl: 1 }));
    await c.run(leader.set('/tmp/x', 'z'));
    const inTmp = consume(f.watch('/tmp/x'));
    await c.clock.waitFor(() => inTmp.events.length >= 1, { timeoutMs: 5000, description: 'the directory expired' });
    assert.equal(inTmp.events[0].action, 'expire');
    assert.equal(inTmp.events[0].node.key, '/tmp');
    assert.equal(inTmp.events[0].prevNode?.dir, true);
    await c.close();
  });
});
