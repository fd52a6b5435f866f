import { describeEntry } from '../describe.js';
import { EntryType, StateType, type Entry, type Index, type NodeId, type ReadState, type Ready, type Snapshot, type Term } from '../types.js';
import type { ClusterNode, ClusterObserver } from './raw-cluster.js';

/** A broken cluster-wide safety property found by {@link ClusterInvariants}. */
export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation';
  constructor(
    readonly property:
      | 'election safety'
      | 'log matching'
      | 'leader completeness'
      | 'state machine safety'
      | 'linearizable read'
      | 'apply order'
      | 'one conf change at a time'
      | 'durability',
    message: string,
  ) {
    super(`${property} violated: ${message}`);
  }
}

function dataKey(data: Uint8Array): string {
  let s = '';
  for (let i = 0; i < data.byteLength; i++) s += String.fromCharCode(data[i]);
  return s;
}

/** The term at `i` in a node's stable log, or -1 when it was compacted away. */
function termOrUnknown(n: ClusterNode, i: Index): Term {
  try {
    return n.storage.term(i);
  } catch {
    return -1;
  }
}

interface LoggedEntry {
  readonly prevTerm: Term;
  readonly type: number;
  readonly data: string;
  readonly by: NodeId;
}

/**
 * Checks Raft's safety properties (paper figure 3) across a cluster as it
 * runs, incrementally, so a simulation can afford it after every step —
 * with membership changes, compaction, snapshot installs and crash-restarts:
 *
 * - **Election safety**: at most one leader per term, whatever the
 *   configurations; a leader is a voter of its own configuration.
 * - **Log matching**: two logs with an entry of the same index and term hold
 *   the same entry there and agree on the term before it (and so, by
 *   induction, on the whole prefix). Checked whenever a node persists
 *   entries, against every entry any node ever persisted (a term compacted
 *   away on one side is not compared).
 * - **Leader completeness**: a new leader's log holds every entry committed
 *   so far, from its snapshot's index on (what it compacted is covered by
 *   its snapshot, whose index and term are checked too).
 * - **State machine safety**: no two nodes apply different entries at one
 *   index, and every node's state machine (a digest of what it applied,
 *   restored from snapshots after a restart or an install) equals every
 *   other node's at the same index. A snapshot's index and term are those of
 *   the committed entry there.
 * - **Apply order**: each node applies indexes in order without gaps, from
 *   its snapshot's index after a restart or install (re-applying entries
 *   after a restart is expected).
 * - **One conf change at a time**: a leader never accepts a conf change while
 *   an earlier one in its log is unapplied, and no log ever holds two conf
 *   changes past the highest index applied anywhere.
 * - **Durability**: an entry that a node took and lost in a crash before
 *   persisting or sending it is never applied.
 * - **Linearizable reads**: a read state's index is at least the index of
 *   every entry applied anywhere before the read was requested.
 */
export class ClusterInvariants implements ClusterObserver {
  private readonly leaders = new Map<Term, NodeId>();
  private readonly logged = new Map<string, LoggedEntry>();
  /** Every committed (applied somewhere) entry, by index. */
  private readonly committed: Entry[] = [];
  /** The state machine digest after applying each index (from applies and snapshots). */
  private readonly digests: number[] = [];
  /** The highest index applied on any node. */
  highestApplied: Index = 0;
  /** Read requests in flight: context → lowest acceptable index. */
  private readonly reads = new Map<string, Index>();
  checkedReads = 0;
  /** Per node: the last index applied (or restored) by its current state machine. */
  private readonly lastApplied = new Map<NodeId, Index>();
  /** Data of entries lost in a crash before anyone could see them. */
  private readonly lost = new Set<string>();
  /** Snapshots installed from a leader. */
  snapshotsInstalled = 0;
  /** Conf change entries applied (counted once per index, bootstrap included). */
  confChangesCommitted = 0;

