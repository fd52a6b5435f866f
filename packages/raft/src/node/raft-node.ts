import { randomInt } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import type { RaftConfig } from '../config.js';
import { decodeConfChange, encodeConfChange } from '../confchange/codec.js';
import { InvariantError, RaftError, type RaftErrorCode } from '../errors.js';
import { silentLogger, type RaftLogger } from '../logger.js';
import { seededRandom, type RandomSource } from '../random.js';
import { sendableBeforePersist } from '../persist-order.js';
import { RawNode } from '../raw-node.js';
import { MemoryStorage } from '../storage.js';
import {
  ConfChangeType,
  EntryType,
  MessageType,
  NONE,
  ProgressState,
  StateType,
  message,
  type ConfChange,
  type ConfState,
  type Entry,
  type Index,
  type Message,
  type NodeId,
  type Ready,
  type Snapshot,
  type SnapshotMetadata,
  type Term,
} from '../types.js';
import { unwrapProposal, wrapProposal, wrapWith, type ProposalTag } from './envelope.js';
import { Histogram, type RaftNodeMetrics } from './histogram.js';
import { FollowerStatsTracker, type LeaderStats } from './follower-stats.js';
import type { LogStore } from './log-store.js';
import { MemberRegistry, decodeMemberContext, encodeMemberContext, type MemberInfo } from './members.js';
import { ProposalTracker, type Pending } from './proposals.js';
import { SnapshotAssembler, splitSnapshotMessage } from './snapshot-chunks.js';
import { unwrapSnapshot, wrapSnapshot } from './snapshot-envelope.js';
import type { StateMachine } from './state-machine.js';
import { realClock, type Clock, type TimerHandle, type Transport } from './transport.js';

/** Core settings a host may tune through the driver (times are set in ms instead). */
export type RaftTuning = Pick<
  RaftConfig,
  | 'maxSizePerMsgBytes'
  | 'maxEntriesPerMsg'
  | 'maxInflightMsgs'
  | 'maxInflightBytes'
  | 'maxCommittedSizePerReadyBytes'
  | 'checkQuorum'
  | 'preVote'
>;

/** Options of {@link RaftNode}. */
export interface RaftNodeOptions<R = unknown> {
  /** This member's ID; unique in the cluster and never reused. */
  id: NodeId;
  /**
   * Members of a new cluster (ID → peer URL), written to the log as its
   * first entries when the log store is empty. Leave out to join an
   * existing cluster (after a member added this one) or to restart.
   */
  initialMembers?: Readonly<Record<NodeId, string>>;
  /**
   * Where members already in the cluster listen (ID → peer URL), for a node
   * joining an existing cluster (etcd's `--initial-cluster` with
   * `--initial-cluster-state existing`): it must reach the leader before it
   * has replayed the log that names them. Not written to the log.
   */
  peers?: Readonly<Record<NodeId, string>>;
  /** Host data attached to the initial members (e.g. names, client URLs), by ID. */
  initialMemberMeta?: Readonly<Record<NodeId, unknown>>;
  /** Durable storage of the log; the node does not close it. */
  logStore: LogStore;
  /** Moves messages to peers; the node starts and stops it. */
  transport: Transport;
  /** The replicated state. */
  stateMachine: StateMachine<R>;
  /** Interval between heartbeats, and the tick. @defaultValue 100 */
  heartbeatIntervalMs?: number;
  /**
   * Time without a leader before a follower campaigns (randomized up to
   * twice this). At least 5 × `heartbeatIntervalMs`.
   * @defaultValue 1000
   */
  electionTimeoutMs?: number;
  /** Applied entries between automatic snapshots. @defaultValue 10000 */
  snapshotCount?: number;
  /**
   * Entries kept behind a snapshot for slow followers to catch up from the
   * log rather than a snapshot.
   * @defaultValue 5000
   */
  snapshotCatchUpEntries?: number;
  /** Largest frame a snapshot is split into for the wire. @defaultValue 1 MiB */
  snapshotChunkBytes?: number;
  /** Largest snapshot accepted from a leader. @defaultValue 2 GiB */
  maxSnapshotBytes?: number;
  /**
   * How long a proposal or read may take before it rejects with
   * `RAFT_TIMEOUT` (or `RAFT_NO_LEADER` if no leader appeared meanwhile).
   * @defaultValue 5000 + 2 × electionTimeoutMs (etcd's request timeout)
   */
  requestTimeoutMs?: number;
  /**
   * When the transport reports the leader unreachable (its connection
   * closed), forget it and start a pre-vote at once rather than after an
   * election timeout. Needs pre-vote (on by default).
   * @defaultValue true
   */
  fastFailover?: boolean;
  /** Whether a follower forwards proposals to the leader. @defaultValue true */
  forwardProposals?: boolean;
  /** Time source. @defaultValue the transport's clock, else the real one */
  clock?: Clock;
  /** Election jitter. @defaultValue seeded from crypto */
  random?: RandomSource;
  logger?: RaftLogger;
  /** Core flow-control settings. */
  raft?: RaftTuning;
}

/** The node's state, as reported by {@link RaftNode.status}. */
export interface RaftNodeStatus {
  readonly id: NodeId;
  readonly leader: NodeId | undefined;
  readonly isLeader: boolean;
  readonly role: 'follower' | 'candidate' | 'pre-candidate' | 'leader';
  readonly term: Term;
  readonly commitIndex: Index;
  readonly appliedIndex: Index;
  readonly lastIndex: Index;
  readonly snapshotIndex: Index;
  readonly members: readonly MemberInfo[];
}

/** Events of {@link RaftNode}. */
export interface RaftNodeEvents {
  /** A leader is known (or `undefined`: none). */
  leader: (leader: NodeId | undefined, term: Term) => void;
  role: (role: RaftNodeStatus['role'], term: Term) => void;
  /** Entries up to `index` are applied. */
  applied: (index: Index) => void;
  /** A snapshot was taken (locally) or installed (from the leader). */
  snapshot: (metadata: SnapshotMetadata, source: 'local' | 'leader') => void;
  /** A membership change was applied; `members` is the list after it. */
  membership: (change: ConfChange, members: readonly MemberInfo[]) => void;
  /** This member was removed from the cluster; the node has stopped. */
  removed: () => void;
  /** A fatal error stopped the node (a failed write, a state machine that threw, a bug). */
  error: (err: Error) => void;
}

