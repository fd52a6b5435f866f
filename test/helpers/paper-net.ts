// A tiny, synchronous network of RawNodes for tests that act out the Raft
// paper: each node persists its Ready into its own MemoryStorage, applies
// committed entries into a list, and queues its messages here. Nothing moves
// until the test says so (`deliver`, `stabilize`), so a test can drop, hold or
// reorder any message. Logs are set up through MemoryStorage before the
// RawNode exists, exactly as a restarting node would find them.
import {
  EntryType,
  MemoryStorage,
  RawNode,
  seededRandom,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftConfig,
  type RaftStatus,
  type Ready,
} from '../../packages/raft/src/index.ts';
import { MessageType, isDriverMessage } from '../../packages/raft/src/types.ts';

/** Entries at indexes `from, from+1, ...` with the given terms (empty normal entries unless `data` is given). */
export function entries(from: number, terms: readonly number[], data?: (index: number) => Uint8Array): Entry[] {
  return terms.map((term, i) => ({
    term,
    index: from + i,
    type: EntryType.Normal,
    data: data ? data(from + i) : new Uint8Array(0),
  }));
}

/** How one node starts: its log (terms of entries 1, 2, ...), hard state and config overrides. */
export interface NodeSetup {
  /** Terms of the log entries at indexes 1, 2, ... */
  readonly log?: readonly number[];
  readonly term?: number;
  readonly vote?: NodeId;
  readonly commit?: number;
  readonly config?: Partial<Omit<RaftConfig, 'id' | 'storage'>>;
  /** Last touches to the storage (snapshots, compaction) before the node starts from it. */
  readonly prepare?: (storage: MemoryStorage) => void;
}

/** One member: its core, its durable storage, and what it applied. */
export interface NetNode {
  readonly id: NodeId;
  node: RawNode;
  readonly storage: MemoryStorage;
  readonly setup: NodeSetup;
  /** Every entry handed out as committed, in order (across restarts). */
  readonly applied: Entry[];
  /** Every Ready handed out by this node, in order. */
  readonly readies: Ready[];
  /** Down: the node is gone, messages to it are lost. */
  down: boolean;
}

/** Tells whether a queued message should be acted on. */
export type MessagePredicate = (m: Message) => boolean;

