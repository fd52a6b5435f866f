import { ProgressState, type Index } from '../types.js';
import { Inflights } from './inflights.js';

/**
 * The leader's view of one follower's log: what matches, what to send next,
 * and how (Probe, Replicate, Snapshot).
 *
 * @remarks
 * State changes happen only through the methods here, never by poking fields
 * from raft.ts.
 *
 * Invariant: `match < next`.
 *
 * ```
 *            reject / unreachable
 *   Probe <───────────────────────── Replicate
 *     │  ──────── ack (match) ──────>   ▲
 *     │ needs compacted entries          │ snapshot applied
 *     └───────> Snapshot ────────────────┘ (via Probe)
 * ```
 */
export class Progress {
  /** Highest index known to be in the follower's log. */
  match: Index;
  /** Next index to send. */
  next: Index;
  state: ProgressState = ProgressState.Probe;
  /** In Snapshot state: the index of the snapshot being sent. */
  pendingSnapshot: Index = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** In Probe state: a MsgApp is outstanding; wait for its answer or a heartbeat. */
  msgAppFlowPaused = false;
  /** The commit index last sent to this follower. */
  sentCommit: Index = 0;
  readonly inflights: Inflights;
  /** Changes only through ProgressTracker.setConfig (promotion). */
  isLearner: boolean;

  constructor(opts: { match: Index; next: Index; maxInflightMsgs: number; maxInflightBytes: number; isLearner?: boolean }) {
    this.match = opts.match;
    this.next = opts.next;
    this.inflights = new Inflights(opts.maxInflightMsgs, opts.maxInflightBytes);
    this.isLearner = opts.isLearner ?? false;
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Back to probing, from just after what is known to match. */
  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  /** Match is known: pipeline appends from just after it. */
  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  /** The follower needs the snapshot at `snapshotIndex`. */
  becomeSnapshot(snapshotIndex: Index): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /**
   * Records that a MsgApp carrying `entries` entries ending at
   * `lastIndex` (and `bytes` of payload) was sent.
   */
  sentEntries(entries: number, lastIndex: Index, bytes: number): void {
    if (this.state === ProgressState.Replicate) {
      if (entries > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === ProgressState.Probe) {
      this.msgAppFlowPaused = true;
    }
  }

  /**
   * The follower acknowledged entries up to `n`. Returns whether that was
   * news (not a stale or duplicated acknowledgement).
   */
  maybeUpdate(n: Index): boolean {
    if (n <= this.match) return false;
    this.match = n;
    if (this.next < n + 1) this.next = n + 1;
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * The follower rejected the MsgApp at `rejected`; `matchHint` is where it
   * suggests probing (fast backtracking). Returns false when the rejection is
   * stale and was ignored.
   */
  maybeDecrTo(rejected: Index, matchHint: Index): boolean {
    if (this.state === ProgressState.Replicate) {
      // In Replicate, any reject at or below match is out of date.
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // In Probe, only the answer to the outstanding probe (next - 1) counts.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Whether sending appends to this follower must wait. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.msgAppFlowPaused;
      case ProgressState.Replicate:
        return this.inflights.full();
      case ProgressState.Snapshot:
        return true;
    }
  }
}
