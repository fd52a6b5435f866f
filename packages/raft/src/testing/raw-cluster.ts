import type { RaftConfig } from '../config.js';
import { decodeConfChange, encodeConfChange } from '../confchange/codec.js';
import type { RaftLogger } from '../logger.js';
import { hashString, seededRandom } from '../random.js';
import { sendableBeforePersist } from '../persist-order.js';
import { RawNode } from '../raw-node.js';
import { MemoryStorage } from '../storage.js';
import {
  ConfChangeType,
  EntryType,
  NONE,
  StateType,
  type ConfChange,
  type ConfState,
  type Entry,
  type Index,
  type Message,
  type NodeId,
  type ReadState,
  type Ready,
  type Snapshot,
} from '../types.js';

/** Hooks a test can hang on a {@link RawCluster} to watch what nodes persist and apply. */
export interface ClusterObserver {
  /** After `id` durably wrote a Ready's entries (and hard state, and snapshot). */
  persisted?(id: NodeId, rd: Ready, node: ClusterNode): void;
  /**
   * After `id` applied one committed entry (the node's `appliedIndex`,
   * `digest` and, for a conf change, `confState` already reflect it).
   */
  applied?(id: NodeId, entry: Entry, node: ClusterNode): void;
  /** After `id` handed out a read state (its index is applied). */
  read?(id: NodeId, rs: ReadState, node: ClusterNode): void;
  /** After `id` reported a role or leader change. */
  softState?(id: NodeId, rd: Ready, node: ClusterNode): void;
  /** After `id` installed a snapshot from its leader; its state machine is restored from it. */
  restored?(id: NodeId, snap: Snapshot, node: ClusterNode): void;
  /** After `id` was recreated from its storage (crash-restart); its state machine is the stored snapshot's. */
  restarted?(id: NodeId, node: ClusterNode): void;
  /** After `id` applied a conf change entry, with the configuration now in force. */
  confChanged?(id: NodeId, cc: ConfChange, cs: ConfState, node: ClusterNode): void;
}

/** One member of a {@link RawCluster}: a RawNode over its own MemoryStorage. */
export interface ClusterNode {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  /** The current incarnation's core (replaced by {@link RawCluster.restart}). */
  node: RawNode;
  /** Index of the last applied entry. */
  appliedIndex: number;
  /** Number of application (non-empty normal) entries applied. */
  appliedCount: number;
  /**
   * The state machine: a hash chain over every entry applied, which is what
   * a snapshot carries (with `appliedIndex` and `appliedCount`), so two
   * nodes that applied the same entries have the same digest.
   */
  digest: number;
  /** The configuration in force at `appliedIndex`: what this node's next snapshot records. */
  confState: ConfState;
  /** How many times the node was restarted (0 for the first incarnation). */
  incarnation: number;
  /** Crashed and not restarted yet: nothing may be stepped, ticked or readied. */
  down: boolean;
  /** No longer driven (it left the cluster). */
  stopped: boolean;
  /** The node applied its own removal: it knows it left. */
  removed: boolean;
}

/** Where a crash hits a node in its Ready cycle (see {@link RawCluster.crash}). */
export type CrashPoint = 'idle' | 'before-persist' | 'sent-before-persist' | 'after-persist';

/** Options of {@link RawCluster}. */
export interface RawClusterOptions {
  /** Voter IDs. */
  readonly ids: readonly NodeId[];
  /** Seed for every node's election jitter (each node derives its own). */
  readonly seed: number;
  /** Core settings applied to every node (id and storage are set here). */
  readonly config?: Omit<Partial<RaftConfig>, 'id' | 'storage' | 'random' | 'logger' | 'applied'>;
  /** A logger per node (default: silent). */
  readonly logger?: (id: NodeId) => RaftLogger;
  readonly observer?: ClusterObserver;
  /**
   * How the initial membership is recorded. `storage` (the default) puts it
   * in each storage's initial ConfState; `log` writes it as committed
   * AddNode entries at term 1 (as the RaftNode driver does), so a node added
   * later learns the whole membership by replaying the log — required by
   * {@link RawCluster.addNode}.
   */
  readonly bootstrap?: 'storage' | 'log';
  /**
   * Snapshot and compact a node's log whenever it applied `every` entries
   * past its last snapshot, keeping `keep` entries before the applied index.
   * Off by default.
   */
  readonly compaction?: { readonly every: number; readonly keep: number };
}

