import { assert } from '../errors.js';
import { ConfChangeType, type ConfChange, type ConfState, type NodeId } from '../types.js';

/** What applying a change to a configuration gives: a new one, or why not. */
export type ChangeResult = { readonly confState: ConfState } | { readonly refused: string };

/**
 * Applies one membership change to a configuration, returning a new one (the
 * input is never modified) or the reason it is refused. Pure and
 * deterministic: every member applying the same change to the same
 * configuration gets the same answer, so a refused change is a no-op
 * everywhere.
 *
 * @remarks
 * One change at a time (Raft thesis §4.1): any two majorities of the old and
 * new configurations overlap when they differ by one voter, so no joint
 * phase is needed — provided a change starts only after the previous one
 * is applied, which the leader enforces (`pendingConfIndex`).
 *
 * ```
 *   (1 2 3)      + AddNode 4         → (1 2 3 4)
 *   (1 2 3)&&(4) + AddNode 4         → (1 2 3 4)      promote learner 4
 *   (1 2 3)      + AddLearnerNode 4  → (1 2 3)&&(4)   (&& marks learners)
 *   (1 2 3)      + RemoveNode 3      → (1 2)
 *   (1)          + RemoveNode 1      → refused: no voter would be left
 *   (1 2)        + AddLearnerNode 2  → refused: demotion needs remove + add
 *   (1 2)        + UpdateNode 2      → (1 2)          context only
 * ```
 */
export function changeConfig(cs: ConfState, cc: ConfChange): ChangeResult {
  checkInvariants(cs);
  const voters = new Set(cs.voters);
  const learners = new Set(cs.learners);
  const id = cc.nodeId;
  switch (cc.type) {
    case ConfChangeType.AddNode:
      if (voters.has(id)) return { refused: `${id} is already a voter` };
      learners.delete(id);
      voters.add(id);
      break;
    case ConfChangeType.AddLearnerNode:
      if (learners.has(id)) return { refused: `${id} is already a learner` };
      if (voters.has(id)) return { refused: `${id} is a voter; demoting a voter to learner is not supported (remove it, then add it as a learner under a new ID)` };
      learners.add(id);
      break;
    case ConfChangeType.UpdateNode:
      if (!voters.has(id) && !learners.has(id)) return { refused: `${id} is not a member` };
      break;
    case ConfChangeType.RemoveNode:
      if (!voters.has(id) && !learners.has(id)) return { refused: `${id} is not a member` };
      if (voters.has(id) && voters.size === 1) return { refused: `removing ${id} would leave no voter` };
      voters.delete(id);
      learners.delete(id);
      break;
    default:
      return { refused: `unknown conf change type ${String(cc.type)}` };
  }
  const out: ConfState = { voters: sorted(voters), learners: sorted(learners) };
  checkInvariants(out);
  return { confState: out };
}

function sorted(ids: Set<NodeId>): NodeId[] {
  return [...ids].sort();
}

function checkInvariants(cs: ConfState): void {
  for (const id of cs.learners) {
    assert(!cs.voters.includes(id), () => `${id} is both a voter and a learner in (${cs.voters.join(' ')})&&(${cs.learners.join(' ')})`);
  }
}
