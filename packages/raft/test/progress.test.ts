// Progress (tracker/progress.ts): the leader's view of one follower. Covers
// the Probe / Replicate / Snapshot transitions, acknowledgements
// (maybeUpdate), rejections (maybeDecrTo, where stale answers must be
// ignored in both Probe and Replicate) and when sending must pause.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Progress } from '../src/tracker/progress.ts';
import { ProgressState } from '../src/types.ts';

function progress(match: number, next: number, maxInflightMsgs = 4, maxInflightBytes = 0): Progress {
  return new Progress({ match, next, maxInflightMsgs, maxInflightBytes });
}

function replicating(match: number, maxInflightMsgs = 4, maxInflightBytes = 0): Progress {
  const pr = progress(match, match + 1, maxInflightMsgs, maxInflightBytes);
  pr.becomeReplicate();
  return pr;
}

describe('Progress transitions', () => {
  test('starts in Probe, not paused', () => {
    const pr = progress(0, 6);
    assert.equal(pr.state, ProgressState.Probe);
    assert.equal(pr.isPaused(), false);
  });

  test('becomeReplicate resumes from just after match, with an empty window', () => {
    const pr = progress(5, 9);
    pr.sentEntries(1, 9, 10);
    pr.becomeReplicate();
    assert.equal(pr.state, ProgressState.Replicate);
    assert.equal(pr.next, 6);
    assert.equal(pr.inflights.size, 0);
    assert.equal(pr.msgAppFlowPaused, false);
  });

  test('becomeProbe from Replicate restarts at match + 1 and clears the window', () => {
    const pr = replicating(5);
    pr.sentEntries(3, 8, 30);
    assert.equal(pr.next, 9);
    assert.equal(pr.inflights.size, 1);
    pr.becomeProbe();
    assert.equal(pr.state, ProgressState.Probe);
    assert.equal(pr.next, 6);
    assert.equal(pr.inflights.size, 0);
    assert.equal(pr.inflights.inflightBytes, 0);
  });

  test('becomeSnapshot records the pending snapshot and pauses', () => {
    const pr = progress(2, 3);
    pr.becomeSnapshot(10);
    assert.equal(pr.state, ProgressState.Snapshot);
    assert.equal(pr.pendingSnapshot, 10);
    assert.equal(pr.isPaused(), true);
  });

  test('becomeProbe from Snapshot resumes after the pending snapshot when it is past match', () => {
    const pr = progress(2, 3);
    pr.becomeSnapshot(10);
    pr.becomeProbe();
    assert.equal(pr.state, ProgressState.Probe);
    assert.equal(pr.next, 11);
    assert.equal(pr.pendingSnapshot, 0);
  });

  test('becomeProbe from Snapshot resumes after match when match passed the snapshot', () => {
    const pr = progress(2, 3);
    pr.becomeSnapshot(10);
    pr.maybeUpdate(15);
    pr.becomeProbe();
    assert.equal(pr.next, 16);
  });

  test('becomeProbe from Snapshot after a failed send (pending cleared) resumes after match', () => {
    const pr = progress(2, 3);
    pr.becomeSnapshot(10);
    pr.pendingSnapshot = 0;
    pr.becomeProbe();
    assert.equal(pr.next, 3);
  });
});

describe('Progress.maybeUpdate', () => {
  const cases: { name: string; match: number; next: number; n: number; ok: boolean; wantMatch: number; wantNext: number }[] = [
    { name: 'ignores an ack below match', match: 5, next: 8, n: 4, ok: false, wantMatch: 5, wantNext: 8 },
    { name: 'ignores an ack equal to match', match: 5, next: 8, n: 5, ok: false, wantMatch: 5, wantNext: 8 },
    { name: 'raises match and keeps next when next is already past it', match: 5, next: 8, n: 6, ok: true, wantMatch: 6, wantNext: 8 },
    { name: 'raises match to just before next', match: 5, next: 8, n: 7, ok: true, wantMatch: 7, wantNext: 8 },
    { name: 'raises both match and next when the ack is past next', match: 5, next: 8, n: 10, ok: true, wantMatch: 10, wantNext: 11 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const pr = progress(c.match, c.next);
      assert.equal(pr.maybeUpdate(c.n), c.ok);
      assert.equal(pr.match, c.wantMatch);
      assert.equal(pr.next, c.wantNext);
    });
  }

  test('a new ack unpauses a probe', () => {
    const pr = progress(5, 6);
    pr.sentEntries(2, 7, 2);
    assert.equal(pr.isPaused(), true);
    assert.equal(pr.maybeUpdate(7), true);
    assert.equal(pr.isPaused(), false);
  });

  test('a stale ack leaves a probe paused', () => {
    const pr = progress(5, 6);
    pr.sentEntries(2, 7, 2);
    assert.equal(pr.maybeUpdate(5), false);
    assert.equal(pr.isPaused(), true);
  });
});

