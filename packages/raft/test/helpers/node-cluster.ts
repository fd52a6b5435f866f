// A cluster of RaftNodes on the memory network with the manual clock, for the
// driver tests (raft-node-*.test.ts). Every node gets its own MemoryLogStore
// and a state machine that records what it applied, so tests can compare
// members entry by entry. Nothing here sleeps: time moves only through
// `net.clock` (waitFor / advance / runFor).
import assert from 'node:assert/strict';

import { RaftError } from '../../src/errors.ts';
import type { RaftLogger } from '../../src/logger.ts';
import type { LogBatch, LogStore, PersistedState } from '../../src/node/log-store.ts';
import { MemoryLogStore, type MemoryLogStoreOptions } from '../../src/node/memory-log-store.ts';
import { RaftNode, type RaftNodeOptions } from '../../src/node/raft-node.ts';
import type { AppliedEntry, StateMachine } from '../../src/node/state-machine.ts';
import type { Transport, TransportHandler } from '../../src/node/transport.ts';
import { seededRandom } from '../../src/random.ts';
import { createMemoryNetwork, type MemoryNetwork } from '../../src/testing/memory-network.ts';
import type { ManualClock } from '../../src/testing/manual-clock.ts';
import { settle, track, type Outcome } from '../../src/testing/settle.ts';

export { settle, track, type Outcome };
import type { Index, Message, NodeId, Snapshot } from '../../src/types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a test payload. */
export function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

/**
 * A replicated list of strings: `apply` appends the entry's text and
 * returns the list's new length (so a proposer can check it got its own
 * entry's result). Snapshots are the list as JSON.
 */
export class RecordingMachine implements StateMachine<number> {
  values: string[] = [];
  /** Indexes of the entries applied since the last restore. */
  indexes: Index[] = [];
  /** How many times `restore` ran, and the sizes of the snapshots it got. */
  restores: number[] = [];
  snapshots = 0;

  apply(entry: AppliedEntry): number {
    this.values.push(decoder.decode(entry.data));
    this.indexes.push(entry.index);
    return this.values.length;
  }

  snapshot(): Uint8Array {
    this.snapshots++;
    return encoder.encode(JSON.stringify(this.values));
  }

  restore(data: Uint8Array): void {
    this.restores.push(data.byteLength);
    this.values = JSON.parse(decoder.decode(data)) as string[];
    this.indexes = [];
  }
}

/** A logger that keeps every line, prefixed by its level. */
export function captureLogger(lines: string[]): RaftLogger {
  return {
    debug: (m: string) => void lines.push(`debug ${m}`),
    info: (m: string) => void lines.push(`info ${m}`),
    warn: (m: string) => void lines.push(`warn ${m}`),
    error: (m: string) => void lines.push(`error ${m}`),
  };
}

/** Awaits `p` under the manual clock and returns its value; fails the test if it rejects or hangs. */
export async function resolved<T>(clock: ManualClock, p: Promise<T>, timeoutMs = 20_000): Promise<T> {
  const o = await settle(clock, p, timeoutMs);
  if (o.status === 'rejected') throw o.error;
  if (o.status === 'pending') assert.fail(`promise still pending after ${timeoutMs} ms of virtual time`);
  return o.value;
}

/** Awaits a rejection under the manual clock and returns the error; fails if it resolves or hangs. */
export async function rejected(clock: ManualClock, p: Promise<unknown>, timeoutMs = 20_000): Promise<Error & { code?: string; at: number }> {
  const o = await settle(clock, p, timeoutMs);
  if (o.status === 'fulfilled') assert.fail(`expected a rejection, got ${JSON.stringify(o.value)}`);
  if (o.status === 'pending') assert.fail(`promise still pending after ${timeoutMs} ms of virtual time`);
  return Object.assign(o.error as Error & { code?: string }, { at: o.at });
}

/**
 * A transport that delegates to a real memory transport and records every
 * message sent (and can be cut off, for a crashed process).
 */
export class RecordingTransport implements Transport {
  dead = false;
  constructor(
    readonly inner: Transport,
    private readonly onSend: (m: Message) => void = () => {},
  ) {}
  get clock() {
    return this.inner.clock;
  }
  start(handler: TransportHandler): Promise<void> {
    return this.inner.start(handler);
  }
  send(messages: readonly Message[]): void {
    if (this.dead) return;
    for (const m of messages) this.onSend(m);
    this.inner.send(messages);
  }
  addPeer(id: NodeId, url: string): void {
    if (!this.dead) this.inner.addPeer(id, url);
  }
  removePeer(id: NodeId): void {
    if (!this.dead) this.inner.removePeer(id);
  }
  stop(): Promise<void> {
    return this.dead ? Promise.resolve() : this.inner.stop();
  }
}