/** What a snapshot of the cluster's state machine holds. */
export interface StateMachineImage {
  readonly index: Index;
  readonly count: number;
  readonly digest: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a node's state machine for a snapshot's data. */
export function encodeStateMachine(s: StateMachineImage): Uint8Array {
  return encoder.encode(`sm ${s.index} ${s.count} ${s.digest}`);
}

/** Decodes {@link encodeStateMachine}; the empty data of a bootstrap snapshot is the empty state. */
export function decodeStateMachine(data: Uint8Array): StateMachineImage {
  if (data.byteLength === 0) return { index: 0, count: 0, digest: 0 };
  const m = /^sm (\d+) (\d+) (\d+)$/.exec(decoder.decode(data));
  if (!m) throw new Error(`snapshot data is not a state machine image: ${JSON.stringify(decoder.decode(data))}`);
  return { index: Number(m[1]), count: Number(m[2]), digest: Number(m[3]) };
}

/** The state machine's transition: folds one applied entry into the digest. */
export function digestEntry(h: number, e: Entry): number {
  const mix = (x: number): void => {
    h ^= x;
    h = Math.imul(h, 0x01000193);
  };
  mix(e.index & 0xffff);
  mix(e.index >>> 16);
  mix(e.term & 0xffff);
  mix(e.term >>> 16);
  mix(e.type);
  mix(e.data.byteLength & 0xff);
  const n = Math.min(e.data.byteLength, 24);
  for (let i = 0; i < n; i++) mix(e.data[i]);
  return h >>> 0;
}

function isMember(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id);
}

/**
 * Several {@link RawNode}s in one process with memory storage: the
 * synchronous, deterministic harness behind the simulation, the benchmark
 * and the demo. It does persistence and applying (including conf changes,
 * snapshot installs and, optionally, compaction); moving messages between
 * nodes is the caller's job (so a test can drop, delay or reorder them).
 *
 * Membership can change: {@link RawCluster.addNode} creates a brand-new,
 * empty node (IDs are never reused), {@link RawCluster.stop} stops driving
 * one, {@link RawCluster.crash} / {@link RawCluster.restart} lose whatever a
 * node had not persisted and bring it back from its MemoryStorage.
 */
export class RawCluster {
  readonly nodes = new Map<NodeId, ClusterNode>();
  /**
   * Nodes whose removal some node has applied (so it is committed), with the
   * index of the removing entry.
   */
  readonly removals = new Map<NodeId, Index>();
  /** Snapshots taken by {@link RawCluster.compact} (automatic ones included). */
  snapshotsTaken = 0;
  private readonly options: RawClusterOptions;
  private readonly everUsed = new Set<NodeId>();