const ROLE: Record<StateType, RaftNodeStatus['role']> = {
  [StateType.Follower]: 'follower',
  [StateType.Candidate]: 'candidate',
  [StateType.PreCandidate]: 'pre-candidate',
  [StateType.Leader]: 'leader',
};

const MiB = 1024 * 1024;

/** Resolved options with units made explicit (what {@link validateNodeOptions} returns). */
export interface DriverConfig {
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  electionTick: number;
  snapshotCount: number;
  snapshotCatchUpEntries: number;
  snapshotChunkBytes: number;
  maxSnapshotBytes: number;
  requestTimeoutMs: number;
  forwardProposals: boolean;
}

function positive(field: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0) throw new RaftError('RAFT_INVALID_CONFIG', `${field} must be a positive number, got ${v}`);
}

/**
 * Checks a driver's options and derives the core's ticks from them.
 *
 * @throws RaftError `RAFT_INVALID_CONFIG` naming the field at fault.
 */
export function validateNodeOptions(o: RaftNodeOptions<unknown>): DriverConfig {
  if (typeof o.id !== 'string' || o.id === '') throw new RaftError('RAFT_INVALID_CONFIG', 'id must be a non-empty string');
  if (!o.logStore) throw new RaftError('RAFT_INVALID_CONFIG', 'logStore is required');
  if (!o.transport) throw new RaftError('RAFT_INVALID_CONFIG', 'transport is required');
  if (!o.stateMachine) throw new RaftError('RAFT_INVALID_CONFIG', 'stateMachine is required');
  const heartbeatIntervalMs = o.heartbeatIntervalMs ?? 100;
  const electionTimeoutMs = o.electionTimeoutMs ?? 1000;
  positive('heartbeatIntervalMs', heartbeatIntervalMs);
  positive('electionTimeoutMs', electionTimeoutMs);
  if (electionTimeoutMs < 5 * heartbeatIntervalMs) {
    throw new RaftError(
      'RAFT_INVALID_CONFIG',
      `electionTimeoutMs (${electionTimeoutMs}) must be at least 5 × heartbeatIntervalMs (${heartbeatIntervalMs}); ` +
        `etcd suggests 10 × (e.g. heartbeat 100 ms, election 1000 ms)`,
    );
  }
  const c: DriverConfig = {
    heartbeatIntervalMs,
    electionTimeoutMs,
    electionTick: Math.round(electionTimeoutMs / heartbeatIntervalMs),
    snapshotCount: o.snapshotCount ?? 10_000,
    snapshotCatchUpEntries: o.snapshotCatchUpEntries ?? 5_000,
    snapshotChunkBytes: o.snapshotChunkBytes ?? MiB,
    maxSnapshotBytes: o.maxSnapshotBytes ?? 2048 * MiB,
    requestTimeoutMs: o.requestTimeoutMs ?? 5000 + 2 * electionTimeoutMs,
    forwardProposals: o.forwardProposals ?? true,
  };
  for (const f of ['snapshotCount', 'snapshotChunkBytes', 'maxSnapshotBytes', 'requestTimeoutMs'] as const) positive(f, c[f]);
  if (!Number.isInteger(c.snapshotCatchUpEntries) || c.snapshotCatchUpEntries < 0) {
    throw new RaftError('RAFT_INVALID_CONFIG', `snapshotCatchUpEntries must be a non-negative integer, got ${c.snapshotCatchUpEntries}`);
  }
  return c;
}

type NodeState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * A Raft member with real time, durable storage, a transport and a state
 * machine: the driver around {@link RawNode}. The one loop with side
 * effects: Ready → one durable write → send → apply → advance.
 *
 * @remarks
 * Group commit: while one durable write is in flight, new proposals are
 * appended to the core and all go out in the next write.
 *
 * Every promise it hands out settles: applied (with the state machine's
 * result), refused (`RAFT_NO_LEADER`, `RAFT_NOT_LEADER`,
 * `RAFT_TRANSFER_IN_PROGRESS`, `RAFT_CONF_CHANGE_*`), replaced by a new
 * leader (`RAFT_PROPOSAL_DROPPED`), timed out (`RAFT_TIMEOUT`), or
 * stopped (`RAFT_STOPPED`, `RAFT_REMOVED`).
 *
 * ```
 *   new ──start()──> starting ──> running ──close()──> stopping ──> stopped
 *                                    │  removed / fatal error         ▲
 *                                    └────────────────────────────────┘
 * ```
 *
 * @example
 * ```ts
 * const net = createMemoryNetwork({ seed: 1 });
 * const node = new RaftNode({
 *   id: '1', initialMembers: { '1': 'mem://a', '2': 'mem://b', '3': 'mem://c' },
 *   logStore: new MemoryLogStore(), transport: net.transport('a'), stateMachine: counter,
 * });
 * await node.start();
 * const result = await node.propose(new TextEncoder().encode('incr'));
 * ```
 */
export class RaftNode<R = unknown> extends EventEmitter<RaftNodeEvents> {
  readonly id: NodeId;
  private readonly options: RaftNodeOptions<R>;
  private readonly config: DriverConfig;
  private readonly clock: Clock;
  private readonly logger: RaftLogger;
  private readonly storage = new MemoryStorage();
  private readonly members = new MemberRegistry();
  private readonly proposals = new ProposalTracker<unknown>();
  private readonly assembler: SnapshotAssembler;
  private readonly tag: { instanceHi: number; instanceLo: number };
  private readonly coreRandom: RandomSource;
  private raw: RawNode | undefined;
  private state: NodeState = 'new';
  private ticker: TimerHandle | undefined;
  private applied: Index = 0;
  private snapshotIndex: Index = 0;
  private lastLeader: NodeId = NONE;
  private lastRole: StateType = StateType.Follower;
  /** The pump is running; `again` asks it for one more pass. */
  private pumping = false;
  private again = false;
  private pumpDone: Promise<void> = Promise.resolve();
  /** Read requests: the batch in flight (by context) and callers waiting for the next one. */
  private readonly reads = new Map<string, { startedAt: number; batch: Pending<void>[] }>();
  private readWaiters: Pending<void>[] = [];
  private readSeq = 0;
  private readonly snapshotWatch = new Map<NodeId, TimerHandle>();
  /** Counters and latency histograms (fsync, apply), for `/metrics`. */
  readonly metrics: RaftNodeMetrics = {
    persistDuration: new Histogram(),
    applyDuration: new Histogram(),
    proposals: 0,
    proposalsFailed: 0,
    appliedEntries: 0,
    leaderChanges: 0,
    appendsSent: 0,
    appendsReceived: 0,
  };
  /** Round trips to each follower while this member leads (`/v2/stats/leader`). */
  private readonly followerStats: FollowerStatsTracker;
  private followerStatsTerm: Term = 0;
  /** Pending transferLeadership calls, settled on close. */
  private readonly transfers = new Set<(err?: Error) => void>();
  private readonly removedNoticeAt = new Map<NodeId, number>();