/**
 * A log store that delegates to a MemoryLogStore until `crash()`: from then
 * on every call hangs forever, as in a process that died (writes already
 * handed to the inner store still land, as the real-crash contract allows).
 */
export class CrashableLogStore implements LogStore {
  private crashed = false;
  constructor(readonly inner: MemoryLogStore) {}
  crash(): void {
    this.crashed = true;
  }
  get isCrashed(): boolean {
    return this.crashed;
  }
  private gate<T>(f: () => Promise<T>): Promise<T> {
    return this.crashed ? new Promise<T>(() => {}) : f();
  }
  load(): Promise<PersistedState> {
    return this.gate(() => this.inner.load());
  }
  save(batch: LogBatch, opts: { sync: boolean }): Promise<void> {
    return this.gate(() => this.inner.save(batch, opts));
  }
  saveSnapshot(snapshot: Snapshot): Promise<void> {
    return this.gate(() => this.inner.saveSnapshot(snapshot));
  }
  compact(index: Index): Promise<void> {
    return this.gate(() => this.inner.compact(index));
  }
  close(): Promise<void> {
    return this.gate(() => this.inner.close());
  }
}

/** Extra node options a test may set (everything but what the cluster wires). */
export type NodeOverrides = Partial<Omit<RaftNodeOptions<number>, 'id' | 'logStore' | 'transport' | 'stateMachine'>>;

export interface ClusterOptions {
  /** Node IDs of the initial members. @defaultValue ['1', '2', '3'] */
  readonly ids?: readonly NodeId[];
  readonly seed?: number;
  /** Delay of every message on the network. @defaultValue 0 */
  readonly latencyMs?: number;
  /** Options for every node. */
  readonly node?: NodeOverrides;
  /** Options for the stores. */
  readonly store?: (id: NodeId) => MemoryLogStoreOptions;
  /** Sees every message a node hands its transport, before the transport does. */
  readonly onSend?: (id: NodeId, m: Message) => void;
}

/** One member of a {@link NodeCluster}: the node and what it is built on. */
export interface Member {
  readonly id: NodeId;
  node: RaftNode<number>;
  sm: RecordingMachine;
  store: MemoryLogStore;
  /** The store the node was given (a CrashableLogStore over `store`, for crash tests). */
  logStore: CrashableLogStore;
  transport: RecordingTransport;
  logs: string[];
  /** Closed, crashed, removed or failed: no longer part of the running cluster. */
  down: boolean;
}

/** The transport name of node `id` on the network. */
export function nameOf(id: NodeId): string {
  return `n${id}`;
}

/** The peer URL of node `id`. */
export function urlOf(id: NodeId): string {
  return `mem://${nameOf(id)}`;
}

/**
 * RaftNodes on one memory network with a manual clock: `start()` the initial
 * members, then drive time with `net.clock`.
 */
export class NodeCluster {
  readonly net: MemoryNetwork<ManualClock>;
  readonly members = new Map<NodeId, Member>();
  readonly initialMembers: Record<NodeId, string>;
  private nextSeed: number;

  constructor(readonly options: ClusterOptions = {}) {
    const seed = options.seed ?? 1;
    this.nextSeed = seed * 1000;
    this.net = createMemoryNetwork({ seed, clock: 'manual', latencyMs: options.latencyMs ?? 0 });
    const ids = options.ids ?? ['1', '2', '3'];
    this.initialMembers = Object.fromEntries(ids.map((id) => [id, urlOf(id)]));
  }

  get clock(): ManualClock {
    return this.net.clock;
  }

  /** Builds (does not start) node `id`, on a new store unless one is given. */
  create(
    id: NodeId,
    opts: NodeOverrides & { store?: MemoryLogStore; sm?: RecordingMachine; transportName?: string } = {},
  ): Member {
    const { store: givenStore, sm: givenSm, transportName, ...nodeOpts } = opts;
    const store = givenStore ?? new MemoryLogStore(this.options.store?.(id) ?? {});
    const logStore = new CrashableLogStore(store);
    const sm = givenSm ?? new RecordingMachine();
    const real = this.net.transport(transportName ?? nameOf(id));
    const transport = new RecordingTransport(real, (msg) => this.options.onSend?.(id, msg));
    const logs: string[] = [];
    const node = new RaftNode<number>({
      logger: captureLogger(logs),
      random: seededRandom(this.nextSeed++),
      ...this.options.node,
      ...nodeOpts,
      id,
      logStore,
      transport,
      stateMachine: sm,
    });
    const m: Member = { id, node, sm, store, logStore, transport, logs, down: false };
    node.on('removed', () => void (m.down = true));
    node.on('error', () => void (m.down = true));
    this.members.set(id, m);
    return m;
  }

