import { RaftError, type Clock, type LeaderStats, type MemberInfo, type RaftNode, type RaftNodeMetrics, type TimerHandle } from '@kv/raft';
import { EventEmitter } from 'eventemitter3';
import { KvError, KvErrorCode } from './errors.js';
import { IndexRegistry, type IndexDefinition, type IndexValue } from './indexes/index-registry.js';
import type { ApplyResult } from './kv-state-machine.js';
import { encodeCommand, encodeValue, type Command } from './tree/command.js';
import { memberId } from './members/member-id.js';
import { DEFAULT_LIMITS, normalizeKey, type KeyLimits } from './tree/key.js';
import type { GetOptions, KeyTree } from './tree/key-tree.js';
import type { KvEvent, KvNodeData } from './tree/types.js';
import type { WatchOptions, WatcherHub } from './watch/watcher-hub.js';

/** The package version reported by `status()`. */
export const VERSION = '0.1.0';

/** How a read is served. */
export type Consistency = 'linearizable' | 'serializable';

/** Options of {@link KvNode.get}. */
export interface ReadOptions extends GetOptions {
  /**
   * `linearizable` (default) confirms with a quorum that this member has
   * every write acknowledged before the read (ReadIndex); `serializable`
   * answers from the local replica, which may be stale but needs no quorum.
   */
  readonly consistency?: Consistency;
}

/** Options of {@link KvNode.set} (etcd v2's PUT). */
export interface SetOptions {
  /** Seconds to live. Leave out for a permanent key (an update without it clears the TTL). */
  readonly ttl?: number;
  /** `false`: create only; `true`: update only. */
  readonly prevExist?: boolean;
  /** Compare-and-swap: only if the current value equals this. */
  readonly prevValue?: unknown;
  /** Compare-and-swap: only if the key was last modified at this index. */
  readonly prevIndex?: number;
  /** Make a directory instead of a value. */
  readonly dir?: boolean;
  /** Only reset the TTL (requires `ttl`, forbids a value); watchers see nothing. */
  readonly refresh?: boolean;
}

/** Options of {@link KvNode.delete}. */
export interface DeleteOptions {
  /** Allow deleting an (empty) directory. */
  readonly dir?: boolean;
  /** Delete a directory and everything in it. */
  readonly recursive?: boolean;
  readonly prevValue?: unknown;
  readonly prevIndex?: number;
}

/** A member as `members.list()` reports it (etcd's `/v2/members` shape). */
export interface KvMember {
  readonly id: string;
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  readonly isLeader: boolean;
  readonly isLearner: boolean;
}

/** What `status()` reports (etcd's endpoint status). */
export interface KvStatus {
  readonly id: string;
  readonly name: string;
  readonly clusterId: string;
  readonly version: string;
  readonly leader: string | undefined;
  readonly isLeader: boolean;
  readonly raftTerm: number;
  readonly raftIndex: number;
  readonly appliedIndex: number;
  /** The store's index (X-Etcd-Index): the Raft index of the last change. */
  readonly storeIndex: number;
  readonly keys: number;
  /** Bytes on disk (0 for memory storage). */
  readonly dbSize: number;
  readonly watchers: number;
}

/** Events of {@link KvNode}. */
export interface KvNodeEvents {
  leader: (leader: string | undefined, term: number) => void;
  role: (role: string, term: number) => void;
  applied: (index: number) => void;
  /** Every change to the tree, on every replica, in index order. */
  change: (event: KvEvent) => void;
  /** This member was removed from the cluster and has stopped. */
  removed: () => void;
  error: (err: Error) => void;
}

/** Internals a {@link KvNode} is built from (by `createNode`). */
export interface KvNodeParts {
  readonly name: string;
  readonly clusterToken: string;
  readonly clusterId: () => string;
  readonly raft: RaftNode<ApplyResult>;
  readonly tree: KeyTree;
  readonly hub: WatcherHub;
  readonly indexes: IndexRegistry;
  readonly limits: KeyLimits;
  readonly clock: Clock;
  readonly wallClock: () => number;
  readonly watchBufferSize: number;
  readonly dbSize: () => number;
  readonly onClose: () => Promise<void>;
}

/**
 * A member of a replicated key store: etcd v2's key tree, watches and
 * members API, from code. Made by `createNode`.
 *
 * @remarks
 * Writes go through Raft and resolve once applied on this member, with the
 * change event (`{ action, node, prevNode?, index }`). A refused write
 * rejects with {@link KvError} (etcd's codes); a write that cannot reach a
 * quorum rejects with a `RaftError` (`RAFT_TIMEOUT`, `RAFT_NO_LEADER`) after
 * the request timeout — it may still commit later if a quorum returns.
 */