  constructor(options: RawClusterOptions) {
    this.options = options;
    const bootstrap = options.bootstrap ?? 'storage';
    if (bootstrap === 'storage') {
      for (const id of options.ids) {
        const storage = new MemoryStorage({ voters: [...options.ids], learners: [] });
        this.nodes.set(id, this.createNode(id, storage, { voters: [...options.ids], learners: [] }));
      }
      return;
    }
    const entries: Entry[] = options.ids.map((id, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({ type: ConfChangeType.AddNode, nodeId: id }),
    }));
    for (const id of options.ids) {
      const storage = new MemoryStorage();
      storage.append(entries);
      storage.setHardState({ term: 1, vote: NONE, commit: entries.length });
      this.nodes.set(id, this.createNode(id, storage, { voters: [], learners: [] }));
    }
    // Apply the bootstrap entries, so every node knows the membership
    // before its first tick. A follower sends nothing here.
    for (const id of options.ids) this.processReady(id);
  }

  private newRawNode(id: NodeId, storage: MemoryStorage, applied: Index, incarnation: number): RawNode {
    return new RawNode({
      ...this.options.config,
      id,
      storage,
      applied,
      random: seededRandom((this.options.seed * 0x9e3779b1) ^ hashString(id) ^ Math.imul(incarnation, 0x85ebca6b)),
      ...(this.options.logger ? { logger: this.options.logger(id) } : {}),
    });
  }

  private createNode(id: NodeId, storage: MemoryStorage, confState: ConfState): ClusterNode {
    if (this.everUsed.has(id)) throw new Error(`node ID ${id} was used before; IDs are never reused`);
    this.everUsed.add(id);
    const node = this.newRawNode(id, storage, 0, 0);
    return {
      id,
      storage,
      node,
      appliedIndex: 0,
      appliedCount: 0,
      digest: 0,
      confState,
      incarnation: 0,
      down: false,
      stopped: false,
      removed: false,
    };
  }

  /**
   * Creates a brand-new node with an empty log and no membership: it
   * learns the configuration from the leader's log or snapshot once a
   * change adding it commits. Needs `bootstrap: 'log'` (with the initial
   * membership only in the storages, a new node could not learn it).
   *
   * @throws Error when `id` was ever used in this cluster.
   */
  addNode(id: NodeId): ClusterNode {
    if ((this.options.bootstrap ?? 'storage') !== 'log') {
      throw new Error(`addNode needs bootstrap: 'log' (the initial membership must be in the log for ${id} to learn it)`);
    }
    const n = this.createNode(id, new MemoryStorage(), { voters: [], learners: [] });
    this.nodes.set(id, n);
    return n;
  }

  /** Stops driving `id` (it stays in `nodes`, marked stopped). */
  stop(id: NodeId): void {
    this.get(id).stopped = true;
  }

  /**
   * Crashes `id`: its RawNode is gone, with everything it had not
   * persisted (unstable entries, unsent messages, state not yet in a
   * Ready). At `before-persist`, a Ready is taken and lost before its write;
   * at `sent-before-persist`, a leader's appends and heartbeats of that
   * Ready went out (returned, for the caller to deliver) before the write
   * was lost; at `after-persist`, it is written but its messages are never
   * sent and its committed entries never applied; `idle` crashes between
   * Readies. The node stays down until {@link RawCluster.restart}.
   */
  crash(id: NodeId, point: CrashPoint = 'idle'): readonly Message[] {
    const n = this.get(id);
    if (n.down || n.stopped) return [];
    let sent: readonly Message[] = [];
    if (point !== 'idle' && n.node.hasReady()) {
      const leading = n.node.raft.state === StateType.Leader;
      const rd = n.node.ready();
      if (point === 'after-persist') {
        this.persist(n, rd);
        this.options.observer?.persisted?.(id, rd, n);
      }
      if (point === 'sent-before-persist' && leading) sent = rd.messages.filter(sendableBeforePersist);
    }
    n.down = true;
    return sent;
  }

  /**
   * Recreates a crashed (or running) node's RawNode from its MemoryStorage,
   * with `applied` = its snapshot's index and its state machine restored
   * from that snapshot: it re-applies the committed entries after it.
   */
  restart(id: NodeId): ClusterNode {
    const n = this.get(id);
    const snap = n.storage.snapshot();
    const image = decodeStateMachine(snap.data);
    if (image.index !== snap.metadata.index) {
      throw new Error(`${id}: stored snapshot at ${snap.metadata.index} holds a state machine at ${image.index}`);
    }
    n.incarnation++;
    n.node = this.newRawNode(id, n.storage, snap.metadata.index, n.incarnation);
    n.appliedIndex = image.index;
    n.appliedCount = image.count;
    n.digest = image.digest;
    n.confState = snap.metadata.confState;
    n.down = false;
    this.options.observer?.restarted?.(id, n);
    return n;
  }

  /**
   * Snapshots `id`'s state machine at its applied index (with the
   * configuration in force there) and compacts its log, keeping `keep`
   * entries before that index. Returns the snapshot, or undefined when
   * nothing was applied since the last one.
   */
  compact(id: NodeId, keep = 0): Snapshot | undefined {
    const n = this.get(id);
    if (n.down) return undefined;
    const snapIndex = n.storage.snapshot().metadata.index;
    if (n.appliedIndex <= snapIndex) return undefined;
    const snap = n.storage.createSnapshot(
      n.appliedIndex,
      n.confState,
      encodeStateMachine({ index: n.appliedIndex, count: n.appliedCount, digest: n.digest }),
    );
    this.snapshotsTaken++;
    const to = n.appliedIndex - Math.max(0, keep);
    if (to >= n.storage.firstIndex()) n.storage.compact(to);
    return snap;
  }

  get(id: NodeId): ClusterNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Whether `id` exists, is not stopped and is not down. */
  isRunning(id: NodeId): boolean {
    const n = this.nodes.get(id);
    return n !== undefined && !n.down && !n.stopped;
  }

  /** The nodes being driven: neither stopped nor down. */
  running(): ClusterNode[] {
    const out: ClusterNode[] = [];
    for (const n of this.nodes.values()) if (!n.down && !n.stopped) out.push(n);
    return out;
  }

  /** The running node that believes it leads at the highest term, if any. */
  leader(): ClusterNode | undefined {
    let best: ClusterNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.down || n.stopped || n.node.raft.state !== StateType.Leader) continue;
      if (!best || n.node.raft.term > best.node.raft.term) best = n;
    }
    return best;
  }

  private persist(n: ClusterNode, rd: Ready): void {
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) n.storage.append(rd.entries);
  }

  private apply(n: ClusterNode, e: Entry): void {
    const obs = this.options.observer;
    n.appliedIndex = e.index;
    n.digest = digestEntry(n.digest, e);
    if (e.type !== EntryType.ConfChange) {
      if (e.data.byteLength > 0) n.appliedCount++;
      obs?.applied?.(n.id, e, n);
      return;
    }
    const cc = decodeConfChange(e.data);
    n.confState = n.node.applyConfChange(cc);
    obs?.applied?.(n.id, e, n);
    obs?.confChanged?.(n.id, cc, n.confState, n);
    if (cc.type === ConfChangeType.RemoveNode && !isMember(n.confState, cc.nodeId)) {
      if (!this.removals.has(cc.nodeId)) this.removals.set(cc.nodeId, e.index);
      if (cc.nodeId === n.id) n.removed = true;
    }
  }

  /**
   * Handles one Ready of `id` in the documented order (persist, then hand
   * back the messages to send, apply, advance), then compacts if due.
   * Returns the messages, or an empty array when the node had nothing ready
   * (or is down or stopped).
   */
  processReady(id: NodeId): readonly Message[] {
    const n = this.get(id);
    if (n.down || n.stopped || !n.node.hasReady()) return [];
    const rd = n.node.ready();
    const obs = this.options.observer;
    this.persist(n, rd);
    obs?.persisted?.(id, rd, n);
    if (rd.softState) obs?.softState?.(id, rd, n);
    if (rd.snapshot) {
      const image = decodeStateMachine(rd.snapshot.data);
      if (image.index !== rd.snapshot.metadata.index) {
        throw new Error(`${id}: snapshot at ${rd.snapshot.metadata.index} holds a state machine at ${image.index}`);
      }
      n.appliedIndex = image.index;
      n.appliedCount = image.count;
      n.digest = image.digest;
      n.confState = rd.snapshot.metadata.confState;
      if (!isMember(n.confState, id) && this.removals.has(id)) n.removed = true;
      obs?.restored?.(id, rd.snapshot, n);
    }
    for (const e of rd.committedEntries) this.apply(n, e);
    for (const rs of rd.readStates) obs?.read?.(id, rs, n);
    n.node.advance();
    const c = this.options.compaction;
    if (c && n.appliedIndex - n.storage.snapshot().metadata.index >= c.every) this.compact(id, c.keep);
    return rd.messages;
  }

  /**
   * Delivers messages with no faults until no running node has anything
   * ready. Messages to stopped or down nodes are dropped. Returns the number
   * of messages delivered.
   */
  stabilize(maxRounds = 10_000): number {
    let delivered = 0;
    for (let round = 0; round < maxRounds; round++) {
      let progressed = false;
      for (const id of [...this.nodes.keys()]) {
        const msgs = this.processReady(id);
        for (const m of msgs) {
          const to = this.nodes.get(m.to);
          if (!to || to.down || to.stopped) continue;
          to.node.step(m);
          delivered++;
          progressed = true;
        }
      }
      if (!progressed) {
        let any = false;
        for (const n of this.nodes.values()) any ||= !n.down && !n.stopped && n.node.hasReady();
        if (!any) return delivered;
      }
    }
    throw new Error(`cluster did not stabilize within ${maxRounds} rounds`);
  }

  /** Ticks every running node once. */
  tickAll(): void {
    for (const n of this.nodes.values()) if (!n.down && !n.stopped) n.node.tick();
  }
}