  /** Creates and starts every initial member (or only `only`). */
  async start(only?: readonly NodeId[]): Promise<void> {
    const ids = only ?? Object.keys(this.initialMembers);
    for (const id of ids) this.create(id, { initialMembers: this.initialMembers });
    await Promise.all(ids.map((id) => this.get(id).node.start()));
  }

  get(id: NodeId): Member {
    const m = this.members.get(id);
    assert.ok(m, `no member ${id}`);
    return m;
  }

  node(id: NodeId): RaftNode<number> {
    return this.get(id).node;
  }

  /** Nodes still running (not closed, crashed or removed). */
  live(): Member[] {
    return [...this.members.values()].filter((m) => !m.down);
  }

  /** The running node that is leader, if exactly one is. */
  leader(): Member | undefined {
    const leaders = this.live().filter((m) => m.node.status().isLeader);
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  /** Waits until one running node leads (and, with `among`, it is one of those). */
  async waitForLeader(among?: readonly NodeId[], timeoutMs = 10_000): Promise<Member> {
    await this.clock.waitFor(
      () => {
        const l = this.leader();
        return l !== undefined && (among === undefined || among.includes(l.id));
      },
      { timeoutMs, description: 'a leader is elected' },
    );
    return this.leader()!;
  }

  /** A running follower (not `except`). */
  follower(except?: NodeId): Member {
    const f = this.live().find((m) => !m.node.status().isLeader && m.id !== except);
    assert.ok(f, 'no follower');
    return f;
  }

  /** Waits until every given member (default: every live one) applied the same entries as `ref`. */
  async waitForConvergence(ids?: readonly NodeId[], timeoutMs = 10_000): Promise<void> {
    const ms = ids ? ids.map((id) => this.get(id)) : this.live();
    await this.clock.waitFor(
      () => {
        const top = Math.max(...ms.map((m) => m.node.status().commitIndex));
        return ms.every((m) => m.node.status().appliedIndex >= top && m.node.status().appliedIndex === ms[0].node.status().appliedIndex);
      },
      { timeoutMs, description: `members ${ms.map((m) => m.id).join(',')} applied the same entries` },
    );
  }

  /** Proposes `text` on node `id` and waits for its result. */
  async propose(id: NodeId, text: string): Promise<number> {
    return resolved(this.clock, this.node(id).propose(bytes(text)));
  }

  /** Proposes `n` entries named `${prefix}${i}` concurrently on node `id`, and waits for all. */
  async proposeMany(id: NodeId, prefix: string, n: number): Promise<number[]> {
    const ps = Array.from({ length: n }, (_, i) => this.node(id).propose(bytes(`${prefix}${i}`)));
    return resolved(this.clock, Promise.all(ps));
  }

  /** Closes node `id` and waits for the close to settle. */
  async stop(id: NodeId): Promise<void> {
    const m = this.get(id);
    m.down = true;
    await resolved(this.clock, m.node.close(), 5_000);
  }

  /**
   * Kills node `id` the way a crashed process dies: from now on its store
   * calls hang (nothing more becomes durable) and it sends nothing; its
   * transport is stopped so a new incarnation can listen at its address.
   */
  async crash(id: NodeId): Promise<void> {
    const m = this.get(id);
    m.down = true;
    m.logStore.crash();
    m.transport.dead = true;
    await m.transport.inner.stop();
  }

  /**
   * Starts a new incarnation of `id` on the same store (no initial members:
   * it restarts from what it persisted), with a fresh state machine.
   */
  async restart(id: NodeId, opts: NodeOverrides & { transportName?: string } = {}): Promise<Member> {
    const old = this.get(id);
    assert.ok(old.down, `restart(${id}) needs the node stopped or crashed first`);
    const m = this.create(id, { ...opts, store: old.store });
    await resolved(this.clock, m.node.start(), 5_000);
    return m;
  }

  /** Creates and starts a node that joins the running cluster (after a member adds it). */
  async join(id: NodeId, opts: NodeOverrides = {}): Promise<Member> {
    const peers = Object.fromEntries([...this.members.values()].map((m) => [m.id, urlOf(m.id)]));
    const m = this.create(id, { peers, ...opts });
    await resolved(this.clock, m.node.start(), 5_000);
    return m;
  }

  /** Closes every running node, checking that each close settles. */
  async close(): Promise<void> {
    const closes = [...this.members.values()].filter((m) => !m.logStore.isCrashed).map((m) => m.node.close());
    for (const m of this.members.values()) m.down = true;
    await resolved(this.clock, Promise.all(closes), 5_000);
  }
}

/** Asserts that `err` is a RaftError with `code`. */
export function assertCode(err: unknown, code: string): void {
  assert.ok(err instanceof RaftError, `expected a RaftError ${code}, got ${String(err)}`);
  assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
}
