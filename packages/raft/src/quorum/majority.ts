import type { Index, NodeId } from '../types.js';

/** Outcome of a vote count. */
export enum VoteResult {
  Pending = 0,
  Lost = 1,
  Won = 2,
}

/**
 * The highest index acknowledged by a majority of `voters`: sort the acked
 * indexes and take the one a quorum has reached. Unknown voters count as 0.
 *
 * @remarks
 * An empty voter set commits everything (`Infinity`): by convention it
 * never holds anything back, which lets half of a joint configuration be
 * empty.
 */
export function committedIndex(voters: readonly NodeId[], acked: (id: NodeId) => Index | undefined): Index {
  const n = voters.length;
  if (n === 0) return Infinity;
  // Insertion sort: clusters are small (3–7 voters), where it beats
  // Array.prototype.sort with a comparator by a wide margin.
  const srt: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = acked(voters[i]) ?? 0;
    let j = i - 1;
    for (; j >= 0 && srt[j] > v; j--) srt[j + 1] = srt[j];
    srt[j + 1] = v;
  }
  // With n voters a quorum is floor(n/2)+1; in ascending order the highest
  // index reached by that many is at position n - quorum.
  return srt[n - (Math.floor(n / 2) + 1)];
}

/**
 * Counts `votes` (true = granted) among `voters`: Won once a majority
 * granted, Lost once a majority can no longer be reached, Pending otherwise.
 * An empty voter set wins.
 */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const n = voters.length;
  if (n === 0) return VoteResult.Won;
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = Math.floor(n / 2) + 1;
  if (granted >= q) return VoteResult.Won;
  if (granted + missing >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}