  constructor(options: RaftNodeOptions<R>) {
    super();
    this.config = validateNodeOptions(options as RaftNodeOptions<unknown>);
    this.options = options;
    this.id = options.id;
    this.clock = options.clock ?? options.transport.clock ?? realClock;
    this.logger = options.logger ?? silentLogger;
    this.assembler = new SnapshotAssembler(this.config.maxSnapshotBytes);
    this.tag = { instanceHi: randomInt(0, 2 ** 32 - 1), instanceLo: randomInt(0, 2 ** 32 - 1) };
    this.coreRandom = options.random ?? seededRandom(randomInt(0, 2 ** 31 - 1));
    this.jitter = this.coreRandom;
    this.followerStats = new FollowerStatsTracker(this.config.electionTimeoutMs);
  }

  // ------------------------------------------------------------------ lifecycle

  /**
   * Loads the log, restores the state machine, starts the transport and the
   * ticks. A new, empty log store with `initialMembers` bootstraps a cluster.
   *
   * @throws RaftError `RAFT_INVALID_CONFIG` for a bootstrap without this
   * node among `initialMembers`; whatever the log store or transport throw.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new RaftError('RAFT_INVALID_CONFIG', `start() called on a node that is ${this.state}`);
    this.state = 'starting';
    const o = this.options;
    const persisted = await o.logStore.load();
    const isNew = persisted.hardState.term === 0 && !persisted.snapshot && persisted.entries.length === 0;

    if (persisted.snapshot) {
      this.storage.applySnapshot(persisted.snapshot);
      await this.restoreSnapshotData(persisted.snapshot);
      this.applied = persisted.snapshot.metadata.index;
      this.snapshotIndex = this.applied;
    }
    this.storage.append(persisted.entries);
    this.storage.setHardState(persisted.hardState);

    if (isNew && o.initialMembers) await this.bootstrap(o.initialMembers);

    this.raw = new RawNode({
      ...o.raft,
      id: this.id,
      storage: this.storage,
      applied: this.applied,
      electionTick: this.config.electionTick,
      heartbeatTick: 1,
      random: this.coreRandom,
      logger: this.logger,
      disableProposalForwarding: !this.config.forwardProposals,
    });
    o.transport.setIdentity?.({ memberId: this.id });
    for (const [id, url] of Object.entries(o.peers ?? {})) if (id !== this.id) o.transport.addPeer(id, url);
    for (const m of this.members.list()) if (m.id !== this.id && m.peerUrls[0]) o.transport.addPeer(m.id, m.peerUrls[0]);
    for (const m of this.members.removedMembers()) if (m.peerUrls[0]) o.transport.addPeer(m.id, m.peerUrls[0]);
    await o.transport.start({
      onMessage: (m) => this.receive(m),
      onUnreachable: (id) => this.unreachable(id),
    });
    this.state = 'running';
    this.ticker = this.clock.setInterval(() => this.tick(), this.config.heartbeatIntervalMs);
    this.logger.info(
      `${this.id} started: applied ${this.applied}, last index ${this.storage.lastIndex()}, term ${persisted.hardState.term}` +
        (isNew && o.initialMembers ? ' (new cluster)' : ''),
    );
    this.schedule();
  }

  /**
   * Writes the initial membership as the log's first entries (term 1,
   * committed), so a member that joins later learns it by replaying them.
   */
  private async bootstrap(initial: Readonly<Record<NodeId, string>>): Promise<void> {
    const ids = Object.keys(initial).sort();
    if (!ids.includes(this.id)) {
      throw new RaftError('RAFT_INVALID_CONFIG', `member ${this.id} is not among the initial members (${ids.join(', ')})`);
    }
    const entries: Entry[] = ids.map((id, i) => ({
      term: 1,
      index: i + 1,
      type: EntryType.ConfChange,
      data: encodeConfChange({
        type: ConfChangeType.AddNode,
        nodeId: id,
        context: encodeMemberContext({ peerUrls: [initial[id]], meta: this.options.initialMemberMeta?.[id] }),
      }),
    }));
    const hardState = { term: 1, vote: NONE, commit: entries.length };
    await this.options.logStore.save({ hardState, entries }, { sync: true });
    this.storage.append(entries);
    this.storage.setHardState(hardState);
  }

  /**
   * Stops ticking, settles every pending promise with `RAFT_STOPPED`, lets an
   * in-flight durable write finish, and stops the transport. Idempotent. The
   * log store stays open (the host owns it).
   */
  async close(): Promise<void> {
    await this.shutdown(new RaftError('RAFT_STOPPED', `node ${this.id} was closed`));
  }