export class KvNode extends EventEmitter<KvNodeEvents> {
  readonly name: string;
  private readonly p: KvNodeParts;
  private expiryTimer: TimerHandle | undefined;
  private expiring = false;
  private closed = false;

  /** @internal Use `createNode`. */
  constructor(parts: KvNodeParts) {
    super();
    this.p = parts;
    this.name = parts.name;
    const raft = parts.raft;
    raft.on('leader', (id, term) => this.emit('leader', id, term));
    raft.on('role', (role, term) => this.emit('role', role, term));
    raft.on('applied', (i) => this.emit('applied', i));
    raft.on('removed', () => {
      this.emit('removed');
      void this.close();
    });
    raft.on('error', (e) => this.emit('error', e));
    // The leader proposes the time for TTL expiry (etcd's SYNC, every 500 ms):
    // replicas never expire from their own clocks.
    this.expiryTimer = parts.clock.setInterval(() => this.maybeExpire(), 500);
  }

  /** This member's ID (64-bit hex). */
  get id(): string {
    return this.p.raft.id;
  }

  // ------------------------------------------------------------------ reads

  /**
   * Reads a key or a directory listing.
   *
   * @throws KvError 100 when the key does not exist.
   */
  async get(key: string, opts: ReadOptions = {}): Promise<KvEvent> {
    const k = normalizeKey(key, this.p.limits);
    if ((opts.consistency ?? 'linearizable') === 'linearizable') await this.p.raft.readIndex();
    else this.assertOpen();
    return this.p.tree.get(k, opts, this.p.wallClock());
  }

  // ------------------------------------------------------------------ writes

  /**
   * Sets a key (etcd v2 PUT): a plain set, or with `prevExist` a create or
   * update, with `prevValue`/`prevIndex` a compare-and-swap, with `refresh`
   * a TTL refresh.
   */
  async set(key: string, value: unknown, opts: SetOptions = {}): Promise<KvEvent> {
    const k = this.key(key);
    const ttl = this.ttl(opts.ttl);
    const now = this.p.wallClock();
    if (opts.refresh) {
      if (value !== undefined && value !== '') throw this.formError(KvErrorCode.RefreshValue, k);
      if (ttl === undefined) throw this.formError(KvErrorCode.RefreshTtlRequired, k);
      if (opts.prevExist === false) throw this.formError(KvErrorCode.InvalidField, 'refresh with prevExist=false');
      if (opts.prevValue !== undefined || opts.prevIndex !== undefined) {
        return this.propose({ op: 'compareAndSwap', key: k, ...this.prev(opts), ttl, refresh: true, now });
      }
      return this.propose({ op: 'update', key: k, ttl, refresh: true, now });
    }
    if (!opts.dir) this.checkValue(value, k);
    if (opts.dir && value !== undefined && value !== '') throw this.formError(KvErrorCode.InvalidField, `a directory has no value: ${k}`);
    const v = opts.dir ? undefined : value;
    if (opts.prevExist === false) {
      if (opts.prevValue !== undefined || opts.prevIndex !== undefined) {
        throw this.formError(KvErrorCode.InvalidField, 'prevExist=false cannot be combined with prevValue or prevIndex');
      }
      return this.propose({ op: 'create', key: k, value: v, dir: !!opts.dir, ...(ttl !== undefined ? { ttl } : {}), now });
    }
    if (opts.prevValue !== undefined || opts.prevIndex !== undefined) {
      if (opts.dir) throw this.formError(KvErrorCode.NotFile, k);
      return this.propose({ op: 'compareAndSwap', key: k, value: v, ...this.prev(opts), ...(ttl !== undefined ? { ttl } : {}), now });
    }
    if (opts.prevExist === true) {
      return this.propose({ op: 'update', key: k, value: v, ...(ttl !== undefined ? { ttl } : {}), now });
    }
    return this.propose({ op: 'set', key: k, value: v, dir: !!opts.dir, ...(ttl !== undefined ? { ttl } : {}), now });
  }

  /** Creates a key that must not exist yet (error 105 if it does). */
  create(key: string, value: unknown, opts: { ttl?: number } = {}): Promise<KvEvent> {
    return this.set(key, value, { ...opts, prevExist: false });
  }

