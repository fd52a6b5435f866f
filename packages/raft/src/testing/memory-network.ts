import { realClock, type Clock, type Transport, type TransportHandler } from '../node/transport.js';
import { seededRandom } from '../random.js';
import type { Message, NodeId } from '../types.js';
import { ManualClock } from './manual-clock.js';

/** Options of {@link createMemoryNetwork}. */
export interface MemoryNetworkOptions {
  /**
   * Seed of the one random source behind every fault decision (drops,
   * duplicates, delays). The same seed and the same sequence of sends give
   * the same outcome.
   * @defaultValue 0
   */
  readonly seed?: number;
  /**
   * The clock deliveries are scheduled on. `'real'` uses the process's timers;
   * `'manual'` creates a {@link ManualClock} (time moves only in
   * `net.clock.advance(ms)`); a {@link Clock} object is used as given.
   * @defaultValue 'real'
   */
  readonly clock?: 'real' | 'manual' | Clock;
  /**
   * Delay of every message, in milliseconds, before any fault delay is added.
   * @defaultValue 0
   */
  readonly latencyMs?: number;
  /**
   * A sender's handler hears `onUnreachable(id)` for a peer at most once per
   * this many milliseconds of the network's clock.
   * @defaultValue 100
   */
  readonly unreachableIntervalMs?: number;
}

/**
 * Probabilistic faults applied to every message sent while they are set.
 *
 * @remarks
 * Per message, in this order: it is dropped with probability `dropRate`;
 * otherwise it is sent twice with probability `duplicateRate`; each copy is
 * then delayed by `latencyMs` plus a whole number of milliseconds drawn
 * uniformly from `[minDelayMs, maxDelayMs]`. Different delays reorder
 * messages, also between one pair of members.
 */
export interface NetworkFaults {
  /** Probability in [0, 1] that a message is lost. @defaultValue 0 */
  readonly dropRate?: number;
  /** Probability in [0, 1] that a message that was not lost arrives twice. @defaultValue 0 */
  readonly duplicateRate?: number;
  /** Least extra delay in milliseconds. @defaultValue 0 */
  readonly minDelayMs?: number;
  /** Most extra delay in milliseconds; at least `minDelayMs`. @defaultValue `minDelayMs` */
  readonly maxDelayMs?: number;
}

/**
 * Decides the fate of one message from member `fromName` to member `toName`
 * (names as given to `net.transport(name)`). Called once per message at send
 * time, after routing and partitions and before the random faults.
 */
export type LinkFilter = (m: Readonly<Message>, fromName: string, toName: string) => 'deliver' | 'drop';

/**
 * What the network did, counted per message copy.
 *
 * @remarks
 * Invariant: `sent + duplicated === delivered + dropped + inFlight`.
 */
export interface NetworkStats {
  /** Messages handed to `send()`, on any transport. */
  readonly sent: number;
  /** Copies handed to a receiver's `onMessage`. */
  readonly delivered: number;
  /**
   * Copies lost: unknown or stopped peer, stopped sender, partition, filter,
   * `dropRate`, or a receiver that stopped or removed the sender while the
   * copy was on its way.
   */
  readonly dropped: number;
  /** Extra copies created by `duplicateRate`. */
  readonly duplicated: number;
  /** Copies scheduled and not yet delivered or dropped. */
  readonly inFlight: number;
}

/**
 * The {@link Transport} of one member of a {@link MemoryNetwork}, listening
 * at `mem://<name>`.
 *
 * @remarks
 * Implements {@link Transport}:
 * - `start(handler)` resolves at once; it rejects when the transport is
 *   already started. A stopped transport may be started again (a member
 *   restarting): messages sent to it before the restart are dropped.
 * - `send()` never throws and never delivers synchronously. Before `start`
 *   and after `stop` it drops everything.
 * - `addPeer(id, url)` routes messages whose `to` is `id` to the member
 *   listening at `url`; a URL that is not `mem://<name>` of a member of this
 *   network makes the peer unreachable (messages are dropped, not thrown).
 * - `removePeer(id)` drops later messages to `id`, and messages from `id`
 *   that arrive afterwards, until `addPeer(id, ...)` again.
 * - `stop()` is idempotent, and forgets the peers (a restarted member adds
 *   them again).
 * - A message from a peer the receiver does not know teaches the receiver
 *   the sender's URL (as a connection would), unless that peer was removed.
 * - Every delivered message is a copy, as if it had crossed a wire: neither
 *   side can change the other's message objects, entry lists or membership
 *   lists. Byte arrays (entry data, contexts, snapshot data) are shared, not
 *   copied: they are immutable by the Raft contract, and copying every
 *   payload would make the network, not Raft, the bottleneck of a benchmark.
 * - A handler that throws from `onMessage` is a bug in the handler: the error
 *   surfaces from the clock (an uncaught exception on the real clock, a
 *   rejected `advance` on the manual one).
 */
