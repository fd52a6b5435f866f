// ManualClock (src/testing/manual-clock.ts): virtual time that moves only in
// advance(), timers in due order, intervals, clearing, yielding between
// firings so async work settles, and waitFor's timeout error.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ManualClock } from '../src/testing/manual-clock.ts';

describe('ManualClock time and timers', () => {
  test('starts at 0 and moves only when advanced', async () => {
    const clock = new ManualClock();
    assert.equal(clock.now(), 0);
    await new Promise((r) => setImmediate(r));
    assert.equal(clock.now(), 0);
    await clock.advance(25);
    assert.equal(clock.now(), 25);
    await clock.advance(0);
    assert.equal(clock.now(), 25);
  });

  test('fires timers in due order, ties in the order they were armed, with now() at each due time', async () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    const at = (label: string) => () => fired.push(`${label}@${clock.now()}`);
    clock.setTimeout(at('c'), 30);
    clock.setTimeout(at('a'), 10);
    clock.setTimeout(at('b1'), 20);
    clock.setTimeout(at('b2'), 20);
    clock.setTimeout(at('late'), 31);
    await clock.advance(30);
    assert.deepEqual(fired, ['a@10', 'b1@20', 'b2@20', 'c@30']);
    assert.equal(clock.now(), 30);
    assert.equal(clock.pending(), 1);
    await clock.advance(1);
    assert.deepEqual(fired.at(-1), 'late@31');
    assert.equal(clock.pending(), 0);
  });

  test('repeats intervals until they are cleared', async () => {
    const clock = new ManualClock();
    const ticks: number[] = [];
    const h = clock.setInterval(() => ticks.push(clock.now()), 20);
    await clock.advance(70);
    assert.deepEqual(ticks, [20, 40, 60]);
    assert.equal(clock.pending(), 1);
    clock.clearInterval(h);
    assert.equal(clock.pending(), 0);
    await clock.advance(100);
    assert.deepEqual(ticks, [20, 40, 60]);
  });

  test('lets an interval clear itself from its own callback', async () => {
    const clock = new ManualClock();
    let n = 0;
    const h = clock.setInterval(() => {
      if (++n === 3) clock.clearInterval(h);
    }, 5);
    await clock.advance(100);
    assert.equal(n, 3);
    assert.equal(clock.pending(), 0);
  });

  test('clearTimeout cancels a timeout, and ignores fired, foreign and repeated handles', async () => {
    const clock = new ManualClock();
    const fired: string[] = [];
    const keep = clock.setTimeout(() => fired.push('keep'), 10);
    const drop = clock.setTimeout(() => fired.push('drop'), 10);
    clock.clearTimeout(drop);
    clock.clearTimeout(drop);
    clock.clearTimeout({ id: 12345 });
    clock.clearTimeout({ id: (keep as { id: number }).id }); // a forged handle with a live id
    assert.equal(clock.pending(), 1);
    await clock.advance(10);
    assert.deepEqual(fired, ['keep']);
    clock.clearTimeout(keep);
    assert.equal(clock.pending(), 0);
  });

  test('fires, within the same advance, timers armed by callbacks that fall due in it', async () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 15);
      clock.setTimeout(() => fired.push(clock.now()), 0);
    }, 10);
    await clock.advance(20);
    assert.deepEqual(fired, [10, 10]);
    await clock.advance(5);
    assert.deepEqual(fired, [10, 10, 25]);
  });

  test('treats negative and non-finite delays as 0, and fires them on advance(0)', async () => {
    const clock = new ManualClock();
    let n = 0;
    clock.setTimeout(() => n++, -5);
    clock.setTimeout(() => n++, Number.NaN);
    clock.setTimeout(() => n++, 0);
    assert.equal(n, 0, 'never fires synchronously');
    await clock.advance(0);
    assert.equal(n, 3);
  });

  test('lets promise chains started by one timer settle before the next timer fires', async () => {
    const clock = new ManualClock();
    const log: string[] = [];
    clock.setTimeout(() => {
      void (async () => {
        for (let i = 0; i < 5; i++) await Promise.resolve();
        await new Promise<void>((r) => queueMicrotask(r));
        log.push('write done');
      })();
    }, 10);
    clock.setTimeout(() => log.push('next timer'), 10);
    await clock.advance(10);
    assert.deepEqual(log, ['write done', 'next timer']);
  });

  test('rejects advance with the error a callback throws, and stays usable', async () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    clock.setTimeout(() => {
      throw new Error('boom');
    }, 5);
    clock.setTimeout(() => fired.push(clock.now()), 8);
    await assert.rejects(clock.advance(10), /boom/);
    assert.equal(clock.now(), 5);
    await clock.advance(5);
    assert.deepEqual(fired, [8]);
    assert.equal(clock.now(), 10);
  });

  test('refuses a second advance while one is running', async () => {
    const clock = new ManualClock();
    const first = clock.advance(10);
    await assert.rejects(clock.advance(1), /another advance\(\) is running/);
    await first;
    assert.equal(clock.now(), 10);
  });

  test('refuses negative or non-finite advances with a RangeError', async () => {
    const clock = new ManualClock();
    await assert.rejects(clock.advance(-1), RangeError);
    await assert.rejects(clock.advance(Number.POSITIVE_INFINITY), RangeError);
  });

  test('stops with an error when zero-delay timers reschedule each other forever', async () => {
    const clock = new ManualClock();
    const loop = (): void => void clock.setTimeout(loop, 0);
    clock.setTimeout(loop, 0);
    await assert.rejects(clock.advance(1), /zero-delay timers are probably rescheduling each other/);
  });
});