  /** Updates a key that must exist (error 100 if it does not). */
  update(key: string, value: unknown, opts: { ttl?: number } = {}): Promise<KvEvent> {
    return this.set(key, value, { ...opts, prevExist: true });
  }

  /** Makes a directory (error 105 if the key exists). */
  mkdir(key: string, opts: { ttl?: number } = {}): Promise<KvEvent> {
    return this.set(key, undefined, { ...opts, dir: true, prevExist: false });
  }

  /** Removes an empty directory (error 108 if it has children). */
  rmdir(key: string): Promise<KvEvent> {
    return this.delete(key, { dir: true });
  }

  /** Sets `key` only if its current value / modified index match (error 101 otherwise). */
  compareAndSwap(key: string, value: unknown, opts: { prevValue?: unknown; prevIndex?: number; ttl?: number }): Promise<KvEvent> {
    if (opts.prevValue === undefined && opts.prevIndex === undefined) {
      return Promise.reject(this.formError(KvErrorCode.PrevValueRequired, key));
    }
    return this.set(key, value, opts);
  }

  /** Deletes a key, or a directory with `dir` / `recursive`; with `prevValue`/`prevIndex`, a compare-and-delete. */
  async delete(key: string, opts: DeleteOptions = {}): Promise<KvEvent> {
    const k = this.key(key);
    const now = this.p.wallClock();
    if (opts.prevValue !== undefined || opts.prevIndex !== undefined) {
      return this.propose({ op: 'compareAndDelete', key: k, ...this.prev(opts), now });
    }
    return this.propose({ op: 'delete', key: k, dir: !!opts.dir, recursive: !!opts.recursive, now });
  }

  /** Deletes `key` only if its value / modified index match (error 101 otherwise). */
  compareAndDelete(key: string, opts: { prevValue?: unknown; prevIndex?: number }): Promise<KvEvent> {
    if (opts.prevValue === undefined && opts.prevIndex === undefined) {
      return Promise.reject(this.formError(KvErrorCode.PrevValueRequired, key));
    }
    return this.delete(key, opts);
  }

  /** Creates a child of directory `dir` named by the 20-digit, zero-padded index (etcd's POST). */
  async createInOrder(dir: string, value: unknown, opts: { ttl?: number } = {}): Promise<KvEvent> {
    const k = this.key(dir);
    this.checkValue(value, k);
    const ttl = this.ttl(opts.ttl);
    return this.propose({ op: 'create', key: k, value, inOrder: true, ...(ttl !== undefined ? { ttl } : {}), now: this.p.wallClock() });
  }

  /** Resets a key's TTL without changing its value or notifying watchers. */
  refresh(key: string, ttl: number): Promise<KvEvent> {
    return this.set(key, undefined, { ttl, refresh: true });
  }

  // ------------------------------------------------------------------ watches and indexes

  /**
   * Watches a key (with `recursive`, everything below it) and yields every
   * change in index order, from `waitIndex` if given. Ends when `signal`
   * aborts or the node closes.
   *
   * @example
   * ```ts
   * const ac = new AbortController();
   * for await (const ev of node.watch('/jobs', { recursive: true, signal: ac.signal })) {
   *   console.log(ev.action, ev.node.key);
   * }
   * ```
   */
  watch(key: string, opts: WatchOptions = {}): AsyncIterableIterator<KvEvent> {
    return this.p.hub.watch(key, { bufferSize: this.p.watchBufferSize, ...opts });
  }

  /**
   * Defines a secondary index over the values under `def.prefix`. Define the
   * same indexes on every member.
   */
  defineIndex(name: string, def: IndexDefinition): void {
    this.p.indexes.define(name, def, (prefix, fn) => this.p.tree.forEachValue(prefix, fn));
  }

  /** The nodes whose value the index files under `value` (local, serializable). */
  query(name: string, value: IndexValue): KvNodeData[] {
    const now = this.p.wallClock();
    const out: KvNodeData[] = [];
    for (const k of this.p.indexes.query(name, value)) {
      const n = this.p.tree.node(k, now);
      if (n) out.push(n);
    }
    return out;
  }

  // ------------------------------------------------------------------ cluster

