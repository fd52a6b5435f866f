import { describeEntry } from '../describe.js';
import type { Entry, Index, NodeId, ReadState, Ready, Term } from '../types.js';
import { StateType } from '../types.js';
import type { ClusterNode, ClusterObserver } from './raw-cluster.js';

/** A broken cluster-wide safety property found by {@link ClusterInvariants}. */
export class SafetyViolation extends Error {
  override readonly name = 'SafetyViolation';
  constructor(
    readonly property: 'election safety' | 'log matching' | 'leader completeness' | 'state machine safety' | 'linearizable read' | 'apply order',
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
 * runs, incrementally, so a simulation can afford it after every step:
 *
 * - **Election safety**: at most one leader per term.
 * - **Log matching**: two logs with an entry of the same index and term hold
 *   the same entry there and agree on the term before it (and so, by
 *   induction, on the whole prefix). Checked whenever a node persists
 *   entries, against every entry any node ever persisted.
 * - **Leader completeness**: a new leader's log holds every entry committed
 *   so far.
 * - **State machine safety**: no two nodes apply different entries at one
 *   index; each node applies indexes in order without gaps.
 * - **Linearizable reads**: a read state's index is at least the index of
 *   every entry applied anywhere before the read was requested.
 */
export class ClusterInvariants implements ClusterObserver {
  private readonly leaders = new Map<Term, NodeId>();
  private readonly logged = new Map<string, LoggedEntry>();
  /** Every committed (applied somewhere) entry, by index. */
  private readonly committed: Entry[] = [];
  /** The highest index applied on any node. */
  highestApplied: Index = 0;
  /** Read requests in flight: context → lowest acceptable index. */
  private readonly reads = new Map<string, Index>();
  checkedReads = 0;

  persisted(id: NodeId, rd: Ready, n: ClusterNode): void {
    for (const e of rd.entries) {
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
    this.checkLeader(id, n);
  }

  softState(id: NodeId, _rd: Ready, n: ClusterNode): void {
    this.checkLeader(id, n);
  }

  private checkLeader(id: NodeId, n: ClusterNode): void {
    const r = n.node.raft;
    if (r.state !== StateType.Leader) return;
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
    const first = log.firstIndex();
    for (let i = first; i < this.committed.length; i++) {
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

  applied(id: NodeId, e: Entry, n: ClusterNode): void {
    const prev = this.committed[e.index];
    if (prev === undefined) {
      this.committed[e.index] = e;
    } else if (prev.term !== e.term || prev.type !== e.type || dataKey(prev.data) !== dataKey(e.data)) {
      throw new SafetyViolation('state machine safety', `${id} applied ${describeEntry(e)} where ${describeEntry(prev)} was applied before`);
    }
    const expect = (this.lastApplied.get(id) ?? 0) + 1;
    if (e.index !== expect) {
      throw new SafetyViolation('apply order', `${id} applied index ${e.index}, expected ${expect}`);
    }
    this.lastApplied.set(id, e.index);
    if (e.index > this.highestApplied) this.highestApplied = e.index;
    void n;
  }
  private readonly lastApplied = new Map<NodeId, Index>();

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
