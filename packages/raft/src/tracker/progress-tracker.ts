import { committedIndex, voteResult, VoteResult } from '../quorum/majority.js';
import type { ConfState, Index, NodeId } from '../types.js';
import { Progress } from './progress.js';

/**
 * The membership as the leader and candidates see it, with a
 * {@link Progress} per member and the votes of the current election.
 *
 * @remarks
 * Invariant: every voter and learner has a Progress; voters and learners
 * are disjoint.
 */
export class ProgressTracker {
  voters: NodeId[] = [];
  learners: NodeId[] = [];
  readonly progress = new Map<NodeId, Progress>();
  readonly votes = new Map<NodeId, boolean>();

  constructor(
    readonly maxInflightMsgs: number,
    readonly maxInflightBytes: number,
  ) {}

  /** Sets the membership (at start-up or when restoring a snapshot). */
  applyConfState(cs: ConfState, lastIndex: Index): void {
    this.voters = [...cs.voters].sort();
    this.learners = [...cs.learners].sort();
    this.progress.clear();
    for (const id of this.voters) this.progress.set(id, this.newProgress(0, lastIndex + 1, false));
    for (const id of this.learners) this.progress.set(id, this.newProgress(0, lastIndex + 1, true));
  }

  /**
   * Switches to a new membership, keeping the Progress of members that stay
   * (a promoted learner keeps its match) and starting new members from
   * `lastIndex + 1`, marked active so a check-quorum right after they join
   * does not count them as silent.
   */
  setConfig(cs: ConfState, lastIndex: Index): void {
    const old = this.progress;
    const next = new Map<NodeId, Progress>();
    const place = (id: NodeId, isLearner: boolean): void => {
      const prev = old.get(id);
      if (prev) {
        // A promoted learner keeps its replication state: it is the same
        // follower, now counted.
        prev.isLearner = isLearner;
        next.set(id, prev);
        return;
      }
      const pr = this.newProgress(0, lastIndex + 1, isLearner);
      pr.recentActive = true;
      next.set(id, pr);
    };
    for (const id of cs.voters) place(id, false);
    for (const id of cs.learners) place(id, true);
    this.voters = [...cs.voters].sort();
    this.learners = [...cs.learners].sort();
    this.progress.clear();
    for (const [id, pr] of next) this.progress.set(id, pr);
    for (const id of [...this.votes.keys()]) if (!this.progress.has(id)) this.votes.delete(id);
  }

  newProgress(match: Index, next: Index, isLearner: boolean): Progress {
    return new Progress({
      match,
      next,
      maxInflightMsgs: this.maxInflightMsgs,
      maxInflightBytes: this.maxInflightBytes,
      isLearner,
    });
  }

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** Whether the membership has exactly one voter, and it is `id`. */
  isSingleton(id: NodeId): boolean {
    return this.voters.length === 1 && this.voters[0] === id;
  }

  /** The highest index replicated on a quorum of voters. */
  committed(): Index {
    return committedIndex(this.voters, (id) => this.progress.get(id)?.match);
  }

  /** Whether a quorum of voters was heard from recently (`self` always counts). */
  quorumActive(self: NodeId): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.voters) {
      const pr = this.progress.get(id);
      active.set(id, id === self || (pr !== undefined && pr.recentActive));
    }
    return voteResult(this.voters, active) === VoteResult.Won;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  /** Records `id`'s vote; a voter's first answer in an election counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    return { granted, rejected, result: voteResult(this.voters, this.votes) };
  }
}