  persisted(id: NodeId, rd: Ready, n: ClusterNode): void {
    let confChange = false;
    for (const e of rd.entries) {
      if (e.type === EntryType.ConfChange) confChange = true;
      const key = `${e.index}/${e.term}`;
      const prevTerm = e.index > 1 ? termOrUnknown(n, e.index - 1) : 0;
      const mine: LoggedEntry = { prevTerm, type: e.type, data: dataKey(e.data), by: id };
      const seen = this.logged.get(key);
      if (!seen) {
        this.logged.set(key, mine);
      } else if ((seen.prevTerm !== mine.prevTerm && seen.prevTerm >= 0 && mine.prevTerm >= 0) || seen.data !== mine.data || seen.type !== mine.type) {
        throw new SafetyViolation(
          'log matching',
          `${id} and ${seen.by} both have an entry at ${key} but they differ ` +
            `(prevTerm ${mine.prevTerm} vs ${seen.prevTerm}, data ${JSON.stringify(mine.data)} vs ${JSON.stringify(seen.data)})`,
        );
      }
    }
    if (rd.snapshot) this.checkSnapshotTerm(id, rd.snapshot);
    if (confChange) this.checkPendingConfChanges(id, n);
    this.checkLeader(id, n);
  }

  /**
   * No log may hold two conf changes past the highest index applied anywhere:
   * the leader that appended the later one must have applied the earlier.
   */
  private checkPendingConfChanges(id: NodeId, n: ClusterNode): void {
    const log = n.node.raft.log;
    const lo = Math.max(log.firstIndex(), this.highestApplied + 1);
    const hi = log.lastIndex();
    if (lo > hi) return;
    let first: Entry | undefined;
    for (const e of log.slice(lo, hi + 1)) {
      if (e.type !== EntryType.ConfChange) continue;
      if (first) {
        throw new SafetyViolation(
          'one conf change at a time',
          `${id}'s log holds ${describeEntry(first)} and ${describeEntry(e)}, both past the highest applied index ${this.highestApplied}`,
        );
      }
      first = e;
    }
  }

  /**
   * Call when leader `id` accepted a conf change proposal (the last entry
   * of its log): no earlier conf change in its log may still be unapplied.
   */
  confChangeAccepted(id: NodeId, n: ClusterNode): void {
    const log = n.node.raft.log;
    const last = log.lastIndex();
    const lo = Math.max(log.firstIndex(), n.appliedIndex + 1);
    if (lo >= last) return;
    for (const e of log.slice(lo, last)) {
      if (e.type === EntryType.ConfChange) {
        throw new SafetyViolation(
          'one conf change at a time',
          `leader ${id} accepted a conf change at ${last} while ${describeEntry(e)} is not applied (applied ${n.appliedIndex})`,
        );
      }
    }
  }

  softState(id: NodeId, _rd: Ready, n: ClusterNode): void {
    this.checkLeader(id, n);
  }

  private checkLeader(id: NodeId, n: ClusterNode): void {
    const r = n.node.raft;
    if (r.state !== StateType.Leader) return;
    // Only a voter campaigns, and a leader that applies its own removal
    // steps down at once.
    if (!r.trk.isVoter(id)) {
      throw new SafetyViolation('election safety', `${id} leads term ${r.term} but is not a voter of its configuration (${r.trk.voters.join(',')})`);
    }
    const other = this.leaders.get(r.term);
    if (other === undefined) {
      this.leaders.set(r.term, id);
      this.checkCompleteness(id, n);
    } else if (other !== id) {
      throw new SafetyViolation('election safety', `${id} and ${other} are both leaders of term ${r.term}`);
    }
  }

  private checkCompleteness(id: NodeId, n: ClusterNode): void {
    const log = n.node.raft.log;
    // From the snapshot's index (the log's dummy entry): compacted entries
    // are covered by it.
    const from = Math.max(1, log.firstIndex() - 1);
    for (let i = from; i < this.committed.length; i++) {
      const c = this.committed[i];
      if (!c) continue;
      const t = i <= log.lastIndex() ? log.termOrZero(i) : -1;
      if (t !== c.term) {
        throw new SafetyViolation(
          'leader completeness',
          `${id} leads term ${n.node.raft.term} but its log has ${t < 0 ? 'no entry' : `term ${t}`} at ${i}, where ${describeEntry(c)} was committed`,
        );
      }
    }
  }