  private async shutdown(reason: Error): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return this.pumpDone;
    const wasRunning = this.state === 'running';
    this.state = 'stopping';
    if (this.ticker !== undefined) this.clock.clearInterval(this.ticker);
    for (const t of this.snapshotWatch.values()) this.clock.clearTimeout(t);
    this.snapshotWatch.clear();
    this.proposals.rejectAll(reason);
    for (const settle of [...this.transfers]) settle(reason);
    for (const round of this.reads.values()) for (const p of round.batch) p.reject(reason);
    this.reads.clear();
    for (const p of this.readWaiters) p.reject(reason);
    this.readWaiters = [];
    try {
      await this.pumpDone;
    } finally {
      if (wasRunning) await this.options.transport.stop();
      this.state = 'stopped';
    }
  }

  private fail(err: Error): void {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.logger.error(`${this.id} stopping on a fatal error: ${err.message}`);
    void this.shutdown(new RaftError('RAFT_STOPPED', `node ${this.id} stopped: ${err.message}`, { cause: err }));
    this.emit('error', err);
  }

  private get running(): boolean {
    return this.state === 'running';
  }

  private rawNode(): RawNode {
    if (!this.raw || !this.running) throw new RaftError('RAFT_STOPPED', `node ${this.id} is ${this.state}`);
    return this.raw;
  }

  // ------------------------------------------------------------------ inputs

  private tick(): void {
    if (!this.running) return;
    try {
      this.raw!.tick();
      this.proposals.expire(this.clock.now(), this.config.requestTimeoutMs);
      if (this.raw!.raft.state === StateType.Leader) this.followerStats.expire(this.clock.now());
      this.expireReads();
      this.retryWaiting();
    } catch (e) {
      this.fail(asError(e));
      return;
    }
    this.schedule();
  }

  private receive(m: Message): void {
    if (!this.running) return;
    // Driver messages act on this member without the core's checks: only a
    // member may send them (anyone past the transport's handshake could
    // otherwise stop a member for good, or fail its proposals).
    if (m.type === MessageType.MsgRemoved || m.type === MessageType.MsgPropResp) {
      if (this.members.get(m.from) === undefined) {
        this.logger.warn(`${this.id} dropped ${MessageType[m.type]} from ${String(m.from)}: not a member`);
        return;
      }
      if (m.type === MessageType.MsgRemoved) return this.learnedRemoved(`member ${m.from} says this member was removed`);
      return this.proposalsRefused(m);
    }
    if (this.members.isRemoved(m.from)) return this.noticeRemoved(m.from);
    if (m.type === MessageType.MsgApp) this.metrics.appendsReceived++;
    if (m.type === MessageType.MsgHeartbeatResp || m.type === MessageType.MsgAppResp) {
      m = this.followerStats.received(m, this.clock.now(), this.raw!.raft.state === StateType.Leader);
    }
    const whole = this.assembler.add(m);
    if (whole === undefined) return;
    if ('error' in whole) {
      this.logger.warn(`${this.id} dropped a snapshot chunk from ${m.from}: ${whole.error}`);
      return;
    }
    try {
      this.raw!.step(whole);
    } catch (e) {
      if (e instanceof RaftError) {
        // Bad input from a peer: drop it, keep running.
        this.logger.warn(`${this.id} dropped ${MessageType[whole.type] ?? 'a message'} from ${String(whole.from)}: ${e.message}`);
        return;
      }
      this.fail(asError(e));
      return;
    }
    this.schedule();
  }

  private unreachable(id: NodeId): void {
    if (!this.running) return;
    try {
      const raw = this.raw!;
      if (raw.raft.state === StateType.Leader) this.followerStats.unreachable(id);
      raw.reportUnreachable(id);
      // Fast failover: the leader's connection is gone (a dead process
      // closes its sockets). Forget it and start a pre-vote now instead of
      // waiting out the election timeout. Safe with pre-vote: a pre-vote
      // changes no term, and members still hearing from a live leader
      // ignore it. Rate-limited so a flapping link cannot churn elections.
      if (this.options.fastFailover !== false && raw.raft.preVote && raw.raft.lead === id && raw.raft.state === StateType.Follower) {
        // Forget now (so this member grants others' pre-votes, and callers
        // of proposals forwarded to it learn at once); campaign after a
        // short random delay: every follower sees the leader go at about the
        // same moment, and campaigning together splits the vote.
        raw.forgetLeader();
        this.schedule();
        const now = this.clock.now();
        if (now - this.lastFastCampaign >= this.config.electionTimeoutMs) {
          this.lastFastCampaign = now;
          const delay = this.jitter.intn(2 * this.config.heartbeatIntervalMs);
          this.logger.info(`${this.id} lost its connection to leader ${id}; pre-vote in ${delay} ms`);
          this.clock.setTimeout(() => {
            if (!this.running) return;
            const r = this.raw!.raft;
            if (r.state !== StateType.Follower || r.lead !== NONE) return;
            this.raw!.campaign();
            this.schedule();
          }, delay);
        }
      }
    } catch (e) {
      if (!(e instanceof RaftError)) this.fail(asError(e));
    }
  }
  private lastFastCampaign = -Infinity;
  private readonly jitter: RandomSource;

  /** A member refused proposals this node forwarded: settle their callers with its reason. */
  private proposalsRefused(m: Message): void {
    const text = m.context ? new TextDecoder().decode(m.context) : '';
    const nl = text.indexOf('\n');
    const code = (nl > 0 ? text.slice(0, nl) : 'RAFT_PROPOSAL_DROPPED') as RaftErrorCode;
    const reason = nl > 0 ? text.slice(nl + 1) : text;
    const known: readonly string[] = ['RAFT_NO_LEADER', 'RAFT_NOT_LEADER', 'RAFT_TRANSFER_IN_PROGRESS', 'RAFT_CONF_CHANGE_PENDING', 'RAFT_CONF_CHANGE_INVALID'];
    const err = new RaftError(known.includes(code) ? code : 'RAFT_PROPOSAL_DROPPED', `refused by ${m.from}: ${reason}`);
    for (const e of m.entries) {
      let tag: ProposalTag | undefined;
      try {
        if (e.type === EntryType.ConfChange) {
          const ctx = decodeConfChange(e.data).context;
          if (ctx) tag = unwrapProposal(ctx).tag;
        } else {
          tag = unwrapProposal(e.data).tag;
        }
      } catch {
        continue; // not one of ours
      }
      if (tag && this.isOurs(tag)) this.proposals.reject(tag.seq, err);
    }
  }

  /** Tells a removed member (at most once a second) that it was removed. */
  private noticeRemoved(id: NodeId): void {
    const now = this.clock.now();
    if ((this.removedNoticeAt.get(id) ?? -Infinity) + 1000 > now) return;
    this.removedNoticeAt.set(id, now);
    this.options.transport.send([message({ type: MessageType.MsgRemoved, from: this.id, to: id })]);
  }

  private learnedRemoved(why: string, opts: { linger?: boolean } = {}): void {
    if (!this.running || this.leaving) return;
    this.logger.warn(`${this.id}: the member has been permanently removed from the cluster (${why})`);
    const reason = new RaftError('RAFT_REMOVED', `member ${this.id} was removed from the cluster`);
    if (!opts.linger) {
      void this.shutdown(reason);
      this.emit('removed');
      return;
    }
    // It applied its own removal. The others may not have learned that the
    // removal committed (a leader's last commit index may still be in
    // flight), and until they apply it their configuration still counts
    // this member: with two members, the survivor could never win an
    // election without its vote. So, like etcd's stopWithDelay, stay up for
    // two election timeouts — answering appends and votes — while refusing
    // new work, then stop.
    this.leaving = reason;
    this.proposals.rejectAll(reason);
    this.clock.setTimeout(() => {
      if (!this.running) return;
      void this.shutdown(reason);
      this.emit('removed');
    }, 2 * this.config.electionTimeoutMs);
  }

  /** Set while a member that applied its own removal lingers before stopping. */
  private leaving: RaftError | undefined;

  /** Rejects new work while stopped or lingering after removal. */
  private refusal(): RaftError | undefined {
    if (!this.running) return new RaftError('RAFT_STOPPED', `node ${this.id} is ${this.state}`);
    return this.leaving;
  }

  /**
   * Proposes `data` and resolves with the state machine's result once the
   * entry is applied on this node.
   *
   * @remarks
   * With no leader known, the proposal waits for one until the request
   * timeout. The promise always settles; see the class remarks for the
   * errors.
   */
  propose(data: Uint8Array): Promise<R> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const seq = this.proposals.allocate();
    const entry = wrapWith(this.tag.instanceHi, this.tag.instanceLo, seq, data);
    return this.track<R>(seq, entry, undefined);
  }

  /**
   * Proposes a membership change; resolves with the member list once it is
   * applied here.
   *
   * @throws (rejects) RaftError `RAFT_CONF_CHANGE_INVALID` for a removed ID
   * or a change the configuration refuses, `RAFT_CONF_CHANGE_PENDING`.
   */
  private changeMembership(cc: ConfChange, peerUrls: readonly string[], meta: unknown): Promise<readonly MemberInfo[]> {
    const refusal = this.members.refusal(cc);
    if (refusal) return Promise.reject(new RaftError('RAFT_CONF_CHANGE_INVALID', refusal));
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const seq = this.proposals.allocate();
    const context = wrapProposal(this.tagFor(seq), encodeMemberContext({ peerUrls, meta }));
    return this.track<readonly MemberInfo[]>(seq, undefined, { ...cc, context });
  }

  /** Adds a voting member listening at `peerUrls`. Resolves with the member list once applied. */
  addMember(id: NodeId, peerUrls: readonly string[], opts: { learner?: boolean; meta?: unknown } = {}): Promise<readonly MemberInfo[]> {
    const type = opts.learner ? ConfChangeType.AddLearnerNode : ConfChangeType.AddNode;
    return this.changeMembership({ type, nodeId: id }, peerUrls, opts.meta);
  }

  /** Promotes a learner to voter. */
  promoteMember(id: NodeId): Promise<readonly MemberInfo[]> {
    const m = this.members.get(id);
    if (!m) return Promise.reject(new RaftError('RAFT_CONF_CHANGE_INVALID', `${id} is not a member`));
    if (!m.isLearner) return Promise.reject(new RaftError('RAFT_CONF_CHANGE_INVALID', `${id} is already a voter`));
    return this.changeMembership({ type: ConfChangeType.AddNode, nodeId: id }, m.peerUrls, m.meta);
  }

  /** Removes a member for good (its ID is never reused). Removing the leader makes it step down. */
  removeMember(id: NodeId): Promise<readonly MemberInfo[]> {
    return this.changeMembership({ type: ConfChangeType.RemoveNode, nodeId: id }, [], undefined);
  }

  /**
   * Updates a member's peer URLs (and metadata): applied through the log like
   * any change, so every member learns the new address.
   */
  updateMember(id: NodeId, peerUrls: readonly string[], meta?: unknown): Promise<readonly MemberInfo[]> {
    const m = this.members.get(id);
    if (!m) return Promise.reject(new RaftError('RAFT_CONF_CHANGE_INVALID', `${id} is not a member`));
    return this.changeMembership({ type: ConfChangeType.UpdateNode, nodeId: id }, peerUrls, meta ?? m.meta);
  }

  /**
   * Resolves once this node has applied everything committed before the call
   * (a linearizable read barrier, Raft thesis §6.4). Concurrent callers share
   * one ReadIndex round.
   */
  readIndex(): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    return new Promise<void>((resolve, reject) => {
      const p: Pending<void> = {
        seq: 0,
        deadline: this.clock.now() + this.config.requestTimeoutMs,
        resolve,
        reject,
        waitingForLeader: false,
        sawLeader: this.raw!.raft.lead !== NONE,
      };
      this.readWaiters.push(p);
      // Callers arriving while a round is in flight wait for the next one:
      // that round's index was fixed before they asked.
      if (this.reads.size === 0) this.startReadRound();
    });
  }

  private startReadRound(): void {
    if (this.readWaiters.length === 0 || !this.running) return;
    const ctx = wrapProposal(this.tagFor(++this.readSeq), new Uint8Array(0));
    try {
      this.raw!.readIndex(ctx);
    } catch (e) {
      if (e instanceof RaftError && e.code === 'RAFT_NO_LEADER') return; // retried on the next tick
      throw e;
    }
    this.reads.set(ctxKey(ctx), { startedAt: this.clock.now(), batch: this.readWaiters });
    this.readWaiters = [];
    this.schedule();
  }

  private expireReads(): void {
    const now = this.clock.now();
    const timeout = (p: Pending<void>): boolean => {
      if (p.deadline > now) return false;
      p.reject(
        p.sawLeader
          ? new RaftError('RAFT_TIMEOUT', `read not confirmed within ${this.config.requestTimeoutMs} ms`)
          : new RaftError('RAFT_NO_LEADER', `no leader was elected within ${this.config.requestTimeoutMs} ms`),
      );
      return true;
    };
    const lead = this.raw!.raft.lead !== NONE;
    for (const p of this.readWaiters) p.sawLeader ||= lead;
    this.readWaiters = this.readWaiters.filter((p) => !timeout(p));
    for (const [key, round] of this.reads) {
      const left = round.batch.filter((p) => !timeout(p));
      if (left.length === 0) this.reads.delete(key);
      else round.batch = left;
    }
    // A round whose answer was lost (leader change, dropped message) would
    // hold its callers until they time out: after an election timeout,
    // start a fresh round for them.
    for (const [key, round] of this.reads) {
      if (now - round.startedAt < this.config.electionTimeoutMs) continue;
      this.reads.delete(key);
      this.readWaiters.push(...round.batch);
    }
    if (this.reads.size === 0) this.startReadRound();
  }

  /**
   * Hands leadership to `id` (which must be a voter). Resolves when `id`
   * leads; rejects if the transfer does not finish within two election
   * timeouts.
   */
  transferLeadership(id: NodeId): Promise<void> {
    const raw = this.rawNode();
    if (raw.raft.lead === id) return Promise.resolve();
    if (raw.raft.state !== StateType.Leader) {
      return Promise.reject(new RaftError('RAFT_NOT_LEADER', `only the leader can transfer leadership; the leader is ${raw.raft.lead || 'unknown'}`));
    }
    if (!raw.confState().voters.includes(id)) {
      return Promise.reject(new RaftError('RAFT_CONF_CHANGE_INVALID', `${id} is not a voter`));
    }
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: Error): void => {
        this.clock.clearTimeout(timer);
        this.off('leader', done);
        this.transfers.delete(settle);
        if (err) reject(err);
        else resolve();
      };
      const done = (leader: NodeId | undefined): void => {
        if (leader === id) settle();
      };
      const timer = this.clock.setTimeout(
        () => settle(new RaftError('RAFT_TIMEOUT', `leadership did not move to ${id} within ${2 * this.config.electionTimeoutMs} ms`)),
        2 * this.config.electionTimeoutMs,
      );
      this.on('leader', done);
      this.transfers.add(settle);
      raw.transferLeader(id);
      this.schedule();
    });
  }

  /** Starts an election now (for tests and operators; normally timeouts do it). */
  campaign(): void {
    this.rawNode().campaign();
    this.schedule();
  }

  // ------------------------------------------------------------------ queries

  status(): RaftNodeStatus {
    const r = this.raw?.raft;
    return {
      id: this.id,
      leader: r && r.lead !== NONE ? r.lead : undefined,
      isLeader: r?.state === StateType.Leader,
      role: ROLE[r?.state ?? StateType.Follower],
      term: r?.term ?? 0,
      commitIndex: r?.log.committed ?? 0,
      appliedIndex: this.applied,
      lastIndex: r?.log.lastIndex() ?? this.storage.lastIndex(),
      snapshotIndex: this.snapshotIndex,
      members: this.members.list(),
    };
  }

  /** The members as of the last applied change. */
  memberList(): readonly MemberInfo[] {
    return this.members.list();
  }

  /** The membership in force in the core. */
  confState(): ConfState {
    return this.raw ? this.raw.confState() : { voters: [], learners: [] };
  }

  /**
   * Round-trip latency and answer counts for each follower, in etcd's
   * `/v2/stats/leader` shape; `undefined` unless this member leads.
   *
   * @remarks
   * Measured by the driver on its clock: a heartbeat or append leaves when
   * it is handed to the transport and returns when its answer arrives, so
   * a sample includes the follower's durable write for an append. Counted
   * from when this member became leader (each term of leadership starts
   * from zero); a failure is an `onUnreachable` report from the transport
   * or a send left unanswered for an election timeout. Every member but
   * this one is listed, with zeros until it answers. The result is a fresh
   * object; reading it costs O(members).
   */
  leaderStats(): LeaderStats | undefined {
    const r = this.raw?.raft;
    if (!r || r.state !== StateType.Leader || !this.running) return undefined;
    return this.followerStats.view(this.id, this.members.list().map((m) => m.id));
  }

  // ------------------------------------------------------------------ helpers

  private tagFor(seq: number): ProposalTag {
    return { ...this.tag, seq };
  }

  private isOurs(tag: ProposalTag): boolean {
    return tag.instanceHi === this.tag.instanceHi && tag.instanceLo === this.tag.instanceLo;
  }

  /**
   * Registers a caller and makes its proposal (an entry or a conf change);
   * with no leader it waits for one (until the timeout).
   */
  private track<T>(seq: number, entry: Uint8Array | undefined, conf: ConfChange | undefined): Promise<T> {
    this.metrics.proposals++;
    return new Promise<T>((resolve, reject) => {
      const p: Pending<unknown> = {
        seq,
        deadline: this.clock.now() + this.config.requestTimeoutMs,
        resolve: resolve as (v: unknown) => void,
        reject: (e: Error) => {
          this.metrics.proposalsFailed++;
          reject(e);
        },
        ...(entry ? { entry } : {}),
        ...(conf ? { conf } : {}),
        waitingForLeader: false,
        sawLeader: false,
      };
      this.proposals.add(p);
      this.attempt(p);
    });
  }

  private attempt(p: Pending<unknown>): void {
    const raw = this.raw!;
    try {
      const refused = this.refusal();
      if (refused) throw refused;
      if (p.entry) raw.propose(p.entry);
      else raw.proposeConfChange(p.conf!);
    } catch (e) {
      if (e instanceof RaftError && e.code === 'RAFT_NO_LEADER') {
        this.proposals.setWaiting(p, true);
        return;
      }
      this.proposals.reject(p.seq, asError(e));
      return;
    }
    if (p.waitingForLeader) this.proposals.setWaiting(p, false);
    p.sawLeader = true;
    if (raw.raft.state === StateType.Leader) this.proposals.placed(p, raw.raft.log.lastIndex(), raw.raft.term);
    else p.forwardedTo = raw.raft.lead;
    this.schedule();
  }

  private retryWaiting(): void {
    if (this.raw!.raft.lead === NONE) return;
    for (const p of this.proposals.waiting()) this.attempt(p);
  }

  // ------------------------------------------------------------------ the loop

  /** Runs the Ready loop soon (coalesced). */
  private schedule(): void {
    if (!this.running) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    this.pumpDone = new Promise<void>((resolve) => {
      queueMicrotask(() => {
        this.pump().then(resolve, (e: unknown) => {
          this.fail(asError(e));
          resolve();
        });
      });
    });
  }

  private async pump(): Promise<void> {
    try {
      do {
        this.again = false;
        while (this.running && this.raw!.hasReady()) await this.handleReady(this.raw!.ready());
      } while (this.again && this.running);
    } finally {
      this.pumping = false;
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    const raw = this.raw!;
    // Committed entries this member already holds durably (from earlier
    // Readies) need not wait for this Ready's save: they apply while it is
    // in flight, which takes one fsync off every write's path (an entry
    // commits in the Ready after it was persisted, together with the next
    // batch to persist). Configuration changes keep their place after the
    // sends, where the transport's peers are still those the messages were
    // addressed to.
    const early = rd.snapshot ? 0 : this.durablePrefix(rd.committedEntries);
    let removedSelf = false;
    // A leader sends its appends while its own write is in flight, so the
    // followers' fsyncs overlap its own (its copy counts toward commit only
    // after advance() below). Votes and acknowledgements wait for the write.
    let after = rd.messages;
    if (raw.raft.state === StateType.Leader && rd.messages.length > 0 && this.sameTermAndVote(rd)) {
      const before = rd.messages.filter(sendableBeforePersist);
      if (before.length > 0) {
        after = before.length === rd.messages.length ? [] : rd.messages.filter((m) => !sendableBeforePersist(m));
        this.send(before);
      }
    }

    // 1. Durable first: everything the messages below promise.
    if (rd.hardState || rd.entries.length > 0 || rd.snapshot) {
      const t0 = performance.now();
      const saved = this.options.logStore.save(
        {
          ...(rd.hardState ? { hardState: rd.hardState } : {}),
          entries: rd.entries,
          ...(rd.snapshot ? { snapshot: rd.snapshot } : {}),
        },
        { sync: rd.mustSync },
      );
      if (early > 0) {
        try {
          this.applyEntries(rd.committedEntries, 0, early);
        } catch (e) {
          await saved.catch(() => undefined);
          throw e;
        }
      }
      await saved;
      this.metrics.persistDuration.observe((performance.now() - t0) / 1000);
      if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
      this.storage.append(rd.entries);
      if (rd.hardState) this.storage.setHardState(rd.hardState);
    } else if (early > 0) {
      this.applyEntries(rd.committedEntries, 0, early);
    }
    if (!this.running && this.state !== 'stopping') return;

    // 2. Send.
    if (after.length > 0) this.send(after);

    // 3. Apply.
    if (rd.snapshot) {
      await this.restoreSnapshotData(rd.snapshot);
      this.applied = rd.snapshot.metadata.index;
      this.snapshotIndex = this.applied;
      this.emit('snapshot', rd.snapshot.metadata, 'leader');
    }
    if (rd.committedEntries.length > early) removedSelf = this.applyEntries(rd.committedEntries, early, rd.committedEntries.length);

    // 4. Reads: the Ready released only those whose index is now applied.
    for (const rs of rd.readStates) {
      const round = this.reads.get(ctxKey(rs.requestCtx));
      if (!round) continue;
      this.reads.delete(ctxKey(rs.requestCtx));
      for (const p of round.batch) p.resolve();
    }

    raw.advance();

    if (rd.softState) this.reportSoftState();
    if (rd.committedEntries.length > 0) this.emit('applied', this.applied);
    if (removedSelf) return this.learnedRemoved('the removal was applied', { linger: true });
    // The only voter need not wait out an election timeout to lead.
    const r = raw.raft;
    if (r.state === StateType.Follower && r.lead === NONE && r.trk.voters.length === 1 && r.trk.voters[0] === this.id) {
      raw.campaign();
      this.again = true;
    }
    if (this.readWaiters.length > 0 && this.reads.size === 0) this.startReadRound();
    if (this.applied - this.snapshotIndex >= this.config.snapshotCount) await this.takeSnapshot();
  }

  private send(msgs: readonly Message[]): void {
    const out: Message[] = [];
    const r = this.raw!.raft;
    const leading = r.state === StateType.Leader;
    if (leading && r.term !== this.followerStatsTerm) {
      // A new term of leadership counts from zero (the first sends of the
      // term go out before the role change is reported).
      this.followerStats.reset();
      this.followerStatsTerm = r.term;
    }
    const now = this.clock.now();
    for (const m of msgs) {
      if (m.type === MessageType.MsgSnap) {
        out.push(...splitSnapshotMessage(m, this.config.snapshotChunkBytes));
        this.watchSnapshot(m.to, m.snapshot!.metadata.index);
      } else if (m.type === MessageType.MsgHeartbeat && leading) {
        out.push(this.followerStats.tagHeartbeat(m, now));
      } else {
        if (m.type === MessageType.MsgApp) {
          this.metrics.appendsSent++;
          if (leading) this.followerStats.sentAppend(m, now);
        }
        out.push(m);
      }
    }
    this.options.transport.send(out);
  }

  /**
   * A snapshot sent to `to` normally ends with its append response; if none
   * comes within a while (lost chunks, a follower that died), report failure
   * so the leader probes again.
   */
  private watchSnapshot(to: NodeId, index: Index): void {
    const prev = this.snapshotWatch.get(to);
    if (prev !== undefined) this.clock.clearTimeout(prev);
    const wait = Math.max(10 * this.config.electionTimeoutMs, 10_000);
    this.snapshotWatch.set(
      to,
      this.clock.setTimeout(() => {
        this.snapshotWatch.delete(to);
        if (!this.running) return;
        const pr = this.raw!.status().progress.get(to);
        if (pr && pr.state === ProgressState.Snapshot) {
          this.logger.warn(`${this.id}: snapshot ${index} to ${to} was not acknowledged within ${wait} ms; retrying`);
          this.raw!.reportSnapshot(to, false);
          this.schedule();
        }
      }, wait),
    );
  }

  /** Applies one committed entry; returns whether it removed this node. */
  /** Whether this Ready leaves the persisted term and vote as they were (only then may a leader send early). */
  private sameTermAndVote(rd: Ready): boolean {
    const hs = rd.hardState;
    if (hs === undefined) return true;
    const persisted = this.storage.initialState().hardState;
    return hs.term === persisted.term && hs.vote === persisted.vote;
  }

  /**
   * How many of `committed`, from the front, are normal entries already in
   * durable storage (saved by an earlier Ready).
   */
  private durablePrefix(committed: readonly Entry[]): number {
    const durable = this.storage.lastIndex();
    let n = 0;
    while (n < committed.length && committed[n].index <= durable && committed[n].type !== EntryType.ConfChange) n++;
    return n;
  }

  /** Applies `entries[from, to)`; true when one removed this member. */
  private applyEntries(entries: readonly Entry[], from: number, to: number): boolean {
    const t0 = performance.now();
    let removedSelf = false;
    for (let i = from; i < to; i++) removedSelf = this.applyEntry(entries[i]) || removedSelf;
    this.metrics.applyDuration.observe((performance.now() - t0) / 1000);
    this.metrics.appliedEntries += to - from;
    return removedSelf;
  }

  private applyEntry(e: Entry): boolean {
    const raw = this.raw!;
    this.applied = e.index;
    if (e.type === EntryType.ConfChange) return this.applyConfChangeEntry(e);
    if (e.data.byteLength === 0) {
      // A leader's no-op: nothing to apply, but it may replace our proposal.
      this.proposals.appliedAt(e.index, e.term, undefined);
      return false;
    }
    const { tag, payload } = unwrapProposal(e.data);
    const ours = this.isOurs(tag);
    this.proposals.appliedAt(e.index, e.term, ours ? tag.seq : undefined);
    let result: unknown;
    try {
      result = this.options.stateMachine.apply({ index: e.index, term: e.term, data: payload });
    } catch (err) {
      // A state machine that fails on one member and not another diverges:
      // stop rather than go on.
      throw new InvariantError(`state machine failed to apply entry ${e.index}: ${asError(err).message}`);
    }
    if (ours) this.proposals.resolve(tag.seq, result);
    void raw;
    return false;
  }

  private applyConfChangeEntry(e: Entry): boolean {
    const raw = this.raw!;
    const cc = decodeConfChange(e.data);
    let tag: ProposalTag | undefined;
    let ctxBytes = new Uint8Array(0) as Uint8Array;
    if (cc.context && cc.context.byteLength > 0) {
      try {
        const u = unwrapProposal(cc.context);
        tag = u.tag;
        ctxBytes = u.payload;
      } catch {
        // Bootstrap entries carry the context without an envelope.
        ctxBytes = cc.context;
      }
    }
    const ours = tag !== undefined && this.isOurs(tag);
    this.proposals.appliedAt(e.index, e.term, ours ? tag!.seq : undefined);
    const refusal = this.members.refusal(cc);
    if (refusal) {
      this.logger.warn(`${this.id} ignored conf change at ${e.index}: ${refusal}`);
      if (ours) this.proposals.reject(tag!.seq, new RaftError('RAFT_CONF_CHANGE_INVALID', refusal));
      return false;
    }
    const before = raw.confState();
    const after = raw.applyConfChange(cc);
    const changed = JSON.stringify(before) !== JSON.stringify(after);
    const ctx = decodeMemberContext(ctxBytes);
    const isUpdate = cc.type === ConfChangeType.UpdateNode && this.members.get(cc.nodeId) !== undefined;
    if (!changed && !isUpdate) {
      if (ours) this.proposals.reject(tag!.seq, new RaftError('RAFT_CONF_CHANGE_INVALID', `conf change at ${e.index} did not apply`));
      return false;
    }
    this.members.apply(cc, ctx, after);
    const t = this.options.transport;
    if (cc.type === ConfChangeType.RemoveNode) {
      // The transport keeps the removed member's address: its messages,
      // however late, get a MsgRemoved answer so it learns and stops.
      this.assembler.drop(cc.nodeId);
    } else if (cc.nodeId !== this.id && ctx.peerUrls[0]) {
      t.addPeer(cc.nodeId, ctx.peerUrls[0]);
    }
    const list = this.members.list();
    if (ours) this.proposals.resolve(tag!.seq, list);
    this.emit('membership', cc, list);
    return cc.type === ConfChangeType.RemoveNode && cc.nodeId === this.id;
  }

  private reportSoftState(): void {
    const r = this.raw!.raft;
    if (r.state !== this.lastRole) {
      if (this.lastRole === StateType.Leader) this.followerStats.reset();
      this.lastRole = r.state;
      this.emit('role', ROLE[r.state], r.term);
    }
    if (r.lead !== this.lastLeader) {
      this.lastLeader = r.lead;
      if (r.lead !== NONE) this.metrics.leaderChanges++;
      this.proposals.leaderChanged(r.lead);
      this.emit('leader', r.lead === NONE ? undefined : r.lead, r.term);
      if (r.lead !== NONE) {
        this.retryWaiting();
        for (const p of this.readWaiters) p.sawLeader = true;
        if (this.readWaiters.length > 0 && this.reads.size === 0) this.startReadRound();
      }
    }
  }

  private async takeSnapshot(): Promise<void> {
    const raw = this.raw!;
    const index = this.applied;
    const app = await this.options.stateMachine.snapshot();
    const data = wrapSnapshot(this.members.toSnapshot(), app);
    const snap = this.storage.createSnapshot(index, raw.confState(), data);
    await this.options.logStore.saveSnapshot(snap);
    this.snapshotIndex = index;
    const compactTo = index - this.config.snapshotCatchUpEntries;
    if (compactTo >= this.storage.firstIndex()) {
      this.storage.compact(compactTo);
      await this.options.logStore.compact(compactTo);
    }
    this.logger.info(`${this.id} took a snapshot at ${index}; log compacted to ${Math.max(compactTo, 0)}`);
    this.emit('snapshot', snap.metadata, 'local');
  }

  private async restoreSnapshotData(snap: Snapshot): Promise<void> {
    const { members, app } = unwrapSnapshot(snap.data);
    await this.options.stateMachine.restore(app);
    this.members.restore(members);
    for (const m of members.members) if (m.id !== this.id && m.peerUrls[0] && this.raw) this.options.transport.addPeer(m.id, m.peerUrls[0]);
  }
}

function ctxKey(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.byteLength; i++) s += String.fromCharCode(ctx[i]);
  return s;
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
