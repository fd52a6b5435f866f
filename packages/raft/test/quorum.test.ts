// Majority quorum math (quorum/majority.ts) checked two ways: against a
// deliberately naive model that tries every candidate index and counts, and
// against hand-written tables for the conventions worth pinning (an empty
// configuration commits Infinity and wins every vote).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import fc from 'fast-check';

import { VoteResult, committedIndex, voteResult } from '../src/quorum/majority.ts';

/** The largest index `i` such that at least a majority of voters acked `i` or more. */
function naiveCommitted(voters: readonly string[], acked: ReadonlyMap<string, number>): number {
  if (voters.length === 0) return Infinity;
  const majority = Math.floor(voters.length / 2) + 1;
  const candidates = new Set<number>([0]);
  for (const id of voters) candidates.add(acked.get(id) ?? 0);
  let best = 0;
  for (const i of candidates) {
    const count = voters.filter((id) => (acked.get(id) ?? 0) >= i).length;
    if (count >= majority && i > best) best = i;
  }
  return best;
}

/** Won when a majority granted, Lost when even every missing vote could not make one. */
function naiveVote(voters: readonly string[], votes: ReadonlyMap<string, boolean>): VoteResult {
  if (voters.length === 0) return VoteResult.Won;
  const majority = Math.floor(voters.length / 2) + 1;
  let yes = 0;
  let no = 0;
  for (const id of voters) {
    if (votes.get(id) === true) yes++;
    else if (votes.get(id) === false) no++;
  }
  if (yes >= majority) return VoteResult.Won;
  if (voters.length - no >= majority) return VoteResult.Pending;
  return VoteResult.Lost;
}

/** Up to 9 distinct voter IDs out of 12, plus acks for some of them (and for strangers). */
const ackedArb = fc
  .record({
    voters: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 9 }),
    acks: fc.array(fc.tuple(fc.integer({ min: 1, max: 14 }), fc.integer({ min: 0, max: 20 })), { maxLength: 14 }),
  })
  .map(({ voters, acks }) => ({
    voters: voters.map(String),
    acked: new Map(acks.map(([id, i]) => [String(id), i] as const)),
  }));

const votesArb = fc
  .record({
    voters: fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 9 }),
    votes: fc.array(fc.tuple(fc.integer({ min: 1, max: 14 }), fc.boolean()), { maxLength: 14 }),
  })
  .map(({ voters, votes }) => ({
    voters: voters.map(String),
    votes: new Map(votes.map(([id, v]) => [String(id), v] as const)),
  }));