  /** A snapshot's index and term must be those of the committed entry there. */
  private checkSnapshotTerm(id: NodeId, snap: Snapshot): void {
    const { index, term } = snap.metadata;
    const c = this.committed[index];
    if (c && c.term !== term) {
      throw new SafetyViolation('state machine safety', `${id} got a snapshot at ${index} of term ${term}, where ${describeEntry(c)} was committed`);
    }
  }

  /** Compares a node's state machine at `index` with every other node's there. */
  private checkDigest(id: NodeId, index: Index, digest: number, how: string): void {
    if (index === 0) return;
    const prev = this.digests[index];
    if (prev === undefined) this.digests[index] = digest;
    else if (prev !== digest) {
      throw new SafetyViolation(
        'state machine safety',
        `${id}'s state machine at index ${index} (${how}) is ${digest}, another node's there is ${prev}`,
      );
    }
  }

  applied(id: NodeId, e: Entry, n: ClusterNode): void {
    const prev = this.committed[e.index];
    if (prev === undefined) {
      this.committed[e.index] = e;
      if (e.type === EntryType.ConfChange) this.confChangesCommitted++;
    } else if (prev.term !== e.term || prev.type !== e.type || dataKey(prev.data) !== dataKey(e.data)) {
      throw new SafetyViolation('state machine safety', `${id} applied ${describeEntry(e)} where ${describeEntry(prev)} was applied before`);
    }
    if (this.lost.size > 0 && e.data.byteLength > 0 && this.lost.has(dataKey(e.data))) {
      throw new SafetyViolation('durability', `${id} applied ${describeEntry(e)}, an entry lost in a crash before it was persisted or sent`);
    }
    const expect = (this.lastApplied.get(id) ?? 0) + 1;
    if (e.index !== expect) {
      throw new SafetyViolation('apply order', `${id} applied index ${e.index}, expected ${expect}`);
    }
    this.lastApplied.set(id, e.index);
    this.checkDigest(id, e.index, n.digest, 'applying');
    if (e.index > this.highestApplied) this.highestApplied = e.index;
  }

  restored(id: NodeId, snap: Snapshot, n: ClusterNode): void {
    this.snapshotsInstalled++;
    const index = snap.metadata.index;
    const before = this.lastApplied.get(id) ?? 0;
    if (index <= before) {
      throw new SafetyViolation('apply order', `${id} installed a snapshot at ${index} but had applied ${before} already`);
    }
    this.checkDigest(id, index, n.digest, 'installed snapshot');
    this.lastApplied.set(id, index);
  }

  restarted(id: NodeId, n: ClusterNode): void {
    this.checkDigest(id, n.appliedIndex, n.digest, 'restarted from its snapshot');
    this.lastApplied.set(id, n.appliedIndex);
  }

  /** Call when entry data was taken by a node that crashed before persisting or sending it. */
  lostInCrash(data: Uint8Array): void {
    this.lost.add(dataKey(data));
  }

  /** Call when a read is requested: it must see everything applied so far. */
  readRequested(ctx: string): void {
    this.reads.set(ctx, this.highestApplied);
  }

  read(id: NodeId, rs: ReadState, n: ClusterNode): void {
    const ctx = dataKey(rs.requestCtx);
    const min = this.reads.get(ctx);
    if (min === undefined) return; // a duplicate answer for a read already checked
    this.reads.delete(ctx);
    if (rs.index < min) {
      throw new SafetyViolation('linearizable read', `${id} answered read ${ctx} at index ${rs.index}, but ${min} was applied before it was asked`);
    }
    if (n.appliedIndex < rs.index) {
      throw new SafetyViolation('linearizable read', `${id} released read ${ctx} at index ${rs.index} before applying it (applied ${n.appliedIndex})`);
    }
    this.checkedReads++;
  }

  /** Terms that had a leader. */
  get leaderTerms(): number {
    return this.leaders.size;
  }
}