describe('Progress.maybeDecrTo', () => {
  test('in Replicate, ignores a rejection at or below match as stale', () => {
    for (const rejected of [3, 5]) {
      const pr = replicating(5);
      pr.sentEntries(2, 7, 2);
      assert.equal(pr.maybeDecrTo(rejected, 0), false, `rejected ${rejected}`);
      assert.equal(pr.next, 8);
      assert.equal(pr.match, 5);
    }
  });

  test('in Replicate, a rejection above match sends next back to match + 1', () => {
    const pr = replicating(5);
    pr.sentEntries(4, 9, 4);
    assert.equal(pr.maybeDecrTo(7, 6), true);
    assert.equal(pr.next, 6);
  });

  test('in Probe, ignores a rejection of anything but the outstanding probe (next - 1)', () => {
    for (const rejected of [4, 8, 10]) {
      const pr = progress(0, 10);
      pr.sentEntries(1, 10, 1);
      assert.equal(pr.maybeDecrTo(rejected, 2), false, `rejected ${rejected}`);
      assert.equal(pr.next, 10);
      assert.equal(pr.isPaused(), true, 'an ignored rejection leaves the probe paused');
    }
  });

  test('in Probe, a rejection of a probe at match never moves next to or below match', () => {
    // next - 1 === match right after becomeProbe; whatever the hint, next
    // stays at match + 1.
    const pr = progress(5, 6);
    pr.maybeDecrTo(5, 0);
    assert.equal(pr.next, 6);
  });

  const probeCases: { name: string; match: number; next: number; rejected: number; hint: number; wantNext: number }[] = [
    { name: 'follows the hint to hint + 1', match: 0, next: 10, rejected: 9, hint: 4, wantNext: 5 },
    { name: 'goes back at least one even when the hint is not lower', match: 0, next: 10, rejected: 9, hint: 20, wantNext: 9 },
    { name: 'never goes below match + 1', match: 6, next: 10, rejected: 9, hint: 2, wantNext: 7 },
    { name: 'goes to 1 with a hint of 0 and nothing matched', match: 0, next: 3, rejected: 2, hint: 0, wantNext: 1 },
  ];
  for (const c of probeCases) {
    test(`in Probe, ${c.name}`, () => {
      const pr = progress(c.match, c.next);
      pr.sentEntries(1, c.next, 1);
      assert.equal(pr.maybeDecrTo(c.rejected, c.hint), true);
      assert.equal(pr.next, c.wantNext);
      assert.equal(pr.isPaused(), false, 'a counted rejection unpauses the probe');
    });
  }
});

describe('Progress.isPaused', () => {
  test('in Probe, pauses after one append until an answer', () => {
    const pr = progress(0, 1);
    assert.equal(pr.isPaused(), false);
    pr.sentEntries(0, 0, 0);
    assert.equal(pr.isPaused(), true, 'an empty probe also waits for its answer');
    assert.equal(pr.next, 1, 'a probe does not move next');
  });

  test('in Replicate, advances next optimistically and pauses only when the window is full by count', () => {
    const pr = replicating(0, 2);
    pr.sentEntries(3, 3, 30);
    assert.equal(pr.next, 4);
    assert.equal(pr.isPaused(), false);
    pr.sentEntries(2, 5, 20);
    assert.equal(pr.next, 6);
    assert.equal(pr.isPaused(), true);
    pr.inflights.freeLE(3);
    assert.equal(pr.isPaused(), false);
  });

  test('in Replicate, pauses when the window is full by bytes', () => {
    const pr = replicating(0, 100, 50);
    pr.sentEntries(1, 1, 30);
    assert.equal(pr.isPaused(), false);
    pr.sentEntries(1, 2, 20);
    assert.equal(pr.isPaused(), true);
  });

  test('in Replicate, an empty append (commit only) takes no slot', () => {
    const pr = replicating(4, 1);
    pr.sentEntries(0, 4, 0);
    assert.equal(pr.inflights.size, 0);
    assert.equal(pr.isPaused(), false);
    assert.equal(pr.next, 5);
  });

  test('in Snapshot, is always paused', () => {
    const pr = replicating(3);
    pr.becomeSnapshot(20);
    assert.equal(pr.isPaused(), true);
    pr.maybeUpdate(4);
    assert.equal(pr.isPaused(), true);
  });
});