describe('committedIndex', () => {
  test('agrees with counting, for every candidate index, how many voters reached it', () => {
    fc.assert(
      fc.property(ackedArb, ({ voters, acked }) => {
        assert.equal(
          committedIndex(voters, (id) => acked.get(id)),
          naiveCommitted(voters, acked),
        );
      }),
      { numRuns: 2000 },
    );
  });

  test('does not depend on the order the voters are listed in', () => {
    fc.assert(
      fc.property(ackedArb, ({ voters, acked }) => {
        const reversed = [...voters].reverse();
        assert.equal(
          committedIndex(reversed, (id) => acked.get(id)),
          committedIndex(voters, (id) => acked.get(id)),
        );
      }),
    );
  });

  test('never goes down when one voter acknowledges more', () => {
    fc.assert(
      fc.property(ackedArb, fc.nat({ max: 8 }), fc.nat({ max: 10 }), ({ voters, acked }, pick, more) => {
        fc.pre(voters.length > 0);
        const id = voters[pick % voters.length];
        const before = committedIndex(voters, (v) => acked.get(v));
        const bumped = new Map(acked).set(id, (acked.get(id) ?? 0) + more);
        assert.ok(committedIndex(voters, (v) => bumped.get(v)) >= before);
      }),
    );
  });

  const cases: { name: string; voters: string[]; acked: Record<string, number>; want: number }[] = [
    { name: 'an empty configuration commits Infinity', voters: [], acked: {}, want: Infinity },
    { name: 'a single voter commits what it acked', voters: ['1'], acked: { '1': 7 }, want: 7 },
    { name: 'a single voter that acked nothing commits 0', voters: ['1'], acked: {}, want: 0 },
    { name: 'two voters need both: the smaller ack', voters: ['1', '2'], acked: { '1': 9, '2': 4 }, want: 4 },
    { name: 'three voters commit the median', voters: ['1', '2', '3'], acked: { '1': 2, '2': 12, '3': 5 }, want: 5 },
    { name: 'three voters with one silent still commit the lower of the other two', voters: ['1', '2', '3'], acked: { '1': 8, '3': 6 }, want: 6 },
    { name: 'three voters with two silent commit 0', voters: ['1', '2', '3'], acked: { '1': 8 }, want: 0 },
    { name: 'four voters need three', voters: ['1', '2', '3', '4'], acked: { '1': 10, '2': 9, '3': 3, '4': 1 }, want: 3 },
    { name: 'five voters need three', voters: ['1', '2', '3', '4', '5'], acked: { '1': 10, '2': 9, '3': 8, '4': 2, '5': 1 }, want: 8 },
    { name: 'acks from non-voters are ignored', voters: ['1', '2', '3'], acked: { '1': 5, '9': 100, '8': 100 }, want: 0 },
    { name: 'equal acks commit that index', voters: ['1', '2', '3'], acked: { '1': 4, '2': 4, '3': 4 }, want: 4 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(committedIndex(c.voters, (id) => c.acked[id]), c.want);
    });
  }
});

describe('voteResult', () => {
  test('agrees with counting yes and no votes among voters', () => {
    fc.assert(
      fc.property(votesArb, ({ voters, votes }) => {
        assert.equal(voteResult(voters, votes), naiveVote(voters, votes));
      }),
      { numRuns: 2000 },
    );
  });

  const Y = true;
  const N = false;
  const cases: { name: string; voters: string[]; votes: Record<string, boolean>; want: VoteResult }[] = [
    { name: 'an empty configuration wins every vote', voters: [], votes: {}, want: VoteResult.Won },
    { name: 'an empty configuration wins even with stray rejections', voters: [], votes: { '1': N }, want: VoteResult.Won },
    { name: 'a single voter is pending until it votes', voters: ['1'], votes: {}, want: VoteResult.Pending },
    { name: 'a single voter wins with its own vote', voters: ['1'], votes: { '1': Y }, want: VoteResult.Won },
    { name: 'a single voter loses with its own rejection', voters: ['1'], votes: { '1': N }, want: VoteResult.Lost },
    { name: 'three voters win with two yes', voters: ['1', '2', '3'], votes: { '1': Y, '2': Y }, want: VoteResult.Won },
    { name: 'three voters are pending with one yes and one no', voters: ['1', '2', '3'], votes: { '1': Y, '2': N }, want: VoteResult.Pending },
    { name: 'three voters lose with two no', voters: ['1', '2', '3'], votes: { '2': N, '3': N }, want: VoteResult.Lost },
    { name: 'four voters are pending with two yes', voters: ['1', '2', '3', '4'], votes: { '1': Y, '2': Y }, want: VoteResult.Pending },
    { name: 'four voters lose with two no, as three yes are out of reach', voters: ['1', '2', '3', '4'], votes: { '1': Y, '3': N, '4': N }, want: VoteResult.Lost },
    { name: 'votes from non-voters do not count toward winning', voters: ['1', '2', '3'], votes: { '1': Y, '7': Y, '8': Y }, want: VoteResult.Pending },
    { name: 'rejections from non-voters do not count toward losing', voters: ['1', '2', '3'], votes: { '1': Y, '7': N, '8': N }, want: VoteResult.Pending },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(voteResult(c.voters, new Map(Object.entries(c.votes))), c.want);
    });
  }
});