export interface MemoryTransport extends Transport {
  /** The member's name, as given to `net.transport(name)`. */
  readonly name: string;
  /** Where the member listens: `mem://<name>`. */
  readonly url: string;
}

/**
 * An in-process network of {@link MemoryTransport}s with fault injection.
 * Created by {@link createMemoryNetwork}.
 *
 * @remarks
 * Connectivity is decided by member names: two members can talk unless a
 * partition or isolation separates them. Faults, partitions and the filter
 * apply to messages sent after they are set; partitions (and a receiver
 * stopping) also cut messages already on their way.
 */
export interface MemoryNetwork<C extends Clock = Clock> {
  /**
   * The transport of member `name`, listening at `mem://<name>`. Calling it
   * again with the same name returns the same transport, so a test can stop
   * and restart a member.
   *
   * @throws Error when `name` is empty or contains `/`.
   */
  transport(name: string): MemoryTransport;
  /**
   * Splits the members into groups that cannot talk to each other. Names not
   * listed in any group form one more group together. Replaces any earlier
   * partition or isolation; `partition()` with no groups heals.
   *
   * @throws Error when a name is listed twice.
   */
  partition(...groups: string[][]): void;
  /** Cuts `name` off from every other member, on top of the current partition. */
  isolate(name: string): void;
  /** Removes every partition and isolation. Faults and the filter stay. */
  heal(): void;
  /**
   * Sets the random faults for messages sent from now on, replacing the
   * previous ones (fields left out are 0).
   *
   * @throws RangeError when a rate is outside [0, 1], a delay is negative or
   *   not finite, or `maxDelayMs < minDelayMs`.
   */
  setFaults(faults: NetworkFaults): void;
  /** Turns every random fault off: the same as `setFaults({})`. */
  clearFaults(): void;
  /** Installs a per-message filter (see {@link LinkFilter}); `undefined` removes it. */
  setFilter(filter: LinkFilter | undefined): void;
  /** The clock deliveries run on: a {@link ManualClock} for `clock: 'manual'`. */
  readonly clock: C;
  /** A snapshot of the counters, taken when read. */
  readonly stats: NetworkStats;
  /** Names of the members created so far, in creation order. */
  names(): string[];
}

/**
 * Creates an in-process network whose transports connect Raft members in one
 * process, with partitions, isolation and seeded random faults (drop,
 * duplicate, delay and so reorder), on the real clock or a manual one.
 *
 * @remarks
 * Contract:
 * - Delivery is never synchronous. On the real clock with no delay a message
 *   arrives on a later `setImmediate`; otherwise it is a timer on the
 *   network's clock, due at `now + latencyMs + fault delay` (on a manual
 *   clock it arrives during `clock.advance`, even `advance(0)` when its
 *   delay is 0).
 * - With no random delay set, the messages from one member to another arrive
 *   in the order they were sent.
 * - A message to an unknown peer, a peer that is not started, or a peer on
 *   the other side of a partition is dropped and counted; the sender's
 *   handler hears `onUnreachable(peerId)` (if it has one) on a later turn,
 *   at most once per peer per `unreachableIntervalMs`. Messages lost to
 *   `dropRate` or the filter are not reported: they model loss, not an
 *   unreachable peer.
 * - Every random decision comes from one `seededRandom(seed)`, drawn in send
 *   order, so a run with the same seed, clock and inputs repeats exactly.
 *   (On the real clock, the order of sends itself depends on timing.)
 * - Each transport's `clock` is the network's clock when that is not the
 *   real one, so a driver ticks on the time the test controls.
 *
 * @example
 * ```ts
 * import { createNode } from '@kv/store';
 * import { createMemoryNetwork } from '@kv/raft/testing';
 *
 * const net = createMemoryNetwork({ seed: 1 });
 * const initialCluster = { m1: 'mem://m1', m2: 'mem://m2', m3: 'mem://m3' };
 * const nodes = await Promise.all(['m1', 'm2', 'm3'].map((name) =>
 *   createNode({ name, initialCluster, transport: net.transport(name) })));
 *
 * net.partition(['m1'], ['m2', 'm3']); // m1 alone; m2 and m3 still talk
 * net.isolate('m2');                   // now all three are apart
 * net.heal();                          // everyone talks again
 *
 * // Faults and time under the test's control:
 * const sim = createMemoryNetwork({ seed: 7, clock: 'manual' });
 * sim.setFaults({ dropRate: 0.1, duplicateRate: 0.05, minDelayMs: 1, maxDelayMs: 20 });
 * await sim.clock.advance(1000);
 * sim.stats; // { sent, delivered, dropped, duplicated, inFlight }
 * ```
 */