  /** The members API: list, add, remove, update, promote. */
  readonly members = {
    list: async (): Promise<KvMember[]> => {
      const leader = this.p.raft.status().leader;
      return this.p.raft.memberList().map((m) => toKvMember(m, leader));
    },
    /**
     * Adds a member named `name` listening at `peerURLs` (as a learner with
     * `learner`), as `etcdctl member add` does. Resolves with the member and
     * the settings to start it with — `initialCluster` (every member,
     * `name=url,...`) and `initialClusterState: 'existing'` — as etcdctl
     * prints them (`ETCD_INITIAL_CLUSTER=...`).
     */
    add: async (
      name: string,
      peerURLs: readonly string[],
      opts: { learner?: boolean } = {},
    ): Promise<{ member: KvMember; initialCluster: string; initialClusterState: 'existing' }> => {
      if (typeof name !== 'string' || name === '') throw this.formError(KvErrorCode.InvalidField, 'member name must be a non-empty string');
      if (peerURLs.length === 0) throw this.formError(KvErrorCode.InvalidField, 'peerURLs must not be empty');
      const taken = this.p.raft.memberList().find((m) => m.peerUrls.some((u) => peerURLs.includes(u)));
      if (taken) throw new KvError(KvErrorCode.InvalidField, `peer URL already in use by member ${taken.id}`, this.p.tree.index, 'Peer URLs exists');
      const id = memberId(peerURLs, this.p.clusterToken, this.p.wallClock());
      const list = await this.p.raft.addMember(id, peerURLs, {
        ...(opts.learner ? { learner: true } : {}),
        meta: { name, clientURLs: [], clusterId: this.p.clusterId() },
      });
      const leader = this.p.raft.status().leader;
      const members = list.map((m) => toKvMember(m, leader));
      const initialCluster = members
        .flatMap((m) => m.peerURLs.map((u) => `${m.id === id ? name : m.name || m.id}=${u}`))
        .join(',');
      return { member: members.find((m) => m.id === id)!, initialCluster, initialClusterState: 'existing' };
    },
    /** Removes a member for good. Removing the leader makes it step down. */
    remove: async (id: string): Promise<void> => {
      if (!this.p.raft.memberList().some((m) => m.id === id)) {
        throw new KvError(KvErrorCode.KeyNotFound, id, this.p.tree.index, `member ${id} not found`);
      }
      await this.p.raft.removeMember(id);
    },
    /** Changes a member's peer URLs. */
    update: async (id: string, peerURLs: readonly string[]): Promise<void> => {
      const m = this.p.raft.memberList().find((x) => x.id === id);
      if (!m) throw new KvError(KvErrorCode.KeyNotFound, id, this.p.tree.index, `member ${id} not found`);
      await this.p.raft.updateMember(id, peerURLs, m.meta);
    },
    /** Promotes a learner to a voting member. */
    promote: async (id: string): Promise<void> => {
      if (!this.p.raft.memberList().some((m) => m.id === id)) {
        throw new KvError(KvErrorCode.KeyNotFound, id, this.p.tree.index, `member ${id} not found`);
      }
      await this.p.raft.promoteMember(id);
    },
  };

  /** Counters and latency histograms of this member's Raft node (fsync, apply), for `/metrics`. */
  raftMetrics(): RaftNodeMetrics {
    return this.p.raft.metrics;
  }

  /**
   * Round-trip latency and answer counts per follower (etcd's
   * `/v2/stats/leader`), measured while this member leads; `undefined` on
   * a follower. See `RaftNode.leaderStats`.
   */
  leaderStats(): LeaderStats | undefined {
    return this.p.raft.leaderStats();
  }

  /**
   * The parts this node is built from, for modules of this package that need
   * more than the public API (a store snapshot reads the whole tree and its
   * history, hidden keys included).
   * @internal
   */
  get parts(): KvNodeParts {
    return this.p;
  }

  /** This member's state. */
  status(): KvStatus {
    const s = this.p.raft.status();
    const dbSize = this.p.dbSize;
    return {
      id: s.id,
      name: this.name,
      clusterId: this.p.clusterId(),
      version: VERSION,
      leader: s.leader,
      isLeader: s.isLeader,
      raftTerm: s.term,
      raftIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      storeIndex: this.p.tree.index,
      keys: this.p.tree.size,
      // Measured only when read: it walks the data dir, and the HTTP API
      // asks for status() on every request just for indexes and term.
      get dbSize() {
        return dbSize();
      },
      watchers: this.p.hub.size,
    };
  }

