import type { RaftConfig } from '../config.js';
import type { RaftLogger } from '../logger.js';
import { hashString, seededRandom } from '../random.js';
import { RawNode } from '../raw-node.js';
import { MemoryStorage } from '../storage.js';
import type { Entry, Message, NodeId, ReadState, Ready } from '../types.js';

/** Hooks a test can hang on a {@link RawCluster} to watch what nodes persist and apply. */
export interface ClusterObserver {
  /** After `id` durably wrote a Ready's entries (and hard state). */
  persisted?(id: NodeId, rd: Ready, node: ClusterNode): void;
  /** After `id` applied one committed entry. */
  applied?(id: NodeId, entry: Entry, node: ClusterNode): void;
  /** After `id` handed out a read state (its index is applied). */
  read?(id: NodeId, rs: ReadState, node: ClusterNode): void;
  /** After `id` reported a role or leader change. */
  softState?(id: NodeId, rd: Ready, node: ClusterNode): void;
}

/** One member of a {@link RawCluster}: a RawNode over its own MemoryStorage. */
export interface ClusterNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  readonly node: RawNode;
  /** Index of the last applied entry. */
  appliedIndex: number;
  /** Number of application (non-empty normal) entries applied. */
  appliedCount: number;
}

/** Options of {@link RawCluster}. */
export interface RawClusterOptions {
  /** Voter IDs. */
  readonly ids: readonly NodeId[];
  /** Seed for every node's election jitter (each node derives its own). */
  readonly seed: number;
  /** Core settings applied to every node (id and storage are set here). */
  readonly config?: Omit<Partial<RaftConfig>, 'id' | 'storage' | 'random' | 'logger'>;
  /** A logger per node (default: silent). */
  readonly logger?: (id: NodeId) => RaftLogger;
  readonly observer?: ClusterObserver;
}

/**
 * Several {@link RawNode}s in one process with memory storage: the
 * synchronous, deterministic harness behind the simulation, the benchmark
 * and the demo. It does persistence and applying; moving messages between
 * nodes is the caller's job (so a test can drop, delay or reorder them).
 */
export class RawCluster {
  readonly nodes = new Map<NodeId, ClusterNode>();
  private readonly options: RawClusterOptions;

  constructor(options: RawClusterOptions) {
    this.options = options;
    for (const id of options.ids) this.nodes.set(id, this.createNode(id));
  }

  private createNode(id: NodeId): ClusterNode {
    const storage = new MemoryStorage({ voters: [...this.options.ids], learners: [] });
    const node = new RawNode({
      ...this.options.config,
      id,
      storage,
      random: seededRandom((this.options.seed * 0x9e3779b1) ^ hashString(id)),
      ...(this.options.logger ? { logger: this.options.logger(id) } : {}),
    });
    return { id, storage, node, appliedIndex: 0, appliedCount: 0 };
  }

  get(id: NodeId): ClusterNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** The current leader if exactly one node believes it leads at the highest term. */
  leader(): ClusterNode | undefined {
    let best: ClusterNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.node.raft.state !== 2) continue;
      if (!best || n.node.raft.term > best.node.raft.term) best = n;
    }
    return best;
  }

  /**
   * Handles one Ready of `id` in the documented order (persist, then hand
   * back the messages to send, apply, advance). Returns the messages, or an
   * empty array when the node had nothing ready.
   */
  processReady(id: NodeId): readonly Message[] {
    const n = this.get(id);
    if (!n.node.hasReady()) return [];
    const rd = n.node.ready();
    const obs = this.options.observer;
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) n.storage.append(rd.entries);
    obs?.persisted?.(id, rd, n);
    if (rd.softState) obs?.softState?.(id, rd, n);
    if (rd.snapshot) n.appliedIndex = rd.snapshot.metadata.index;
    for (const e of rd.committedEntries) {
      n.appliedIndex = e.index;
      if (e.data.byteLength > 0) n.appliedCount++;
      obs?.applied?.(id, e, n);
    }
    for (const rs of rd.readStates) obs?.read?.(id, rs, n);
    n.node.advance();
    return rd.messages;
  }

  /**
   * Delivers messages with no faults until no node has anything ready.
   * Returns the number of messages delivered.
   */
  stabilize(maxRounds = 10_000): number {
    let delivered = 0;
    for (let round = 0; round < maxRounds; round++) {
      let progressed = false;
      for (const id of this.nodes.keys()) {
        const msgs = this.processReady(id);
        for (const m of msgs) {
          const to = this.nodes.get(m.to);
          if (!to) continue;
          to.node.step(m);
          delivered++;
          progressed = true;
        }
      }
      if (!progressed) {
        let any = false;
        for (const n of this.nodes.values()) any ||= n.node.hasReady();
        if (!any) return delivered;
      }
    }
    throw new Error(`cluster did not stabilize within ${maxRounds} rounds`);
  }

  /** Ticks every node once. */
  tickAll(): void {
    for (const n of this.nodes.values()) n.node.tick();
  }
}
