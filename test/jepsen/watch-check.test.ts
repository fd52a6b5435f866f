// The watch checks of the process run (watch-check.ts) on hand-made
// records: each breaks one claim of issue 7 and must be reported, so a run
// that passes is not passing because a check cannot fail.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WatchEvent, WatchRecord } from './http-watcher.ts';
import { checkResumedWatch, checkWatches, coveringRecord } from './watch-check.ts';

/** Sets of /jepsen/r<i % 2> with value v<i>, one per index. */
const change = (index: number): WatchEvent => ({ action: 'set', key: `/jepsen/r${index % 2}`, value: `v${index}`, index });

const record = (name: string, indexes: readonly number[], extra: Partial<WatchRecord> = {}): WatchRecord => ({
  name,
  member: name,
  mode: 'long-poll',
  startIndex: 1,
  events: indexes.map(change),
  reached: indexes.at(-1) ?? 0,
  interruptions: [],
  faults: [],
  ended: undefined,
  ...extra,
});

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const finalValues = new Map<string, string | null>([
  ['/jepsen/r0', 'v10'],
  ['/jepsen/r1', 'v9'],
]);
const final = { index: 10, values: finalValues };

test('passes watchers that agree, including one resumed after a failure and one cleared by a 401', () => {
  const problems = checkWatches({
    records: [
      record('n1', range(1, 10)),
      record('n2', range(1, 10), { interruptions: [{ why: 'ECONNRESET', reached: 4 }], faults: ['SIGKILL at t=3.0s'] }),
      record('n3', range(1, 3), { ended: '401 the requested history has been cleared [5/4]' }),
      record('n3#2', range(6, 10), { startIndex: 6 }),
    ],
    final,
    acknowledged: [{ key: '/jepsen/r1', value: 'v3' }],
  });
  assert.deepEqual(problems, []);
});

test('reports a watcher that resumed from last + 2 and skipped a change it covered', () => {
  const skipped = range(1, 10).filter((i) => i !== 5);
  const problems = checkWatches({ records: [record('n1', range(1, 10)), record('n2', skipped)], final });
  assert.match(problems.join('\n'), /watch n2 missed 1 changes in \[1, 10\], which it covered \(never interrupted\): 5 set \/jepsen\/r1=v5 \(seen by n1\)/);
  assert.match(problems.join('\n'), /watches n1 and n2, both connected throughout, differ in \[1, 10\]: 10 vs 9 events/);
});

test('reports a change seen twice or out of index order', () => {
  const problems = checkWatches({ records: [record('n1', [1, 2, 3, 3, 4]), record('n2', [1, 3, 2, 4])] });
  assert.match(problems.join('\n'), /watch n1: events out of index order \(1\): 3 set \/jepsen\/r1=v3 after 3 set/);
  assert.match(problems.join('\n'), /watch n2: events out of index order \(1\): 2 set \/jepsen\/r0=v2 after 3 set/);
});

test('reports two watchers that saw different changes at one index', () => {
  const n2 = record('n2', range(1, 4));
  n2.events[2] = { ...n2.events[2]!, value: 'forged' };
  const problems = checkWatches({ records: [record('n1', range(1, 4)), n2] });
  assert.match(problems.join('\n'), /watchers disagree on 1 events: n1 saw 3 set \/jepsen\/r1=v3, n2 saw 3 set \/jepsen\/r1=forged/);
});

test('reports a watcher that never reached the final index, or ends on a value the final read contradicts', () => {
  const stale = record('n2', range(1, 10));
  stale.events.pop();
  stale.reached = 10; // it claims the end but its last r0 is v8
  const problems = checkWatches({ records: [record('n1', range(1, 7)), stale], final: { index: 10, values: finalValues } });
  assert.match(problems.join('\n'), /watch n1 never reached the final index 10: it saw up to 7/);
  assert.match(problems.join('\n'), /watch n2 ends with \/jepsen\/r0 = "v8" \(at 8\), but the final quorum read is "v10"/);
});

test('reports an acknowledged write that a watcher of the whole run never saw', () => {
  const problems = checkWatches({ records: [record('n1', range(1, 10))], final, acknowledged: [{ key: '/jepsen/r0', value: 'lost' }] });
  assert.deepEqual(problems, ['watch n1 covered the whole run but never saw 1 acknowledged writes: /jepsen/r0=lost']);
});

test('a resumed watch must get exactly what a covering watcher saw, and a 401 only past the history', () => {
  const steady = record('n1', range(1, 2000));
  const ref = coveringRecord([record('n2', range(1, 2000), { faults: ['SIGSTOP at t=1.0s'] }), steady], 1500, 2000);
  assert.equal(ref, steady);
  assert.deepEqual(checkResumedWatch({ member: 'n2', from: 1500, to: 2000, events: range(1500, 2000).map(change) }, steady), []);
  const gap = checkResumedWatch({ member: 'n2', from: 1500, to: 2000, events: range(1500, 2000).filter((i) => i !== 1600).map(change) }, steady);
  assert.match(gap.join('\n'), /a watch resumed from 1500 on n2 got 500 events up to 2000, n1 saw 501; first difference: 1601 set \/jepsen\/r1=v1601 vs 1600 set/);
  const cleared = '401 the requested history has been cleared [1600/1500]';
  assert.equal(checkResumedWatch({ member: 'n2', from: 1500, to: 2000, events: [], cleared }, steady).length, 1);
  assert.deepEqual(checkResumedWatch({ member: 'n2', from: 500, to: 2000, events: [], cleared }, steady), []);
});