  /**
   * Whether this member can serve a linearizable read now (etcd's /health):
   * a leader is known and a ReadIndex round completes.
   */
  async health(): Promise<{ health: boolean; reason?: string }> {
    if (this.closed) return { health: false, reason: 'node is closed' };
    if (this.p.raft.status().leader === undefined) return { health: false, reason: 'no leader' };
    try {
      await this.p.raft.readIndex();
      return { health: true };
    } catch (e) {
      return { health: false, reason: (e as Error).message };
    }
  }

  /** Hands leadership to member `id` (call on the leader). */
  transferLeadership(id: string): Promise<void> {
    return this.p.raft.transferLeadership(id);
  }

  /** Stops this member: watches end, pending operations reject, storage closes. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.expiryTimer !== undefined) this.p.clock.clearInterval(this.expiryTimer);
    this.p.hub.close();
    await this.p.raft.close();
    await this.p.onClose();
  }

  // ------------------------------------------------------------------ internals

  private assertOpen(): void {
    if (this.closed) throw new RaftError('RAFT_STOPPED', `node ${this.name} is closed`);
  }

  private key(key: string): string {
    return normalizeKey(key, this.p.limits);
  }

  private ttl(ttl: number | undefined): number | undefined {
    if (ttl === undefined || ttl === null) return undefined;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0) throw this.formError(KvErrorCode.TtlNaN, String(ttl));
    return ttl;
  }

  private prev(opts: { prevValue?: unknown; prevIndex?: number }): { prevValue?: unknown; prevIndex?: number } {
    if (opts.prevIndex !== undefined && (!Number.isSafeInteger(opts.prevIndex) || opts.prevIndex < 0)) {
      throw this.formError(KvErrorCode.IndexNaN, String(opts.prevIndex));
    }
    return {
      ...(opts.prevValue !== undefined ? { prevValue: opts.prevValue } : {}),
      ...(opts.prevIndex !== undefined ? { prevIndex: opts.prevIndex } : {}),
    };
  }

  private checkValue(value: unknown, key: string): void {
    // Strings (the common case) are measured without encoding them: UTF-8
    // needs at most 3 bytes per UTF-16 unit.
    if (typeof value === 'string' && value.length * 3 + 5 <= this.p.limits.maxValueBytes) return;
    if (value instanceof Uint8Array && value.byteLength + 5 <= this.p.limits.maxValueBytes) return;
    let size: number;
    try {
      size = encodeValue(value).byteLength;
    } catch (e) {
      throw new KvError(KvErrorCode.InvalidField, `value for ${key} cannot be encoded: ${(e as Error).message}`, this.p.tree.index);
    }
    if (size > this.p.limits.maxValueBytes) {
      throw new KvError(
        KvErrorCode.InvalidField,
        `value for ${key} is ${size} bytes, maxValueBytes is ${this.p.limits.maxValueBytes}`,
        this.p.tree.index,
      );
    }
  }

  private formError(code: (typeof KvErrorCode)[keyof typeof KvErrorCode], cause: string): KvError {
    return new KvError(code, cause, this.p.tree.index);
  }

  private async propose(cmd: Command): Promise<KvEvent> {
    this.assertOpen();
    const result = await this.p.raft.propose(encodeCommand(cmd));
    if (result instanceof KvError) throw result;
    return result as KvEvent;
  }

  private maybeExpire(): void {
    if (this.closed || this.expiring || !this.p.raft.status().isLeader) return;
    const now = this.p.wallClock();
    // One command per due key (each expiry gets its own index); a round is
    // bounded so a mass expiry does not flood one Ready, the next tick goes on.
    const due = this.p.tree.dueCount(now, 1000);
    if (due === 0) return;
    this.expiring = true;
    const cmd = encodeCommand({ op: 'expire', now });
    const rounds: Promise<unknown>[] = [];
    for (let i = 0; i < due; i++) rounds.push(this.p.raft.propose(cmd));
    // Lost leadership or quorum: the next leader proposes again.
    void Promise.allSettled(rounds).then(() => {
      this.expiring = false;
    });
  }
}

function toKvMember(m: MemberInfo, leader: string | undefined): KvMember {
  const meta = (m.meta ?? {}) as { name?: unknown; clientURLs?: unknown };
  return {
    id: m.id,
    name: typeof meta.name === 'string' ? meta.name : '',
    peerURLs: [...m.peerUrls],
    clientURLs: Array.isArray(meta.clientURLs) ? meta.clientURLs.filter((u): u is string => typeof u === 'string') : [],
    isLeader: m.id === leader,
    isLearner: m.isLearner,
  };
}

export { DEFAULT_LIMITS };