describe('ManualClock helpers', () => {
  test('runFor advances the whole duration in steps', async () => {
    const clock = new ManualClock();
    const ticks: number[] = [];
    clock.setInterval(() => ticks.push(clock.now()), 30);
    await clock.runFor(100, { stepMs: 7 });
    assert.equal(clock.now(), 100);
    assert.deepEqual(ticks, [30, 60, 90]);
    await clock.runFor(10);
    assert.equal(clock.now(), 110);
    await assert.rejects(clock.runFor(10, { stepMs: 0 }), RangeError);
  });

  test('waitFor advances until the predicate holds and returns the virtual time it took', async () => {
    const clock = new ManualClock();
    let ready = false;
    clock.setTimeout(() => {
      ready = true;
    }, 95);
    const took = await clock.waitFor(() => ready, { timeoutMs: 1000, stepMs: 10 });
    assert.equal(took, 100);
    assert.equal(clock.now(), 100);
    assert.equal(await clock.waitFor(() => true), 0, 'a condition that already holds costs no time');
  });

  test('waitFor accepts an async predicate', async () => {
    const clock = new ManualClock();
    const took = await clock.waitFor(async () => clock.now() >= 30, { stepMs: 15 });
    assert.equal(took, 30);
  });

  test('waitFor times out with an error naming the condition and the elapsed virtual time', async () => {
    const clock = new ManualClock();
    await clock.advance(7);
    await assert.rejects(
      clock.waitFor(() => false, { timeoutMs: 250, stepMs: 100, description: 'a leader is elected' }),
      (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.equal(
          e.message,
          'ManualClock.waitFor: a leader is elected still false after 250 ms of virtual time (timeoutMs 250, stepMs 100, now 257 ms)',
        );
        return true;
      },
    );
    assert.equal(clock.now(), 257, 'stops exactly at the timeout');
  });

  test('waitFor uses no real time: an hour of virtual time passes at once', async () => {
    const clock = new ManualClock();
    let beats = 0;
    clock.setInterval(() => beats++, 1000);
    await clock.waitFor(() => beats === 3600, { timeoutMs: 3_600_000, stepMs: 60_000 });
    assert.equal(clock.now(), 3_600_000);
  });
});