/** A stable per-node seed, so runs repeat exactly. */
function seedOf(id: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export const encode = (s: string): Uint8Array => new TextEncoder().encode(s);
export const decode = (b: Uint8Array): string => new TextDecoder().decode(b);

/**
 * A set of RawNodes and the messages in flight between them.
 *
 * @example
 * ```ts
 * const net = new PaperNet(['1', '2', '3']);
 * net.campaign('1');
 * net.stabilize();
 * net.status('1').raftState; // StateType.Leader
 * ```
 */
export class PaperNet {
  readonly nodes = new Map<NodeId, NetNode>();
  /** Messages sent and not yet delivered or dropped, in send order. */
  queue: Message[] = [];
  /** Every message ever sent, in send order. */
  readonly sent: Message[] = [];

  /**
   * @param voters - every member's ID (all are voters).
   * @param setups - per-node starting state.
   * @param config - config shared by every node; the paper's base algorithm
   *   by default (`checkQuorum: false, preVote: false`).
   */
  constructor(
    readonly voters: readonly NodeId[],
    setups: Readonly<Record<NodeId, NodeSetup>> = {},
    private readonly config: Partial<Omit<RaftConfig, 'id' | 'storage'>> = {},
    private readonly seed = 1,
  ) {
    for (const id of voters) {
      const setup = setups[id] ?? {};
      const storage = new MemoryStorage({ voters: [...voters], learners: [] });
      if (setup.log && setup.log.length > 0) storage.append(entries(1, setup.log));
      const hs: HardState = { term: setup.term ?? 0, vote: setup.vote ?? '', commit: setup.commit ?? 0 };
      storage.setHardState(hs);
      setup.prepare?.(storage);
      const n: NetNode = { id, node: this.newNode(id, storage, setup), storage, setup, applied: [], readies: [], down: false };
      this.nodes.set(id, n);
    }
  }

  private newNode(id: NodeId, storage: MemoryStorage, setup: NodeSetup, applied = 0): RawNode {
    return new RawNode({
      applied,
      checkQuorum: false,
      preVote: false,
      electionTick: 10,
      heartbeatTick: 1,
      random: seededRandom(seedOf(id, this.seed)),
      ...this.config,
      ...setup.config,
      id,
      storage,
    });
  }

  get(id: NodeId): NetNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  status(id: NodeId): RaftStatus {
    return this.get(id).node.status();
  }

  /** The node's whole log as `index/term` strings (from its core's view). */
  log(id: NodeId): string[] {
    const n = this.get(id);
    const s = n.storage;
    const out: string[] = [];
    const last = n.node.status().lastIndex;
    // Stable storage plus anything the core holds unstable: after flush() they agree.
    for (const e of s.entries(s.firstIndex(), s.lastIndex() + 1)) if (e.index <= last) out.push(`${e.index}/${e.term}`);
    return out;
  }

  /** Indexes and terms of what the node applied, as `index/term`. */
  appliedIds(id: NodeId): string[] {
    return this.get(id).applied.map((e) => `${e.index}/${e.term}`);
  }

  /**
   * Handles every pending Ready of `ids` (default: all live nodes): persist,
   * queue the messages, apply, advance. Returns the messages sent.
   */
  flush(...ids: NodeId[]): Message[] {
    const out: Message[] = [];
    const which = ids.length > 0 ? ids : [...this.nodes.keys()];
    for (const id of which) {
      const n = this.get(id);
      if (n.down) continue;
      while (n.node.hasReady()) {
        const rd = n.node.ready();
        n.readies.push(rd);
        if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
        n.storage.append(rd.entries);
        if (rd.hardState) n.storage.setHardState(rd.hardState);
        for (const m of rd.messages) {
          out.push(m);
          this.queue.push(m);
          this.sent.push(m);
        }
        n.applied.push(...rd.committedEntries);
        n.node.advance();
      }
    }
    return out;
  }

  /**
   * Delivers, in order, the queued messages matching `pred` (default: all
   * currently queued), then flushes the recipients. Messages to a down node
   * are lost. Returns the messages delivered.
   */
  deliver(pred: MessagePredicate = () => true): Message[] {
    const now = this.queue;
    const go = now.filter(pred);
    this.queue = now.filter((m) => !pred(m));
    for (const m of go) {
      const to = this.nodes.get(m.to);
      if (!to || to.down) continue;
      // Driver-to-driver notices (a refused forwarded proposal, "you were
      // removed") are for a driver; raw nodes in this harness have none.
      if (isDriverMessage(m.type)) continue;
      to.node.step(m);
    }
    this.flush();
    return go;
  }

  /** Removes the queued messages matching `pred`; returns them. */
  drop(pred: MessagePredicate): Message[] {
    const gone = this.queue.filter(pred);
    this.queue = this.queue.filter((m) => !pred(m));
    return gone;
  }

  /**
   * Flushes and delivers until nothing is left to do. Messages matching
   * `drop` are lost instead of delivered.
   */
  stabilize(opts: { drop?: MessagePredicate; maxRounds?: number } = {}): void {
    const max = opts.maxRounds ?? 1000;
    this.flush();
    for (let round = 0; this.queue.length > 0; round++) {
      if (round >= max) throw new Error(`not stable after ${max} rounds`);
      if (opts.drop) this.drop(opts.drop);
      this.deliver();
    }
  }

  campaign(id: NodeId): void {
    this.get(id).node.campaign();
    this.flush(id);
  }

  propose(id: NodeId, data: string): void {
    this.get(id).node.propose(encode(data));
    this.flush(id);
  }

  /** Ticks one node `n` times, flushing after each tick. */
  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.get(id).node.tick();
      this.flush(id);
    }
  }

  /** The node loses everything not in its storage and stops receiving. */
  crash(id: NodeId): void {
    this.get(id).down = true;
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
  }

  /** The node comes back from what its storage holds, as a follower. */
  restart(id: NodeId): void {
    const n = this.get(id);
    const last = n.applied.length > 0 ? n.applied[n.applied.length - 1].index : 0;
    n.node = this.newNode(id, n.storage, n.setup, last);
    n.down = false;
    this.flush(id);
  }
}

/** Predicates for the usual message filters. */
export const to = (id: NodeId): MessagePredicate => (m) => m.to === id;
export const from = (id: NodeId): MessagePredicate => (m) => m.from === id;
export const ofType = (...types: MessageType[]): MessagePredicate => (m) => types.includes(m.type);
export const and = (...ps: MessagePredicate[]): MessagePredicate => (m) => ps.every((p) => p(m));
export const or = (...ps: MessagePredicate[]): MessagePredicate => (m) => ps.some((p) => p(m));
export const not = (p: MessagePredicate): MessagePredicate => (m) => !p(m);
export { MessageType };