export function createMemoryNetwork(options: MemoryNetworkOptions & { readonly clock: 'manual' }): MemoryNetwork<ManualClock>;
export function createMemoryNetwork<C extends Clock>(options: MemoryNetworkOptions & { readonly clock: C }): MemoryNetwork<C>;
export function createMemoryNetwork(options?: MemoryNetworkOptions): MemoryNetwork;
export function createMemoryNetwork(options: MemoryNetworkOptions = {}): MemoryNetwork {
  return new Network(options);
}

const URL_SCHEME = 'mem://';

interface ActiveFaults {
  readonly dropRate: number;
  readonly duplicateRate: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
}

const NO_FAULTS: ActiveFaults = Object.freeze({ dropRate: 0, duplicateRate: 0, minDelayMs: 0, maxDelayMs: 0 });

/** The network: routing, connectivity, faults, scheduling and counters. */
class Network implements MemoryNetwork {
  readonly clock: Clock;
  /** Whether `clock` is the process's real clock (zero delays use setImmediate). */
  readonly #real: boolean;
  readonly #latencyMs: number;
  readonly unreachableIntervalMs: number;
  readonly #random: ReturnType<typeof seededRandom>;
  readonly #members = new Map<string, Member>();
  /**
   * Group of each listed name. Names not in the map share group 0;
   * partition groups are numbered from 1 and isolated names get fresh ones.
   */
  #groups = new Map<string, number>();
  #nextGroup = 1;
  #faults: ActiveFaults = NO_FAULTS;
  #filter: LinkFilter | undefined;
  #sent = 0;
  #delivered = 0;
  #dropped = 0;
  #duplicated = 0;
  #inFlight = 0;

  constructor(options: MemoryNetworkOptions) {
    const seed = options.seed ?? 0;
    if (!Number.isSafeInteger(seed)) throw new RangeError(`createMemoryNetwork: seed must be an integer, got ${seed}`);
    const latencyMs = options.latencyMs ?? 0;
    assertDelay('createMemoryNetwork', 'latencyMs', latencyMs);
    const unreachableIntervalMs = options.unreachableIntervalMs ?? 100;
    assertDelay('createMemoryNetwork', 'unreachableIntervalMs', unreachableIntervalMs);
    const clock = options.clock ?? 'real';
    this.clock = clock === 'real' ? realClock : clock === 'manual' ? new ManualClock() : clock;
    this.#real = this.clock === realClock;
    this.#latencyMs = latencyMs;
    this.unreachableIntervalMs = unreachableIntervalMs;
    this.#random = seededRandom(seed);
  }

  transport(name: string): MemoryTransport {
    if (typeof name !== 'string' || name === '' || name.includes('/')) {
      throw new Error(`createMemoryNetwork: a member name must be a non-empty string without '/', got ${JSON.stringify(name)}`);
    }
    let member = this.#members.get(name);
    if (member === undefined) {
      member = new Member(this, name);
      this.#members.set(name, member);
    }
    return member;
  }

  partition(...groups: string[][]): void {
    const next = new Map<string, number>();
    for (const group of groups) {
      const id = this.#nextGroup++;
      for (const name of group) {
        if (next.has(name)) throw new Error(`MemoryNetwork.partition: ${JSON.stringify(name)} is listed in more than one group`);
        next.set(name, id);
      }
    }
    this.#groups = next;
  }

  isolate(name: string): void {
    this.#groups.set(name, this.#nextGroup++);
  }

  heal(): void {
    this.#groups = new Map();
  }

