import { RaftError } from '../errors.js';
import type { ConfChange, Index, NodeId, Term } from '../types.js';

/** One caller waiting for its proposal (or read) to settle. */
export interface Pending<R> {
  readonly seq: number;
  readonly deadline: number;
  readonly resolve: (value: R) => void;
  readonly reject: (err: Error) => void;
  /** What to propose (kept to retry while no leader is known): wrapped entry data… */
  readonly entry?: Uint8Array;
  /** …or a membership change. */
  readonly conf?: ConfChange;
  /** Where the leader appended it, when this node was the leader. */
  at?: { index: Index; term: Term };
  /** Whether it is waiting for a leader to be elected before it can be proposed. */
  waitingForLeader: boolean;
  /** The leader a follower forwarded it to (it is lost if that leader dies). */
  forwardedTo?: NodeId;
  /** Whether a leader was ever known while it waited (for the timeout's error). */
  sawLeader: boolean;
}

/**
 * The callers waiting on proposals, by sequence number, in the order made:
 * since every proposal has the same timeout, that is also deadline order,
 * so expiring is a walk from the front.
 *
 * @remarks
 * Invariant: every promise handed out settles exactly once — applied,
 * replaced, timed out, or rejected on close.
 */
export class ProposalTracker<R> {
  private readonly pending = new Map<number, Pending<R>>();
  private readonly byIndex = new Map<Index, Pending<R>>();
  private readonly waitingSet = new Set<Pending<R>>();
  private nextSeq = 1;

  get size(): number {
    return this.pending.size;
  }

  /** Allocates the next sequence number (for the proposal's tag). */
  allocate(): number {
    return this.nextSeq++;
  }

  add(p: Pending<R>): void {
    this.pending.set(p.seq, p);
  }

  get(seq: number): Pending<R> | undefined {
    return this.pending.get(seq);
  }

  /** Records where the leader (this node) appended it. */
  placed(p: Pending<R>, index: Index, term: Term): void {
    p.at = { index, term };
    this.byIndex.set(index, p);
  }

  private remove(p: Pending<R>): void {
    this.pending.delete(p.seq);
    this.waitingSet.delete(p);
    if (p.at && this.byIndex.get(p.at.index) === p) this.byIndex.delete(p.at.index);
  }

  /** Our proposal `seq` was applied with `value`. */
  resolve(seq: number, value: R): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.remove(p);
    p.resolve(value);
  }

  /** Our proposal `seq` was applied but refused (e.g. a conf change that could not apply). */
  reject(seq: number, err: Error): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.remove(p);
    p.reject(err);
  }

  /**
   * An entry was applied at `index`: if we had placed a proposal there and
   * this is not it, a new leader replaced it and it will never commit.
   */
  appliedAt(index: Index, term: Term, seqIfOurs: number | undefined): void {
    const p = this.byIndex.get(index);
    if (!p || seqIfOurs === p.seq) return;
    this.remove(p);
    p.reject(
      new RaftError(
        'RAFT_PROPOSAL_DROPPED',
        `proposal appended at ${p.at!.index} in term ${p.at!.term} was replaced by a new leader's entry of term ${term}`,
      ),
    );
  }

  /** Marks whether `p` waits for a leader before it can be proposed. */
  setWaiting(p: Pending<R>, waiting: boolean): void {
    p.waitingForLeader = waiting;
    if (waiting) this.waitingSet.add(p);
    else this.waitingSet.delete(p);
  }

  /** Proposals waiting for a leader, oldest first. */
  waiting(): Pending<R>[] {
    return this.waitingSet.size === 0 ? [] : [...this.waitingSet];
  }

  /**
   * The leader changed from the one these proposals were forwarded to: they
   * may or may not have been appended before it went, and the new leader
   * will not hear of them. Fail them now with a clear error rather than at
   * their timeout (the caller may retry; the outcome is unknown).
   */
  leaderChanged(newLeader: NodeId): void {
    for (const p of [...this.pending.values()]) {
      if (p.forwardedTo === undefined || p.forwardedTo === newLeader || p.at !== undefined) continue;
      this.remove(p);
      p.reject(
        new RaftError(
          'RAFT_LEADER_CHANGED',
          `forwarded to leader ${p.forwardedTo}, which lost leadership before the entry was applied here; it may or may not have been applied`,
        ),
      );
    }
  }

  /** Rejects every proposal whose deadline has passed. */
  expire(now: number, timeoutMs: number): void {
    for (const p of this.pending.values()) {
      if (p.deadline > now) break;
      this.remove(p);
      p.reject(
        p.waitingForLeader && !p.sawLeader
          ? new RaftError('RAFT_NO_LEADER', `no leader was elected within ${timeoutMs} ms`)
          : new RaftError('RAFT_TIMEOUT', `not applied within ${timeoutMs} ms; it may still commit`),
      );
    }
  }

  /** Rejects everything (the node is stopping). */
  rejectAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    this.byIndex.clear();
    this.waitingSet.clear();
    for (const p of all) p.reject(err);
  }
}