  setFaults(faults: NetworkFaults): void {
    const dropRate = faults.dropRate ?? 0;
    const duplicateRate = faults.duplicateRate ?? 0;
    const minDelayMs = faults.minDelayMs ?? 0;
    const maxDelayMs = faults.maxDelayMs ?? minDelayMs;
    assertRate('dropRate', dropRate);
    assertRate('duplicateRate', duplicateRate);
    assertDelay('MemoryNetwork.setFaults', 'minDelayMs', minDelayMs);
    assertDelay('MemoryNetwork.setFaults', 'maxDelayMs', maxDelayMs);
    if (maxDelayMs < minDelayMs) {
      throw new RangeError(`MemoryNetwork.setFaults: maxDelayMs (${maxDelayMs}) must be >= minDelayMs (${minDelayMs})`);
    }
    this.#faults = Object.freeze({ dropRate, duplicateRate, minDelayMs, maxDelayMs });
  }

  clearFaults(): void {
    this.#faults = NO_FAULTS;
  }

  setFilter(filter: LinkFilter | undefined): void {
    this.#filter = filter;
  }

  get stats(): NetworkStats {
    return Object.freeze({
      sent: this.#sent,
      delivered: this.#delivered,
      dropped: this.#dropped,
      duplicated: this.#duplicated,
      inFlight: this.#inFlight,
    });
  }

  names(): string[] {
    return [...this.#members.keys()];
  }

  /** Whether members `a` and `b` can talk under the current partition. */
  connected(a: string, b: string): boolean {
    return a === b || (this.#groups.get(a) ?? 0) === (this.#groups.get(b) ?? 0);
  }

  /** The member listening at `url`, if any. */
  resolve(url: string): Member | undefined {
    if (!url.startsWith(URL_SCHEME)) return undefined;
    let name = url.slice(URL_SCHEME.length);
    if (name.endsWith('/')) name = name.slice(0, -1);
    return this.#members.get(name);
  }

  /** Runs `fn` `delayMs` from now on the network's clock; never synchronously. */
  schedule(delayMs: number, fn: () => void): void {
    if (this.#real && delayMs === 0) setImmediate(fn);
    else this.clock.setTimeout(fn, delayMs);
  }

  /** Routes one message sent by `from`, applying partitions, the filter and faults. */
  route(from: Member, m: Message): void {
    this.#sent++;
    if (!from.started) {
      this.#dropped++;
      return;
    }
    const url = from.peerUrl(m.to);
    const to = url === undefined ? undefined : this.resolve(url);
    if (to === undefined || !to.started || !this.connected(from.name, to.name)) {
      this.#dropped++;
      from.reportUnreachable(m.to);
      return;
    }
    if (this.#filter !== undefined && this.#filter(m, from.name, to.name) === 'drop') {
      this.#dropped++;
      return;
    }
    const f = this.#faults;
    if (f.dropRate > 0 && this.#random.next() < f.dropRate) {
      this.#dropped++;
      return;
    }
    let copies = 1;
    if (f.duplicateRate > 0 && this.#random.next() < f.duplicateRate) {
      copies = 2;
      this.#duplicated++;
    }
    const epoch = to.epoch;
    for (let i = 0; i < copies; i++) {
      const copy = cloneMessage(m);
      const jitter = f.maxDelayMs > f.minDelayMs ? this.#random.intn(Math.floor(f.maxDelayMs - f.minDelayMs) + 1) : 0;
      this.#inFlight++;
      this.schedule(this.#latencyMs + f.minDelayMs + jitter, () => this.#deliver(from, to, epoch, copy));
    }
  }

  /** A member stopped: every running member that knows it hears it is unreachable, on a later turn. */
  closedConnections(url: string): void {
    for (const m of this.#members.values()) {
      if (m.url === url || !m.started) continue;
      for (const id of m.peersAt(url)) this.schedule(0, () => m.reportUnreachable(id));
    }
  }

  #deliver(from: Member, to: Member, epoch: number, m: Message): void {
    this.#inFlight--;
    // The receiver must be the same incarnation that was listening when the
    // message left, still reachable, and still willing to hear from the sender.
    const handler = to.handlerFor(epoch);
    if (handler === undefined || !this.connected(from.name, to.name) || to.hasRemoved(m.from)) {
      this.#dropped++;
      if (handler === undefined || !this.connected(from.name, to.name)) from.reportUnreachable(m.to);
      return;
    }
    this.#delivered++;
    // Like a socket, an incoming message tells the receiver where its sender
    // is: a member that joins an existing cluster can answer the leader
    // before it has replayed the log that names everyone.
    to.learnPeer(m.from, from.url);
    handler.onMessage(m);
  }
}

/** One member's transport. */
class Member implements MemoryTransport {
  readonly url: string;
  readonly clock: Clock | undefined;
  /** Incremented on every start, so messages to an earlier incarnation are dropped. */
  epoch = 0;
  #handler: TransportHandler | undefined;
  readonly #peers = new Map<NodeId, string>();
  readonly #removed = new Set<NodeId>();
  /** Network-clock time of the last onUnreachable report, per peer. */
  readonly #lastUnreachable = new Map<NodeId, number>();

  constructor(
    readonly network: Network,
    readonly name: string,
  ) {
    this.url = URL_SCHEME + name;
    this.clock = network.clock === realClock ? undefined : network.clock;
  }

  get started(): boolean {
    return this.#handler !== undefined;
  }

  start(handler: TransportHandler): Promise<void> {
    if (this.#handler !== undefined) {
      return Promise.reject(new Error(`memory transport ${this.url} is already started; stop() it before starting it again`));
    }
    this.epoch++;
    this.#handler = handler;
    return Promise.resolve();
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) this.network.route(this, m);
  }

  addPeer(id: NodeId, url: string): void {
    this.#peers.set(id, url);
    this.#removed.delete(id);
  }

  removePeer(id: NodeId): void {
    this.#peers.delete(id);
    this.#removed.add(id);
    this.#lastUnreachable.delete(id);
  }

  stop(): Promise<void> {
    const wasRunning = this.#handler !== undefined;
    this.#handler = undefined;
    // Like a process whose sockets close: members that know this one hear
    // that it is unreachable (a follower can then elect a new leader at once).
    if (wasRunning) this.network.closedConnections(this.url);
    this.#peers.clear();
    this.#removed.clear();
    this.#lastUnreachable.clear();
    return Promise.resolve();
  }

  peerUrl(id: NodeId): string | undefined {
    return this.#peers.get(id);
  }

  /** The IDs this transport knows at `url`. */
  peersAt(url: string): NodeId[] {
    const out: NodeId[] = [];
    for (const [id, u] of this.#peers) if (u === url) out.push(id);
    return out;
  }

  /** Records where `id` is, if this transport does not know yet. */
  learnPeer(id: NodeId, url: string): void {
    if (!this.#peers.has(id) && !this.#removed.has(id)) this.#peers.set(id, url);
  }

  hasRemoved(id: NodeId): boolean {
    return this.#removed.has(id);
  }

  /** The handler of incarnation `epoch`, if it is still the running one. */
  handlerFor(epoch: number): TransportHandler | undefined {
    return epoch === this.epoch ? this.#handler : undefined;
  }

  /** Tells the running handler, on a later turn and rate-limited per peer, that `id` is unreachable. */
  reportUnreachable(id: NodeId): void {
    const handler = this.#handler;
    if (handler?.onUnreachable === undefined) return;
    const now = this.network.clock.now();
    const last = this.#lastUnreachable.get(id);
    if (last !== undefined && now - last < this.network.unreachableIntervalMs) return;
    this.#lastUnreachable.set(id, now);
    const epoch = this.epoch;
    this.network.schedule(0, () => {
      if (this.handlerFor(epoch) === handler) handler.onUnreachable?.(id);
    });
  }
}

/** A copy of a message, as a receiver would decode it off a wire (bytes shared: they are immutable). */
function cloneMessage(m: Message): Message {
  const copy: Message = { ...m, entries: m.entries.map((e) => ({ ...e })) };
  if (m.snapshot !== undefined) {
    const { data, metadata } = m.snapshot;
    copy.snapshot = {
      data,
      metadata: {
        ...metadata,
        confState: { voters: [...metadata.confState.voters], learners: [...metadata.confState.learners] },
      },
    };
  }
  return copy;
}

function assertRate(field: string, value: number): void {
  if (!(value >= 0 && value <= 1)) throw new RangeError(`MemoryNetwork.setFaults: ${field} must be in [0, 1], got ${value}`);
}

function assertDelay(where: string, field: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0)) {
    throw new RangeError(`${where}: ${field} must be a finite number of milliseconds >= 0, got ${value}`);
  }
}
